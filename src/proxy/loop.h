/* loop.h — one worker's event loop: level-triggered epoll over "watches"
 * (an fd plus a callback), a timer heap, and a cached monotonic clock.
 *
 * Contract: single-threaded. kp_watch_set registers or updates a watch's
 * interest (EPOLLIN/EPOLLOUT; 0 keeps it registered for EPOLLHUP/EPOLLERR
 * only); kp_watch_remove unregisters it and marks it dead (fd -1) so that an
 * event for it already fetched in the current batch is skipped. An owner that
 * removes its watches during a batch must not free their memory before the
 * batch ends: kp_loop_run_once calls `after_batch` for that.
 *
 * The kernel's registration names the fd and a generation, not the watch:
 * the loop keeps which watch owns each registered fd, so an fd changes
 * owner (kp_watch_move) without a system call, and an event fetched before
 * its fd was closed and reused (a new generation) is dropped. An event
 * fetched before an fd changed owner goes to the new owner, which must take
 * it as level-triggered handlers do: maybe nothing is there.
 *
 * kp_loop_run_once waits for events until the earliest timer (or `max_wait_ms`,
 * -1 = no limit), dispatches every event, then fires every expired timer, in
 * deadline order. `now_ms` is refreshed after the wait and read by handlers.
 *
 * Work that can wait until the loop has nothing else to do: while `idle_due`
 * says some is pending, a pass first looks for events without waiting, and
 * runs `idle` only when there are none, before it waits. Under load the
 * work gathers across passes; an idle loop does it before it sleeps. */
#ifndef KENNEL_PROXY_LOOP_H
#define KENNEL_PROXY_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "proxy/timer.h"

struct kp_watch {
	int fd;
	uint32_t events;   /* registered interest */
	bool registered;
	void (*ready)(struct kp_watch *w, uint32_t revents);
};

/* Who owns a registered fd now, and the generation its registration
 * carries (loop.c). */
struct kp_fd_owner {
	struct kp_watch *watch;
	uint32_t gen;
};

struct kp_loop {
	int epfd;
	struct kp_fd_owner *owners; /* indexed by fd */
	size_t nowners;
	struct kp_timers timers;
	uint64_t now_ms;
	void (*after_batch)(void *arg);
	void *after_batch_arg;
	bool (*idle_due)(void *arg);
	void (*idle)(void *arg);
	void *idle_arg;
};

/* kn_now_ms (common/clock.h), in the timers' unsigned type. */
uint64_t kp_clock_ms(void);
/* CLOCK_REALTIME in milliseconds (for log lines). */
int64_t kp_wall_ms(void);

int kp_loop_init(struct kp_loop *loop, kn_error *err);
/* The epoll fd, the timer heap and the fd table (a worker never needs it:
 * it exits with its loop). */
void kp_loop_free(struct kp_loop *loop);
void kp_watch_init(struct kp_watch *w, int fd, void (*ready)(struct kp_watch *w, uint32_t revents));
/* `extra` flags (EPOLLEXCLUSIVE) apply at registration only. */
int kp_watch_set(struct kp_loop *loop, struct kp_watch *w, uint32_t events, uint32_t extra,
		 kn_error *err);
void kp_watch_remove(struct kp_loop *loop, struct kp_watch *w);
/* kp_watch_remove and close(fd) in one, without the EPOLL_CTL_DEL: the
 * kernel drops a registration with the last reference to its file. Only for
 * an fd that no other descriptor shares (no dup, no fork, never sent), or
 * events would still come for a watch that is gone. */
void kp_watch_close(struct kp_loop *loop, struct kp_watch *w);
/* `to` takes `from`'s fd and registration with interest `events`: no
 * system call when the interest stays the same, else one EPOLL_CTL_MOD (the
 * upstream pool, pool.h). `from` is left as after kp_watch_remove; on failure
 * the fd is unregistered and `to` holds it unwatched. */
int kp_watch_move(struct kp_loop *loop, struct kp_watch *from, struct kp_watch *to,
		  uint32_t events, kn_error *err);
int kp_loop_run_once(struct kp_loop *loop, int max_wait_ms, kn_error *err);

/* Timers on the loop's heap, relative to now_ms. */
int kp_loop_arm(struct kp_loop *loop, struct kp_timer *t, uint64_t after_ms);
void kp_loop_disarm(struct kp_loop *loop, struct kp_timer *t);

#endif
