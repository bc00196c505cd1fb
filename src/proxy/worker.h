/* worker.h — one kennel-proxy worker process: its event loop, its share of
 * every sandbox's listeners, its connections and its descriptor budget.
 *
 * Contract: kp_worker_main runs in a child the master forked, never returns,
 * and exits when the master's command socket closes. It installs the worker
 * seccomp filter, starts the resolver threads, then serves: command messages
 * (control.h, from_master form) are applied and answered {"ok":...} in order;
 * decision lines go to the master over `log_fd`, gathered into one datagram
 * while the loop is busy (at most KP_LOG_BATCH_MAX bytes or KP_LOG_DEFER_MS
 * old) and sent when it goes idle, queued up to KP_LOG_QUEUE_MAX while the
 * master is slow.
 *
 * Descriptor budget: `fd_limit` (the soft RLIMIT_NOFILE) minus KP_FD_RESERVE
 * and the listeners is shared by connections (two sockets each, counted from
 * accept), pipes (two fds each) and pooled upstream connections (one each,
 * pool.h). A worker accepts only while a connection
 * and KP_PIPES_MIN pipes still fit; when full it stops polling the listeners
 * (the other workers, which poll the same sockets, take the connections) and
 * resumes when a connection closes. A pipe is created only when one fits. An
 * upstream connection is pooled only when a client connection still fits
 * after it, and before the worker stops accepting it closes pooled ones.
 *
 * Per-sandbox connection counts live in a table shared by all workers
 * (`counts`, one row per worker, one column per sandbox slot); each worker
 * writes only its own row. */
#ifndef KENNEL_PROXY_WORKER_H
#define KENNEL_PROXY_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/hosts.h"
#include "proxy/loop.h"
#include "proxy/options.h"
#include "proxy/pool.h"
#include "proxy/resolve.h"
#include "proxy/secrets.h"
#include "proxy/tls.h"

struct kp_conn;
struct kp_sandbox;

struct kp_pipe {
	int rd, wr;
	struct kp_pipe *next; /* in the pool */
};

struct kp_worker {
	const struct kp_options *opt;
	const struct kp_hosts *hosts;
	struct kp_tls *tls;
	int index, nworkers;
	uint32_t *counts; /* nworkers x KP_MAX_SANDBOXES, shared */

	struct kp_loop loop;
	struct kp_watch cmd;       /* master <-> worker commands and replies */
	struct kp_watch logw;      /* worker -> master decision lines */
	char log_batch[KP_LOG_BATCH_MAX]; /* lines not sent yet, each ending in '\n' */
	size_t log_batch_len;
	uint64_t log_batch_since_ms; /* when its first line came */
	char *logq;                /* batches the master did not take yet: 2-byte length + bytes each */
	size_t logq_len, logq_cap;
	uint64_t log_dropped;
	struct kp_resolver resolver;
	struct kp_watch resolver_w;

	struct kp_sandbox *sandboxes;
	struct kp_secrets *secrets; /* credentials to inject (secrets.h) */
	size_t nconns, npipes, nlisteners;
	size_t fd_limit;
	bool accepting;

	struct kp_pool pool;       /* idle upstream connections (pool.h) */
	struct kp_pipe *pipe_pool;
	size_t pipe_pool_n;
	struct kp_conn *pipe_wait_head, *pipe_wait_tail;
	struct kp_conn *graveyard; /* closed this batch, freed after it */
	struct kp_conn *kicks;     /* to run again after this batch (conn.h) */
	struct kp_sandbox *dead_sandboxes; /* removed this batch, likewise */

	uint64_t refused_full;     /* 503s for the per-sandbox limit */
	uint64_t last_refusal_report_ms;
};

void kp_worker_main(const struct kp_options *opt, const struct kp_hosts *hosts,
		    struct kp_tls *tls, int index, int nworkers, uint32_t *counts, int cmd_fd,
		    int log_fd) __attribute__((noreturn));

/* Budget questions (see the top). */
bool kp_worker_conn_fits(const struct kp_worker *w);
bool kp_worker_pipe_fits(const struct kp_worker *w);
bool kp_worker_pooled_fits(const struct kp_worker *w);
/* A connection closed: resume accepting if it was paused. */
void kp_worker_conn_gone(struct kp_worker *w);
void kp_worker_pause_accept(struct kp_worker *w);

/* Per-sandbox counts. */
uint32_t kp_worker_sandbox_conns(const struct kp_worker *w, int slot);
/* The part of them this worker holds. */
uint32_t kp_worker_own_conns(const struct kp_worker *w, int slot);
void kp_worker_count(struct kp_worker *w, int slot, int delta);

/* Send (or queue) one decision line. */
void kp_worker_log_line(struct kp_worker *w, const char *line, size_t len);

#endif
