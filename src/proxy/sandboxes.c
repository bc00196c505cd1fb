/* sandboxes.c — a worker's sandbox table, listeners and accept (contract:
 * sandboxes.h). */
#define _GNU_SOURCE
#include "proxy/sandboxes.h"

#include <errno.h>
#include <stddef.h>
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
#include "proxy/reply.h"

struct kp_policy_ref *kp_policy_ref_get(struct kp_policy_ref *ref)
{
	ref->refs++;
	return ref;
}

void kp_policy_ref_put(struct kp_policy_ref *ref)
{
	if (!ref || --ref->refs > 0)
		return;
	kn_policy_free(&ref->policy);
	free(ref);
}

/* Over the sandbox's limit: a short 503, best effort (the socket buffer of a
 * fresh connection always takes it), and close. */
static void refuse_full(struct kp_sandbox *sb, int fd)
{
	struct kp_worker *w = sb->w;
	char buf[KP_REPLY_MAX];
	size_t n = kp_reply_format(buf, sizeof(buf), 503,
				   "too many connections from this sandbox", NULL);
	ssize_t sent = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)sent;
	shutdown(fd, SHUT_WR);
	close(fd);
	w->refused_full++;
	/* One line per second at most: a client hammering the limit must not
	 * turn into a log flood. */
	if (w->loop.now_ms - w->last_refusal_report_ms >= 1000) {
		log_warn("sandbox %s: %u connections, the limit: refused %llu so far", sb->name,
			 kp_worker_sandbox_conns(w, sb->slot), (unsigned long long)w->refused_full);
		w->last_refusal_report_ms = w->loop.now_ms;
	}
}

static int listener_register(struct kp_worker *w, struct kp_listener *l, kn_error *err);

/* Unregistered without forgetting the fd (kp_watch_remove would). */
static void listener_unregister(struct kp_worker *w, struct kp_listener *l)
{
	int fd = l->w.fd;
	kp_watch_remove(&w->loop, &l->w);
	l->w.fd = fd;
}

/* EPOLLEXCLUSIVE wakes the first registration in the listener's wait queue,
 * and a registration stays where it was added: the same worker took every
 * connection (bench/proxy-compare: one worker did 88% of the work, the other
 * none). Registering again puts this worker at the back of the queue, so the
 * next connection wakes another. Only while this worker holds more than its
 * share of the sandbox's connections: the two epoll_ctl calls were a tenth
 * of a short connection's (close mode's) syscalls. */
static void requeue(struct kp_worker *w, struct kp_listener *l)
{
	kn_error err;
	if (w->nworkers < 2 || !l->w.registered ||
	    (uint64_t)kp_worker_own_conns(w, l->sb->slot) * (uint64_t)w->nworkers <=
		    kp_worker_sandbox_conns(w, l->sb->slot))
		return;
	listener_unregister(w, l);
	if (listener_register(w, l, &err) < 0)
		log_error("sandbox %s: %s", l->sb->name, err.msg);
}

static void listener_ready(struct kp_watch *lw, uint32_t events)
{
	struct kp_listener *l = container_of(lw, struct kp_listener, w);
	struct kp_sandbox *sb = l->sb;
	struct kp_worker *w = sb->w;

	/* With other workers: one connection per wake-up, then to the back of
	 * the queue (requeue), so a burst of connections spreads over them. */
	int batch = w->nworkers > 1 ? 1 : KP_ACCEPT_BATCH;
	for (int i = 0; i < batch; i++) {
		if (!kp_worker_conn_fits(w)) {
			kp_worker_pause_accept(w);
			return;
		}
		int fd = accept4(lw->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("sandbox %s: accept4: %s", sb->name, strerror(errno));
				kp_worker_pause_accept(w);
				return;
			}
			log_error("sandbox %s: accept4: %s", sb->name, strerror(errno));
			return;
		}
		if (kp_worker_sandbox_conns(w, sb->slot) >= w->opt->max_conns_per_sandbox) {
			refuse_full(sb, fd);
			continue;
		}
		kp_conn_accept(sb, fd);
	}
	/* Full now: stop polling at once. Woken while full, a worker would
	 * leave the connection unaccepted, and with EPOLLEXCLUSIVE no other
	 * worker is woken for it until the next one arrives. */
	if (!kp_worker_conn_fits(w))
		kp_worker_pause_accept(w);
	requeue(w, l);
}

static int listener_register(struct kp_worker *w, struct kp_listener *l, kn_error *err)
{
	/* EPOLLEXCLUSIVE: every worker polls this socket; wake one of them. */
	return kp_watch_set(&w->loop, &l->w, EPOLLIN, EPOLLEXCLUSIVE, err);
}

static void listeners_close(struct kp_sandbox *sb)
{
	for (size_t i = 0; i < sb->nlisteners; i++) {
		int fd = sb->listeners[i].w.fd;
		kp_watch_remove(&sb->w->loop, &sb->listeners[i].w);
		close(fd);
	}
	sb->w->nlisteners -= sb->nlisteners;
	sb->nlisteners = 0;
}

static int listeners_take(struct kp_worker *w, struct kp_sandbox *sb, int *fds, size_t n_fds,
			  kn_error *err)
{
	listeners_close(sb);
	for (size_t i = 0; i < n_fds; i++) {
		struct kp_listener *l = &sb->listeners[sb->nlisteners++];
		l->sb = sb;
		kp_watch_init(&l->w, fds[i], listener_ready);
		fds[i] = -1;
		w->nlisteners++;
	}
	if (!w->accepting)
		return 0;
	for (size_t i = 0; i < sb->nlisteners; i++)
		if (listener_register(w, &sb->listeners[i], err) < 0)
			return -1;
	return 0;
}

void kp_sandboxes_listen(struct kp_worker *w, bool on)
{
	kn_error err;

	for (struct kp_sandbox *sb = w->sandboxes; sb; sb = sb->next) {
		for (size_t i = 0; i < sb->nlisteners; i++) {
			struct kp_listener *l = &sb->listeners[i];
			if (on) {
				if (listener_register(w, l, &err) < 0)
					log_error("sandbox %s: %s", sb->name, err.msg);
			} else if (l->w.registered) {
				listener_unregister(w, l);
			}
		}
	}
}

static struct kp_sandbox *find(struct kp_worker *w, const char *name)
{
	for (struct kp_sandbox *sb = w->sandboxes; sb; sb = sb->next)
		if (strcmp(sb->name, name) == 0)
			return sb;
	return NULL;
}

static struct kp_policy_ref *policy_ref_new(struct kp_command *cmd, kn_error *err)
{
	struct kp_policy_ref *ref = calloc(1, sizeof(*ref));
	if (!ref) {
		kn_fail(err, "out of memory");
		return NULL;
	}
	ref->refs = 1;
	ref->policy = cmd->policy; /* moved */
	cmd->has_policy = false;
	return ref;
}

static void sandbox_remove(struct kp_worker *w, struct kp_sandbox *sb)
{
	/* Bounded: each close unlinks one connection. */
	while (sb->conns)
		kp_conn_close(sb->conns, "sandbox removed");
	listeners_close(sb);
	kp_policy_ref_put(sb->policy);
	kp_ca_free(sb->ca);
	sb->ca = NULL;
	for (struct kp_sandbox **p = &w->sandboxes; *p; p = &(*p)->next) {
		if (*p == sb) {
			*p = sb->next;
			break;
		}
	}
	/* Connections closed just now wait in the graveyard and point at sb, and
	 * events for its listeners may still be in this loop batch: free it
	 * after the batch, with them. */
	sb->next = w->dead_sandboxes;
	w->dead_sandboxes = sb;
}

void kp_sandboxes_reap(struct kp_worker *w)
{
	while (w->dead_sandboxes) {
		struct kp_sandbox *sb = w->dead_sandboxes;
		w->dead_sandboxes = sb->next;
		free(sb);
	}
}

int kp_sandbox_apply(struct kp_worker *w, struct kp_command *cmd, int *fds, size_t n_fds,
		     kn_error *err)
{
	struct kp_sandbox *sb = find(w, cmd->name);

	switch (cmd->op) {
	case KP_OP_SANDBOX: {
		struct kp_ca *ca = NULL;
		if (cmd->ca_cert) {
			ca = kp_ca_new(cmd->ca_cert, strlen(cmd->ca_cert), cmd->ca_key,
				       strlen(cmd->ca_key), err);
			if (!ca)
				return -1;
		}
		struct kp_policy_ref *ref = policy_ref_new(cmd, err);
		if (!ref) {
			kp_ca_free(ca);
			return -1;
		}
		if (!sb) {
			sb = calloc(1, sizeof(*sb));
			if (!sb) {
				kp_policy_ref_put(ref);
				kp_ca_free(ca);
				return kn_fail(err, "out of memory");
			}
			sb->w = w;
			snprintf(sb->name, sizeof(sb->name), "%s", cmd->name);
			sb->next = w->sandboxes;
			w->sandboxes = sb;
		} else {
			kp_policy_ref_put(sb->policy);
		}
		sb->slot = cmd->slot;
		sb->policy = ref;
		kp_ca_free(sb->ca);
		sb->ca = ca;
		return listeners_take(w, sb, fds, n_fds, err);
	}
	case KP_OP_POLICY: {
		if (!sb)
			return kn_fail(err, "no sandbox named \"%s\"", cmd->name);
		struct kp_policy_ref *ref = policy_ref_new(cmd, err);
		if (!ref)
			return -1;
		kp_policy_ref_put(sb->policy);
		sb->policy = ref;
		return 0;
	}
	case KP_OP_REMOVE:
		if (!sb)
			return kn_fail(err, "no sandbox named \"%s\"", cmd->name);
		sandbox_remove(w, sb);
		return 0;
	case KP_OP_SECRETS:
		/* Requests copy what they inject into their upstream head at once,
		 * so the old table can go now. */
		kp_secrets_free(w->secrets);
		w->secrets = cmd->secrets;
		cmd->secrets = NULL;
		return 0;
	}
	return kn_fail(err, "unknown op");
}
