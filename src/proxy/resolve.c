/* resolve.c — getaddrinfo thread pool (contract: resolve.h).
 *
 * getaddrinfo_a(3) would hide the threads, but it starts one thread per
 * request up to a glibc-internal limit and signals completion through
 * callbacks or signals; a fixed pool with an explicit queue makes both bounds
 * visible and the wake-up a plain eventfd. */
#define _GNU_SOURCE
#include "proxy/resolve.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static void lookup(struct kp_resolve_job *job)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
	};
	struct addrinfo *res = NULL;

	job->result.n = 0;
	job->sys_errno = 0;
	job->gai_error = getaddrinfo(job->host, NULL, &hints, &res);
	if (job->gai_error == EAI_SYSTEM)
		job->sys_errno = errno;
	if (job->gai_error != 0)
		return;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct kn_addr a;
		if (kn_addr_from_sockaddr(ai->ai_addr, ai->ai_addrlen, &a, NULL) == 0)
			kp_candidates_add(&job->result, &a);
	}
	freeaddrinfo(res);
	if (job->result.n == 0)
		job->gai_error = EAI_NODATA;
}

static void *resolver_thread(void *arg)
{
	struct kp_resolver *r = arg;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (!r->queue_head)
			pthread_cond_wait(&r->wake, &r->lock);
		struct kp_resolve_job *job = r->queue_head;
		r->queue_head = job->next;
		if (!r->queue_head)
			r->queue_tail = NULL;
		r->queued--;
		pthread_mutex_unlock(&r->lock);

		lookup(job);

		pthread_mutex_lock(&r->lock);
		job->next = r->done;
		r->done = job;
		pthread_mutex_unlock(&r->lock);
		uint64_t one = 1;
		ssize_t w = write(r->efd, &one, sizeof(one));
		(void)w; /* a full counter still leaves the eventfd readable */
	}
	return NULL;
}

int kp_resolver_start(struct kp_resolver *r, kn_error *err)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0)
		return kn_fail_errno(err, "eventfd for the resolver");

	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (size_t i = 0; i < KP_RESOLVER_THREADS; i++) {
		int rc = pthread_create(&r->threads[i], NULL, resolver_thread, r);
		if (rc != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			errno = rc;
			return kn_fail_errno(err, "pthread_create resolver thread %zu", i);
		}
		r->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

int kp_resolver_submit(struct kp_resolver *r, struct kp_resolve_job *job)
{
	pthread_mutex_lock(&r->lock);
	if (r->queued >= KP_RESOLVER_QUEUE) {
		pthread_mutex_unlock(&r->lock);
		return -1;
	}
	job->next = NULL;
	if (r->queue_tail)
		r->queue_tail->next = job;
	else
		r->queue_head = job;
	r->queue_tail = job;
	r->queued++;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

struct kp_resolve_job *kp_resolver_take_done(struct kp_resolver *r)
{
	uint64_t count;
	ssize_t n = read(r->efd, &count, sizeof(count));
	(void)n; /* EAGAIN: a spurious wake-up, the list below says what is done */

	pthread_mutex_lock(&r->lock);
	struct kp_resolve_job *done = r->done;
	r->done = NULL;
	pthread_mutex_unlock(&r->lock);
	return done;
}

const char *kp_resolve_strerror(const struct kp_resolve_job *job)
{
	if (job->gai_error == EAI_SYSTEM)
		return strerror(job->sys_errno);
	return gai_strerror(job->gai_error);
}
