/* splice_relay.c — the bulk row's floor in bench/proxy-compare: the least a
 * user-space relay can do to carry a TCP stream on loopback, to set beside
 * kennel-proxy's CONNECT tunnel.
 *
 * Usage: splice_relay UPSTREAM_PORT
 * Listens on 127.0.0.1 (a free port), prints "port N" on stdout once it
 * accepts. Each connection is dialled on to 127.0.0.1:UPSTREAM_PORT and
 * relayed both ways with blocking splice(2) through a 256 KiB pipe (kennel-
 * proxy's size, KP_PIPE_SIZE), one thread per direction: no HTTP, no
 * policy, no event loop, no log. A direction that ends shuts the other
 * socket's write side down; the connection is closed when both are done.
 * Exits on SIGTERM/SIGINT (default action). Not a proxy: nothing is
 * checked, so it listens on loopback only and lives as long as one bench
 * run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* As kennel-proxy's pipes (src/proxy/limits.h, KP_PIPE_SIZE). */
#define PIPE_BYTES (256 * 1024)

struct direction {
	int from, to;
};

struct connection {
	struct direction up, down;
};

static void warn_errno(const char *what)
{
	fprintf(stderr, "splice_relay: %s: %s\n", what, strerror(errno));
}

/* Moves bytes from `from` to `to` until `from` ends or either fails. */
static void *pump(void *arg)
{
	struct direction *d = arg;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		warn_errno("pipe2");
		shutdown(d->to, SHUT_WR);
		return NULL;
	}
	if (fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES) < 0)
		warn_errno("F_SETPIPE_SZ (the pipe keeps its default size)");
	for (;;) {
		ssize_t n = splice(d->from, NULL, p[1], NULL, PIPE_BYTES, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		while (n > 0) {
			ssize_t m = splice(p[0], NULL, d->to, NULL, (size_t)n, SPLICE_F_MOVE);
			if (m < 0 && errno == EINTR)
				continue;
			if (m <= 0)
				goto done;
			n -= m;
		}
	}
done:
	shutdown(d->to, SHUT_WR);
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void *serve(void *arg)
{
	struct connection *c = arg;
	pthread_t t;

	if (pthread_create(&t, NULL, pump, &c->up) != 0) {
		fprintf(stderr, "splice_relay: pthread_create failed\n");
	} else {
		pump(&c->down);
		pthread_join(t, NULL);
	}
	close(c->up.from);
	close(c->up.to);
	free(c);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: splice_relay UPSTREAM_PORT\n");
		return 2;
	}
	int up_port = atoi(argv[1]);
	if (up_port <= 0 || up_port > 65535) {
		fprintf(stderr, "splice_relay: not a port: %s\n", argv[1]);
		return 2;
	}
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in up = addr;
	up.sin_port = htons((uint16_t)up_port);
	socklen_t len = sizeof(addr);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(l, 64) < 0 ||
	    getsockname(l, (struct sockaddr *)&addr, &len) < 0) {
		warn_errno("listen on 127.0.0.1");
		return 1;
	}
	printf("port %u\n", ntohs(addr.sin_port));
	fflush(stdout);
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				warn_errno("accept4");
			continue;
		}
		int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (u < 0 || connect(u, (struct sockaddr *)&up, sizeof(up)) < 0) {
			warn_errno("connect to the upstream");
			if (u >= 0)
				close(u);
			close(c);
			continue;
		}
		struct connection *conn = malloc(sizeof(*conn));
		pthread_t t;
		if (!conn) {
			close(c);
			close(u);
			continue;
		}
		*conn = (struct connection){ .up = { c, u }, .down = { u, c } };
		if (pthread_create(&t, NULL, serve, conn) != 0) {
			fprintf(stderr, "splice_relay: pthread_create failed\n");
			close(c);
			close(u);
			free(conn);
			continue;
		}
		pthread_detach(t);
	}
}
