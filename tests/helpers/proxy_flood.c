/* proxy_flood.c — many concurrent CONNECT tunnels through kennel-proxy, and
 * the loopback echo server they end at.
 *
 *   proxy_flood serve PORTFILE
 *       Listen on 127.0.0.1 (any port, written to PORTFILE), accept every
 *       connection, echo what arrives. Runs until killed.
 *   proxy_flood connect PROXYPORT TARGET N
 *       Open N connections to 127.0.0.1:PROXYPORT, at most INFLIGHT handshakes
 *       at a time, send "CONNECT TARGET", require a 200 (HTTP/1.1, or 1.0 as
 *       tinyproxy answers: bench/proxy-compare floods it too), then send
 *       "ping\n" through every tunnel and require it echoed. Prints
 *       "established N in MS ms", "echoed N", then "holding" and waits for a
 *       line on stdin (the test measures the proxy meanwhile), closes them all
 *       and prints "closed". Exit 0 only if every tunnel worked. Gives up after
 *       DEADLINE_MS.
 *   proxy_flood sink PORTFILE
 *       Listen on 127.0.0.1, and for each connection in turn read until EOF and
 *       answer with the byte count ("N\n").
 *   proxy_flood push PORT BYTES [TARGET]
 *       Connect to 127.0.0.1:PORT (and CONNECT to TARGET through it when
 *       given), send BYTES bytes, shut down, check the count that comes back,
 *       print "pushed N bytes in MS ms: R MiB/s".
 * All raise the soft RLIMIT_NOFILE to the hard limit. Self-contained (test
 * helpers do not link libkennel). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Handshakes in flight: enough to be quick, few enough not to overrun the
 * proxy's listen backlog. */
#define INFLIGHT 512
/* The whole run, so a broken proxy fails the test instead of hanging it. */
#define DEADLINE_MS 180000
#define MAX_CONNS 19000

static void die(const char *what) __attribute__((noreturn));
static void die(const char *what)
{
	fprintf(stderr, "proxy_flood: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A CONNECT answer that opens the tunnel: "HTTP/1.1 200" or "HTTP/1.0 200". */
static int connect_ok(const char *head)
{
	return (strncmp(head, "HTTP/1.1 200", 12) == 0 || strncmp(head, "HTTP/1.0 200", 12) == 0) &&
	       (head[12] == ' ' || head[12] == '\r');
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sin;
}

/* ---- serve ---- */

static int serve(const char *portfile)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = loopback(0);
	socklen_t len = sizeof(sin);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 65535) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
		die("listen");
	FILE *f = fopen(portfile, "w");
	if (!f)
		die(portfile);
	fprintf(f, "%d\n", ntohs(sin.sin_port));
	fclose(f);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll");
	for (;;) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				for (int k = 0; k < 256; k++) {
					int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (c < 0)
						break;
					struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0)
						close(c);
				}
				continue;
			}
			char buf[16384];
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			if (r <= 0) {
				if (r == 0 || (errno != EAGAIN && errno != EINTR))
					close(fd);
				continue;
			}
			/* Echo; a short echo is fine for the small pings used here. */
			ssize_t w = send(fd, buf, (size_t)r, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)w;
		}
	}
	return 0; /* not reached: the server runs until it is killed */
}

/* ---- connect ---- */

enum state { IDLE, CONNECTING, WAIT_200, OPEN, WAIT_ECHO, ECHOED, FAILED };

struct conn {
	int fd;
	enum state st;
	char buf[256];
	size_t len;
};

static struct conn conns[MAX_CONNS];

static int flood(int proxy_port, const char *target, int n)
{
	char request[512];
	int rlen = snprintf(request, sizeof(request), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n",
			    target, target);
	struct sockaddr_in sin = loopback(proxy_port);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	long long start = now_ms(), deadline = start + DEADLINE_MS;
	int started = 0, inflight = 0, open_count = 0, failed = 0;

	while (open_count + failed < n) {
		while (started < n && inflight < INFLIGHT) {
			struct conn *c = &conns[started];
			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (c->fd < 0)
				die("socket");
			c->st = CONNECTING;
			if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 &&
			    errno != EINPROGRESS)
				die("connect");
			struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)started };
			if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
				die("epoll_ctl");
			started++;
			inflight++;
		}
		if (now_ms() > deadline) {
			fprintf(stderr, "proxy_flood: deadline passed with %d of %d open\n", open_count, n);
			return 1;
		}
		struct epoll_event evs[512];
		int k = epoll_wait(ep, evs, 512, 1000);
		for (int i = 0; i < k; i++) {
			struct conn *c = &conns[evs[i].data.u32];
			if (c->st == CONNECTING) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				if (soerr || send(c->fd, request, (size_t)rlen, MSG_NOSIGNAL) != rlen) {
					c->st = FAILED;
					failed++;
					inflight--;
					fprintf(stderr, "connect %d: %s\n", (int)evs[i].data.u32, strerror(soerr));
					continue;
				}
				c->st = WAIT_200;
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = evs[i].data.u32 };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				c->st = FAILED;
				failed++;
				inflight--;
				fprintf(stderr, "tunnel %d closed before 200\n", (int)evs[i].data.u32);
				continue;
			}
			c->len += (size_t)r;
			c->buf[c->len] = '\0';
			if (!strstr(c->buf, "\r\n\r\n"))
				continue;
			inflight--;
			if (!connect_ok(c->buf)) {
				c->st = FAILED;
				failed++;
				fprintf(stderr, "tunnel %d: %.40s\n", (int)evs[i].data.u32, c->buf);
				continue;
			}
			c->st = OPEN;
			c->len = 0;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			open_count++;
		}
	}
	long long took = now_ms() - start;
	printf("established %d in %lld ms\n", open_count, took);
	fflush(stdout);
	if (failed) {
		printf("failed %d\n", failed);
		return 1;
	}

	/* Every tunnel carries a byte each way. */
	int echoed = 0, pending = 0;
	for (int i = 0; i < n; i++) {
		struct conn *c = &conns[i];
		if (send(c->fd, "ping\n", 5, MSG_NOSIGNAL) != 5)
			continue;
		c->st = WAIT_ECHO;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		pending++;
	}
	while (echoed < pending && now_ms() < deadline) {
		struct epoll_event evs[512];
		int k = epoll_wait(ep, evs, 512, 1000);
		for (int i = 0; i < k; i++) {
			struct conn *c = &conns[evs[i].data.u32];
			ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
			if (r <= 0)
				continue;
			c->len += (size_t)r;
			if (c->len >= 5) {
				if (memcmp(c->buf, "ping\n", 5) == 0)
					echoed++;
				c->st = ECHOED;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
	}
	printf("echoed %d\n", echoed);
	printf("holding\n");
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	for (int i = 0; i < n; i++)
		close(conns[i].fd);
	printf("closed\n");
	fflush(stdout);
	return echoed == n ? 0 : 1;
}

/* ---- throughput ---- */

static int sink(const char *portfile)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = loopback(0);
	socklen_t len = sizeof(sin);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
		die("listen");
	FILE *f = fopen(portfile, "w");
	if (!f)
		die(portfile);
	fprintf(f, "%d\n", ntohs(sin.sin_port));
	fclose(f);
	static char buf[1 << 20];
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		unsigned long long total = 0;
		for (;;) {
			ssize_t r = recv(c, buf, sizeof(buf), 0);
			if (r <= 0)
				break;
			total += (unsigned long long)r;
		}
		char out[32];
		int n = snprintf(out, sizeof(out), "%llu\n", total);
		ssize_t w = send(c, out, (size_t)n, MSG_NOSIGNAL);
		(void)w;
		close(c);
	}
	return 0; /* not reached: the server runs until it is killed */
}

static int push(int port, unsigned long long bytes, const char *target)
{
	static char buf[1 << 20];
	struct sockaddr_in sin = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect");
	long long start = now_ms();
	if (target) {
		int n = snprintf(buf, sizeof(buf), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target,
				 target);
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			die("send CONNECT");
		size_t got = 0;
		while (got < 255) {
			ssize_t r = recv(fd, buf + got, 1, 0); /* byte by byte: no tunnel data eaten */
			if (r <= 0)
				die("recv CONNECT answer");
			got++;
			buf[got] = '\0';
			if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
				break;
		}
		if (!connect_ok(buf)) {
			fprintf(stderr, "proxy_flood: CONNECT answered %.40s\n", buf);
			return 1;
		}
	}
	memset(buf, 'x', sizeof(buf));
	unsigned long long sent = 0;
	while (sent < bytes) {
		size_t chunk = bytes - sent < sizeof(buf) ? (size_t)(bytes - sent) : sizeof(buf);
		ssize_t w = send(fd, buf, chunk, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die("send");
		sent += (unsigned long long)w;
	}
	shutdown(fd, SHUT_WR);
	char ans[64];
	size_t got = 0;
	for (;;) {
		ssize_t r = recv(fd, ans + got, sizeof(ans) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	ans[got] = '\0';
	long long took = now_ms() - start;
	if (strtoull(ans, NULL, 10) != bytes) {
		fprintf(stderr, "proxy_flood: sent %llu, the sink counted %s\n", bytes, ans);
		return 1;
	}
	printf("pushed %llu bytes in %lld ms: %.0f MiB/s\n", bytes, took,
	       (double)bytes / 1048576.0 / ((double)(took ? took : 1) / 1000.0));
	return 0;
}

int main(int argc, char **argv)
{
	raise_nofile();
	if (argc == 3 && strcmp(argv[1], "sink") == 0)
		return sink(argv[2]);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "push") == 0)
		return push(atoi(argv[2]), strtoull(argv[3], NULL, 10), argc == 5 ? argv[4] : NULL);
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2]);
	if (argc == 5 && strcmp(argv[1], "connect") == 0) {
		int n = atoi(argv[4]);
		if (n < 1 || n > MAX_CONNS) {
			fprintf(stderr, "proxy_flood: N must be 1..%d\n", MAX_CONNS);
			return 2;
		}
		return flood(atoi(argv[2]), argv[3], n);
	}
	fprintf(stderr, "usage: proxy_flood serve PORTFILE | connect PROXYPORT TARGET N |\n"
			"       sink PORTFILE | push PORT BYTES [TARGET]\n");
	return 2;
}
