#include "policy/cidr.h"

#include "policy/hostname.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static const uint8_t mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void kn_addr_v4(struct kn_addr *out, uint32_t v4)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	out->bytes[0] = (uint8_t)(v4 >> 24);
	out->bytes[1] = (uint8_t)(v4 >> 16);
	out->bytes[2] = (uint8_t)(v4 >> 8);
	out->bytes[3] = (uint8_t)v4;
}

void kn_addr_normalize(struct kn_addr *a)
{
	if (a->family != AF_INET6 || memcmp(a->bytes, mapped_prefix, sizeof(mapped_prefix)) != 0)
		return;
	uint8_t v4[4];
	memcpy(v4, a->bytes + 12, 4);
	memset(a->bytes, 0, sizeof(a->bytes));
	memcpy(a->bytes, v4, 4);
	a->family = AF_INET;
}

static void mapped_form(const struct kn_addr *v4, uint8_t out[16])
{
	memcpy(out, mapped_prefix, sizeof(mapped_prefix));
	memcpy(out + 12, v4->bytes, 4);
}

/* Four decimal numbers 0-255, no leading zeros, nothing else. */
static bool parse_dotted_quad(const char *s, size_t len, uint8_t out[4])
{
	size_t part = 0, i = 0;
	while (part < 4) {
		size_t start = i;
		unsigned v = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		size_t digits = i - start;
		if (digits == 0 || v > 255 || (digits > 1 && s[start] == '0'))
			return false;
		out[part++] = (uint8_t)v;
		if (part < 4) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

int kn_addr_parse(const char *s, size_t len, struct kn_addr *out, const char **reason)
{
	const char *ignored;
	char text[INET6_ADDRSTRLEN];

	if (!reason)
		reason = &ignored;
	memset(out, 0, sizeof(*out));
	if (len == 0) {
		*reason = "empty address";
		return -1;
	}
	if (!memchr(s, ':', len)) {
		if (!parse_dotted_quad(s, len, out->bytes)) {
			*reason = "IPv4 address must be a dotted quad of decimal numbers 0-255 "
				  "without leading zeros";
			return -1;
		}
		out->family = AF_INET;
		return 0;
	}
	if (len >= sizeof(text) || memchr(s, '\0', len)) {
		*reason = "invalid IPv6 address";
		return -1;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET6, text, out->bytes) != 1) {
		*reason = "invalid IPv6 address";
		return -1;
	}
	out->family = AF_INET6;
	kn_addr_normalize(out);
	return 0;
}

int kn_addr_from_sockaddr(const struct sockaddr *sa, socklen_t salen, struct kn_addr *out,
			  const char **reason)
{
	const char *ignored;
	if (!reason)
		reason = &ignored;
	memset(out, 0, sizeof(*out));
	if (sa && sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		kn_addr_v4(out, ntohl(sin->sin_addr.s_addr));
		return 0;
	}
	if (sa && sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		out->family = AF_INET6;
		memcpy(out->bytes, &sin6->sin6_addr, 16);
		kn_addr_normalize(out);
		return 0;
	}
	*reason = "not an IPv4 or IPv6 socket address";
	return -1;
}

void kn_addr_format(const struct kn_addr *a, char *buf, size_t bufsz)
{
	struct kn_addr n = *a;
	kn_addr_normalize(&n);
	if (n.family == AF_INET) {
		kn_ipv4_format((uint32_t)n.bytes[0] << 24 | (uint32_t)n.bytes[1] << 16 |
				       (uint32_t)n.bytes[2] << 8 | n.bytes[3],
			       buf, bufsz);
		return;
	}
	char text[INET6_ADDRSTRLEN];
	if (n.family != AF_INET6 || !inet_ntop(AF_INET6, n.bytes, text, sizeof(text)))
		snprintf(text, sizeof(text), "(invalid address)");
	kn_str_append(buf, bufsz, 0, text);
}

bool kn_addr_equal(const struct kn_addr *a, const struct kn_addr *b)
{
	struct kn_addr x = *a, y = *b;
	kn_addr_normalize(&x);
	kn_addr_normalize(&y);
	if (x.family != y.family)
		return false;
	return memcmp(x.bytes, y.bytes, x.family == AF_INET ? 4 : 16) == 0;
}

static unsigned family_bits(int family) { return family == AF_INET ? 32 : 128; }

static void clear_host_bits(uint8_t *bytes, unsigned nbytes, unsigned prefix)
{
	for (unsigned i = 0; i < nbytes; i++) {
		unsigned bit = i * 8;
		if (bit >= prefix)
			bytes[i] = 0;
		else if (prefix - bit < 8)
			bytes[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int kn_cidr_parse(const char *s, size_t len, struct kn_cidr *out, const char **reason)
{
	const char *ignored;
	struct kn_cidr c;

	if (!reason)
		reason = &ignored;
	const char *slash = memchr(s, '/', len);
	size_t addr_len = slash ? (size_t)(slash - s) : len;
	if (kn_addr_parse(s, addr_len, &c.base, reason) < 0)
		return -1;
	/* Parse the address as written: a mapped IPv6 prefix counts its 96 leading bits. */
	bool written_v6 = memchr(s, ':', addr_len) != NULL;
	unsigned max = written_v6 ? 128 : 32;
	unsigned prefix = max;
	if (slash) {
		const char *p = slash + 1;
		size_t plen = len - addr_len - 1;
		if (plen == 0 || plen > 3 || (plen > 1 && p[0] == '0')) {
			*reason = "prefix length must be a decimal number without leading zeros";
			return -1;
		}
		prefix = 0;
		for (size_t i = 0; i < plen; i++) {
			if (p[i] < '0' || p[i] > '9') {
				*reason = "prefix length must be a decimal number without leading zeros";
				return -1;
			}
			prefix = prefix * 10 + (unsigned)(p[i] - '0');
		}
		if (prefix > max) {
			*reason = written_v6 ? "IPv6 prefix length over 128" : "IPv4 prefix length over 32";
			return -1;
		}
	}
	if (written_v6 && c.base.family == AF_INET) {
		/* kn_addr_parse turned a mapped address into IPv4. Keep it IPv4 when the
		 * whole range is mapped space, else go back to the IPv6 range. */
		if (prefix >= 96) {
			prefix -= 96;
		} else {
			struct kn_addr v6 = { .family = AF_INET6 };
			mapped_form(&c.base, v6.bytes);
			c.base = v6;
		}
	}
	c.prefix = prefix;
	clear_host_bits(c.base.bytes, c.base.family == AF_INET ? 4 : 16, prefix);
	*out = c;
	return 0;
}

void kn_cidr_format(const struct kn_cidr *c, char *buf, size_t bufsz)
{
	char text[KN_ADDR_STRLEN];
	/* Format the base as stored, without normalising: a /80 IPv6 range over mapped
	 * space must stay IPv6. */
	if (c->base.family == AF_INET6) {
		if (!inet_ntop(AF_INET6, c->base.bytes, text, sizeof(text)))
			snprintf(text, sizeof(text), "(invalid address)");
	} else {
		kn_addr_format(&c->base, text, sizeof(text));
	}
	size_t off = kn_str_append(buf, bufsz, 0, text);
	off = kn_str_append(buf, bufsz, off, "/");
	kn_str_append_uint(buf, bufsz, off, c->prefix);
}

bool kn_cidr_contains(const struct kn_cidr *c, const struct kn_addr *a)
{
	struct kn_addr n = *a;
	kn_addr_normalize(&n);
	if (c->prefix > family_bits(c->base.family))
		return false;
	if (c->base.family == n.family && (n.family == AF_INET || n.family == AF_INET6))
		return prefix_equal(c->base.bytes, n.bytes, c->prefix);
	if (c->base.family == AF_INET6 && n.family == AF_INET) {
		uint8_t mapped[16];
		mapped_form(&n, mapped);
		return prefix_equal(c->base.bytes, mapped, c->prefix);
	}
	return false;
}

bool kn_cidr_equal(const struct kn_cidr *a, const struct kn_cidr *b)
{
	return a->base.family == b->base.family && a->prefix == b->prefix &&
	       memcmp(a->base.bytes, b->base.bytes, 16) == 0;
}
