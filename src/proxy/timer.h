/* timer.h — deadlines of a worker's connections in a binary min-heap.
 *
 * Contract: pure data structure, no clock of its own, no allocation beyond the
 * heap array. A timer is embedded in its owner; `index` is its place in the
 * heap (KP_TIMER_IDLE when not armed). Arm, re-arm and disarm are O(log n);
 * kp_timers_next gives the earliest deadline without removing it.
 *
 * Idle timeouts are not re-armed on every byte: the owner records its last
 * activity and, when the timer fires, checks it and re-arms for the true
 * deadline if there was activity since (a heap key is a lower bound of the real
 * deadline, so nothing fires late). */
#ifndef KENNEL_PROXY_TIMER_H
#define KENNEL_PROXY_TIMER_H

#include <stddef.h>
#include <stdint.h>

#define KP_TIMER_IDLE SIZE_MAX

struct kp_timer {
	uint64_t deadline_ms;
	size_t index;
	void (*fire)(struct kp_timer *t);
};

struct kp_timers {
	struct kp_timer **heap;
	size_t n, cap;
};

void kp_timer_init(struct kp_timer *t, void (*fire)(struct kp_timer *t));
/* Arm or move `t` to `deadline_ms`. -1 only when the heap cannot grow. */
int kp_timers_arm(struct kp_timers *h, struct kp_timer *t, uint64_t deadline_ms);
void kp_timers_disarm(struct kp_timers *h, struct kp_timer *t);
/* Make room for `n` armed timers, so that arming never fails below that. */
int kp_timers_reserve(struct kp_timers *h, size_t n);
/* The earliest armed timer, or NULL. */
struct kp_timer *kp_timers_next(const struct kp_timers *h);
void kp_timers_free(struct kp_timers *h);

#endif
