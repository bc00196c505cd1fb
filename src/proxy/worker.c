/* worker.c — a worker process: command handling, the decision-line queue,
 * the descriptor budget and the loop (contract: worker.h). */
#define _GNU_SOURCE
#include "proxy/worker.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/log.h"
#include "common/util.h"
#include "proxy/conn.h"
#include "proxy/control.h"
#include "proxy/limits.h"
#include "proxy/sandbox_filter.h"
#include "proxy/sandboxes.h"

/* ---- descriptor budget ---- */

static size_t budget(const struct kp_worker *w)
{
	size_t reserved = KP_FD_RESERVE + w->nlisteners;
	return w->fd_limit > reserved ? w->fd_limit - reserved : 0;
}

/* Descriptors in use with one more connection, pipes counted at least at
 * their reserve. */
static size_t with_next_conn(const struct kp_worker *w)
{
	size_t pipes = w->npipes > KP_PIPES_MIN ? w->npipes : KP_PIPES_MIN;
	return 2 * (w->nconns + 1) + 2 * pipes + w->pool.n;
}

bool kp_worker_conn_fits(const struct kp_worker *w)
{
	return with_next_conn(w) <= budget(w);
}

bool kp_worker_pipe_fits(const struct kp_worker *w)
{
	return 2 * w->nconns + 2 * (w->npipes + 1) + w->pool.n <= budget(w);
}

bool kp_worker_pooled_fits(const struct kp_worker *w)
{
	return with_next_conn(w) + 1 <= budget(w);
}

void kp_worker_pause_accept(struct kp_worker *w)
{
	if (!w->accepting)
		return;
	/* Idle pooled upstreams give their descriptors to clients first (not
	 * when the budget fits and accept4 still failed: EMFILE, ENFILE). */
	bool evicted = false;
	while (!kp_worker_conn_fits(w) && kp_pool_evict_oldest(w))
		evicted = true;
	if (evicted && kp_worker_conn_fits(w))
		return;
	w->accepting = false;
	kp_sandboxes_listen(w, false);
	log_warn("worker %d: descriptor budget full (%zu connections, %zu pipes, limit %zu fds): "
		 "leaving new connections to the other workers",
		 w->index, w->nconns, w->npipes, w->fd_limit);
}

void kp_worker_conn_gone(struct kp_worker *w)
{
	if (w->accepting || !kp_worker_conn_fits(w))
		return;
	w->accepting = true;
	kp_sandboxes_listen(w, true);
	log_info("worker %d: accepting again (%zu connections)", w->index, w->nconns);
}

/* ---- per-sandbox counts ---- */

uint32_t kp_worker_sandbox_conns(const struct kp_worker *w, int slot)
{
	uint32_t total = 0;

	for (int i = 0; i < w->nworkers; i++)
		total += __atomic_load_n(&w->counts[(size_t)i * KP_MAX_SANDBOXES + (size_t)slot],
					 __ATOMIC_RELAXED);
	return total;
}

uint32_t kp_worker_own_conns(const struct kp_worker *w, int slot)
{
	return w->counts[(size_t)w->index * KP_MAX_SANDBOXES + (size_t)slot];
}

void kp_worker_count(struct kp_worker *w, int slot, int delta)
{
	uint32_t *cell = &w->counts[(size_t)w->index * KP_MAX_SANDBOXES + (size_t)slot];
	/* This worker is the only writer of its row. */
	__atomic_store_n(cell, *cell + (uint32_t)delta, __ATOMIC_RELAXED);
}

/* ---- decision lines to the master ---- */

static void log_interest(struct kp_worker *w)
{
	kn_error err;
	if (kp_watch_set(&w->loop, &w->logw, w->logq_len ? EPOLLOUT : 0, 0, &err) < 0)
		log_error("worker %d: %s", w->index, err.msg);
}

static void log_dropped(struct kp_worker *w, size_t n)
{
	uint64_t before = w->log_dropped;
	w->log_dropped += n;
	/* At each power of two passed: the first drop is reported at once, a
	 * flood is not (a lost batch counts all its lines). */
	if (n && (before == 0 || __builtin_clzll(before) != __builtin_clzll(w->log_dropped)))
		log_error("worker %d: the master is not taking decision lines: %llu dropped",
			  w->index, (unsigned long long)w->log_dropped);
}

/* Lines in a batch: what a lost batch costs the log. */
static size_t lines_in(const char *batch, size_t len)
{
	size_t n = 0;
	for (const char *p = batch; (p = memchr(p, '\n', len - (size_t)(p - batch))); p++)
		n++;
	return n;
}

/* One batch to the master now, or into the queue when it is slow. */
static void log_send(struct kp_worker *w, const char *batch, size_t len)
{
	if (w->logq_len == 0) {
		ssize_t n = send(w->logw.fd, batch, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == (ssize_t)len)
			return;
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			log_dropped(w, lines_in(batch, len));
			return;
		}
	}
	if (w->logq_len + 2 + len > KP_LOG_QUEUE_MAX) {
		log_dropped(w, lines_in(batch, len));
		return;
	}
	if (w->logq_len + 2 + len > w->logq_cap) {
		size_t cap = w->logq_cap ? w->logq_cap : 65536;
		while (cap < w->logq_len + 2 + len)
			cap *= 2;
		char *q = realloc(w->logq, cap);
		if (!q) {
			log_dropped(w, lines_in(batch, len));
			return;
		}
		w->logq = q;
		w->logq_cap = cap;
	}
	w->logq[w->logq_len] = (char)(len >> 8);
	w->logq[w->logq_len + 1] = (char)(len & 0xff);
	memcpy(w->logq + w->logq_len + 2, batch, len);
	w->logq_len += 2 + len;
	log_interest(w);
}

/* The lines gathered so far to the master: when the loop goes idle, when
 * the batch is full, or once its first line is KP_LOG_DEFER_MS old. */
static void log_flush(struct kp_worker *w)
{
	if (w->log_batch_len)
		log_send(w, w->log_batch, w->log_batch_len);
	w->log_batch_len = 0;
}

void kp_worker_log_line(struct kp_worker *w, const char *line, size_t len)
{
	if (w->log_batch_len + len + 1 > KP_LOG_BATCH_MAX)
		log_flush(w);
	if (len + 1 > KP_LOG_BATCH_MAX) {
		log_dropped(w, 1);
		return;
	}
	if (w->log_batch_len == 0)
		w->log_batch_since_ms = w->loop.now_ms;
	memcpy(w->log_batch + w->log_batch_len, line, len);
	w->log_batch[w->log_batch_len + len] = '\n';
	w->log_batch_len += len + 1;
}

static void log_writable(struct kp_watch *lw, uint32_t events)
{
	struct kp_worker *w = container_of(lw, struct kp_worker, logw);
	size_t off = 0;

	while (off < w->logq_len) {
		size_t len = ((size_t)(unsigned char)w->logq[off] << 8) |
			     (unsigned char)w->logq[off + 1];
		ssize_t n = send(lw->fd, w->logq + off + 2, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			log_error("worker %d: send to the master: %s", w->index, strerror(errno));
			log_dropped(w, lines_in(w->logq + off + 2, len));
		}
		off += 2 + len;
	}
	memmove(w->logq, w->logq + off, w->logq_len - off);
	w->logq_len -= off;
	log_interest(w);
}

/* ---- commands from the master ---- */

static void reply(struct kp_worker *w, bool ok, const char *error)
{
	char *text = kp_reply_text(ok, error);
	if (!text || send(w->cmd.fd, text, strlen(text), MSG_NOSIGNAL) < 0)
		log_error("worker %d: cannot answer the master: %s", w->index,
			  text ? strerror(errno) : "out of memory");
	free(text);
}

static void command_ready(struct kp_watch *cw, uint32_t events)
{
	struct kp_worker *w = container_of(cw, struct kp_worker, cmd);
	static char buf[KP_CONTROL_MSG_MAX + 1];
	int fds[KN_MAX_PASS_FDS];
	size_t n_fds = 0;
	kn_error err;

	ssize_t n = kn_recv_fds(cw->fd, buf, sizeof(buf), fds, KN_MAX_PASS_FDS, &n_fds, &err);
	if (n == 0) {
		log_debug("worker %d: the master closed the command socket, exiting", w->index);
		/* The master takes what is sent before it reaps us. */
		log_flush(w);
		log_writable(&w->logw, 0);
		_exit(0);
	}
	if (n < 0) {
		log_error("worker %d: %s", w->index, err.msg);
		_exit(1);
	}
	struct kp_command cmd;
	int rc = kp_command_parse(buf, (size_t)n, n_fds, true, &cmd, &err);
	OPENSSL_cleanse(buf, (size_t)n); /* it may hold a CA key */
	if (rc == 0) {
		rc = kp_sandbox_apply(w, &cmd, fds, n_fds, &err);
		kp_command_free(&cmd);
	}
	for (size_t i = 0; i < n_fds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (rc < 0)
		log_error("worker %d: %s", w->index, err.msg);
	reply(w, rc == 0, rc == 0 ? NULL : err.msg);
}

static void resolver_ready(struct kp_watch *rw, uint32_t events)
{
	struct kp_worker *w = container_of(rw, struct kp_worker, resolver_w);
	struct kp_resolve_job *job = kp_resolver_take_done(&w->resolver);

	while (job) {
		struct kp_resolve_job *next = job->next;
		kp_conn_resolved(job);
		job = next;
	}
}

static void after_batch(void *arg)
{
	struct kp_worker *w = arg;
	kp_conn_run_kicks(w);
	kp_conn_reap(w);
	/* A removed sandbox's pooled upstreams go with it (pool.h). */
	for (struct kp_sandbox *sb = w->dead_sandboxes; sb; sb = sb->next)
		kp_pool_drop_sandbox(w, sb);
	kp_pool_reap(w);
	kp_sandboxes_reap(w);
	if (w->log_batch_len && w->loop.now_ms - w->log_batch_since_ms >= KP_LOG_DEFER_MS)
		log_flush(w);
}

static bool log_pending(void *arg)
{
	const struct kp_worker *w = arg;
	return w->log_batch_len > 0;
}

static void log_flush_idle(void *arg)
{
	log_flush(arg);
}

void kp_worker_main(const struct kp_options *opt, const struct kp_hosts *hosts,
		    struct kp_tls *tls, int index, int nworkers, uint32_t *counts, int cmd_fd,
		    int log_fd)
{
	static struct kp_worker worker;
	struct kp_worker *w = &worker;
	kn_error err;
	struct rlimit rl;

	w->opt = opt;
	w->hosts = hosts;
	w->tls = tls;
	w->index = index;
	w->nworkers = nworkers;
	w->counts = counts;
	w->accepting = true;
	kp_pool_init(&w->pool);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_error("worker %d: getrlimit RLIMIT_NOFILE: %s", index, strerror(errno));
		_exit(1);
	}
	w->fd_limit = rl.rlim_cur == RLIM_INFINITY ? 1048576 : (size_t)rl.rlim_cur;

	if (kp_filter_apply(KP_FILTER_WORKER, &err) < 0 || kp_loop_init(&w->loop, &err) < 0 ||
	    kp_resolver_start(&w->resolver, &err) < 0) {
		log_error("worker %d: %s", index, err.msg);
		_exit(1);
	}
	w->loop.after_batch = after_batch;
	w->loop.after_batch_arg = w;
	w->loop.idle_due = log_pending;
	w->loop.idle = log_flush_idle;
	w->loop.idle_arg = w;
	kp_watch_init(&w->cmd, cmd_fd, command_ready);
	kp_watch_init(&w->logw, log_fd, log_writable);
	kp_watch_init(&w->resolver_w, w->resolver.efd, resolver_ready);
	if (kp_watch_set(&w->loop, &w->cmd, EPOLLIN, 0, &err) < 0 ||
	    kp_watch_set(&w->loop, &w->logw, 0, 0, &err) < 0 ||
	    kp_watch_set(&w->loop, &w->resolver_w, EPOLLIN, 0, &err) < 0) {
		log_error("worker %d: %s", index, err.msg);
		_exit(1);
	}
	log_debug("worker %d: serving (fd limit %zu)", index, w->fd_limit);
	for (;;) {
		/* Kicked connections have bytes waiting inside TLS: poll, don't sleep. */
		if (kp_loop_run_once(&w->loop, w->kicks ? 0 : -1, &err) < 0) {
			log_error("worker %d: %s", index, err.msg);
			_exit(1);
		}
	}
}
