/* rootfs.h — builds a sandbox's filesystem and pivots into it.
 *
 * Contract: called in the sandbox's first process, still host root, already in
 * its own (private) mount namespace, pid namespace (as PID 1) and net namespace.
 * Mounts, all inside that namespace so they vanish with it:
 *   /                overlay: lower = base root skeleton or --image (idmapped),
 *                    upper = the sandbox's persistent writable layer
 *   /usr, /var/lib/dpkg  (host base) overlays of the host dirs, idmapped, each
 *                    with its own persistent upper
 *   /proc            fresh procfs for the pid namespace; /proc/sys and other
 *                    kernel knobs read-only; kcore & co masked
 *   /sys             fresh sysfs, read-only
 *   /dev             tmpfs with null zero full random urandom tty, a new devpts
 *                    instance (pts, ptmx), shm tmpfs, fd/stdin/stdout/stderr links
 *   /tmp             tmpfs
 *   workspaces       idmapped binds of the host dirs at the same path: the
 *                    workspace owner's files appear owned by the agent and the
 *                    agent's new files land owned by the workspace owner
 * Mount points under the new root are resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), never following a symlink: one planted in the sandbox's
 * own writable layer is replaced by a directory; anything but a real directory
 * elsewhere (inside a workspace, i.e. a host folder) refuses the start, and
 * nothing is ever created or removed there. Then pivot_root and detach the old root. Everything
 * is nosuid; everything but / and the layers is nodev.
 *
 * A vm sandbox (spec->vm.enabled) gets the same root without /proc, /sys and /dev
 * (the guest mounts its own; /tmp is kept, as the workspaces may lie below it),
 * and pivots into QEMU's own small root instead (vm_host.h), which holds it.
 * kn_rootfs_pivot makes `dir` the root and detaches the old one.
 * kn_rootfs_overlays makes the overlays of `spec` (its root, then those of
 * kn_base_host_layers; an --image's root alone, the rest -1) as detached
 * mounts (fsmount: in no mount namespace until one attaches them, gone when
 * their last fd closes), lowers idmapped with `userns`: the setup does it
 * unless fds->layer holds them made ahead (daemon/ahead.h). Once made, the
 * layers change only through the overlay (layer.h). */
#ifndef KENNEL_ROOTFS_H
#define KENNEL_ROOTFS_H

#include "common/error.h"
#include "sandbox/sandbox.h"

struct kn_rootfs_fds {
	int root_userns;                       /* maps 0..65535 to uid_base.. */
	int layer[KN_NS_LAYERS];               /* the overlays, mounted ahead
						* (kn_rootfs_overlays) or -1 */
	int ws_userns[KN_MAX_WORKSPACES];      /* maps workspace owner to agent */
	int ws_fd[KN_MAX_WORKSPACES];          /* O_PATH of each workspace, opened
						* without following any symlink */
};

int kn_rootfs_setup(const struct kn_sandbox_spec *spec, const struct kn_rootfs_fds *fds,
		    kn_error *err);
int kn_rootfs_overlays(const struct kn_sandbox_spec *spec, int userns, int out[KN_NS_LAYERS],
		       kn_error *err);
int kn_rootfs_pivot(const char *dir, kn_error *err);

#endif
