/* mint.c — leaf certificates (contract: mint.h). */
#include "proxy/mint.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy/hostname.h"

/* X.520 ub-common-name: OpenSSL refuses a longer CN. */
#define CN_MAX 64
/* 128 bits of serial: CA/B forum asks for at least 64 bits of randomness. */
#define SERIAL_BYTES 16

const char *kp_ssl_reason(char *buf, size_t bufsz, const char *fallback)
{
	unsigned long e = ERR_get_error();
	ERR_clear_error();
	if (!e)
		return fallback;
	const char *r = ERR_reason_error_string(e);
	if (r)
		snprintf(buf, bufsz, "%s", r);
	else
		ERR_error_string_n(e, buf, bufsz);
	return buf;
}

static int ssl_fail(kn_error *err, const char *what)
{
	char reason[256];
	return kn_fail(err, "%s: %s", what, kp_ssl_reason(reason, sizeof(reason), "failed"));
}

EVP_PKEY *kp_mint_key(kn_error *err)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (!k)
		ssl_fail(err, "generate an EC P-256 key");
	return k;
}

static int random_serial(X509 *x, kn_error *err)
{
	unsigned char raw[SERIAL_BYTES];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return ssl_fail(err, "RAND_bytes for a serial");
	raw[0] &= 0x7f; /* positive */
	raw[0] |= 0x40; /* and a full 16 bytes long */
	BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
	int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : ssl_fail(err, "set the serial");
}

/* subjectAltName with exactly one entry, built from the canonical host without
 * going through OpenSSL's text configuration syntax (no escaping questions). */
static int add_san(X509 *x, const char *host, kn_error *err)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	int ok = 0;

	if (!names || !gn)
		goto out;
	enum kn_host_kind kind = kn_host_kind(host);
	if (kind == KN_HOST_NAME) {
		dns = ASN1_IA5STRING_new();
		if (!dns || !ASN1_STRING_set(dns, host, (int)strlen(host)))
			goto out;
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
		dns = NULL;
	} else {
		unsigned char bin[16];
		int len = kind == KN_HOST_IPV4 ? 4 : 16;
		if (inet_pton(kind == KN_HOST_IPV4 ? AF_INET : AF_INET6, host, bin) != 1)
			goto out;
		ip = ASN1_OCTET_STRING_new();
		if (!ip || !ASN1_OCTET_STRING_set(ip, bin, len))
			goto out;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
		ip = NULL;
	}
	if (!sk_GENERAL_NAME_push(names, gn))
		goto out;
	gn = NULL;
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
out:
	ASN1_IA5STRING_free(dns);
	ASN1_OCTET_STRING_free(ip);
	GENERAL_NAME_free(gn);
	sk_GENERAL_NAME_pop_free(names, GENERAL_NAME_free);
	return ok ? 0 : ssl_fail(err, "add the subjectAltName");
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, kn_error *err)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	if (!ok)
		return ssl_fail(err, OBJ_nid2sn(nid));
	return 0;
}

X509 *kp_mint_leaf(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *leaf_key, const char *host,
		   kn_error *err)
{
	X509 *x = X509_new();
	X509_NAME *subject = X509_NAME_new();

	if (!x || !subject) {
		ssl_fail(err, "allocate a certificate");
		goto fail;
	}
	if (!X509_set_version(x, X509_VERSION_3)) {
		ssl_fail(err, "set the version");
		goto fail;
	}
	if (random_serial(x, err) < 0)
		goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -KP_LEAF_BACKDATE_S) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), KP_LEAF_VALIDITY_DAYS, 0, NULL)) {
		ssl_fail(err, "set the validity");
		goto fail;
	}
	const unsigned char *h = (const unsigned char *)host;
	if (!X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
					(const unsigned char *)"kennel", -1, -1, 0) ||
	    (strlen(host) <= CN_MAX &&
	     !X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, h, -1, -1, 0)) ||
	    !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) ||
	    !X509_set_pubkey(x, leaf_key)) {
		ssl_fail(err, "set the names and key");
		goto fail;
	}
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, ca_cert, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature", err) < 0 ||
	    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth", err) < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash", err) < 0 ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err) < 0 ||
	    add_san(x, host, err) < 0)
		goto fail;
	if (X509_sign(x, ca_key, EVP_sha256()) <= 0) {
		ssl_fail(err, "sign the certificate");
		goto fail;
	}
	X509_NAME_free(subject);
	return x;
fail:
	X509_NAME_free(subject);
	X509_free(x);
	return NULL;
}

/* PEM input is never encrypted here: fail at once instead of OpenSSL's
 * default of prompting on a terminal. */
int kp_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The PEM block must come first: PEM_read_bio_* would skip any text before
 * it. */
static bool starts_with_pem(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	return len - i >= 11 && memcmp(s + i, "-----BEGIN ", 11) == 0;
}

/* The key of a PEM block. kenneld's CAs are EC P-256: a decoder asked for EC
 * keys only is set up in a quarter of the time of OpenSSL 3's search through
 * every decoder (~0.2 against ~0.6 ms here, paid on each sandbox start), which
 * stays the fallback for a key of another type. */
static EVP_PKEY *read_key(BIO *b)
{
	EVP_PKEY *k = NULL;
	OSSL_DECODER_CTX *d = OSSL_DECODER_CTX_new_for_pkey(&k, "PEM", NULL, "EC",
							    OSSL_KEYMGMT_SELECT_KEYPAIR, NULL, NULL);
	if (d && OSSL_DECODER_CTX_set_pem_password_cb(d, kp_no_passphrase, NULL) &&
	    OSSL_DECODER_from_bio(d, b) && k) {
		OSSL_DECODER_CTX_free(d);
		return k;
	}
	OSSL_DECODER_CTX_free(d);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return BIO_reset(b) > 0 ? PEM_read_bio_PrivateKey(b, NULL, kp_no_passphrase, NULL) : NULL;
}

/* Only whitespace may follow the last PEM block we read. */
static bool rest_is_blank(BIO *b)
{
	char c;
	while (BIO_read(b, &c, 1) == 1)
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return false;
	return true;
}

int kp_ca_parse(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		X509 **cert, EVP_PKEY **key, kn_error *err)
{
	*cert = NULL;
	*key = NULL;
	if (cert_len > INT32_MAX || key_len > INT32_MAX)
		return kn_fail(err, "CA PEM too large");
	BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
	BIO *kb = BIO_new_mem_buf(key_pem, (int)key_len);
	if (!cb || !kb) {
		BIO_free(cb);
		BIO_free(kb);
		return ssl_fail(err, "BIO_new_mem_buf");
	}
	bool cert_first = starts_with_pem(cert_pem, cert_len);
	bool key_first = starts_with_pem(key_pem, key_len);
	X509 *c = cert_first ? PEM_read_bio_X509(cb, NULL, kp_no_passphrase, NULL) : NULL;
	EVP_PKEY *k = c && key_first ? read_key(kb) : NULL;
	int rc = -1;
	if (!cert_first)
		kn_fail(err, "CA certificate: text before the PEM block");
	else if (!c)
		ssl_fail(err, "CA certificate");
	else if (!key_first)
		kn_fail(err, "CA key: text before the PEM block");
	else if (!k)
		ssl_fail(err, "CA key");
	else if (!rest_is_blank(cb) || !rest_is_blank(kb))
		kn_fail(err, "CA certificate or key: more than one PEM block");
	else if (X509_check_ca(c) != 1)
		kn_fail(err, "CA certificate: not a CA (basicConstraints CA:TRUE missing)");
	else if (!X509_get0_subject_key_id(c))
		/* Leaves name their issuer by this key identifier. */
		kn_fail(err, "CA certificate: no subjectKeyIdentifier");
	else if (X509_check_private_key(c, k) != 1)
		ssl_fail(err, "CA key does not match the CA certificate");
	else
		rc = 0;
	ERR_clear_error();
	BIO_free(cb);
	BIO_free(kb);
	if (rc < 0) {
		X509_free(c);
		EVP_PKEY_free(k);
		return -1;
	}
	*cert = c;
	*key = k;
	return 0;
}
