/* tls_io.c — plain or TLS reads and writes (contract: tls_io.h). */
#define _GNU_SOURCE
#include "proxy/tls_io.h"

#include <errno.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static bool again(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

/* ssl_result's "interrupted by a signal, call again". */
#define RETRY (-100)

/* Map an SSL call's failure. */
static ssize_t ssl_result(SSL *ssl, int rc, uint32_t *wait, const char **why, bool reading)
{
	int e = SSL_get_error(ssl, rc);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*wait = EPOLLIN;
		return KP_IO_WAIT;
	case SSL_ERROR_WANT_WRITE:
		*wait = EPOLLOUT;
		return KP_IO_WAIT;
	case SSL_ERROR_ZERO_RETURN:
		if (reading)
			return 0;
		*why = "TLS session closed by the peer";
		break;
	case SSL_ERROR_SYSCALL:
		if (errno == EINTR)
			return RETRY;
		*why = "connection failed under TLS";
		break;
	default:
		*why = "TLS protocol error";
		break;
	}
	return KP_IO_ERROR;
}

ssize_t kp_io_recv(int fd, SSL *ssl, void *buf, size_t n, uint32_t *wait, const char **why)
{
	for (;;) {
		if (ssl) {
			size_t got = 0;
			ERR_clear_error();
			int rc = SSL_read_ex(ssl, buf, n, &got);
			if (rc == 1)
				return (ssize_t)got;
			ssize_t r = ssl_result(ssl, rc, wait, why, true);
			if (r == RETRY)
				continue;
			return r;
		}
		ssize_t got = recv(fd, buf, n, 0);
		if (got >= 0)
			return got;
		if (errno == EINTR)
			continue;
		if (again(errno)) {
			*wait = EPOLLIN;
			return KP_IO_WAIT;
		}
		*why = "connection failed";
		return KP_IO_ERROR;
	}
}

ssize_t kp_io_send(int fd, SSL *ssl, const void *buf, size_t n, uint32_t *wait,
		   const char **why)
{
	for (;;) {
		if (ssl) {
			size_t put = 0;
			ERR_clear_error();
			int rc = SSL_write_ex(ssl, buf, n, &put);
			if (rc == 1)
				return (ssize_t)put;
			ssize_t r = ssl_result(ssl, rc, wait, why, false);
			if (r == RETRY)
				continue;
			return r;
		}
		ssize_t put = send(fd, buf, n, MSG_NOSIGNAL);
		if (put >= 0)
			return put;
		if (errno == EINTR)
			continue;
		if (again(errno)) {
			*wait = EPOLLOUT;
			return KP_IO_WAIT;
		}
		*why = "connection failed";
		return KP_IO_ERROR;
	}
}

void kp_io_ssl_close(SSL **ssl)
{
	if (!*ssl)
		return;
	if (SSL_is_init_finished(*ssl))
		SSL_shutdown(*ssl);
	SSL_free(*ssl);
	ERR_clear_error();
	*ssl = NULL;
}

bool kp_io_pending(SSL *ssl)
{
	return ssl && SSL_pending(ssl) > 0;
}

int kp_io_handshake(SSL *ssl, uint32_t *wait)
{
	for (;;) {
		const char *why;
		ERR_clear_error();
		int rc = SSL_do_handshake(ssl);
		if (rc == 1)
			return 1;
		/* On failure the error queue is left for the caller's message. */
		ssize_t r = ssl_result(ssl, rc, wait, &why, false);
		if (r != RETRY)
			return (int)r;
	}
}
