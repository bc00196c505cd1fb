#include "policy/hostpattern.h"

#include <stdio.h>
#include <string.h>

static int parse_port(const char *s, size_t len, uint16_t *port, const char **reason)
{
	unsigned v = 0;
	if (len == 0 || len > 5 || s[0] == '0')
		goto bad;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		goto bad;
	*port = (uint16_t)v;
	return 0;
bad:
	*reason = "port must be a decimal number from 1 to 65535 without leading zeros";
	return -1;
}

int kn_host_pattern_parse(const char *s, size_t len, struct kn_host_pattern *out,
			  const char **reason)
{
	const char *ignored;
	struct kn_host_pattern p = { .match = KN_MATCH_EXACT };
	size_t host_len = len;

	if (!reason)
		reason = &ignored;
	if (len == 0) {
		*reason = "empty host pattern";
		return -1;
	}
	*reason = kn_host_forbidden_byte(s, len);
	if (*reason)
		return -1;

	/* Split off ":PORT". Brackets delimit an IPv6 literal; without them a single
	 * colon separates the port and several colons are an IPv6 literal. */
	const char *port_text = NULL;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close) {
			host_len = (size_t)(close - s) + 1;
			if (host_len < len) {
				if (s[host_len] != ':') {
					*reason = "only ':PORT' may follow ']' in a host pattern";
					return -1;
				}
				port_text = s + host_len + 1;
			}
		}
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) {
			host_len = (size_t)(colon - s);
			port_text = colon + 1;
		}
	}
	if (port_text && parse_port(port_text, len - host_len - 1, &p.port, reason) < 0)
		return -1;

	if (host_len == 1 && s[0] == '*') {
		p.match = KN_MATCH_ANY;
	} else if (host_len >= 2 && s[0] == '*' && s[1] == '.') {
		p.match = KN_MATCH_SUFFIX;
		if (memchr(s + 2, '*', host_len - 2)) {
			*reason = "'*' is only allowed as the whole pattern or as a leading '*.'";
			return -1;
		}
		if (kn_host_canon(s + 2, host_len - 2, p.host, sizeof(p.host), reason) < 0)
			return -1;
		if (kn_host_kind(p.host) != KN_HOST_NAME) {
			*reason = "a '*.' wildcard needs a domain name, not an IP address";
			return -1;
		}
	} else {
		if (memchr(s, '*', host_len)) {
			*reason = "'*' is only allowed as the whole pattern or as a leading '*.'";
			return -1;
		}
		if (kn_host_canon(s, host_len, p.host, sizeof(p.host), reason) < 0)
			return -1;
	}
	*out = p;
	return 0;
}

void kn_host_pattern_format(const struct kn_host_pattern *p, char *buf, size_t bufsz)
{
	char port[8] = "";
	if (p->port)
		snprintf(port, sizeof(port), ":%u", (unsigned)p->port);
	switch (p->match) {
	case KN_MATCH_ANY:
		snprintf(buf, bufsz, "*%s", port);
		break;
	case KN_MATCH_SUFFIX:
		snprintf(buf, bufsz, "*.%s%s", p->host, port);
		break;
	case KN_MATCH_EXACT:
		if (kn_host_kind(p->host) == KN_HOST_IPV6)
			snprintf(buf, bufsz, "[%s]%s", p->host, port);
		else
			snprintf(buf, bufsz, "%s%s", p->host, port);
		break;
	}
}

bool kn_host_pattern_matches(const struct kn_host_pattern *p, const char *canon_host,
			     uint16_t port)
{
	if (p->port && p->port != port)
		return false;
	switch (p->match) {
	case KN_MATCH_ANY:
		return true;
	case KN_MATCH_EXACT:
		return strcmp(p->host, canon_host) == 0;
	case KN_MATCH_SUFFIX: {
		/* The host must be longer than ".suffix" and end with it, so the dot is a
		 * label boundary and at least one label stands before it. */
		size_t hl = strlen(canon_host), sl = strlen(p->host);
		return hl > sl + 1 && canon_host[hl - sl - 1] == '.' &&
		       memcmp(canon_host + hl - sl, p->host, sl) == 0;
	}
	}
	return false;
}

/* Ranks: catch-all 0-1, wildcards 2 + 2*suffix length (+1 with a port), exact hosts
 * above every wildcard. */
unsigned kn_host_pattern_specificity(const struct kn_host_pattern *p)
{
	unsigned with_port = p->port ? 1 : 0;
	switch (p->match) {
	case KN_MATCH_ANY:
		return with_port;
	case KN_MATCH_SUFFIX:
		return 2 + 2 * (unsigned)strlen(p->host) + with_port;
	case KN_MATCH_EXACT:
		return 2 + 2 * (KN_HOST_NAME_MAX + 1) + with_port;
	}
	return 0;
}

bool kn_host_pattern_equal(const struct kn_host_pattern *a, const struct kn_host_pattern *b)
{
	return a->match == b->match && a->port == b->port && strcmp(a->host, b->host) == 0;
}
