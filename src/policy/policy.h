/* policy.h — the network policy: which hosts, ports and addresses a sandbox may
 * reach, and which connections are tunnelled without TLS interception.
 *
 * Contract: pure, no I/O. The proxy asks two questions of every connection and
 * lets it through only when both answers are "allow":
 *
 * 1. kn_policy_check_host(host, port): the host as the client named it.
 *    The host goes through kn_host_canon first; a refused name is blocked with
 *    rule "invalid host: <reason>" and the call returns -1. Then among the
 *    allow-host and block-host patterns that match, the most specific decides
 *    (see hostpattern.h: exact host+port, exact host, longest wildcard with a port
 *    beating none at equal suffix, "*:PORT", "*"); at equal specificity a block
 *    wins. With no matching pattern the default decides ("default allow" /
 *    "default deny"). An IP-literal host is matched as a host too (a pattern
 *    "10.0.0.5" matches it; "*.x" never does).
 *
 * 2. kn_policy_check_addr(addr): every address the proxy is about to dial, after
 *    its own DNS resolution (or the literal). Exact rule: an address is blocked iff
 *    it lies inside some block range (the built-in ones below, or a block-cidr) and
 *    inside no allow-cidr range. So allow-cidr carves a hole whatever the relative
 *    prefix lengths: "allow-cidr 10.1.0.0/16" opens that part of 10/8, and a later
 *    "block-cidr 10.1.2.0/24" does NOT re-close a part of it. The default policy
 *    and the host rules play no part here, and an allow-cidr never allows an
 *    address that no range blocks (it is not a host rule). The deciding rule is the
 *    longest matching allow-cidr when one carved the address, else the longest
 *    matching block range, else "no block-cidr matches".
 *    Built-in block ranges ("(default)" in the rule text): 0.0.0.0/8, 10.0.0.0/8,
 *    100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16,
 *    ::/128, ::1/128, fc00::/7, fe80::/10. An IPv4-mapped IPv6 address is checked
 *    as its IPv4 address, so the mapped forms of the IPv4 ranges are blocked too.
 *
 * Bypass (kn_policy_is_bypass) is a separate question: true when a bypass-host
 * pattern matches (host, port) or a bypass-cidr contains the address; the proxy
 * then tunnels the bytes without TLS interception. It allows nothing by itself:
 * both checks above still apply.
 *
 * Rules are added one at a time; kn_policy_add_rule refuses an invalid pattern with
 * a static reason and leaves the policy unchanged, and adding a rule that is already
 * there (same kind, same canonical pattern) changes nothing and succeeds. Rules
 * keep their insertion order (used by policy_json.h). A policy is a plain value:
 * it holds one heap array, released by kn_policy_free.
 */
#ifndef KENNEL_POLICY_POLICY_H
#define KENNEL_POLICY_POLICY_H

#include "policy/cidr.h"
#include "policy/hostpattern.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every connection scans the rules linearly (two strcmp-sized comparisons each),
 * and a policy comes from an API request of up to 1 MiB: 4096 rules keep both a
 * decision (well under a millisecond) and the memory one policy holds (~1 MiB)
 * small, far above any hand-written policy. */
#define KN_POLICY_MAX_RULES 4096

/* "invalid host: " or a kind name, a pattern (KN_HOST_PATTERN_STRLEN), " (default)"
 * and the longest reason sentence fit with room to spare. */
#define KN_DECISION_RULE_MAX 384

enum kn_default {
	KN_DEFAULT_ALLOW,
	KN_DEFAULT_DENY,
};

enum kn_rule_kind {
	KN_RULE_ALLOW_HOST,
	KN_RULE_BLOCK_HOST,
	KN_RULE_ALLOW_CIDR,
	KN_RULE_BLOCK_CIDR,
	KN_RULE_BYPASS_HOST,
	KN_RULE_BYPASS_CIDR,
};
#define KN_RULE_KIND_COUNT 6

struct kn_rule {
	enum kn_rule_kind kind;
	union {
		struct kn_host_pattern host; /* *_HOST kinds */
		struct kn_cidr cidr;         /* *_CIDR kinds */
	};
};

struct kn_policy {
	enum kn_default def;
	struct kn_rule *rules; /* insertion order; NULL when empty */
	size_t nrules;
	size_t cap;
};

enum kn_verdict {
	KN_VERDICT_ALLOW,
	KN_VERDICT_BLOCK,
};

struct kn_decision {
	enum kn_verdict verdict;
	/* Which rule decided, for the 403 body and the decision log:
	 * "block-host *.evil.com", "allow-host example.com:443", "default deny",
	 * "block-cidr 169.254.0.0/16 (default)", "allow-cidr 127.0.0.0/8",
	 * "no block-cidr matches", "invalid host: NUL byte in host name". */
	char rule[KN_DECISION_RULE_MAX];
};

/* "allow"/"deny" and back; from_name returns -1 for anything else. */
const char *kn_default_name(enum kn_default d);
int kn_default_from_name(const char *name, enum kn_default *out);
/* "allow-host", "block-cidr", ... and back. */
const char *kn_rule_kind_name(enum kn_rule_kind kind);
int kn_rule_kind_from_name(const char *name, enum kn_rule_kind *out);
bool kn_rule_kind_is_cidr(enum kn_rule_kind kind);

/* An empty policy with default `def`; holds nothing to free yet. */
void kn_policy_init_default(struct kn_policy *p, enum kn_default def);
void kn_policy_free(struct kn_policy *p);

/* `pattern` is NUL-terminated; a host pattern (hostpattern.h) for *_HOST kinds, a
 * CIDR (cidr.h) for *_CIDR kinds. 0, or -1 with `reason` set and `p` unchanged. */
int kn_policy_add_rule(struct kn_policy *p, enum kn_rule_kind kind, const char *pattern,
		       const char **reason);
/* The rule in canonical text (what kn_policy_add_rule would take back). */
void kn_rule_format(const struct kn_rule *r, char *buf, size_t bufsz);

/* `host` is `len` raw bytes as the client sent them; `port` 0 if unknown. */
int kn_policy_check_host(const struct kn_policy *p, const char *host, size_t len, uint16_t port,
			 struct kn_decision *out);
void kn_policy_check_addr(const struct kn_policy *p, const struct kn_addr *addr,
			  struct kn_decision *out);
/* `host` may be NULL (then only `addr` is looked at) and `addr` may be NULL. An
 * invalid host is never a bypass. */
bool kn_policy_is_bypass(const struct kn_policy *p, const char *host, size_t len, uint16_t port,
			 const struct kn_addr *addr);

#endif
