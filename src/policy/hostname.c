#include "policy/hostname.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One inet_aton part: decimal, 0-prefixed octal or 0x-prefixed hex, at least one
 * digit after the prefix. Values past 32 bits are refused rather than wrapped. */
static bool parse_ipv4_part(const char *s, size_t len, uint64_t *value)
{
	unsigned base = 10;
	size_t i = 0;
	uint64_t v = 0;

	if (len == 0)
		return false;
	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
		if (len == 2)
			return false;
	} else if (s[0] == '0' && len > 1) {
		base = 8;
		i = 1;
	}
	for (; i < len; i++) {
		int d = hex_value(s[i]);
		if (d < 0 || (unsigned)d >= base)
			return false;
		v = v * base + (unsigned)d;
		if (v > 0xffffffffu)
			return false;
	}
	*value = v;
	return true;
}

bool kn_ipv4_parse(const char *s, size_t len, uint32_t *addr)
{
	uint64_t parts[4];
	size_t nparts = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (nparts == 4)
			return false;
		if (!parse_ipv4_part(s + start, i - start, &parts[nparts]))
			return false;
		nparts++;
		start = i + 1;
	}
	if (nparts == 0)
		return false;

	/* Every part but the last is one byte; the last fills what is left. */
	uint32_t v = 0;
	for (size_t i = 0; i + 1 < nparts; i++) {
		if (parts[i] > 0xff)
			return false;
		v |= (uint32_t)parts[i] << (24 - 8 * i);
	}
	unsigned last_bits = 32 - 8 * (unsigned)(nparts - 1);
	uint64_t last_max = last_bits == 32 ? 0xffffffffu : (((uint64_t)1 << last_bits) - 1);
	if (parts[nparts - 1] > last_max)
		return false;
	v |= (uint32_t)parts[nparts - 1];
	*addr = v;
	return true;
}

void kn_ipv4_format(uint32_t addr, char *buf, size_t bufsz)
{
	size_t off = 0;
	if (bufsz)
		buf[0] = '\0';
	for (int shift = 24; shift >= 0; shift -= 8) {
		off = kn_str_append_uint(buf, bufsz, off, (addr >> shift) & 0xff);
		if (shift)
			off = kn_str_append(buf, bufsz, off, ".");
	}
}

/* The WHATWG URL parser's "ends in a number": all decimal digits, or 0x/0X and hex
 * digits (possibly none). Such a last label means the name is meant as an address. */
static bool label_is_number(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0)
		return false;
	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (i = 2; i < len; i++)
			if (hex_value(s[i]) < 0)
				return false;
		return true;
	}
	for (; i < len; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

static int put(char *out, size_t outsz, const char *s, const char **reason)
{
	size_t n = strlen(s);
	if (n + 1 > outsz) {
		*reason = "output buffer too small for the canonical host";
		return -1;
	}
	memcpy(out, s, n + 1);
	return 0;
}

static int canon_ipv6(const char *s, size_t len, char *out, size_t outsz, const char **reason)
{
	char text[INET6_ADDRSTRLEN];
	unsigned char bytes[16];
	static const unsigned char mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (len == 0 || len >= sizeof(text)) {
		*reason = "invalid IPv6 address";
		return -1;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	if (inet_pton(AF_INET6, text, bytes) != 1) {
		*reason = "invalid IPv6 address";
		return -1;
	}
	if (memcmp(bytes, mapped_prefix, sizeof(mapped_prefix)) == 0) {
		uint32_t v4 = (uint32_t)bytes[12] << 24 | (uint32_t)bytes[13] << 16 |
			      (uint32_t)bytes[14] << 8 | bytes[15];
		kn_ipv4_format(v4, text, sizeof(text));
		return put(out, outsz, text, reason);
	}
	if (!inet_ntop(AF_INET6, bytes, text, sizeof(text))) {
		*reason = "invalid IPv6 address";
		return -1;
	}
	return put(out, outsz, text, reason);
}

static int canon_name(const char *s, size_t len, char *out, size_t outsz, const char **reason)
{
	char name[KN_HOST_BUFSZ];
	size_t label_start = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0) {
		*reason = "empty host name";
		return -1;
	}
	if (len > KN_HOST_NAME_MAX) {
		*reason = "host name longer than 253 bytes";
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			size_t label_len = i - label_start;
			if (label_len == 0) {
				*reason = "empty label in host name";
				return -1;
			}
			if (label_len > KN_HOST_LABEL_MAX) {
				*reason = "label longer than 63 bytes in host name";
				return -1;
			}
			if (i < len)
				name[i] = '.';
			label_start = i + 1;
			continue;
		}
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_')) {
			*reason = "character not allowed in host name (only letters, digits, '-', '_' and '.')";
			return -1;
		}
		name[i] = c;
	}
	name[len] = '\0';

	size_t last = len;
	while (last > 0 && name[last - 1] != '.')
		last--;
	if (label_is_number(name + last, len - last)) {
		uint32_t v4;
		if (!kn_ipv4_parse(name, len, &v4)) {
			*reason = "host name ends in a number but is not a valid IPv4 address";
			return -1;
		}
		kn_ipv4_format(v4, name, sizeof(name));
	}
	return put(out, outsz, name, reason);
}

const char *kn_host_forbidden_byte(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '\0':
			return "NUL byte in host name";
		case '\r':
		case '\n':
			return "CR or LF in host name";
		case '%':
			return "'%' in host name (zone ids and percent-encoding are refused)";
		case ' ':
		case '\t':
			return "space in host name";
		}
	}
	return NULL;
}

int kn_host_canon(const char *in, size_t len, char *out, size_t outsz, const char **reason)
{
	const char *ignored;

	if (!reason)
		reason = &ignored;
	if (len == 0) {
		*reason = "empty host name";
		return -1;
	}
	*reason = kn_host_forbidden_byte(in, len);
	if (*reason)
		return -1;
	bool has_colon = memchr(in, ':', len) != NULL;
	bool open = in[0] == '[', close = in[len - 1] == ']';
	if (open != close || (open && len < 2) ||
	    memchr(in + open, '[', len - open) || memchr(in, ']', len - close)) {
		*reason = "unbalanced '[' or ']' in host name";
		return -1;
	}
	if (open)
		return canon_ipv6(in + 1, len - 2, out, outsz, reason);
	if (has_colon)
		return canon_ipv6(in, len, out, outsz, reason);
	return canon_name(in, len, out, outsz, reason);
}

enum kn_host_kind kn_host_kind(const char *canon)
{
	if (strchr(canon, ':'))
		return KN_HOST_IPV6;
	const char *last = strrchr(canon, '.');
	last = last ? last + 1 : canon;
	/* A canonical name never ends in a number, so a numeric last label is IPv4. */
	if (*last && label_is_number(last, strlen(last)))
		return KN_HOST_IPV4;
	return KN_HOST_NAME;
}
