/* io.c — reads with a deadline for init's exec sessions (contract: io.h). */
#define _GNU_SOURCE
#include "init/io.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"

static int wait_readable(int fd, long long deadline)
{
	for (;;) {
		long long left = deadline - kn_now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0)
			return -1;
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0 || errno != EINTR)
			return -1;
	}
}

static void keep_fds(struct msghdr *m, int *fds, size_t *n_fds)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			if (*n_fds < KN_INIT_RECV_FDS)
				fds[(*n_fds)++] = fd;
			else
				close(fd);
		}
	}
}

int kn_init_recv_full(int sock, void *buf, size_t n, int *fds, size_t *n_fds, long long deadline)
{
	uint8_t *p = buf;
	while (n) {
		if (wait_readable(sock, deadline) < 0)
			return -1;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(KN_INIT_RECV_FDS * sizeof(int))];
		} c;
		struct iovec iov = {.iov_base = p, .iov_len = n};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		if (fds) {
			m.msg_control = c.buf;
			m.msg_controllen = sizeof(c.buf);
		}
		ssize_t got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0 || (m.msg_flags & MSG_CTRUNC))
			return -1;
		if (fds)
			keep_fds(&m, fds, n_fds);
		p += got;
		n -= (size_t)got;
	}
	return 0;
}
