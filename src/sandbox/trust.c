/* trust.c — the kennel CA in the sandbox's trust store (contract: trust.h). */
#define _GNU_SOURCE
#include "sandbox/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/layer.h"
#include "sandbox/sandbox.h"

/* Subject-hash links tried per hash (HASH.0 ... HASH.9), as c_rehash does
 * when distinct CAs share a hash. */
#define HASH_LINK_TRIES 10
#define CA_LINK_NAME "kennel-ca.pem"

const char *const kn_trust_env[] = {
	/* Node adds these to its built-in roots. */
	"NODE_EXTRA_CA_CERTS=" KN_TRUST_CA,
	/* The rest replace the default store: the full bundle. */
	"SSL_CERT_FILE=" KN_TRUST_BUNDLE,
	"REQUESTS_CA_BUNDLE=" KN_TRUST_BUNDLE,
	"CURL_CA_BUNDLE=" KN_TRUST_BUNDLE,
	"GIT_SSL_CAINFO=" KN_TRUST_BUNDLE,
	"CODEX_CA_CERTIFICATE=" KN_TRUST_BUNDLE,
	NULL,
};

/* The last base bundle read, and the identity of the file it came from:
 * creates read the same 220 KB file one after another, and reading it again
 * (copy, page faults) was ~0.1 ms of each. A file changed in place shows a new
 * size, mtime or ctime and is read again. */
static struct {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	char *data;
	size_t len;
} cached_base;

static int same_file(const struct stat *st)
{
	return cached_base.data && st->st_dev == cached_base.dev && st->st_ino == cached_base.ino &&
	       st->st_size == cached_base.size &&
	       st->st_mtim.tv_sec == cached_base.mtime.tv_sec &&
	       st->st_mtim.tv_nsec == cached_base.mtime.tv_nsec &&
	       st->st_ctim.tv_sec == cached_base.ctime.tv_sec &&
	       st->st_ctim.tv_nsec == cached_base.ctime.tv_nsec;
}

/* The bundle the sandbox's base brings: the host's (what every host user can
 * read), or the image's (resolved inside the image). Missing: empty. *out
 * points into the cache above: valid until the next call. */
static int base_bundle(const struct kn_sandbox_spec *s, const char **out, size_t *len, kn_error *err)
{
	_cleanup_close_ int fd = -1;
	const char *shown = KN_TRUST_HOST_BUNDLE;
	char img[PATH_MAX];
	if (s->image) {
		_cleanup_close_ int top = open(s->image, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (top < 0)
			return kn_fail_errno(err, "open image %s", s->image);
		fd = kn_openat2(top, &KN_TRUST_BUNDLE[1], O_RDONLY | O_NONBLOCK,
				RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
		snprintf(img, sizeof(img), "%s%s", s->image, KN_TRUST_BUNDLE);
		shown = img;
	} else {
		fd = open(KN_TRUST_HOST_BUNDLE, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	}
	*out = NULL;
	*len = 0;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			log_debug("no CA bundle at %s; the sandbox's holds the kennel CA alone", shown);
			return 0;
		}
		return kn_fail_errno(err, "open %s", shown);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kn_fail_errno(err, "fstat %s", shown);
	/* Host files go in only if every host user may read them anyway. */
	if (!s->image && !(st.st_mode & S_IROTH)) {
		log_warn("%s is not world-readable; the sandbox's bundle holds the kennel CA alone", shown);
		return 0;
	}
	if (!same_file(&st)) {
		char *data = NULL;
		size_t n = 0;
		if (kn_layer_read_regular(fd, KN_TRUST_BUNDLE_MAX, &data, &n, shown, err) < 0)
			return -1;
		if (!data) {
			log_warn("%s is not a regular file of at most %d bytes; left out of the sandbox's bundle",
				 shown, KN_TRUST_BUNDLE_MAX);
			return 0;
		}
		free(cached_base.data);
		cached_base.dev = st.st_dev;
		cached_base.ino = st.st_ino;
		cached_base.size = st.st_size;
		cached_base.mtime = st.st_mtim;
		cached_base.ctime = st.st_ctim;
		cached_base.data = data;
		cached_base.len = n;
	}
	*out = cached_base.data;
	*len = cached_base.len;
	return 0;
}

/* `name` -> `target` in `dirfd`, owned by root inside; an existing symlink or
 * file there is replaced, a directory left alone (the sandbox's business). */
static int put_link(int dirfd, const char *name, const char *target, uid_t uid)
{
	char have[PATH_MAX];
	ssize_t n = readlinkat(dirfd, name, have, sizeof(have) - 1);
	if (n >= 0) {
		have[n] = '\0';
		if (!strcmp(have, target))
			return 0;
	}
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return -1;
	if (symlinkat(target, dirfd, name) < 0)
		return -1;
	return fchownat(dirfd, name, uid, uid, AT_SYMLINK_NOFOLLOW);
}

/* HASH.N -> kennel-ca.pem at the first N the base and the sandbox leave free
 * (or already ours). */
static void hash_link(const struct kn_layer *l, int dirfd, const char *dir_rel, unsigned long hash)
{
	for (int i = 0; i < HASH_LINK_TRIES; i++) {
		char name[32], rel[PATH_MAX], have[PATH_MAX];
		struct stat st;
		snprintf(name, sizeof(name), "%08lx.%d", hash, i);
		ssize_t n = readlinkat(dirfd, name, have, sizeof(have) - 1);
		if (n >= 0) {
			have[n] = '\0';
			if (!strcmp(have, CA_LINK_NAME))
				return;
			continue; /* the sandbox's own link */
		}
		if (errno != ENOENT)
			continue; /* something else of the sandbox's */
		snprintf(rel, sizeof(rel), "%s/%s", dir_rel, name);
		if (kn_layer_base_stat(l, rel, &st) == 0)
			continue; /* another CA of the base with the same hash */
		if (put_link(dirfd, name, CA_LINK_NAME, l->uid_base) < 0)
			log_warn("sandbox layer %s: link %s/%s: %s", l->upper, dir_rel, name, strerror(errno));
		return;
	}
}

/* The certificate's subject hash (OpenSSL's, as in HASH.0 names). */
int kn_ns_trust_ca(const struct kn_sandbox_spec *s, const char *ca_pem, size_t ca_len,
		   unsigned long hash, kn_error *err)
{
	struct kn_layer root, usr = {.uid_base = s->uid_base};
	kn_layer_root(s, &root);
	/* /usr is a layer of its own on the host base (rootfs.c), part of the
	 * root layer in an image. */
	const struct kn_layer *ca_layer = &root;
	const char *ca_rel = &KN_TRUST_CA_DIR[1];
	if (!s->image) {
		snprintf(usr.upper, sizeof(usr.upper), "%s/upper/usr", s->dir);
		snprintf(usr.lower, sizeof(usr.lower), "/usr");
		ca_layer = &usr;
		ca_rel = &KN_TRUST_CA_DIR[strlen("/usr/")];
	}

	_cleanup_close_ int cadir = kn_layer_dir(ca_layer, ca_rel, 0, 0755, err);
	if (cadir < 0)
		return -1;
	const char *ca_name = strrchr(KN_TRUST_CA, '/') + 1;
	if (kn_layer_put_file(ca_layer, cadir, ca_name, ca_pem, ca_len, NULL, 0, 0, 0644, err) < 0)
		return -1;

	const char *certs_rel = &KN_TRUST_DIR[1];
	_cleanup_close_ int certs = kn_layer_dir(&root, certs_rel, 0, 0755, err);
	if (certs < 0)
		return -1;
	const char *bundle_name = strrchr(KN_TRUST_BUNDLE, '/') + 1;
	_cleanup_free_ char *have = NULL;
	size_t have_len = 0;
	/* O_NONBLOCK: a FIFO the sandbox left here must not hang the daemon. */
	_cleanup_close_ int hfd = openat(certs, bundle_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (hfd >= 0 && kn_layer_read_regular(hfd, KN_TRUST_BUNDLE_MAX, &have, &have_len, bundle_name, err) < 0)
		return -1;
	if (!have || !memmem(have, have_len, ca_pem, ca_len)) {
		const char *base = NULL;
		size_t base_len = 0;
		if (base_bundle(s, &base, &base_len, err) < 0)
			return -1;
		/* The base's bundle, a line break if it lacks its last (only
		 * then copied), the CA. */
		_cleanup_free_ char *joined = NULL;
		if (base_len && base[base_len - 1] != '\n') {
			joined = malloc(base_len + 1);
			if (!joined)
				return kn_fail(err, "out of memory");
			memcpy(joined, base, base_len);
			joined[base_len++] = '\n';
			base = joined;
		}
		if (kn_layer_put_file(&root, certs, bundle_name, base ? base : "", base_len, ca_pem,
				      ca_len, 0, 0644, err) < 0)
			return -1;
		log_debug("sandbox %s: %s written (%zu bytes of base bundle and the kennel CA)", s->name,
			  KN_TRUST_BUNDLE, base_len);
	}
	if (put_link(certs, CA_LINK_NAME, KN_TRUST_CA, s->uid_base) < 0)
		log_warn("sandbox %s: link %s/%s: %s", s->name, KN_TRUST_DIR, CA_LINK_NAME, strerror(errno));
	hash_link(&root, certs, certs_rel, hash);
	return 0;
}
