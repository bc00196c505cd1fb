#define _GNU_SOURCE
#include "sandbox/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
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

int kn_idmap_write(pid_t pid, const struct kn_idmap *uid, size_t n_uid,
		   const struct kn_idmap *gid, size_t n_gid, kn_error *err)
{
	if (write_map(pid, "uid_map", uid, n_uid, err) < 0)
		return -1;
	return write_map(pid, "gid_map", gid, n_gid, err);
}

int kn_idmap_userns_fd(const struct kn_idmap *uid, size_t n_uid, const struct kn_idmap *gid,
		       size_t n_gid, kn_error *err)
{
	/* go: parent -> child "you may exit"; ready: child -> parent "unshared". */
	int go[2], ready[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		return kn_fail_errno(err, "pipe2 for idmap helper");
	if (pipe2(ready, O_CLOEXEC) < 0) {
		close(go[0]);
		close(go[1]);
		return kn_fail_errno(err, "pipe2 for idmap helper");
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(go[0]);
		close(go[1]);
		close(ready[0]);
		close(ready[1]);
		return kn_fail_errno(err, "fork idmap helper");
	}
	if (pid == 0) {
		char c = 'u';
		close(go[1]);
		close(ready[0]);
		if (unshare(CLONE_NEWUSER) < 0 || write(ready[1], &c, 1) != 1)
			_exit(1);
		/* Stay alive, doing nothing, until the parent has our namespace fd. */
		ssize_t r = read(go[0], &c, 1);
		_exit(r < 0 ? 1 : 0);
	}
	close(go[0]);
	close(ready[1]);
	int rc = -1, fd = -1;
	char path[64], c;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	ssize_t r;
	do
		r = read(ready[0], &c, 1);
	while (r < 0 && errno == EINTR);
	close(ready[0]);
	if (r != 1) {
		kn_fail(err, "idmap helper could not enter a new user namespace");
		goto out;
	}
	if (kn_idmap_write(pid, uid, n_uid, gid, n_gid, err) < 0)
		goto out;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kn_fail_errno(err, "open %s", path);
		goto out;
	}
	rc = 0;
out:
	close(go[1]);
	if (rc < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	return rc < 0 ? -1 : fd;
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
