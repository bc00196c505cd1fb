/* layer.c — writing into a stopped sandbox's writable layer (contract: layer.h). */
#define _GNU_SOURCE
#include "sandbox/layer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/idmap.h"
#include "sandbox/sandbox.h"

int kn_openat2(int dirfd, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = resolve};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int kn_layer_base_stat(const struct kn_layer *l, const char *rel, struct stat *st)
{
	_cleanup_close_ int top = open(l->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return -1;
	_cleanup_close_ int fd = kn_openat2(top, rel, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	return fd < 0 ? -1 : fstat(fd, st);
}

void kn_layer_root(const struct kn_sandbox_spec *s, struct kn_layer *out)
{
	out->uid_base = s->uid_base;
	snprintf(out->upper, sizeof(out->upper), "%s/upper/root", s->dir);
	if (s->image)
		snprintf(out->lower, sizeof(out->lower), "%s", s->image);
	else
		snprintf(out->lower, sizeof(out->lower), "%s/root", s->base_dir);
}

static int open_beneath(int dirfd, const char *name, int flags)
{
	return kn_openat2(dirfd, name, flags | O_NOFOLLOW, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
}

static int make_dir(const struct kn_layer *l, int parent, const char *name, const char *rel,
		    int opaque, uid_t owner, mode_t mode, kn_error *err)
{
	struct stat st;
	uid_t uid = l->uid_base + owner;
	gid_t gid = l->uid_base + owner;
	if (kn_layer_base_stat(l, rel, &st) == 0 && S_ISDIR(st.st_mode)) {
		mode = st.st_mode & 07777;
		uid = st.st_uid < KN_IDMAP_RANGE ? l->uid_base + st.st_uid : l->uid_base;
		gid = st.st_gid < KN_IDMAP_RANGE ? l->uid_base + st.st_gid : l->uid_base;
	}
	if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
		return kn_fail_errno(err, "mkdir %s/%s", l->upper, rel);
	_cleanup_close_ int fd = open_beneath(parent, name, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return kn_fail_errno(err, "open %s/%s", l->upper, rel);
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
		return kn_fail_errno(err, "chown/chmod %s/%s", l->upper, rel);
	/* It replaces something that hid the base's directory: keep that hidden. */
	if (opaque && fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
		return kn_fail_errno(err, "mark %s/%s opaque", l->upper, rel);
	return 0;
}

int kn_layer_dir(const struct kn_layer *l, const char *rel, uid_t owner, mode_t mode,
		 kn_error *err)
{
	char buf[PATH_MAX], sofar[PATH_MAX] = "";
	snprintf(buf, sizeof(buf), "%s", rel);
	int cur = open(l->upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cur < 0)
		return kn_fail_errno(err, "open %s", l->upper);
	for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		size_t n = strlen(sofar);
		snprintf(sofar + n, sizeof(sofar) - n, "%s%s", n ? "/" : "", c);
		int opaque = 0;
		int next = open_beneath(cur, c, O_RDONLY | O_DIRECTORY);
		if (next < 0 && (errno == ENOTDIR || errno == ELOOP)) {
			/* A symlink, file, FIFO or whiteout the sandbox left here. */
			log_debug("sandbox layer %s: replacing the non-directory %s", l->upper, sofar);
			if (unlinkat(cur, c, 0) < 0) {
				kn_fail_errno(err, "unlink %s/%s", l->upper, sofar);
				close(cur);
				return -1;
			}
			opaque = 1;
			errno = ENOENT;
		}
		if (next < 0 && errno == ENOENT) {
			if (make_dir(l, cur, c, sofar, opaque, owner, mode, err) < 0) {
				close(cur);
				return -1;
			}
			next = open_beneath(cur, c, O_RDONLY | O_DIRECTORY);
		}
		if (next < 0) {
			kn_fail_errno(err, "open %s/%s", l->upper, sofar);
			close(cur);
			return -1;
		}
		close(cur);
		cur = next;
	}
	return cur;
}

int kn_layer_read_regular(int fd, size_t max, char **out, size_t *out_len, const char *shown,
			  kn_error *err)
{
	struct stat st;
	*out = NULL;
	*out_len = 0;
	if (fstat(fd, &st) < 0)
		return kn_fail_errno(err, "fstat %s", shown);
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max)
		return 0;
	return kn_read_fd(fd, shown, max, out, out_len, err);
}

int kn_layer_put_file(const struct kn_layer *l, int dirfd, const char *name, const char *a,
		      size_t alen, const char *b, size_t blen, uid_t owner, mode_t mode,
		      kn_error *err)
{
	char tmp[NAME_MAX + 1];
	if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.kennel-tmp", name) >= sizeof(tmp))
		return kn_fail(err, "file name %s is too long", name);
	if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
		return kn_fail_errno(err, "unlink %s in %s", tmp, l->upper);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return kn_fail_errno(err, "create %s in %s", tmp, l->upper);
	const char *parts[2] = {a, b};
	size_t lens[2] = {alen, b ? blen : 0};
	for (int i = 0; i < 2; i++) {
		size_t done = 0;
		while (done < lens[i]) {
			ssize_t w = write(fd, parts[i] + done, lens[i] - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				kn_fail_errno(err, "write %s in %s", tmp, l->upper);
				goto fail;
			}
			done += (size_t)w;
		}
	}
	if (fchown(fd, l->uid_base + owner, l->uid_base + owner) < 0 || fchmod(fd, mode) < 0) {
		kn_fail_errno(err, "chown/chmod %s in %s", tmp, l->upper);
		goto fail;
	}
	close(fd);
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		kn_fail_errno(err, "rename %s to %s in %s", tmp, name, l->upper);
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return -1;
}
