/* Unit tests of the credential store (src/daemon/secrets.h): the rules a
 * secret must meet (and that refusals never quote the value), the canonical
 * form, the file (mode, sorted, reloaded), replace and remove, the listing
 * without values, and the one-control-message budget. Real files in a temp
 * dir; no proxy (st->proxy is NULL). */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "daemon/secrets.h"
#include "daemon/store.h"
#include "test.h"

static char tmpdir[] = "/tmp/kennel-test-secrets.XXXXXX";
#define VALUE "sk-unit-CANARY-1234"

static json_t *body(const char *text)
{
	json_error_t je;
	/* JSON_ALLOW_NUL: a NUL in a value must reach kn_secret_parse's own check. */
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
	if (!j)
		printf("  bad test JSON: %s\n", je.text);
	return j;
}

/* Parse `text` for `name`: the canonical object, or NULL (err filled). */
static json_t *parse(const char *name, const char *text, kn_error *err)
{
	json_t *b = body(text);
	memset(err, 0, sizeof(*err));
	json_t *s = kn_secret_parse(name, b, err);
	json_decref(b);
	return s;
}

static void test_accepts_and_canonicalises(void)
{
	kn_error err;
	json_t *s = parse("anthropic",
			  "{\"value\":\"" VALUE "\",\"hosts\":[\"API.Anthropic.com.\",\"api.anthropic.com\","
			  "\"*.example.com:443\"],\"header\":\"x-api-key\"}",
			  &err);
	CHECK(s != NULL);
	if (!s) {
		printf("  %s\n", err.msg);
		return;
	}
	json_t *want = body("{\"name\":\"anthropic\",\"hosts\":[\"api.anthropic.com\",\"*.example.com:443\"],"
			    "\"header\":\"x-api-key\",\"format\":\"{}\",\"value\":\"" VALUE "\"}");
	CHECK(json_equal(s, want));
	json_decref(want);
	json_t *pub = kn_secret_public(s);
	CHECK(json_object_get(pub, "value") == NULL);
	CHECK(json_is_null(json_object_get(pub, "sandbox")));
	CHECK_STR_EQ(json_string_value(json_object_get(pub, "format")), "{}");
	json_decref(pub);
	json_decref(s);

	s = parse("gh", "{\"value\":\"x\",\"hosts\":[\"github.com\"],\"header\":\"Authorization\","
			"\"format\":\"Bearer {}\",\"sandbox\":\"proj-1\"}",
		  &err);
	CHECK(s && !strcmp(json_string_value(json_object_get(s, "sandbox")), "proj-1"));
	CHECK(s && !strcmp(json_string_value(json_object_get(s, "format")), "Bearer {}"));
	json_decref(s);
	/* sandbox null = absent in the stored form. */
	s = parse("n", "{\"value\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"h\",\"sandbox\":null,"
		       "\"format\":null}",
		  &err);
	CHECK(s && json_object_get(s, "sandbox") == NULL);
	json_decref(s);
}

static void test_refusals(void)
{
	static const struct {
		const char *name, *body, *says;
	} cases[] = {
		{"", "{}", "secret name"},
		{".", "{}", "secret name"},
		{"..", "{}", "secret name"},
		{"a/b", "{}", "secret name"},
		{"a b", "{}", "secret name"},
		{"x", "[]", "JSON object"},
		{"x", "{\"hosts\":[\"a.test\"],\"header\":\"h\"}", "value"},
		{"x", "{\"value\":\"\",\"hosts\":[\"a.test\"],\"header\":\"h\"}", "value"},
		{"x", "{\"value\":\"" VALUE "\\n\",\"hosts\":[\"a.test\"],\"header\":\"h\"}", "value"},
		{"x", "{\"value\":\"" VALUE "\\r\",\"hosts\":[\"a.test\"],\"header\":\"h\"}", "value"},
		{"x", "{\"value\":\"" VALUE "\\u0000\",\"hosts\":[\"a.test\"],\"header\":\"h\"}", "value"},
		{"x", "{\"value\":\"" VALUE "\\u00e9\",\"hosts\":[\"a.test\"],\"header\":\"h\"}", "value"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[],\"header\":\"h\"}", "hosts"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":\"a.test\",\"header\":\"h\"}", "hosts"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.*.test\"],\"header\":\"h\"}", "host 1"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\",7],\"header\":\"h\"}", "host 2"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"x y\"}", "header"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"\"}", "header"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"transfer-encoding\"}", "frames"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"HOST\"}", "frames"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"Content-Length\"}", "frames"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"Proxy-Authorization\"}", "proxy"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"h\",\"format\":\"Bearer\"}", "exactly one"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"h\",\"format\":\"{}{}\"}", "exactly one"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"h\",\"format\":\"{}\\n\"}", "printable"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"h\",\"format\":5}", "format"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"h\",\"sandbox\":\"-x\"}", "sandbox"},
		{"x", "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"h\",\"extra\":1}", "unknown field"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kn_error err;
		json_t *s = parse(cases[i].name, cases[i].body, &err);
		if (s || !strstr(err.msg, cases[i].says) || strstr(err.msg, "CANARY") || err.errnum != EINVAL)
			printf("  case %zu: got %s (errnum %d)\n", i, s ? "accepted" : err.msg, err.errnum);
		CHECK(s == NULL);
		CHECK(strstr(err.msg, cases[i].says) != NULL);
		CHECK(strstr(err.msg, "CANARY") == NULL);
		CHECK(err.errnum == EINVAL);
		json_decref(s);
	}
	/* Limits, at and past. */
	char *big = malloc(KN_SECRET_VALUE_MAX + 200);
	char v[KN_SECRET_VALUE_MAX + 2];
	memset(v, 'v', sizeof(v) - 1);
	for (int past = 0; past <= 1; past++) {
		memset(v, 'v', sizeof(v) - 1);
		v[KN_SECRET_VALUE_MAX + past] = '\0';
		snprintf(big, KN_SECRET_VALUE_MAX + 200,
			 "{\"value\":\"%s\",\"hosts\":[\"a.test\"],\"header\":\"h\"}", v);
		kn_error err;
		json_t *s = parse("x", big, &err);
		CHECK(past ? s == NULL : s != NULL);
		json_decref(s);
	}
	free(big);
}

static int file_mode(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? -1 : (int)(st.st_mode & 07777);
}

static void test_store(void)
{
	struct kn_store st;
	kn_error err = {0};
	CHECK(kn_store_open(&st, tmpdir, &err) == 0);
	CHECK(kn_secrets_load(&st, &err) == 0);
	CHECK(json_array_size(st.secrets) == 0);
	const char *names[] = {"zeta", "alpha", "mid"};
	for (size_t i = 0; i < 3; i++) {
		kn_error e;
		json_t *s = parse(names[i], "{\"value\":\"" VALUE "\",\"hosts\":[\"a.test\"],\"header\":\"h\"}", &e);
		int created = -1;
		CHECK(s && kn_secrets_put(&st, s, &created, &e) == 0 && created == 1);
		json_decref(s);
	}
	/* Sorted by name, in memory and in the file. */
	json_t *pub = kn_secrets_public(&st);
	CHECK(json_array_size(pub) == 3);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(pub, 0), "name")), "alpha");
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(pub, 2), "name")), "zeta");
	CHECK(json_object_get(json_array_get(pub, 0), "value") == NULL);
	json_decref(pub);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, KN_SECRETS_FILE);
	CHECK(file_mode(path) == 0600);

	/* Replace: not created, the new hosts win. */
	kn_error e;
	json_t *s = parse("mid", "{\"value\":\"other\",\"hosts\":[\"b.test\"],\"header\":\"h\"}", &e);
	int created = -1;
	CHECK(s && kn_secrets_put(&st, s, &created, &e) == 0 && created == 0);
	json_decref(s);
	CHECK(json_array_size(st.secrets) == 3);
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(kn_secrets_find(&st, "mid"), "hosts"), 0)),
		     "b.test");

	/* Remove, and an unknown name. */
	CHECK(kn_secrets_remove(&st, "zeta", &e) == 0);
	CHECK(kn_secrets_remove(&st, "zeta", &e) < 0 && e.errnum == ENOENT);

	/* Reloaded from the file: the same list. */
	json_t *before = json_deep_copy(st.secrets);
	CHECK(kn_secrets_load(&st, &e) == 0);
	CHECK(json_equal(before, st.secrets));
	json_decref(before);

	/* The budget: max-size values until one no longer fits; nothing changes then. */
	char *v = malloc(KN_SECRET_VALUE_MAX + 1), *b = malloc(KN_SECRET_VALUE_MAX + 200);
	memset(v, 'v', KN_SECRET_VALUE_MAX);
	v[KN_SECRET_VALUE_MAX] = '\0';
	snprintf(b, KN_SECRET_VALUE_MAX + 200, "{\"value\":\"%s\",\"hosts\":[\"a.test\"],\"header\":\"h\"}", v);
	int refused = 0;
	for (int i = 0; i < 20 && !refused; i++) {
		char name[16];
		snprintf(name, sizeof(name), "big%02d", i);
		s = parse(name, b, &e);
		size_t n = json_array_size(st.secrets);
		if (kn_secrets_put(&st, s, &created, &e) < 0) {
			refused = 1;
			CHECK(e.errnum == E2BIG);
			CHECK(json_array_size(st.secrets) == n);
			CHECK(i >= 6 && i <= 8);
		}
		json_decref(s);
	}
	CHECK(refused);
	free(v);
	free(b);

	/* A damaged file is refused on load, naming the secret, not the value. */
	const char *bad = "{\"secrets\":[{\"name\":\"a\",\"value\":\"" VALUE "\\n\",\"hosts\":[\"a.test\"],"
			  "\"header\":\"h\",\"format\":\"{}\"}]}";
	CHECK(kn_write_atomic(path, bad, strlen(bad), 0600, &e) == 0);
	memset(&e, 0, sizeof(e));
	CHECK(kn_secrets_load(&st, &e) < 0);
	CHECK(strstr(e.msg, "secret 1: the value") != NULL);
	CHECK(strstr(e.msg, "CANARY") == NULL);
	CHECK(kn_write_atomic(path, "not json", 8, 0600, &e) == 0);
	CHECK(kn_secrets_load(&st, &e) < 0);
	json_decref(st.secrets);
	json_decref(st.default_policy);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	kn_log_init("test_secrets", KN_LOG_WARN);
	RUN(test_accepts_and_canonicalises);
	RUN(test_refusals);
	RUN(test_store);
	kn_rm_rf(tmpdir, NULL);
	return test_summary();
}
