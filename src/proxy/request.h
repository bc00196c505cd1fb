/* request.h — what a proxy request asks for: the target of a CONNECT or of an
 * absolute-form plain-HTTP request, and whether its Host header agrees.
 *
 * Contract: pure functions over a request already accepted by common/http.h
 * (so the target is printable ASCII and CONNECT targets are host:port with a
 * port 1..65535). Results point into the caller's bytes. On refusal they return
 * -1 and set `*reason` to a static phrase for a 400 body and a log line.
 *
 *   kp_target_connect   "host:port" or "[v6]:port". The host comes back as
 *                       written (brackets removed); deciding whether it is a
 *                       valid name is the policy's job (kn_policy_check_host).
 *   kp_target_absolute  "http://authority[/path][?query]" only: scheme matched
 *                       case-insensitively; "https://" and others are refused
 *                       (HTTPS goes through CONNECT); userinfo ("user@host"),
 *                       an empty host, a host with bytes http.h would refuse
 *                       in a Host header, an empty or out-of-range port and
 *                       a fragment are refused. Port defaults to 80. The path
 *                       to send upstream is `path` (starts with '/' or '?';
 *                       prefix "/" when it starts with '?'; "/" when empty).
 *   kp_host_agrees      RFC 9112 3.2.2 lets a proxy ignore Host for absolute-
 *                       form; we refuse a disagreement instead, since the two
 *                       naming different hosts is a classic way to make a proxy
 *                       and an upstream disagree about who is being talked to.
 *                       Host and target are compared after kn_host_canon and
 *                       with the default port filled in. A Host value that
 *                       cannot be canonicalised disagrees; a target host that
 *                       cannot is not judged here (the policy blocks it).
 *                       A missing Host (HTTP/1.0) agrees.
 *   kp_host_agrees_port the same with another default port (443 for requests
 *                       inside an intercepted HTTPS tunnel). */
#ifndef KENNEL_PROXY_REQUEST_H
#define KENNEL_PROXY_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kp_target {
	const char *host; /* without brackets */
	size_t host_len;
	uint16_t port;
	const char *authority; /* host[:port] exactly as written in the target */
	size_t authority_len;
	const char *path; /* absolute-form only: "/..." or "?..." or empty */
	size_t path_len;
};

int kp_target_connect(const char *target, size_t len, struct kp_target *out, const char **reason);
int kp_target_absolute(const char *target, size_t len, struct kp_target *out,
		       const char **reason);
int kp_host_agrees(const struct kp_target *t, const char *host, size_t host_len,
		   const char **reason);
int kp_host_agrees_port(const struct kp_target *t, const char *host, size_t host_len,
			uint16_t default_port, const char **reason);

/* Split "host", "host:port", "[v6]" or "[v6]:port"; `default_port` when none.
 * -1 on an empty host, unbalanced bracket, or a port that is empty, not
 * decimal, 0 or above 65535. */
int kp_split_authority(const char *a, size_t len, uint16_t default_port, const char **host,
		       size_t *host_len, uint16_t *port);

#endif
