/* seccomp.c — the syscall fence: a default-allow libseccomp filter with a table
 * of refused syscalls plus a few argument-dependent rules (namespaces, sockets,
 * terminal ioctls, personality). See seccomp.h for the contract.
 *
 * What stays allowed on purpose: ptrace(2), process_vm_readv/writev and kcmp.
 * The pid namespace already hides every process outside the sandbox, and agents
 * debug their own code (gdb, strace, rr, language debuggers). */
#define _GNU_SOURCE
#include "sandbox/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/netlink.h>

#include "common/log.h"
#include "common/util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* Syscalls added since Linux 5.1 have one number on every architecture but
 * alpha and mips (the asm-generic unified table). That lets us refuse one the
 * installed libseccomp is too old to know by name. */
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv)
#define KN_UNIFIED_NR(nr) (nr)
#else
#define KN_UNIFIED_NR(nr) 0
#endif

struct refused_syscall {
	const char *name;
	int errnum;
	/* Number to use when libseccomp does not know `name`; 0 = none. */
	int unified_nr;
};

static const struct refused_syscall refused_syscalls[] = {
	/* Replacing or extending the running kernel. The sandbox root lacks the
	 * capabilities in the initial namespace anyway; refusing here keeps the
	 * kernel's module and kexec code out of reach entirely. */
	{ "kexec_load", EPERM, 0 },
	{ "kexec_file_load", EPERM, 0 },
	{ "init_module", EPERM, 0 },
	{ "finit_module", EPERM, 0 },
	{ "delete_module", EPERM, 0 },

	/* Large, fast-moving kernel interfaces behind a steady stream of local
	 * privilege escalations, none of which an agent needs. userfaultfd is the
	 * usual tool for winning kernel races. io_uring performs socket, open and
	 * other operations without going through the syscall entry, so seccomp
	 * would never see (or filter) them. */
	{ "bpf", EPERM, 0 },
	{ "perf_event_open", EPERM, 0 },
	{ "userfaultfd", EPERM, 0 },
	{ "io_uring_setup", EPERM, 0 },
	{ "io_uring_enter", EPERM, 0 },
	{ "io_uring_register", EPERM, 0 },

	/* The kernel keyring is shared with the host user's sessions and is a
	 * place where credentials live; the sandbox has no business there. */
	{ "keyctl", EPERM, 0 },
	{ "add_key", EPERM, 0 },
	{ "request_key", EPERM, 0 },

	/* File handles name inodes without a path: open_by_handle_at walks
	 * around the mount namespace and pivot_root (the "shocker" escape). */
	{ "open_by_handle_at", EPERM, 0 },
	{ "name_to_handle_at", EPERM, 0 },

	/* Mount changes. Sandbox root owns its mount namespace, so without this
	 * it could unmount or remount to uncover what the setup hid or made
	 * read-only. open_tree_attr (6.15) is the newest way in. */
	{ "mount", EPERM, 0 },
	{ "umount2", EPERM, 0 },
	{ "pivot_root", EPERM, 0 },
	{ "move_mount", EPERM, 0 },
	{ "open_tree", EPERM, 0 },
	{ "open_tree_attr", EPERM, KN_UNIFIED_NR(467) },
	{ "fsopen", EPERM, 0 },
	{ "fsmount", EPERM, 0 },
	{ "fsconfig", EPERM, 0 },
	{ "fspick", EPERM, 0 },
	{ "mount_setattr", EPERM, 0 },

	/* Host-wide state that no namespace isolates: swap, power, process
	 * accounting, the kernel log (it leaks kernel addresses), the clocks,
	 * disk quotas, the controlling terminal of others, filesystem-wide
	 * event monitoring. Refused outright rather than left to the kernel's
	 * capability checks. */
	{ "swapon", EPERM, 0 },
	{ "swapoff", EPERM, 0 },
	{ "reboot", EPERM, 0 },
	{ "acct", EPERM, 0 },
	{ "syslog", EPERM, 0 },
	{ "settimeofday", EPERM, 0 },
	{ "clock_settime", EPERM, 0 },
	{ "clock_adjtime", EPERM, 0 },
	{ "adjtimex", EPERM, 0 },
	{ "quotactl", EPERM, 0 },
	{ "quotactl_fd", EPERM, 0 },
	{ "lookup_dcookie", EPERM, 0 },
	{ "vhangup", EPERM, 0 },
	{ "nfsservctl", EPERM, 0 },
	{ "fanotify_init", EPERM, 0 },

	/* Raw hardware I/O port access. */
	{ "iopl", EPERM, 0 },
	{ "ioperm", EPERM, 0 },

	/* Joining another namespace: the sandbox's own are set up by the time
	 * the filter loads, and it must not reach anyone else's. (Creating
	 * namespaces is handled by the clone/unshare rules below.) */
	{ "setns", EPERM, 0 },

	/* Acting on another process's memory layout; no agent use. */
	{ "process_madvise", EPERM, 0 },

	/* clone3 passes its flags in a struct in memory, which seccomp cannot
	 * read, so it cannot be held to the CLONE_NEW* rule. ENOSYS (not EPERM)
	 * makes glibc and musl fall back to clone(2), whose flags we can check. */
	{ "clone3", ENOSYS, 0 },
};

/* Every namespace a new process or unshare(2) can create. CLONE_NEWTIME is
 * unshare-only: in clone(2) bit 0x80 belongs to the exit signal. */
static const uint64_t clone_namespace_flags[] = {
	CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
	CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

/* clone(2) takes its flags first everywhere except s390, where the stack
 * pointer comes first. */
#if defined(__s390__)
#define CLONE_FLAGS_ARG 1
#else
#define CLONE_FLAGS_ARG 0
#endif

/* int-sized syscall arguments: the kernel uses only the low 32 bits, so a
 * comparison must ignore the upper half or garbage there slips past it. */
#define ARG_U32_MASK 0xffffffffULL

/* The socket type's low bits; SOCK_NONBLOCK and SOCK_CLOEXEC live above them
 * (the kernel's SOCK_TYPE_MASK). */
#define SOCK_TYPE_BITS 0xfULL

/* personality(2) values that are no change from an ordinary Linux process:
 * the default, the 32-bit uname variant and the query. Everything else
 * (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, foreign personalities) is refused:
 * those switch off exploit mitigations. */
#define PERSONALITY_QUERY 0xffffffffU

static int rule_fail(int rc, const char *what, kn_error *err)
{
	errno = -rc;
	return kn_fail_errno(err, "seccomp_rule_add %s", what);
}

static int resolve_syscall(const struct refused_syscall *sc, kn_error *err)
{
	int nr = seccomp_syscall_resolve_name(sc->name);
	if (nr != __NR_SCMP_ERROR)
		return nr;
	if (sc->unified_nr)
		return sc->unified_nr;
	const struct scmp_version *v = seccomp_version();
	return kn_fail(err, "libseccomp %u.%u.%u does not know syscall %s", v->major, v->minor,
		       v->micro, sc->name);
}

static int add_refused_syscalls(scmp_filter_ctx ctx, kn_error *err)
{
	for (size_t i = 0; i < KN_ARRAY_SIZE(refused_syscalls); i++) {
		const struct refused_syscall *sc = &refused_syscalls[i];
		int nr = resolve_syscall(sc, err);
		if (nr == -1)
			return -1;
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(sc->errnum), nr, 0);
		if (rc < 0)
			return rule_fail(rc, sc->name, err);
	}
	return 0;
}

/* New namespaces hand the sandbox root fresh capabilities over fresh kernel
 * objects, which is where most user-namespace privilege escalations start;
 * nested user namespaces can be allowed by flag for tools that need them. */
static int add_namespace_rules(scmp_filter_ctx ctx, unsigned flags, kn_error *err)
{
	for (size_t i = 0; i < KN_ARRAY_SIZE(clone_namespace_flags); i++) {
		uint64_t ns = clone_namespace_flags[i];
		if (ns == CLONE_NEWUSER && (flags & KN_SECCOMP_ALLOW_USERNS))
			continue;
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
					  SCMP_A0(SCMP_CMP_MASKED_EQ, ns, ns));
		if (rc < 0)
			return rule_fail(rc, "unshare", err);
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_CMP(CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, ns, ns));
		if (rc < 0)
			return rule_fail(rc, "clone", err);
	}
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
				  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME));
	if (rc < 0)
		return rule_fail(rc, "unshare", err);
	return 0;
}

/* Sockets that bypass the network namespace's only exit (the proxy): vsock
 * reaches the hypervisor or host, packet and raw sockets forge or sniff frames
 * below TCP. SOCK_PACKET is refused in every address family, SOCK_RAW in every
 * family but netlink, where SOCK_RAW is the ordinary datagram interface that
 * getifaddrs(3), if_nameindex(3) and getaddrinfo's AI_ADDRCONFIG use (Node's
 * os.networkInterfaces() throws without it). Netlink's netfilter protocol is
 * refused: it only configures this namespace's empty firewall, and nf_tables
 * reached from a user namespace is the most exploited path to host root. */
static int add_socket_rules(scmp_filter_ctx ctx, kn_error *err)
{
	static const uint64_t refused_domains[] = { AF_VSOCK, AF_PACKET };

	for (size_t i = 0; i < KN_ARRAY_SIZE(refused_domains); i++) {
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
					  SCMP_A0(SCMP_CMP_MASKED_EQ, ARG_U32_MASK, refused_domains[i]));
		if (rc < 0)
			return rule_fail(rc, "socket", err);
	}
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
				  SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_BITS, SOCK_PACKET));
	if (rc < 0)
		return rule_fail(rc, "socket", err);
	/* A 64-bit "not equal" also refuses AF_NETLINK with garbage in the upper
	 * half, which is stricter than the kernel, never looser. */
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 2,
			      SCMP_A0(SCMP_CMP_NE, AF_NETLINK, 0),
			      SCMP_A1(SCMP_CMP_MASKED_EQ, SOCK_TYPE_BITS, SOCK_RAW));
	if (rc < 0)
		return rule_fail(rc, "socket", err);
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 2,
			      SCMP_A0(SCMP_CMP_MASKED_EQ, ARG_U32_MASK, AF_NETLINK),
			      SCMP_A2(SCMP_CMP_MASKED_EQ, ARG_U32_MASK, NETLINK_NETFILTER));
	if (rc < 0)
		return rule_fail(rc, "socket", err);
	return 0;
}

/* TIOCSTI pushes bytes into a terminal's input queue, so a process sharing the
 * daemon's pty could type commands into whatever reads it next; TIOCLINUX can
 * do the same on a virtual console. */
static int add_ioctl_rules(scmp_filter_ctx ctx, kn_error *err)
{
	static const uint64_t refused_requests[] = { TIOCSTI, TIOCLINUX };

	for (size_t i = 0; i < KN_ARRAY_SIZE(refused_requests); i++) {
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
					  SCMP_A1(SCMP_CMP_MASKED_EQ, ARG_U32_MASK, refused_requests[i]));
		if (rc < 0)
			return rule_fail(rc, "ioctl", err);
	}
	return 0;
}

/* Refuses `nr` when the low 32 bits of argument `arg` lie in [lo, hi].
 * libseccomp 2.5 cannot AND two comparisons of one argument, so the range is
 * split into aligned power-of-two blocks, one masked comparison each. */
static int refuse_u32_range(scmp_filter_ctx ctx, int nr, const char *name, unsigned arg,
			    uint32_t lo, uint32_t hi, kn_error *err)
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

static int add_personality_rules(scmp_filter_ctx ctx, kn_error *err)
{
	_Static_assert(PER_LINUX == 0 && PER_LINUX32 > PER_LINUX + 1 &&
			       PER_LINUX32 + 1 < PERSONALITY_QUERY,
		       "the refused ranges below assume 0 < PER_LINUX32 < query");
	int nr = SCMP_SYS(personality);
	if (refuse_u32_range(ctx, nr, "personality", 0, PER_LINUX + 1, PER_LINUX32 - 1, err) < 0)
		return -1;
	return refuse_u32_range(ctx, nr, "personality", 0, PER_LINUX32 + 1, PERSONALITY_QUERY - 1, err);
}

/* Set-id bits. Workspace files the agent creates belong on the host to the
 * workspace's owner, which may be root: a setuid bit set inside would make a
 * host-root setuid program (nosuid and no_new_privs protect only the sandbox).
 * So no syscall may set S_ISUID or S_ISGID on a file, whatever the path: chmod
 * family by mode argument, creation (creat, open/openat with O_CREAT or
 * O_TMPFILE, mknod) by mode argument. openat2 takes its mode in a struct the
 * filter cannot read: ENOSYS makes libc and runtimes fall back to openat. */
struct setid_rule {
	const char *name;
	unsigned mode_arg;
	int flags_arg; /* -1: none; else creation only when O_CREAT/O_TMPFILE set */
};

static const struct setid_rule setid_rules[] = {
	{"chmod", 1, -1},  {"fchmod", 1, -1}, {"fchmodat", 2, -1}, {"fchmodat2", 2, -1},
	{"creat", 1, -1},  {"mknod", 1, -1},  {"mknodat", 2, -1},
	{"open", 2, 1},    {"openat", 3, 2},
};

/* Not yet in libseccomp 2.5.4's tables (Linux 6.6); same number on x86_64. */
#define FCHMODAT2_X86_64 452

static int add_setid_mode_rules(scmp_filter_ctx ctx, kn_error *err)
{
	static const uint64_t setid_bits[] = {S_ISUID, S_ISGID};
	static const uint64_t create_flags[] = {O_CREAT, __O_TMPFILE};
	for (size_t i = 0; i < KN_ARRAY_SIZE(setid_rules); i++) {
		const struct setid_rule *r = &setid_rules[i];
		int nr = seccomp_syscall_resolve_name(r->name);
#ifdef __x86_64__
		if (nr == __NR_SCMP_ERROR && !strcmp(r->name, "fchmodat2"))
			nr = FCHMODAT2_X86_64;
#endif
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture (open, creat on arm64) */
		for (size_t b = 0; b < KN_ARRAY_SIZE(setid_bits); b++) {
			struct scmp_arg_cmp mode = SCMP_CMP(r->mode_arg, SCMP_CMP_MASKED_EQ, setid_bits[b], setid_bits[b]);
			if (r->flags_arg < 0) {
				int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, mode);
				if (rc < 0)
					return rule_fail(rc, r->name, err);
				continue;
			}
			for (size_t f = 0; f < KN_ARRAY_SIZE(create_flags); f++) {
				struct scmp_arg_cmp flag = SCMP_CMP((unsigned)r->flags_arg, SCMP_CMP_MASKED_EQ,
								    create_flags[f], create_flags[f]);
				int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 2, flag, mode);
				if (rc < 0)
					return rule_fail(rc, r->name, err);
			}
		}
	}
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
	return rc < 0 ? rule_fail(rc, "openat2", err) : 0;
}

static int build_filter(scmp_filter_ctx ctx, unsigned flags, kn_error *err)
{
	/* Only the native ABI is in the filter. Any other (int 0x80 into the
	 * 32-bit x86 table, x32 numbers with bit 30 set) hits the bad-arch
	 * action: its syscall numbers mean different things and none of the
	 * rules above would match them. Killing is loud; a 32-bit binary in
	 * the sandbox dies with SIGSYS instead of half-working. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0) {
		errno = -rc;
		return kn_fail_errno(err, "seccomp_attr_set bad-arch action");
	}
	/* A binary search over syscall numbers instead of a linear chain. The
	 * kernel's action cache skips the filter for syscalls whose answer does
	 * not depend on arguments; ioctl, socket, clone and the like run it on
	 * every call. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc < 0) {
		errno = -rc;
		return kn_fail_errno(err, "seccomp_attr_set binary-tree optimization");
	}
	/* Every thread, should the caller ever have more than one. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc < 0) {
		errno = -rc;
		return kn_fail_errno(err, "seccomp_attr_set thread sync");
	}
	if (add_refused_syscalls(ctx, err) < 0 || add_namespace_rules(ctx, flags, err) < 0 ||
	    add_socket_rules(ctx, err) < 0 || add_ioctl_rules(ctx, err) < 0 ||
	    add_personality_rules(ctx, err) < 0 || add_setid_mode_rules(ctx, err) < 0)
		return -1;
	return 0;
}

/* Filters compiled by kn_seccomp_prepare, one per flags value: building one
 * with libseccomp costs milliseconds (it probes the kernel and optimises the
 * tree), loading a compiled one a single syscall. */
#define KN_SECCOMP_VARIANTS 2
static struct sock_fprog prepared[KN_SECCOMP_VARIANTS];

static int build_ctx(unsigned flags, scmp_filter_ctx *out, kn_error *err)
{
	if (flags & ~KN_SECCOMP_ALLOW_USERNS)
		return kn_fail(err, "seccomp: unknown flags 0x%x", flags & ~KN_SECCOMP_ALLOW_USERNS);
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return kn_fail(err, "seccomp_init: out of memory");
	if (build_filter(ctx, flags, err) < 0) {
		seccomp_release(ctx);
		return -1;
	}
	*out = ctx;
	return 0;
}

int kn_seccomp_prepare(unsigned flags, kn_error *err)
{
	scmp_filter_ctx ctx;
	if (build_ctx(flags, &ctx, err) < 0)
		return -1;
	int mfd = memfd_create("kennel-seccomp", MFD_CLOEXEC);
	if (mfd < 0) {
		seccomp_release(ctx);
		return kn_fail_errno(err, "memfd_create for the seccomp program");
	}
	int rc = seccomp_export_bpf(ctx, mfd);
	seccomp_release(ctx);
	if (rc < 0) {
		close(mfd);
		errno = -rc;
		return kn_fail_errno(err, "seccomp_export_bpf");
	}
	off_t len = lseek(mfd, 0, SEEK_END);
	struct sock_filter *prog = malloc(len > 0 ? (size_t)len : 1);
	if (len <= 0 || len % (off_t)sizeof(struct sock_filter) || !prog ||
	    pread(mfd, prog, (size_t)len, 0) != len) {
		free(prog);
		close(mfd);
		return kn_fail(err, "read back the seccomp program (%jd bytes)", (intmax_t)len);
	}
	close(mfd);
	struct sock_fprog *slot = &prepared[flags & KN_SECCOMP_ALLOW_USERNS];
	free(slot->filter);
	slot->filter = prog;
	slot->len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
	return 0;
}

int kn_seccomp_apply(unsigned flags, kn_error *err)
{
	if (flags & ~KN_SECCOMP_ALLOW_USERNS)
		return kn_fail(err, "seccomp: unknown flags 0x%x", flags & ~KN_SECCOMP_ALLOW_USERNS);

	/* Needed to load a filter without CAP_SYS_ADMIN, and what keeps setuid
	 * binaries from regaining what the sandbox took away. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kn_fail_errno(err, "prctl PR_SET_NO_NEW_PRIVS");

	const struct sock_fprog *fp = &prepared[flags & KN_SECCOMP_ALLOW_USERNS];
	if (fp->filter) {
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, fp) != 0)
			return kn_fail_errno(err, "seccomp SET_MODE_FILTER (prepared program)");
		return 0;
	}
	scmp_filter_ctx ctx;
	if (build_ctx(flags, &ctx, err) < 0)
		return -1;
	int ret = 0, rc = seccomp_load(ctx);
	if (rc < 0) {
		errno = -rc;
		ret = kn_fail_errno(err, "seccomp_load");
	}
	seccomp_release(ctx);
	if (ret == 0)
		log_debug("seccomp filter loaded (%zu refused syscalls, user namespaces %s)",
			  KN_ARRAY_SIZE(refused_syscalls),
			  (flags & KN_SECCOMP_ALLOW_USERNS) ? "allowed" : "refused");
	return ret;
}
