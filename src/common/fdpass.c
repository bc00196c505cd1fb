#define _GNU_SOURCE
#include "common/fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t kn_send_fds(int sock, const void *data, size_t len, const int *fds, size_t n_fds,
		    kn_error *err)
{
	if (n_fds > KN_MAX_PASS_FDS)
		return kn_fail(err, "sendmsg: %zu fds is more than %d", n_fds, KN_MAX_PASS_FDS);
	union {
		char buf[CMSG_SPACE(sizeof(int) * KN_MAX_PASS_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n_fds) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kn_fail_errno(err, "sendmsg with %zu fds", n_fds);
	return n;
}

ssize_t kn_recv_fds(int sock, void *buf, size_t cap, int *fds, size_t max_fds, size_t *n_fds,
		    kn_error *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * KN_MAX_PASS_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	*n_fds = 0;
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kn_fail_errno(err, "recvmsg");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int got[KN_MAX_PASS_FDS];
		cnt = cnt > KN_MAX_PASS_FDS ? KN_MAX_PASS_FDS : cnt;
		memcpy(got, CMSG_DATA(c), cnt * sizeof(int));
		for (size_t i = 0; i < cnt; i++) {
			if (*n_fds < max_fds)
				fds[(*n_fds)++] = got[i];
			else
				close(got[i]);
		}
	}
	if (msg.msg_flags & MSG_CTRUNC)
		return kn_fail(err, "recvmsg: ancillary data truncated");
	return n;
}
