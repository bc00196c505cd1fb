/* test_proxy_loop.c — the worker's event machinery: the timer heap
 * (src/proxy/timer.h) against a plain list under thousands of random
 * operations, the byte buffer (buf.h), and the epoll loop (loop.h) on real
 * sockets: readiness, hang-up with no interest, removed watches skipped
 * within a batch, fds moved between watches, generations of a reused fd
 * number, timers in deadline order, the after-batch and idle hooks. */
#include "proxy/buf.h"
#include "proxy/loop.h"
#include "proxy/timer.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

#define NT 500

static struct kp_timer timers[NT];
static int fired_order[NT], nfired;

static void fire(struct kp_timer *t) { fired_order[nfired++] = (int)(t - timers); }

/* The heap property and the index back-pointers. */
static int heap_ok(const struct kp_timers *h)
{
	for (size_t i = 0; i < h->n; i++) {
		if (h->heap[i]->index != i)
			return 0;
		if (i > 0 && h->heap[(i - 1) / 2]->deadline_ms > h->heap[i]->deadline_ms)
			return 0;
	}
	return 1;
}

static void test_timer_heap(void)
{
	struct kp_timers h = { 0 };
	uint64_t model[NT]; /* 0 = not armed */
	int ok = 1;

	srand(42);
	memset(model, 0, sizeof(model));
	for (int i = 0; i < NT; i++)
		kp_timer_init(&timers[i], fire);
	for (int step = 0; step < 20000 && ok; step++) {
		int i = rand() % NT, op = rand() % 3;
		if (op < 2) {
			uint64_t d = 1 + (uint64_t)(rand() % 1000);
			CHECK(kp_timers_arm(&h, &timers[i], d) == 0);
			model[i] = d;
		} else {
			kp_timers_disarm(&h, &timers[i]);
			model[i] = 0;
		}
		ok = heap_ok(&h);
		struct kp_timer *next = kp_timers_next(&h);
		uint64_t min = 0;
		size_t armed = 0;
		for (int k = 0; k < NT; k++) {
			if (model[k] && (!min || model[k] < min))
				min = model[k];
			armed += model[k] != 0;
		}
		ok = ok && armed == h.n && (next ? next->deadline_ms == min : min == 0);
	}
	CHECK(ok);
	/* Pop everything: non-decreasing deadlines. */
	uint64_t last = 0;
	while (kp_timers_next(&h)) {
		struct kp_timer *t = kp_timers_next(&h);
		CHECK(t->deadline_ms >= last);
		last = t->deadline_ms;
		kp_timers_disarm(&h, t);
		CHECK(t->index == KP_TIMER_IDLE);
	}
	CHECK(kp_timers_reserve(&h, 5000) == 0 && h.cap >= 5000);
	kp_timers_free(&h);
}

static void test_buf(void)
{
	struct kp_buf b = { 0 };
	bool oom;

	CHECK(kp_buf_reserve(&b, 100, 1000, &oom) >= 100 && !oom);
	memcpy(b.data, "hello world", 11);
	b.len = 11;
	kp_buf_consume(&b, 6);
	CHECK(b.len == 5 && memcmp(b.data, "world", 5) == 0);
	/* Growth stops at the limit. */
	b.len = 5;
	size_t room = kp_buf_reserve(&b, 5000, 1000, &oom);
	CHECK(room == 995 && b.cap == 1000);
	b.len = 1000;
	CHECK(kp_buf_reserve(&b, 1, 1000, &oom) == 0 && !oom);
	/* Emptied: the memory goes. */
	kp_buf_consume(&b, 1000);
	CHECK(b.data == NULL && b.cap == 0);
	kp_buf_free(&b);
}

struct probe {
	struct kp_watch w;
	uint32_t seen;
	int calls;
	struct kp_loop *loop;
	struct probe *victim; /* removed by this probe's callback */
};

static void probe_ready(struct kp_watch *w, uint32_t ev)
{
	struct probe *p = (struct probe *)w;
	p->seen |= ev;
	p->calls++;
	if (p->victim)
		kp_watch_remove(p->loop, &p->victim->w);
}

static int batches;
static void count_batch(void *arg) { batches++; }

static void test_loop(void)
{
	struct kp_loop loop;
	kn_error err;
	int a[2], b[2];

	CHECK(kp_loop_init(&loop, &err) == 0);
	loop.after_batch = count_batch;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b) == 0);
	struct probe pa = { .loop = &loop }, pb = { .loop = &loop };
	kp_watch_init(&pa.w, a[0], probe_ready);
	kp_watch_init(&pb.w, b[0], probe_ready);

	/* Writable at once; readable only after the peer writes. */
	CHECK(kp_watch_set(&loop, &pa.w, EPOLLIN | EPOLLOUT, 0, &err) == 0);
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(pa.seen == EPOLLOUT && batches == 1);
	CHECK(write(a[1], "x", 1) == 1);
	pa.seen = 0;
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(pa.seen == (EPOLLIN | EPOLLOUT));

	/* No interest: nothing but a hang-up is reported. */
	CHECK(kp_watch_set(&loop, &pa.w, 0, 0, &err) == 0);
	pa.seen = 0;
	CHECK(kp_loop_run_once(&loop, 50, &err) == 0);
	CHECK(pa.seen == 0);
	close(a[1]);
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(pa.seen & EPOLLHUP);

	/* A watch removed by an earlier callback in the same batch is skipped. */
	CHECK(write(b[1], "y", 1) == 1);
	CHECK(kp_watch_set(&loop, &pb.w, EPOLLIN, 0, &err) == 0);
	pa.victim = &pb;
	pb.victim = &pa;
	pa.calls = pb.calls = 0;
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(pa.calls + pb.calls == 1);
	CHECK(pa.w.fd == -1 || pb.w.fd == -1);

	/* Timers fire in deadline order (nothing else is ready now). */
	kp_watch_remove(&loop, &pa.w);
	kp_watch_remove(&loop, &pb.w);
	nfired = 0;
	for (int i = 0; i < 3; i++)
		kp_timer_init(&timers[i], fire);
	/* Timers count from the loop's cached clock, which may lag the real one. */
	uint64_t start = loop.now_ms;
	CHECK(kp_loop_arm(&loop, &timers[0], 30) == 0);
	CHECK(kp_loop_arm(&loop, &timers[1], 10) == 0);
	CHECK(kp_loop_arm(&loop, &timers[2], 20) == 0);
	for (int i = 0; i < 10 && nfired < 3; i++)
		CHECK(kp_loop_run_once(&loop, -1, &err) == 0);
	CHECK(nfired == 3 && fired_order[0] == 1 && fired_order[1] == 2 && fired_order[2] == 0);
	CHECK(kp_clock_ms() - start >= 30);
	kp_loop_disarm(&loop, &timers[0]); /* disarming a fired timer is harmless */

	close(a[0]);
	close(b[0]);
	close(b[1]);
	kp_loop_free(&loop);
}

/* An fd handed from one watch to another (the upstream pool) reports to the
 * new one only; a watch closed without EPOLL_CTL_DEL reports nothing more,
 * also when its fd number comes back for another socket. */
static void test_move_and_close(void)
{
	struct kp_loop loop;
	kn_error err;
	int a[2], b[2];

	CHECK(kp_loop_init(&loop, &err) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) == 0);
	struct probe from = { .loop = &loop }, to = { .loop = &loop };
	kp_watch_init(&from.w, a[0], probe_ready);
	kp_watch_init(&to.w, -1, probe_ready);
	CHECK(kp_watch_set(&loop, &from.w, EPOLLOUT, 0, &err) == 0);
	CHECK(kp_watch_move(&loop, &from.w, &to.w, EPOLLIN, &err) == 0);
	CHECK(from.w.fd == -1 && !from.w.registered);
	CHECK(to.w.fd == a[0] && to.w.registered && to.w.events == EPOLLIN);
	/* Its new interest: writable no more reported, readable is. */
	CHECK(kp_loop_run_once(&loop, 50, &err) == 0);
	CHECK(from.calls == 0 && to.calls == 0);
	CHECK(write(a[1], "x", 1) == 1);
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(from.calls == 0 && to.calls == 1 && to.seen == EPOLLIN);
	/* Moving an unregistered watch registers the new one. */
	struct probe third = { .loop = &loop };
	kp_watch_init(&third.w, -1, probe_ready);
	kp_watch_remove(&loop, &to.w);
	to.w.fd = a[0];
	CHECK(kp_watch_move(&loop, &to.w, &third.w, EPOLLIN, &err) == 0);
	CHECK(third.w.registered);
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(third.calls == 1);

	int closed = third.w.fd;
	kp_watch_close(&loop, &third.w);
	CHECK(third.w.fd == -1 && !third.w.registered);
	CHECK(fcntl(closed, F_GETFD) < 0); /* the fd is closed */
	/* The same number for a new socket, registered to another watch: only
	 * that one reports. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b) == 0);
	CHECK(b[0] == closed || b[1] == closed);
	struct probe reuse = { .loop = &loop };
	kp_watch_init(&reuse.w, closed, probe_ready);
	CHECK(kp_watch_set(&loop, &reuse.w, EPOLLIN, 0, &err) == 0);
	CHECK(write(closed == b[0] ? b[1] : b[0], "y", 1) == 1);
	third.calls = 0;
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(reuse.calls == 1 && third.calls == 0);

	kp_watch_remove(&loop, &reuse.w);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	kp_loop_free(&loop);
}

/* A move that keeps the interest makes no system call (the kernel still
 * holds the fd for the old watch): events go to the new owner all the
 * same, the old one hears nothing. */
static void test_move_same_interest(void)
{
	struct kp_loop loop;
	kn_error err;
	int a[2];

	CHECK(kp_loop_init(&loop, &err) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) == 0);
	struct probe from = { .loop = &loop }, to = { .loop = &loop };
	kp_watch_init(&from.w, a[0], probe_ready);
	kp_watch_init(&to.w, -1, probe_ready);
	CHECK(kp_watch_set(&loop, &from.w, EPOLLIN, 0, &err) == 0);
	CHECK(kp_watch_move(&loop, &from.w, &to.w, EPOLLIN, &err) == 0);
	CHECK(to.w.registered && to.w.events == EPOLLIN && to.w.fd == a[0]);
	CHECK(write(a[1], "x", 1) == 1);
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(from.calls == 0 && to.calls == 1 && to.seen == EPOLLIN);
	/* And back, as the pool does. */
	CHECK(kp_watch_move(&loop, &to.w, &from.w, EPOLLIN, &err) == 0);
	to.calls = 0;
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(from.calls == 1 && to.calls == 0);
	kp_watch_close(&loop, &from.w);
	close(a[1]);
	kp_loop_free(&loop);
}

/* Within one batch, the first callback closes the other watch's fd and
 * registers the same number for a new, readable socket: the event fetched
 * for the old socket is not handed to the new watch (its generation
 * differs); the new one is heard on the next pass. */
struct reuser {
	struct probe p;
	struct probe *other;
	struct probe *fresh;
	int fresh_peer;
};

static void reuse_ready(struct kp_watch *w, uint32_t ev)
{
	struct reuser *r = (struct reuser *)w;
	kn_error err;
	r->p.seen |= ev;
	r->p.calls++;
	if (!r->other || r->other->w.fd < 0)
		return;
	int number = r->other->w.fd;
	kp_watch_close(r->p.loop, &r->other->w);
	int s[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
	/* The new socket on the old number (the lowest free one: usually so). */
	if (s[0] != number) {
		CHECK(dup2(s[0], number) == number);
		close(s[0]);
	}
	r->fresh_peer = s[1];
	kp_watch_init(&r->fresh->w, number, probe_ready);
	CHECK(kp_watch_set(r->p.loop, &r->fresh->w, EPOLLIN, 0, &err) == 0);
	CHECK(write(s[1], "z", 1) == 1);
}

static void test_generation(void)
{
	struct kp_loop loop;
	kn_error err;
	int a[2], b[2];

	CHECK(kp_loop_init(&loop, &err) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b) == 0);
	struct probe fresh_a = { .loop = &loop }, fresh_b = { .loop = &loop };
	struct reuser ra = { .p = { .loop = &loop }, .fresh = &fresh_b, .fresh_peer = -1 };
	struct reuser rb = { .p = { .loop = &loop }, .fresh = &fresh_a, .fresh_peer = -1 };
	ra.other = &rb.p;
	rb.other = &ra.p;
	kp_watch_init(&ra.p.w, a[0], reuse_ready);
	kp_watch_init(&rb.p.w, b[0], reuse_ready);
	CHECK(kp_watch_set(&loop, &ra.p.w, EPOLLIN, 0, &err) == 0);
	CHECK(kp_watch_set(&loop, &rb.p.w, EPOLLIN, 0, &err) == 0);
	CHECK(write(a[1], "x", 1) == 1);
	CHECK(write(b[1], "y", 1) == 1);
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	/* One of the two ran and replaced the other. */
	CHECK(ra.p.calls + rb.p.calls == 1);
	struct probe *fresh = ra.p.calls ? &fresh_b : &fresh_a;
	CHECK(fresh->calls == 0);
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(fresh->calls == 1 && fresh->seen == EPOLLIN);

	struct reuser *ran = ra.p.calls ? &ra : &rb;
	kp_watch_close(&loop, &fresh->w);
	kp_watch_close(&loop, &ran->p.w);
	close(ran->fresh_peer);
	close(a[1]);
	close(b[1]);
	kp_loop_free(&loop);
}

/* Deferred work (the decision lines): not run while events keep coming,
 * run before the loop would wait. */
static int idle_runs;
static bool idle_wanted;
static bool idle_due(void *arg) { (void)arg; return idle_wanted; }
static void idle_run(void *arg) { (void)arg; idle_runs++; idle_wanted = false; }

static void test_idle(void)
{
	struct kp_loop loop;
	kn_error err;
	int a[2];

	CHECK(kp_loop_init(&loop, &err) == 0);
	loop.idle_due = idle_due;
	loop.idle = idle_run;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a) == 0);
	struct probe p = { .loop = &loop };
	kp_watch_init(&p.w, a[0], probe_ready);
	CHECK(kp_watch_set(&loop, &p.w, EPOLLIN, 0, &err) == 0);
	CHECK(write(a[1], "x", 1) == 1);
	idle_wanted = true;
	/* An event is ready: it is handled, the deferred work waits. */
	CHECK(kp_loop_run_once(&loop, 1000, &err) == 0);
	CHECK(p.calls == 1 && idle_runs == 0);
	char c;
	CHECK(read(a[0], &c, 1) == 1);
	/* Nothing ready: the work runs, then the loop waits (and times out). */
	CHECK(kp_loop_run_once(&loop, 20, &err) == 0);
	CHECK(idle_runs == 1 && p.calls == 1);
	/* Nothing due: no extra look. */
	CHECK(kp_loop_run_once(&loop, 20, &err) == 0);
	CHECK(idle_runs == 1);
	kp_watch_close(&loop, &p.w);
	close(a[1]);
	kp_loop_free(&loop);
}

int main(void)
{
	RUN(test_timer_heap);
	RUN(test_buf);
	RUN(test_loop);
	RUN(test_move_and_close);
	RUN(test_move_same_interest);
	RUN(test_generation);
	RUN(test_idle);
	return test_summary();
}
