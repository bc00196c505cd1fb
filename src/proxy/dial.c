/* dial.c — connect over candidates (contract: dial.h). */
#include "proxy/dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static socklen_t to_sockaddr(const struct kn_addr *a, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a->bytes, 4);
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	memcpy(&sin6->sin6_addr, a->bytes, 16);
	return sizeof(*sin6);
}

enum kp_dial_status kp_dial_next(struct kp_dial *d, int *fd)
{
	while (d->next < d->allowed.n) {
		const struct kn_addr *a = &d->allowed.addr[d->next++];
		struct sockaddr_storage ss;
		socklen_t len = to_sockaddr(a, d->port, &ss);

		int s = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
		if (s < 0) {
			d->last_errno = errno;
			continue;
		}
		int one = 1;
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		d->addr = *a;
		if (connect(s, (struct sockaddr *)&ss, len) == 0) {
			*fd = s;
			return KP_DIAL_DONE;
		}
		if (errno == EINPROGRESS) {
			*fd = s;
			return KP_DIAL_PENDING;
		}
		d->last_errno = errno;
		close(s);
	}
	return KP_DIAL_NONE;
}

int kp_dial_result(int fd)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return errno;
	return soerr;
}
