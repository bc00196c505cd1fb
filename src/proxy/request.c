/* request.c — request targets and Host agreement (contract: request.h). */
#include "proxy/request.h"

#include <string.h>

#include "policy/hostname.h"

static int fail(const char **reason, const char *why)
{
	if (reason)
		*reason = why;
	return -1;
}

static int parse_port(const char *p, size_t n, uint16_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

int kp_split_authority(const char *a, size_t len, uint16_t default_port, const char **host,
		       size_t *host_len, uint16_t *port)
{
	size_t end; /* index just past the host part */

	if (len == 0)
		return -1;
	if (a[0] == '[') {
		const char *close = memchr(a, ']', len);
		if (!close || close == a + 1)
			return -1;
		*host = a + 1;
		*host_len = (size_t)(close - a - 1);
		end = (size_t)(close - a) + 1;
	} else {
		const char *colon = memchr(a, ':', len);
		end = colon ? (size_t)(colon - a) : len;
		if (end == 0)
			return -1;
		*host = a;
		*host_len = end;
	}
	if (end == len) {
		*port = default_port;
		return 0;
	}
	if (a[end] != ':')
		return -1;
	return parse_port(a + end + 1, len - end - 1, port);
}

int kp_target_connect(const char *target, size_t len, struct kp_target *out, const char **reason)
{
	memset(out, 0, sizeof(*out));
	if (kp_split_authority(target, len, 0, &out->host, &out->host_len, &out->port) < 0 ||
	    out->port == 0)
		return fail(reason, "CONNECT needs an authority-form target (host:port)");
	out->authority = target;
	out->authority_len = len;
	return 0;
}

/* The host syntax http.h accepts in Host and CONNECT targets: reg-name /
 * IPv4 bytes (unreserved and sub-delims, no '%'), or the inside of an IPv6
 * literal. So the Host we send upstream is always one http.h would accept. */
static int valid_host(const char *h, size_t n, int bracketed)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
			 c == ':' || c == '.';
		if (!bracketed)
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     (c != 0 && strchr("-._~!$&'()*+,;=", c) != NULL);
		if (!ok)
			return 0;
	}
	return 1;
}

static int starts_nocase(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	if (len < n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		if (c != lit[i])
			return 0;
	}
	return 1;
}

int kp_target_absolute(const char *target, size_t len, struct kp_target *out,
		       const char **reason)
{
	memset(out, 0, sizeof(*out));
	if (len > 0 && target[0] == '/')
		return fail(reason, "a proxy request needs an absolute-form target (http://host/...)");
	if (!starts_nocase(target, len, "http://"))
		return fail(reason, "only http:// can be forwarded (use CONNECT for https)");
	if (memchr(target, '#', len))
		return fail(reason, "fragment in request-target");

	const char *a = target + 7;
	size_t rest = len - 7, alen = 0;
	while (alen < rest && a[alen] != '/' && a[alen] != '?')
		alen++;
	if (memchr(a, '@', alen))
		return fail(reason, "userinfo in request-target");
	if (kp_split_authority(a, alen, 80, &out->host, &out->host_len, &out->port) < 0 ||
	    !valid_host(out->host, out->host_len, a[0] == '['))
		return fail(reason, "malformed host or port in request-target");
	out->authority = a;
	out->authority_len = alen;
	out->path = a + alen;
	out->path_len = rest - alen;
	return 0;
}

int kp_host_agrees(const struct kp_target *t, const char *host, size_t host_len,
		   const char **reason)
{
	return kp_host_agrees_port(t, host, host_len, 80, reason);
}

int kp_host_agrees_port(const struct kp_target *t, const char *host, size_t host_len,
			uint16_t default_port, const char **reason)
{
	char want[KN_HOST_BUFSZ], got[KN_HOST_BUFSZ];
	const char *h;
	size_t hlen;
	uint16_t port;

	if (!host)
		return 0;
	if (kn_host_canon(t->host, t->host_len, want, sizeof(want), NULL) < 0)
		return 0;
	if (kp_split_authority(host, host_len, default_port, &h, &hlen, &port) < 0 ||
	    kn_host_canon(h, hlen, got, sizeof(got), NULL) < 0)
		return fail(reason, "Host header is not a valid host[:port]");
	if (strcmp(want, got) != 0 || port != t->port)
		return fail(reason, "Host header does not match the request-target");
	return 0;
}
