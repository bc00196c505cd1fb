/* tls.c — TLS contexts and leaf cache (contract: tls.h). */
#include "proxy/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/wipe.h"
#include "proxy/mint.h"
#include "proxy/tls_io.h"

/* ALPN wire format: one length-prefixed protocol. */
static const unsigned char alpn_http11[] = "\x08http/1.1";

static int ssl_fail(kn_error *err, const char *what)
{
	char reason[256];
	return kn_fail(err, "%s: %s", what, kp_ssl_reason(reason, sizeof(reason), "failed"));
}

static void common_options(SSL_CTX *ctx)
{
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Without it OpenSSL reads each record with two read()s, its 5-byte
	 * header and then the rest; with it, one read() takes what the socket
	 * has, up to a record buffer. tls_io.c keeps track of what is then held
	 * in the SSL, which the socket no longer signals. */
	SSL_CTX_set_read_ahead(ctx, 1);
}

/* PEM certificates from memory into `store`; the number added. */
static int add_pem_certs(X509_STORE *store, const char *pem, size_t len, kn_error *err)
{
	if (len > INT32_MAX)
		return kn_fail(err, "upstream CA file too large");
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return ssl_fail(err, "BIO_new_mem_buf");
	int n = 0;
	X509 *x;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(b, NULL, kp_no_passphrase, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(store, x);
		X509_free(x);
		if (!ok) {
			BIO_free(b);
			return ssl_fail(err, "add an upstream CA");
		}
		n++;
	}
	BIO_free(b);
	/* A clean end is "no start line" with nothing left but text between
	 * blocks; anything else (a corrupt block) fails the whole file rather
	 * than trusting the certificates before it and dropping the rest. */
	unsigned long e = ERR_peek_last_error();
	if (n > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return n;
	}
	if (n == 0 && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		return kn_fail(err, "upstream CA file holds no PEM certificate");
	}
	return ssl_fail(err, n ? "upstream CA file: a certificate after the first ones is damaged"
			       : "upstream CA file");
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof(alpn_http11) - 1, in,
				  inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int servername(SSL *ssl, int *alert, void *arg)
{
	(void)arg;
	struct kp_sni_check *sni = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!sni || !name)
		return SSL_TLSEXT_ERR_OK;
	char canon[KN_HOST_BUFSZ];
	const char *reason;
	if (kn_host_canon(name, strlen(name), canon, sizeof(canon), &reason) == 0 &&
	    strcmp(canon, sni->expect) == 0)
		return SSL_TLSEXT_ERR_OK;
	size_t i = 0;
	for (; name[i] && i + 1 < sizeof(sni->seen); i++)
		sni->seen[i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
	sni->seen[i] = '\0';
	sni->mismatch = true;
	*alert = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

int kp_tls_init(struct kp_tls *t, const char *extra_ca_pem, size_t extra_len, kn_error *err)
{
	memset(t, 0, sizeof(*t));
	t->upstream = SSL_CTX_new(TLS_client_method());
	t->server = SSL_CTX_new(TLS_server_method());
	if (!t->upstream || !t->server) {
		ssl_fail(err, "SSL_CTX_new");
		goto fail;
	}
	common_options(t->upstream);
	common_options(t->server);

	X509_STORE *store = SSL_CTX_get_cert_store(t->upstream);
	const char *bundle = X509_get_default_cert_file();
	struct stat st;
	int trusted = 0;
	if (stat(bundle, &st) == 0) {
		if (X509_STORE_load_file(store, bundle) != 1) {
			ssl_fail(err, bundle);
			goto fail;
		}
		trusted = 1;
	} else if (errno != ENOENT) {
		kn_fail_errno(err, "stat %s", bundle);
		goto fail;
	}
	if (extra_ca_pem) {
		int n = add_pem_certs(store, extra_ca_pem, extra_len, err);
		if (n < 0)
			goto fail;
		trusted += n;
	}
	if (!trusted) {
		kn_fail(err, "no trusted CA for upstream TLS: %s is missing and no --upstream-ca "
			     "was given", bundle);
		goto fail;
	}
	SSL_CTX_set_verify(t->upstream, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_alpn_protos(t->upstream, alpn_http11, sizeof(alpn_http11) - 1) != 0) {
		ssl_fail(err, "SSL_CTX_set_alpn_protos");
		goto fail;
	}

	SSL_CTX_set_alpn_select_cb(t->server, alpn_select, NULL);
	SSL_CTX_set_tlsext_servername_callback(t->server, servername);
	/* Each connection is a fresh handshake: resumption would skip the SNI
	 * check on the resumed connection's ClientHello. */
	SSL_CTX_set_session_cache_mode(t->server, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(t->server, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(t->server, 0);

	t->leaf_key = kp_mint_key(err);
	if (!t->leaf_key)
		goto fail;
	return 0;
fail:
	kp_tls_free(t);
	return -1;
}

void kp_tls_free(struct kp_tls *t)
{
	SSL_CTX_free(t->upstream);
	SSL_CTX_free(t->server);
	EVP_PKEY_free(t->leaf_key);
	memset(t, 0, sizeof(*t));
}

SSL *kp_tls_upstream_ssl(struct kp_tls *t, int fd, const char *host, kn_error *err)
{
	SSL *ssl = SSL_new(t->upstream);
	if (!ssl) {
		ssl_fail(err, "SSL_new");
		return NULL;
	}
	bool is_name = kn_host_kind(host) == KN_HOST_NAME;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (!SSL_set_fd(ssl, fd) || !kp_io_prepare(ssl) ||
	    (is_name && !SSL_set_tlsext_host_name(ssl, host)) ||
	    (is_name ? !X509_VERIFY_PARAM_set1_host(param, host, 0)
		     : !X509_VERIFY_PARAM_set1_ip_asc(param, host))) {
		ssl_fail(err, "prepare the upstream TLS connection");
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

const char *kp_tls_verify_error(SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);
	return v == X509_V_OK ? NULL : X509_verify_cert_error_string(v);
}

struct kp_ca *kp_ca_new(const char *cert_pem, size_t cert_len, const char *key_pem,
			size_t key_len, kn_error *err)
{
	struct kp_ca *ca = calloc(1, sizeof(*ca));
	if (!ca || !(ca->cert_pem = malloc(cert_len + 1)) || !(ca->key_pem = malloc(key_len + 1))) {
		kp_ca_free(ca);
		kn_fail(err, "out of memory");
		return NULL;
	}
	memcpy(ca->cert_pem, cert_pem, cert_len);
	ca->cert_pem[cert_len] = '\0';
	memcpy(ca->key_pem, key_pem, key_len);
	ca->key_pem[key_len] = '\0';
	ca->cert_len = cert_len;
	ca->key_len = key_len;
	return ca;
}

/* The PEM copies go once parsed or freed: the key's is a secret. */
static void drop_pem(struct kp_ca *ca)
{
	kn_wipe_free(ca->key_pem);
	free(ca->cert_pem);
	ca->key_pem = ca->cert_pem = NULL;
}

/* The CA's certificate and key, parsed at its first use (tls.h says why).
 * A refused pair keeps its PEM, so every later use names the reason again. */
static int ca_parsed(struct kp_ca *ca, kn_error *err)
{
	if (ca->cert)
		return 0;
	if (kp_ca_parse(ca->cert_pem, ca->cert_len, ca->key_pem, ca->key_len, &ca->cert,
			&ca->key, err) < 0)
		return kn_fail_prefix(err, "sandbox CA");
	drop_pem(ca);
	return 0;
}

void kp_ca_free(struct kp_ca *ca)
{
	if (!ca)
		return;
	drop_pem(ca);
	for (size_t i = 0; i < ca->nleaves; i++)
		X509_free(ca->leaves[i].cert);
	free(ca->leaves);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca);
}

static time_t not_after(X509 *x)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* The leaf for `host`, from the cache or freshly minted (borrowed). */
static X509 *leaf_for(struct kp_ca *ca, EVP_PKEY *leaf_key, const char *host, kn_error *err)
{
	time_t now = time(NULL);
	struct kp_leaf *slot = NULL;

	ca->tick++;
	for (size_t i = 0; i < ca->nleaves; i++) {
		struct kp_leaf *l = &ca->leaves[i];
		if (strcmp(l->host, host) != 0)
			continue;
		if (l->not_after - now > KP_LEAF_RENEW_S) {
			l->used = ca->tick;
			return l->cert;
		}
		slot = l; /* about to expire: mint it again in place */
		break;
	}
	if (!slot && ca->nleaves < KP_LEAF_CACHE_MAX) {
		struct kp_leaf *grown = realloc(ca->leaves, (ca->nleaves + 1) * sizeof(*grown));
		if (!grown) {
			kn_fail(err, "out of memory");
			return NULL;
		}
		ca->leaves = grown;
		slot = &ca->leaves[ca->nleaves++];
		memset(slot, 0, sizeof(*slot));
	}
	if (!slot) {
		slot = &ca->leaves[0];
		for (size_t i = 1; i < ca->nleaves; i++)
			if (ca->leaves[i].used < slot->used)
				slot = &ca->leaves[i];
	}
	X509 *x = kp_mint_leaf(ca->cert, ca->key, leaf_key, host, err);
	if (!x) {
		if (!slot->cert) /* a fresh slot: give it back */
			ca->nleaves--;
		return NULL;
	}
	X509_free(slot->cert);
	snprintf(slot->host, sizeof(slot->host), "%s", host);
	slot->cert = x;
	slot->not_after = not_after(x);
	slot->used = ca->tick;
	return x;
}

SSL *kp_tls_client_ssl(struct kp_tls *t, struct kp_ca *ca, int fd, struct kp_sni_check *sni,
		       kn_error *err)
{
	if (ca_parsed(ca, err) < 0)
		return NULL;
	X509 *leaf = leaf_for(ca, t->leaf_key, sni->expect, err);
	if (!leaf)
		return NULL;
	SSL *ssl = SSL_new(t->server);
	if (!ssl) {
		ssl_fail(err, "SSL_new");
		return NULL;
	}
	if (SSL_use_certificate(ssl, leaf) != 1 || SSL_use_PrivateKey(ssl, t->leaf_key) != 1 ||
	    !SSL_set_fd(ssl, fd) || !kp_io_prepare(ssl)) {
		ssl_fail(err, "prepare the sandbox TLS connection");
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_app_data(ssl, sni);
	SSL_set_accept_state(ssl);
	return ssl;
}
