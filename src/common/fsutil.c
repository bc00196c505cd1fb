#define _GNU_SOURCE
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int fsync_parent(const char *path, kn_error *err)
{
	_cleanup_free_ char *copy = strdup(path);
	if (!copy)
		return kn_fail(err, "out of memory");
	const char *dir = dirname(copy);
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kn_fail_errno(err, "open %s", dir);
	if (fsync(dfd) < 0)
		return kn_fail_errno(err, "fsync %s", dir);
	return 0;
}

static int write_via_temp(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
			  gid_t gid, int durable, kn_error *err)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= sizeof(tmp))
		return kn_fail(err, "path too long: %s", path);
	/* A fresh file, never a leftover of a crash: its mode is `mode` from the
	 * first byte on (what a key file needs). */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return kn_fail_errno(err, "unlink stale %s", tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return kn_fail_errno(err, "open %s", tmp);
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			kn_fail_errno(err, "write %s", tmp);
			goto fail;
		}
		p += w;
		left -= (size_t)w;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && fchown(fd, uid, gid) < 0) {
		kn_fail_errno(err, "fchown %s", tmp);
		goto fail;
	}
	/* After fchown, which clears set-id bits. */
	if (fchmod(fd, mode) < 0) {
		kn_fail_errno(err, "fchmod %s", tmp);
		goto fail;
	}
	if (durable && fsync(fd) < 0) {
		kn_fail_errno(err, "fsync %s", tmp);
		goto fail;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		kn_fail_errno(err, "rename %s to %s", tmp, path);
		goto fail;
	}
	return durable ? fsync_parent(path, err) : 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int kn_write_atomic(const char *path, const void *data, size_t len, mode_t mode, kn_error *err)
{
	return write_via_temp(path, data, len, mode, (uid_t)-1, (gid_t)-1, 1, err);
}

int kn_write_atomic_owned(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
			  gid_t gid, kn_error *err)
{
	return write_via_temp(path, data, len, mode, uid, gid, 1, err);
}

int kn_write_replace(const char *path, const void *data, size_t len, mode_t mode, kn_error *err)
{
	return write_via_temp(path, data, len, mode, (uid_t)-1, (gid_t)-1, 0, err);
}

int kn_write_replace_owned(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
			   gid_t gid, kn_error *err)
{
	return write_via_temp(path, data, len, mode, uid, gid, 0, err);
}

int kn_read_fd(int fd, const char *name, size_t max, char **out, size_t *out_len, kn_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kn_fail_errno(err, "fstat %s", name);
	if (!S_ISREG(st.st_mode))
		return kn_fail(err, "%s: not a regular file", name);
	if ((size_t)st.st_size > max)
		return kn_fail(err, "%s: larger than %zu bytes", name, max);
	/* Wiped when a read fails part way: callers read keys with this. */
	_cleanup_wipe_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return kn_fail(err, "out of memory reading %s", name);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kn_fail_errno(err, "read %s", name);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = '\0';
	if (out_len)
		*out_len = got;
	*out = steal_pointer(&buf);
	return 0;
}

int kn_read_file(const char *path, size_t max, char **out, size_t *out_len, kn_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return kn_fail_errno(err, "open %s", path);
	return kn_read_fd(fd, path, max, out, out_len, err);
}

int kn_mkdir_p(const char *path, mode_t mode, kn_error *err)
{
	char buf[4096];
	if ((size_t)snprintf(buf, sizeof(buf), "%s", path) >= sizeof(buf))
		return kn_fail(err, "path too long: %s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return kn_fail_errno(err, "mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return kn_fail_errno(err, "mkdir %s", buf);
	return 0;
}

static int rm_rf_at(int parent, const char *name, const char *shown, dev_t dev, kn_error *err)
{
	struct stat st;
	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return kn_fail_errno(err, "stat %s", shown);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return kn_fail_errno(err, "unlink %s", shown);
		return 0;
	}
	if (st.st_dev != dev)
		return kn_fail(err, "refusing to remove %s: it is a mount point", shown);
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kn_fail_errno(err, "open %s", shown);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return kn_fail_errno(err, "fdopendir %s", shown);
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = rm_rf_at(dirfd(d), de->d_name, de->d_name, dev, err);
	}
	closedir(d);
	if (rc < 0)
		return rc;
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return kn_fail_errno(err, "rmdir %s", shown);
	return 0;
}

int kn_rm_rf(const char *path, kn_error *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return kn_fail_errno(err, "stat %s", path);
	}
	return rm_rf_at(AT_FDCWD, path, path, st.st_dev, err);
}
