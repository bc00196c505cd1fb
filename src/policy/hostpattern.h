/* hostpattern.h — the host patterns of allow-host, block-host and bypass-host.
 *
 * Contract: pure functions, no I/O.
 *
 * Grammar (HOST is anything kn_host_canon accepts; PORT is 1-65535 in decimal):
 *   "*"            every host                          "*:PORT"  every host, one port
 *   "*.SUFFIX"     every strict subdomain of SUFFIX, at any depth, not SUFFIX
 *                  itself; SUFFIX must be a domain name, not an IP literal
 *   "HOST"         that host only                      "HOST:PORT"
 *   "[IPV6]", "[IPV6]:PORT", or a bare IPv6 literal (no port: its colons are taken
 *                  as the address)
 * '*' anywhere else ("foo*.com", "a.*.com", "**.com") is refused. Patterns are
 * stored canonically, so "EXAMPLE.COM." and "example.com" are the same pattern and
 * "127.1" is "127.0.0.1"; kn_host_pattern_format writes that canonical spelling
 * (IPv6 always in brackets), and parsing it gives the same pattern back.
 *
 * Matching takes a host already through kn_host_canon and a port (0 = unknown,
 * which no port-limited pattern matches). "*.example.com" matches "a.example.com"
 * and "a.b.example.com", never "example.com", "evilexample.com" or
 * "example.com.evil.com".
 *
 * kn_host_pattern_specificity orders patterns for "most specific wins": any exact
 * host beats any wildcard, which beats the catch-all; among wildcards a longer
 * suffix wins; at otherwise equal rank a port-limited pattern beats one without.
 * Equal numbers mean equal specificity.
 */
#ifndef KENNEL_POLICY_HOSTPATTERN_H
#define KENNEL_POLICY_HOSTPATTERN_H

#include "policy/hostname.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "*." + the longest name + ":65535", or "[" + IPv6 + "]:65535", plus NUL. */
#define KN_HOST_PATTERN_STRLEN (2 + KN_HOST_NAME_MAX + 6 + 1)

enum kn_host_match {
	KN_MATCH_ANY,    /* "*" */
	KN_MATCH_SUFFIX, /* "*.suffix" */
	KN_MATCH_EXACT,  /* "host" */
};

struct kn_host_pattern {
	enum kn_host_match match;
	char host[KN_HOST_BUFSZ]; /* canonical host or suffix; "" for KN_MATCH_ANY */
	uint16_t port;            /* 0 = any port */
};

int kn_host_pattern_parse(const char *s, size_t len, struct kn_host_pattern *out,
			  const char **reason);
void kn_host_pattern_format(const struct kn_host_pattern *p, char *buf, size_t bufsz);
bool kn_host_pattern_matches(const struct kn_host_pattern *p, const char *canon_host,
			     uint16_t port);
unsigned kn_host_pattern_specificity(const struct kn_host_pattern *p);
bool kn_host_pattern_equal(const struct kn_host_pattern *a, const struct kn_host_pattern *b);

#endif
