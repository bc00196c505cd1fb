#include "policy/policy_json.h"

#include <stdio.h>
#include <string.h>

/* JSON keys of the rule lists, in the order kn_policy_to_json writes them. */
static const struct {
	const char *key;
	enum kn_rule_kind kind;
} lists[KN_RULE_KIND_COUNT] = {
	{ "allow_hosts", KN_RULE_ALLOW_HOST },   { "block_hosts", KN_RULE_BLOCK_HOST },
	{ "allow_cidrs", KN_RULE_ALLOW_CIDR },   { "block_cidrs", KN_RULE_BLOCK_CIDR },
	{ "bypass_hosts", KN_RULE_BYPASS_HOST }, { "bypass_cidrs", KN_RULE_BYPASS_CIDR },
};

/* How much of a refused entry an error message quotes: enough to recognise it,
 * bounded so a hostile 1 MiB string does not become a 1 MiB log line. */
#define QUOTE_MAX 80

/* Quote untrusted text for a message: printable ASCII as is, '"' and '\' and every
 * other byte escaped, so CR/LF/NUL cannot forge log lines. */
static void quote(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t o = 0;
	for (size_t i = 0; i < len && i < QUOTE_MAX && o + 5 < bufsz; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, bufsz - o, "\\x%02x", c);
	}
	if (len > QUOTE_MAX && o + 4 < bufsz) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

static bool is_list_key(const char *key)
{
	for (unsigned i = 0; i < KN_RULE_KIND_COUNT; i++)
		if (strcmp(key, lists[i].key) == 0)
			return true;
	return false;
}

int kn_policy_from_json(json_t *json, struct kn_policy *out, kn_error *err)
{
	struct kn_policy p;
	char quoted[QUOTE_MAX * 4 + 8];
	const char *key;
	json_t *value;

	if (!json_is_object(json))
		return kn_fail(err, "policy: not a JSON object");
	json_object_foreach(json, key, value) {
		if (strcmp(key, "default") != 0 && !is_list_key(key)) {
			quote(key, strlen(key), quoted, sizeof(quoted));
			return kn_fail(err, "policy: unknown key \"%s\"", quoted);
		}
	}

	json_t *def = json_object_get(json, "default");
	enum kn_default d;
	if (!def)
		return kn_fail(err, "policy: \"default\" is missing (\"allow\" or \"deny\")");
	if (!json_is_string(def) || strlen(json_string_value(def)) != json_string_length(def) ||
	    kn_default_from_name(json_string_value(def), &d) < 0)
		return kn_fail(err, "policy: \"default\" must be \"allow\" or \"deny\"");

	kn_policy_init_default(&p, d);
	for (unsigned l = 0; l < KN_RULE_KIND_COUNT; l++) {
		json_t *list = json_object_get(json, lists[l].key);
		size_t i;
		if (!list)
			continue;
		if (!json_is_array(list)) {
			kn_policy_free(&p);
			return kn_fail(err, "policy: \"%s\" must be a list of strings", lists[l].key);
		}
		json_array_foreach(list, i, value) {
			const char *reason;
			if (!json_is_string(value)) {
				kn_policy_free(&p);
				return kn_fail(err, "policy: %s[%zu]: not a string", lists[l].key, i);
			}
			const char *s = json_string_value(value);
			size_t len = json_string_length(value);
			if (strlen(s) != len) {
				reason = "NUL byte in pattern";
			} else if (kn_policy_add_rule(&p, lists[l].kind, s, &reason) == 0) {
				continue;
			}
			quote(s, len, quoted, sizeof(quoted));
			kn_policy_free(&p);
			return kn_fail(err, "policy: %s[%zu] \"%s\": %s", lists[l].key, i, quoted, reason);
		}
	}
	*out = p;
	return 0;
}

json_t *kn_policy_to_json(const struct kn_policy *p)
{
	json_t *root = json_object();
	if (!root || json_object_set_new(root, "default", json_string(kn_default_name(p->def))) < 0)
		goto oom;
	for (unsigned l = 0; l < KN_RULE_KIND_COUNT; l++) {
		json_t *list = json_array();
		if (!list || json_object_set_new(root, lists[l].key, list) < 0)
			goto oom;
		for (size_t i = 0; i < p->nrules; i++) {
			char text[KN_HOST_PATTERN_STRLEN];
			if (p->rules[i].kind != lists[l].kind)
				continue;
			kn_rule_format(&p->rules[i], text, sizeof(text));
			if (json_array_append_new(list, json_string(text)) < 0)
				goto oom;
		}
	}
	return root;
oom:
	json_decref(root);
	return NULL;
}
