/* dial.h — non-blocking TCP connect over a list of already-allowed addresses.
 *
 * Contract: kp_dial_next starts a connect to the next candidate (a
 * non-blocking, close-on-exec socket with TCP_NODELAY) and returns
 *   KP_DIAL_PENDING  connect in progress: wait for EPOLLOUT on *fd, then call
 *                    kp_dial_result;
 *   KP_DIAL_DONE     connected at once (*fd ready);
 *   KP_DIAL_NONE     no candidate left; `last_errno` says why the last failed.
 * A candidate whose socket() or connect() fails at once is skipped (its errno
 * kept). `addr` is the candidate the returned fd is connecting to. The caller
 * owns *fd and closes it when it gives up on that attempt. */
#ifndef KENNEL_PROXY_DIAL_H
#define KENNEL_PROXY_DIAL_H

#include <stdint.h>

#include "proxy/decide.h"

enum kp_dial_status {
	KP_DIAL_PENDING,
	KP_DIAL_DONE,
	KP_DIAL_NONE,
};

struct kp_dial {
	struct kp_candidates allowed;
	uint16_t port;
	size_t next;
	int last_errno;
	struct kn_addr addr; /* the attempt in progress */
};

enum kp_dial_status kp_dial_next(struct kp_dial *d, int *fd);
/* 0 when the pending connect on `fd` succeeded, else its errno. */
int kp_dial_result(int fd);

#endif
