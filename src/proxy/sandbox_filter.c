/* sandbox_filter.c — kennel-proxy's seccomp filters (contract:
 * sandbox_filter.h).
 *
 * Default-allow with refusals rather than an allow-list: the proxy runs
 * getaddrinfo and whatever NSS module the host configures, whose syscalls vary
 * with the libc and the host, and an allow-list that misses one breaks name
 * resolution in a way that is hard to see. What an attacker who took over the
 * process would want first (run a program, debug the daemon, reach the kernel's
 * large attack surfaces, write files, spawn processes) is refused. */
#define _GNU_SOURCE
#include "proxy/sandbox_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* Refused in every process of the proxy. */
static const char *const refused_always[] = {
	/* Running programs and reading other processes. */
	"execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
	"kcmp", "pidfd_getfd",
	/* Mounts, roots and namespaces. */
	"mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
	"fsmount", "fsconfig", "fspick", "mount_setattr", "setns", "unshare",
	/* The kernel's large attack surfaces no proxy needs. */
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "keyctl", "add_key", "request_key",
	"open_by_handle_at", "name_to_handle_at",
	/* Host-wide settings. */
	"swapon", "swapoff", "reboot", "acct", "syslog", "settimeofday", "clock_settime",
	"clock_adjtime", "adjtimex", "quotactl", "iopl", "ioperm", "vhangup",
	"personality",
	/* Identity: started as its user, it stays that user. */
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
	"setfsuid", "setfsgid", "capset",
};

/* Refused in workers only. */
static const char *const refused_in_workers[] = {
	"fork", "vfork", "pidfd_send_signal",
	"creat", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
	"unlink", "unlinkat", "mkdir", "mkdirat", "rmdir", "mknod", "mknodat",
	"chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat",
	"truncate", "ftruncate", "utime", "utimes", "utimensat", "futimesat",
	"setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
};

#define ARG_U32_MASK 0xffffffffULL
#define SOCK_TYPE_BITS 0xfULL

static int rule_fail(int rc, const char *what, kn_error *err)
{
	errno = -rc;
	return kn_fail_errno(err, "seccomp_rule_add %s", what);
}

static int refuse_names(scmp_filter_ctx ctx, const char *const *names, size_t n, kn_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			return kn_fail(err, "libseccomp does not know syscall %s", names[i]);
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (rc < 0)
			return rule_fail(rc, names[i], err);
	}
	return 0;
}

/* Refuses `nr` when the low 32 bits of argument `arg` lie in [lo, hi], as
 * aligned power-of-two blocks (libseccomp 2.5 cannot AND two comparisons of
 * one argument). */
static int refuse_range(scmp_filter_ctx ctx, int nr, const char *name, unsigned arg, uint64_t lo,
			uint64_t hi, kn_error *err)
{
	uint64_t start = lo;

	while (start <= hi) {
		uint64_t size = 1;
		while ((start & (size * 2 - 1)) == 0 && start + size * 2 - 1 <= hi)
			size *= 2;
		uint64_t mask = ARG_U32_MASK & ~(size - 1);
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
					  SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, start));
		if (rc < 0)
			return rule_fail(rc, name, err);
		start += size;
	}
	return 0;
}

static int add_process_rules(scmp_filter_ctx ctx, kn_error *err)
{
	static const uint64_t ns_flags[] = {
		CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
		CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
	};

	for (size_t i = 0; i < KN_ARRAY_SIZE(ns_flags); i++) {
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
					  SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
		if (rc < 0)
			return rule_fail(rc, "clone", err);
	}
	/* clone3's flags live in memory where seccomp cannot read them. */
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc < 0)
		return rule_fail(rc, "clone3", err);
	/* Once undumpable, always: no core dump or ptrace attach by the same
	 * user could read the credentials in memory. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prctl), 2,
			      SCMP_A0(SCMP_CMP_MASKED_EQ, ARG_U32_MASK, PR_SET_DUMPABLE),
			      SCMP_A1(SCMP_CMP_NE, 0, 0));
	if (rc < 0)
		return rule_fail(rc, "prctl", err);
	return 0;
}

/* AF_UNIX (control and worker sockets, nscd), AF_INET, AF_INET6 (upstreams,
 * DNS) and AF_NETLINK with NETLINK_ROUTE (getaddrinfo's address sorting);
 * no raw IP sockets. */
static int add_socket_rules(scmp_filter_ctx ctx, kn_error *err)
{
	int nr = SCMP_SYS(socket);

	_Static_assert(AF_UNIX == 1 && AF_INET == 2 && AF_INET6 == 10 && AF_NETLINK == 16,
		       "the allowed families below are written as ranges around these");
	if (refuse_range(ctx, nr, "socket", 0, 0, 0, err) < 0 ||
	    refuse_range(ctx, nr, "socket", 0, 3, 9, err) < 0 ||
	    refuse_range(ctx, nr, "socket", 0, 11, 15, err) < 0 ||
	    refuse_range(ctx, nr, "socket", 0, 17, ARG_U32_MASK, err) < 0)
		return -1;
	/* Every netlink protocol but NETLINK_ROUTE. A 64-bit "not equal" also
	 * refuses NETLINK_ROUTE with garbage in the upper half: stricter than
	 * the kernel, never looser. */
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 2,
				  SCMP_A0(SCMP_CMP_MASKED_EQ, ARG_U32_MASK, AF_NETLINK),
				  SCMP_A2(SCMP_CMP_NE, NETLINK_ROUTE, 0));
	if (rc < 0)
		return rule_fail(rc, "socket", err);
	for (uint64_t family = AF_INET; family <= AF_INET6; family += AF_INET6 - AF_INET) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 2,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, ARG_U32_MASK, family),
				      SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_BITS, SOCK_RAW));
		if (rc < 0)
			return rule_fail(rc, "socket", err);
	}
	return 0;
}

/* Workers read files (resolver configuration) but never write one. */
static int add_worker_file_rules(scmp_filter_ctx ctx, kn_error *err)
{
	static const uint64_t write_flags[] = { O_WRONLY, O_RDWR, O_CREAT, O_TRUNC };

	for (size_t i = 0; i < KN_ARRAY_SIZE(write_flags); i++) {
		uint64_t f = write_flags[i];
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(openat), 1,
					  SCMP_A2(SCMP_CMP_MASKED_EQ, f, f));
		if (rc < 0)
			return rule_fail(rc, "openat", err);
#ifdef __NR_open
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(open), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, f, f));
		if (rc < 0)
			return rule_fail(rc, "open", err);
#endif
	}
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
	if (rc < 0)
		return rule_fail(rc, "openat2", err);
	return 0;
}

/* Workers make threads (the resolver) but no processes, and signal nobody
 * but themselves (abort(3) raises SIGABRT on its own thread). */
static int add_worker_process_rules(scmp_filter_ctx ctx, kn_error *err)
{
	uint64_t self = (uint64_t)getpid();

	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0));
	if (rc < 0)
		return rule_fail(rc, "clone", err);
	static const char *const by_pid[] = { "kill", "tgkill", "rt_sigqueueinfo",
					      "rt_tgsigqueueinfo" };
	for (size_t i = 0; i < KN_ARRAY_SIZE(by_pid); i++) {
		int nr = seccomp_syscall_resolve_name(by_pid[i]);
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1,
				      SCMP_A0(SCMP_CMP_NE, self, 0));
		if (rc < 0)
			return rule_fail(rc, by_pid[i], err);
	}
	return 0;
}

static int build(scmp_filter_ctx ctx, enum kp_filter_role role, kn_error *err)
{
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc < 0) {
		errno = -rc;
		return kn_fail_errno(err, "seccomp_attr_set");
	}
	if (role == KP_FILTER_MASTER) {
		if (refuse_names(ctx, refused_always, KN_ARRAY_SIZE(refused_always), err) < 0 ||
		    add_process_rules(ctx, err) < 0 || add_socket_rules(ctx, err) < 0)
			return -1;
		return 0;
	}
	if (refuse_names(ctx, refused_in_workers, KN_ARRAY_SIZE(refused_in_workers), err) < 0 ||
	    add_worker_file_rules(ctx, err) < 0 || add_worker_process_rules(ctx, err) < 0)
		return -1;
	return 0;
}

int kp_filter_apply(enum kp_filter_role role, kn_error *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kn_fail_errno(err, "prctl PR_SET_NO_NEW_PRIVS");
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return kn_fail(err, "seccomp_init: out of memory");
	int ret = build(ctx, role, err);
	if (ret == 0) {
		int rc = seccomp_load(ctx);
		if (rc < 0) {
			errno = -rc;
			ret = kn_fail_errno(err, "seccomp_load");
		}
	}
	seccomp_release(ctx);
	if (ret == 0)
		log_debug("seccomp filter for the %s loaded",
			  role == KP_FILTER_MASTER ? "proxy" : "worker");
	return ret;
}
