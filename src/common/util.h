/* util.h — small shared helpers: scope-bound cleanup, ownership transfer, limits.
 *
 * Contract: header-only. `_cleanup_free_` frees a pointer, `_cleanup_close_` closes
 * an fd (ignores -1; kn_closep itself also sets the fd to -1, so a closed field
 * reads as none), `_cleanup_fclose_` closes a FILE*, when the variable leaves
 * scope. `steal_pointer(&p)` / `steal_fd(&fd)` hand ownership out and disarm the
 * cleanup; `_cleanup_wipe_free_` frees with kn_wipe_free (wipe.h);
 * `container_of(ptr, type, member)` is the struct holding the member at ptr. Style
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

#define KN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
