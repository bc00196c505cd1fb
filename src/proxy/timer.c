/* timer.c — binary min-heap of deadlines (contract: timer.h). */
#include "proxy/timer.h"

#include <stdlib.h>

void kp_timer_init(struct kp_timer *t, void (*fire)(struct kp_timer *t))
{
	t->deadline_ms = 0;
	t->index = KP_TIMER_IDLE;
	t->fire = fire;
}

static void place(struct kp_timers *h, size_t i, struct kp_timer *t)
{
	h->heap[i] = t;
	t->index = i;
}

static void sift_up(struct kp_timers *h, size_t i)
{
	struct kp_timer *t = h->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (h->heap[parent]->deadline_ms <= t->deadline_ms)
			break;
		place(h, i, h->heap[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct kp_timers *h, size_t i)
{
	struct kp_timer *t = h->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->n)
			break;
		if (child + 1 < h->n && h->heap[child + 1]->deadline_ms < h->heap[child]->deadline_ms)
			child++;
		if (h->heap[child]->deadline_ms >= t->deadline_ms)
			break;
		place(h, i, h->heap[child]);
		i = child;
	}
	place(h, i, t);
}

int kp_timers_reserve(struct kp_timers *h, size_t n)
{
	if (n <= h->cap)
		return 0;
	size_t cap = h->cap ? h->cap : 64;
	while (cap < n)
		cap *= 2;
	struct kp_timer **heap = realloc(h->heap, cap * sizeof(*heap));
	if (!heap)
		return -1;
	h->heap = heap;
	h->cap = cap;
	return 0;
}

int kp_timers_arm(struct kp_timers *h, struct kp_timer *t, uint64_t deadline_ms)
{
	if (t->index != KP_TIMER_IDLE) {
		uint64_t old = t->deadline_ms;
		t->deadline_ms = deadline_ms;
		if (deadline_ms < old)
			sift_up(h, t->index);
		else
			sift_down(h, t->index);
		return 0;
	}
	if (kp_timers_reserve(h, h->n + 1) < 0)
		return -1;
	t->deadline_ms = deadline_ms;
	place(h, h->n++, t);
	sift_up(h, t->index);
	return 0;
}

void kp_timers_disarm(struct kp_timers *h, struct kp_timer *t)
{
	size_t i = t->index;

	if (i == KP_TIMER_IDLE)
		return;
	t->index = KP_TIMER_IDLE;
	struct kp_timer *last = h->heap[--h->n];
	if (i == h->n)
		return;
	place(h, i, last);
	if (i > 0 && h->heap[(i - 1) / 2]->deadline_ms > last->deadline_ms)
		sift_up(h, i);
	else
		sift_down(h, i);
}

struct kp_timer *kp_timers_next(const struct kp_timers *h)
{
	return h->n ? h->heap[0] : NULL;
}

void kp_timers_free(struct kp_timers *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->heap[i]->index = KP_TIMER_IDLE;
	free(h->heap);
	h->heap = NULL;
	h->n = h->cap = 0;
}
