/* intercept.c — the two handshakes of an intercepted CONNECT (contract:
 * intercept.h). */
#define _GNU_SOURCE
#include "proxy/intercept.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "common/log.h"
#include "proxy/conn.h"
#include "proxy/mint.h"
#include "proxy/reply.h"
#include "proxy/sandboxes.h"
#include "proxy/tls_io.h"
#include "proxy/worker.h"

void kp_mitm_free(struct kp_mitm *m)
{
	if (!m)
		return;
	kp_io_ssl_close(&m->client_ssl);
	kp_io_ssl_close(&m->up_ssl);
	free(m);
}

static void upstream_failed(struct kp_conn *c, const char *why)
{
	struct kp_mitm *m = c->mitm;
	char reason[256], text[KN_HOST_BUFSZ + 400];

	const char *verify = kp_tls_verify_error(m->up_ssl);
	const char *detail = verify ? verify : kp_ssl_reason(reason, sizeof(reason), why);
	snprintf(text, sizeof(text), "TLS to %s port %u failed: %s", m->host, m->port, detail);
	log_info("sandbox %s: %s", c->sb->name, text);
	kp_conn_reply(c, 502, KP_DECISION_ERROR, text, NULL,
		      verify ? "upstream certificate not verified" : "upstream TLS failed");
}

static void client_failed(struct kp_conn *c)
{
	struct kp_mitm *m = c->mitm;
	char reason[256];

	if (m->sni.mismatch) {
		log_info("sandbox %s: refused TLS for %s: the ClientHello names %s", c->sb->name,
			 m->host, m->sni.seen);
		kp_conn_close(c, "TLS server name differs from the CONNECT host");
		return;
	}
	log_debug("sandbox %s: client TLS handshake for %s failed: %s", c->sb->name, m->host,
		  kp_ssl_reason(reason, sizeof(reason), "connection closed"));
	kp_conn_close(c, "client TLS handshake failed");
}

/* The 200 in clear, then the client handshake. */
static void client_step(struct kp_conn *c)
{
	struct kp_mitm *m = c->mitm;
	const char *why = NULL;
	uint32_t wait = 0;

	size_t hello_len = strlen(kp_reply_connect_ok);
	while (m->hello_off < hello_len) {
		ssize_t n = kp_io_send(c->client.fd, NULL, kp_reply_connect_ok + m->hello_off,
				       hello_len - m->hello_off, &wait, &why);
		if (n == KP_IO_WAIT) {
			m->client_wait = wait;
			kp_conn_update_interest(c);
			return;
		}
		if (n < 0) {
			kp_conn_close(c, why);
			return;
		}
		m->hello_off += (uint32_t)n;
	}
	if (!m->client_ssl) {
		if (c->in.len) {
			kp_conn_close(c, "client sent bytes before the tunnel was established");
			return;
		}
		kn_error err;
		m->client_ssl = kp_tls_client_ssl(c->w->tls, c->sb->ca, c->client.fd, &m->sni, &err);
		if (!m->client_ssl) {
			log_error("sandbox %s: %s", c->sb->name, err.msg);
			kp_conn_close(c, "cannot set up TLS for the client");
			return;
		}
	}
	int r = kp_io_handshake(m->client_ssl, &wait);
	if (r == KP_IO_WAIT) {
		m->client_wait = wait;
		kp_conn_update_interest(c);
		return;
	}
	if (r < 0) {
		client_failed(c);
		return;
	}
	m->client_wait = 0;
	kp_conn_intercepted(c);
}

static void upstream_step(struct kp_conn *c)
{
	struct kp_mitm *m = c->mitm;
	uint32_t wait = 0;

	int r = kp_io_handshake(m->up_ssl, &wait);
	if (r == KP_IO_WAIT) {
		m->up_wait = wait;
		kp_conn_update_interest(c);
		return;
	}
	if (r < 0) {
		upstream_failed(c, "handshake failed");
		return;
	}
	m->up_wait = 0;
	c->state = KP_CONN_TLS_CLIENT;
	m->client_wait = EPOLLOUT;
	client_step(c);
}

void kp_intercept_start(struct kp_conn *c, const char *host, uint16_t port)
{
	kn_error err;

	struct kp_mitm *m = calloc(1, sizeof(*m));
	if (!m) {
		kp_conn_close(c, "out of memory");
		return;
	}
	c->mitm = m;
	snprintf(m->host, sizeof(m->host), "%s", host);
	m->port = port;
	m->addr = c->rec.addr;
	m->sni.expect = m->host;
	m->up_ssl = kp_tls_upstream_ssl(c->w->tls, c->upstream.fd, m->host, &err);
	if (!m->up_ssl) {
		log_error("sandbox %s: %s", c->sb->name, err.msg);
		kp_conn_reply(c, 502, KP_DECISION_ERROR, "cannot set up TLS to the upstream", NULL,
			      "upstream TLS failed");
		return;
	}
	c->state = KP_CONN_TLS_UP;
	upstream_step(c);
}

void kp_intercept_event(struct kp_conn *c)
{
	if (c->state == KP_CONN_TLS_UP)
		upstream_step(c);
	else if (c->state == KP_CONN_TLS_CLIENT)
		client_step(c);
}

void kp_intercept_interest(const struct kp_conn *c, uint32_t *client_ev, uint32_t *up_ev)
{
	const struct kp_mitm *m = c->mitm;

	*client_ev = 0;
	*up_ev = 0;
	if (c->state == KP_CONN_TLS_UP)
		*up_ev = m->up_wait;
	else
		*client_ev = m->client_wait;
}
