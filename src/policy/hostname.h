/* hostname.h — host names and IP literals in the one spelling the policy compares.
 *
 * Contract: pure functions, no I/O (no DNS, no sockets, no files, no locale).
 *
 * kn_host_canon(in, len, out, outsz, &reason) turns the `len` bytes at `in` (not
 * necessarily NUL-terminated, may contain NUL) into the canonical host text in `out`
 * and returns 0, or returns -1 and points `reason` at a static sentence saying why the
 * name is refused (`out` is then unspecified; `reason` may be NULL). In every
 * module here a `reason` out-parameter may be NULL and, when set, points at a
 * static string. Canonicalisation is idempotent:
 * canonicalising a canonical name gives it back unchanged.
 *
 *   refused first  NUL, CR, LF, '%' (zone ids, percent-encoding), space or tab,
 *                  an empty name, unbalanced '[' ']'.
 *   "[...]"        must hold an IPv6 literal; so must any name containing ':'.
 *                  IPv6 is written in inet_ntop form ("[::1]" -> "::1",
 *                  "0:0::0001" -> "::1"); an IPv4-mapped address
 *                  ("::ffff:127.0.0.1", "::ffff:7f00:1") becomes the IPv4 form.
 *   names          one trailing dot is dropped, letters are lower-cased; then the
 *                  name must be at most KN_HOST_NAME_MAX bytes of labels of 1 to
 *                  KN_HOST_LABEL_MAX bytes, each made of [a-z0-9_-] (IDNs arrive
 *                  as punycode; anything else has no business in a host name and
 *                  only makes room for confusion between parsers).
 *   IPv4           when the last label is a number (all decimal digits, or "0x"
 *                  followed by hex digits: the WHATWG URL rule), the whole name must
 *                  be an IPv4 address in one of inet_aton's spellings ("127.1",
 *                  "2130706433", "0x7f.0.0.1", "0177.0.0.1", "0x7f000001") and is
 *                  written as a dotted quad; otherwise it is refused. So no string
 *                  that a resolver would read as an address survives as a name.
 *
 * The numeric parsing is written here rather than borrowed from inet_aton or
 * getaddrinfo, so what the policy sees never depends on a libc quirk; inet_pton
 * and inet_ntop (pure) are used for IPv6 only.
 */
#ifndef KENNEL_POLICY_HOSTNAME_H
#define KENNEL_POLICY_HOSTNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 1035 limits: 255 bytes on the wire is 253 characters of text without the
 * trailing dot; a label is at most 63 bytes. */
#define KN_HOST_NAME_MAX 253
#define KN_HOST_LABEL_MAX 63
/* Room for any canonical host plus its NUL (an IPv6 literal needs at most 46). */
#define KN_HOST_BUFSZ (KN_HOST_NAME_MAX + 1)

enum kn_host_kind {
	KN_HOST_NAME, /* a DNS name */
	KN_HOST_IPV4, /* a dotted quad */
	KN_HOST_IPV6, /* inet_ntop form, no brackets */
};

int kn_host_canon(const char *in, size_t len, char *out, size_t outsz, const char **reason);

/* The refusal reason for the first NUL, CR, LF, '%', space or tab in the `len`
 * bytes at `s`, or NULL when there is none: the bytes refused before anything else
 * (host patterns check their whole text with it before splitting off a port). */
const char *kn_host_forbidden_byte(const char *s, size_t len);

/* What a canonical host (output of kn_host_canon) is. */
enum kn_host_kind kn_host_kind(const char *canon);

/* Parse an IPv4 address in any inet_aton spelling: 1 to 4 dot-separated parts,
 * each decimal, octal (leading 0) or hex (leading 0x), the last part filling the
 * remaining bytes. Nothing may follow (inet_aton's trailing-whitespace leniency is
 * not copied). Returns true and the address in host byte order, or false. */
bool kn_ipv4_parse(const char *s, size_t len, uint32_t *addr);

/* Write `addr` (host byte order) as a dotted quad; `buf` needs 16 bytes. */
void kn_ipv4_format(uint32_t addr, char *buf, size_t bufsz);

#endif
