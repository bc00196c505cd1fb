#define _GNU_SOURCE
#include "sandbox/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

static int write_map(pid_t pid, const char *file, const struct kn_idmap *m, size_t n,
		     kn_error *err)
{
	char path[64], buf[512];
	size_t len = 0;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].inside,
				 m[i].outside, m[i].count);
		if (w < 0 || (size_t)w >= sizeof(buf) - len)
			return kn_fail(err, "%s: too many map lines", path);
		len += (size_t)w;
	}
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return kn_fail_errno(err, "open %s", path);
	/* The kernel takes the whole map in one write() or not at all. */
	if (write(fd, buf, len) != (ssize_t)len)
		return kn_fail_errno(err, "write %s", path);
	return 0;
}

/* "inside outside count" lines to /proc/PID/{uid,gid}_map. */
static int idmap_write(pid_t pid, const struct kn_idmap *uid, size_t n_uid,
		       const struct kn_idmap *gid, size_t n_gid, kn_error *err)
{
	if (write_map(pid, "uid_map", uid, n_uid, err) < 0)
		return -1;
	return write_map(pid, "gid_map", gid, n_gid, err);
}

/* The helper lives only to be a process in its new user namespace until the
 * parent has opened the namespace and written its maps; then the parent kills
 * it. It shares the daemon's memory (CLONE_VM: no page tables copied, which
 * was most of a helper's cost), so it touches nothing but its own stack and
 * makes no call that writes shared state (errno included): the calls below
 * cannot fail, and pause(2) returns only after a signal handler ran, and the
 * helper has none that would run (the daemon's signals are blocked for
 * signalfd or ignored, and the mask is inherited).
 * It must not outlive a daemon killed meanwhile (kill -9 of kenneld is a
 * tested event): it dies with its parent, and first drops its copy of the
 * daemon's descriptors, among them the API socket, which an orphan would
 * otherwise keep listening with nobody to accept. */
#define IDMAP_HELPER_STACK 16384
static char helper_stack[IDMAP_HELPER_STACK] __attribute__((aligned(16)));

__attribute__((no_sanitize("address", "undefined"))) static int hold_namespace(void *parent)
{
	syscall(SYS_close_range, 0U, ~0U, 0U);
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);
	/* The parent may have died before the line above. */
	if (syscall(SYS_getppid) != (long)(intptr_t)parent)
		syscall(SYS_exit, 0);
	for (;;)
		syscall(SYS_pause);
	return 0;
}

int kn_idmap_root_userns(uint32_t base, kn_error *err)
{
	struct kn_idmap all = {0, base, KN_IDMAP_RANGE};
	return kn_idmap_userns_fd(&all, 1, &all, 1, err);
}

int kn_idmap_userns_fd(const struct kn_idmap *uid, size_t n_uid, const struct kn_idmap *gid,
		       size_t n_gid, kn_error *err)
{
	/* One stack serves every helper: each is reaped before the next. */
	pid_t pid = clone(hold_namespace, helper_stack + sizeof(helper_stack),
			  CLONE_NEWUSER | CLONE_VM | SIGCHLD, (void *)(intptr_t)getpid());
	if (pid < 0)
		return kn_fail_errno(err, "clone an idmap helper into a new user namespace");
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	int fd = -1;
	if (idmap_write(pid, uid, n_uid, gid, n_gid, err) == 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			kn_fail_errno(err, "open %s", path);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return fd;
}

int kn_idmap_mount(int dirfd, const char *path, const char *shown, int userns_fd,
		   uint64_t attr_set, kn_error *err)
{
	int fd = open_tree(dirfd, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
					 (path[0] ? 0 : AT_EMPTY_PATH));
	path = shown;
	if (fd < 0)
		return kn_fail_errno(err, "open_tree %s", path);
	struct mount_attr attr = {
		.attr_set = attr_set | (userns_fd >= 0 ? MOUNT_ATTR_IDMAP : 0),
		.userns_fd = (uint64_t)(userns_fd >= 0 ? userns_fd : 0),
		.propagation = MS_PRIVATE,
	};
	if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
		kn_fail_errno(err, "mount_setattr (idmap) on %s", path);
		close(fd);
		return -1;
	}
	return fd;
}
