/* fuzz_tls_hello.c — libFuzzer target for what a sandbox sends first inside an
 * intercepted tunnel: bytes meant to be a TLS ClientHello, read by the server
 * SSL that kp_tls_client_ssl (src/proxy/tls.h) makes for the CONNECT host.
 *
 * Set up once: the proxy's contexts (kp_tls_init, system bundle only) and a
 * sandbox CA generated in memory (kp_ca_new). Each input: a server SSL for
 * EXPECT_HOST whose socket is swapped for a pair of memory BIOs, the input
 * written to the read side, a few handshake steps. Aborts when:
 *   - the SNI check recorded a mismatch but the handshake did not fail;
 *   - the server answered (wrote bytes) without failing for a ClientHello
 *     whose SNI, after kn_host_canon, is not EXPECT_HOST (the check was
 *     skipped);
 *   - what the check recorded is not a NUL-terminated string of printable
 *     bytes.
 * Memory errors are ASan's to find.
 * Build: make fuzz (clang -fsanitize=fuzzer,address,undefined, all sources).
 * Seeds: tests/fuzz/corpus/tls_hello/ (ClientHellos made with OpenSSL: SNI
 * matching in two spellings, SNI of another host, no SNI, TLS 1.2 only). */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "policy/hostname.h"
#include "proxy/tls.h"

#include "fuzz.h"

/* The CONNECT host every input is checked against (the seeds' SNI). */
#define EXPECT_HOST "x.test"
/* A ClientHello is answered in one step; the others see what a client's
 * further records (in the same input) do to a handshake in progress. */
#define HANDSHAKE_STEPS 4

static struct kp_tls tls;
static struct kp_ca *ca;
/* kp_tls_client_ssl sets an fd; its BIOs are replaced before any I/O, so this
 * socket is never read or written. */
static int unused_fd = -1;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_tls_hello setup: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static char *pem_text(BIO *b)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	char *out = malloc((size_t)n + 1);
	if (!out)
		die("out of memory");
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	return out;
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	if (!ext || X509_add_ext(x, ext, -1) != 1)
		die("certificate extension");
	X509_EXTENSION_free(ext);
}

/* A sandbox CA as kenneld makes one: EC P-256, v3, CA:TRUE, keyCertSign, SKI. */
static struct kp_ca *make_ca(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	if (!key || !x)
		die("CA key");
	X509_NAME *n = X509_get_subject_name(x);
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz CA",
					-1, -1, 0) ||
	    !X509_set_issuer_name(x, n) || !X509_set_pubkey(x, key))
		die("CA certificate");
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		die("CA signature");

	BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
	if (!cb || !kb || !PEM_write_bio_X509(cb, x) ||
	    !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL))
		die("CA PEM");
	char *cert_pem = pem_text(cb), *key_pem = pem_text(kb);
	kn_error err;
	struct kp_ca *c = kp_ca_new(cert_pem, strlen(cert_pem), key_pem, strlen(key_pem), &err);
	if (!c)
		die(err.msg);
	free(cert_pem);
	free(key_pem);
	X509_free(x);
	EVP_PKEY_free(key);
	return c;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	kn_error err;
	if (kp_tls_init(&tls, NULL, 0, &err) < 0)
		die(err.msg);
	ca = make_ca();
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		die("socketpair");
	unused_fd = sp[0];
	return 0;
}

/* Does the ClientHello's SNI (if any) name EXPECT_HOST? */
static int sni_names_expected(SSL *ssl)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (!name)
		return 1;
	char canon[KN_HOST_BUFSZ];
	return kn_host_canon(name, strlen(name), canon, sizeof(canon), NULL) == 0 &&
	       strcmp(canon, EXPECT_HOST) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INT32_MAX)
		return 0;
	struct kp_sni_check sni;
	memset(&sni, 0, sizeof(sni));
	sni.expect = EXPECT_HOST;
	kn_error err;
	SSL *ssl = kp_tls_client_ssl(&tls, ca, unused_fd, &sni, &err);
	ASSERT(ssl != NULL);

	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	ASSERT(in && out);
	/* An empty read BIO is "try again", as a non-blocking socket would say,
	 * not EOF. */
	BIO_set_mem_eof_return(in, -1);
	if (size)
		ASSERT(BIO_write(in, data, (int)size) == (int)size);
	SSL_set_bio(ssl, in, out); /* frees the socket BIO, not the fd */

	int done = 0, failed = 0;
	for (int i = 0; i < HANDSHAKE_STEPS && !done && !failed; i++) {
		int r = SSL_do_handshake(ssl);
		if (r == 1) {
			done = 1;
			break;
		}
		int e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			failed = 1;
	}

	/* What the check recorded is a bounded printable string. */
	ASSERT(memchr(sni.seen, '\0', sizeof(sni.seen)) != NULL);
	for (size_t i = 0; sni.seen[i]; i++)
		ASSERT(sni.seen[i] > 0x20 && sni.seen[i] < 0x7f);
	ASSERT(sni.mismatch || sni.seen[0] == '\0');
	/* A mismatch fails the handshake... */
	if (sni.mismatch)
		ASSERT(failed && !done);
	/* ...and a server that answered without failing saw no other host. */
	if (!failed && BIO_ctrl_pending(out) > 0)
		ASSERT(!sni.mismatch && sni_names_expected(ssl));
	if (done)
		ASSERT(sni_names_expected(ssl));

	ERR_clear_error();
	SSL_free(ssl); /* frees both memory BIOs */
	return 0;
}
