/* io.h — reads with a deadline, for init's exec sessions: the vm guest's
 * (guest_exec.h) and an ns sandbox's (ns_session.h).
 *
 * Contract: kn_init_recv_full reads exactly `n` bytes from the socket `sock` before
 * `deadline` (a kn_now_ms value, common/clock.h) and returns 0, or -1 on end of stream,
 * an error, the deadline, or truncated control data. With `fds`, the
 * descriptors that come with the bytes (SCM_RIGHTS, close-on-exec) are stored
 * there, at most KN_INIT_RECV_FDS of them (*n_fds says how many; more are
 * closed). */
#ifndef KENNEL_INIT_IO_H
#define KENNEL_INIT_IO_H

#include <stddef.h>

/* A command's stdin, stdout and stderr. */
#define KN_INIT_RECV_FDS 3

int kn_init_recv_full(int sock, void *buf, size_t n, int *fds, size_t *n_fds, long long deadline);

#endif
