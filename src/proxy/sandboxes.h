/* sandboxes.h — a worker's table of the sandboxes it serves: each one's name,
 * slot, current policy, listeners and connections.
 *
 * Contract (worker thread only):
 *   kp_sandbox_apply   applies one command from the master: "sandbox" adds the
 *                      sandbox or replaces its listeners (the old ones closed)
 *                      policy and CA (kept as PEM until its first use:
 *                      tls.h); "policy"
 *                      replaces the policy; "remove"
 *                      closes its listeners and every connection, then frees
 *                      it; "secrets" replaces the worker's credential table. Listener fds are taken over (closed on failure too).
 *   Policies are reference-counted: a request holds the policy that was in
 *   force when it was read until its decision is complete, so a policy message
 *   applies to every request read after it, never half of one.
 *   Listeners are polled with EPOLLEXCLUSIVE (every worker polls the same
 *   sockets; the kernel wakes one) and non-blocking accept4: with other
 *   workers one connection per wake-up, after which the worker registers
 *   again, which puts it at the back of the listener's wait queue (the kernel
 *   wakes the first): connections spread over the workers even when they
 *   arrive together at an idle proxy. A lone worker accepts in batches of
 *   KP_ACCEPT_BATCH. */
#ifndef KENNEL_PROXY_SANDBOXES_H
#define KENNEL_PROXY_SANDBOXES_H

#include <stddef.h>

#include "common/error.h"
#include "policy/policy.h"
#include "proxy/control.h"
#include "proxy/loop.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

struct kp_policy_ref {
	unsigned refs;
	struct kn_policy policy;
};

struct kp_listener {
	struct kp_watch w;
	struct kp_sandbox *sb;
};

struct kp_sandbox {
	struct kp_sandbox *next;
	struct kp_worker *w;
	char name[KP_SANDBOX_NAME_MAX + 1];
	int slot;
	struct kp_policy_ref *policy;
	struct kp_ca *ca; /* NULL: CONNECTs are plain tunnels */
	struct kp_listener listeners[2];
	size_t nlisteners;
	struct kp_conn *conns; /* linked through sb_next / sb_prev */
	size_t nconns;
};

int kp_sandbox_apply(struct kp_worker *w, struct kp_command *cmd, int *fds, size_t n_fds,
		     kn_error *err);

struct kp_policy_ref *kp_policy_ref_get(struct kp_policy_ref *ref);
void kp_policy_ref_put(struct kp_policy_ref *ref);

/* Free the sandboxes removed during this loop batch (after kp_conn_reap). */
void kp_sandboxes_reap(struct kp_worker *w);

/* Register (resume) or unregister (pause) every listener of every sandbox. */
void kp_sandboxes_listen(struct kp_worker *w, bool on);

#endif
