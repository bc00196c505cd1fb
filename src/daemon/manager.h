/* manager.h — sandbox lifecycle in the daemon: create, start, stop, remove,
 * and reconcile after a restart.
 *
 * Contract: all functions run in the daemon's single thread and keep the store,
 * the state dir, the cgroups and the running processes consistent:
 *  - create: validates, writes the folder, prepares the layers, makes the
 *    sandbox's kennel CA (ca.h), or takes all of that made ahead (ahead.h),
 *    then starts it; config.json (the commit
 *    point) is written during that first start, before it is answered. A
 *    failure removes what it made (a folder a crash left without
 *    config.json goes at the next daemon start); an existing sandbox of that
 *    name is never touched.
 *  - start: the kennel CA (made if the sandbox has none yet) into the
 *    sandbox's trust store, cgroup with limits, namespaces and init;
 *    proxy-config.json (and at create config.json) while init sets up its
 *    mounts (sandbox.h, kn_ns_start's `meanwhile`), runtime.json once it is
 *    ready; the sandbox is then pending for the proxy.
 *  - connect_pending: hands every pending sandbox (listeners, policy, CA)
 *    to the proxy. The server calls it once the answer that started them
 *    is sent, and does not wait for the proxy's answer (proxy_sup.h): the
 *    proxy's ~1 ms of taking a sandbox is neither in the caller's wait nor
 *    in that of the next request (a first exec comes within a
 *    millisecond), and nothing is lost meanwhile, as the sandbox's proxy
 *    connections wait in its listeners' backlog (as when the proxy
 *    restarts). Stop and set_policy know a pending sandbox is not the
 *    proxy's yet.
 *  - idle: the server calls it when it has had nothing to do for a moment:
 *    makes the namespaces of the next start ahead of it (spare.h), so a
 *    create or start only joins them, then (at the next call) the next
 *    sandbox's folder with its CA and trust store (ahead.h), which a create
 *    takes, and the next CA's key (ca.h).
 *  - stop: kills every process in the sandbox's cgroup, reaps init, removes the
 *    cgroup and runtime.json. The writable layer stays.
 *  - remove: stop, then delete the folder (through trash).
 *  - reconcile (daemon start): adopts sandboxes whose init still runs (same pid
 *    and start time), clears the rest, and destroys cgroups of no sandbox.
 *  - on_init_exit: called when an init's pidfd becomes readable.
 * Errors carry an HTTP-ish class in err->errnum: ENOENT unknown sandbox,
 * EEXIST name taken, EINVAL bad input, EBUSY running; others are internal. */
#ifndef KENNEL_MANAGER_H
#define KENNEL_MANAGER_H

#include "daemon/agents.h"
#include "daemon/store.h"

struct kn_create_req {
	const char *name; /* NULL: default */
	const char *agent;
	const char *image;
	size_t n_workspaces;
	struct kn_workspace workspaces[KN_MAX_WORKSPACES];
	struct kn_limits limits;
	int vm;               /* isolation "vm", as the caller resolved it (the request's,
			       * else kenneld's --isolation) */
};


int kn_mgr_create(struct kn_store *st, const struct kn_create_req *req, struct kn_sandbox **out,
		  kn_error *err);
int kn_mgr_start(struct kn_store *st, struct kn_sandbox *sb, kn_error *err);
int kn_mgr_stop(struct kn_store *st, struct kn_sandbox *sb, kn_error *err);
int kn_mgr_remove(struct kn_store *st, struct kn_sandbox *sb, int force, kn_error *err);
int kn_mgr_reconcile(struct kn_store *st, kn_error *err);
void kn_mgr_on_init_exit(struct kn_store *st, struct kn_sandbox *sb);
/* Idle work: the next start's namespaces and the next sandbox's folder,
 * one per call, when they are not ready. The server calls kn_mgr_idle after
 * KN_IDLE_AFTER_MS without events while kn_mgr_idle_due says there is some,
 * else at its slow tick. */
int kn_mgr_idle_due(const struct kn_store *st);
void kn_mgr_idle(struct kn_store *st);
/* Hand every sandbox started since the last call to kennel-proxy. */
void kn_mgr_connect_pending(struct kn_store *st);
/* Replace the sandbox's policy (canonical JSON, see kn_policy_canonical):
 * saved in config.json first, then proxy-config.json, then the proxy. */
int kn_mgr_set_policy(struct kn_store *st, struct kn_sandbox *sb, json_t *canon, kn_error *err);


#endif
