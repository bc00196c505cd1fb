/* rewrite.h — the message heads kennel-proxy sends on: a client's request head
 * rewritten for the upstream server, and the server's response head rewritten
 * for the client.
 *
 * Contract: pure functions over heads parsed by common/http.h. Output goes into
 * a caller buffer of `outsz` bytes; on success they return 0 and the length.
 *
 * Both drop the hop-by-hop headers: Connection, every header a Connection
 * header names, Keep-Alive, TE, Trailer, Upgrade, Proxy-Connection and every
 * Proxy-* header (Proxy-Authorization, Proxy-Authenticate, ...). A Connection
 * header that names Content-Length, Transfer-Encoding or Host is refused (-1,
 * `reason` set): dropping a framing header while forwarding the body it frames
 * would let a client smuggle a second request past the policy.
 *
 * Request: "METHOD path HTTP/1.x" (the client's version, so an HTTP/1.0
 * client's server never answers chunked), "Host: <target authority>" first, the
 * end-to-end headers in order (the client's Host dropped), then
 * "Connection: close" unless `opts->persistent` (NULL opts: all off), and with
 * persistent still when the client asked to close (its Connection: close, or
 * HTTP/1.0 without keep-alive), unless `opts->outlives_client`. Inside
 * intercepted tunnels kennel-proxy passes persistent alone: the upstream
 * connection belongs to the tunnel and ends with the client's. Plain HTTP
 * passes both: the upstream connection may outlive the client's in the
 * worker's pool (pool.h), so the upstream is never asked to close (an
 * HTTP/1.0 request line asks it anyway, by default, and is not pooled). For
 * each of
 * `opts->set` every header of that name is dropped and "name: value" added
 * after Host (credential injection: the value is trusted, never client
 * bytes).
 * Content-Length / Transfer-Encoding are kept: the body is forwarded as it
 * came.
 *
 * With `opts->websocket` the request ends in "Upgrade: websocket" and
 * "Connection: Upgrade" instead (kp_wants_websocket says when a client asked
 * for that: Upgrade naming websocket and Connection naming upgrade; any other
 * upgrade is dropped like every hop-by-hop header).
 *
 * Response: "HTTP/1.1 STATUS REASON", the end-to-end headers in order, and
 * "Connection: close" when `client_keep_alive` is false (nothing otherwise:
 * HTTP/1.1 is persistent by default). kp_rewrite_switch is the same for the
 * 101 that accepts a websocket upgrade: "Upgrade: websocket" and
 * "Connection: Upgrade" at the end; -1 when the 101 does not name websocket.
 *
 * -1 with `reason` when the result would not fit in `outsz` or exceed
 * HTTP_MAX_HEAD or HTTP_MAX_HEADERS, so what we send is always a head our own
 * parser accepts. */
#ifndef KENNEL_PROXY_REWRITE_H
#define KENNEL_PROXY_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/http.h"
#include "proxy/request.h"
#include "proxy/secrets.h"

/* Is header `name` hop-by-hop for a message with these headers? */
bool kp_is_hop_by_hop(const char *name, size_t name_len, const struct http_header *headers,
		      size_t n_headers);

struct kp_rewrite_opts {
	bool persistent;
	bool outlives_client; /* with persistent: not even when the client closes */
	bool websocket; /* an Upgrade: websocket request, passed on as one */
	const struct kp_inject *set; /* headers to set (secrets.h) */
	size_t n_set;
};

int kp_rewrite_request(const struct http_request *req, const struct kp_target *t,
		       const struct kp_rewrite_opts *opts, char *out, size_t outsz, size_t *out_len,
		       const char **reason);
int kp_rewrite_response(const struct http_response *resp, bool client_keep_alive, char *out,
			size_t outsz, size_t *out_len, const char **reason);
int kp_rewrite_switch(const struct http_response *resp, char *out, size_t outsz, size_t *out_len,
		      const char **reason);
bool kp_wants_websocket(const struct http_request *req);

#endif
