/* landlock.c — the filesystem fence through raw Landlock syscalls (glibc has no
 * wrappers). See landlock.h for the contract.
 *
 * Debian 12's <linux/landlock.h> stops at ABI 2; the later constants and the
 * grown ruleset struct are defined here. The kernel accepts a ruleset struct
 * larger than the one it knows as long as the unknown tail is zero, so one
 * struct serves every ABI. */
#define _GNU_SOURCE
#include "sandbox/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6. */
struct kn_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4; left 0: the netns is the network fence */
	uint64_t scoped;             /* ABI 6 */
};

/* ABI 1 cannot be used: it always refuses renaming or linking a file into
 * another directory (EXDEV), which breaks git's object store, package
 * managers and mv. ABI 2 (Linux 5.19) added LANDLOCK_ACCESS_FS_REFER. */
#define KN_LANDLOCK_MIN_ABI 2

/* The ABI that added each feature we use. */
#define ABI_TRUNCATE 3
#define ABI_IOCTL_DEV 5
#define ABI_SCOPE 6

#define ACCESS_FS_ABI1                                                                          \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
	 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |                              \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |                            \
	 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |  \
	 LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* The rights Landlock accepts on a rule for a file rather than a directory. */
#define ACCESS_FS_ON_FILE                                                                        \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
	 LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* Writable trees get everything but device nodes: nothing in a workspace or
 * /tmp needs one, and a device node the sandbox made would be a door to
 * hardware should the mount setup ever allow device access there. */
#define ACCESS_WRITABLE (~(uint64_t)(LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_BLOCK))

#define ACCESS_READONLY \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* Terminals need ioctls (window size, termios, job control); shells and
 * build tools write to /dev/null even when / is read-only. */
#define ACCESS_DEVICE                                                                          \
	(LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_IOCTL_DEV | \
	 LANDLOCK_ACCESS_FS_READ_DIR)

static const char *const device_paths[] = {
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
	"/dev/tty",  "/dev/ptmx", "/dev/pts",  NULL,
};

static long ll_create_ruleset(const struct kn_ruleset_attr *attr, size_t size, uint32_t flags)
{
	return syscall(__NR_landlock_create_ruleset, attr, size, flags);
}

static long ll_add_rule(int ruleset_fd, enum landlock_rule_type type, const void *attr)
{
	return syscall(__NR_landlock_add_rule, ruleset_fd, type, attr, 0);
}

static long ll_restrict_self(int ruleset_fd)
{
	return syscall(__NR_landlock_restrict_self, ruleset_fd, 0);
}

int kn_landlock_abi(void)
{
	long abi = ll_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return abi < 0 ? 0 : (int)abi;
}

/* Rights added after ABI 7 are unknown to this code and stay unrestricted. */
static uint64_t handled_fs_for_abi(int abi)
{
	uint64_t handled = ACCESS_FS_ABI1 | LANDLOCK_ACCESS_FS_REFER;
	if (abi >= ABI_TRUNCATE)
		handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= ABI_IOCTL_DEV)
		handled |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return handled;
}

/* Allows `access` (as far as handled) beneath `path`. Returns 0, 1 when the
 * path does not exist and `optional`, or -1. */
static int add_path_rule(int ruleset_fd, const char *path, uint64_t access, uint64_t handled,
			 int optional, kn_error *err)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (optional && errno == ENOENT)
			return 1;
		return kn_fail_errno(err, "landlock: open %s", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kn_fail_errno(err, "landlock: stat %s", path);

	struct landlock_path_beneath_attr rule = {
		.allowed_access = access & handled,
		.parent_fd = fd,
	};
	if (!S_ISDIR(st.st_mode))
		rule.allowed_access &= ACCESS_FS_ON_FILE;
	if (ll_add_rule(ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &rule) < 0)
		return kn_fail_errno(err, "landlock_add_rule %s", path);
	return 0;
}

static int add_path_rules(int ruleset_fd, const char *const *paths, uint64_t access,
			  uint64_t handled, kn_error *err)
{
	for (size_t i = 0; paths && paths[i]; i++)
		if (add_path_rule(ruleset_fd, paths[i], access, handled, 0, err) < 0)
			return -1;
	return 0;
}

static int add_device_rules(int ruleset_fd, uint64_t handled, kn_error *err)
{
	for (size_t i = 0; device_paths[i]; i++) {
		int rc = add_path_rule(ruleset_fd, device_paths[i], ACCESS_DEVICE, handled, 1, err);
		if (rc < 0)
			return -1;
		if (rc == 1)
			log_debug("landlock: %s does not exist, no rule for it", device_paths[i]);
	}
	return 0;
}

static void warn_missing_features(int abi, int scope_ipc)
{
	if (abi < ABI_TRUNCATE)
		log_warn("landlock ABI %d: truncate(2) is not restricted (needs ABI %d)", abi,
			 ABI_TRUNCATE);
	if (abi < ABI_IOCTL_DEV)
		log_warn("landlock ABI %d: device ioctls are not restricted (needs ABI %d)", abi,
			 ABI_IOCTL_DEV);
	if (abi < ABI_SCOPE && scope_ipc)
		log_warn("landlock ABI %d: signals and abstract Unix sockets reach outside the "
			 "sandbox's domain (scoping needs ABI %d)",
			 abi, ABI_SCOPE);
}

int kn_landlock_ruleset(const struct kn_landlock_rules *rules, int *fd_out, kn_error *err)
{
	*fd_out = -1;
	if (!rules)
		return kn_fail(err, "landlock: no rules given");
	long abi = ll_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP) {
			log_warn("landlock: %s; filesystem fence NOT applied",
				 errno == ENOSYS ? "not built into this kernel"
						 : "disabled on this kernel (not in lsm=)");
			return 1;
		}
		return kn_fail_errno(err, "landlock_create_ruleset version query");
	}
	if (abi < KN_LANDLOCK_MIN_ABI) {
		log_warn("landlock ABI %ld is too old (cross-directory rename always fails, need "
			 "ABI %d); filesystem fence NOT applied",
			 abi, KN_LANDLOCK_MIN_ABI);
		return 1;
	}
	warn_missing_features((int)abi, rules->scope_ipc);

	struct kn_ruleset_attr attr = { .handled_access_fs = handled_fs_for_abi((int)abi) };
	if (abi >= ABI_SCOPE && rules->scope_ipc)
		attr.scoped = LANDLOCK_SCOPE_SIGNAL | LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET;

	_cleanup_close_ int ruleset_fd = (int)ll_create_ruleset(&attr, sizeof(attr), 0);
	if (ruleset_fd < 0)
		return kn_fail_errno(err, "landlock_create_ruleset (ABI %ld)", abi);

	uint64_t handled = attr.handled_access_fs;
	if (add_path_rules(ruleset_fd, rules->writable, ACCESS_WRITABLE, handled, err) < 0 ||
	    add_path_rules(ruleset_fd, rules->readonly, ACCESS_READONLY, handled, err) < 0 ||
	    add_device_rules(ruleset_fd, handled, err) < 0)
		return -1;
	log_debug("landlock ABI %ld ruleset made", abi);
	*fd_out = steal_fd(&ruleset_fd);
	return 0;
}

int kn_landlock_restrict(int ruleset_fd, kn_error *err)
{
	/* Landlock requires it without CAP_SYS_ADMIN; it also keeps setuid
	 * binaries from running with the fence but more privileges. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kn_fail_errno(err, "prctl PR_SET_NO_NEW_PRIVS");
	if (ll_restrict_self(ruleset_fd) < 0)
		return kn_fail_errno(err, "landlock_restrict_self");
	return 0;
}

int kn_landlock_apply(const struct kn_landlock_rules *rules, kn_error *err)
{
	_cleanup_close_ int ruleset_fd = -1;
	int rc = kn_landlock_ruleset(rules, &ruleset_fd, err);
	return rc != 0 ? rc : kn_landlock_restrict(ruleset_fd, err);
}
