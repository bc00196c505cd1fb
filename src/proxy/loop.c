/* loop.c — epoll, watches and timers (contract: loop.h). */
#include "proxy/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "proxy/limits.h"

uint64_t kp_clock_ms(void)
{
	return (uint64_t)kn_now_ms();
}

int64_t kp_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int kp_loop_init(struct kp_loop *loop, kn_error *err)
{
	loop->timers = (struct kp_timers){ 0 };
	loop->owners = NULL;
	loop->nowners = 0;
	loop->after_batch = NULL;
	loop->after_batch_arg = NULL;
	loop->idle_due = NULL;
	loop->idle = NULL;
	loop->idle_arg = NULL;
	loop->now_ms = kp_clock_ms();
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return kn_fail_errno(err, "epoll_create1");
	return 0;
}

void kp_loop_free(struct kp_loop *loop)
{
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
	kp_timers_free(&loop->timers);
	free(loop->owners);
	loop->owners = NULL;
	loop->nowners = 0;
}

void kp_watch_init(struct kp_watch *w, int fd, void (*ready)(struct kp_watch *w, uint32_t revents))
{
	w->fd = fd;
	w->events = 0;
	w->registered = false;
	w->ready = ready;
}

/* The kernel's registration carries the fd and its generation. */
static uint64_t tag(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

/* fd's owner slot, the table grown to hold it (fds are small and dense). */
static struct kp_fd_owner *owner_slot(struct kp_loop *loop, int fd, kn_error *err)
{
	if ((size_t)fd >= loop->nowners) {
		size_t n = loop->nowners ? loop->nowners : KP_FD_TABLE_MIN;
		while (n <= (size_t)fd)
			n *= 2;
		struct kp_fd_owner *o = realloc(loop->owners, n * sizeof(*o));
		if (!o) {
			errno = ENOMEM;
			kn_fail_errno(err, "grow the fd table to %zu entries", n);
			return NULL;
		}
		memset(o + loop->nowners, 0, (n - loop->nowners) * sizeof(*o));
		loop->owners = o;
		loop->nowners = n;
	}
	return &loop->owners[fd];
}

/* w's registration is gone: events of it still in the batch are dropped. */
static void forget(struct kp_loop *loop, struct kp_watch *w)
{
	if (w->registered && w->fd >= 0 && (size_t)w->fd < loop->nowners &&
	    loop->owners[w->fd].watch == w)
		loop->owners[w->fd].watch = NULL;
	w->registered = false;
	w->events = 0;
}

int kp_watch_set(struct kp_loop *loop, struct kp_watch *w, uint32_t events, uint32_t extra,
		 kn_error *err)
{
	if (w->registered && w->events == events)
		return 0;
	struct kp_fd_owner *o = owner_slot(loop, w->fd, err);
	if (!o)
		return -1;
	/* A new registration gets a new generation: events fetched for the
	 * fd's previous owner (closed, the number reused) are not this one's. */
	uint32_t gen = w->registered ? o->gen : o->gen + 1;
	struct epoll_event ev = { .events = events, .data.u64 = tag(w->fd, gen) };
	int op = w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (!w->registered)
		ev.events |= extra;
	if (epoll_ctl(loop->epfd, op, w->fd, &ev) < 0)
		return kn_fail_errno(err, "epoll_ctl %s fd %d",
				     op == EPOLL_CTL_ADD ? "add" : "mod", w->fd);
	o->gen = gen;
	o->watch = w;
	w->registered = true;
	w->events = events;
	return 0;
}

void kp_watch_remove(struct kp_loop *loop, struct kp_watch *w)
{
	if (w->registered && w->fd >= 0)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	forget(loop, w);
	w->fd = -1;
}

void kp_watch_close(struct kp_loop *loop, struct kp_watch *w)
{
	forget(loop, w);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

int kp_watch_move(struct kp_loop *loop, struct kp_watch *from, struct kp_watch *to,
		  uint32_t events, kn_error *err)
{
	bool registered = from->registered;
	uint32_t had = from->events;
	to->fd = from->fd;
	to->registered = false;
	to->events = 0;
	from->registered = false;
	from->events = 0;
	from->fd = -1;
	if (!registered)
		return events ? kp_watch_set(loop, to, events, 0, err) : 0;
	struct kp_fd_owner *o = &loop->owners[to->fd];
	o->watch = to;
	to->registered = true;
	to->events = had;
	if (had == events)
		return 0;
	struct epoll_event ev = { .events = events, .data.u64 = tag(to->fd, o->gen) };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, to->fd, &ev) < 0) {
		int e = errno;
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, to->fd, NULL);
		forget(loop, to);
		errno = e;
		return kn_fail_errno(err, "epoll_ctl mod fd %d", to->fd);
	}
	to->events = events;
	return 0;
}

int kp_loop_arm(struct kp_loop *loop, struct kp_timer *t, uint64_t after_ms)
{
	return kp_timers_arm(&loop->timers, t, loop->now_ms + after_ms);
}

void kp_loop_disarm(struct kp_loop *loop, struct kp_timer *t)
{
	kp_timers_disarm(&loop->timers, t);
}

int kp_loop_run_once(struct kp_loop *loop, int max_wait_ms, kn_error *err)
{
	struct epoll_event events[KP_EPOLL_BATCH];
	int timeout = max_wait_ms;
	struct kp_timer *next = kp_timers_next(&loop->timers);

	if (next) {
		uint64_t now = kp_clock_ms();
		uint64_t wait = next->deadline_ms > now ? next->deadline_ms - now : 0;
		if (wait > INT32_MAX)
			wait = INT32_MAX;
		if (timeout < 0 || (uint64_t)timeout > wait)
			timeout = (int)wait;
	}
	int n = -1;
	if (timeout != 0 && loop->idle_due && loop->idle_due(loop->idle_arg)) {
		n = epoll_wait(loop->epfd, events, KP_EPOLL_BATCH, 0);
		if (n == 0)
			loop->idle(loop->idle_arg);
	}
	if (n <= 0)
		n = epoll_wait(loop->epfd, events, KP_EPOLL_BATCH, timeout);
	if (n < 0 && errno != EINTR)
		return kn_fail_errno(err, "epoll_wait");
	loop->now_ms = kp_clock_ms();
	for (int i = 0; i < n; i++) {
		uint64_t t = events[i].data.u64;
		size_t fd = (uint32_t)t;
		struct kp_watch *w = fd < loop->nowners ? loop->owners[fd].watch : NULL;
		if (!w || loop->owners[fd].gen != (uint32_t)(t >> 32))
			continue;
		w->ready(w, events[i].events);
	}
	/* Timers armed by the handlers for "now" fire in this pass too; the
	 * bound keeps a timer that re-arms itself in the past from spinning. */
	size_t fired = 0, bound = loop->timers.n + 1;
	while (fired++ < bound) {
		struct kp_timer *t = kp_timers_next(&loop->timers);
		if (!t || t->deadline_ms > loop->now_ms)
			break;
		kp_timers_disarm(&loop->timers, t);
		t->fire(t);
	}
	if (loop->after_batch)
		loop->after_batch(loop->after_batch_arg);
	return 0;
}
