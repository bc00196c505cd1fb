/* services.c — the credential services table (contract: services.h). */
#define _GNU_SOURCE
#include "cli/services.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/datadir.h"
#include "common/fsutil.h"
#include "common/secret_rules.h"
#include "common/util.h"
#include "policy/hostpattern.h"

static int var_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > CLI_SERVICE_VAR_MAX || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static int check_hosts(json_t *hosts, const char *where, kn_error *err)
{
	if (!json_is_array(hosts) || json_array_size(hosts) == 0 ||
	    json_array_size(hosts) > KN_SECRET_MAX_HOSTS)
		return kn_fail(err, "%s: \"hosts\" must be 1 to %d host patterns", where,
			       KN_SECRET_MAX_HOSTS);
	size_t i;
	json_t *v;
	json_array_foreach(hosts, i, v) {
		struct kn_host_pattern p;
		const char *reason = "not a string";
		if (!json_is_string(v) ||
		    kn_host_pattern_parse(json_string_value(v), json_string_length(v), &p, &reason) < 0)
			return kn_fail(err, "%s: hosts[%zu]: %s", where, i, reason);
	}
	return 0;
}

static int check_credential(json_t *c, const char *where, kn_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(c, key, v)
		if (strcmp(key, "env") && strcmp(key, "header") && strcmp(key, "format") &&
		    strcmp(key, "hosts"))
			return kn_fail(err, "%s: unknown field \"%.64s\"", where, key);
	json_t *hosts = json_object_get(c, "hosts");
	if (hosts && check_hosts(hosts, where, err) < 0)
		return -1;
	const char *env = json_string_value(json_object_get(c, "env"));
	const char *header = json_string_value(json_object_get(c, "header"));
	json_t *fv = json_object_get(c, "format");
	const char *format = fv ? json_string_value(fv) : "{}";
	const char *problem;
	if (!env || !var_ok(env))
		return kn_fail(err, "%s: \"env\" must be an environment variable name ([A-Z_][A-Z0-9_]*)",
			       where);
	if (!header || (problem = kn_secret_header_problem(header, strlen(header))))
		return kn_fail(err, "%s: \"header\": %s", where, header ? problem : "missing");
	if (!format || (problem = kn_secret_format_problem(format, strlen(format))))
		return kn_fail(err, "%s: \"format\": %s", where, format ? problem : "not a string");
	return 0;
}

static int check_service(json_t *s, const char *file, size_t idx, kn_error *err)
{
	char where[PATH_MAX + 64];
	const char *name = json_string_value(json_object_get(s, "name"));
	snprintf(where, sizeof(where), "%s: service %s", file, name ? name : "?");
	if (!json_is_object(s) || !name || !*name)
		return kn_fail(err, "%s: services[%zu] needs a \"name\"", file, idx);
	const char *key;
	json_t *v;
	json_object_foreach(s, key, v)
		if (strcmp(key, "name") && strcmp(key, "hosts") && strcmp(key, "credentials"))
			return kn_fail(err, "%s: unknown field \"%.64s\"", where, key);
	if (check_hosts(json_object_get(s, "hosts"), where, err) < 0)
		return -1;
	size_t i;
	json_t *creds = json_object_get(s, "credentials");
	if (!json_is_array(creds) || json_array_size(creds) == 0)
		return kn_fail(err, "%s: \"credentials\" must be a non-empty list", where);
	json_array_foreach(creds, i, v) {
		if (!json_is_object(v))
			return kn_fail(err, "%s: credentials[%zu] is not an object", where, i);
		if (check_credential(v, where, err) < 0)
			return -1;
	}
	return 0;
}

/* Add the services of `path` to `table` (a json_t object: name -> service);
 * the shape kn_each_json_file calls. */
static int load_file(const char *path, void *table, kn_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (kn_read_file(path, CLI_SERVICES_FILE_MAX, &text, &len, err) < 0)
		return -1;
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return kn_fail(err, "%s:%d: %s", path, jerr.line, jerr.text);
	json_t *list = json_object_get(doc, "services");
	int rc = 0;
	const char *key;
	json_t *v;
	json_object_foreach(doc, key, v)
		if (strcmp(key, "services") && strcmp(key, "comment"))
			rc = kn_fail(err, "%s: unknown field \"%.64s\"", path, key);
	if (rc == 0 && !json_is_array(list))
		rc = kn_fail(err, "%s: \"services\" must be a list", path);
	size_t i;
	json_array_foreach(list, i, v) {
		if (rc < 0 || (rc = check_service(v, path, i, err)) < 0)
			break;
		json_object_set(table, json_string_value(json_object_get(v, "name")), v);
	}
	json_decref(doc);
	return rc;
}

json_t *cli_services_load(kn_error *err)
{
	json_t *table = json_object();
	char buf[PATH_MAX];
	if (!table) {
		kn_fail(err, "out of memory");
		return NULL;
	}
	const char *file = kn_data_path(CLI_SERVICES_FILE, KN_DATA_FILE, buf, sizeof(buf));
	const char *etc = getenv("KENNEL_SERVICES_DIR");
	if (!etc || !*etc)
		etc = CLI_SERVICES_ETC_DIR;
	if ((file && load_file(file, table, err) < 0) ||
	    kn_each_json_file(etc, load_file, table, err) < 0) {
		json_decref(table);
		return NULL;
	}
	return table;
}

json_t *cli_services_secrets(json_t *services, const char *sandbox, char **env,
			     json_t *placeholders)
{
	json_t *out = json_array();
	json_t *uses = json_object(); /* VAR -> how many secrets it made so far */
	const char *sname;
	json_t *service;
	json_object_foreach(services, sname, service) {
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(service, "credentials"), i, c) {
			const char *var = json_string_value(json_object_get(c, "env"));
			size_t vlen = strlen(var);
			const char *value = NULL;
			for (char **e = env; e && *e; e++)
				if (!strncmp(*e, var, vlen) && (*e)[vlen] == '=')
					value = *e + vlen + 1;
			if (!value || !*value || !strcmp(value, CLI_PLACEHOLDER))
				continue;
			char name[KN_SECRET_NAME_MAX + 1], assign[CLI_SERVICE_VAR_MAX + 32];
			json_int_t n = json_integer_value(json_object_get(uses, var)) + 1;
			json_object_set_new(uses, var, json_integer(n));
			if (n == 1)
				snprintf(name, sizeof(name), "%s.%s", sandbox, var);
			else
				snprintf(name, sizeof(name), "%s.%s.%d", sandbox, var, (int)n);
			json_t *fv = json_object_get(c, "format");
			json_t *hosts = json_object_get(c, "hosts");
			json_t *body = json_pack("{s:O, s:O, s:s, s:s, s:s}", "hosts",
						 hosts ? hosts : json_object_get(service, "hosts"),
						 "header",
						 json_object_get(c, "header"), "format",
						 fv ? json_string_value(fv) : "{}", "value", value,
						 "sandbox", sandbox);
			json_array_append_new(out, json_pack("{s:s, s:o}", "name", name, "body", body));
			if (n > 1)
				continue; /* its placeholder is there already */
			snprintf(assign, sizeof(assign), "%s=" CLI_PLACEHOLDER, var);
			json_array_append_new(placeholders, json_string(assign));
		}
	}
	json_decref(uses);
	return out;
}
