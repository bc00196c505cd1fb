/* forward.c — HTTP exchanges, in clear or inside an intercepted tunnel
 * (contract: forward.h).
 *
 * Two pumps run on every event of either socket: the request pump (client ->
 * upstream) and the response pump (upstream -> client). Each turn of a pump's
 * loop first frames what is already buffered (no I/O), then makes exactly one
 * send or receive call or returns, so a pump makes at most KP_PUMP_ROUNDS
 * calls per event; framing a response read in one go does not use up the
 * rounds that deliver it. Each pump records which readiness it waits for on
 * which socket, from which the epoll interest is derived. Bytes move through
 * user-space buffers here (framing has to be read), unlike tunnels. */
#define _GNU_SOURCE
#include "proxy/forward.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "proxy/conn.h"
#include "proxy/limits.h"
#include "proxy/rewrite.h"
#include "proxy/tls_io.h"
#include "proxy/worker.h"

/* How a pump ended. */
enum pump_result {
	PUMP_OK,
	PUMP_CLIENT_ERROR,  /* client socket failed or closed too early */
	PUMP_CLIENT_EOF,    /* the client closed a switched (websocket) exchange */
	PUMP_UP_ERROR,      /* upstream socket failed or closed too early */
	PUMP_BAD_REQUEST,   /* the request body is malformed */
	PUMP_BAD_RESPONSE,  /* the response is malformed or not allowed */
	PUMP_NO_MEMORY,
};

struct pump_error {
	const char *reason; /* static */
};


void kp_exchange_free(struct kp_exchange *x)
{
	if (x->uphead)
		OPENSSL_cleanse(x->uphead, x->uphead_len); /* may hold an injected secret */
	free(x->uphead);
	free(x->chead);
	free(x->scratch);
	kp_buf_free(&x->down);
	memset(x, 0, sizeof(*x));
}

void kp_exchange_rewind(struct kp_exchange *x)
{
	/* The request as prepare_exchange left it; everything else (response
	 * state, buffers, what was sent) starts again. */
	struct kp_exchange req = {
		.uphead = x->uphead,
		.uphead_len = x->uphead_len,
		.req_mode = x->req_mode,
		.req_left = x->req_left,
		.head_request = x->head_request,
		.websocket = x->websocket,
		.client_minor = x->client_minor,
		.retryable = x->retryable,
	};
	x->uphead = NULL; /* kept, not wiped */
	kp_exchange_free(x);
	*x = req;
}

/* ---- request: client -> upstream ---- */

static enum pump_result frame_request(struct kp_conn *c, struct kp_exchange *x,
				      struct pump_error *pe)
{
	if (x->req_mode == KP_BODY_SWITCHED) {
		x->req_ready = c->in.len;
		return PUMP_OK;
	}
	if (x->req_mode == KP_BODY_LENGTH) {
		size_t k = c->in.len < x->req_left ? c->in.len : (size_t)x->req_left;
		x->req_ready = k;
		x->req_left -= k;
		if (x->req_left == 0)
			x->req_done = true;
		return PUMP_OK;
	}
	/* Chunked: validate a copy, forward the original bytes it consumed. */
	size_t k = c->in.len < KP_IO_BUF ? c->in.len : KP_IO_BUF;
	size_t out_len;
	memcpy(x->scratch, c->in.data, k);
	ssize_t used = http_chunked_decode(&x->req_chunk, x->scratch, k, &out_len, &pe->reason);
	if (used < 0)
		return PUMP_BAD_REQUEST;
	x->req_ready = (size_t)used;
	if (x->req_chunk.done)
		x->req_done = true;
	return PUMP_OK;
}

static enum pump_result pump_request(struct kp_conn *c, struct kp_exchange *x,
				     struct pump_error *pe)
{
	int up = c->upstream.fd, client = c->client.fd;
	SSL *up_ssl = kp_conn_up_ssl(c), *client_ssl = kp_conn_client_ssl(c);
	uint32_t wait = 0;
	const char *why = NULL;

	x->req_client_ev = x->req_up_ev = 0;
	/* Each turn makes one send or receive call, or returns. */
	for (int round = 0; round < KP_PUMP_ROUNDS; round++) {
		const char *out = NULL;
		size_t out_len = 0;
		if (x->uphead_off == x->uphead_len && !x->req_ready && !x->req_done && c->in.len) {
			/* Makes body bytes ready (or fails): framing takes at least
			 * one byte of a body that is not done. */
			enum pump_result r = frame_request(c, x, pe);
			if (r != PUMP_OK)
				return r;
		}
		if (x->uphead_off < x->uphead_len) {
			out = x->uphead + x->uphead_off;
			out_len = x->uphead_len - x->uphead_off;
		} else if (x->req_ready) {
			out = c->in.data;
			out_len = x->req_ready;
		}
		if (out) {
			ssize_t n = kp_io_send(up, up_ssl, out, out_len, &wait, &why);
			if (n == KP_IO_WAIT) {
				x->req_up_ev = wait;
				return PUMP_OK;
			}
			if (n < 0) {
				pe->reason = "upstream connection failed while sending the request";
				return PUMP_UP_ERROR;
			}
			if (x->uphead_off < x->uphead_len) {
				x->uphead_off += (size_t)n;
			} else {
				kp_buf_consume(&c->in, (size_t)n);
				x->req_ready -= (size_t)n;
			}
			c->rec.bytes_up += (uint64_t)n;
			c->last_active_ms = c->w->loop.now_ms;
			continue;
		}
		if (x->req_done)
			return PUMP_OK;
		bool oom;
		size_t room = kp_buf_reserve(&c->in, KP_IO_BUF, KP_IO_BUF, &oom);
		if (oom)
			return PUMP_NO_MEMORY;
		ssize_t n = kp_io_recv(client, client_ssl, c->in.data + c->in.len, room, &wait, &why);
		if (n == 0) {
			if (x->req_mode == KP_BODY_SWITCHED)
				return PUMP_CLIENT_EOF;
			pe->reason = "client closed during the request body";
			return PUMP_CLIENT_ERROR;
		}
		if (n == KP_IO_WAIT) {
			if (c->in.len == 0)
				kp_buf_free(&c->in);
			x->req_client_ev = wait;
			return PUMP_OK;
		}
		if (n < 0) {
			pe->reason = "client connection failed during the request body";
			return PUMP_CLIENT_ERROR;
		}
		c->in.len += (size_t)n;
		c->last_active_ms = c->w->loop.now_ms;
	}
	x->req_client_ev = EPOLLIN;
	x->req_up_ev = EPOLLOUT;
	return PUMP_OK;
}

/* ---- response: upstream -> client ---- */

/* A 101 to a websocket request: relay its head, then raw bytes both ways. */
static enum pump_result take_switch(struct kp_conn *c, struct kp_exchange *x,
				    const struct http_response *resp, size_t head_len,
				    struct pump_error *pe)
{
	if (!x->websocket || !x->req_done) {
		pe->reason = "upstream switched protocols without an Upgrade request";
		return PUMP_BAD_RESPONSE;
	}
	size_t cap = HTTP_MAX_HEAD + 64, len;
	char *head = malloc(cap);
	if (!head)
		return PUMP_NO_MEMORY;
	if (kp_rewrite_switch(resp, head, cap, &len, &pe->reason) < 0) {
		free(head);
		return PUMP_BAD_RESPONSE;
	}
	free(x->chead);
	x->chead = head;
	x->chead_len = len;
	x->chead_off = 0;
	kp_buf_consume(&x->down, head_len);
	x->down_scanned = 0;
	c->rec.status = 101;
	x->keep_client = false;
	x->resp_state = KP_RESP_BODY;
	x->resp_mode = KP_BODY_CLOSE;
	x->req_mode = KP_BODY_SWITCHED;
	x->req_done = false;
	return PUMP_OK;
}

static enum pump_result take_head(struct kp_conn *c, struct kp_exchange *x, bool *need_more,
				  struct pump_error *pe)
{
	struct http_response resp;
	const char *reason = NULL;

	*need_more = false;
	if (!memchr(x->down.data + x->down_scanned, '\n', x->down.len - x->down_scanned)) {
		x->down_scanned = x->down.len;
		*need_more = true;
		return PUMP_OK;
	}
	ssize_t r = http_parse_response_head(x->down.data, x->down.len, &resp, &reason);
	if (r < 0) {
		pe->reason = reason;
		return PUMP_BAD_RESPONSE;
	}
	if (r == 0) {
		x->down_scanned = x->down.len;
		*need_more = true;
		return PUMP_OK;
	}
	if (resp.status == 101)
		return take_switch(c, x, &resp, (size_t)r, pe);
	bool interim = resp.status < 200;
	if (!interim) {
		c->rec.status = resp.status;
		if (x->head_request || resp.status == 204 || resp.status == 304)
			x->resp_mode = KP_BODY_NONE;
		else if (resp.chunked)
			x->resp_mode = KP_BODY_CHUNKED;
		else if (resp.content_length >= 0)
			x->resp_mode = KP_BODY_LENGTH;
		else
			x->resp_mode = KP_BODY_CLOSE;
		if (x->resp_mode == KP_BODY_CHUNKED && x->client_minor == 0) {
			pe->reason = "chunked response to an HTTP/1.0 request";
			return PUMP_BAD_RESPONSE;
		}
		x->resp_left = x->resp_mode == KP_BODY_LENGTH ? (uint64_t)resp.content_length : 0;
		x->up_reusable = resp.keep_alive && x->resp_mode != KP_BODY_CLOSE;
		x->keep_client = c->keep_alive && x->resp_mode != KP_BODY_CLOSE &&
				 (!c->mitm || x->up_reusable);
	}
	size_t cap = HTTP_MAX_HEAD + 64;
	char *head = malloc(cap);
	if (!head)
		return PUMP_NO_MEMORY;
	size_t head_len;
	if (kp_rewrite_response(&resp, interim || x->keep_client, head, cap, &head_len, &reason) < 0) {
		free(head);
		pe->reason = reason;
		return PUMP_BAD_RESPONSE;
	}
	free(x->chead);
	x->chead = head;
	x->chead_len = head_len;
	x->chead_off = 0;
	kp_buf_consume(&x->down, (size_t)r);
	x->down_scanned = 0;
	if (!interim) {
		x->resp_state = KP_RESP_BODY;
		if (x->resp_mode == KP_BODY_NONE ||
		    (x->resp_mode == KP_BODY_LENGTH && x->resp_left == 0))
			x->resp_state = KP_RESP_DONE;
	}
	return PUMP_OK;
}

static enum pump_result frame_response(struct kp_exchange *x, struct pump_error *pe)
{
	switch (x->resp_mode) {
	case KP_BODY_LENGTH: {
		size_t k = x->down.len < x->resp_left ? x->down.len : (size_t)x->resp_left;
		x->down_ready = k;
		x->resp_left -= k;
		if (x->resp_left == 0)
			x->resp_state = KP_RESP_DONE;
		return PUMP_OK;
	}
	case KP_BODY_CHUNKED: {
		size_t k = x->down.len < KP_IO_BUF ? x->down.len : KP_IO_BUF;
		size_t out_len;
		memcpy(x->scratch, x->down.data, k);
		ssize_t used = http_chunked_decode(&x->resp_chunk, x->scratch, k, &out_len,
						   &pe->reason);
		if (used < 0)
			return PUMP_BAD_RESPONSE;
		x->down_ready = (size_t)used;
		if (x->resp_chunk.done)
			x->resp_state = KP_RESP_DONE;
		return PUMP_OK;
	}
	case KP_BODY_CLOSE:
	case KP_BODY_SWITCHED: /* responses use CLOSE; listed for completeness */
		x->down_ready = x->down.len;
		return PUMP_OK;
	case KP_BODY_NONE:
		break;
	}
	x->resp_state = KP_RESP_DONE;
	return PUMP_OK;
}

/* Bytes of the response head not yet sent. */
static size_t head_left(const struct kp_exchange *x)
{
	return x->chead && x->chead_off < x->chead_len ? x->chead_len - x->chead_off : 0;
}

/* Frame what `down` holds, without I/O, when nothing is waiting to be sent: a
 * head (take_head), then the body bytes already read behind it
 * (frame_response), so that both can go out in one write; or the end of a
 * close-delimited body. Afterwards there is something to send, or the
 * response is done, or more input is needed. */
static enum pump_result frame_buffered_response(struct kp_conn *c, struct kp_exchange *x,
						struct pump_error *pe)
{
	if (x->resp_state == KP_RESP_HEAD && !head_left(x) && x->down.len) {
		bool need_more;
		enum pump_result r = take_head(c, x, &need_more, pe);
		if (r != PUMP_OK || need_more)
			return r;
	}
	if (x->resp_state != KP_RESP_BODY || x->down_ready)
		return PUMP_OK;
	if (x->down.len)
		return frame_response(x, pe);
	if (x->upstream_eof && x->resp_mode == KP_BODY_CLOSE)
		x->resp_state = KP_RESP_DONE;
	return PUMP_OK;
}

/* Send the rest of the head and the ready body bytes to the client. */
static ssize_t send_response(struct kp_conn *c, struct kp_exchange *x, uint32_t *wait,
			     const char **why)
{
	size_t head_n = head_left(x);
	const char *out = x->down.data;
	size_t out_len = x->down_ready;
	if (head_n && x->down_ready && head_n + x->down_ready <= KP_IO_BUF) {
		/* One write for the head and the body bytes behind it: one TLS
		 * record, one segment, one wake-up of the client. After a write
		 * that waited, the next attempt is built the same way from the same
		 * bytes (nothing is framed or read while bytes wait), as a TLS
		 * retry needs. */
		memcpy(x->scratch, x->chead + x->chead_off, head_n);
		memcpy(x->scratch + head_n, x->down.data, x->down_ready);
		out = x->scratch;
		out_len = head_n + x->down_ready;
	} else if (head_n) {
		out = x->chead + x->chead_off;
		out_len = head_n;
	}
	ssize_t n = kp_io_send(c->client.fd, kp_conn_client_ssl(c), out, out_len, wait, why);
	if (n <= 0)
		return n;
	size_t from_head = (size_t)n < head_n ? (size_t)n : head_n;
	size_t from_body = (size_t)n - from_head;
	if (from_head) {
		x->chead_off += from_head;
		if (x->chead_off == x->chead_len) {
			free(x->chead);
			x->chead = NULL;
		}
	}
	if (from_body) {
		kp_buf_consume(&x->down, from_body);
		x->down_ready -= from_body;
	}
	x->client_started = true;
	c->rec.bytes_down += (uint64_t)n;
	c->last_active_ms = c->w->loop.now_ms;
	return n;
}

/* A response that came in part on an upstream connection that has carried
 * bytes both ways before (a reused one, or any inside a TLS tunnel): ACK what
 * was read now. Linux delays the ACK on such a connection (it expects to send
 * it with our next bytes, and we have none to send), and a server that writes
 * its head and its body separately with Nagle on (Python's http.server does)
 * holds the body until that ACK: 40 ms per response. A new connection ACKs at
 * once by itself. Once per exchange is enough: we send nothing more, so the
 * connection stays in that mode until the next request. A failure only costs
 * the delay, so it is not reported. */
static void ack_now(struct kp_conn *c, struct kp_exchange *x)
{
	int one = 1;

	if (x->acked_now || !x->up_answered || (!x->reused && !c->mitm))
		return;
	x->acked_now = true;
	setsockopt(c->upstream.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static enum pump_result pump_response(struct kp_conn *c, struct kp_exchange *x,
				      struct pump_error *pe)
{
	int up = c->upstream.fd;
	SSL *up_ssl = kp_conn_up_ssl(c);
	uint32_t wait = 0;
	const char *why = NULL;

	x->resp_client_ev = x->resp_up_ev = 0;
	/* Each turn makes one send or receive call, or returns. */
	for (int round = 0; round < KP_PUMP_ROUNDS; round++) {
		enum pump_result r = frame_buffered_response(c, x, pe);
		if (r != PUMP_OK)
			return r;
		if (head_left(x) || x->down_ready) {
			ssize_t n = send_response(c, x, &wait, &why);
			if (n == KP_IO_WAIT) {
				x->resp_client_ev = wait;
				return PUMP_OK;
			}
			if (n < 0) {
				pe->reason = "client connection failed during the response";
				return PUMP_CLIENT_ERROR;
			}
			continue;
		}
		if (x->resp_state == KP_RESP_DONE)
			return PUMP_OK;
		if (x->upstream_eof) {
			pe->reason = "upstream closed before the response ended";
			return PUMP_UP_ERROR;
		}
		size_t limit = x->resp_state == KP_RESP_HEAD ? HTTP_MAX_HEAD + 1 : KP_IO_BUF;
		bool oom;
		size_t room = kp_buf_reserve(&x->down, KP_IO_BUF, limit, &oom);
		if (oom)
			return PUMP_NO_MEMORY;
		if (room == 0) {
			pe->reason = "response head too large";
			return PUMP_BAD_RESPONSE;
		}
		ssize_t n = kp_io_recv(up, up_ssl, x->down.data + x->down.len, room, &wait, &why);
		if (n == 0) {
			x->upstream_eof = true;
			continue;
		}
		if (n == KP_IO_WAIT) {
			if (x->down.len == 0)
				kp_buf_free(&x->down);
			x->resp_up_ev = wait;
			ack_now(c, x);
			return PUMP_OK;
		}
		if (n < 0) {
			pe->reason = "upstream connection failed during the response";
			return PUMP_UP_ERROR;
		}
		x->up_answered = true;
		x->down.len += (size_t)n;
		c->last_active_ms = c->w->loop.now_ms;
	}
	x->resp_up_ev = EPOLLIN;
	x->resp_client_ev = EPOLLOUT;
	return PUMP_OK;
}

/* ---- the exchange ---- */

static void fail(struct kp_conn *c, enum pump_result r, const struct pump_error *pe)
{
	struct kp_exchange *x = &c->rq->ex;
	const char *reason = pe->reason ? pe->reason : "out of memory";

	if (r == PUMP_CLIENT_EOF) {
		kp_conn_close(c, NULL);
		return;
	}
	/* A reused upstream that closed as the request went out: maybe sent
	 * again on a fresh connection. */
	if (r == PUMP_UP_ERROR && kp_conn_retry_upstream(c))
		return;
	if (r == PUMP_CLIENT_ERROR || x->client_started) {
		kp_conn_close(c, reason);
		return;
	}
	char text[256];
	if (r == PUMP_BAD_REQUEST) {
		snprintf(text, sizeof(text), "bad request body: %s", reason);
		kp_conn_reply(c, 400, KP_DECISION_ERROR, text, NULL, reason);
		return;
	}
	snprintf(text, sizeof(text), "bad gateway: %s", reason);
	kp_conn_reply(c, 502, KP_DECISION_ERROR, text, NULL, reason);
}

static void run(struct kp_conn *c)
{
	struct kp_exchange *x = &c->rq->ex;
	struct pump_error pe = { 0 };

	enum pump_result r = pump_request(c, x, &pe);
	bool was_switched = x->req_mode == KP_BODY_SWITCHED;
	if (r == PUMP_OK)
		r = pump_response(c, x, &pe);
	/* A 101 just switched the exchange: the request pump, which ended with
	 * the upgrade request, starts on the client's bytes now (waiting for an
	 * event would wait for the upstream, which may speak only when spoken to). */
	if (r == PUMP_OK && !was_switched && x->req_mode == KP_BODY_SWITCHED)
		r = pump_request(c, x, &pe);
	if (r != PUMP_OK) {
		fail(c, r, &pe);
		return;
	}
	bool delivered = x->resp_state == KP_RESP_DONE && !x->chead && x->down_ready == 0;
	if (delivered) {
		bool request_complete = x->req_done && x->req_ready == 0 &&
					x->uphead_off == x->uphead_len;
		bool keep_client = x->keep_client && request_complete;
		/* See forward.h: bytes after the response's end, or its stream's
		 * end, mean the upstream is no longer where a next answer starts.
		 * In clear an HTTP/1.0 request line asked the server to close
		 * (it may still answer HTTP/1.1 without saying so): not kept. */
		bool keep_upstream = request_complete && x->up_reusable && x->down.len == 0 &&
				     !x->upstream_eof &&
				     (c->mitm || (!x->head_request && x->client_minor >= 1));
		kp_conn_exchange_done(c, keep_client, keep_upstream);
		return;
	}
	kp_conn_update_interest(c);
}

void kp_forward_start(struct kp_conn *c)
{
	struct kp_exchange *x = &c->rq->ex;

	c->state = KP_CONN_FORWARD;
	x->scratch = malloc(KP_IO_BUF);
	if (!x->scratch) {
		kp_conn_close(c, "out of memory");
		return;
	}
	http_chunked_init(&x->req_chunk);
	http_chunked_init(&x->resp_chunk);
	x->resp_state = KP_RESP_HEAD;
	if (x->req_mode == KP_BODY_NONE || (x->req_mode == KP_BODY_LENGTH && x->req_left == 0))
		x->req_done = true;
	run(c);
}

void kp_forward_event(struct kp_conn *c)
{
	run(c);
}

void kp_forward_interest(const struct kp_conn *c, uint32_t *client_ev, uint32_t *up_ev)
{
	const struct kp_exchange *x = c->rq ? &c->rq->ex : NULL;

	*client_ev = x ? x->req_client_ev | x->resp_client_ev : 0;
	*up_ev = x ? x->req_up_ev | x->resp_up_ev : 0;
}
