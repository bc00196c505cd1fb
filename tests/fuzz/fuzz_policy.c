/* fuzz_policy.c — libFuzzer target for src/policy. The input is used whole as a
 * host name, a host pattern, a CIDR and a rule of every kind, and, split at its
 * first newline, as a pattern plus a host to match. Invariants checked (abort on
 * violation):
 *   - kn_host_canon: the output is short, lower case, of allowed bytes, and
 *     canonicalises to itself; an IP output parses as an address that prints back
 *     the same; whatever libc's inet_aton reads as an address we either refuse or
 *     read as the same address (never as a name).
 *   - patterns and CIDRs print in a form that parses back to the same value; a CIDR
 *     contains its own base and has no host bits set.
 *   - a decision on the raw host equals the decision on its canonical form, and a
 *     refused host is always blocked.
 *   - a policy through JSON and back is the same JSON.
 *   - a "*.S" pattern matches H only if H ends in ".S" and is longer.
 */
#include "policy/cidr.h"
#include "policy/hostname.h"
#include "policy/hostpattern.h"
#include "policy/policy.h"
#include "policy/policy_json.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Longer inputs exercise nothing new: every limit in the parsers is below 300. */
#define FUZZ_INPUT_MAX 1024

static struct kn_policy fixed;

static void build_fixed_policy(void)
{
	static const struct {
		enum kn_rule_kind kind;
		const char *pattern;
	} rules[] = {
		{ KN_RULE_ALLOW_HOST, "example.com" },	  { KN_RULE_ALLOW_HOST, "*.example.com" },
		{ KN_RULE_BLOCK_HOST, "*.evil.com" },	  { KN_RULE_BLOCK_HOST, "127.0.0.1" },
		{ KN_RULE_ALLOW_HOST, "*:443" },	  { KN_RULE_BLOCK_HOST, "a.example.com:80" },
		{ KN_RULE_BLOCK_HOST, "[::1]" },	  { KN_RULE_ALLOW_CIDR, "10.1.0.0/16" },
		{ KN_RULE_BLOCK_CIDR, "8.8.8.0/24" },	  { KN_RULE_BYPASS_HOST, "*.bank.com" },
		{ KN_RULE_BYPASS_CIDR, "203.0.113.0/24" },
	};
	kn_policy_init_default(&fixed, KN_DEFAULT_DENY);
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		ASSERT(kn_policy_add_rule(&fixed, rules[i].kind, rules[i].pattern, NULL) == 0);
}

static void check_canon(const char *s, size_t len)
{
	char out[KN_HOST_BUFSZ], again[KN_HOST_BUFSZ];
	const char *reason = NULL;
	int rc = kn_host_canon(s, len, out, sizeof(out), &reason);
	if (rc < 0) {
		ASSERT(reason && *reason);
	} else {
		size_t n = strlen(out);
		ASSERT(n > 0 && n <= KN_HOST_NAME_MAX);
		for (size_t i = 0; i < n; i++) {
			char c = out[i];
			ASSERT((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			       c == '_' || c == '.' || c == ':');
		}
		ASSERT(kn_host_canon(out, n, again, sizeof(again), &reason) == 0);
		ASSERT(strcmp(out, again) == 0);
		if (kn_host_kind(out) != KN_HOST_NAME) {
			struct kn_addr a;
			char text[KN_ADDR_STRLEN];
			ASSERT(kn_addr_parse(out, n, &a, &reason) == 0);
			kn_addr_format(&a, text, sizeof(text));
			ASSERT(strcmp(text, out) == 0);
		}
	}

	/* Differential against inet_aton (pure, used only as an oracle here). */
	char cstr[FUZZ_INPUT_MAX + 1];
	memcpy(cstr, s, len);
	cstr[len] = '\0';
	struct in_addr ia;
	if (strlen(cstr) == len && inet_aton(cstr, &ia) == 1 && rc == 0) {
		char dotted[16];
		kn_ipv4_format(ntohl(ia.s_addr), dotted, sizeof(dotted));
		ASSERT(strcmp(out, dotted) == 0);
	}

	/* Decisions depend on the canonical form only; refused hosts are blocked. */
	struct kn_decision d1, d2;
	int r1 = kn_policy_check_host(&fixed, s, len, 443, &d1);
	ASSERT(r1 == rc);
	if (rc < 0) {
		ASSERT(d1.verdict == KN_VERDICT_BLOCK);
		ASSERT(!kn_policy_is_bypass(&fixed, s, len, 443, NULL));
	} else {
		ASSERT(kn_policy_check_host(&fixed, out, strlen(out), 443, &d2) == 0);
		ASSERT(d1.verdict == d2.verdict && strcmp(d1.rule, d2.rule) == 0);
		ASSERT(kn_policy_is_bypass(&fixed, s, len, 443, NULL) ==
		       kn_policy_is_bypass(&fixed, out, strlen(out), 443, NULL));
	}
}

static void check_pattern(const char *s, size_t len)
{
	struct kn_host_pattern p, back;
	char text[KN_HOST_PATTERN_STRLEN], text2[KN_HOST_PATTERN_STRLEN];
	if (kn_host_pattern_parse(s, len, &p, NULL) < 0)
		return;
	kn_host_pattern_format(&p, text, sizeof(text));
	ASSERT(kn_host_pattern_parse(text, strlen(text), &back, NULL) == 0);
	ASSERT(kn_host_pattern_equal(&p, &back));
	kn_host_pattern_format(&back, text2, sizeof(text2));
	ASSERT(strcmp(text, text2) == 0);
}

static void check_cidr(const char *s, size_t len)
{
	struct kn_cidr c, back;
	char text[KN_CIDR_STRLEN];
	if (kn_cidr_parse(s, len, &c, NULL) < 0)
		return;
	ASSERT(c.prefix <= (c.base.family == AF_INET ? 32u : 128u));
	ASSERT(kn_cidr_contains(&c, &c.base));
	kn_cidr_format(&c, text, sizeof(text));
	ASSERT(kn_cidr_parse(text, strlen(text), &back, NULL) == 0);
	ASSERT(kn_cidr_equal(&c, &back));
	/* Host bits are clear: the /max range of the base is inside the range. */
	struct kn_cidr host = c;
	host.prefix = c.base.family == AF_INET ? 32 : 128;
	ASSERT(kn_cidr_contains(&host, &c.base));

	struct kn_decision d;
	kn_policy_check_addr(&fixed, &c.base, &d);
	ASSERT(d.rule[0] != '\0');
}

static void check_rules_json(const char *s, size_t len)
{
	char cstr[FUZZ_INPUT_MAX + 1];
	memcpy(cstr, s, len);
	cstr[len] = '\0';
	struct kn_policy p;
	kn_policy_init_default(&p, KN_DEFAULT_ALLOW);
	ASSERT(kn_policy_add_rule(&p, KN_RULE_BLOCK_HOST, "*.evil.com", NULL) == 0);
	for (unsigned k = 0; k < KN_RULE_KIND_COUNT; k++) {
		size_t before = p.nrules;
		const char *reason = NULL;
		if (kn_policy_add_rule(&p, (enum kn_rule_kind)k, cstr, &reason) < 0)
			ASSERT(p.nrules == before && reason);
	}
	json_t *j1 = kn_policy_to_json(&p);
	ASSERT(j1);
	struct kn_policy q;
	kn_error err;
	ASSERT(kn_policy_from_json(j1, &q, &err) == 0);
	ASSERT(q.nrules == p.nrules);
	json_t *j2 = kn_policy_to_json(&q);
	ASSERT(j2 && json_equal(j1, j2));
	json_decref(j1);
	json_decref(j2);
	kn_policy_free(&p);
	kn_policy_free(&q);
}

static void check_match(const char *s, size_t len)
{
	const char *nl = memchr(s, '\n', len);
	if (!nl)
		return;
	struct kn_host_pattern p;
	char host[KN_HOST_BUFSZ];
	size_t plen = (size_t)(nl - s);
	if (kn_host_pattern_parse(s, plen, &p, NULL) < 0)
		return;
	if (kn_host_canon(nl + 1, len - plen - 1, host, sizeof(host), NULL) < 0)
		return;
	uint16_t port = p.port ? p.port : 443;
	bool m = kn_host_pattern_matches(&p, host, port);
	size_t hl = strlen(host), sl = strlen(p.host);
	switch (p.match) {
	case KN_MATCH_ANY:
		ASSERT(m);
		break;
	case KN_MATCH_EXACT:
		ASSERT(m == (strcmp(host, p.host) == 0));
		break;
	case KN_MATCH_SUFFIX:
		ASSERT(m == (hl > sl + 1 && host[hl - sl - 1] == '.' &&
			     strcmp(host + hl - sl, p.host) == 0));
		ASSERT(!m || strcmp(host, p.host) != 0);
		break;
	}
	if (p.port)
		ASSERT(!kn_host_pattern_matches(&p, host, (uint16_t)(p.port + 1)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		build_fixed_policy();
		ready = 1;
	}
	if (size > FUZZ_INPUT_MAX)
		return 0;
	const char *s = (const char *)data;
	check_canon(s, size);
	check_pattern(s, size);
	check_cidr(s, size);
	check_rules_json(s, size);
	check_match(s, size);
	return 0;
}
