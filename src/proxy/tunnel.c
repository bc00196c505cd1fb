/* tunnel.c — splice(2) tunnels and the worker's pipe pool (contract: tunnel.h). */
#define _GNU_SOURCE
#include "proxy/tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "proxy/conn.h"
#include "proxy/limits.h"
#include "proxy/reply.h"
#include "proxy/worker.h"

/* ---- pipe pool ---- */

static struct kp_pipe *pipe_get(struct kp_worker *w)
{
	struct kp_pipe *p = w->pipe_pool;

	if (p) {
		w->pipe_pool = p->next;
		w->pipe_pool_n--;
		return p;
	}
	if (!kp_worker_pipe_fits(w))
		return NULL;
	p = malloc(sizeof(*p));
	if (!p)
		return NULL;
	int fds[2];
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		/* The budget says it fits, so this is a system-wide limit
		 * (ENFILE, pipe-user-pages): wait like for a full budget. */
		log_warn("pipe2: %s", strerror(errno));
		free(p);
		return NULL;
	}
	p->rd = fds[0];
	p->wr = fds[1];
	if (fcntl(p->wr, F_SETPIPE_SZ, KP_PIPE_SIZE) < 0)
		log_debug("F_SETPIPE_SZ %d: %s (the pipe keeps its default size)", KP_PIPE_SIZE,
			  strerror(errno));
	w->npipes++;
	return p;
}

static void pipe_close(struct kp_worker *w, struct kp_pipe *p)
{
	close(p->rd);
	close(p->wr);
	free(p);
	w->npipes--;
}

/* A pipe (or the budget for one) became available: wake the first waiter. */
static void wake_waiter(struct kp_worker *w)
{
	struct kp_conn *c = w->pipe_wait_head;

	if (!c)
		return;
	w->pipe_wait_head = c->wait_next;
	if (w->pipe_wait_head)
		w->pipe_wait_head->wait_prev = NULL;
	else
		w->pipe_wait_tail = NULL;
	c->wait_next = c->wait_prev = NULL;
	c->waiting_pipe = false;
	for (int i = 0; i < 2; i++) {
		if (c->dir[i].flags & KP_DIR_WAIT_PIPE) {
			c->dir[i].flags &= ~KP_DIR_WAIT_PIPE;
			c->dir[i].flags |= KP_DIR_WANT_READ;
		}
	}
	/* Level-triggered: the source's pending data fires EPOLLIN again. */
	kp_conn_update_interest(c);
}

/* An empty pipe goes back to the pool (or is closed if the pool is full). */
static void pipe_put(struct kp_worker *w, struct kp_pipe *p)
{
	if (w->pipe_pool_n < KP_PIPE_POOL_MAX) {
		p->next = w->pipe_pool;
		w->pipe_pool = p;
		w->pipe_pool_n++;
	} else {
		pipe_close(w, p);
	}
	wake_waiter(w);
}

static void wait_for_pipe(struct kp_conn *c)
{
	struct kp_worker *w = c->w;

	if (c->waiting_pipe)
		return;
	c->waiting_pipe = true;
	c->wait_next = NULL;
	c->wait_prev = w->pipe_wait_tail;
	if (w->pipe_wait_tail)
		w->pipe_wait_tail->wait_next = c;
	else
		w->pipe_wait_head = c;
	w->pipe_wait_tail = c;
}

static void leave_pipe_queue(struct kp_conn *c)
{
	struct kp_worker *w = c->w;

	if (!c->waiting_pipe)
		return;
	if (c->wait_prev)
		c->wait_prev->wait_next = c->wait_next;
	else
		w->pipe_wait_head = c->wait_next;
	if (c->wait_next)
		c->wait_next->wait_prev = c->wait_prev;
	else
		w->pipe_wait_tail = c->wait_prev;
	c->wait_next = c->wait_prev = NULL;
	c->waiting_pipe = false;
}

void kp_tunnel_release(struct kp_conn *c)
{
	struct kp_worker *w = c->w;

	leave_pipe_queue(c);
	for (int i = 0; i < 2; i++) {
		struct kp_dir *d = &c->dir[i];
		if (d->pipe) {
			/* Bytes still in it are lost with the connection. */
			if (d->pending)
				pipe_close(w, d->pipe);
			else
				pipe_put(w, d->pipe);
			d->pipe = NULL;
			d->pending = 0;
		}
		free(d->pre);
		d->pre = NULL;
	}
	/* The budget freed by this connection may let a waiter create a pipe. */
	wake_waiter(w);
}

/* ---- relaying ---- */

static bool again(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

/* Move bytes in direction `i` until the source or destination would block,
 * the source ends, or KP_PUMP_ROUNDS rounds are done. Returns 0, or -1 with
 * errno on a socket error. */
static int pump(struct kp_conn *c, int i)
{
	struct kp_worker *w = c->w;
	struct kp_dir *d = &c->dir[i];
	int src = i == 0 ? c->client.fd : c->upstream.fd;
	int dst = i == 0 ? c->upstream.fd : c->client.fd;
	uint64_t *count = i == 0 ? &c->rec.bytes_up : &c->rec.bytes_down;

	if (d->flags & (KP_DIR_DONE | KP_DIR_WAIT_PIPE))
		return 0;
	d->flags &= ~(KP_DIR_WANT_READ | KP_DIR_WANT_WRITE);
	for (int round = 0; round < KP_PUMP_ROUNDS; round++) {
		if (d->pre) {
			ssize_t n = send(dst, d->pre + d->pre_off, d->pre_len - d->pre_off,
					 MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (!again(errno))
					return -1;
				d->flags |= KP_DIR_WANT_WRITE;
				return 0;
			}
			d->pre_off += (uint32_t)n;
			if (i == 0)
				*count += (uint64_t)n;
			c->last_active_ms = w->loop.now_ms;
			if (d->pre_off == d->pre_len) {
				free(d->pre);
				d->pre = NULL;
			}
			continue;
		}
		if (d->pending) {
			ssize_t n = splice(d->pipe->rd, NULL, dst, NULL, d->pending,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (!again(errno))
					return -1;
				d->flags |= KP_DIR_WANT_WRITE;
				return 0;
			}
			d->pending -= (uint32_t)n;
			*count += (uint64_t)n;
			c->last_active_ms = w->loop.now_ms;
			if (d->pending == 0) {
				struct kp_pipe *p = d->pipe;
				d->pipe = NULL;
				pipe_put(w, p);
			}
			continue;
		}
		if (d->flags & KP_DIR_SRC_EOF) {
			/* Pass the EOF on; the other direction may go on. */
			shutdown(dst, SHUT_WR);
			d->flags |= KP_DIR_DONE;
			return 0;
		}
		if (!d->pipe) {
			d->pipe = pipe_get(w);
			if (!d->pipe) {
				d->flags |= KP_DIR_WAIT_PIPE;
				wait_for_pipe(c);
				return 0;
			}
		}
		ssize_t n = splice(src, NULL, d->pipe->wr, NULL, KP_PIPE_SIZE,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int saved = errno;
			struct kp_pipe *p = d->pipe;
			d->pipe = NULL;
			pipe_put(w, p);
			if (n == 0) {
				d->flags |= KP_DIR_SRC_EOF;
				continue;
			}
			errno = saved;
			if (!again(errno))
				return -1;
			d->flags |= KP_DIR_WANT_READ;
			return 0;
		}
		d->pending = (uint32_t)n;
		c->last_active_ms = w->loop.now_ms;
	}
	/* Out of rounds with work left: level-triggered epoll brings us back. */
	d->flags |= (d->pending || d->pre) ? KP_DIR_WANT_WRITE : KP_DIR_WANT_READ;
	return 0;
}

static void after_pump(struct kp_conn *c, int rc)
{
	if (rc < 0) {
		kp_conn_close(c, errno == ECONNRESET || errno == EPIPE ? "connection reset"
								       : "socket error");
		return;
	}
	if ((c->dir[0].flags & KP_DIR_DONE) && (c->dir[1].flags & KP_DIR_DONE)) {
		kp_conn_close(c, NULL);
		return;
	}
	kp_conn_update_interest(c);
}

void kp_tunnel_start(struct kp_conn *c)
{
	size_t n = strlen(kp_reply_connect_ok);

	c->state = KP_CONN_TUNNEL;
	c->dir[1].pre = malloc(n);
	if (!c->dir[1].pre) {
		kp_conn_close(c, "out of memory");
		return;
	}
	memcpy(c->dir[1].pre, kp_reply_connect_ok, n);
	c->dir[1].pre_len = (uint32_t)n;
	/* What the client sent after its CONNECT head (a TLS ClientHello sent
	 * without waiting for our 200) goes first. */
	if (c->in.len) {
		c->dir[0].pre = c->in.data;
		c->dir[0].pre_len = (uint32_t)c->in.len;
		c->in = (struct kp_buf){ 0 };
	} else {
		kp_buf_free(&c->in);
	}
	int rc = pump(c, 1);
	if (rc == 0)
		rc = pump(c, 0);
	after_pump(c, rc);
}

void kp_tunnel_event(struct kp_conn *c, bool client_side, uint32_t events)
{
	const struct kp_watch *w = client_side ? &c->client : &c->upstream;
	int reader = client_side ? 0 : 1; /* the direction reading this socket */
	int writer = 1 - reader;           /* the direction writing to it */
	int rc = 0;

	if (events & EPOLLERR) {
		kp_conn_close(c, "connection reset");
		return;
	}
	/* Hang-up while nothing is polled for: no read or write will notice it,
	 * so stop here rather than be woken for it forever. */
	if ((events & EPOLLHUP) && !(w->events & (EPOLLIN | EPOLLOUT))) {
		kp_conn_close(c, "connection closed while stalled");
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP))
		rc = pump(c, reader);
	if (rc == 0 && (events & EPOLLOUT))
		rc = pump(c, writer);
	if (c->state == KP_CONN_DEAD)
		return;
	after_pump(c, rc);
}

void kp_tunnel_interest(const struct kp_conn *c, uint32_t *client_ev, uint32_t *up_ev)
{
	*client_ev = ((c->dir[0].flags & KP_DIR_WANT_READ) ? EPOLLIN : 0) |
		     ((c->dir[1].flags & KP_DIR_WANT_WRITE) ? EPOLLOUT : 0);
	*up_ev = ((c->dir[1].flags & KP_DIR_WANT_READ) ? EPOLLIN : 0) |
		 ((c->dir[0].flags & KP_DIR_WANT_WRITE) ? EPOLLOUT : 0);
}
