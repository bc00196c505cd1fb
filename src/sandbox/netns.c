#define _GNU_SOURCE
#include "sandbox/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

/* Connections waiting while the proxy restarts; the kernel caps it at somaxconn. */
#define KN_PROXY_BACKLOG 4096

#define PROXY_URL "http://127.0.0.1:3128"
#define NO_PROXY_LIST "localhost,127.0.0.1,::1"

const char *const kn_proxy_env[] = {
	"HTTP_PROXY=" PROXY_URL,
	"HTTPS_PROXY=" PROXY_URL,
	"http_proxy=" PROXY_URL,
	"https_proxy=" PROXY_URL,
	"NO_PROXY=" NO_PROXY_LIST,
	"no_proxy=" NO_PROXY_LIST,
	"npm_config_proxy=" PROXY_URL,
	"npm_config_https_proxy=" PROXY_URL,
	"NODE_USE_ENV_PROXY=1",
	"JAVA_TOOL_OPTIONS=-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=3128 "
	"-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=3128 "
	"-Dhttp.nonProxyHosts=localhost|127.0.0.1|[::1]",
	/* git reads extra config from the environment (git >= 2.31). */
	"GIT_CONFIG_COUNT=1",
	"GIT_CONFIG_KEY_0=http.proxy",
	"GIT_CONFIG_VALUE_0=" PROXY_URL,
	NULL,
};

static int loopback_up(kn_error *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return kn_fail_errno(err, "socket for loopback setup");
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return kn_fail_errno(err, "SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return kn_fail_errno(err, "SIOCSIFFLAGS lo");
	return 0;
}

/* A listening socket on loopback:KN_PROXY_PORT for AF_INET or AF_INET6
 * (close-on-exec); -1 with err. */
static int proxy_listener(int family, kn_error *err)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	const char *shown = family == AF_INET ? "127.0.0.1" : "[::1]";
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(KN_PROXY_PORT);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(KN_PROXY_PORT);
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kn_fail_errno(err, "socket for proxy listener %s", shown);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, KN_PROXY_BACKLOG) < 0) {
		kn_fail_errno(err, "bind/listen %s:%d", shown, KN_PROXY_PORT);
		close(fd);
		return -1;
	}
	return fd;
}

int kn_netns_setup(int *proxy4, int *proxy6, kn_error *err)
{
	*proxy4 = *proxy6 = -1;
	if (loopback_up(err) < 0 || (*proxy4 = proxy_listener(AF_INET, err)) < 0)
		return -1;
	/* IPv6 is optional: a kernel booted with ipv6.disable=1 has no ::1. */
	kn_error ignored;
	*proxy6 = proxy_listener(AF_INET6, &ignored);
	return 0;
}

int kn_netns_proxy_listeners(int init_pidfd, int fds[2], kn_error *err)
{
	static const int wanted[2] = {KN_INIT_FD_PROXY4, KN_INIT_FD_PROXY6};
	for (int i = 0; i < 2; i++) {
		fds[i] = (int)syscall(SYS_pidfd_getfd, init_pidfd, wanted[i], 0);
		if (fds[i] >= 0)
			continue;
		if (i == 1 && errno == EBADF)
			break; /* no IPv6 listener: fine */
		kn_fail_errno(err, "pidfd_getfd proxy listener %d from sandbox init", wanted[i]);
		kn_closep(&fds[0]); /* -1 already when it failed */
		return -1;
	}
	return 0;
}
