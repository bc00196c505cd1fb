/* tls.h — kennel-proxy's TLS contexts: the one it dials upstreams with, the one
 * it presents to sandboxes, and each sandbox's CA with its cache of leaves.
 *
 * Contract:
 *   kp_tls_init      once, in the proxy before its seccomp filter and before
 *                    the workers fork (they inherit copies); both contexts
 *                    read ahead, and every SSL made here is kp_io_prepare'd
 *                    (tls_io.h: what a read leaves buffered is tracked there):
 *                    - upstream context: TLS 1.2 or later, peer verification
 *                      always on against the system bundle
 *                      (X509_get_default_cert_file) plus `extra_ca_pem`
 *                      (--upstream-ca, may be NULL), ALPN "http/1.1" offered;
 *                    - server context: TLS 1.2 or later, ALPN "http/1.1"
 *                      selected when offered and nothing otherwise (a client
 *                      that offers only h2 gets no ALPN answer and speaks
 *                      HTTP/1.1, as RFC 7301 lets it);
 *                    - the leaf key (mint.h) every leaf is issued for.
 *                    A missing system bundle is not an error (extra CAs may be
 *                    all there is); no trusted CA at all is.
 *   kp_tls_upstream_ssl  an SSL for one upstream connection on `fd`: SNI is
 *                    `host` when it is a name (never for an IP literal), and
 *                    verification checks the certificate names `host` (DNS
 *                    name or IP address). Verification failures surface as a
 *                    failed handshake; kp_tls_verify_error says why.
 *   kp_ca_new / kp_ca_free   a sandbox's CA (kenneld's PEM, kept in a copy
 *                    that is wiped when freed) and its leaf cache: at most
 *                    KP_LEAF_CACHE_MAX hosts, the least recently used dropped;
 *                    a leaf within KP_LEAF_RENEW_S of its end is minted again.
 *                    The PEM is parsed (mint.h's kp_ca_parse, with its checks)
 *                    at the first kp_tls_client_ssl, not here: parsing costs
 *                    ~0.8 ms of OpenSSL 3 decoder set-up, every worker would
 *                    pay it on the path of every sandbox start, and most
 *                    sandboxes never intercept in most workers. The master
 *                    checks each CA with kp_ca_parse before any worker gets
 *                    it, so a refusal here means only memory ran out.
 *   kp_tls_client_ssl  an SSL for one sandbox connection on `fd`, presenting
 *                    the leaf for `sni->expect` (a canonical host). Its
 *                    servername callback compares the ClientHello's SNI, after
 *                    kn_host_canon, with `sni->expect` and fails the handshake
 *                    (alert unrecognized_name) when they differ, recording what
 *                    it saw in `sni` (which must outlive the handshake). No SNI
 *                    at all is accepted: clients omit it for IP literals.
 * SSLs are made with SSL_MODE_RELEASE_BUFFERS (an idle connection holds no
 * record buffers), partial and moving-buffer writes, and an EOF without
 * close_notify read as EOF (HTTP framing, not TLS, decides whether a message
 * was complete). */
#ifndef KENNEL_PROXY_TLS_H
#define KENNEL_PROXY_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "policy/hostname.h"

/* Hosts one sandbox talks to over intercepted TLS in a worker's lifetime are
 * a few dozen (an agent's API, its package registries, git hosts); 256 keeps
 * them all while bounding a sandbox that connects to every name it can make
 * up (each entry: a host string and a ~600-byte certificate). */
#define KP_LEAF_CACHE_MAX 256
/* Re-mint a cached leaf this long before its end, so no handshake ever
 * presents a certificate that expires during a long connection. */
#define KP_LEAF_RENEW_S (24 * 3600)

struct kp_tls {
	SSL_CTX *upstream;
	SSL_CTX *server;
	EVP_PKEY *leaf_key;
};

struct kp_leaf {
	char host[KN_HOST_BUFSZ];
	X509 *cert;
	time_t not_after;
	uint64_t used; /* tick of last use, for LRU */
};

struct kp_ca {
	char *cert_pem, *key_pem; /* until parsed; NULL after */
	size_t cert_len, key_len;
	X509 *cert;               /* NULL until the first leaf */
	EVP_PKEY *key;
	struct kp_leaf *leaves;
	size_t nleaves;
	uint64_t tick;
};

/* What a client's ClientHello named, checked against the CONNECT host. */
struct kp_sni_check {
	const char *expect;     /* canonical CONNECT host */
	bool mismatch;
	char seen[KN_HOST_BUFSZ]; /* the SNI as sent (printable ASCII, cut) */
};

int kp_tls_init(struct kp_tls *t, const char *extra_ca_pem, size_t extra_len, kn_error *err);
void kp_tls_free(struct kp_tls *t);

SSL *kp_tls_upstream_ssl(struct kp_tls *t, int fd, const char *host, kn_error *err);
/* After a failed upstream handshake: the certificate verification error
 * ("certificate has expired", "hostname mismatch", ...) or NULL when the
 * failure was not about the certificate. */
const char *kp_tls_verify_error(SSL *ssl);

struct kp_ca *kp_ca_new(const char *cert_pem, size_t cert_len, const char *key_pem,
			size_t key_len, kn_error *err);
void kp_ca_free(struct kp_ca *ca);

SSL *kp_tls_client_ssl(struct kp_tls *t, struct kp_ca *ca, int fd, struct kp_sni_check *sni,
		       kn_error *err);

#endif
