/* ahead.h — the next sandbox's folder, made before anyone asks for it.
 *
 * A create spent ~1.4 ms of its ~3.5 ms on what does not depend on the
 * sandbox it makes: the folders of its layers, which depend only on its uid
 * base (kn_ns_prepare_folders), a kennel CA (ca.h: the certificate names no
 * sandbox), the trust store that holds it (trust.h: the host's 220 KB
 * bundle with the CA appended) and the three overlays over those folders
 * (rootfs.h: ~0.2 ms each, mostly overlayfs checking its work dir). kenneld
 * makes them while it is idle (manager.h) in KN_AHEAD_DIR, inside the state
 * dir's sandboxes/ folder (root's alone; a dot name, which no sandbox can
 * have and which loading the store skips), for a uid base that no sandbox
 * has; the next create of a host-based `ns` sandbox gets that base and
 * takes the folder by renaming it to its own, then writes only what names
 * it (its /etc/hostname and /etc/hosts, through the overlay: once mounted,
 * a layer changes only through it), and its first start attaches the
 * overlays.
 *
 * Contract (the daemon's single thread; st->ahead is the record):
 *  - kn_ahead_due: the folder or its overlays are not made yet, and the
 *    last attempt did not fail (a failed one is retried at the server's
 *    slow tick).
 *  - kn_ahead_next_base: the uid base of the next sandbox that can take the
 *    folder: the folder's when made (kept free for it), else the lowest free
 *    one. The namespaces made ahead are made for it too (spare.h).
 *  - kn_ahead_recheck: after a create that did not take the folder: when
 *    the sandbox got the folder's uid base (it was the lowest free one),
 *    the folder counts as not made (it goes at the next kn_ahead_make).
 *  - kn_ahead_make: one step (each ~0.6 ms, so a request that comes
 *    meanwhile waits little): without a folder for `uid_base`, (re)makes
 *    it, what was there going first; with one, mounts its overlays. On
 *    failure nothing is left (the next create makes its own). The CA's key
 *    belongs to kennel-proxy's user, as at create. The overlays' lowers are
 *    idmapped with the user namespace made ahead for that base (st->spare),
 *    or one made for them.
 *  - kn_ahead_take: when the folder was made for sb->uid_base and sb is an
 *    `ns` sandbox on the host base, renames it to sb->dir (which must not
 *    exist), records the CA in sb (has_ca, ca), hands its overlays, if
 *    mounted, to the caller in `layers` (to close once the start has them)
 *    and returns 1; otherwise 0 with `layers` all -1, and the folder stays
 *    for a later create. The caller still writes the identity files; the
 *    trust store needs nothing before the first start.
 *  - kn_ahead_drop: removes the folder, made or left by a crash (daemon
 *    start and stop).
 *  - kn_ahead_trust: the CA in spec->dir into spec's trust store (used for
 *    the folder made ahead and at every start). */
#ifndef KENNEL_AHEAD_H
#define KENNEL_AHEAD_H

#include <stdint.h>

#include "common/error.h"
#include "daemon/ca.h"
#include "sandbox/sandbox.h"

#define KN_AHEAD_DIR ".next"

struct kn_ahead {
	int made;
	int failed;        /* the last kn_ahead_make failed */
	uint32_t uid_base; /* made for this base */
	struct kn_ca_info ca;
	int mounted;       /* layer holds its overlays */
	int layer[KN_NS_LAYERS];
};

struct kn_store;
struct kn_sandbox;
struct kn_sandbox_spec;

int kn_ahead_due(const struct kn_store *st);
uint32_t kn_ahead_next_base(const struct kn_store *st);
void kn_ahead_recheck(struct kn_store *st);
int kn_ahead_make(struct kn_store *st, uint32_t uid_base, kn_error *err);
int kn_ahead_take(struct kn_store *st, struct kn_sandbox *sb, int layers[KN_NS_LAYERS]);
void kn_ahead_drop(struct kn_store *st);
int kn_ahead_trust(const struct kn_sandbox_spec *spec, unsigned long subject_hash, kn_error *err);

#endif
