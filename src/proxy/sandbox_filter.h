/* sandbox_filter.h — kennel-proxy's own seccomp filters.
 *
 * Contract: kp_filter_apply sets no_new_privs and installs a default-allow
 * filter on every thread of the caller; it cannot be removed, and a later
 * filter only adds refusals. Foreign syscall ABIs kill the process.
 *
 * KP_FILTER_MASTER (the whole proxy, installed first) refuses with EPERM:
 * execve/execveat (a proxy never runs programs: an exploit gets no shell),
 * ptrace and process_vm_readv/writev (the proxy holds credentials in memory),
 * mount and its relatives, pivot_root, chroot, every namespace creation
 * (unshare, clone with CLONE_NEW*, setns; clone3 gets ENOSYS so libc falls back
 * to clone), kernel modules, kexec, bpf, perf_event_open, userfaultfd,
 * io_uring, keyrings, open_by_handle_at, host-wide settings (swap, reboot,
 * clocks, acct, syslog, quotas, iopl), personality changes, setuid/setgid and
 * friends, making the process dumpable again, and sockets of any family but
 * AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK (NETLINK_ROUTE only, which
 * getaddrinfo uses).
 *
 * KP_FILTER_WORKER (added in each worker) also refuses what only the master
 * needs: new processes (fork, vfork, clone without CLONE_THREAD), signals to
 * other processes, and every way to write the filesystem: open/openat with
 * O_WRONLY, O_RDWR, O_CREAT or O_TRUNC (openat2 gets ENOSYS: its flags are in
 * memory), creat, rename, link, symlink, unlink, mkdir, rmdir, mknod, chmod,
 * chown, truncate, utimes and xattr changes. Reading files stays allowed:
 * getaddrinfo reads /etc/hosts, /etc/resolv.conf and nsswitch modules. */
#ifndef KENNEL_PROXY_SANDBOX_FILTER_H
#define KENNEL_PROXY_SANDBOX_FILTER_H

#include "common/error.h"

enum kp_filter_role {
	KP_FILTER_MASTER,
	KP_FILTER_WORKER,
};

int kp_filter_apply(enum kp_filter_role role, kn_error *err);

#endif
