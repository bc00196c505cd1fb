/* intercept.h — opening an intercepted CONNECT: TLS to the upstream first,
 * then "200 Connection established", then TLS with the sandbox's client.
 *
 * Contract: kp_intercept_start is called instead of kp_tunnel_start when a
 * CONNECT to an allowed host is established, its sandbox has a CA and the
 * policy does not bypass the host or the address (kn_policy_is_bypass). It
 * takes over `host` (canonical) and `port` from the request.
 *   TLS_UP      handshake with the upstream: SNI and certificate check for
 *               the CONNECT host (tls.h). Any failure, a certificate that does
 *               not verify above all, is a 502 to the CONNECT naming the
 *               reason: the client never gets a tunnel to a server we could
 *               not verify, and never a silent plain-text fallback.
 *   TLS_CLIENT  the 200 reply in clear, then the handshake with the client,
 *               presenting a leaf minted for the CONNECT host. A ClientHello
 *               whose SNI names another host fails the handshake (domain
 *               fronting); so does a client that sent bytes after its CONNECT
 *               head before the 200 (they would bypass the handshake).
 * When both are up, kp_conn_intercepted (conn.h) logs the CONNECT and reads
 * requests from inside the tunnel. The two handshakes together get one connect
 * timeout from when the TCP connection is up. kp_mitm_free closes both
 * sessions (close_notify when a session is up) without touching the
 * sockets. */
#ifndef KENNEL_PROXY_INTERCEPT_H
#define KENNEL_PROXY_INTERCEPT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy/cidr.h"
#include "policy/hostname.h"
#include "proxy/tls.h"

struct kp_conn;

struct kp_mitm {
	SSL *client_ssl;            /* NULL until the 200 is sent */
	SSL *up_ssl;
	struct kp_sni_check sni;    /* .expect points at host */
	char host[KN_HOST_BUFSZ];   /* canonical CONNECT host */
	uint16_t port;
	struct kn_addr addr;        /* the address dialled */
	uint32_t hello_off;         /* bytes of the 200 sent */
	uint32_t client_wait, up_wait; /* what a pending handshake waits for */
};

void kp_intercept_start(struct kp_conn *c, const char *host, uint16_t port);
void kp_intercept_event(struct kp_conn *c);
void kp_intercept_interest(const struct kp_conn *c, uint32_t *client_ev, uint32_t *up_ev);
void kp_mitm_free(struct kp_mitm *m);

#endif
