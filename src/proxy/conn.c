/* conn.c — client connections: request heads, decisions, dialling, canned
 * replies and the connection's end (contract: conn.h). */
#define _GNU_SOURCE
#include "proxy/conn.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/decide.h"
#include "proxy/intercept.h"
#include "proxy/limits.h"
#include "proxy/pool.h"
#include "proxy/reply.h"
#include "proxy/request.h"
#include "proxy/resolve.h"
#include "proxy/rewrite.h"
#include "proxy/sandboxes.h"
#include "proxy/tls_io.h"
#include "proxy/worker.h"

static void client_ready(struct kp_watch *w, uint32_t events);
static void upstream_ready(struct kp_watch *w, uint32_t events);
static void timer_fired(struct kp_timer *t);
static void process_head(struct kp_conn *c);
static void enter_head(struct kp_conn *c);
static void open_upstream(struct kp_conn *c);

static bool again(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

static void arm(struct kp_conn *c, uint64_t after_ms)
{
	/* Never fails: kp_conn_accept reserved a heap slot per connection. */
	kp_loop_arm(&c->w->loop, &c->timer, after_ms);
}

/* ---- the decision line ---- */

static void record_begin(struct kp_conn *c, const char *method)
{
	struct kp_record *r = &c->rec;

	free(r->host);
	free(r->rule);
	free(r->secrets);
	*r = (struct kp_record){
		.active = true,
		.wall_ms = kp_wall_ms(),
		.start_ms = c->w->loop.now_ms,
		.decision = KP_DECISION_ERROR,
	};
	kn_str_append(r->method, sizeof(r->method), 0, method);
}

static void record_rule(struct kp_conn *c, const char *rule)
{
	free(c->rec.rule);
	c->rec.rule = strdup(rule);
}

/* The names of the secrets injected, for the decision line. */
static void record_secrets(struct kp_conn *c, const struct kp_inject *inject, size_t n)
{
	size_t len = 0;
	for (size_t k = 0; k < n; k++)
		len += strlen(inject[k].secret) + 1;
	free(c->rec.secrets);
	c->rec.secrets = NULL;
	if (!n || !(c->rec.secrets = malloc(len)))
		return;
	char *p = c->rec.secrets;
	for (size_t k = 0; k < n; k++)
		p += sprintf(p, "%s%s", k ? "," : "", inject[k].secret);
}

static void record_write(struct kp_conn *c)
{
	struct kp_record *r = &c->rec;
	char line[KP_LOG_LINE_MAX];

	if (!r->active)
		return;
	struct kp_decision_record d = {
		.time_ms = r->wall_ms,
		.sandbox = c->sb->name,
		.method = r->method,
		.host = r->host,
		.port = r->port,
		.addr = r->has_addr ? &r->addr : NULL,
		.rule = r->rule,
		.decision = r->decision,
		.status = r->status,
		.bytes_up = r->bytes_up,
		.bytes_down = r->bytes_down,
		.duration_ms = c->w->loop.now_ms - r->start_ms,
		.intercepted = r->intercepted,
		.secrets = r->secrets,
		.error = r->error,
	};
	size_t n = kp_decision_format(&d, line, sizeof(line));
	if (n)
		kp_worker_log_line(c->w, line, n);
	else
		log_error("sandbox %s: decision line too long, not logged", c->sb->name);
	log_debug("sandbox %s: %s %s:%u%s %s (%s) status %d up %llu down %llu%s%s", c->sb->name,
		  r->method, r->host ? r->host : "-", r->port, r->intercepted ? " (intercepted)" : "",
		  kp_decision_name(r->decision),
		  r->rule ? r->rule : "-", r->status, (unsigned long long)r->bytes_up,
		  (unsigned long long)r->bytes_down, r->error ? ": " : "", r->error ? r->error : "");
	free(r->host);
	free(r->rule);
	free(r->secrets);
	r->host = r->rule = r->secrets = NULL;
	r->active = false;
}

/* ---- teardown ---- */

static void upstream_close(struct kp_conn *c)
{
	int fd = c->upstream.fd;

	if (c->mitm)
		kp_io_ssl_close(&c->mitm->up_ssl);
	free(c->kept);
	c->kept = NULL;
	if (fd < 0)
		return;
	kp_watch_close(&c->w->loop, &c->upstream);
}

/* The client connection is ending after an exchange that left its plain
 * upstream reusable: hand the upstream to the worker's pool (pool.h) for a
 * later client connection of this sandbox. It stays idle since the end of
 * its exchange (kept->idle_since_ms). */
static void park_upstream(struct kp_conn *c)
{
	int fd = c->upstream.fd;

	if (c->mitm || !c->kept || fd < 0) {
		upstream_close(c);
		return;
	}
	kp_pool_put(c->w, c->sb, &c->upstream, c->kept);
	free(c->kept);
	c->kept = NULL;
}

static void request_free(struct kp_conn *c)
{
	struct kp_request *rq = c->rq;

	if (!rq)
		return;
	if (rq->job)
		rq->job->owner = NULL; /* the worker frees it when it comes back */
	kp_policy_ref_put(rq->policy);
	kp_exchange_free(&rq->ex);
	free(rq);
	c->rq = NULL;
}

static void unkick(struct kp_conn *c)
{
	if (!c->kicked)
		return;
	if (c->kick_prev)
		c->kick_prev->kick_next = c->kick_next;
	else
		c->w->kicks = c->kick_next;
	if (c->kick_next)
		c->kick_next->kick_prev = c->kick_prev;
	c->kick_prev = c->kick_next = NULL;
	c->kicked = false;
}

static void kick(struct kp_conn *c)
{
	if (c->kicked)
		return;
	c->kicked = true;
	c->kick_prev = NULL;
	c->kick_next = c->w->kicks;
	if (c->w->kicks)
		c->w->kicks->kick_prev = c;
	c->w->kicks = c;
}

void kp_conn_close(struct kp_conn *c, const char *error)
{
	struct kp_worker *w = c->w;
	struct kp_sandbox *sb = c->sb;

	if (c->state == KP_CONN_DEAD)
		return;
	if (c->rec.active) {
		if (error && !c->rec.error)
			c->rec.error = error;
		record_write(c);
	}
	unkick(c);
	/* The sessions say goodbye on their sockets, which must still be open. */
	kp_mitm_free(c->mitm);
	c->mitm = NULL;
	kp_loop_disarm(&w->loop, &c->timer);
	kp_watch_close(&w->loop, &c->client);
	upstream_close(c);
	request_free(c);
	kp_tunnel_release(c);
	free(c->reply);
	c->reply = NULL;
	kp_buf_free(&c->in);

	if (c->sb_prev)
		c->sb_prev->sb_next = c->sb_next;
	else
		sb->conns = c->sb_next;
	if (c->sb_next)
		c->sb_next->sb_prev = c->sb_prev;
	sb->nconns--;
	kp_worker_count(w, sb->slot, -1);
	w->nconns--;

	c->state = KP_CONN_DEAD;
	c->dead_next = w->graveyard;
	w->graveyard = c;
	kp_worker_conn_gone(w);
}

void kp_conn_reap(struct kp_worker *w)
{
	while (w->graveyard) {
		struct kp_conn *c = w->graveyard;
		w->graveyard = c->dead_next;
		free(c);
	}
}

/* Our side is done: shut it down and read until the client closes, so that
 * our last bytes are not destroyed by a RST for unread input. */
static void linger(struct kp_conn *c)
{
	SSL *ssl = kp_conn_client_ssl(c);
	if (ssl && SSL_is_init_finished(ssl))
		SSL_shutdown(ssl); /* best effort close_notify */
	shutdown(c->client.fd, SHUT_WR);
	c->state = KP_CONN_LINGER;
	c->linger_bytes = 0;
	arm(c, KP_LINGER_TIMEOUT_MS);
	kp_conn_update_interest(c);
}

/* After a plain exchange that ends the connection: lingering only guards
 * input the client sent after its request, so with nothing buffered and
 * nothing pending on the socket (a peek), close at once, as nginx does. The
 * shutdown, the wait for the client's FIN and its read were a fifth of a
 * short connection's syscalls. A TLS client gets its close_notify and the
 * lingering close: a RST could destroy the alert. */
static void finish_client(struct kp_conn *c)
{
	char probe;

	if (!kp_conn_client_ssl(c) && c->in.len == 0) {
		ssize_t n = recv(c->client.fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && again(errno))) {
			kp_conn_close(c, NULL);
			return;
		}
	}
	linger(c);
}

static void reply_writable(struct kp_conn *c)
{
	while (c->reply_off < c->reply_len) {
		uint32_t wait = 0;
		const char *why = NULL;
		ssize_t n = kp_io_send(c->client.fd, kp_conn_client_ssl(c), c->reply + c->reply_off,
				       c->reply_len - c->reply_off, &wait, &why);
		if (n == KP_IO_WAIT) {
			c->client_wait = wait;
			kp_conn_update_interest(c);
			return;
		}
		if (n < 0) {
			kp_conn_close(c, NULL);
			return;
		}
		c->reply_off += (uint32_t)n;
	}
	free(c->reply);
	c->reply = NULL;
	linger(c);
}

void kp_conn_reply(struct kp_conn *c, int status, enum kp_verdict_kind decision,
		   const char *text, const char *rule, const char *error)
{
	char buf[KP_REPLY_MAX];

	if (c->state == KP_CONN_DEAD)
		return;
	upstream_close(c);
	request_free(c);
	kp_tunnel_release(c);
	kp_buf_free(&c->in);
	if (status == 400)
		log_info("sandbox %s: 400 %s", c->sb->name, text);
	if (c->rec.active) {
		c->rec.status = status;
		c->rec.decision = decision;
		if (error && !c->rec.error)
			c->rec.error = error;
		record_write(c);
	}
	size_t n = kp_reply_format(buf, sizeof(buf), status, text, rule);
	c->reply = malloc(n);
	if (!c->reply) {
		kp_conn_close(c, NULL);
		return;
	}
	memcpy(c->reply, buf, n);
	c->reply_len = (uint32_t)n;
	c->reply_off = 0;
	c->keep_alive = false;
	c->state = KP_CONN_REPLY;
	c->client_wait = EPOLLOUT;
	arm(c, KP_LINGER_TIMEOUT_MS);
	reply_writable(c);
}

static void linger_readable(struct kp_conn *c)
{
	char sink[4096];

	for (int round = 0; round < KP_PUMP_ROUNDS; round++) {
		ssize_t n = recv(c->client.fd, sink, sizeof(sink), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && again(errno))
			return;
		if (n <= 0) {
			kp_conn_close(c, NULL);
			return;
		}
		c->linger_bytes += (uint32_t)n;
		if (c->linger_bytes > KP_LINGER_MAX_BYTES) {
			kp_conn_close(c, NULL);
			return;
		}
	}
}

/* ---- interest ---- */

void kp_conn_update_interest(struct kp_conn *c)
{
	uint32_t cev = 0, uev = 0;
	kn_error err;

	switch (c->state) {
	case KP_CONN_HEAD:
		cev = c->client_wait;
		/* A kept upstream that closes must be noticed (idle_upstream_readable). */
		if (c->upstream.fd >= 0)
			uev = EPOLLIN;
		break;
	case KP_CONN_LINGER:
		cev = EPOLLIN;
		break;
	case KP_CONN_RESOLVE:
		break;
	case KP_CONN_DIAL:
		uev = EPOLLOUT;
		break;
	case KP_CONN_TLS_UP:
	case KP_CONN_TLS_CLIENT:
		kp_intercept_interest(c, &cev, &uev);
		break;
	case KP_CONN_TUNNEL:
		kp_tunnel_interest(c, &cev, &uev);
		break;
	case KP_CONN_FORWARD:
		kp_forward_interest(c, &cev, &uev);
		break;
	case KP_CONN_REPLY:
		cev = c->client_wait;
		break;
	case KP_CONN_DEAD:
		return;
	}
	if (c->mitm && ((cev & EPOLLIN && kp_io_pending(kp_conn_client_ssl(c))) ||
			(uev & EPOLLIN && kp_io_pending(kp_conn_up_ssl(c)))))
		kick(c);
	if (kp_watch_set(&c->w->loop, &c->client, cev, 0, &err) < 0 ||
	    (c->upstream.fd >= 0 && kp_watch_set(&c->w->loop, &c->upstream, uev, 0, &err) < 0)) {
		log_error("sandbox %s: %s", c->sb->name, err.msg);
		kp_conn_close(c, "epoll_ctl failed");
	}
}

/* ---- dialling ---- */

/* A plain-HTTP upstream just connected: what it was opened for, so that the
 * next request can find it (conn.h). Without memory it is simply not kept. */
static void remember_upstream(struct kp_conn *c)
{
	struct kp_request *rq = c->rq;

	if (!c->kept && !(c->kept = malloc(sizeof(*c->kept))))
		return;
	kn_str_append(c->kept->host, sizeof(c->kept->host), 0, rq->host);
	c->kept->port = rq->dial.port;
	c->kept->addr = rq->dial.addr;
	c->kept->idle_since_ms = c->w->loop.now_ms;
}

static void connected(struct kp_conn *c)
{
	struct kp_request *rq = c->rq;

	c->rec.has_addr = true;
	c->rec.addr = rq->dial.addr;
	c->rec.decision = KP_DECISION_ALLOW;
	c->last_active_ms = c->w->loop.now_ms;
	arm(c, c->w->opt->idle_timeout_ms);
	if (rq->is_connect) {
		char host[KN_HOST_BUFSZ];
		uint16_t port = c->rec.port;
		bool intercept = c->sb->ca && rq->host[0] &&
				 !kn_policy_is_bypass(&rq->policy->policy, rq->host, strlen(rq->host),
						      port, &rq->dial.addr);
		kn_str_append(host, sizeof(host), 0, rq->host);
		request_free(c);
		if (intercept) {
			arm(c, c->w->opt->connect_timeout_ms);
			kp_intercept_start(c, host, port);
			return;
		}
		c->rec.status = 200;
		kp_tunnel_start(c);
	} else {
		if (!rq->ex.reused)
			remember_upstream(c);
		kp_forward_start(c);
	}
}

static void dial_next(struct kp_conn *c)
{
	struct kp_request *rq = c->rq;
	int fd = -1;

	switch (kp_dial_next(&rq->dial, &fd)) {
	case KP_DIAL_PENDING: {
		kp_watch_init(&c->upstream, fd, upstream_ready);
		c->state = KP_CONN_DIAL;
		uint64_t now = c->w->loop.now_ms;
		uint64_t left = rq->connect_deadline_ms > now ? rq->connect_deadline_ms - now : 0;
		if (rq->dial.next < rq->dial.allowed.n) {
			uint64_t attempt = c->w->opt->connect_timeout_ms / 2;
			if (attempt > KP_DIAL_ATTEMPT_TIMEOUT_MS)
				attempt = KP_DIAL_ATTEMPT_TIMEOUT_MS;
			if (attempt < left)
				left = attempt;
		}
		arm(c, left);
		kp_conn_update_interest(c);
		return;
	}
	case KP_DIAL_DONE:
		kp_watch_init(&c->upstream, fd, upstream_ready);
		connected(c);
		return;
	case KP_DIAL_NONE:
		break;
	}
	char text[KN_HOST_BUFSZ + 128];
	snprintf(text, sizeof(text), "cannot connect to %s port %u: %s", rq->host, rq->dial.port,
		 strerror(rq->dial.last_errno));
	kp_conn_reply(c, 502, KP_DECISION_ERROR, text, NULL, "connect failed");
}

static void dial_writable(struct kp_conn *c)
{
	int e = kp_dial_result(c->upstream.fd);

	if (e == 0) {
		connected(c);
		return;
	}
	upstream_close(c);
	c->rq->dial.last_errno = e;
	dial_next(c);
}

static void have_candidates(struct kp_conn *c, const struct kp_candidates *cands)
{
	struct kp_request *rq = c->rq;
	struct kn_decision block;

	rq->dial.port = c->rec.port;
	if (kp_filter_candidates(&rq->policy->policy, cands, &rq->dial.allowed, &block) == 0) {
		record_rule(c, block.rule);
		kp_conn_reply(c, 403, KP_DECISION_BLOCK, "blocked by policy", block.rule, NULL);
		return;
	}
	dial_next(c);
}

void kp_conn_resolved(struct kp_resolve_job *job)
{
	struct kp_conn *c = job->owner;

	if (!c) {
		free(job);
		return;
	}
	c->rq->job = NULL;
	if (job->gai_error != 0) {
		char text[KN_HOST_BUFSZ + 128];
		snprintf(text, sizeof(text), "cannot resolve %s: %s", job->host,
			 kp_resolve_strerror(job));
		kp_conn_reply(c, 502, KP_DECISION_ERROR, text, NULL, "name resolution failed");
	} else {
		have_candidates(c, &job->result);
	}
	free(job);
}

/* ---- requests ---- */

static void bad_request(struct kp_conn *c, const char *reason)
{
	kp_conn_reply(c, 400, KP_DECISION_ERROR, reason, NULL, reason);
}

/* A request's state, holding the policy in force now; NULL (and the
 * connection closed) when out of memory. */
static struct kp_request *request_new(struct kp_conn *c)
{
	struct kp_request *rq = calloc(1, sizeof(*rq));
	if (!rq) {
		kp_conn_close(c, "out of memory");
		return NULL;
	}
	c->rq = rq;
	rq->policy = kp_policy_ref_get(c->sb->policy);
	return rq;
}

/* The exchange's request side from a parsed head and the upstream head made
 * for it. Returns -1 (connection closed or answered) on failure. */
static int prepare_exchange(struct kp_conn *c, const struct http_request *req,
			    const struct kp_target *t, const struct kp_rewrite_opts *opts)
{
	struct kp_exchange *x = &c->rq->ex;
	const char *reason = NULL;
	size_t len = 0;

	char *big = malloc(HTTP_MAX_HEAD);
	if (!big) {
		kp_conn_close(c, "out of memory");
		return -1;
	}
	int rc = kp_rewrite_request(req, t, opts, big, HTTP_MAX_HEAD, &len, &reason);
	/* Kept at its exact size; the scratch copy is wiped, since it may hold an
	 * injected secret (realloc could leave one behind in freed memory). */
	x->uphead = rc == 0 ? malloc(len) : NULL;
	if (x->uphead) {
		memcpy(x->uphead, big, len);
		x->uphead_len = len;
	}
	OPENSSL_cleanse(big, rc == 0 ? len : HTTP_MAX_HEAD);
	free(big);
	if (rc < 0) {
		bad_request(c, reason);
		return -1;
	}
	if (!x->uphead) {
		kp_conn_close(c, "out of memory");
		return -1;
	}
	if (req->chunked) {
		x->req_mode = KP_BODY_CHUNKED;
	} else if (req->content_length > 0) {
		x->req_mode = KP_BODY_LENGTH;
		x->req_left = (uint64_t)req->content_length;
	}
	x->head_request = strcmp(req->method, "HEAD") == 0;
	x->client_minor = req->version_minor;
	/* Idempotent (RFC 9110, 9.2.2) and wholly in uphead: it can be sent
	 * again when a reused upstream closed as it went out (conn.h). */
	x->retryable = x->req_mode == KP_BODY_NONE &&
		       (strcmp(req->method, "GET") == 0 || x->head_request ||
			strcmp(req->method, "OPTIONS") == 0);
	/* HTTP/1.0 keep-alive is a legacy extension not worth its corner
	 * cases: such clients get one request per connection. */
	c->keep_alive = req->keep_alive && req->version_minor == 1;
	return 0;
}

/* A request read inside an intercepted tunnel (see conn.h). */
static void mitm_request(struct kp_conn *c, const struct http_request *req, size_t head_len)
{
	struct kp_mitm *m = c->mitm;
	const char *reason = NULL;
	char authority[KN_HOST_BUFSZ + 16];

	struct kp_request *rq = request_new(c);
	if (!rq)
		return;
	snprintf(rq->host, sizeof(rq->host), "%s", m->host);
	c->rec.intercepted = true;
	c->rec.port = m->port;
	c->rec.host = strdup(m->host);
	c->rec.has_addr = true;
	c->rec.addr = m->addr;

	bool origin_form = req->target_len > 0 && req->target[0] == '/';
	bool asterisk = req->target_len == 1 && req->target[0] == '*' &&
			strcmp(req->method, "OPTIONS") == 0;
	if (strcmp(req->method, "CONNECT") == 0) {
		bad_request(c, "CONNECT inside an intercepted tunnel");
		return;
	}
	if (!origin_form && !asterisk) {
		bad_request(c, "a request inside a TLS tunnel must have an origin-form target");
		return;
	}
	bool v6 = kn_host_kind(m->host) == KN_HOST_IPV6;
	int alen = snprintf(authority, sizeof(authority), v6 ? "[%s]:%u" : "%s:%u", m->host,
			    m->port);
	struct kp_target t = {
		.host = m->host,
		.host_len = strlen(m->host),
		.port = m->port,
		.authority = req->host ? req->host : authority,
		.authority_len = req->host ? req->host_len : (size_t)alen,
		.path = req->target,
		.path_len = req->target_len,
	};
	if (kp_host_agrees_port(&t, req->host, req->host_len, 443, &reason) < 0) {
		char text[KN_HOST_BUFSZ + 128];
		snprintf(text, sizeof(text), "the Host header does not name %s, the host this "
			 "tunnel was opened for", authority);
		kp_conn_reply(c, 421, KP_DECISION_ERROR, text, NULL, "Host differs from CONNECT");
		return;
	}

	struct kn_decision d;
	char canon[KN_HOST_BUFSZ];
	bool allowed = kp_decide_host(&rq->policy->policy, m->host, strlen(m->host), m->port,
				      canon, &d);
	record_rule(c, d.rule);
	if (!allowed) {
		kp_conn_reply(c, 403, KP_DECISION_BLOCK, "blocked by policy", d.rule, NULL);
		return;
	}
	/* The upstream's certificate was verified before the tunnel opened and
	 * the policy allowed this request: only now may a secret go out. */
	struct kp_inject inject[KP_INJECT_MAX];
	struct kp_rewrite_opts opts = {
		.persistent = true,
		.websocket = kp_wants_websocket(req),
		.set = inject,
	};
	opts.n_set = kp_secrets_match(c->w->secrets, c->sb->name, m->host, m->port, inject);
	record_secrets(c, inject, opts.n_set);
	if (prepare_exchange(c, req, &t, &opts) < 0)
		return;
	c->rq->ex.websocket = opts.websocket;
	kp_buf_consume(&c->in, head_len); /* req points into it: unused from here */
	if (!c->mitm->up_ssl) {
		kp_conn_reply(c, 502, KP_DECISION_ERROR, "bad gateway: upstream connection lost",
			      NULL, "upstream connection lost");
		return;
	}
	c->rec.decision = KP_DECISION_ALLOW;
	c->last_active_ms = c->w->loop.now_ms;
	arm(c, c->w->opt->idle_timeout_ms);
	kp_forward_start(c);
}

bool kp_kept_expired(const struct kp_kept_upstream *k, uint64_t now_ms)
{
	return now_ms - k->idle_since_ms >= KP_UPSTREAM_REUSE_IDLE_MS;
}

bool kp_kept_allowed(const struct kp_kept_upstream *k, const struct kn_policy *policy)
{
	struct kp_candidates one = { .n = 1, .addr = { k->addr } }, allowed;
	struct kn_decision block;
	return kp_filter_candidates(policy, &one, &allowed, &block) > 0;
}

/* Forward the request on `upstream`, an existing connection to `k`. */
static void use_kept(struct kp_conn *c, const struct kp_kept_upstream *k)
{
	struct kp_request *rq = c->rq;

	rq->dial.port = k->port;
	rq->dial.addr = k->addr;
	rq->ex.reused = true;
	connected(c);
}

/* The kept upstream serves this allowed plain request when it was opened for
 * the same canonical host and port, its address still passes the policy in
 * force and it is not too old (conn.h): forward on it now. false: the caller
 * closes it and goes the usual way (which refuses an address now blocked). */
static bool reuse_upstream(struct kp_conn *c)
{
	struct kp_request *rq = c->rq;
	const struct kp_kept_upstream *k = c->kept;

	if (!k || c->upstream.fd < 0 || k->port != c->rec.port || strcmp(k->host, rq->host) != 0 ||
	    kp_kept_expired(k, c->w->loop.now_ms) || !kp_kept_allowed(k, &rq->policy->policy))
		return false;
	use_kept(c, k);
	return true;
}

/* No kept upstream for this allowed plain request: one from the worker's
 * pool, left by an earlier client connection of this sandbox for the same
 * canonical host and port, its address still allowed (pool.h), used as
 * reuse_upstream uses the connection's own. */
static bool take_pooled(struct kp_conn *c)
{
	struct kp_request *rq = c->rq;
	struct kp_kept_upstream k;

	kp_watch_init(&c->upstream, -1, upstream_ready);
	if (kp_pool_take(c->w, c->sb, rq->host, c->rec.port, &rq->policy->policy, &k, &c->upstream) < 0)
		return false;
	log_debug("sandbox %s: a pooled upstream to %s port %u serves this %s", c->sb->name,
		  rq->host, k.port, c->rec.method);
	/* Without memory for the record it serves this request and is not kept. */
	if ((c->kept = malloc(sizeof(*c->kept))))
		*c->kept = k;
	use_kept(c, &k);
	return true;
}

bool kp_conn_retry_upstream(struct kp_conn *c)
{
	struct kp_request *rq = c->rq;
	struct kp_exchange *x = rq ? &rq->ex : NULL;

	if (!x || rq->is_connect || !x->reused || !x->retryable || x->up_answered ||
	    x->client_started)
		return false;
	log_debug("sandbox %s: the kept upstream to %s port %u closed as a %s went out on it; "
		  "sending it again on a new connection", c->sb->name, rq->host, c->rec.port,
		  c->rec.method);
	upstream_close(c);
	kp_exchange_rewind(x);
	c->rec.has_addr = false;
	open_upstream(c);
	return true;
}

/* Everything that depends on the head happens here, while the head's bytes
 * are still in c->in; they are consumed once the decision needs them no more. */
static void start_request(struct kp_conn *c, const struct http_request *req, size_t head_len)
{
	struct kp_target t;
	const char *reason = NULL;

	if (c->mitm) {
		mitm_request(c, req, head_len);
		return;
	}
	struct kp_request *rq = request_new(c);
	if (!rq)
		return;

	if (strcmp(req->method, "CONNECT") == 0) {
		rq->is_connect = true;
		c->keep_alive = false;
		if (kp_target_connect(req->target, req->target_len, &t, &reason) < 0) {
			bad_request(c, reason);
			return;
		}
		if (req->content_length > 0 || req->chunked) {
			bad_request(c, "CONNECT request with a body");
			return;
		}
	} else {
		if (kp_target_absolute(req->target, req->target_len, &t, &reason) < 0 ||
		    kp_host_agrees(&t, req->host, req->host_len, &reason) < 0) {
			bad_request(c, reason);
			return;
		}
		/* Never "Connection: close" upstream, even when the client asked
		 * for it: the upstream connection may serve this client's next
		 * request, or another client connection of this sandbox from the
		 * worker's pool (see the top of conn.h). Never secrets in clear. */
		struct kp_rewrite_opts opts = { .persistent = true, .outlives_client = true };
		if (prepare_exchange(c, req, &t, &opts) < 0)
			return;
	}
	c->rec.port = t.port;

	struct kn_decision d;
	bool allowed = kp_decide_host(&rq->policy->policy, t.host, t.host_len, t.port, rq->host, &d);
	size_t raw_len = t.host_len < KN_HOST_NAME_MAX ? t.host_len : KN_HOST_NAME_MAX;
	c->rec.host = rq->host[0] ? strdup(rq->host) : strndup(t.host, raw_len);
	record_rule(c, d.rule);
	kp_buf_consume(&c->in, head_len); /* t and req point into it: unused from here */
	if (!allowed) {
		kp_conn_reply(c, 403, KP_DECISION_BLOCK, "blocked by policy", d.rule, NULL);
		return;
	}
	if (!rq->is_connect && reuse_upstream(c))
		return;
	upstream_close(c); /* a kept upstream that is not this request's */
	if (!rq->is_connect && take_pooled(c))
		return;
	open_upstream(c);
}

/* The usual way to the request's upstream: its literal address, the hosts
 * override or a lookup, then the candidates' check and the dial. */
static void open_upstream(struct kp_conn *c)
{
	struct kp_worker *w = c->w;
	struct kp_request *rq = c->rq;

	rq->connect_deadline_ms = w->loop.now_ms + w->opt->connect_timeout_ms;
	arm(c, w->opt->connect_timeout_ms);
	struct kp_candidates cands = { 0 };
	if (kp_literal_candidates(rq->host, &cands)) {
		have_candidates(c, &cands);
		return;
	}
	cands.n = kp_hosts_lookup(w->hosts, rq->host, cands.addr, KP_MAX_CANDIDATES);
	if (cands.n) {
		have_candidates(c, &cands);
		return;
	}
	struct kp_resolve_job *job = calloc(1, sizeof(*job));
	if (!job) {
		kp_conn_close(c, "out of memory");
		return;
	}
	snprintf(job->host, sizeof(job->host), "%s", rq->host);
	job->owner = c;
	if (kp_resolver_submit(&w->resolver, job) < 0) {
		free(job);
		kp_conn_reply(c, 503, KP_DECISION_ERROR, "too many name lookups in progress", NULL,
			      "resolver queue full");
		return;
	}
	rq->job = job;
	c->state = KP_CONN_RESOLVE;
	kp_conn_update_interest(c);
}

static void process_head(struct kp_conn *c)
{
	struct http_request req;
	const char *reason = NULL;

	ssize_t r = http_parse_request_head(c->in.data, c->in.len, &req, &reason);
	if (r == 0)
		return;
	record_begin(c, req.method);
	if (r < 0) {
		bad_request(c, reason ? reason : "malformed request");
		return;
	}
	start_request(c, &req, (size_t)r);
}

static void head_readable(struct kp_conn *c)
{
	for (int round = 0; round < KP_PUMP_ROUNDS; round++) {
		bool oom;
		size_t room = kp_buf_reserve(&c->in, KP_IO_BUF, HTTP_MAX_HEAD + 1, &oom);
		if (oom) {
			kp_conn_close(c, "out of memory");
			return;
		}
		if (room == 0) {
			/* HTTP_MAX_HEAD + 1 bytes without a complete head: the
			 * parser refuses it. */
			process_head(c);
			return;
		}
		uint32_t wait = 0;
		const char *why = NULL;
		ssize_t n = kp_io_recv(c->client.fd, kp_conn_client_ssl(c), c->in.data + c->in.len,
				       room, &wait, &why);
		if (n == 0) {
			if (c->in.len)
				log_debug("sandbox %s: client closed in the middle of a request head",
					  c->sb->name);
			else
				park_upstream(c); /* gone after a complete exchange */
			kp_conn_close(c, NULL);
			return;
		}
		if (n == KP_IO_WAIT) {
			if (c->in.len == 0)
				kp_buf_free(&c->in);
			if (wait != c->client_wait) {
				c->client_wait = wait;
				kp_conn_update_interest(c);
			}
			return;
		}
		if (n < 0) {
			kp_conn_close(c, NULL);
			return;
		}
		size_t old = c->in.len;
		c->in.len += (size_t)n;
		if (!c->head_started) {
			c->head_started = true;
			arm(c, c->w->opt->header_timeout_ms);
		}
		if (memchr(c->in.data + old, '\n', (size_t)n)) {
			process_head(c);
			return;
		}
	}
}

void kp_conn_exchange_done(struct kp_conn *c, bool keep_client, bool keep_upstream)
{
	record_write(c);
	request_free(c);
	if (keep_upstream && c->kept)
		c->kept->idle_since_ms = c->w->loop.now_ms;
	/* An intercepted tunnel has no other upstream to go to. */
	if (!keep_client || !c->keep_alive || (c->mitm && !keep_upstream)) {
		if (keep_upstream)
			park_upstream(c); /* closes it inside a tunnel */
		else
			upstream_close(c);
		finish_client(c);
		return;
	}
	if (!c->mitm && !keep_upstream)
		upstream_close(c);
	enter_head(c);
}

/* Wait for (or parse) the next request head on a kept connection. */
static void enter_head(struct kp_conn *c)
{
	c->state = KP_CONN_HEAD;
	c->client_wait = EPOLLIN;
	c->head_started = c->in.len > 0;
	arm(c, c->head_started ? c->w->opt->header_timeout_ms : c->w->opt->keepalive_timeout_ms);
	kp_conn_update_interest(c);
	if (c->in.len && memchr(c->in.data, '\n', c->in.len))
		process_head(c);
}

/* ---- events ---- */

void kp_conn_intercepted(struct kp_conn *c)
{
	c->rec.status = 200;
	c->rec.intercepted = true;
	record_write(c);
	c->keep_alive = true;
	enter_head(c);
}

void kp_conn_run_kicks(struct kp_worker *w)
{
	/* Detach the list: a connection kicked again while it runs goes on the
	 * next batch's list. */
	struct kp_conn *list = w->kicks;
	w->kicks = NULL;
	for (struct kp_conn *c = list; c; c = c->kick_next)
		c->kicked = false;
	while (list) {
		struct kp_conn *c = list;
		list = c->kick_next;
		if (list)
			list->kick_prev = NULL;
		c->kick_prev = c->kick_next = NULL;
		if (c->state == KP_CONN_DEAD)
			continue;
		if (kp_io_pending(kp_conn_client_ssl(c)))
			client_ready(&c->client, EPOLLIN);
		if (c->state != KP_CONN_DEAD && kp_io_pending(kp_conn_up_ssl(c)))
			upstream_ready(&c->upstream, EPOLLIN);
	}
}

static void client_ready(struct kp_watch *w, uint32_t events)
{
	struct kp_conn *c = container_of(w, struct kp_conn, client);

	switch (c->state) {
	case KP_CONN_HEAD:
		head_readable(c);
		return;
	case KP_CONN_TLS_UP:
	case KP_CONN_TLS_CLIENT:
		kp_intercept_event(c);
		return;
	case KP_CONN_RESOLVE:
	case KP_CONN_DIAL:
		/* Only EPOLLHUP/EPOLLERR arrive here: nothing else is polled. */
		kp_conn_close(c, "client went away before the upstream connection");
		return;
	case KP_CONN_TUNNEL:
		kp_tunnel_event(c, true, events);
		return;
	case KP_CONN_FORWARD:
		if ((events & (EPOLLERR | EPOLLHUP)) && !(w->events & (EPOLLIN | EPOLLOUT))) {
			kp_conn_close(c, "client went away");
			return;
		}
		kp_forward_event(c);
		return;
	case KP_CONN_REPLY:
		reply_writable(c);
		return;
	case KP_CONN_LINGER:
		linger_readable(c);
		return;
	case KP_CONN_DEAD:
		return;
	}
}

/* A kept upstream stirred between requests. A TLS record that carries no
 * data (a session ticket, a key update) changes nothing; an end, an error or
 * bytes nobody asked for mean it cannot carry another request. In an
 * intercepted tunnel that ends the tunnel, as the server ending its side of a
 * direct connection would: the client sees its idle connection close and
 * opens a new one, rather than sending its next request into a connection
 * that can only answer 502. In clear only the upstream is closed: the
 * client's next request dials a new one. */
static void idle_upstream_readable(struct kp_conn *c)
{
	char sink[256];
	uint32_t wait = 0;
	const char *why = NULL;
	ssize_t n = kp_io_recv(c->upstream.fd, kp_conn_up_ssl(c), sink, sizeof(sink), &wait, &why);
	if (n == KP_IO_WAIT)
		return;
	const char *what = n == 0 ? "closed" : n > 0 ? "sent unrequested bytes" : "failed";
	if (c->mitm) {
		log_debug("sandbox %s: the upstream of an idle tunnel to %s %s", c->sb->name,
			  c->mitm->host, what);
		kp_conn_close(c, NULL);
		return;
	}
	log_debug("sandbox %s: the kept upstream to %s port %u %s while idle: dropped", c->sb->name,
		  c->kept ? c->kept->host : "-", c->kept ? c->kept->port : 0, what);
	upstream_close(c);
}

static void upstream_ready(struct kp_watch *w, uint32_t events)
{
	struct kp_conn *c = container_of(w, struct kp_conn, upstream);

	switch (c->state) {
	case KP_CONN_HEAD:
		idle_upstream_readable(c);
		return;
	case KP_CONN_DIAL:
		dial_writable(c);
		return;
	case KP_CONN_TLS_UP:
	case KP_CONN_TLS_CLIENT:
		kp_intercept_event(c);
		return;
	case KP_CONN_TUNNEL:
		kp_tunnel_event(c, false, events);
		return;
	case KP_CONN_FORWARD:
		if ((events & (EPOLLERR | EPOLLHUP)) && !(w->events & (EPOLLIN | EPOLLOUT))) {
			if (kp_conn_retry_upstream(c))
				return;
			if (c->rq->ex.client_started)
				kp_conn_close(c, "upstream connection lost");
			else
				kp_conn_reply(c, 502, KP_DECISION_ERROR,
					      "bad gateway: upstream connection lost", NULL,
					      "upstream connection lost");
			return;
		}
		kp_forward_event(c);
		return;
	default:
		return;
	}
}

static void timer_fired(struct kp_timer *t)
{
	struct kp_conn *c = container_of(t, struct kp_conn, timer);
	const struct kp_options *opt = c->w->opt;
	uint64_t now = c->w->loop.now_ms;

	switch (c->state) {
	case KP_CONN_HEAD:
		if (c->head_started)
			log_info("sandbox %s: no complete request head within %llu ms, closing",
				 c->sb->name, (unsigned long long)opt->header_timeout_ms);
		kp_conn_close(c, NULL);
		return;
	case KP_CONN_RESOLVE:
	case KP_CONN_DIAL: {
		struct kp_request *rq = c->rq;
		if (c->state == KP_CONN_DIAL && now < rq->connect_deadline_ms &&
		    rq->dial.next < rq->dial.allowed.n) {
			/* This candidate is silent: try the next one. */
			upstream_close(c);
			rq->dial.last_errno = ETIMEDOUT;
			dial_next(c);
			return;
		}
		char text[KN_HOST_BUFSZ + 128];
		snprintf(text, sizeof(text), "connecting to %s port %u timed out after %llu ms",
			 c->rq->host, c->rec.port, (unsigned long long)opt->connect_timeout_ms);
		kp_conn_reply(c, 504, KP_DECISION_ERROR, text, NULL, "connect timeout");
		return;
	}
	case KP_CONN_TLS_UP:
	case KP_CONN_TLS_CLIENT: {
		char text[KN_HOST_BUFSZ + 128];
		snprintf(text, sizeof(text), "TLS handshake with %s timed out after %llu ms",
			 c->mitm->host, (unsigned long long)opt->connect_timeout_ms);
		if (c->state == KP_CONN_TLS_UP)
			kp_conn_reply(c, 504, KP_DECISION_ERROR, text, NULL, "TLS handshake timeout");
		else
			kp_conn_close(c, "client TLS handshake timeout");
		return;
	}
	case KP_CONN_TUNNEL:
	case KP_CONN_FORWARD:
		if (now - c->last_active_ms < opt->idle_timeout_ms) {
			arm(c, c->last_active_ms + opt->idle_timeout_ms - now);
			return;
		}
		if (c->state == KP_CONN_FORWARD && !c->rq->ex.client_started) {
			kp_conn_reply(c, 504, KP_DECISION_ERROR,
				      "upstream did not answer in time", NULL, "idle timeout");
			return;
		}
		kp_conn_close(c, "idle timeout");
		return;
	case KP_CONN_REPLY:
	case KP_CONN_LINGER:
		kp_conn_close(c, NULL);
		return;
	case KP_CONN_DEAD:
		return;
	}
}

void kp_conn_accept(struct kp_sandbox *sb, int fd)
{
	struct kp_worker *w = sb->w;

	struct kp_conn *c = calloc(1, sizeof(*c));
	/* One timer per connection, and one for the upstream pool (pool.h). */
	if (!c || kp_timers_reserve(&w->loop.timers, w->nconns + 2) < 0) {
		log_error("sandbox %s: out of memory for a new connection", sb->name);
		free(c);
		close(fd);
		return;
	}
	c->w = w;
	c->sb = sb;
	kp_watch_init(&c->client, fd, client_ready);
	kp_watch_init(&c->upstream, -1, upstream_ready);
	kp_timer_init(&c->timer, timer_fired);
	c->state = KP_CONN_HEAD;
	c->client_wait = EPOLLIN;
	c->head_started = true;
	c->last_active_ms = w->loop.now_ms;

	c->sb_next = sb->conns;
	if (sb->conns)
		sb->conns->sb_prev = c;
	sb->conns = c;
	sb->nconns++;
	w->nconns++;
	kp_worker_count(w, sb->slot, +1);

	/* TCP_NODELAY comes from the listener (master.c sets it there). */
	arm(c, w->opt->header_timeout_ms);
	kp_conn_update_interest(c);
}
