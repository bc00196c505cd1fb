/* forward.h — one plain-HTTP exchange: the rewritten request head and the
 * request body to the upstream, the response back to the client.
 *
 * Contract: kp_forward_start is called once the upstream connection is up,
 * with the exchange prepared by the request reader (uphead, req_mode,
 * req_left, head_request, client_minor). Both directions then run at once,
 * so a server that answers before reading the whole body (413, 401) is
 * relayed without deadlock:
 *   request   head, then the body exactly as framed (Content-Length bytes, or a
 *             chunked body validated by http_chunked_decode and forwarded as
 *             received); bytes after it stay in the connection's input for the
 *             next request.
 *   response  1xx heads are relayed and the next head read; a 101 is refused
 *             unless the request asked for a websocket upgrade (only inside
 *             intercepted tunnels), and then switches the exchange to raw
 *             bytes both ways until either side closes; the final head is
 *             rewritten (rewrite.h),
 *             its body relayed by Content-Length, chunked (validated, relayed
 *             as received) or until the upstream closes. No body for HEAD,
 *             204 and 304. A chunked response to an HTTP/1.0 client is refused
 *             (we forwarded its version, so the server broke the protocol).
 * Both sides go through tls_io.h, so the same exchange runs in clear (plain
 * HTTP) and inside an intercepted tunnel (both sides TLS).
 * The exchange ends when the response has been delivered; the client
 * connection is kept for another request only when it asked for keep-alive,
 * the response was not close-delimited and the request body was complete;
 * inside an intercepted tunnel also only when the upstream keeps its
 * connection (`up_reusable`: the next request goes over the same one).
 * The upstream connection may carry another request (keep_upstream, passed
 * to kp_conn_exchange_done, for this client connection or, when that one
 * ends, the worker's pool: pool.h) only when the request went out complete,
 * the response allowed it (`up_reusable`: HTTP/1.1 without Connection: close, or
 * HTTP/1.0 with keep-alive), its end came from its own framing
 * (Content-Length, a complete chunked body, or none by rule), and no byte
 * came after that end, nor an end of the stream; in clear, also not after a
 * HEAD request: a server that sends a body to HEAD anyway would have it read
 * as the answer to the next request, nor after an HTTP/1.0 request (whose
 * request line asked the server to close). (Inside a tunnel the client chose to
 * reuse the connection, as it would directly, and a HEAD does not end it.)
 * Plain requests are never sent with "Connection: close", even when the
 * client closes its connection, so that the upstream can keep its own
 * (rewrite.h, `persistent` and `outlives_client`).
 * Failures before the first response byte reached the client become a canned
 * 400 (bad request body) or 502 (upstream failed or misbehaved); after it, the
 * client connection is closed. An upstream failure of an exchange on a reused
 * connection before any response byte first asks kp_conn_retry_upstream
 * (conn.h), which may send the request again on a fresh one
 * (kp_exchange_rewind puts the exchange back to before its first byte).
 * Every failure is recorded in the decision line. */
#ifndef KENNEL_PROXY_FORWARD_H
#define KENNEL_PROXY_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/http.h"
#include "proxy/buf.h"

struct kp_conn;

enum kp_body_mode {
	KP_BODY_NONE,
	KP_BODY_LENGTH,
	KP_BODY_CHUNKED,
	KP_BODY_CLOSE, /* responses only: until the upstream closes */
	KP_BODY_SWITCHED, /* requests after a websocket 101: raw bytes until EOF */
};

enum kp_resp_state {
	KP_RESP_HEAD,
	KP_RESP_BODY,
	KP_RESP_DONE,
};

struct kp_exchange {
	/* request: set up by the request reader */
	char *uphead;
	size_t uphead_len, uphead_off;
	enum kp_body_mode req_mode;
	uint64_t req_left;
	struct http_chunked req_chunk;
	size_t req_ready; /* validated body bytes at the front of the conn's input */
	bool req_done;
	bool head_request;
	bool websocket; /* the request asked for Upgrade: websocket */
	int client_minor;
	bool retryable; /* GET, HEAD or OPTIONS without a body: may be sent twice */
	bool reused;    /* on an upstream connection kept from an earlier exchange */

	/* response */
	struct kp_buf down;
	size_t down_scanned; /* bytes of `down` already searched for a LF */
	size_t down_ready;   /* validated bytes at the front of `down` */
	enum kp_resp_state resp_state;
	enum kp_body_mode resp_mode;
	uint64_t resp_left;
	struct http_chunked resp_chunk;
	char *chead;
	size_t chead_len, chead_off;
	bool client_started; /* a response byte reached the client */
	bool upstream_eof;
	bool up_answered;    /* a byte (of any response head) came from the upstream */
	bool acked_now;      /* TCP_QUICKACK was set for this response (forward.c) */
	bool keep_client;
	bool up_reusable;    /* the upstream may carry another request */

	/* The epoll events each pump waits for on each socket (a TLS write may
	 * wait for input and the reverse, so they are not fixed per side). */
	uint32_t req_client_ev, req_up_ev, resp_client_ev, resp_up_ev;
	char *scratch;  /* KP_IO_BUF, for validating chunked bytes */
};

void kp_forward_start(struct kp_conn *c);
void kp_forward_event(struct kp_conn *c);
void kp_forward_interest(const struct kp_conn *c, uint32_t *client_ev, uint32_t *up_ev);
void kp_exchange_free(struct kp_exchange *x);
/* Back to before kp_forward_start, keeping the request (its head, its
 * framing): for a retryable request only, whose bytes all live in `uphead`. */
void kp_exchange_rewind(struct kp_exchange *x);

#endif
