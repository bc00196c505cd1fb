/* cidr.h — IPv4/IPv6 addresses and prefixes, parsed, printed and compared.
 *
 * Contract: pure functions, no I/O.
 *
 * A `struct kn_addr` is always kept normalised: an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is stored as the IPv4 address a.b.c.d, so every check sees one
 * form. Build addresses with kn_addr_parse, kn_addr_from_sockaddr or kn_addr_v4,
 * which all normalise; functions taking an address normalise a copy anyway.
 *
 * A `struct kn_cidr` is a base address and a prefix length; bits past the prefix
 * are cleared at parse time ("10.1.2.3/8" is 10.0.0.0/8). An IPv6 prefix lying
 * inside ::ffff:0:0/96 is stored as the IPv4 prefix it covers
 * ("::ffff:10.0.0.0/104" is 10.0.0.0/8). An IPv6 prefix shorter than /96 that
 * covers the mapped range (such as ::/0) contains IPv4 addresses too, through their
 * mapped form: kn_cidr_contains answers exactly what the range covers.
 *
 * kn_cidr_parse accepts "ADDR/LEN" or a bare "ADDR" (= /32 or /128). IPv4 must be
 * a plain dotted quad of decimal numbers 0-255 without leading zeros: the short and
 * octal/hex spellings are refused because "10/8" would otherwise mean 0.0.0.10/8.
 * IPv6 is what inet_pton accepts, without brackets or zone id. LEN is decimal
 * without leading zeros, at most 32 or 128. On failure it returns -1 and points
 * `reason` at a static sentence.
 */
#ifndef KENNEL_POLICY_CIDR_H
#define KENNEL_POLICY_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* inet_ntop's longest IPv6 text (45) + NUL; a CIDR adds "/128". */
#define KN_ADDR_STRLEN 46
#define KN_CIDR_STRLEN (KN_ADDR_STRLEN + 4)

struct kn_addr {
	int family;         /* AF_INET or AF_INET6 */
	uint8_t bytes[16];  /* network order; IPv4 uses bytes[0..3] */
};

struct kn_cidr {
	struct kn_addr base; /* host bits cleared */
	unsigned prefix;     /* 0..32 for AF_INET, 0..128 for AF_INET6 */
};

/* `v4` in host byte order. */
void kn_addr_v4(struct kn_addr *out, uint32_t v4);
/* Rewrite an IPv4-mapped IPv6 address as IPv4; anything else is left alone. */
void kn_addr_normalize(struct kn_addr *a);
/* A strict literal: dotted quad (as in kn_cidr_parse) or IPv6; the IP forms that
 * kn_host_canon produces. */
int kn_addr_parse(const char *s, size_t len, struct kn_addr *out, const char **reason);
/* From a sockaddr_in / sockaddr_in6 (as getaddrinfo or accept give them). */
int kn_addr_from_sockaddr(const struct sockaddr *sa, socklen_t salen, struct kn_addr *out,
			  const char **reason);
/* Canonical text (dotted quad or inet_ntop form) into buf (KN_ADDR_STRLEN bytes). */
void kn_addr_format(const struct kn_addr *a, char *buf, size_t bufsz);
bool kn_addr_equal(const struct kn_addr *a, const struct kn_addr *b);

int kn_cidr_parse(const char *s, size_t len, struct kn_cidr *out, const char **reason);
/* "10.0.0.0/8", "fc00::/7": always with the prefix length. */
void kn_cidr_format(const struct kn_cidr *c, char *buf, size_t bufsz);
bool kn_cidr_contains(const struct kn_cidr *c, const struct kn_addr *a);
bool kn_cidr_equal(const struct kn_cidr *a, const struct kn_cidr *b);

#endif
