/* resolve.h — name resolution off the event loop: a small pool of threads
 * running getaddrinfo(3), finished lookups handed back through an eventfd.
 *
 * Contract: kp_resolver_start creates the eventfd and KP_RESOLVER_THREADS
 * threads (call it before anything else creates threads, after seccomp). The
 * loop thread submits jobs (kp_resolver_submit refuses with -1 when
 * KP_RESOLVER_QUEUE jobs are already waiting) and, when the eventfd is
 * readable, takes back the finished ones (kp_resolver_take_done, a NULL-
 * terminated list linked through `next`). Threads touch only `host` (read) and
 * the result fields (write); `owner` belongs to the loop thread, which clears
 * it to cancel a lookup whose connection went away and frees the job when it
 * comes back. A job is owned by the resolver from submit until take_done.
 *
 * The result holds up to KP_MAX_CANDIDATES distinct addresses in getaddrinfo's
 * order (RFC 6724 sorting), TCP only. `gai_error` is getaddrinfo's return
 * value (0 on success, and then n >= 1). Threads block every signal. */
#ifndef KENNEL_PROXY_RESOLVE_H
#define KENNEL_PROXY_RESOLVE_H

#include <pthread.h>
#include <stddef.h>

#include "common/error.h"
#include "policy/hostname.h"
#include "proxy/decide.h"
#include "proxy/limits.h"

struct kp_resolve_job {
	struct kp_resolve_job *next;
	void *owner;                 /* loop thread only */
	char host[KN_HOST_BUFSZ];    /* canonical name */
	int gai_error;
	int sys_errno;               /* for EAI_SYSTEM */
	struct kp_candidates result;
};

struct kp_resolver {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct kp_resolve_job *queue_head, *queue_tail;
	size_t queued;
	struct kp_resolve_job *done;
	int efd;
	size_t nthreads;
	pthread_t threads[KP_RESOLVER_THREADS];
};

int kp_resolver_start(struct kp_resolver *r, kn_error *err);
int kp_resolver_submit(struct kp_resolver *r, struct kp_resolve_job *job);
struct kp_resolve_job *kp_resolver_take_done(struct kp_resolver *r);
/* Human text for a failed job ("Name or service not known"). */
const char *kp_resolve_strerror(const struct kp_resolve_job *job);

#endif
