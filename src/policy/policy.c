#include "policy/policy.h"

#include "common/util.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The built-in block list (policy.h), with its text for the decision. */
static const struct {
	const char *text;
	struct kn_cidr cidr;
} default_blocks[] = {
	{ "0.0.0.0/8", { { AF_INET, { 0 } }, 8 } },
	{ "10.0.0.0/8", { { AF_INET, { 10 } }, 8 } },
	{ "100.64.0.0/10", { { AF_INET, { 100, 64 } }, 10 } },
	{ "127.0.0.0/8", { { AF_INET, { 127 } }, 8 } },
	{ "169.254.0.0/16", { { AF_INET, { 169, 254 } }, 16 } },
	{ "172.16.0.0/12", { { AF_INET, { 172, 16 } }, 12 } },
	{ "192.168.0.0/16", { { AF_INET, { 192, 168 } }, 16 } },
	{ "::/128", { { AF_INET6, { 0 } }, 128 } },
	{ "::1/128", { { AF_INET6, { [15] = 1 } }, 128 } },
	{ "fc00::/7", { { AF_INET6, { 0xfc } }, 7 } },
	{ "fe80::/10", { { AF_INET6, { 0xfe, 0x80 } }, 10 } },
};

static const char *const kind_names[KN_RULE_KIND_COUNT] = {
	[KN_RULE_ALLOW_HOST] = "allow-host",   [KN_RULE_BLOCK_HOST] = "block-host",
	[KN_RULE_ALLOW_CIDR] = "allow-cidr",   [KN_RULE_BLOCK_CIDR] = "block-cidr",
	[KN_RULE_BYPASS_HOST] = "bypass-host", [KN_RULE_BYPASS_CIDR] = "bypass-cidr",
};

const char *kn_default_name(enum kn_default d)
{
	return d == KN_DEFAULT_DENY ? "deny" : "allow";
}

int kn_default_from_name(const char *name, enum kn_default *out)
{
	if (strcmp(name, "allow") == 0)
		*out = KN_DEFAULT_ALLOW;
	else if (strcmp(name, "deny") == 0)
		*out = KN_DEFAULT_DENY;
	else
		return -1;
	return 0;
}

const char *kn_rule_kind_name(enum kn_rule_kind kind)
{
	if ((unsigned)kind >= KN_RULE_KIND_COUNT)
		return "unknown-rule";
	return kind_names[kind];
}

int kn_rule_kind_from_name(const char *name, enum kn_rule_kind *out)
{
	for (unsigned i = 0; i < KN_RULE_KIND_COUNT; i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum kn_rule_kind)i;
			return 0;
		}
	}
	return -1;
}

bool kn_rule_kind_is_cidr(enum kn_rule_kind kind)
{
	return kind == KN_RULE_ALLOW_CIDR || kind == KN_RULE_BLOCK_CIDR ||
	       kind == KN_RULE_BYPASS_CIDR;
}

void kn_policy_init_default(struct kn_policy *p, enum kn_default def)
{
	memset(p, 0, sizeof(*p));
	p->def = def;
}

void kn_policy_free(struct kn_policy *p)
{
	free(p->rules);
	p->rules = NULL;
	p->nrules = p->cap = 0;
}

static bool rule_equal(const struct kn_rule *a, const struct kn_rule *b)
{
	if (a->kind != b->kind)
		return false;
	if (kn_rule_kind_is_cidr(a->kind))
		return kn_cidr_equal(&a->cidr, &b->cidr);
	return kn_host_pattern_equal(&a->host, &b->host);
}

int kn_policy_add_rule(struct kn_policy *p, enum kn_rule_kind kind, const char *pattern,
		       const char **reason)
{
	const char *ignored;
	struct kn_rule r;

	if (!reason)
		reason = &ignored;
	memset(&r, 0, sizeof(r));
	if ((unsigned)kind >= KN_RULE_KIND_COUNT) {
		*reason = "unknown rule kind";
		return -1;
	}
	r.kind = kind;
	if (kn_rule_kind_is_cidr(kind)) {
		if (kn_cidr_parse(pattern, strlen(pattern), &r.cidr, reason) < 0)
			return -1;
	} else {
		if (kn_host_pattern_parse(pattern, strlen(pattern), &r.host, reason) < 0)
			return -1;
	}
	for (size_t i = 0; i < p->nrules; i++)
		if (rule_equal(&p->rules[i], &r))
			return 0;
	if (p->nrules >= KN_POLICY_MAX_RULES) {
		*reason = "too many rules (at most 4096)";
		return -1;
	}
	if (p->nrules == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		if (cap > KN_POLICY_MAX_RULES)
			cap = KN_POLICY_MAX_RULES;
		struct kn_rule *rules = realloc(p->rules, cap * sizeof(*rules));
		if (!rules) {
			*reason = "out of memory";
			return -1;
		}
		p->rules = rules;
		p->cap = cap;
	}
	p->rules[p->nrules++] = r;
	return 0;
}

void kn_rule_format(const struct kn_rule *r, char *buf, size_t bufsz)
{
	if (kn_rule_kind_is_cidr(r->kind))
		kn_cidr_format(&r->cidr, buf, bufsz);
	else
		kn_host_pattern_format(&r->host, buf, bufsz);
}

static void describe_rule(const struct kn_rule *r, char *buf, size_t bufsz)
{
	char text[KN_HOST_PATTERN_STRLEN];
	kn_rule_format(r, text, sizeof(text));
	size_t off = kn_str_append(buf, bufsz, 0, kn_rule_kind_name(r->kind));
	off = kn_str_append(buf, bufsz, off, " ");
	kn_str_append(buf, bufsz, off, text);
}

int kn_policy_check_host(const struct kn_policy *p, const char *host, size_t len, uint16_t port,
			 struct kn_decision *out)
{
	char canon[KN_HOST_BUFSZ];
	const char *reason;

	if (kn_host_canon(host ? host : "", host ? len : 0, canon, sizeof(canon), &reason) < 0) {
		out->verdict = KN_VERDICT_BLOCK;
		snprintf(out->rule, sizeof(out->rule), "invalid host: %s", reason);
		return -1;
	}

	const struct kn_rule *best = NULL;
	unsigned best_rank = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct kn_rule *r = &p->rules[i];
		if (r->kind != KN_RULE_ALLOW_HOST && r->kind != KN_RULE_BLOCK_HOST)
			continue;
		if (!kn_host_pattern_matches(&r->host, canon, port))
			continue;
		unsigned rank = kn_host_pattern_specificity(&r->host);
		if (!best || rank > best_rank ||
		    (rank == best_rank && r->kind == KN_RULE_BLOCK_HOST &&
		     best->kind == KN_RULE_ALLOW_HOST)) {
			best = r;
			best_rank = rank;
		}
	}
	if (best) {
		out->verdict = best->kind == KN_RULE_BLOCK_HOST ? KN_VERDICT_BLOCK : KN_VERDICT_ALLOW;
		describe_rule(best, out->rule, sizeof(out->rule));
	} else {
		out->verdict = p->def == KN_DEFAULT_DENY ? KN_VERDICT_BLOCK : KN_VERDICT_ALLOW;
		kn_str_append(out->rule, sizeof(out->rule),
			      kn_str_append(out->rule, sizeof(out->rule), 0, "default "),
			      kn_default_name(p->def));
	}
	return 0;
}

void kn_policy_check_addr(const struct kn_policy *p, const struct kn_addr *addr,
			  struct kn_decision *out)
{
	struct kn_addr a = *addr;
	kn_addr_normalize(&a);
	if (a.family != AF_INET && a.family != AF_INET6) {
		out->verdict = KN_VERDICT_BLOCK;
		snprintf(out->rule, sizeof(out->rule), "invalid address: unknown family");
		return;
	}

	/* The longest matching allow-cidr and the longest matching block range; the
	 * first one wins a tie, built-in ranges before user ones. */
	const struct kn_rule *allow = NULL, *block = NULL;
	int default_block = -1;
	unsigned block_prefix = 0;
	for (size_t i = 0; i < KN_ARRAY_SIZE(default_blocks); i++) {
		const struct kn_cidr *c = &default_blocks[i].cidr;
		if (kn_cidr_contains(c, &a) && (default_block < 0 || c->prefix > block_prefix)) {
			default_block = (int)i;
			block_prefix = c->prefix;
		}
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct kn_rule *r = &p->rules[i];
		if (r->kind == KN_RULE_ALLOW_CIDR && kn_cidr_contains(&r->cidr, &a)) {
			if (!allow || r->cidr.prefix > allow->cidr.prefix)
				allow = r;
		} else if (r->kind == KN_RULE_BLOCK_CIDR && kn_cidr_contains(&r->cidr, &a)) {
			if ((default_block < 0 && !block) || r->cidr.prefix > block_prefix) {
				block = r;
				default_block = -1;
				block_prefix = r->cidr.prefix;
			}
		}
	}

	if (!block && default_block < 0) {
		out->verdict = KN_VERDICT_ALLOW;
		snprintf(out->rule, sizeof(out->rule), "no block-cidr matches");
	} else if (allow) {
		out->verdict = KN_VERDICT_ALLOW;
		describe_rule(allow, out->rule, sizeof(out->rule));
	} else if (block) {
		out->verdict = KN_VERDICT_BLOCK;
		describe_rule(block, out->rule, sizeof(out->rule));
	} else {
		out->verdict = KN_VERDICT_BLOCK;
		snprintf(out->rule, sizeof(out->rule), "block-cidr %s (default)",
			 default_blocks[default_block].text);
	}
}

bool kn_policy_is_bypass(const struct kn_policy *p, const char *host, size_t len, uint16_t port,
			 const struct kn_addr *addr)
{
	char canon[KN_HOST_BUFSZ];
	bool host_ok = host && kn_host_canon(host, len, canon, sizeof(canon), NULL) == 0;

	if (host && !host_ok)
		return false;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct kn_rule *r = &p->rules[i];
		if (r->kind == KN_RULE_BYPASS_HOST && host_ok &&
		    kn_host_pattern_matches(&r->host, canon, port))
			return true;
		if (r->kind == KN_RULE_BYPASS_CIDR && addr && kn_cidr_contains(&r->cidr, addr))
			return true;
	}
	return false;
}
