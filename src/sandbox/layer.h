/* layer.h — writing into a stopped sandbox's writable layer from the daemon.
 *
 * Contract: a layer is the writable top of one of the sandbox's overlays (in
 * the state dir) and the read-only base under it. The top belongs to the
 * sandbox, whose root may have planted symlinks, FIFOs, devices or whiteouts
 * anywhere in it: every function here walks it with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS from the top, never follows a link, never opens a FIFO
 * blocking, and replaces files by rename instead of writing through them.
 * Only while the sandbox is stopped: an overlay's layers may change only then.
 *
 *   kn_layer_dir        open directory `rel` of the top (O_RDONLY), making what
 *                       is missing: a directory the base has looks the same
 *                       (mode, owner shifted into the sandbox's range), one it
 *                       lacks gets uid/gid `owner` inside and `mode`; anything
 *                       else in the way is replaced by a directory marked
 *                       opaque (it hid the base's). Returns the fd or -1.
 *   kn_layer_base_stat  stat of `rel` in the base, links resolved inside the
 *                       base (an --image must not lead to the host's files);
 *                       -1 with errno when it is not there.
 *   kn_layer_put_file   `name` in `dirfd` replaced by a new file holding
 *                       a then b (b may be NULL), owned by `owner` inside.
 *   kn_layer_root       the layer of the sandbox's root: upper/root over the
 *                       daemon's base root, or over the --image.
 *   kn_layer_read_regular  read `fd` when it is a regular file of at most
 *                       `max` bytes; otherwise 0 with *out NULL. */
#ifndef KENNEL_SANDBOX_LAYER_H
#define KENNEL_SANDBOX_LAYER_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/error.h"

struct kn_layer {
	char upper[PATH_MAX]; /* the writable top, in the state dir */
	char lower[PATH_MAX]; /* the base under it */
	uid_t uid_base;       /* host uid of root inside */
};

int kn_layer_dir(const struct kn_layer *l, const char *rel, uid_t owner, mode_t mode,
		 kn_error *err);
int kn_layer_base_stat(const struct kn_layer *l, const char *rel, struct stat *st);
int kn_layer_put_file(const struct kn_layer *l, int dirfd, const char *name, const char *a,
		      size_t alen, const char *b, size_t blen, uid_t owner, mode_t mode,
		      kn_error *err);
int kn_layer_read_regular(int fd, size_t max, char **out, size_t *out_len, const char *shown,
			  kn_error *err);
struct kn_sandbox_spec;
void kn_layer_root(const struct kn_sandbox_spec *s, struct kn_layer *out);
/* openat2(2) with O_CLOEXEC added. */
int kn_openat2(int dirfd, const char *path, int flags, unsigned long long resolve);

#endif
