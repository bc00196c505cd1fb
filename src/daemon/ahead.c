/* ahead.c — the next sandbox's folder, made ahead (contract: ahead.h). */
#define _GNU_SOURCE
#include "daemon/ahead.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/proxy_sup.h"
#include "daemon/store.h"
#include "sandbox/base.h"
#include "sandbox/rootfs.h"

static void ahead_path(const struct kn_store *st, char *out, size_t n)
{
	snprintf(out, n, "%s/sandboxes/%s", st->state_dir, KN_AHEAD_DIR);
}

/* The folder as a sandbox of no name yet; `dir` holds its path. */
static struct kn_sandbox_spec ahead_spec(const struct kn_store *st, uint32_t uid_base,
					 char dir[PATH_MAX])
{
	ahead_path(st, dir, PATH_MAX);
	return (struct kn_sandbox_spec){
		.name = KN_AHEAD_DIR, .dir = dir, .base_dir = st->base_dir, .uid_base = uid_base};
}

int kn_ahead_due(const struct kn_store *st)
{
	return !st->ahead.mounted && !st->ahead.failed;
}

static void unmount_layers(struct kn_ahead *a)
{
	if (a->mounted)
		for (size_t i = 0; i < KN_NS_LAYERS; i++)
			kn_closep(&a->layer[i]);
	a->mounted = 0;
}

uint32_t kn_ahead_next_base(const struct kn_store *st)
{
	return st->ahead.made ? st->ahead.uid_base : kn_store_free_uid_base(st);
}

void kn_ahead_recheck(struct kn_store *st)
{
	int used = 0;
	for (const struct kn_sandbox *sb = st->list; sb && st->ahead.made && !used; sb = sb->next)
		used = sb->uid_base == st->ahead.uid_base;
	if (used) {
		unmount_layers(&st->ahead);
		st->ahead.made = 0;
	}
}

int kn_ahead_trust(const struct kn_sandbox_spec *spec, unsigned long subject_hash, kn_error *err)
{
	char path[PATH_MAX];
	_cleanup_free_ char *cert = NULL;
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/%s", spec->dir, KN_CA_CERT_FILE);
	if (kn_read_file(path, KN_CA_FILE_MAX, &cert, &len, err) < 0)
		return -1;
	return kn_ns_trust_ca(spec, cert, len, subject_hash, err);
}

void kn_ahead_drop(struct kn_store *st)
{
	char dir[PATH_MAX];
	kn_error err;
	/* The overlays first: closing their last fd unmounts them. */
	unmount_layers(&st->ahead);
	st->ahead.made = 0;
	ahead_path(st, dir, sizeof(dir));
	if (kn_rm_rf(dir, &err) < 0)
		log_warn("the next sandbox's folder made ahead: %s", err.msg);
}

/* Last, over the finished folders (a layer changes only through its
 * overlay once mounted). */
static int mount_layers(const struct kn_store *st, const struct kn_sandbox_spec *spec,
			int layer[KN_NS_LAYERS], kn_error *err)
{
	_cleanup_close_ int userns = kn_spare_userns(&st->spare, spec->uid_base, err);
	return userns < 0 ? -1 : kn_rootfs_overlays(spec, userns, layer, err);
}

static int make_folder(struct kn_store *st, uint32_t uid_base, kn_error *err)
{
	char dir[PATH_MAX];
	struct kn_sandbox_spec spec = ahead_spec(st, uid_base, dir);
	kn_ahead_drop(st);
	/* The key is kennel-proxy's, as at create (manager.c). */
	uid_t key_uid = st->proxy ? st->proxy->uid : 0;
	gid_t key_gid = st->proxy ? st->proxy->gid : 0;
	int made;
	if (kn_base_build(st->base_dir, err) < 0)
		return -1;
	if (mkdir(dir, 0700) < 0)
		return kn_fail_errno(err, "mkdir %s", dir);
	struct kn_ahead a = {.made = 1, .uid_base = uid_base};
	if (kn_ns_prepare_folders(&spec, err) < 0 ||
	    kn_ca_ensure(dir, key_uid, key_gid, &a.ca, &made, err) < 0 ||
	    kn_ahead_trust(&spec, a.ca.subject_hash, err) < 0) {
		kn_error ignored;
		kn_rm_rf(dir, &ignored);
		return -1;
	}
	st->ahead = a;
	return 0;
}

int kn_ahead_make(struct kn_store *st, uint32_t uid_base, kn_error *err)
{
	st->ahead.failed = 1;
	if (!st->ahead.made || st->ahead.uid_base != uid_base) {
		if (make_folder(st, uid_base, err) < 0)
			return -1;
	} else {
		char dir[PATH_MAX];
		struct kn_sandbox_spec spec = ahead_spec(st, uid_base, dir);
		if (mount_layers(st, &spec, st->ahead.layer, err) < 0) {
			kn_ahead_drop(st);
			return -1;
		}
		st->ahead.mounted = 1;
	}
	st->ahead.failed = 0;
	return 0;
}

int kn_ahead_take(struct kn_store *st, struct kn_sandbox *sb, int layers[KN_NS_LAYERS])
{
	for (size_t i = 0; i < KN_NS_LAYERS; i++)
		layers[i] = -1;
	if (!st->ahead.made || st->ahead.uid_base != sb->uid_base || sb->image[0] || sb->vm)
		return 0;
	char dir[PATH_MAX];
	ahead_path(st, dir, sizeof(dir));
	/* NOREPLACE: an empty folder of that name must not be taken over. */
	if (renameat2(AT_FDCWD, dir, AT_FDCWD, sb->dir, RENAME_NOREPLACE) < 0) {
		if (errno != EEXIST) {
			log_warn("rename %s to %s: %s; the sandbox's folder is made now", dir, sb->dir,
				 strerror(errno));
			kn_ahead_drop(st);
		}
		return 0;
	}
	if (st->ahead.mounted)
		memcpy(layers, st->ahead.layer, sizeof(st->ahead.layer));
	st->ahead.made = 0;
	st->ahead.mounted = 0;
	sb->has_ca = 1;
	sb->ca = st->ahead.ca;
	return 1;
}
