#define _GNU_SOURCE
#include "daemon/netlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* Append matching entries of `data[0..len)` (complete lines only) to `out`. */
static void collect(const char *data, size_t len, const char *sandbox, json_t *out)
{
	const char *p = data, *end = data + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break; /* a line still being written */
		json_t *j = json_loadb(p, (size_t)(nl - p), 0, NULL);
		p = nl + 1;
		if (!json_is_object(j)) {
			json_decref(j);
			continue;
		}
		const char *sb = json_string_value(json_object_get(j, "sandbox"));
		if (sandbox && (!sb || strcmp(sb, sandbox)))
			json_decref(j);
		else
			json_array_append_new(out, j);
	}
}

/* Read [from, EOF) of `path`, at most `max` bytes from the end. Returns the
 * number of bytes up to the last newline read (what the cursor may skip). */
static int read_tail(const char *path, off_t from, size_t max, char **buf, size_t *len,
		     struct stat *st, kn_error *err)
{
	*buf = NULL;
	*len = 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			memset(st, 0, sizeof(*st));
			return 0;
		}
		return kn_fail_errno(err, "open %s", path);
	}
	if (fstat(fd, st) < 0)
		return kn_fail_errno(err, "fstat %s", path);
	if (from > st->st_size)
		from = 0;
	if ((size_t)(st->st_size - from) > max)
		from = st->st_size - (off_t)max;
	size_t want = (size_t)(st->st_size - from);
	*buf = malloc(want + 1);
	if (!*buf)
		return kn_fail(err, "out of memory reading %s", path);
	ssize_t n = pread(fd, *buf, want, from);
	if (n < 0) {
		free(*buf);
		*buf = NULL;
		return kn_fail_errno(err, "read %s", path);
	}
	/* Only whole lines count: the cursor stops after the last newline. */
	size_t whole = (size_t)n;
	while (whole > 0 && (*buf)[whole - 1] != '\n')
		whole--;
	*len = whole;
	st->st_size = from + (off_t)whole;
	return 0;
}

json_t *kn_netlog_read(const char *log_path, const char *sandbox, size_t limit, const char *cursor,
		       kn_error *err)
{
	json_t *entries = json_array();
	struct stat st;
	off_t from = 0;
	uintmax_t ino = 0;
	if (cursor) {
		uintmax_t off;
		if (sscanf(cursor, "%ju:%ju", &ino, &off) != 2) {
			json_decref(entries);
			kn_fail(err, "bad cursor '%s'", cursor);
			err->errnum = EINVAL;
			return NULL;
		}
		struct stat now;
		from = (stat(log_path, &now) == 0 && now.st_ino == ino) ? (off_t)off : 0;
	} else {
		/* History: rotated files first, oldest first. */
		for (int i = 3; i >= 1; i--) {
			char path[4096];
			snprintf(path, sizeof(path), "%s.%d", log_path, i);
			char *buf;
			size_t len;
			struct stat rst;
			if (read_tail(path, 0, KN_NETLOG_MAX_READ, &buf, &len, &rst, err) < 0) {
				json_decref(entries);
				return NULL;
			}
			collect(buf ? buf : "", len, sandbox, entries);
			free(buf);
		}
	}
	char *buf;
	size_t len;
	if (read_tail(log_path, from, KN_NETLOG_MAX_READ, &buf, &len, &st, err) < 0) {
		json_decref(entries);
		return NULL;
	}
	collect(buf ? buf : "", len, sandbox, entries);
	free(buf);
	size_t n = json_array_size(entries);
	if (limit && n > limit) {
		json_t *tail = json_array();
		for (size_t i = n - limit; i < n; i++)
			json_array_append(tail, json_array_get(entries, i));
		json_decref(entries);
		entries = tail;
	}
	char next[64];
	snprintf(next, sizeof(next), "%ju:%jd", (uintmax_t)st.st_ino, (intmax_t)st.st_size);
	return json_pack("{s:o,s:s}", "entries", entries, "cursor", next);
}
