/* tls_io.h — reading and writing one side of a connection, whether it is a
 * plain socket or a TLS session on it, with one set of results.
 *
 * Contract: non-blocking sockets. kp_io_recv / kp_io_send return
 *   > 0   bytes moved,
 *   0     (recv only) orderly end: FIN on a plain socket, close_notify or a
 *         bare FIN on TLS (see tls.h),
 *   KP_IO_WAIT   nothing moved; `*wait` is the epoll event to wait for
 *         (EPOLLIN or EPOLLOUT: a TLS write can need a read and the reverse),
 *   KP_IO_ERROR  the side failed; `*why` is a short static phrase.
 * A TLS write that returned KP_IO_WAIT must be repeated with at least the bytes
 * it was given (the contexts allow the buffer to move). EINTR is retried.
 * A TLS read returns, like recv(), what is there up to n: every whole record
 * OpenSSL has already taken from the socket (it reads ahead, tls.c), not just
 * the first. So after a short read nothing is left that the socket will not
 * signal; when the end or a failure comes after some bytes, the bytes are
 * returned first and the end (0) or KP_IO_ERROR by the next call.
 *
 * kp_io_prepare: once for every SSL, before the calls here (kp_tls_*_ssl do
 * it): the SSL gets the slot where these calls keep what its last read left
 * (tls_io.c). false when out of memory.
 *
 * kp_io_handshake leaves a failure's OpenSSL error queue for the caller to
 * read (kp_ssl_reason); the others clear it before each call.
 *
 * kp_io_pending: the session may hold input the socket will not signal:
 * records decrypted or read ahead (some may carry no data, such as a session
 * ticket, or be incomplete: a read then returns nothing and waits), or a held
 * end or failure. false after a read or handshake step that waited for input
 * until the next one: what the session holds then is part of a record whose
 * rest the socket will signal. The worker kicks such connections (conn.h). */
#ifndef KENNEL_PROXY_TLS_IO_H
#define KENNEL_PROXY_TLS_IO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KP_IO_WAIT (-1)
#define KP_IO_ERROR (-2)

ssize_t kp_io_recv(int fd, SSL *ssl, void *buf, size_t n, uint32_t *wait, const char **why);
ssize_t kp_io_send(int fd, SSL *ssl, const void *buf, size_t n, uint32_t *wait,
		   const char **why);
bool kp_io_pending(SSL *ssl);
bool kp_io_prepare(SSL *ssl);

/* Best-effort close_notify when the session is up (never waits), then free;
 * *ssl becomes NULL. The socket stays open: the caller closes it. */
void kp_io_ssl_close(SSL **ssl);

/* One step of a handshake: 1 done, KP_IO_WAIT (with *wait), KP_IO_ERROR. */
int kp_io_handshake(SSL *ssl, uint32_t *wait);

#endif
