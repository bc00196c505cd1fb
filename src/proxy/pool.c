/* pool.c — idle plain-HTTP upstream connections shared by a worker's client
 * connections of one sandbox (contract: pool.h). */
#define _GNU_SOURCE
#include "proxy/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/conn.h"
#include "proxy/limits.h"
#include "proxy/sandboxes.h"
#include "proxy/worker.h"

struct kp_pool_entry {
	struct kp_watch watch;
	struct kp_worker *w;
	struct kp_pool_entry *prev, *next; /* newer, older */
	struct kp_pool_entry *dead_next;
	int slot;
	char sandbox[KP_SANDBOX_NAME_MAX + 1];
	struct kp_kept_upstream kept;
};

static void timer_fired(struct kp_timer *t);

void kp_pool_init(struct kp_pool *p)
{
	memset(p, 0, sizeof(*p));
	kp_timer_init(&p->timer, timer_fired);
}

/* The timer follows the oldest entry: the list is kept in idle order, so
 * that is the tail. */
static void rearm(struct kp_worker *w)
{
	struct kp_pool *p = &w->pool;

	if (!p->tail) {
		kp_loop_disarm(&w->loop, &p->timer);
		return;
	}
	uint64_t end = p->tail->kept.idle_since_ms + KP_UPSTREAM_REUSE_IDLE_MS;
	/* Never fails: kp_pool_put reserved its heap slot. */
	kp_loop_arm(&w->loop, &p->timer, end > w->loop.now_ms ? end - w->loop.now_ms : 0);
}

static void unlink_entry(struct kp_pool *p, struct kp_pool_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		p->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		p->tail = e->prev;
	e->prev = e->next = NULL;
	p->n--;
}

/* Unlinked, its socket closed or handed on (kp_pool_take) beforehand;
 * freed after the batch. */
static void retire(struct kp_worker *w, struct kp_pool_entry *e)
{
	unlink_entry(&w->pool, e);
	kp_watch_close(&w->loop, &e->watch);
	e->dead_next = w->pool.graveyard;
	w->pool.graveyard = e;
}

/* Closing one gives a descriptor back: a worker that stopped accepting for
 * the budget may resume. */
static void drop(struct kp_worker *w, struct kp_pool_entry *e, const char *why)
{
	log_debug("sandbox %s: pooled upstream to %s port %u %s: closed", e->sandbox, e->kept.host,
		  e->kept.port, why);
	retire(w, e);
	kp_worker_conn_gone(w);
}

static void entry_ready(struct kp_watch *ew, uint32_t events)
{
	struct kp_pool_entry *e = container_of(ew, struct kp_pool_entry, watch);
	char probe;
	/* An EPOLLIN fetched for the connection that pooled it, before it read
	 * its response, is handed on with the fd (loop.h): nothing is there. */
	if (!(events & (EPOLLERR | EPOLLHUP)) &&
	    recv(ew->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	/* Nothing may arrive on an idle HTTP connection: input, an end or an
	 * error all mean it can carry no other request. */
	drop(e->w, e, "stirred while idle");
	rearm(e->w);
}

static void timer_fired(struct kp_timer *t)
{
	struct kp_pool *p = container_of(t, struct kp_pool, timer);
	struct kp_worker *w = container_of(p, struct kp_worker, pool);

	while (p->tail && kp_kept_expired(&p->tail->kept, w->loop.now_ms))
		drop(w, p->tail, "idle too long");
	rearm(w);
}

void kp_pool_put(struct kp_worker *w, const struct kp_sandbox *sb, struct kp_watch *from,
		 const struct kp_kept_upstream *k)
{
	struct kp_pool *p = &w->pool;
	kn_error err;

	if (kp_kept_expired(k, w->loop.now_ms)) {
		kp_watch_close(&w->loop, from);
		return;
	}
	if (p->n >= KP_UPSTREAM_POOL_MAX)
		drop(w, p->tail, "pool full");
	struct kp_pool_entry *e = NULL;
	if (!kp_worker_pooled_fits(w) || kp_timers_reserve(&w->loop.timers, w->loop.timers.n + 1) < 0 ||
	    !(e = calloc(1, sizeof(*e)))) {
		kp_watch_close(&w->loop, from);
		return;
	}
	e->w = w;
	e->slot = sb->slot;
	snprintf(e->sandbox, sizeof(e->sandbox), "%s", sb->name);
	e->kept = *k;
	kp_watch_init(&e->watch, -1, entry_ready);
	if (kp_watch_move(&w->loop, from, &e->watch, EPOLLIN, &err) < 0) {
		log_error("sandbox %s: %s", sb->name, err.msg);
		kp_watch_close(&w->loop, &e->watch);
		free(e);
		return;
	}
	/* Newest first, by idle time: usually at the head (it went idle just
	 * now), further back when its client left a while after its exchange. */
	struct kp_pool_entry *after = NULL, *before = p->head;
	while (before && before->kept.idle_since_ms > k->idle_since_ms) {
		after = before;
		before = before->next;
	}
	e->prev = after;
	e->next = before;
	if (after)
		after->next = e;
	else
		p->head = e;
	if (before)
		before->prev = e;
	else
		p->tail = e;
	p->n++;
	if (p->tail == e)
		rearm(w);
}

int kp_pool_take(struct kp_worker *w, const struct kp_sandbox *sb, const char *host,
		 uint16_t port, const struct kn_policy *policy, struct kp_kept_upstream *out,
		 struct kp_watch *into)
{
	struct kp_pool_entry *e = w->pool.head, *next;

	for (; e; e = next) {
		next = e->next;
		if (e->slot != sb->slot || e->kept.port != port || strcmp(e->kept.host, host) != 0 ||
		    strcmp(e->sandbox, sb->name) != 0)
			continue;
		if (kp_kept_expired(&e->kept, w->loop.now_ms)) {
			drop(w, e, "idle too long");
			continue;
		}
		if (!kp_kept_allowed(&e->kept, policy)) {
			drop(w, e, "to an address the policy now blocks");
			continue;
		}
		kn_error err;
		/* Interest EPOLLIN: what a connection waits for once it has
		 * sent its request, so usually no second epoll_ctl. */
		if (kp_watch_move(&w->loop, &e->watch, into, EPOLLIN, &err) < 0) {
			log_error("sandbox %s: pooled upstream: %s", sb->name, err.msg);
			kp_watch_close(&w->loop, into);
			retire(w, e);
			kp_worker_conn_gone(w);
			continue;
		}
		*out = e->kept;
		retire(w, e);
		rearm(w);
		return into->fd;
	}
	rearm(w);
	return -1;
}

void kp_pool_drop_sandbox(struct kp_worker *w, const struct kp_sandbox *sb)
{
	struct kp_pool_entry *e = w->pool.head, *next;

	for (; e; e = next) {
		next = e->next;
		if (e->slot == sb->slot && strcmp(e->sandbox, sb->name) == 0)
			drop(w, e, "of a removed sandbox");
	}
	rearm(w);
}

bool kp_pool_evict_oldest(struct kp_worker *w)
{
	if (!w->pool.tail)
		return false;
	retire(w, w->pool.tail);
	rearm(w);
	return true;
}

void kp_pool_reap(struct kp_worker *w)
{
	while (w->pool.graveyard) {
		struct kp_pool_entry *e = w->pool.graveyard;
		w->pool.graveyard = e->dead_next;
		free(e);
	}
}
