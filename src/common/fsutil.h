/* fsutil.h — file helpers that keep the state dir consistent.
 *
 * Contract: kn_write_atomic writes `len` bytes to `path` through a temp file in
 * the same directory, fsyncs it, renames it over `path` and fsyncs the directory,
 * so a crash at any moment leaves either the old or the new content. kn_read_file
 * reads a whole regular file of at most `max` bytes (NUL-terminated); kn_read_fd
 * the same from an open descriptor (from offset 0; `name` is for messages);
 * a buffer that held part of the file is wiped when a read fails. kn_mkdir_p
 * creates a directory and its parents. kn_rm_rf removes a tree without following
 * symlinks and without crossing mount points. All return 0 / -1 with `err` set. */
#ifndef KENNEL_FSUTIL_H
#define KENNEL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

int kn_write_atomic(const char *path, const void *data, size_t len, mode_t mode, kn_error *err);
/* The same, the file owned by uid:gid from the start (the temp file is chowned
 * before the rename): for files another user must own, such as a key only
 * that user may read. The temp file is created with `mode`, never wider. */
int kn_write_atomic_owned(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
			  gid_t gid, kn_error *err);
/* The same temp-and-rename replacement without the fsyncs: readers see the old
 * or the new content, but a power loss may lose the change. For files that are
 * rewritten at every start anyway (runtime state, derived views). */
int kn_write_replace(const char *path, const void *data, size_t len, mode_t mode, kn_error *err);
int kn_write_replace_owned(const char *path, const void *data, size_t len, mode_t mode, uid_t uid,
			   gid_t gid, kn_error *err);
int kn_read_file(const char *path, size_t max, char **out, size_t *out_len, kn_error *err);
int kn_read_fd(int fd, const char *name, size_t max, char **out, size_t *out_len, kn_error *err);
int kn_mkdir_p(const char *path, mode_t mode, kn_error *err);
int kn_rm_rf(const char *path, kn_error *err);

#endif
