/* ca.c — the per-sandbox kennel CA (contract: ca.h). */
#define _GNU_SOURCE
#include "daemon/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/fsutil.h"
#include "common/util.h"

/* "kennel sandbox CA " and 8 hex digits of the serial: no sandbox name, so
 * a CA can be made before anyone knows which sandbox gets it (manager.h). */
#define CN_PREFIX "kennel sandbox CA "
#define CN_SERIAL_BYTES 4
#define SERIAL_BITS 128

/* err gets `what` and OpenSSL's reason; OpenSSL's error queue is emptied so
 * a later failure does not report this one. */
static int ssl_fail(kn_error *err, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	kn_fail(err, "%s: %s", what, reason ? reason : "OpenSSL error");
	ERR_clear_error();
	return -1;
}

/* A malloc'd copy of a memory BIO's bytes, NUL-terminated. */
static char *bio_text(BIO *b, size_t *len)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);
	if (n < 0)
		return NULL;
	char *out = malloc((size_t)n + 1);
	if (!out)
		return NULL;
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	return out;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* After set_serial: the CN names the CA by the end of its serial. */
static int set_name(X509 *x)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	const unsigned char *b = ASN1_STRING_get0_data(serial);
	int n = ASN1_STRING_length(serial);
	if (n < CN_SERIAL_BYTES)
		return -1;
	char cn[sizeof(CN_PREFIX) + 2 * CN_SERIAL_BYTES];
	int len = snprintf(cn, sizeof(cn), "%s", CN_PREFIX);
	for (int i = n - CN_SERIAL_BYTES; i < n; i++)
		len += snprintf(cn + len, sizeof(cn) - (size_t)len, "%02x", b[i]);
	X509_NAME *name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"kennel", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
		return -1;
	return X509_set_issuer_name(x, name) ? 0 : -1;
}

static int set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn && BN_rand(bn, SERIAL_BITS, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	return ok ? 0 : -1;
}

static int set_validity(X509 *x, time_t now)
{
	time_t from = now - KN_CA_BACKDATE_S;
	if (!X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &from) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), KN_CA_VALID_DAYS, 0, &from))
		return -1;
	return 0;
}

/* X509_set_pubkey encodes the key through OpenSSL 3's encoder framework,
 * whose set-up was half of kn_ca_make's time (~0.45 of 0.9 ms here). A P-256
 * SubjectPublicKeyInfo is the id-ecPublicKey algorithm with the curve's OID
 * as parameter and the uncompressed point: set from those parts. */
static int set_p256_pubkey(X509 *x, EVP_PKEY *key)
{
	size_t len = 0;
	if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0, &len) ||
	    len == 0 || len > INT32_MAX)
		return -1;
	unsigned char *point = OPENSSL_malloc(len);
	if (!point ||
	    !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, len, &len) ||
	    !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
				    V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1), point, (int)len)) {
		OPENSSL_free(point);
		return -1;
	}
	return 0;
}

/* PEM_write_bio_PrivateKey sets up OpenSSL 3's encoder framework for every
 * key: ~40% of kn_ca_make's time (~0.1 ms here, on each sandbox's create).
 * A P-256 key's PKCS#8 PrivateKeyInfo (RFC 5208) has a fixed size: the
 * algorithm (id-ecPublicKey, prime256v1) and an RFC 5915 ECPrivateKey with
 * the 32-byte scalar and the uncompressed public point. Written from its
 * parts it is byte for byte what OpenSSL writes (test_ca compares). */
#define P256_SCALAR 32
#define P256_POINT 65
#define P256_PKCS8_SIZE 138
static const unsigned char p256_pkcs8_head[] = {
	0x30, 0x81, 0x87,                                           /* PrivateKeyInfo */
	0x02, 0x01, 0x00,                                           /* version 0 */
	0x30, 0x13,                                                 /* algorithm */
	0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,       /* id-ecPublicKey */
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, /* prime256v1 */
	0x04, 0x6d,                                                 /* privateKey */
	0x30, 0x6b,                                                 /* ECPrivateKey */
	0x02, 0x01, 0x01,                                           /* version 1 */
	0x04, 0x20,                                                 /* the scalar */
};
static const unsigned char p256_pkcs8_point[] = {0xa1, 0x44, 0x03, 0x42, 0x00};
#define PEM_KEY_BEGIN "-----BEGIN PRIVATE KEY-----\n"
#define PEM_KEY_END "-----END PRIVATE KEY-----\n"
#define PEM_LINE 64

static char *p256_key_pem(EVP_PKEY *key, size_t *len)
{
	_Static_assert(sizeof(p256_pkcs8_head) + P256_SCALAR + sizeof(p256_pkcs8_point) + P256_POINT ==
			       P256_PKCS8_SIZE, "PKCS#8 layout");
	unsigned char der[P256_PKCS8_SIZE];
	unsigned char b64[4 * ((P256_PKCS8_SIZE + 2) / 3) + 1];
	unsigned char *scalar = der + sizeof(p256_pkcs8_head);
	unsigned char *point = scalar + P256_SCALAR + sizeof(p256_pkcs8_point);
	size_t plen = 0;
	char *out = NULL;
	BIGNUM *d = NULL;
	memcpy(der, p256_pkcs8_head, sizeof(p256_pkcs8_head));
	memcpy(scalar + P256_SCALAR, p256_pkcs8_point, sizeof(p256_pkcs8_point));
	if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) ||
	    BN_bn2binpad(d, scalar, P256_SCALAR) != P256_SCALAR ||
	    !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, P256_POINT,
					     &plen) ||
	    plen != P256_POINT || point[0] != 0x04)
		goto out;
	int n = EVP_EncodeBlock(b64, der, P256_PKCS8_SIZE);
	size_t cap = strlen(PEM_KEY_BEGIN) + (size_t)n + (size_t)n / PEM_LINE + 1 + strlen(PEM_KEY_END) + 1;
	out = malloc(cap);
	if (!out)
		goto out;
	size_t o = 0;
	memcpy(out, PEM_KEY_BEGIN, strlen(PEM_KEY_BEGIN));
	o += strlen(PEM_KEY_BEGIN);
	for (int i = 0; i < n; i += PEM_LINE) {
		int chunk = n - i < PEM_LINE ? n - i : PEM_LINE;
		memcpy(out + o, b64 + i, (size_t)chunk);
		o += (size_t)chunk;
		out[o++] = '\n';
	}
	memcpy(out + o, PEM_KEY_END, strlen(PEM_KEY_END) + 1);
	o += strlen(PEM_KEY_END);
	*len = o;
out:
	BN_clear_free(d);
	OPENSSL_cleanse(der, sizeof(der));
	OPENSSL_cleanse(b64, sizeof(b64));
	return out;
}

static int describe(X509 *x, struct kn_ca_info *info)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	info->fingerprint[0] = '\0';
	if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
		return -1;
	for (unsigned int i = 0; i < n; i++)
		snprintf(info->fingerprint + 3 * i, 4, "%02X%s", md[i], i + 1 < n ? ":" : "");
	info->subject_hash = X509_subject_name_hash(x);
	return 0;
}

/* A new P-256 key. The generation context is set up once: OpenSSL 3 looks
 * up the algorithm and the group on every EVP_EC_gen, which was more than
 * half of its ~50 us here (twice that in a create, with cold caches). */
static EVP_PKEY *p256_generate(void)
{
	static EVP_PKEY_CTX *ctx;
	if (!ctx) {
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
		    EVP_PKEY_CTX_set_group_name(ctx, SN_X9_62_prime256v1) <= 0) {
			EVP_PKEY_CTX_free(ctx);
			ctx = NULL;
			return NULL;
		}
	}
	EVP_PKEY *key = NULL;
	return EVP_PKEY_generate(ctx, &key) > 0 ? key : NULL;
}

/* The key of the next CA, made while the daemon had nothing to do. */
static EVP_PKEY *key_ahead;

void kn_ca_key_ahead(void)
{
	if (!key_ahead)
		key_ahead = p256_generate();
}

int kn_ca_make(time_t now, struct kn_ca_pem *out, struct kn_ca_info *info, kn_error *err)
{
	memset(out, 0, sizeof(*out));
	int rc = -1;
	X509 *x = NULL;
	BIO *cb = NULL;
	EVP_PKEY *key = key_ahead ? key_ahead : p256_generate();
	key_ahead = NULL; /* used once, whatever happens below */
	if (!key) {
		ssl_fail(err, "generate the CA's P-256 key");
		goto out;
	}
	x = X509_new();
	if (!x || !X509_set_version(x, X509_VERSION_3) || set_serial(x) < 0 || set_name(x) < 0 ||
	    set_validity(x, now) < 0 || set_p256_pubkey(x, key) < 0) {
		ssl_fail(err, "make the CA certificate");
		goto out;
	}
	/* The subject key identifier first: the authority one copies it. */
	if (add_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(x, NID_subject_key_identifier, "hash") < 0 ||
	    add_ext(x, NID_authority_key_identifier, "keyid:always") < 0) {
		ssl_fail(err, "add the CA certificate's extensions");
		goto out;
	}
	if (!X509_sign(x, key, EVP_sha256())) {
		ssl_fail(err, "sign the CA certificate");
		goto out;
	}
	if (info && describe(x, info) < 0) {
		ssl_fail(err, "fingerprint of the CA certificate");
		goto out;
	}
	cb = BIO_new(BIO_s_mem());
	if (!cb || !PEM_write_bio_X509(cb, x)) {
		ssl_fail(err, "encode the CA certificate as PEM");
		goto out;
	}
	out->cert = bio_text(cb, &out->cert_len);
	out->key = p256_key_pem(key, &out->key_len);
	if (!out->cert || !out->key) {
		ssl_fail(err, !out->cert ? "copy the CA certificate" : "encode the CA key");
		kn_ca_pem_clear(out);
		goto out;
	}
	rc = 0;
out:
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

void kn_ca_pem_clear(struct kn_ca_pem *pem)
{
	if (pem->key)
		OPENSSL_cleanse(pem->key, pem->key_len);
	free(pem->key);
	free(pem->cert);
	memset(pem, 0, sizeof(*pem));
}

static void path_in(char *out, size_t n, const char *dir, const char *file)
{
	snprintf(out, n, "%s/%s", dir, file);
}

/* Both files there, regular, not symlinks; the key's text starts a PEM block
 * (not the zeros or nothing a power loss leaves of an unsynced file); the
 * certificate described by `info` already, else parsing into it. */
static int pair_usable(const char *dir, struct kn_ca_info *info)
{
	static const char pem_start[] = "-----BEGIN ";
	char p[PATH_MAX], head[sizeof(pem_start) - 1];
	path_in(p, sizeof(p), dir, KN_CA_KEY_FILE);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
	    memcmp(head, pem_start, sizeof(head)) != 0)
		return 0;
	path_in(p, sizeof(p), dir, KN_CA_CERT_FILE);
	if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (info->fingerprint[0])
		return 1;
	_cleanup_free_ char *cert = NULL;
	size_t len = 0;
	return kn_read_file(p, KN_CA_FILE_MAX, &cert, &len, NULL) == 0 &&
	       kn_ca_describe(cert, len, info, NULL) == 0;
}

/* An existing key keeps the owner and mode the contract promises. */
static int fix_key_file(const char *dir, uid_t uid, gid_t gid, kn_error *err)
{
	char p[PATH_MAX];
	path_in(p, sizeof(p), dir, KN_CA_KEY_FILE);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return kn_fail_errno(err, "open %s", p);
	if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) < 0)
		return kn_fail_errno(err, "fchown %s", p);
	if ((st.st_mode & 07777) != 0400 && fchmod(fd, 0400) < 0)
		return kn_fail_errno(err, "fchmod %s", p);
	return 0;
}

int kn_ca_ensure(const char *dir, uid_t key_uid, gid_t key_gid, struct kn_ca_info *info, int *made,
		 kn_error *err)
{
	*made = 0;
	if (pair_usable(dir, info))
		return fix_key_file(dir, key_uid, key_gid, err);
	struct kn_ca_pem pem;
	if (kn_ca_make(time(NULL), &pem, info, err) < 0)
		return -1;
	char p[PATH_MAX];
	/* The certificate stands for the pair: it goes first when a stale one is
	 * replaced and last when the new pair is written. */
	path_in(p, sizeof(p), dir, KN_CA_CERT_FILE);
	int rc = unlink(p) < 0 && errno != ENOENT ? kn_fail_errno(err, "unlink %s", p) : 0;
	if (rc == 0) {
		path_in(p, sizeof(p), dir, KN_CA_KEY_FILE);
		rc = kn_write_replace_owned(p, pem.key, pem.key_len, 0400, key_uid, key_gid, err);
	}
	if (rc == 0) {
		path_in(p, sizeof(p), dir, KN_CA_CERT_FILE);
		rc = kn_write_replace_owned(p, pem.cert, pem.cert_len, 0644, 0, 0, err);
	}
	kn_ca_pem_clear(&pem);
	if (rc == 0)
		*made = 1;
	return rc;
}

int kn_ca_load(const char *dir, struct kn_ca_pem *out, kn_error *err)
{
	char p[PATH_MAX];
	memset(out, 0, sizeof(*out));
	path_in(p, sizeof(p), dir, KN_CA_CERT_FILE);
	if (kn_read_file(p, KN_CA_FILE_MAX, &out->cert, &out->cert_len, err) < 0)
		return -1;
	path_in(p, sizeof(p), dir, KN_CA_KEY_FILE);
	if (kn_read_file(p, KN_CA_FILE_MAX, &out->key, &out->key_len, err) < 0) {
		kn_ca_pem_clear(out);
		return -1;
	}
	return 0;
}

int kn_ca_present(const char *dir, struct kn_ca_info *info)
{
	*info = (struct kn_ca_info){0};
	return pair_usable(dir, info);
}

int kn_ca_describe(const char *cert_pem, size_t len, struct kn_ca_info *info, kn_error *err)
{
	*info = (struct kn_ca_info){0};
	BIO *b = len <= INT32_MAX ? BIO_new_mem_buf(cert_pem, (int)len) : NULL;
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	int ok = x && describe(x, info) == 0;
	X509_free(x);
	return ok ? 0 : ssl_fail(err, "the CA certificate does not parse");
}

int kn_ca_count_certs(const char *pem, size_t len, kn_error *err)
{
	if (len > INT_MAX)
		return kn_fail(err, "larger than %d bytes", INT_MAX);
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return kn_fail(err, "out of memory");
	int n = 0;
	ERR_clear_error();
	for (;;) {
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		if (!x)
			break;
		X509_free(x);
		n++;
	}
	BIO_free(b);
	/* The loop ends at the end of the text ("no start line"), or at a block
	 * that is not a certificate: the latter is an error. */
	unsigned long e = ERR_peek_last_error();
	if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		char what[64];
		snprintf(what, sizeof(what), "PEM block after certificate %d does not parse", n);
		return ssl_fail(err, what);
	}
	ERR_clear_error();
	return n;
}
