/* secrets.c — the proxy's credential table (contract: secrets.h). */
#define _GNU_SOURCE
#include "proxy/secrets.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "common/secret_rules.h"

bool kp_secret_header_refused(const char *name)
{
	return kn_secret_header_problem(name, strlen(name)) != NULL;
}

/* ---- guarded strings: their own pages, never in a core dump, wiped ---- */

static char *guarded_dup(const char *s, size_t len)
{
	size_t total = sizeof(size_t) + len + 1;
	void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Core dumps are off for the whole proxy (harden.h); this keeps the
	 * values out even of a dump someone turns on again. */
	madvise(p, total, MADV_DONTDUMP);
	memcpy(p, &total, sizeof(total));
	char *str = (char *)p + sizeof(size_t);
	memcpy(str, s, len);
	str[len] = '\0';
	return str;
}

static void guarded_free(char *str)
{
	if (!str)
		return;
	void *p = str - sizeof(size_t);
	size_t total;
	memcpy(&total, p, sizeof(total));
	OPENSSL_cleanse(p, total);
	munmap(p, total);
}

/* The header value: `format` with its placeholder (secret_rules.h) replaced
 * by the value, or by base64(USER ":" value) for {basic:USER}. In guarded
 * memory; every scratch copy is wiped. NULL when out of memory. */
static char *expand(const char *format, const char *value, size_t value_len)
{
	struct kn_secret_slot slot;
	size_t flen = strlen(format);
	if (kn_secret_format_parse(format, flen, &slot))
		return NULL; /* checked by the caller already */
	size_t plain_len = slot.user ? slot.user_len + 1 + value_len : value_len;
	size_t fill_cap = slot.user ? 4 * ((plain_len + 2) / 3) + 1 : plain_len + 1;
	size_t out_len = flen - slot.len + fill_cap;
	char *plain = malloc(plain_len + 1), *fill = malloc(fill_cap), *out = malloc(out_len + 1);
	char *result = NULL;
	if (plain && fill && out) {
		size_t fill_len;
		if (slot.user) {
			memcpy(plain, slot.user, slot.user_len);
			plain[slot.user_len] = ':';
			memcpy(plain + slot.user_len + 1, value, value_len);
			fill_len = (size_t)EVP_EncodeBlock((unsigned char *)fill,
							   (const unsigned char *)plain,
							   (int)plain_len);
		} else {
			memcpy(fill, value, value_len);
			fill_len = value_len;
		}
		size_t n = 0;
		memcpy(out + n, format, slot.start);
		n += slot.start;
		memcpy(out + n, fill, fill_len);
		n += fill_len;
		memcpy(out + n, format + slot.start + slot.len, flen - slot.start - slot.len);
		n += flen - slot.start - slot.len;
		result = guarded_dup(out, n);
		OPENSSL_cleanse(out, n);
	}
	if (plain)
		OPENSSL_cleanse(plain, plain_len);
	if (fill)
		OPENSSL_cleanse(fill, fill_cap);
	free(plain);
	free(fill);
	free(out);
	return result;
}

/* ---- parsing ---- */

/* A sandbox name is a table key and a log field: printable, no spaces. */
static bool visible_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* A string member: its text and length, or NULL. */
static const char *member(json_t *obj, const char *key, size_t *len)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	const char *s = json_string_value(v);
	return strlen(s) == *len ? s : NULL; /* no embedded NUL */
}

static int parse_one(json_t *obj, size_t idx, struct kp_secret *s, kn_error *err)
{
	const char *key;
	json_t *val;
	size_t len;

	if (!json_is_object(obj))
		return kn_fail(err, "secrets[%zu] is not an object", idx);
	json_object_foreach(obj, key, val) {
		static const char *const known[] = { "name", "hosts", "header", "format", "value",
						     "sandbox" };
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok)
			return kn_fail(err, "secrets[%zu]: unexpected key \"%s\"", idx, key);
	}
	const char *name = member(obj, "name", &len);
	const char *problem = name ? kn_secret_name_problem(name, len) : "not a string";
	if (problem)
		return kn_fail(err, "secrets[%zu]: \"name\": %s", idx, problem);
	memcpy(s->name, name, len + 1);

	const char *header = member(obj, "header", &len);
	problem = header ? kn_secret_header_problem(header, len) : "not a string";
	if (problem)
		return kn_fail(err, "secret %s: \"header\": %s", s->name, problem);
	memcpy(s->header, header, len + 1);

	const char *format = "{}";
	json_t *fv = json_object_get(obj, "format");
	if (fv) {
		format = member(obj, "format", &len);
		problem = format ? kn_secret_format_problem(format, len) : "not a string";
		if (problem)
			return kn_fail(err, "secret %s: \"format\": %s", s->name, problem);
	}
	s->format = strdup(format);
	if (!s->format)
		return kn_fail(err, "out of memory");

	json_t *sbv = json_object_get(obj, "sandbox");
	if (sbv) {
		const char *sb = member(obj, "sandbox", &len);
		if (!sb || len == 0 || len > KP_SANDBOX_NAME_MAX || !visible_ascii(sb, len))
			return kn_fail(err, "secret %s: \"sandbox\" must be a sandbox name", s->name);
		memcpy(s->sandbox, sb, len + 1);
	}

	json_t *hosts = json_object_get(obj, "hosts");
	if (!json_is_array(hosts) || json_array_size(hosts) == 0 ||
	    json_array_size(hosts) > KN_SECRET_MAX_HOSTS)
		return kn_fail(err, "secret %s: \"hosts\" must be 1 to %d host patterns", s->name,
			       KN_SECRET_MAX_HOSTS);
	for (size_t i = 0; i < json_array_size(hosts); i++) {
		json_t *h = json_array_get(hosts, i);
		const char *reason = "not a string";
		if (!json_is_string(h) ||
		    kn_host_pattern_parse(json_string_value(h), json_string_length(h),
					  &s->hosts[s->n_hosts], &reason) < 0)
			return kn_fail(err, "secret %s: hosts[%zu]: %s", s->name, i, reason);
		s->n_hosts++;
	}

	/* Last, so that no message above can carry any of it. */
	const char *value = member(obj, "value", &len);
	problem = value ? kn_secret_value_problem(value, len) : "not a string";
	if (problem)
		return kn_fail(err, "secret %s: \"value\": %s", s->name, problem);
	s->raw = guarded_dup(value, len);
	if (!s->raw)
		return kn_fail(err, "out of memory");
	s->value = expand(format, s->raw, len);
	return s->value ? 0 : kn_fail(err, "out of memory");
}

struct kp_secrets *kp_secrets_parse(json_t *array, kn_error *err)
{
	if (!json_is_array(array)) {
		kn_fail(err, "\"secrets\" must be an array");
		return NULL;
	}
	size_t n = json_array_size(array);
	if (n > KP_SECRETS_MAX) {
		kn_fail(err, "more than %d secrets", KP_SECRETS_MAX);
		return NULL;
	}
	struct kp_secrets *t = calloc(1, sizeof(*t));
	if (!t || (n && !(t->v = calloc(n, sizeof(*t->v))))) {
		free(t);
		kn_fail(err, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		t->n = i + 1; /* so kp_secrets_free cleans a half-filled entry */
		if (parse_one(json_array_get(array, i), i, &t->v[i], err) < 0) {
			kp_secrets_free(t);
			return NULL;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->v[j].name, t->v[i].name) == 0) {
				kn_fail(err, "secret %s appears twice", t->v[i].name);
				kp_secrets_free(t);
				return NULL;
			}
	}
	t->n = n;
	return t;
}

json_t *kp_secrets_to_json(const struct kp_secrets *t)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && t && i < t->n; i++) {
		const struct kp_secret *s = &t->v[i];
		json_t *hosts = json_array();
		for (size_t h = 0; hosts && h < s->n_hosts; h++) {
			char buf[KN_HOST_PATTERN_STRLEN];
			kn_host_pattern_format(&s->hosts[h], buf, sizeof(buf));
			json_array_append_new(hosts, json_string(buf));
		}
		json_t *o = json_pack("{s:s, s:o, s:s, s:s, s:s}", "name", s->name, "hosts", hosts,
				      "header", s->header, "format", s->format, "value", s->raw);
		if (o && s->sandbox[0])
			json_object_set_new(o, "sandbox", json_string(s->sandbox));
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static unsigned best_specificity(const struct kp_secret *s, const char *host, uint16_t port,
				 bool *matched)
{
	unsigned best = 0;
	*matched = false;
	for (size_t h = 0; h < s->n_hosts; h++) {
		if (!kn_host_pattern_matches(&s->hosts[h], host, port))
			continue;
		unsigned sp = kn_host_pattern_specificity(&s->hosts[h]);
		if (!*matched || sp > best)
			best = sp;
		*matched = true;
	}
	return best;
}

size_t kp_secrets_match(const struct kp_secrets *t, const char *sandbox, const char *host,
			uint16_t port, struct kp_inject out[KP_INJECT_MAX])
{
	const struct kp_secret *pick[KP_INJECT_MAX];
	unsigned rank[KP_INJECT_MAX];
	size_t n = 0;

	for (size_t i = 0; t && i < t->n; i++) {
		const struct kp_secret *s = &t->v[i];
		bool matched;
		if (s->sandbox[0] && strcmp(s->sandbox, sandbox) != 0)
			continue;
		unsigned sp = best_specificity(s, host, port, &matched);
		if (!matched)
			continue;
		/* Rank: specificity first, then bound-to-this-sandbox. */
		unsigned r = sp * 2 + (s->sandbox[0] ? 1 : 0);
		size_t k = 0;
		while (k < n && strcasecmp(pick[k]->header, s->header) != 0)
			k++;
		if (k == n) {
			if (n == KP_INJECT_MAX)
				continue;
			n++;
		} else if (r < rank[k] || (r == rank[k] && strcmp(s->name, pick[k]->name) > 0)) {
			continue;
		}
		pick[k] = s;
		rank[k] = r;
	}
	for (size_t k = 0; k < n; k++)
		out[k] = (struct kp_inject){ pick[k]->header, pick[k]->value, pick[k]->name };
	return n;
}

void kp_secrets_free(struct kp_secrets *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].format);
		guarded_free(t->v[i].raw);
		guarded_free(t->v[i].value);
	}
	free(t->v);
	free(t);
}
