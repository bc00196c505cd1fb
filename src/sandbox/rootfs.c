#define _GNU_SOURCE
#include "sandbox/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/base.h"
#include "sandbox/idmap.h"
#include "sandbox/vm_host.h"

/* /dev inside: a tmpfs never needs more than a few entries. */
#define DEV_TMPFS_OPTS "mode=755,size=64k,nr_inodes=64"
/* /tmp inside: half the machine like a default tmpfs; the cgroup memory limit
 * bounds it further, since tmpfs pages are charged to the writer's cgroup. */
#define TMP_TMPFS_OPTS "mode=1777"

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
/* Kernel interfaces a sandbox has no business reading or writing. */
static const char *const proc_masked[] = {"kcore", "keys", "timer_list", "sched_debug",
					   "sysrq-trigger", "kallsyms", "kpagecount",
					   "kpageflags", "kpagecgroup"};
static const char *const proc_readonly[] = {"sys", "irq", "bus", "fs"};

static int openat2_dir(int dirfd, const char *path, unsigned long long resolve)
{
	struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW,
			       .resolve = resolve};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* Devices of the host folders mounted as workspaces: nothing is created or
 * removed on them while mount points are made. */
static dev_t workspace_devs[KN_MAX_WORKSPACES];
static size_t n_workspace_devs;

static int on_workspace(dev_t dev)
{
	for (size_t i = 0; i < n_workspace_devs; i++)
		if (workspace_devs[i] == dev)
			return 1;
	return 0;
}

/* Open directory `rel` below `rootfd` without following any symlink. Missing
 * directories, and a symlink or file in the way, are dealt with only in the
 * sandbox's own file systems (its overlay layers and tmpfs mounts): replaced by
 * a directory owned by `owner` (root inside the sandbox). Inside a workspace —
 * a host folder — the path must already be real directories, or the start is
 * refused. */
static int mkdirs_in_root(int rootfd, const char *rel, uid_t owner, kn_error *err)
{
	char buf[PATH_MAX];
	if ((size_t)snprintf(buf, sizeof(buf), "%s", rel) >= sizeof(buf))
		return kn_fail(err, "path too long: %s", rel);
	int cur = dup(rootfd);
	if (cur < 0)
		return kn_fail_errno(err, "dup root fd");
	for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct stat st;
		if (!strcmp(c, ".") || !strcmp(c, "..")) {
			close(cur);
			return kn_fail(err, "refusing path with . or ..: %s", rel);
		}
		int own_layer = fstat(cur, &st) == 0 && !on_workspace(st.st_dev);
		int next = openat2_dir(cur, c, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
		if (next < 0 && (errno == ELOOP || errno == ENOTDIR) && own_layer) {
			log_debug("replacing non-directory %s on the way to mount point /%s", c, rel);
			unlinkat(cur, c, 0);
			errno = ENOENT;
		}
		if (next < 0 && errno == ENOENT && own_layer) {
			if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
				kn_fail_errno(err, "mkdir %s (in /%s)", c, rel);
				close(cur);
				return -1;
			}
			if (fchownat(cur, c, owner, owner, AT_SYMLINK_NOFOLLOW) < 0) {
				kn_fail_errno(err, "chown %s (in /%s)", c, rel);
				close(cur);
				return -1;
			}
			next = openat2_dir(cur, c, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
		}
		if (next < 0) {
			kn_fail_errno(err, "open %s (in /%s)%s", c, rel,
				      own_layer ? "" : ": inside a workspace, mount points must be real directories");
			close(cur);
			return -1;
		}
		close(cur);
		cur = next;
	}
	return cur;
}

static int attach_tree(int tree, int rootfd, const char *rel, uid_t owner, kn_error *err)
{
	_cleanup_close_ int target = mkdirs_in_root(rootfd, rel, owner, err);
	if (target < 0)
		return -1;
	if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return kn_fail_errno(err, "move_mount onto /%s", rel);
	return 0;
}

/* mount(2) by /proc/self/fd path of an fd opened safely in the new root. */
static int mount_at(int rootfd, const char *rel, uid_t owner, const char *src, const char *type,
		    unsigned long flags, const char *data, kn_error *err)
{
	_cleanup_close_ int target = mkdirs_in_root(rootfd, rel, owner, err);
	if (target < 0)
		return -1;
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", target);
	if (mount(src, p, type, flags, data) < 0)
		return kn_fail_errno(err, "mount %s on /%s", type ? type : src, rel);
	return 0;
}

static int bind_at(int rootfd, const char *rel, const char *src, kn_error *err)
{
	char p[64];
	_cleanup_close_ int target = -1;
	struct stat st;
	if (stat(src, &st) < 0)
		return kn_fail_errno(err, "stat %s", src);
	if (S_ISDIR(st.st_mode)) {
		target = mkdirs_in_root(rootfd, rel, 0, err);
		if (target < 0)
			return -1;
	} else {
		int fd = openat(rootfd, rel, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return kn_fail_errno(err, "create bind target /%s", rel);
		close(fd);
		target = openat(rootfd, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (target < 0)
			return kn_fail_errno(err, "open /%s", rel);
	}
	snprintf(p, sizeof(p), "/proc/self/fd/%d", target);
	if (mount(src, p, NULL, MS_BIND | MS_REC, NULL) < 0)
		return kn_fail_errno(err, "bind %s on /%s", src, rel);
	return 0;
}

/* The overlay's own complaint (fsopen's log: "e overlay: ..."), if any. */
static void overlay_log(int fs, char *out, size_t n)
{
	out[0] = '\0';
	ssize_t got = read(fs, out, n - 1);
	if (got > 2 && out[1] == ' ') {
		out[got] = '\0';
		memmove(out, out + 2, (size_t)got - 1);
		out[strcspn(out, "\n")] = '\0';
	} else {
		out[0] = '\0';
	}
}

/* A detached overlay (fsmount): an idmapped, read-only view of `host` as the
 * lower layer, the sandbox's own upper/work dirs of `layer`. Every layer is
 * named by an fd's /proc path: no staging mount point for the lower, and the
 * options the sandbox reads in its mount table name no host path (nor the
 * folder made ahead under another name, daemon/ahead.h). */
static int overlay_of(const struct kn_sandbox_spec *s, int userns, const char *host,
		      const char *layer, kn_error *err)
{
	char path[3][PATH_MAX], named[3][64], why[256];
	int fd[3] = {-1, -1, -1};
	int mnt = -1, fs = -1;
	snprintf(path[0], sizeof(path[0]), "%s", host);
	snprintf(path[1], sizeof(path[1]), "%s/upper/%s", s->dir, layer);
	snprintf(path[2], sizeof(path[2]), "%s/work/%s", s->dir, layer);
	fd[0] = kn_idmap_mount(AT_FDCWD, host, host, userns, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, err);
	if (fd[0] < 0)
		goto out;
	for (int i = 1; i < 3; i++) {
		fd[i] = open(path[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd[i] < 0) {
			kn_fail_errno(err, "open %s", path[i]);
			goto out;
		}
	}
	for (int i = 0; i < 3; i++)
		snprintf(named[i], sizeof(named[i]), "/proc/self/fd/%d", fd[i]);
	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		kn_fail_errno(err, "fsopen overlay");
		goto out;
	}
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", named[0], 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", named[1], 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", named[2], 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		int e = errno;
		overlay_log(fs, why, sizeof(why));
		errno = e;
		kn_fail_errno(err, "overlay of %s with upper %s%s%s", host, path[1], why[0] ? ": " : "", why);
		goto out;
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID);
	if (mnt < 0)
		kn_fail_errno(err, "fsmount overlay of %s", host);
out:
	kn_closep(&fs);
	for (int i = 0; i < 3; i++)
		kn_closep(&fd[i]);
	return mnt;
}

int kn_rootfs_overlays(const struct kn_sandbox_spec *s, int userns, int out[KN_NS_LAYERS],
		       kn_error *err)
{
	char base_root[PATH_MAX];
	snprintf(base_root, sizeof(base_root), "%s/root", s->base_dir);
	for (size_t i = 0; i < KN_NS_LAYERS; i++)
		out[i] = -1;
	out[0] = overlay_of(s, userns, s->image ? s->image : base_root, "root", err);
	if (out[0] < 0)
		return -1;
	for (size_t i = 0; !s->image && kn_base_host_layers[i] && i + 1 < KN_NS_LAYERS; i++) {
		char layer[64];
		snprintf(layer, sizeof(layer), "%s", kn_base_host_layers[i] + 1);
		for (char *c = layer; *c; c++)
			if (*c == '/')
				*c = '_';
		out[i + 1] = overlay_of(s, userns, kn_base_host_layers[i], layer, err);
		if (out[i + 1] < 0) {
			for (size_t j = 0; j <= i; j++)
				kn_closep(&out[j]);
			return -1;
		}
	}
	return 0;
}

static int setup_dev(int rootfd, uid_t root_uid, kn_error *err)
{
	char opts[128];
	snprintf(opts, sizeof(opts), DEV_TMPFS_OPTS ",uid=%u,gid=%u", (unsigned)root_uid, (unsigned)root_uid);
	if (mount_at(rootfd, "dev", root_uid, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, opts, err) < 0)
		return -1;
	for (size_t i = 0; i < KN_ARRAY_SIZE(dev_nodes); i++) {
		char host[32], rel[32];
		snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
		snprintf(rel, sizeof(rel), "dev/%s", dev_nodes[i]);
		if (bind_at(rootfd, rel, host, err) < 0)
			return -1;
	}
	/* A private devpts instance: the sandbox sees only its own ptys. */
	snprintf(opts, sizeof(opts), "newinstance,ptmxmode=0666,mode=620,gid=%u",
		 (unsigned)root_uid + KN_TTY_GID);
	if (mount_at(rootfd, "dev/pts", root_uid, "devpts", "devpts", MS_NOSUID | MS_NOEXEC, opts,
		     err) < 0)
		return -1;
	snprintf(opts, sizeof(opts), "mode=1777,uid=%u,gid=%u", (unsigned)root_uid, (unsigned)root_uid);
	if (mount_at(rootfd, "dev/shm", root_uid, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, opts, err) < 0)
		return -1;
	static const char *const links[][2] = {{"pts/ptmx", "dev/ptmx"},
					       {"/proc/self/fd", "dev/fd"},
					       {"/proc/self/fd/0", "dev/stdin"},
					       {"/proc/self/fd/1", "dev/stdout"},
					       {"/proc/self/fd/2", "dev/stderr"}};
	for (size_t i = 0; i < KN_ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][0], rootfd, links[i][1]) < 0)
			return kn_fail_errno(err, "symlink /%s", links[i][1]);
	return 0;
}

/* Cover `fd`'s directory with a read-only bind of itself (new mount API: the
 * clone is made read-only before it becomes visible). */
static int bind_self_readonly(int fd)
{
	int tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
	if (tree < 0)
		return -1;
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
	int rc = mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr));
	if (rc == 0)
		rc = move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	int saved = errno;
	close(tree);
	errno = saved;
	return rc;
}

static int setup_proc(int rootfd, uid_t root_uid, kn_error *err)
{
	if (mount_at(rootfd, "proc", root_uid, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		     NULL, err) < 0)
		return -1;
	for (size_t i = 0; i < KN_ARRAY_SIZE(proc_readonly); i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "proc/%s", proc_readonly[i]);
		_cleanup_close_ int fd = openat(rootfd, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue; /* not every kernel has every entry */
		if (bind_self_readonly(fd) < 0)
			return kn_fail_errno(err, "make /%s read-only", rel);
	}
	for (size_t i = 0; i < KN_ARRAY_SIZE(proc_masked); i++) {
		char rel[64], p[64];
		snprintf(rel, sizeof(rel), "proc/%s", proc_masked[i]);
		_cleanup_close_ int fd = openat(rootfd, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0)
			return kn_fail_errno(err, "mask /%s", rel);
	}
	return 0;
}

/* /proc, /sys and /dev of an ns sandbox. */
static int setup_kernel_fs(int rootfd, uid_t root_uid, kn_error *err)
{
	if (setup_proc(rootfd, root_uid, err) < 0)
		return -1;
	if (mount_at(rootfd, "sys", root_uid, "sysfs", "sysfs",
		     MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0)
		return -1;
	return setup_dev(rootfd, root_uid, err);
}

static int setup_tmp(int rootfd, uid_t root_uid, kn_error *err)
{
	char tmp_opts[128];
	snprintf(tmp_opts, sizeof(tmp_opts), TMP_TMPFS_OPTS ",uid=%u,gid=%u", (unsigned)root_uid,
		 (unsigned)root_uid);
	return mount_at(rootfd, "tmp", root_uid, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, tmp_opts, err);
}

int kn_rootfs_setup(const struct kn_sandbox_spec *s, const struct kn_rootfs_fds *fds, kn_error *err)
{
	uid_t root_uid = s->uid_base;
	char rootfs[PATH_MAX];
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", s->dir);

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return kn_fail_errno(err, "make / private");
	n_workspace_devs = 0;
	for (size_t i = 0; i < s->n_workspaces; i++) {
		struct stat st;
		if (fstat(fds->ws_fd[i], &st) < 0)
			return kn_fail_errno(err, "fstat workspace %s", s->workspaces[i].path);
		workspace_devs[n_workspace_devs++] = st.st_dev;
	}
	/* The overlays mounted ahead (detached), or made now. */
	int layers[KN_NS_LAYERS];
	int made_here = fds->layer[0] < 0;
	if (made_here && kn_rootfs_overlays(s, fds->root_userns, layers, err) < 0)
		return -1;
	if (!made_here)
		memcpy(layers, fds->layer, sizeof(layers));
	int rc = move_mount(layers[0], "", AT_FDCWD, rootfs, MOVE_MOUNT_F_EMPTY_PATH);
	if (rc < 0)
		kn_fail_errno(err, "move_mount the root overlay onto %s", rootfs);
	_cleanup_close_ int rootfd = rc < 0 ? -1 : open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc == 0 && rootfd < 0)
		rc = kn_fail_errno(err, "open %s", rootfs);
	/* Mount points the overlay creates as the caller: root's inside. */
	for (size_t i = 1; rc == 0 && i < KN_NS_LAYERS && layers[i] >= 0; i++)
		rc = attach_tree(layers[i], rootfd, kn_base_host_layers[i - 1] + 1, root_uid, err);
	if (made_here)
		for (size_t i = 0; i < KN_NS_LAYERS; i++)
			kn_closep(&layers[i]);
	if (rc < 0)
		return -1;
	if (s->vm.enabled) {
		/* The guest mounts its own kernel file systems; the mount points
		 * must be there. */
		static const char *const guest_mounts[] = {"proc", "sys", "dev"};
		for (size_t i = 0; i < KN_ARRAY_SIZE(guest_mounts); i++) {
			int fd = mkdirs_in_root(rootfd, guest_mounts[i], root_uid, err);
			if (fd < 0)
				return -1;
			close(fd);
		}
	} else if (setup_kernel_fs(rootfd, root_uid, err) < 0) {
		return -1;
	}
	/* /tmp before the workspaces, which may be below it; a guest's is this
	 * one too, over 9p, for the same reason. */
	if (setup_tmp(rootfd, root_uid, err) < 0)
		return -1;
	for (size_t i = 0; i < s->n_workspaces; i++) {
		const struct kn_workspace *w = &s->workspaces[i];
		uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (w->readonly ? MOUNT_ATTR_RDONLY : 0);
		/* The daemon's fd belongs to the host mount namespace; open_tree needs
		 * one of ours. Same rules (no symlinks), and it must be the same folder. */
		struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				       .resolve = RESOLVE_NO_SYMLINKS};
		_cleanup_close_ int here = (int)syscall(SYS_openat2, AT_FDCWD, w->path, &how, sizeof(how));
		struct stat a, b;
		if (here < 0 || fstat(here, &a) < 0 || fstat(fds->ws_fd[i], &b) < 0)
			return kn_fail_errno(err, "open workspace %s (symlinks are not followed)", w->path);
		if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
			return kn_fail(err, "workspace %s changed while the sandbox started", w->path);
		int tree = kn_idmap_mount(here, "", w->path, fds->ws_userns[i], attrs, err);
		if (tree < 0)
			return -1;
		rc = attach_tree(tree, rootfd, w->path + 1, root_uid, err);
		close(tree);
		if (rc < 0)
			return kn_fail_prefix(err, "workspace %s", w->path);
	}
	if (s->vm.enabled)
		return kn_vm_host_root(s, err);
	return kn_rootfs_pivot(rootfs, err);
}

int kn_rootfs_pivot(const char *dir, kn_error *err)
{
	if (chdir(dir) < 0)
		return kn_fail_errno(err, "chdir %s", dir);
	/* pivot_root(".", ".") stacks the old root under the new one; detach it. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return kn_fail_errno(err, "pivot_root %s", dir);
	if (umount2(".", MNT_DETACH) < 0)
		return kn_fail_errno(err, "detach old root");
	if (chdir("/") < 0)
		return kn_fail_errno(err, "chdir /");
	return 0;
}
