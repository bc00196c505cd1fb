/* test_cli_services.c — the credential services table of `kennel run`
 * (cli/services.h): loading the built-in file and services.d files from real
 * directories, refusing bad ones by file and field, and turning the caller's
 * environment into sandbox-bound secrets and placeholders. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/services.h"
#include "test.h"

static char dir[] = "/tmp/kennel-test-services.XXXXXX";
static char data[256], etc[256];

static void write_file(const char *d, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", d, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static const char builtin[] =
	"{\"comment\": \"test\", \"services\": ["
	" {\"name\": \"a\", \"hosts\": [\"api.a.test\"], \"credentials\": ["
	"   {\"env\": \"A_KEY\", \"header\": \"x-api-key\"},"
	"   {\"env\": \"A_TOKEN\", \"header\": \"Authorization\", \"format\": \"Bearer {}\"}]},"
	" {\"name\": \"g\", \"hosts\": [\"api.g.test\"], \"credentials\": ["
	"   {\"env\": \"G_TOKEN\", \"header\": \"Authorization\", \"format\": \"Bearer {}\"},"
	"   {\"env\": \"G_TOKEN\", \"hosts\": [\"g.test\"], \"header\": \"Authorization\","
	"    \"format\": \"Basic {basic:x-access-token}\"}]}]}";

static json_t *find(json_t *secrets, const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(secrets, i, s)
		if (!strcmp(json_string_value(json_object_get(s, "name")), name))
			return json_object_get(s, "body");
	return NULL;
}

static int has(json_t *strings, const char *want)
{
	size_t i;
	json_t *s;
	json_array_foreach(strings, i, s)
		if (!strcmp(json_string_value(s), want))
			return 1;
	return 0;
}

static void test_secrets_from_env(void)
{
	kn_error err = {0};
	json_t *t = cli_services_load(&err);
	CHECK(t != NULL);
	if (!t) {
		printf("  %s\n", err.msg);
		return;
	}
	char *env[] = { "A_KEY=ka", "A_TOKEN=", "G_TOKEN=gt", "OTHER=x", "PATH=/bin",
			"X_KEY=proxy-managed", NULL };
	json_t *ph = json_array();
	json_t *s = cli_services_secrets(t, "sb1", env, ph);
	CHECK(json_array_size(s) == 3); /* A_KEY, G_TOKEN twice; A_TOKEN is empty */
	json_t *a = find(s, "sb1.A_KEY");
	CHECK(a != NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(a, "value")), "ka");
	CHECK_STR_EQ(json_string_value(json_object_get(a, "format")), "{}");
	CHECK_STR_EQ(json_string_value(json_object_get(a, "sandbox")), "sb1");
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(a, "hosts"), 0)), "api.a.test");
	json_t *g2 = find(s, "sb1.G_TOKEN.2");
	CHECK(g2 != NULL);
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(g2, "hosts"), 0)), "g.test");
	CHECK(find(s, "sb1.G_TOKEN") != NULL);
	CHECK(find(s, "sb1.A_TOKEN") == NULL);
	/* One placeholder per variable that became a secret. */
	CHECK(json_array_size(ph) == 2);
	CHECK(has(ph, "A_KEY=proxy-managed") && has(ph, "G_TOKEN=proxy-managed"));
	json_decref(s);
	json_decref(ph);
	json_decref(t);
}

static void test_services_d(void)
{
	write_file(etc, "10-a.json",
		   "{\"services\": [{\"name\": \"a\", \"hosts\": [\"mirror.a.test\"],"
		   " \"credentials\": [{\"env\": \"A_KEY\", \"header\": \"x-key\"}]}]}");
	kn_error err = {0};
	json_t *t = cli_services_load(&err);
	CHECK(t != NULL);
	char *env[] = { "A_KEY=k", "A_TOKEN=t", NULL };
	json_t *ph = json_array();
	json_t *s = t ? cli_services_secrets(t, "sb", env, ph) : NULL;
	/* The services.d service replaced the built-in "a" (its A_TOKEN is gone). */
	CHECK(json_array_size(s) == 1);
	json_t *a = find(s, "sb.A_KEY");
	CHECK(a && !strcmp(json_string_value(json_object_get(a, "header")), "x-key"));
	json_decref(s);
	json_decref(ph);
	json_decref(t);
	char path[512];
	snprintf(path, sizeof(path), "%s/10-a.json", etc);
	unlink(path);
}

static void refused(const char *text, const char *want)
{
	write_file(etc, "90-bad.json", text);
	kn_error err = {0};
	json_t *t = cli_services_load(&err);
	CHECK(t == NULL);
	if (!strstr(err.msg, "90-bad.json") || !strstr(err.msg, want)) {
		printf("  message \"%s\" lacks \"%s\"\n", err.msg, want);
		CHECK(0);
	}
	json_decref(t);
	char path[512];
	snprintf(path, sizeof(path), "%s/90-bad.json", etc);
	unlink(path);
}

static void test_refusals(void)
{
	refused("not json", "90-bad.json");
	refused("{\"services\": 1}", "\"services\" must be a list");
	refused("{\"extra\": 1, \"services\": []}", "unknown field");
	refused("{\"services\": [{\"hosts\": [\"x.test\"], \"credentials\": []}]}", "needs a \"name\"");
	refused("{\"services\": [{\"name\": \"s\", \"hosts\": [], \"credentials\": "
		"[{\"env\": \"X\", \"header\": \"h\"}]}]}", "\"hosts\"");
	refused("{\"services\": [{\"name\": \"s\", \"hosts\": [\"a.*.test\"], \"credentials\": "
		"[{\"env\": \"X\", \"header\": \"h\"}]}]}", "hosts[0]");
	refused("{\"services\": [{\"name\": \"s\", \"hosts\": [\"x.test\"], \"credentials\": []}]}",
		"\"credentials\"");
	refused("{\"services\": [{\"name\": \"s\", \"hosts\": [\"x.test\"], \"credentials\": "
		"[{\"env\": \"lower\", \"header\": \"h\"}]}]}", "\"env\"");
	refused("{\"services\": [{\"name\": \"s\", \"hosts\": [\"x.test\"], \"credentials\": "
		"[{\"env\": \"X\", \"header\": \"Host\"}]}]}", "\"header\"");
	refused("{\"services\": [{\"name\": \"s\", \"hosts\": [\"x.test\"], \"credentials\": "
		"[{\"env\": \"X\", \"header\": \"h\", \"format\": \"none\"}]}]}", "\"format\"");
	refused("{\"services\": [{\"name\": \"s\", \"hosts\": [\"x.test\"], \"credentials\": "
		"[{\"env\": \"X\", \"header\": \"h\", \"more\": 1}]}]}", "unknown field");
}

static void test_no_table(void)
{
	kn_error err = {0};
	/* KENNEL_DATA_DIR named but without the file: an error naming it. */
	setenv("KENNEL_DATA_DIR", "/nonexistent-kennel-data", 1);
	json_t *t = cli_services_load(&err);
	CHECK(t == NULL && strstr(err.msg, "/nonexistent-kennel-data/services.json"));
	json_decref(t);
	/* None named and none found next to this binary or in /usr(/local)/share
	 * (true on a build machine): an empty table, not an error. */
	unsetenv("KENNEL_DATA_DIR");
	if (access("/usr/local/share/kennel/services.json", F_OK) != 0 &&
	    access("/usr/share/kennel/services.json", F_OK) != 0) {
		memset(&err, 0, sizeof(err));
		t = cli_services_load(&err);
		CHECK(t != NULL && json_object_size(t) == 0);
		json_decref(t);
	}
	setenv("KENNEL_DATA_DIR", data, 1);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(etc, sizeof(etc), "%s/services.d", dir);
	if (mkdir(data, 0755) < 0 || mkdir(etc, 0755) < 0)
		return 1;
	write_file(data, "services.json", builtin);
	setenv("KENNEL_DATA_DIR", data, 1);
	setenv("KENNEL_SERVICES_DIR", etc, 1);
	RUN(test_secrets_from_env);
	RUN(test_services_d);
	RUN(test_refusals);
	RUN(test_no_table);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("  could not remove %s\n", dir);
	return test_summary();
}
