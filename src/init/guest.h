/* guest.h — PID 1 inside a vm sandbox's guest (see src/sandbox/vm.h).
 *
 * Contract: kn_guest_run never returns. The guest kernel runs kennel-init as
 * the initramfs's /init; it
 *  1. mounts devtmpfs on /dev and proc on /proc, and makes /dev/console its
 *     fds 0, 1, 2;
 *  2. reads the boot configuration (KN_VM_CONFIG_PATH, vm_proto.h) and keeps
 *     the exec token in memory only; loads the kernel modules named one per
 *     line in KN_GUEST_MODULE_ORDER, from KN_GUEST_MODULE_DIR, in that order;
 *  3. mounts the virtio-9p share KN_VM_ROOT_TAG (nosuid), and on its /usr the
 *     share KN_VM_USR_TAG (nosuid, cached) when QEMU has one; in it proc, a
 *     read-only sysfs, devtmpfs, a private devpts (/dev/ptmx usable), and
 *     tmpfs on /dev/shm (/tmp is the host side's, over 9p); then switches
 *     root as switch_root(8) does, deleting the initramfs's files first (their RAM is the guest's);
 *  4. sets the hostname, brings lo up and eth0 up as KN_VM_GUEST_ADDR/24 with
 *     no default route (the only way out is the proxy address, which is on
 *     that net), and turns IPv6 off;
 *  5. listens on 127.0.0.1:KN_VM_PROXY_PORT, each connection forwarded to
 *     KN_VM_PROXY_ADDR:KN_VM_PROXY_PORT (so the proxy is where the ns backend
 *     has it), and on KN_VM_GUEST_ADDR:KN_VM_EXEC_PORT for exec sessions
 *     (guest_exec.h);
 *  6. accepts, forks a process per connection, reaps every child (orphans
 *     included), and ignores signals sent to it.
 * A failure in 1-5 prints "kennel-guest: <what failed>: <reason>" on the
 * console and powers the guest off, so QEMU (-no-reboot) exits rather than
 * leaving a sandbox that never answers. */
#ifndef KENNEL_INIT_GUEST_H
#define KENNEL_INIT_GUEST_H

#define KN_GUEST_MODULE_DIR "/lib/modules"
#define KN_GUEST_MODULE_ORDER KN_GUEST_MODULE_DIR "/order"
/* Where the 9p root is mounted before it becomes /. */
#define KN_GUEST_NEWROOT "/newroot"
/* The guest's one NIC: virtio-net, named by the kernel (no udev here). */
#define KN_GUEST_NIC "eth0"

void kn_guest_run(void) __attribute__((noreturn));

#endif
