/* idmap.h — user-namespace id mappings: user-namespace fds that describe a
 * mapping, for idmapped mounts and for the sandbox's processes to join.
 *
 * Contract: the sandbox's user namespace maps inside ids 0..KN_IDMAP_RANGE-1 to
 * host ids base..base+KN_IDMAP_RANGE-1 (base is per sandbox, never 0).
 * kn_idmap_userns_fd clones a short-lived child into a fresh user namespace
 * (sharing the caller's memory: not for a multi-threaded caller), writes the
 * requested maps for it, returns an O_CLOEXEC fd to that namespace and kills
 * and reaps the child: the fd is what mount_setattr(MOUNT_ATTR_IDMAP) wants,
 * and what a sandbox's first process joins with setns(2). kn_idmap_mount clones `path` as a detached mount tree with that idmap
 * and the given MOUNT_ATTR_* flags and returns the tree's fd. Caller: root. */
#ifndef KENNEL_IDMAP_H
#define KENNEL_IDMAP_H

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* 65536 ids: every uid/gid a Debian system hands out (0..65535, with 65534 as
 * nobody) fits, the same size as the usual /etc/subuid allocation. */
#define KN_IDMAP_RANGE 65536u

struct kn_idmap {
	uint32_t inside;
	uint32_t outside;
	uint32_t count;
};

int kn_idmap_userns_fd(const struct kn_idmap *uid, size_t n_uid, const struct kn_idmap *gid,
		       size_t n_gid, kn_error *err);
/* The sandbox's mapping: 0..KN_IDMAP_RANGE-1 to `base`.., uids and gids. */
int kn_idmap_root_userns(uint32_t base, kn_error *err);
/* attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | ... ; recursive clone of
 * `path` relative to `dirfd`, or of `dirfd` itself when `path` is "" (then
 * `shown` names it in errors). */
int kn_idmap_mount(int dirfd, const char *path, const char *shown, int userns_fd,
		   uint64_t attr_set, kn_error *err);

#endif
