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
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/idmap.h"
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

/* One layer of the sandbox: its writable top (in the state dir) and the
 * read-only base under it, which decides what new directories look like. */
struct layer {
	char upper[PATH_MAX];
	char lower[PATH_MAX];
	uid_t uid_base;
};

static int openat2_fd(int dirfd, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = resolve};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* stat of `rel` in the base, symlinks resolved inside it (an --image is a
 * tree from anywhere: its links must not lead to the host's files). */
static int lower_stat(const struct layer *l, const char *rel, struct stat *st)
{
	_cleanup_close_ int top = open(l->lower, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return -1;
	_cleanup_close_ int fd = openat2_fd(top, rel, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	return fd < 0 ? -1 : fstat(fd, st);
}

/* A directory the base also has looks the same inside (mode, and owner
 * shifted into the sandbox's range); one it lacks is root's, 0755. */
static int make_dir(const struct layer *l, int parent, const char *name, const char *rel, int opaque,
		    kn_error *err)
{
	struct stat st;
	mode_t mode = 0755;
	uid_t uid = l->uid_base;
	gid_t gid = l->uid_base;
	if (lower_stat(l, rel, &st) == 0 && S_ISDIR(st.st_mode)) {
		mode = st.st_mode & 07777;
		if (st.st_uid < KN_IDMAP_RANGE)
			uid = l->uid_base + st.st_uid;
		if (st.st_gid < KN_IDMAP_RANGE)
			gid = l->uid_base + st.st_gid;
	}
	if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
		return kn_fail_errno(err, "mkdir %s/%s", l->upper, rel);
	_cleanup_close_ int fd = openat2_fd(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
					    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
	if (fd < 0)
		return kn_fail_errno(err, "open %s/%s", l->upper, rel);
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
		return kn_fail_errno(err, "chown/chmod %s/%s", l->upper, rel);
	/* It replaces something that hid the base's directory: keep that hidden. */
	if (opaque && fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
		return kn_fail_errno(err, "mark %s/%s opaque", l->upper, rel);
	return 0;
}

/* Open directory `rel` of the layer's writable top, making what is missing;
 * never follows a symlink, replaces any non-directory in the way. */
static int layer_dir(const struct layer *l, const char *rel, kn_error *err)
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
		int next = openat2_fd(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
				      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
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
			if (make_dir(l, cur, c, sofar, opaque, err) < 0) {
				close(cur);
				return -1;
			}
			next = openat2_fd(cur, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
					  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
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

/* Read a regular file of at most `max` bytes from an open fd; 0 with *out
 * NULL when it is not a regular file or is too big. */
static int read_fd(int fd, size_t max, char **out, size_t *out_len, const char *shown, kn_error *err)
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

/* The bundle the sandbox's base brings: the host's (what every host user can
 * read), or the image's (resolved inside the image). Missing: empty. */
static int base_bundle(const struct kn_sandbox_spec *s, char **out, size_t *len, kn_error *err)
{
	_cleanup_close_ int fd = -1;
	const char *shown = KN_TRUST_HOST_BUNDLE;
	char img[PATH_MAX];
	if (s->image) {
		_cleanup_close_ int top = open(s->image, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (top < 0)
			return kn_fail_errno(err, "open image %s", s->image);
		fd = openat2_fd(top, &KN_TRUST_BUNDLE[1], O_RDONLY | O_NONBLOCK,
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
	/* Host files go in only if every host user may read them anyway. */
	if (!s->image && (fstat(fd, &st) < 0 || !(st.st_mode & S_IROTH))) {
		log_warn("%s is not world-readable; the sandbox's bundle holds the kennel CA alone", shown);
		return 0;
	}
	if (read_fd(fd, KN_TRUST_BUNDLE_MAX, out, len, shown, err) < 0)
		return -1;
	if (!*out)
		log_warn("%s is not a regular file of at most %d bytes; left out of the sandbox's bundle",
			 shown, KN_TRUST_BUNDLE_MAX);
	return 0;
}

/* Replace `name` in `dirfd` by a new file (through a temp file and rename:
 * whatever was there, symlink included, is replaced, never written through). */
static int replace_file(int dirfd, const char *shown_dir, const char *name, const char *a, size_t alen,
			const char *b, size_t blen, uid_t uid, kn_error *err)
{
	char tmp[256];
	snprintf(tmp, sizeof(tmp), ".%s.kennel-tmp", name);
	if (unlinkat(dirfd, tmp, 0) < 0 && errno != ENOENT)
		return kn_fail_errno(err, "unlink %s/%s", shown_dir, tmp);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return kn_fail_errno(err, "create %s/%s", shown_dir, tmp);
	const char *parts[2] = {a, b};
	size_t lens[2] = {alen, blen};
	for (int i = 0; i < 2; i++) {
		size_t done = 0;
		while (done < lens[i]) {
			ssize_t w = write(fd, parts[i] + done, lens[i] - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				kn_fail_errno(err, "write %s/%s", shown_dir, tmp);
				goto fail;
			}
			done += (size_t)w;
		}
	}
	if (fchown(fd, uid, uid) < 0 || fchmod(fd, 0644) < 0) {
		kn_fail_errno(err, "chown/chmod %s/%s", shown_dir, tmp);
		goto fail;
	}
	close(fd);
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		kn_fail_errno(err, "rename %s/%s to %s", shown_dir, tmp, name);
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return -1;
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
static void hash_link(const struct layer *l, int dirfd, const char *dir_rel, unsigned long hash)
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
		if (lower_stat(l, rel, &st) == 0)
			continue; /* another CA of the base with the same hash */
		if (put_link(dirfd, name, CA_LINK_NAME, l->uid_base) < 0)
			log_warn("sandbox layer %s: link %s/%s: %s", l->upper, dir_rel, name, strerror(errno));
		return;
	}
}

/* The certificate's subject hash (OpenSSL's, as in HASH.0 names). */
static int subject_hash(const char *pem, size_t len, unsigned long *hash, kn_error *err)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!x) {
		ERR_clear_error();
		return kn_fail(err, "the kennel CA certificate does not parse");
	}
	*hash = X509_subject_name_hash(x);
	X509_free(x);
	return 0;
}

int kn_ns_trust_ca(const struct kn_sandbox_spec *s, const char *ca_pem, size_t ca_len, kn_error *err)
{
	unsigned long hash = 0;
	if (subject_hash(ca_pem, ca_len, &hash, err) < 0)
		return -1;
	struct layer root = {.uid_base = s->uid_base}, usr = {.uid_base = s->uid_base};
	snprintf(root.upper, sizeof(root.upper), "%s/upper/root", s->dir);
	if (s->image)
		snprintf(root.lower, sizeof(root.lower), "%s", s->image);
	else
		snprintf(root.lower, sizeof(root.lower), "%s/root", s->base_dir);
	/* /usr is a layer of its own on the host base (rootfs.c), part of the
	 * root layer in an image. */
	const struct layer *ca_layer = &root;
	const char *ca_rel = &KN_TRUST_CA_DIR[1];
	if (!s->image) {
		snprintf(usr.upper, sizeof(usr.upper), "%s/upper/usr", s->dir);
		snprintf(usr.lower, sizeof(usr.lower), "/usr");
		ca_layer = &usr;
		ca_rel = &KN_TRUST_CA_DIR[strlen("/usr/")];
	}

	_cleanup_close_ int cadir = layer_dir(ca_layer, ca_rel, err);
	if (cadir < 0)
		return -1;
	const char *ca_name = strrchr(KN_TRUST_CA, '/') + 1;
	if (replace_file(cadir, ca_layer->upper, ca_name, ca_pem, ca_len, NULL, 0, s->uid_base, err) < 0)
		return -1;

	const char *certs_rel = &KN_TRUST_DIR[1];
	_cleanup_close_ int certs = layer_dir(&root, certs_rel, err);
	if (certs < 0)
		return -1;
	const char *bundle_name = strrchr(KN_TRUST_BUNDLE, '/') + 1;
	_cleanup_free_ char *have = NULL;
	size_t have_len = 0;
	/* O_NONBLOCK: a FIFO the sandbox left here must not hang the daemon. */
	_cleanup_close_ int hfd = openat(certs, bundle_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (hfd >= 0 && read_fd(hfd, KN_TRUST_BUNDLE_MAX, &have, &have_len, bundle_name, err) < 0)
		return -1;
	if (!have || !memmem(have, have_len, ca_pem, ca_len)) {
		_cleanup_free_ char *base = NULL;
		size_t base_len = 0;
		if (base_bundle(s, &base, &base_len, err) < 0)
			return -1;
		/* The base's bundle, a line break if it lacks its last, the CA. */
		_cleanup_free_ char *joined = malloc(base_len + 2);
		if (!joined)
			return kn_fail(err, "out of memory");
		memcpy(joined, base ? base : "", base_len);
		if (base_len && joined[base_len - 1] != '\n')
			joined[base_len++] = '\n';
		if (replace_file(certs, root.upper, bundle_name, joined, base_len, ca_pem, ca_len,
				 s->uid_base, err) < 0)
			return -1;
		log_debug("sandbox %s: %s written (%zu bytes of base bundle and the kennel CA)", s->name,
			  KN_TRUST_BUNDLE, base_len);
	}
	if (put_link(certs, CA_LINK_NAME, KN_TRUST_CA, s->uid_base) < 0)
		log_warn("sandbox %s: link %s/%s: %s", s->name, KN_TRUST_DIR, CA_LINK_NAME, strerror(errno));
	hash_link(&root, certs, certs_rel, hash);
	return 0;
}
