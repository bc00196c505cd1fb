/* secrets.c — the credential store (contract: secrets.h). */
#define _GNU_SOURCE
#include "daemon/secrets.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/http.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/proxy_sup.h"
#include "daemon/store.h"
#include "common/secret_rules.h"
#include "policy/hostpattern.h"

/* secrets.json holds at most one control message's worth of secrets, plus
 * indentation: anything much bigger was not written by us. */
#define SECRETS_FILE_MAX (4 * 65536)

int kn_secret_name_valid(const char *name, const char **reason)
{
	*reason = kn_secret_name_problem(name, strlen(name));
	return *reason == NULL;
}

static int check_header(const char *h, kn_error *err)
{
	const char *problem = kn_secret_header_problem(h, strlen(h));
	return problem ? kn_fail_class(err, EINVAL, "header %.64s: %s", h, problem) : 0;
}

static int check_format(const char *f, kn_error *err)
{
	const char *problem = kn_secret_format_problem(f, strlen(f));
	return problem ? kn_fail_class(err, EINVAL, "%s", problem) : 0;
}

/* Canonical host patterns, duplicates dropped. */
static json_t *check_hosts(json_t *hosts, kn_error *err)
{
	if (!json_is_array(hosts) || json_array_size(hosts) == 0 ||
	    json_array_size(hosts) > KN_SECRET_MAX_HOSTS) {
		kn_fail_class(err, EINVAL, "hosts must be a list of 1 to %d host patterns", KN_SECRET_MAX_HOSTS);
		return NULL;
	}
	json_t *out = json_array();
	size_t i;
	json_t *h;
	json_array_foreach(hosts, i, h) {
		const char *reason = "not a string";
		struct kn_host_pattern p;
		if (!json_is_string(h) ||
		    kn_host_pattern_parse(json_string_value(h), json_string_length(h), &p, &reason) < 0) {
			kn_fail_class(err, EINVAL, "host %zu: %s", i + 1, reason);
			json_decref(out);
			return NULL;
		}
		char buf[KN_HOST_PATTERN_STRLEN];
		kn_host_pattern_format(&p, buf, sizeof(buf));
		int dup = 0;
		size_t k;
		json_t *seen;
		json_array_foreach(out, k, seen)
			dup |= !strcmp(json_string_value(seen), buf);
		if (!dup)
			json_array_append_new(out, json_string(buf));
	}
	return out;
}

json_t *kn_secret_parse(const char *name, json_t *body, kn_error *err)
{
	const char *reason, *header = NULL, *format = "{}", *value = NULL;
	json_t *hosts = NULL, *sandbox = NULL;
	size_t value_len = 0;
	if (!kn_secret_name_valid(name, &reason)) {
		kn_fail_class(err, EINVAL, "invalid secret name: %s", reason);
		return NULL;
	}
	if (!json_is_object(body)) {
		kn_fail_class(err, EINVAL, "a secret is a JSON object");
		return NULL;
	}
	/* Named one by one: json_unpack's own messages may quote the value. */
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		static const char *const known[] = {"value", "hosts", "header", "format", "sandbox"};
		int ok = 0;
		for (size_t i = 0; i < KN_ARRAY_SIZE(known); i++)
			ok |= !strcmp(key, known[i]);
		if (!ok) {
			kn_fail_class(err, EINVAL, "unknown field \"%.64s\" (known: value, hosts, header, format, sandbox)",
				   key);
			return NULL;
		}
	}
	v = json_object_get(body, "value");
	if (!json_is_string(v)) {
		kn_fail_class(err, EINVAL, "value must be a string");
		return NULL;
	}
	value = json_string_value(v);
	value_len = json_string_length(v);
	const char *problem = kn_secret_value_problem(value, value_len);
	if (problem) {
		kn_fail_class(err, EINVAL, "%s", problem);
		return NULL;
	}
	v = json_object_get(body, "header");
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		kn_fail_class(err, EINVAL, "header must be a string");
		return NULL;
	}
	header = json_string_value(v);
	if (check_header(header, err) < 0)
		return NULL;
	v = json_object_get(body, "format");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
			kn_fail_class(err, EINVAL, "format must be a string");
			return NULL;
		}
		format = json_string_value(v);
	}
	if (check_format(format, err) < 0)
		return NULL;
	sandbox = json_object_get(body, "sandbox");
	if (sandbox && !json_is_null(sandbox)) {
		reason = "not a string";
		if (!json_is_string(sandbox) ||
		    strlen(json_string_value(sandbox)) != json_string_length(sandbox) ||
		    !kn_name_valid(json_string_value(sandbox), &reason)) {
			kn_fail_class(err, EINVAL, "sandbox must be null or a sandbox name (%s)", reason);
			return NULL;
		}
	}
	hosts = check_hosts(json_object_get(body, "hosts"), err);
	if (!hosts)
		return NULL;
	json_t *out = json_pack("{s:s,s:o,s:s,s:s,s:s%}", "name", name, "hosts", hosts, "header",
				header, "format", format, "value", value, value_len);
	if (out && json_is_string(sandbox))
		json_object_set(out, "sandbox", sandbox);
	if (!out)
		kn_fail(err, "out of memory");
	return out;
}

json_t *kn_secret_public(const json_t *s)
{
	json_t *out = json_object();
	static const char *const fields[] = {"name", "hosts", "header", "format"};
	for (size_t i = 0; i < KN_ARRAY_SIZE(fields); i++)
		json_object_set(out, fields[i], json_object_get(s, fields[i]));
	json_t *sb = json_object_get(s, "sandbox");
	json_object_set_new(out, "sandbox", sb ? json_incref(sb) : json_null());
	return out;
}

json_t *kn_secrets_public(const struct kn_store *st)
{
	json_t *list = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(st->secrets, i, s)
		json_array_append_new(list, kn_secret_public(s));
	return list;
}

json_t *kn_secrets_find(const struct kn_store *st, const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(st->secrets, i, s)
		if (!strcmp(json_string_value(json_object_get(s, "name")), name))
			return s;
	return NULL;
}

json_t *kn_secrets_message(json_t *secrets)
{
	return json_pack("{s:s,s:O}", "op", "secrets", "secrets", secrets);
}

static int save(const struct kn_store *st, json_t *list, kn_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", st->state_dir, KN_SECRETS_FILE);
	json_t *doc = json_pack("{s:O}", "secrets", list);
	_cleanup_wipe_free_ char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	if (!text)
		return kn_fail(err, "encode %s", path);
	size_t len = strlen(text);
	text[len] = '\n';
	return kn_write_atomic(path, text, len + 1, 0600, err);
}

/* Tell the proxy the whole table; a proxy that is not running gets it when
 * it starts (proxy_sup.c). */
static void push(struct kn_store *st)
{
	kn_error err;
	if (st->proxy && kn_proxy_send_secrets(st->proxy, st->secrets, &err) < 0)
		log_error("secrets: saved, but kennel-proxy did not take them: %s", err.msg);
}

int kn_secrets_load(struct kn_store *st, kn_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", st->state_dir, KN_SECRETS_FILE);
	json_decref(st->secrets);
	st->secrets = json_array();
	_cleanup_wipe_free_ char *text = NULL;
	size_t len = 0;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (kn_read_file(path, SECRETS_FILE_MAX, &text, &len, err) < 0)
		return -1;
	json_error_t je;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	json_t *list = json_object_get(doc, "secrets");
	if (!json_is_array(list)) {
		json_decref(doc);
		/* je.text may quote the file: say where, not what. */
		return kn_fail(err, "%s: not {\"secrets\": [...]} (line %d)", path, doc ? 0 : je.line);
	}
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s) {
		json_t *name = json_object_get(s, "name");
		json_t *body = json_deep_copy(s);
		json_object_del(body, "name");
		json_t *canon = json_is_string(name) ? kn_secret_parse(json_string_value(name), body, err)
						     : (kn_fail_class(err, EINVAL, "no name"), NULL);
		json_decref(body);
		if (!canon) {
			json_decref(doc);
			return kn_fail_prefix(err, "%s: secret %zu", path, i + 1);
		}
		json_array_append_new(st->secrets, canon);
	}
	json_decref(doc);
	log_info("secrets: %zu loaded from %s", json_array_size(st->secrets), path);
	return 0;
}

/* The file first (a failed write changes nothing), then the list; takes
 * `list`. */
static int replace_list(struct kn_store *st, json_t *list, kn_error *err)
{
	if (save(st, list, err) < 0) {
		json_decref(list);
		return -1;
	}
	json_decref(st->secrets);
	st->secrets = list;
	return 0;
}

int kn_secrets_put(struct kn_store *st, json_t *secret, int *created, kn_error *err)
{
	const char *name = json_string_value(json_object_get(secret, "name"));
	json_t *list = json_array();
	size_t i;
	json_t *s;
	*created = 1;
	/* The new list, sorted by name, the secret in or replacing its namesake. */
	json_array_foreach(st->secrets, i, s) {
		if (!strcmp(json_string_value(json_object_get(s, "name")), name))
			*created = 0;
		else
			json_array_append(list, s);
	}
	size_t at = 0;
	json_array_foreach(list, i, s)
		if (strcmp(json_string_value(json_object_get(s, "name")), name) < 0)
			at = i + 1;
	json_array_insert(list, at, secret);
	json_t *msg = kn_secrets_message(list);
	_cleanup_wipe_free_ char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (!text || strlen(text) > KN_SECRETS_MSG_BUDGET) {
		json_decref(list);
		kn_fail_class(err, E2BIG, "the secrets would not fit kennel-proxy's %d-byte control "
					   "message; remove some first", KN_SECRETS_MSG_BUDGET);
		return -1;
	}
	if (replace_list(st, list, err) < 0)
		return -1;
	log_info("secret %s %s: header %s, %zu host pattern%s%s%s", name, *created ? "added" : "replaced",
		 json_string_value(json_object_get(secret, "header")),
		 json_array_size(json_object_get(secret, "hosts")),
		 json_array_size(json_object_get(secret, "hosts")) == 1 ? "" : "s",
		 json_object_get(secret, "sandbox") ? ", sandbox " : "",
		 json_object_get(secret, "sandbox") ? json_string_value(json_object_get(secret, "sandbox")) : "");
	push(st);
	return 0;
}

int kn_secrets_remove_sandbox(struct kn_store *st, const char *sandbox, kn_error *err)
{
	json_t *list = json_array();
	size_t i, dropped = 0;
	json_t *s;
	json_array_foreach(st->secrets, i, s) {
		const char *bound = json_string_value(json_object_get(s, "sandbox"));
		if (bound && !strcmp(bound, sandbox))
			dropped++;
		else
			json_array_append(list, s);
	}
	if (!dropped) {
		json_decref(list);
		return 0;
	}
	if (replace_list(st, list, err) < 0)
		return -1;
	log_info("removed the %zu secret%s of sandbox %s", dropped, dropped == 1 ? "" : "s",
		 sandbox);
	push(st);
	return 0;
}

int kn_secrets_remove(struct kn_store *st, const char *name, kn_error *err)
{
	json_t *list = json_array();
	size_t i;
	json_t *s;
	int found = 0;
	json_array_foreach(st->secrets, i, s) {
		if (!strcmp(json_string_value(json_object_get(s, "name")), name))
			found = 1;
		else
			json_array_append(list, s);
	}
	if (!found) {
		json_decref(list);
		kn_fail_class(err, ENOENT, "no such secret: %s", name);
		return -1;
	}
	if (replace_list(st, list, err) < 0)
		return -1;
	log_info("secret %s removed", name);
	push(st);
	return 0;
}
