/* tls_io.c — plain or TLS reads and writes (contract: tls_io.h). */
#define _GNU_SOURCE
#include "proxy/tls_io.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static bool again(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

/* What the last read of a session left behind, kept in the SSL (ex_data).
 * The contexts read ahead (tls.c), so OpenSSL may hold bytes it took from the
 * socket that are not yet a processed record: SSL_pending() does not count
 * them, SSL_has_pending() does, whether they make a whole record or not.
 *   READ_LIVE   nothing known: what OpenSSL holds may be whole records.
 *   READ_DRY    the last read or handshake step wanted input: OpenSSL had
 *               processed every whole record it held and the socket said
 *               EAGAIN, so what it still holds is part of a record whose rest
 *               the socket will signal. Only reads and handshake steps change
 *               this; SSL_write takes nothing from the socket here (no
 *               renegotiation; a TLS 1.3 KeyUpdate answer is only written).
 *   READ_HELD_* a read that already had bytes to return met the end or a
 *               failure while taking the records behind them: the bytes are
 *               returned now and this result by the next kp_io_recv, once (the
 *               socket will not signal it again: its EOF or error is
 *               consumed, or the peer sent close_notify and keeps the
 *               connection open). */
enum read_state {
	READ_LIVE = 0,
	READ_DRY,
	READ_HELD_END,
	READ_HELD_CONN_ERROR,
	READ_HELD_TLS_ERROR,
};

static int state_index(void)
{
	static int index = -1;
	if (index < 0)
		index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	return index;
}

bool kp_io_prepare(SSL *ssl)
{
	/* Setting the slot once allocates it; later sets cannot fail. */
	int index = state_index();
	return index >= 0 && SSL_set_ex_data(ssl, index, (void *)(intptr_t)READ_LIVE) == 1;
}

static enum read_state read_state(SSL *ssl)
{
	return (enum read_state)(intptr_t)SSL_get_ex_data(ssl, state_index());
}

static void set_read_state(SSL *ssl, enum read_state st)
{
	if (read_state(ssl) != st)
		SSL_set_ex_data(ssl, state_index(), (void *)(intptr_t)st);
}

/* ssl_result's "interrupted by a signal, call again". */
#define RETRY (-100)

/* Map an SSL call's failure (its SSL_get_error). */
static ssize_t ssl_result(int e, uint32_t *wait, const char **why, bool reading)
{
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

/* The result an earlier call held (READ_HELD_*), or 1 when there is none. */
static ssize_t take_held_result(SSL *ssl, const char **why)
{
	switch (read_state(ssl)) {
	case READ_HELD_END:
		set_read_state(ssl, READ_LIVE);
		return 0;
	case READ_HELD_CONN_ERROR:
		set_read_state(ssl, READ_LIVE);
		*why = "connection failed under TLS";
		return KP_IO_ERROR;
	case READ_HELD_TLS_ERROR:
		set_read_state(ssl, READ_LIVE);
		*why = "TLS protocol error";
		return KP_IO_ERROR;
	case READ_LIVE:
	case READ_DRY:
		break;
	}
	return 1;
}

/* SSL_read_ex until `n` bytes or until OpenSSL holds nothing more. One call
 * returns one record, and with read-ahead the records behind it may already
 * be in the SSL, where the socket no longer signals them; taking them now
 * gives TLS recv()'s meaning (what is there, up to n), so a caller that stops
 * after a short read leaves nothing behind that epoll would not report. The
 * follow-up reads end at the first record that is not complete (READ_DRY). */
static ssize_t ssl_recv(SSL *ssl, char *buf, size_t n, uint32_t *wait, const char **why)
{
	size_t total = 0;

	ssize_t held = take_held_result(ssl, why);
	if (held <= 0)
		return held;
	for (;;) {
		size_t got = 0;
		ERR_clear_error();
		int rc = SSL_read_ex(ssl, buf + total, n - total, &got);
		if (rc == 1) {
			total += got;
			if (total < n && SSL_has_pending(ssl))
				continue;
			set_read_state(ssl, READ_LIVE);
			return (ssize_t)total;
		}
		int e = SSL_get_error(ssl, rc);
		uint32_t w = 0;
		const char *reason = NULL;
		ssize_t r = ssl_result(e, &w, &reason, true);
		if (r == RETRY)
			continue;
		enum read_state st = READ_LIVE;
		if (r == KP_IO_WAIT)
			st = w == EPOLLIN ? READ_DRY : READ_LIVE;
		else if (total > 0)
			st = r == 0 ? READ_HELD_END
			     : e == SSL_ERROR_SYSCALL ? READ_HELD_CONN_ERROR : READ_HELD_TLS_ERROR;
		set_read_state(ssl, st);
		if (total > 0) {
			ERR_clear_error();
			return (ssize_t)total;
		}
		*wait = w;
		*why = reason;
		return r;
	}
}

ssize_t kp_io_recv(int fd, SSL *ssl, void *buf, size_t n, uint32_t *wait, const char **why)
{
	if (ssl)
		return ssl_recv(ssl, buf, n, wait, why);
	for (;;) {
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
			ssize_t r = ssl_result(SSL_get_error(ssl, rc), wait, why, false);
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
	if (!ssl)
		return false;
	enum read_state st = read_state(ssl);
	if (st == READ_DRY)
		return false;
	return st != READ_LIVE || SSL_has_pending(ssl);
}

int kp_io_handshake(SSL *ssl, uint32_t *wait)
{
	for (;;) {
		const char *why;
		ERR_clear_error();
		int rc = SSL_do_handshake(ssl);
		if (rc == 1) {
			/* It may have read ahead the peer's first records. */
			set_read_state(ssl, READ_LIVE);
			return 1;
		}
		/* On failure the error queue is left for the caller's message. */
		ssize_t r = ssl_result(SSL_get_error(ssl, rc), wait, &why, false);
		if (r == RETRY)
			continue;
		set_read_state(ssl, r == KP_IO_WAIT && *wait == EPOLLIN ? READ_DRY : READ_LIVE);
		return (int)r;
	}
}
