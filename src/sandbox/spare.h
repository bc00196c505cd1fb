/* spare.h — the namespaces of the next sandbox start, made ahead of it.
 *
 * A new network namespace is a third of what starting a sandbox costs in
 * the kernel (~0.3 ms of a ~0.55 ms clone here, more than the pid, mount,
 * uts and cgroup namespaces together); an IPC namespace is most of the rest.
 * Neither depends on which sandbox will use it, so kenneld makes them while
 * it has nothing else to do, and a start only joins them. So too the user
 * namespace of the sandbox's root (idmap.h), which depends only on the uid
 * base: made for the base the next sandbox will most likely get.
 *
 * Contract. kn_spare_make makes a network namespace (loopback up, the proxy's
 * listening sockets bound as netns.h describes them) and an IPC namespace,
 * both owned by the host's user namespace, and returns fds to them and to
 * the listeners (close-on-exec; proxy6 is -1 without IPv6), and a user
 * namespace mapping 0..KN_IDMAP_RANGE-1 to `uid_base` (userns, or -1 when
 * that one could not be made: the start makes its own). It runs in the
 * daemon, which steps into the new namespaces and back: the caller must be
 * single-threaded and root, and nothing else may run in between. Should the
 * step back fail, the daemon aborts rather than serve from a sandbox's
 * namespaces. Nothing but the one sandbox that kn_ns_start gives them to
 * ever joins them (sandbox.h); kn_spare_close drops the caller's fds.
 * kn_spare_userns: a user namespace mapping 0..KN_IDMAP_RANGE-1 to
 * `uid_base`, for the caller to close: a dup of the spare's when it was made
 * for that base (`sp` may be NULL), else a new one (idmap.h). */
#ifndef KENNEL_SPARE_H
#define KENNEL_SPARE_H

#include "common/error.h"

#include <stdint.h>

struct kn_spare {
	int net;
	int ipc;
	int proxy4;
	int proxy6;
	int userns;        /* maps the root layers' ids for... */
	uint32_t uid_base; /* ...this uid base */
};

#define KN_SPARE_NONE ((struct kn_spare){-1, -1, -1, -1, -1, 0})

int kn_spare_make(struct kn_spare *sp, uint32_t uid_base, kn_error *err);
int kn_spare_userns(const struct kn_spare *sp, uint32_t uid_base, kn_error *err);
void kn_spare_close(struct kn_spare *sp);

#endif
