#define _GNU_SOURCE
#include "init/relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/vm_proto.h"

/* One direction: bytes read from `in` wait in buf until `out` takes them. */
struct dir {
	int in, out;
	int other_in; /* the opposite direction's input: out may be the same fd */
	char buf[KN_RELAY_CHUNK];
	size_t off, len;
	int eof;    /* no more input: EOF, a read error, or the output failed */
	int done;   /* the write side was half-closed */
	int failed; /* ended by an I/O error rather than EOF */
};

static void half_close(int fd, int keep)
{
	if (shutdown(fd, SHUT_WR) == 0 || errno != ENOTSOCK)
		return;
	/* A pipe: only closing it tells the reader, unless it is our input too. */
	if (fd != keep)
		close(fd);
}

static void pump_out(struct dir *d)
{
	while (d->len) {
		ssize_t n = write(d->out, d->buf + d->off, d->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* The reader went away: what is left has nowhere to go. */
			d->len = 0;
			d->eof = d->failed = 1;
			return;
		}
		d->off += (size_t)n;
		d->len -= (size_t)n;
	}
	d->off = 0;
}

static void pump_in(struct dir *d)
{
	ssize_t n;
	do
		n = read(d->in, d->buf, sizeof(d->buf));
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		d->off = 0;
		d->len = (size_t)n;
	} else if (n == 0) {
		d->eof = 1;
	} else if (errno != EAGAIN) {
		d->eof = d->failed = 1;
	}
}

static void step(struct dir *d, short in_ev, short out_ev)
{
	if (d->len && out_ev)
		pump_out(d);
	if (!d->len && !d->eof && in_ev) {
		pump_in(d);
		if (d->len)
			pump_out(d);
	}
	if (d->eof && !d->len && !d->done) {
		half_close(d->out, d->other_in);
		d->done = 1;
	}
}

static void prepare(int fd)
{
	int one = 1;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	/* Relayed pieces go on at once: a proxied request/response exchange must
	 * not wait out delayed ACKs at every hop. Not a TCP socket: no matter. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int kn_relay_fds(int a_in, int a_out, int b)
{
	/* static: 2 x KN_RELAY_CHUNK is more than a forwarder's stack needs to
	 * carry, and each relay is its own process. */
	static struct dir ab, ba;
	ab = (struct dir){.in = a_in, .out = b, .other_in = b};
	ba = (struct dir){.in = b, .out = a_out, .other_in = a_in};
	prepare(a_in);
	prepare(b);
	if (a_out != a_in)
		prepare(a_out);
	while (!ab.done || !ba.done) {
		struct pollfd p[4] = {
			{.fd = !ab.eof && !ab.len ? ab.in : -1, .events = POLLIN},
			{.fd = ab.len ? ab.out : -1, .events = POLLOUT},
			{.fd = !ba.eof && !ba.len ? ba.in : -1, .events = POLLIN},
			{.fd = ba.len ? ba.out : -1, .events = POLLOUT},
		};
		if (poll(p, 4, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		step(&ab, p[0].revents, p[1].revents);
		step(&ba, p[2].revents, p[3].revents);
	}
	return ab.failed || ba.failed ? -1 : 0;
}

int kn_relay_main(void)
{
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(KN_VM_PROXY_PORT),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* QEMU makes the guest's connection our stderr too: there the
		 * line would reach the guest's client as a bogus answer, where
		 * a bare close reads as the proxy being down. */
		struct stat in, err;
		int e = errno;
		if (fstat(0, &in) < 0 || fstat(2, &err) < 0 || in.st_dev != err.st_dev ||
		    in.st_ino != err.st_ino)
			dprintf(2, "kennel-init --relay: connect 127.0.0.1:%d: %s\n", KN_VM_PROXY_PORT,
				strerror(e));
		return 1;
	}
	kn_relay_fds(0, 1, s);
	close(s);
	return 0;
}
