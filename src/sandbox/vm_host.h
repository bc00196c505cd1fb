/* vm_host.h — the filesystem QEMU itself sees in a vm sandbox.
 *
 * Contract: called by kn_rootfs_setup in the sandbox's first process (host root,
 * in the sandbox's mount and pid namespaces) after the guest's root is built at
 * <dir>/rootfs, instead of pivoting into it. Builds a small root on a tmpfs at
 * <dir>/vmhost and pivots into that:
 *   /usr, /lib*, /bin, /sbin  the host's, read-only (QEMU and its libraries and
 *                             firmware), or the same symlinks the host has
 *   /etc/ld.so.cache          the host's, read-only (nothing else of /etc)
 *   /proc                     fresh, for the pid namespace
 *   /dev                      null zero random urandom, and kvm when spec->vm.kvm
 *                             (a node of our own, owned by the sandbox's root)
 *   /tmp                      small tmpfs
 *   /guest                    the guest's root (<dir>/rootfs with its overlays
 *                             and workspaces), which QEMU shares over 9p
 * So QEMU runs from the host's binaries even when the guest's root is an
 * --image, and the guest's 9p view holds none of QEMU's /proc or /dev. */
#ifndef KENNEL_VM_HOST_H
#define KENNEL_VM_HOST_H

#include "common/error.h"
#include "sandbox/sandbox.h"

/* Where the guest's root is in QEMU's view. */
#define KN_VM_HOST_GUEST_DIR "/guest"

int kn_vm_host_root(const struct kn_sandbox_spec *spec, kn_error *err);

#endif
