/* util.h — small shared helpers: scope-bound cleanup, ownership transfer, limits.
 *
 * Contract: header-only. `_cleanup_free_` frees a pointer, `_cleanup_close_` closes
 * an fd (ignores -1; kn_closep itself also sets the fd to -1, so a closed field
 * reads as none), `_cleanup_fclose_` closes a FILE*, when the variable leaves
 * scope. `steal_pointer(&p)` / `steal_fd(&fd)` hand ownership out and disarm the
 * cleanup; `_cleanup_wipe_free_` frees with kn_wipe_free (wipe.h);
 * `container_of(ptr, type, member)` is the struct holding the member at ptr.
 * `kn_str_append` / `kn_str_append_uint` add a string / a decimal number to
 * the string of `off` chars in buf: cut to fit, always terminated, like
 * snprintf's "%s" and "%u" at a fraction of its cost (the proxy formats
 * addresses and rules for every request); they return the new length. Style
 * taken from bubblewrap's utils.h and systemd's macro.h. */
#ifndef KENNEL_UTIL_H
#define KENNEL_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/wipe.h"

static inline void kn_freep(void *p) { free(*(void **)p); }
static inline void kn_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
	*fd = -1;
}
static inline void kn_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void kn_wipe_freep(void *p) { kn_wipe_free(*(void **)p); }

#define _cleanup_free_ __attribute__((cleanup(kn_freep)))
#define _cleanup_wipe_free_ __attribute__((cleanup(kn_wipe_freep)))
#define _cleanup_close_ __attribute__((cleanup(kn_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(kn_fclosep)))

static inline void *kn_steal_pointer(void *pp)
{
	void **p = pp, *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) kn_steal_pointer(pp)

static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

static inline size_t kn_str_append(char *buf, size_t bufsz, size_t off, const char *s)
{
	if (bufsz == 0)
		return 0;
	while (*s && off + 1 < bufsz)
		buf[off++] = *s++;
	buf[off < bufsz ? off : bufsz - 1] = '\0';
	return off;
}

static inline size_t kn_str_append_uint(char *buf, size_t bufsz, size_t off, unsigned long long v)
{
	char digits[21];
	size_t i = sizeof(digits) - 1;
	digits[i] = '\0';
	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return kn_str_append(buf, bufsz, off, digits + i);
}

#define KN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
