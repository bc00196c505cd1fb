/* conn.h — one client connection from a sandbox, from accept to close.
 *
 * Contract (worker thread only). States and what moves a connection on:
 *   HEAD     reading a request head (http.h; parsed again only when new bytes
 *            hold a LF). Deadline: the header timeout from accept or from the
 *            first byte of a later request; the keep-alive timeout while a kept
 *            connection waits for that first byte. A bad head gets 400. A
 *            kept upstream (below) is watched meanwhile: one that closes,
 *            fails or sends bytes nobody asked for is closed, and the client
 *            connection stays (its next request dials afresh).
 *   RESOLVE  the host passed kn_policy_check_host and is a name not in the
 *            hosts override: a resolver thread looks it up.
 *   DIAL     non-blocking connect to the allowed candidates in order; one
 *            that stays silent is given up after KP_DIAL_ATTEMPT_TIMEOUT_MS
 *            (or half the connect timeout) when others remain.
 *            RESOLVE + DIAL share the connect timeout (504 when it passes).
 *   TLS_UP, TLS_CLIENT
 *            an intercepted CONNECT's handshakes (intercept.h), within the
 *            connect timeout; then HEAD again, reading requests inside the
 *            tunnel (`mitm` set) until the client or the upstream closes.
 *   TUNNEL   CONNECT established (tunnel.h); idle timeout.
 *   FORWARD  one HTTP exchange (forward.h), in clear or intercepted; idle
 *            timeout.
 *   REPLY    writing a canned reply (reply.h), then
 *   LINGER   our side shut down, reading and discarding until EOF, the linger
 *            timeout or KP_LINGER_MAX_BYTES, then close.
 * The decision (403 naming the rule) comes from decide.h: host first, then
 * every candidate address; only addresses that passed are dialled. A policy
 * reference is held from the head to the end of the decision.
 *
 * Plain HTTP keeps its upstream connection after an exchange when forward.h
 * says both sides persist (keep_upstream); `kept` (heap) remembers what it
 * was opened for: the canonical host (as kp_decide_host made it), the port
 * and the address dialled. The next request is decided as any other (a 403
 * closes the kept upstream; so does a CONNECT). It goes out on the kept
 * upstream, with no lookup and no dial, only when its canonical host and
 * port are the kept ones, the kept address still passes the address check
 * under the policy in force (kp_filter_candidates, the check every dialled
 * candidate passes) and the upstream has been idle less than
 * KP_UPSTREAM_REUSE_IDLE_MS; otherwise the kept upstream is closed and the
 * request resolves and dials as usual, and is refused there if the address is
 * now blocked. The decision line of a reused exchange names the kept address.
 * A reused upstream can close just as a request goes out on it: if it fails
 * before a single response byte arrives and the request is GET, HEAD or
 * OPTIONS without a body, kp_conn_retry_upstream dials afresh and sends it
 * again, once (the fresh connection is not reused, so never twice); any other
 * request gets 502 as for any lost upstream.
 * When the client connection ends with its kept upstream reusable (the
 * client asked for Connection: close, or closed after a complete exchange),
 * the upstream goes to the worker's pool (pool.h; we never ask an upstream to
 * close). A request with no kept upstream of its own that fits takes one from
 * the pool (same sandbox, canonical host and port, address still allowed,
 * idle less than KP_UPSTREAM_REUSE_IDLE_MS) before dialling, and uses it
 * exactly as a kept one (reused, retried once).
 *
 * A request inside an intercepted tunnel must be in origin-form with a Host
 * that names the CONNECT host and port (421 otherwise), is decided again
 * against the policy in force (the tunnel's host; its address was checked when
 * it was dialled), and goes to the upstream connection the tunnel opened.
 *
 * Every request that got as far as a head (or a refused head) produces exactly
 * one decision line (decision_log.h) when it ends: at the end of a tunnel or
 * exchange, when a canned reply is written, or when the connection closes. An
 * intercepted CONNECT's line is written when both handshakes are done.
 *
 * TLS may hold decrypted bytes the socket no longer signals; a connection
 * whose interest includes input on such a session is "kicked": run again
 * after the loop batch (kp_conn_run_kicks), and the loop does not sleep while
 * any is kicked.
 *
 * Memory: an idle tunnel holds this struct, its record's host and rule
 * strings, and nothing else (no buffers, no pipes, no request state). */
#ifndef KENNEL_PROXY_CONN_H
#define KENNEL_PROXY_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "common/http.h"
#include "policy/cidr.h"
#include "proxy/buf.h"
#include "proxy/decision_log.h"
#include "proxy/dial.h"
#include "proxy/forward.h"
#include "proxy/intercept.h"
#include "proxy/loop.h"
#include "proxy/tunnel.h"

struct kp_worker;
struct kp_sandbox;
struct kp_policy_ref;
struct kp_resolve_job;

enum kp_conn_state {
	KP_CONN_HEAD,
	KP_CONN_RESOLVE,
	KP_CONN_DIAL,
	KP_CONN_TLS_UP,
	KP_CONN_TLS_CLIENT,
	KP_CONN_TUNNEL,
	KP_CONN_FORWARD,
	KP_CONN_REPLY,
	KP_CONN_LINGER,
	KP_CONN_DEAD,
};

/* The decision line being built for the current request. */
struct kp_record {
	bool active;
	int64_t wall_ms;
	uint64_t start_ms;
	char method[HTTP_MAX_METHOD + 1];
	char *host;        /* heap */
	char *rule;        /* heap */
	char *secrets;     /* heap: names of the secrets injected, comma-separated */
	const char *error; /* static */
	uint16_t port;
	bool has_addr;
	struct kn_addr addr;
	enum kp_verdict_kind decision;
	int status;
	bool intercepted;
	uint64_t bytes_up, bytes_down;
};

/* Request state from the head to the start of the tunnel or the end of the
 * exchange; freed then. */
struct kp_request {
	struct kp_policy_ref *policy;
	bool is_connect;
	char host[KN_HOST_BUFSZ]; /* canonical */
	struct kp_resolve_job *job;
	uint64_t connect_deadline_ms; /* loop clock */
	struct kp_dial dial;
	struct kp_exchange ex;
};

/* What a kept plain-HTTP upstream connection was opened for (see the top). */
struct kp_kept_upstream {
	char host[KN_HOST_BUFSZ]; /* canonical */
	uint16_t port;
	struct kn_addr addr;      /* the address dialled */
	uint64_t idle_since_ms;   /* loop clock: when its last exchange ended */
};

/* Idle for KP_UPSTREAM_REUSE_IDLE_MS or more at `now_ms`: not to be used. */
bool kp_kept_expired(const struct kp_kept_upstream *k, uint64_t now_ms);
/* Its address still passes `policy`'s address checks (kp_filter_candidates,
 * as every dial's candidates do). */
bool kp_kept_allowed(const struct kp_kept_upstream *k, const struct kn_policy *policy);

struct kp_conn {
	struct kp_worker *w;
	struct kp_sandbox *sb;
	struct kp_conn *sb_prev, *sb_next;
	struct kp_conn *wait_prev, *wait_next; /* pipe queue */
	bool waiting_pipe;
	struct kp_conn *dead_next;
	struct kp_conn *kick_prev, *kick_next;
	bool kicked;

	struct kp_watch client, upstream;
	struct kp_timer timer;
	uint64_t last_active_ms;
	enum kp_conn_state state;
	bool keep_alive;     /* the client may send another request */
	bool head_started;   /* a byte of the current head has arrived */

	struct kp_buf in;    /* client bytes not yet consumed */
	struct kp_dir dir[2];
	struct kp_record rec;
	struct kp_request *rq;
	struct kp_mitm *mitm; /* an intercepted CONNECT: both TLS sessions */
	/* Plain HTTP: set while `upstream` is a connection dialled (or taken
	 * from the pool) for a plain request (one in progress, or kept for the
	 * next); freed with it, or with it into the pool. */
	struct kp_kept_upstream *kept;
	uint32_t client_wait; /* HEAD, REPLY: the event a TLS read/write waits for */

	char *reply;         /* canned reply being written */
	uint32_t reply_len, reply_off;
	uint32_t linger_bytes;
};

/* A new connection from `sb`'s listener (takes `fd`). */
void kp_conn_accept(struct kp_sandbox *sb, int fd);

/* Write a canned reply (reply.h), record the decision, then linger and
 * close. `rule` names a policy rule (403) or is NULL. */
void kp_conn_reply(struct kp_conn *c, int status, enum kp_verdict_kind decision,
		   const char *text, const char *rule, const char *error);
/* Close now; `error` (static, may be NULL) goes into the decision line if
 * one is still open. */
void kp_conn_close(struct kp_conn *c, const char *error);
/* An exchange is complete: log it, then read the next request (keeping the
 * upstream connection if `keep_upstream`; inside an intercepted tunnel
 * without it the tunnel ends) or close. */
void kp_conn_exchange_done(struct kp_conn *c, bool keep_client, bool keep_upstream);
/* The upstream of the exchange in progress failed: true when it was a reused
 * one that never answered and the request may be sent again (see the top):
 * the exchange is rewound and a fresh connection dialled for it. false: the
 * caller fails the exchange as before. */
bool kp_conn_retry_upstream(struct kp_conn *c);
/* Re-register the client and upstream interest for the current state. */
void kp_conn_update_interest(struct kp_conn *c);
/* A name lookup came back (resolve.h); frees `job`. */
void kp_conn_resolved(struct kp_resolve_job *job);
/* Both handshakes of an intercepted CONNECT are done (intercept.h). */
void kp_conn_intercepted(struct kp_conn *c);
/* Run the kicked connections (see the top); before kp_conn_reap. */
void kp_conn_run_kicks(struct kp_worker *w);
/* Free the connections closed during this loop batch. */
void kp_conn_reap(struct kp_worker *w);

/* The TLS session on each side, or NULL in clear. */
static inline SSL *kp_conn_client_ssl(const struct kp_conn *c)
{
	return c->mitm ? c->mitm->client_ssl : NULL;
}
static inline SSL *kp_conn_up_ssl(const struct kp_conn *c)
{
	return c->mitm ? c->mitm->up_ssl : NULL;
}

#endif
