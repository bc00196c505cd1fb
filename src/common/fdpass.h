/* fdpass.h — sending and receiving file descriptors over Unix sockets.
 *
 * Contract: kn_send_fds sends `len` bytes (at least 1) with up to KN_MAX_PASS_FDS
 * fds attached as SCM_RIGHTS in one sendmsg. kn_recv_fds receives one message of
 * up to `cap` bytes; fds that arrive are stored in `fds` (O_CLOEXEC) up to
 * `max_fds`, extra ones are closed; *n_fds says how many. Returns bytes read,
 * 0 on EOF, -1 with err set. EINTR is retried. */
#ifndef KENNEL_FDPASS_H
#define KENNEL_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

/* The most any kennel message carries: stdin, stdout, stderr. */
#define KN_MAX_PASS_FDS 4

ssize_t kn_send_fds(int sock, const void *data, size_t len, const int *fds, size_t n_fds,
		    kn_error *err);
ssize_t kn_recv_fds(int sock, void *buf, size_t cap, int *fds, size_t max_fds, size_t *n_fds,
		    kn_error *err);

#endif
