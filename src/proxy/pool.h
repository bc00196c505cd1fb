/* pool.h — a worker's idle plain-HTTP upstream connections, kept after the
 * client connection that used them closed, for a later client connection of
 * the same sandbox.
 *
 * Contract (worker thread only). An entry is an upstream socket that ended an
 * exchange reusable by forward.h's rules (keep_upstream) while its client
 * connection was closing, with what it was opened for (conn.h's
 * kp_kept_upstream: canonical host, port, address dialled, idle since). Its
 * key is the sandbox (slot AND name: a sandbox added later in the same slot
 * never gets another's connections), the host, the port and the address.
 *   kp_pool_put   takes the fd and its registration from the caller's
 *                 watch `from` (loop.h's kp_watch_move), or closes it when
 *                 it is not kept: idle for KP_UPSTREAM_REUSE_IDLE_MS
 *                 already, the descriptor budget would not leave room for
 *                 another client connection, no memory. At
 *                 KP_UPSTREAM_POOL_MAX entries the oldest is
 *                 closed first. Entries are kept in idle order (the oldest
 *                 last), so the timer and eviction look at one end only.
 *   kp_pool_take  the newest entry with the key whose address still passes
 *                 the address check under `policy` (kp_filter_candidates, as
 *                 for every dial) and idle less than
 *                 KP_UPSTREAM_REUSE_IDLE_MS: its fd, handed with its
 *                 registration (interest EPOLLIN) to the caller's watch
 *                 `into` (the caller owns it from then on), and its record;
 *                 -1 when none. Entries of that key met on the way that are
 *                 too old or whose address is now blocked are closed.
 * While pooled an entry is watched: any event (the server closed, failed or
 * sent bytes nobody asked for) closes it. A timer closes entries as they pass
 * KP_UPSTREAM_REUSE_IDLE_MS, so an idle pool holds nothing for long.
 * kp_pool_drop_sandbox closes a removed sandbox's entries; a worker's exit
 * closes the rest with the process.
 * Descriptor budget: every entry is one fd, counted in `n` (worker.h counts
 * it); kp_pool_evict_oldest gives one back when a client connection needs it.
 * Entries closed during a loop batch are freed by kp_pool_reap after it (an
 * event for their watch may still be in the batch). */
#ifndef KENNEL_PROXY_POOL_H
#define KENNEL_PROXY_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/timer.h"

struct kp_worker;
struct kp_sandbox;
struct kn_policy;
struct kp_kept_upstream;
struct kp_pool_entry;
struct kp_watch;

struct kp_pool {
	struct kp_pool_entry *head, *tail; /* newest first */
	size_t n;
	struct kp_timer timer;             /* the oldest entry's expiry */
	struct kp_pool_entry *graveyard;
};

void kp_pool_init(struct kp_pool *p);
void kp_pool_put(struct kp_worker *w, const struct kp_sandbox *sb, struct kp_watch *from,
		 const struct kp_kept_upstream *k);
int kp_pool_take(struct kp_worker *w, const struct kp_sandbox *sb, const char *host,
		 uint16_t port, const struct kn_policy *policy, struct kp_kept_upstream *out,
		 struct kp_watch *into);
void kp_pool_drop_sandbox(struct kp_worker *w, const struct kp_sandbox *sb);
/* Close the oldest entry: false when the pool is empty. */
bool kp_pool_evict_oldest(struct kp_worker *w);
void kp_pool_reap(struct kp_worker *w);

#endif
