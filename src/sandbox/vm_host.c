#define _GNU_SOURCE
#include "sandbox/vm_host.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/rootfs.h"

/* The tmpfs holds directories, symlinks and mount points only. */
#define VMHOST_TMPFS_OPTS "mode=755,size=64k,nr_inodes=128"
#define VMHOST_DEV_OPTS "mode=755,size=64k,nr_inodes=32"
/* QEMU writes nothing to /tmp with our options; a little room for what a
 * library may want. */
#define VMHOST_TMP_OPTS "mode=1777,size=16m"

static const char *const host_dirs[] = {"usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin"};
static const char *const dev_nodes[] = {"null", "zero", "random", "urandom"};
/* /dev/kvm: misc device 10:232 on every Linux. */
#define KVM_MAJOR 10
#define KVM_MINOR 232

static int make_dir(const char *path, kn_error *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return kn_fail_errno(err, "mkdir %s", path);
	return 0;
}

static int bind_readonly(const char *src, const char *dst, kn_error *err)
{
	if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return kn_fail_errno(err, "bind %s on %s", src, dst);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
	if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		return kn_fail_errno(err, "make %s read-only", dst);
	return 0;
}

/* The host's /usr and friends as they are: a directory is bound read-only, a
 * symlink (merged /usr) is recreated. */
static int host_tree(const char *top, kn_error *err)
{
	char host[32], here[PATH_MAX], target[PATH_MAX];
	for (size_t i = 0; i < KN_ARRAY_SIZE(host_dirs); i++) {
		struct stat st;
		snprintf(host, sizeof(host), "/%s", host_dirs[i]);
		snprintf(here, sizeof(here), "%s/%s", top, host_dirs[i]);
		if (lstat(host, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(host, target, sizeof(target) - 1);
			if (n < 0)
				return kn_fail_errno(err, "readlink %s", host);
			target[n] = '\0';
			if (symlink(target, here) < 0)
				return kn_fail_errno(err, "symlink %s", here);
		} else if (S_ISDIR(st.st_mode)) {
			if (make_dir(here, err) < 0 || bind_readonly(host, here, err) < 0)
				return -1;
		}
	}
	/* The loader finds QEMU's libraries without its cache, but slower. */
	snprintf(here, sizeof(here), "%s/etc", top);
	if (make_dir(here, err) < 0)
		return -1;
	if (access("/etc/ld.so.cache", R_OK) == 0) {
		snprintf(here, sizeof(here), "%s/etc/ld.so.cache", top);
		int fd = open(here, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return kn_fail_errno(err, "create %s", here);
		close(fd);
		if (bind_readonly("/etc/ld.so.cache", here, err) < 0)
			return -1;
	}
	return 0;
}

static int dev_tree(const struct kn_sandbox_spec *s, const char *top, kn_error *err)
{
	char dev[PATH_MAX], p[PATH_MAX], host[32];
	snprintf(dev, sizeof(dev), "%s/dev", top);
	if (make_dir(dev, err) < 0)
		return -1;
	/* Not nodev: the nodes below are the point. */
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, VMHOST_DEV_OPTS) < 0)
		return kn_fail_errno(err, "mount tmpfs on %s", dev);
	for (size_t i = 0; i < KN_ARRAY_SIZE(dev_nodes); i++) {
		snprintf(p, sizeof(p), "%s/%s", dev, dev_nodes[i]);
		snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd < 0)
			return kn_fail_errno(err, "create %s", p);
		close(fd);
		if (mount(host, p, NULL, MS_BIND, NULL) < 0)
			return kn_fail_errno(err, "bind %s on %s", host, p);
	}
	if (s->vm.kvm) {
		/* The host's node is root:kvm 0660, out of reach of the sandbox's
		 * root (an unprivileged host uid): a node of our own, its alone. */
		snprintf(p, sizeof(p), "%s/kvm", dev);
		if (mknod(p, S_IFCHR | 0600, makedev(KVM_MAJOR, KVM_MINOR)) < 0)
			return kn_fail_errno(err, "mknod %s", p);
		if (chown(p, s->uid_base, s->uid_base) < 0)
			return kn_fail_errno(err, "chown %s", p);
	}
	return 0;
}

int kn_vm_host_root(const struct kn_sandbox_spec *s, kn_error *err)
{
	char top[PATH_MAX], p[PATH_MAX], guest[PATH_MAX];
	snprintf(top, sizeof(top), "%s/vmhost", s->dir);
	snprintf(guest, sizeof(guest), "%s/rootfs", s->dir);
	if (make_dir(top, err) < 0)
		return -1;
	if (mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, VMHOST_TMPFS_OPTS) < 0)
		return kn_fail_errno(err, "mount tmpfs on %s", top);
	if (host_tree(top, err) < 0 || dev_tree(s, top, err) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/proc", top);
	if (make_dir(p, err) < 0)
		return -1;
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return kn_fail_errno(err, "mount proc on %s", p);
	snprintf(p, sizeof(p), "%s/tmp", top);
	if (make_dir(p, err) < 0)
		return -1;
	if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, VMHOST_TMP_OPTS) < 0)
		return kn_fail_errno(err, "mount tmpfs on %s", p);
	snprintf(p, sizeof(p), "%s%s", top, KN_VM_HOST_GUEST_DIR);
	if (make_dir(p, err) < 0)
		return -1;
	if (mount(guest, p, NULL, MS_BIND | MS_REC, NULL) < 0)
		return kn_fail_errno(err, "bind %s on %s", guest, p);
	return kn_rootfs_pivot(top, err);
}
