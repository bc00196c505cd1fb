/* test_proxy_mint.c — leaf certificates and the CA check (src/proxy/mint.h),
 * and the TLS contexts and leaf cache built on them (src/proxy/tls.h), checked
 * with OpenSSL itself: every CA here is made in the test with the OpenSSL API,
 * leaves are verified against a store holding only that CA, and handshakes are
 * real ones between a client SSL and the proxy's server SSL over a
 * socketpair(2). */
#define _GNU_SOURCE
#include "proxy/mint.h"
#include "proxy/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* ---- certificates made here, with the OpenSSL API ---- */

struct test_ca {
	EVP_PKEY *key;
	X509 *cert;
	char *cert_pem, *key_pem;
	size_t cert_len, key_len;
};

enum cert_kind {
	CERT_CA,        /* v3, basicConstraints CA:TRUE, keyCertSign, SKI */
	CERT_CA_NO_SKI, /* the same without a subjectKeyIdentifier */
	CERT_END,       /* v3, basicConstraints CA:FALSE */
	CERT_V1,        /* v1, no extensions at all */
};

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	bool ok = ext && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

static X509 *self_signed(EVP_PKEY *key, const char *cn, enum cert_kind kind)
{
	X509 *x = X509_new();
	bool ok = x && X509_set_version(x, kind == CERT_V1 ? X509_VERSION_1 : X509_VERSION_3) &&
		  ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) &&
		  X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
		  X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_NAME *n = x ? X509_get_subject_name(x) : NULL;
	ok = ok &&
	     X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"kennel test",
					-1, -1, 0) &&
	     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
					0) &&
	     X509_set_issuer_name(x, n) && X509_set_pubkey(x, key);
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (ok && (kind == CERT_CA || kind == CERT_CA_NO_SKI))
		ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
		     add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (ok && kind == CERT_CA)
		ok = add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (ok && kind == CERT_END)
		ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
		     add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") &&
		     add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	ok = ok && X509_sign(x, key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static char *bio_text(BIO *b, size_t *len)
{
	char *p;
	long n = BIO_get_mem_data(b, &p);
	char *out = malloc((size_t)n + 1);
	if (out) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
		*len = (size_t)n;
	}
	BIO_free(b);
	return out;
}

static char *cert_pem(X509 *x, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	return bio_text(b, len);
}

static char *key_pem(EVP_PKEY *k, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	return bio_text(b, len);
}

/* rsa_bits 0: EC P-256. */
static bool make_ca(struct test_ca *ca, unsigned rsa_bits, enum cert_kind kind)
{
	memset(ca, 0, sizeof(*ca));
	ca->key = rsa_bits ? EVP_RSA_gen(rsa_bits) : EVP_EC_gen("P-256");
	ca->cert = ca->key ? self_signed(ca->key, "kennel test CA", kind) : NULL;
	if (!ca->cert)
		return false;
	ca->cert_pem = cert_pem(ca->cert, &ca->cert_len);
	ca->key_pem = key_pem(ca->key, &ca->key_len);
	return ca->cert_pem && ca->key_pem;
}

static void free_ca(struct test_ca *ca)
{
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca->cert_pem);
	free(ca->key_pem);
	memset(ca, 0, sizeof(*ca));
}

/* `a` followed by `b`, NUL-terminated. */
static char *concat(const char *a, const char *b, size_t *len)
{
	*len = strlen(a) + strlen(b);
	char *out = malloc(*len + 1);
	if (out) {
		strcpy(out, a);
		strcat(out, b);
	}
	return out;
}

/* The EC CA most tests use, and the leaf key of a worker. */
static struct test_ca ca_ec;
static EVP_PKEY *leaf_key;
/* Whether the system CA bundle exists (kp_tls_init's default trust). */
static bool have_bundle;
/* Stands in for the system bundle where there is none: trusts nothing the
 * tests make with ca_ec. */
static struct test_ca ca_unrelated;

/* ---- reading certificates back ---- */

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* The one subjectAltName entry: its type, and its DNS text or IP bytes. */
static int san_single(X509 *x, char *dns, size_t dnssz, unsigned char *ip, int *iplen)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int type = -1;
	if (names && sk_GENERAL_NAME_num(names) == 1) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, 0);
		int t;
		ASN1_STRING *s = GENERAL_NAME_get0_value(gn, &t);
		type = t;
		if (t == GEN_DNS) {
			snprintf(dns, dnssz, "%.*s", ASN1_STRING_length(s),
				 (const char *)ASN1_STRING_get0_data(s));
		} else if (t == GEN_IPADD && ASN1_STRING_length(s) <= 16) {
			*iplen = ASN1_STRING_length(s);
			memcpy(ip, ASN1_STRING_get0_data(s), (size_t)*iplen);
		}
	}
	GENERAL_NAMES_free(names);
	return type;
}

static bool has_cn(X509 *x, char *out, size_t outsz)
{
	out[0] = '\0';
	return X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
					 (int)outsz) >= 0;
}

/* X509_verify_cert against a store holding only `ca`, checking the leaf names
 * `check` (a DNS name or an IP literal), as a TLS client would. */
static int verify_for(X509 *ca, X509 *leaf, const char *check, int *verr)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = -1;
	*verr = -1;
	if (store && ctx && X509_STORE_add_cert(store, ca) == 1 &&
	    X509_STORE_CTX_init(ctx, store, leaf, NULL) == 1) {
		X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
		unsigned char bin[16];
		bool is_ip = inet_pton(AF_INET, check, bin) == 1 || inet_pton(AF_INET6, check, bin) == 1;
		X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_X509_STRICT);
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
		if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(p, check) == 1
			  : X509_VERIFY_PARAM_set1_host(p, check, 0) == 1) {
			rc = X509_verify_cert(ctx);
			*verr = X509_STORE_CTX_get_error(ctx);
		}
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return rc;
}

/* A host name of exactly `len` bytes, in labels of at most 49 bytes. */
static void long_name(char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (i % 50 == 49) ? '.' : 'a' + (char)(i % 26);
	buf[len - 1] = 'z'; /* never end in a dot */
	buf[len] = '\0';
}

/* ---- mint.h ---- */

static void test_mint_key(void)
{
	kn_error err = {0};
	EVP_PKEY *k = kp_mint_key(&err);
	CHECK(k != NULL);
	CHECK(EVP_PKEY_get_base_id(k) == EVP_PKEY_EC);
	char group[64] = "";
	size_t glen = 0;
	CHECK(EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) == 1);
	CHECK_STR_EQ(group, "prime256v1");
	CHECK(EVP_PKEY_get_bits(k) == 256);
	EVP_PKEY *k2 = kp_mint_key(&err);
	CHECK(k2 != NULL && EVP_PKEY_eq(k, k2) != 1); /* a new key each time */
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
}

/* What every leaf must be, whatever its host. */
static void check_leaf_common(X509 *leaf, X509 *ca, EVP_PKEY *key)
{
	time_t now = time(NULL);
	CHECK(X509_get_version(leaf) == X509_VERSION_3);
	CHECK(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca)) == 0);
	CHECK(X509_check_issued(ca, leaf) == X509_V_OK);
	CHECK(X509_check_ca(leaf) == 0);
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(leaf, NID_basic_constraints, NULL, NULL);
	CHECK(bc != NULL && !bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	CHECK(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE);
	CHECK(X509_get_extended_key_usage(leaf) == XKU_SSL_SERVER);
	CHECK(X509_get_key_usage(leaf) == KU_DIGITAL_SIGNATURE);
	CHECK(X509_get0_subject_key_id(leaf) != NULL);
	CHECK(X509_get0_authority_key_id(leaf) != NULL);
	CHECK(X509_get_signature_nid(leaf) == NID_ecdsa_with_SHA256 ||
	      X509_get_signature_nid(leaf) == NID_sha256WithRSAEncryption);
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(leaf), key) == 1);
	time_t nb = asn1_time(X509_get0_notBefore(leaf));
	time_t na = asn1_time(X509_get0_notAfter(leaf));
	CHECK(nb != 0 && nb <= now - 3500 && nb >= now - KP_LEAF_BACKDATE_S - 60);
	time_t want = now + (time_t)KP_LEAF_VALIDITY_DAYS * 86400;
	CHECK(na != 0 && na >= want - 120 && na <= want + 120);
	const ASN1_INTEGER *serial = X509_get0_serialNumber(leaf);
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	CHECK(bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn) && BN_num_bits(bn) > 64);
	BN_free(bn);
}

static void test_mint_leaf_name(void)
{
	kn_error err = {0};
	X509 *leaf = kp_mint_leaf(ca_ec.cert, ca_ec.key, leaf_key, "api.example.com", &err);
	CHECK(leaf != NULL);
	if (!leaf)
		return;
	check_leaf_common(leaf, ca_ec.cert, leaf_key);
	char dns[300] = "", cn[300];
	unsigned char ip[16];
	int iplen = 0;
	CHECK(san_single(leaf, dns, sizeof(dns), ip, &iplen) == GEN_DNS);
	CHECK_STR_EQ(dns, "api.example.com");
	CHECK(has_cn(leaf, cn, sizeof(cn)));
	CHECK_STR_EQ(cn, "api.example.com");
	int verr;
	CHECK(verify_for(ca_ec.cert, leaf, "api.example.com", &verr) == 1);
	CHECK(verr == X509_V_OK);
	CHECK(verify_for(ca_ec.cert, leaf, "other.example.com", &verr) != 1);
	CHECK(verr == X509_V_ERR_HOSTNAME_MISMATCH);
	/* The SAN is exact: no wildcard a client would extend to a subdomain. */
	CHECK(verify_for(ca_ec.cert, leaf, "x.api.example.com", &verr) != 1);
	CHECK(verify_for(ca_ec.cert, leaf, "example.com", &verr) != 1);

	/* Two leaves for the same host: different serials. */
	X509 *again = kp_mint_leaf(ca_ec.cert, ca_ec.key, leaf_key, "api.example.com", &err);
	CHECK(again != NULL);
	if (again)
		CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(leaf),
				       X509_get0_serialNumber(again)) != 0);
	X509_free(again);
	X509_free(leaf);
}

static void test_mint_leaf_ip(void)
{
	static const struct {
		const char *host;
		int family, len;
		const char *other;
		int mismatch;
	} cases[] = {
		{ "192.0.2.7", AF_INET, 4, "192.0.2.8", X509_V_ERR_IP_ADDRESS_MISMATCH },
		{ "2001:db8::1", AF_INET6, 16, "2001:db8::2", X509_V_ERR_IP_ADDRESS_MISMATCH },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kn_error err = {0};
		X509 *leaf = kp_mint_leaf(ca_ec.cert, ca_ec.key, leaf_key, cases[i].host, &err);
		CHECK(leaf != NULL);
		if (!leaf)
			continue;
		check_leaf_common(leaf, ca_ec.cert, leaf_key);
		char dns[64] = "", cn[64];
		unsigned char ip[16], want[16];
		int iplen = 0;
		CHECK(san_single(leaf, dns, sizeof(dns), ip, &iplen) == GEN_IPADD);
		CHECK(inet_pton(cases[i].family, cases[i].host, want) == 1);
		CHECK(iplen == cases[i].len && memcmp(ip, want, (size_t)iplen) == 0);
		CHECK(has_cn(leaf, cn, sizeof(cn)));
		CHECK_STR_EQ(cn, cases[i].host);
		int verr;
		CHECK(verify_for(ca_ec.cert, leaf, cases[i].host, &verr) == 1);
		CHECK(verr == X509_V_OK);
		CHECK(verify_for(ca_ec.cert, leaf, cases[i].other, &verr) != 1);
		CHECK(verr == cases[i].mismatch);
		/* An IP leaf names no DNS host, not even the address as text. */
		CHECK(verify_for(ca_ec.cert, leaf, "example.com", &verr) != 1);
		X509_free(leaf);
	}
}

static void test_mint_leaf_long_names(void)
{
	kn_error err = {0};
	char name64[65], name65[66], name200[201], dns[300], cn[300];
	unsigned char ip[16];
	int iplen, verr;
	long_name(name64, 64);
	long_name(name65, 65);
	long_name(name200, 200);

	/* 64 bytes: the X.520 bound, still a CN. */
	X509 *leaf = kp_mint_leaf(ca_ec.cert, ca_ec.key, leaf_key, name64, &err);
	CHECK(leaf != NULL);
	if (leaf) {
		CHECK(has_cn(leaf, cn, sizeof(cn)));
		CHECK_STR_EQ(cn, name64);
		CHECK(verify_for(ca_ec.cert, leaf, name64, &verr) == 1);
	}
	X509_free(leaf);

	/* 65 and 200 bytes: no CN, the SAN alone names the host. */
	const char *longer[] = { name65, name200 };
	for (size_t i = 0; i < 2; i++) {
		leaf = kp_mint_leaf(ca_ec.cert, ca_ec.key, leaf_key, longer[i], &err);
		CHECK(leaf != NULL);
		if (!leaf)
			continue;
		check_leaf_common(leaf, ca_ec.cert, leaf_key);
		CHECK(!has_cn(leaf, cn, sizeof(cn)));
		dns[0] = '\0';
		CHECK(san_single(leaf, dns, sizeof(dns), ip, &iplen) == GEN_DNS);
		CHECK_STR_EQ(dns, longer[i]);
		CHECK(verify_for(ca_ec.cert, leaf, longer[i], &verr) == 1);
		CHECK(verr == X509_V_OK);
		X509_free(leaf);
	}
}

static void test_mint_leaf_rsa_ca(void)
{
	struct test_ca rsa;
	CHECK(make_ca(&rsa, 2048, CERT_CA));
	kn_error err = {0};
	X509 *leaf = kp_mint_leaf(rsa.cert, rsa.key, leaf_key, "rsa.example.com", &err);
	CHECK(leaf != NULL);
	if (leaf) {
		check_leaf_common(leaf, rsa.cert, leaf_key);
		CHECK(X509_get_signature_nid(leaf) == NID_sha256WithRSAEncryption);
		int verr;
		CHECK(verify_for(rsa.cert, leaf, "rsa.example.com", &verr) == 1);
		/* Not against another CA with the same subject. */
		CHECK(verify_for(ca_ec.cert, leaf, "rsa.example.com", &verr) != 1);
	}
	X509_free(leaf);
	free_ca(&rsa);
}

/* kp_ca_parse, expecting a refusal whose message holds `want`. */
static void check_ca_refused(const char *cert, size_t cert_len, const char *key, size_t key_len,
			     const char *want)
{
	X509 *c = (X509 *)1;
	EVP_PKEY *k = (EVP_PKEY *)1;
	kn_error err = {0};
	CHECK(kp_ca_parse(cert, cert_len, key, key_len, &c, &k, &err) == -1);
	CHECK(c == NULL && k == NULL);
	if (!strstr(err.msg, want)) {
		printf("  message \"%s\" lacks \"%s\"\n", err.msg, want);
		CHECK(strstr(err.msg, want) != NULL);
	}
	CHECK(ERR_peek_error() == 0); /* the error queue is left clean */
}

static void test_ca_parse_accepts(void)
{
	struct test_ca rsa;
	CHECK(make_ca(&rsa, 2048, CERT_CA));
	const struct test_ca *cas[] = { &ca_ec, &rsa };
	for (size_t i = 0; i < 2; i++) {
		X509 *c = NULL;
		EVP_PKEY *k = NULL;
		kn_error err = {0};
		CHECK(kp_ca_parse(cas[i]->cert_pem, cas[i]->cert_len, cas[i]->key_pem,
				  cas[i]->key_len, &c, &k, &err) == 0);
		CHECK(c != NULL && X509_cmp(c, cas[i]->cert) == 0);
		CHECK(k != NULL && EVP_PKEY_eq(k, cas[i]->key) == 1);
		X509_free(c);
		EVP_PKEY_free(k);
	}

	/* Trailing blank lines (CRLF too) are not garbage. */
	size_t clen, klen;
	char *cert = concat(ca_ec.cert_pem, "\r\n\n \t\n", &clen);
	char *key = concat(ca_ec.key_pem, "\n\n", &klen);
	X509 *c = NULL;
	EVP_PKEY *k = NULL;
	kn_error err = {0};
	CHECK(kp_ca_parse(cert, clen, key, klen, &c, &k, &err) == 0);
	X509_free(c);
	EVP_PKEY_free(k);
	free(cert);
	free(key);
	free_ca(&rsa);
}

static void test_ca_parse_refuses(void)
{
	const char *garbage = "this is not PEM at all\n";
	const char *bad_b64 = "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n";
	const char *cp = ca_ec.cert_pem, *kp = ca_ec.key_pem;
	size_t cl = ca_ec.cert_len, kl = ca_ec.key_len;

	check_ca_refused(garbage, strlen(garbage), kp, kl, "CA certificate");
	check_ca_refused(bad_b64, strlen(bad_b64), kp, kl, "CA certificate");
	check_ca_refused(cp, cl, garbage, strlen(garbage), "CA key");
	/* The key where the certificate belongs and the reverse. */
	check_ca_refused(kp, kl, cp, cl, "CA certificate");
	check_ca_refused(cp, cl, cp, cl, "CA key");
	/* Empty input. */
	check_ca_refused("", 0, kp, kl, "CA certificate");
	check_ca_refused(cp, cl, "", 0, "CA key");
	check_ca_refused("", 0, "", 0, "CA certificate");
	/* A prefix of a good PEM: cut in the middle of the base64. */
	check_ca_refused(cp, cl / 2, kp, kl, "CA certificate");
	check_ca_refused(cp, cl, kp, kl / 2, "CA key");

	/* Not a CA: an end-entity certificate (CA:FALSE) and a v1 certificate,
	 * each with its own matching key. */
	static const enum cert_kind not_ca[] = { CERT_END, CERT_V1 };
	for (size_t i = 0; i < 2; i++) {
		struct test_ca ee;
		CHECK(make_ca(&ee, 0, not_ca[i]));
		check_ca_refused(ee.cert_pem, ee.cert_len, ee.key_pem, ee.key_len, "not a CA");
		free_ca(&ee);
	}

	/* A key that does not match: another P-256 key and an RSA key. */
	struct test_ca other, rsa;
	CHECK(make_ca(&other, 0, CERT_CA));
	CHECK(make_ca(&rsa, 2048, CERT_CA));
	check_ca_refused(cp, cl, other.key_pem, other.key_len, "does not match");
	check_ca_refused(cp, cl, rsa.key_pem, rsa.key_len, "does not match");
	check_ca_refused(rsa.cert_pem, rsa.cert_len, kp, kl, "does not match");

	/* Two PEM blocks, and trailing garbage, in either field. */
	size_t len;
	char *two = concat(cp, other.cert_pem, &len);
	check_ca_refused(two, len, kp, kl, "more than one PEM block");
	free(two);
	two = concat(kp, other.key_pem, &len);
	check_ca_refused(cp, cl, two, len, "more than one PEM block");
	free(two);
	two = concat(cp, cp, &len);
	check_ca_refused(two, len, kp, kl, "more than one PEM block");
	free(two);
	two = concat(cp, "trailing words\n", &len);
	check_ca_refused(two, len, kp, kl, "more than one PEM block");
	free(two);
	two = concat(kp, "x", &len);
	check_ca_refused(cp, cl, two, len, "more than one PEM block");
	free(two);
	/* A NUL inside the text counts as garbage too. */
	char *nul = malloc(cl + 2);
	memcpy(nul, cp, cl);
	nul[cl] = '\0';
	nul[cl + 1] = 'A';
	check_ca_refused(nul, cl + 2, kp, kl, "more than one PEM block");
	free(nul);

	/* Text before the block (PEM_read_bio_* would skip it). */
	two = concat("hello world\n", cp, &len);
	check_ca_refused(two, len, kp, kl, "text before the PEM block");
	free(two);
	two = concat("hello world\n", kp, &len);
	check_ca_refused(cp, cl, two, len, "text before the PEM block");
	free(two);
	/* A CA without a subjectKeyIdentifier could never sign a leaf. */
	struct test_ca noski;
	CHECK(make_ca(&noski, 0, CERT_CA_NO_SKI));
	check_ca_refused(noski.cert_pem, noski.cert_len, noski.key_pem, noski.key_len,
			 "subjectKeyIdentifier");
	free_ca(&noski);
	/* An encrypted key fails at once (no passphrase prompt on a terminal). */
	BIO *eb = BIO_new(BIO_s_mem());
	CHECK(PEM_write_bio_PrivateKey(eb, ca_ec.key, EVP_aes_128_cbc(),
				       (unsigned char *)"pw", 2, NULL, NULL) == 1);
	char *enc;
	long elen = BIO_get_mem_data(eb, &enc);
	check_ca_refused(cp, cl, enc, (size_t)elen, "CA key");
	BIO_free(eb);

	free_ca(&other);
	free_ca(&rsa);
}

/* ---- tls.h: contexts ---- */

static void test_tls_init(void)
{
	struct kp_tls t;
	kn_error err = {0};
	if (!have_bundle) {
		/* No system bundle and no extra CA: no trusted CA at all, refused. */
		printf("  note: no %s (package ca-certificates)\n", X509_get_default_cert_file());
		CHECK(kp_tls_init(&t, NULL, 0, &err) == -1);
		CHECK(strstr(err.msg, "no trusted CA") != NULL);
		CHECK(t.upstream == NULL && t.server == NULL && t.leaf_key == NULL);
	}
	CHECK(kp_tls_init(&t, have_bundle ? NULL : ca_ec.cert_pem, have_bundle ? 0 : ca_ec.cert_len,
			  &err) == 0);
	CHECK(t.upstream != NULL && t.server != NULL && t.leaf_key != NULL);
	CHECK(SSL_CTX_get_min_proto_version(t.upstream) == TLS1_2_VERSION);
	CHECK(SSL_CTX_get_min_proto_version(t.server) == TLS1_2_VERSION);
	CHECK(SSL_CTX_get_verify_mode(t.upstream) & SSL_VERIFY_PEER);
	CHECK(EVP_PKEY_get_base_id(t.leaf_key) == EVP_PKEY_EC);
	/* The system bundle is in the upstream store. */
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(t.upstream));
	int n_system = objs ? sk_X509_OBJECT_num(objs) : 0;
	CHECK(!have_bundle || n_system > 10);
	kp_tls_free(&t);
	CHECK(t.upstream == NULL && t.server == NULL && t.leaf_key == NULL);

	/* With an extra CA: one more certificate in the store. */
	if (have_bundle) {
		CHECK(kp_tls_init(&t, ca_ec.cert_pem, ca_ec.cert_len, &err) == 0);
		objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(t.upstream));
		CHECK(objs != NULL && sk_X509_OBJECT_num(objs) == n_system + 1);
		kp_tls_free(&t);
	}

	/* Extra PEM that holds no certificate: refused, naming the problem. */
	static const char *const bad[] = {
		"garbage, not PEM\n",
		"",
		"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		CHECK(kp_tls_init(&t, bad[i], strlen(bad[i]), &err) == -1);
		if (!strstr(err.msg, "upstream CA")) {
			printf("  message \"%s\"\n", err.msg);
			CHECK(strstr(err.msg, "upstream CA") != NULL);
		}
		CHECK(t.upstream == NULL && t.server == NULL && t.leaf_key == NULL);
	}
	/* A key is not a certificate either. */
	memset(&err, 0, sizeof(err));
	CHECK(kp_tls_init(&t, ca_ec.key_pem, ca_ec.key_len, &err) == -1);
	CHECK(strstr(err.msg, "no PEM certificate") != NULL);
	ERR_clear_error();
	/* A good certificate followed by a damaged one: the whole file is
	 * refused, not trusted in part. */
	size_t len;
	char *tail = concat(ca_ec.cert_pem, bad[2], &len);
	memset(&err, 0, sizeof(err));
	CHECK(kp_tls_init(&t, tail, len, &err) == -1);
	CHECK(strstr(err.msg, "damaged") != NULL);
	free(tail);
	/* Text after the last block is fine (bundles carry comments). */
	tail = concat(ca_ec.cert_pem, "# end of bundle\n", &len);
	CHECK(kp_tls_init(&t, tail, len, &err) == 0);
	kp_tls_free(&t);
	free(tail);
	ERR_clear_error();
}

/* ---- tls.h: leaf cache ---- */

static const struct kp_leaf *cached(const struct kp_ca *ca, const char *host)
{
	for (size_t i = 0; i < ca->nleaves; i++)
		if (strcmp(ca->leaves[i].host, host) == 0)
			return &ca->leaves[i];
	return NULL;
}

/* The certificate kp_tls_client_ssl presents for `host` (the SSL is freed;
 * the cache keeps the certificate). */
static X509 *presented(struct kp_tls *t, struct kp_ca *ca, int fd, const char *host, SSL **keep)
{
	struct kp_sni_check sni = { .expect = host };
	kn_error err = {0};
	SSL *ssl = kp_tls_client_ssl(t, ca, fd, &sni, &err);
	if (!ssl) {
		printf("  kp_tls_client_ssl %s: %s\n", host, err.msg);
		return NULL;
	}
	X509 *x = SSL_get_certificate(ssl);
	if (keep)
		*keep = ssl;
	else
		SSL_free(ssl);
	return x;
}

static struct kp_tls tls;

static void test_leaf_cache(void)
{
	kn_error err = {0};
	struct kp_ca *ca = kp_ca_new(ca_ec.cert_pem, ca_ec.cert_len, ca_ec.key_pem, ca_ec.key_len,
				     &err);
	CHECK(ca != NULL);
	if (!ca)
		return;
	CHECK(ca->nleaves == 0);
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);

	X509 *a1 = presented(&tls, ca, sp[0], "a.example.com", NULL);
	X509 *a2 = presented(&tls, ca, sp[0], "a.example.com", NULL);
	CHECK(a1 != NULL && a1 == a2);
	CHECK(ca->nleaves == 1);
	X509 *b = presented(&tls, ca, sp[0], "b.example.com", NULL);
	CHECK(b != NULL && b != a1);
	CHECK(ca->nleaves == 2);
	/* The presented leaf is the one minted with the worker's key. */
	CHECK(b != NULL && EVP_PKEY_eq(X509_get0_pubkey(b), tls.leaf_key) == 1);
	int verr;
	CHECK(b != NULL && verify_for(ca_ec.cert, b, "b.example.com", &verr) == 1);

	/* A leaf close to its end is minted again, in the same slot. */
	SSL *hold = NULL;
	X509 *old = presented(&tls, ca, sp[0], "a.example.com", &hold);
	struct kp_leaf *slot = (struct kp_leaf *)cached(ca, "a.example.com");
	CHECK(slot != NULL);
	if (slot && old) {
		slot->not_after = time(NULL) + KP_LEAF_RENEW_S - 10;
		X509 *fresh = presented(&tls, ca, sp[0], "a.example.com", NULL);
		CHECK(fresh != NULL && fresh != old);
		CHECK(fresh && ASN1_INTEGER_cmp(X509_get0_serialNumber(fresh),
						X509_get0_serialNumber(old)) != 0);
		CHECK(ca->nleaves == 2);
		CHECK(slot->not_after > time(NULL) + KP_LEAF_RENEW_S);
		/* The SSL made before keeps its own reference to the old leaf. */
		CHECK(SSL_get_certificate(hold) == old);
	}
	SSL_free(hold);

	/* More hosts than the cache holds: it stays at the bound and drops the
	 * least recently used. */
	char host[64];
	X509 *first = presented(&tls, ca, sp[0], "h0.example.com", NULL);
	for (int i = 1; i < KP_LEAF_CACHE_MAX - 2; i++) {
		snprintf(host, sizeof(host), "h%d.example.com", i);
		CHECK(presented(&tls, ca, sp[0], host, NULL) != NULL);
	}
	CHECK(ca->nleaves == KP_LEAF_CACHE_MAX);
	/* Touch h0 and b: the oldest are now a, h1, h2, ... */
	CHECK(presented(&tls, ca, sp[0], "h0.example.com", NULL) == first);
	CHECK(presented(&tls, ca, sp[0], "b.example.com", NULL) == b);
	for (int i = KP_LEAF_CACHE_MAX - 2; i < KP_LEAF_CACHE_MAX + 10; i++) {
		snprintf(host, sizeof(host), "h%d.example.com", i);
		CHECK(presented(&tls, ca, sp[0], host, NULL) != NULL);
		CHECK(ca->nleaves == KP_LEAF_CACHE_MAX);
	}
	CHECK(ca->nleaves == KP_LEAF_CACHE_MAX);
	CHECK(cached(ca, "h0.example.com") != NULL && cached(ca, "h0.example.com")->cert == first);
	CHECK(cached(ca, "b.example.com") != NULL);
	CHECK(cached(ca, "a.example.com") == NULL);
	/* 12 new hosts evicted a and h1..h11; h12 on is kept. */
	CHECK(cached(ca, "h1.example.com") == NULL);
	CHECK(cached(ca, "h11.example.com") == NULL);
	CHECK(cached(ca, "h12.example.com") != NULL);
	snprintf(host, sizeof(host), "h%d.example.com", KP_LEAF_CACHE_MAX + 9);
	CHECK(cached(ca, host) != NULL);
	/* Every entry distinct. */
	size_t dup = 0;
	for (size_t i = 0; i < ca->nleaves; i++)
		for (size_t j = i + 1; j < ca->nleaves; j++)
			dup += strcmp(ca->leaves[i].host, ca->leaves[j].host) == 0;
	CHECK(dup == 0);

	close(sp[0]);
	close(sp[1]);
	kp_ca_free(ca);
	kp_ca_free(NULL);
}

/* kp_ca_new keeps the PEM; the first client SSL parses it and refuses a bad
 * pair with kp_ca_parse's reason, again at every later try. */
static void test_ca_refused_at_first_use(void)
{
	struct test_ca ee;
	CHECK(make_ca(&ee, 0, CERT_END));
	struct {
		const char *cert, *key;
		size_t cert_len, key_len;
		const char *want;
	} bad[] = {
		{ ee.cert_pem, ee.key_pem, ee.cert_len, ee.key_len, "not a CA" },
		{ ca_ec.cert_pem, ee.key_pem, ca_ec.cert_len, ee.key_len, "does not match" },
	};
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kn_error err = {0};
		struct kp_ca *ca = kp_ca_new(bad[i].cert, bad[i].cert_len, bad[i].key, bad[i].key_len,
					     &err);
		CHECK(ca != NULL);
		if (!ca)
			continue;
		struct kp_sni_check sni = { .expect = "a.example.com" };
		for (int attempt = 0; attempt < 2; attempt++) {
			err.msg[0] = '\0';
			CHECK(kp_tls_client_ssl(&tls, ca, sp[0], &sni, &err) == NULL);
			CHECK(strstr(err.msg, "sandbox CA") != NULL);
			CHECK(strstr(err.msg, bad[i].want) != NULL);
		}
		CHECK(ca->nleaves == 0);
		kp_ca_free(ca);
	}
	close(sp[0]);
	close(sp[1]);
	free_ca(&ee);
}

/* ---- tls.h: real handshakes ---- */

struct pair {
	int sp[2];
	SSL_CTX *client_ctx;
	SSL *client, *server;
	struct kp_sni_check sni;
	int cstate, sstate; /* 0 in progress, 1 done, -1 failed */
};

static SSL_CTX *client_ctx_trusting(X509 *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return NULL;
	/* A fresh store: only the test CA, no system bundle. */
	X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* A client that sends SNI `sni_sent` (NULL: none) and checks the certificate
 * names `check`, and the proxy's server SSL for `expect`, on a socketpair. */
static bool pair_open(struct pair *p, struct kp_ca *ca, const char *expect, const char *sni_sent,
		      const char *check, const unsigned char *alpn, unsigned alpn_len)
{
	memset(p, 0, sizeof(*p));
	p->sp[0] = p->sp[1] = -1;
	p->sni.expect = expect;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->sp) < 0)
		return false;
	p->client_ctx = client_ctx_trusting(ca_ec.cert);
	p->client = p->client_ctx ? SSL_new(p->client_ctx) : NULL;
	if (!p->client || !SSL_set_fd(p->client, p->sp[0]))
		return false;
	if (sni_sent && !SSL_set_tlsext_host_name(p->client, sni_sent))
		return false;
	X509_VERIFY_PARAM *param = SSL_get0_param(p->client);
	unsigned char bin[16];
	bool is_ip = inet_pton(AF_INET, check, bin) == 1 || inet_pton(AF_INET6, check, bin) == 1;
	if (!(is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, check)
		    : X509_VERIFY_PARAM_set1_host(param, check, 0)))
		return false;
	if (alpn && SSL_set_alpn_protos(p->client, alpn, alpn_len) != 0)
		return false;
	SSL_set_connect_state(p->client);
	kn_error err = {0};
	p->server = kp_tls_client_ssl(&tls, ca, p->sp[1], &p->sni, &err);
	if (!p->server)
		printf("  kp_tls_client_ssl: %s\n", err.msg);
	return p->server != NULL;
}

static void step(SSL *ssl, int *state)
{
	if (*state)
		return;
	int r = SSL_do_handshake(ssl);
	if (r == 1) {
		*state = 1;
		return;
	}
	int e = SSL_get_error(ssl, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		*state = -1;
}

/* Both sides until each has finished or failed (bounded: a stuck handshake
 * leaves a state at 0, which the checks catch). */
static void pair_handshake(struct pair *p)
{
	for (int i = 0; i < 1000 && (!p->cstate || !p->sstate); i++) {
		step(p->client, &p->cstate);
		step(p->server, &p->sstate);
	}
	ERR_clear_error();
}

static void pair_close(struct pair *p)
{
	/* A clean close both ways: OpenSSL drops the session of an SSL freed
	 * without close_notify, which would hide a resumption. */
	if (p->cstate == 1 && p->sstate == 1) {
		SSL_shutdown(p->client);
		SSL_shutdown(p->server);
		SSL_shutdown(p->client);
		ERR_clear_error();
	}
	SSL_free(p->client);
	SSL_free(p->server);
	SSL_CTX_free(p->client_ctx);
	if (p->sp[0] >= 0)
		close(p->sp[0]);
	if (p->sp[1] >= 0)
		close(p->sp[1]);
}

/* Application bytes both ways over a finished handshake. */
static bool pair_echo(struct pair *p)
{
	char buf[16] = "";
	if (SSL_write(p->client, "ping", 4) != 4 || SSL_read(p->server, buf, sizeof(buf)) != 4 ||
	    memcmp(buf, "ping", 4) != 0)
		return false;
	return SSL_write(p->server, "pong", 4) == 4 && SSL_read(p->client, buf, sizeof(buf)) == 4 &&
	       memcmp(buf, "pong", 4) == 0;
}

static struct kp_ca *hs_ca;

static void test_handshake_sni(void)
{
	struct pair p;

	/* SNI naming the CONNECT host: done, the client verifies the leaf. */
	CHECK(pair_open(&p, hs_ca, "api.example.com", "api.example.com", "api.example.com", NULL,
			0));
	pair_handshake(&p);
	CHECK(p.cstate == 1 && p.sstate == 1);
	CHECK(SSL_get_verify_result(p.client) == X509_V_OK);
	CHECK(!p.sni.mismatch && p.sni.seen[0] == '\0');
	CHECK(SSL_version(p.client) >= TLS1_2_VERSION);
	X509 *peer = SSL_get1_peer_certificate(p.client);
	CHECK(peer != NULL && X509_cmp(peer, SSL_get_certificate(p.server)) == 0);
	X509_free(peer);
	CHECK(pair_echo(&p));
	pair_close(&p);

	/* The same name in another spelling (case, trailing dot): after
	 * kn_host_canon it is the CONNECT host. */
	CHECK(pair_open(&p, hs_ca, "api.example.com", "API.Example.COM.", "api.example.com", NULL,
			0));
	pair_handshake(&p);
	CHECK(p.cstate == 1 && p.sstate == 1 && !p.sni.mismatch);
	pair_close(&p);

	/* Another SNI: the handshake fails on both sides and the check records it. */
	CHECK(pair_open(&p, hs_ca, "api.example.com", "evil.example.net", "api.example.com", NULL,
			0));
	pair_handshake(&p);
	CHECK(p.cstate == -1 && p.sstate == -1);
	CHECK(p.sni.mismatch);
	CHECK_STR_EQ(p.sni.seen, "evil.example.net");
	pair_close(&p);

	/* A subdomain of the CONNECT host is another host. */
	CHECK(pair_open(&p, hs_ca, "example.com", "api.example.com", "example.com", NULL, 0));
	pair_handshake(&p);
	CHECK(p.cstate == -1 && p.sstate == -1 && p.sni.mismatch);
	pair_close(&p);

	/* An SNI that is no host name at all: refused, recorded printable. */
	CHECK(pair_open(&p, hs_ca, "api.example.com", "bad\x01name", "api.example.com", NULL, 0));
	pair_handshake(&p);
	CHECK(p.sstate == -1 && p.sni.mismatch);
	CHECK_STR_EQ(p.sni.seen, "bad?name");
	pair_close(&p);

	/* No SNI at all: accepted. */
	CHECK(pair_open(&p, hs_ca, "api.example.com", NULL, "api.example.com", NULL, 0));
	pair_handshake(&p);
	CHECK(p.cstate == 1 && p.sstate == 1);
	CHECK(SSL_get_verify_result(p.client) == X509_V_OK);
	CHECK(!p.sni.mismatch);
	CHECK(pair_echo(&p));
	pair_close(&p);

	/* An IP literal CONNECT host, no SNI (as clients do): the leaf's IP SAN
	 * verifies. */
	CHECK(pair_open(&p, hs_ca, "192.0.2.7", NULL, "192.0.2.7", NULL, 0));
	pair_handshake(&p);
	CHECK(p.cstate == 1 && p.sstate == 1);
	CHECK(SSL_get_verify_result(p.client) == X509_V_OK);
	pair_close(&p);
	CHECK(pair_open(&p, hs_ca, "2001:db8::1", NULL, "2001:db8::1", NULL, 0));
	pair_handshake(&p);
	CHECK(p.cstate == 1 && p.sstate == 1);
	pair_close(&p);

	/* A client checking for another name than the leaf's refuses it. */
	CHECK(pair_open(&p, hs_ca, "api.example.com", NULL, "other.example.com", NULL, 0));
	pair_handshake(&p);
	CHECK(p.cstate == -1);
	CHECK(SSL_get_verify_result(p.client) == X509_V_ERR_HOSTNAME_MISMATCH);
	pair_close(&p);
}

static void test_handshake_alpn(void)
{
	static const unsigned char h2_h11[] = "\x02h2\x08http/1.1";
	static const unsigned char h2[] = "\x02h2";
	const unsigned char *sel;
	unsigned sel_len;
	struct pair p;

	CHECK(pair_open(&p, hs_ca, "api.example.com", "api.example.com", "api.example.com", h2_h11,
			sizeof(h2_h11) - 1));
	pair_handshake(&p);
	CHECK(p.cstate == 1 && p.sstate == 1);
	SSL_get0_alpn_selected(p.client, &sel, &sel_len);
	CHECK(sel_len == 8 && memcmp(sel, "http/1.1", 8) == 0);
	SSL_get0_alpn_selected(p.server, &sel, &sel_len);
	CHECK(sel_len == 8 && memcmp(sel, "http/1.1", 8) == 0);
	pair_close(&p);

	/* Only h2: no ALPN answer, and the handshake still completes. */
	CHECK(pair_open(&p, hs_ca, "api.example.com", "api.example.com", "api.example.com", h2,
			sizeof(h2) - 1));
	pair_handshake(&p);
	CHECK(p.cstate == 1 && p.sstate == 1);
	SSL_get0_alpn_selected(p.client, &sel, &sel_len);
	CHECK(sel == NULL && sel_len == 0);
	SSL_get0_alpn_selected(p.server, &sel, &sel_len);
	CHECK(sel_len == 0);
	CHECK(pair_echo(&p));
	pair_close(&p);

	/* No ALPN offered: none selected. */
	CHECK(pair_open(&p, hs_ca, "api.example.com", "api.example.com", "api.example.com", NULL,
			0));
	pair_handshake(&p);
	CHECK(p.cstate == 1 && p.sstate == 1);
	SSL_get0_alpn_selected(p.client, &sel, &sel_len);
	CHECK(sel_len == 0);
	pair_close(&p);
}

/* No resumption: a session from one connection does not skip the next
 * handshake (and with it the SNI check). */
static void test_handshake_no_resumption(void)
{
	static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	for (size_t i = 0; i < 2; i++) {
		struct pair p;
		CHECK(pair_open(&p, hs_ca, "api.example.com", "api.example.com", "api.example.com",
				NULL, 0));
		SSL_set_max_proto_version(p.client, versions[i]);
		pair_handshake(&p);
		CHECK(p.cstate == 1 && p.sstate == 1);
		CHECK(SSL_version(p.client) == versions[i]);
		/* TLS 1.3 tickets arrive after the handshake: read to get any. */
		char buf[8];
		CHECK(pair_echo(&p));
		(void)SSL_read(p.client, buf, sizeof(buf));
		ERR_clear_error();
		SSL_SESSION *sess = SSL_get1_session(p.client);
		pair_close(&p);

		CHECK(pair_open(&p, hs_ca, "api.example.com", "api.example.com", "api.example.com",
				NULL, 0));
		SSL_set_max_proto_version(p.client, versions[i]);
		if (sess)
			SSL_set_session(p.client, sess);
		pair_handshake(&p);
		CHECK(p.cstate == 1 && p.sstate == 1);
		CHECK(!SSL_session_reused(p.client) && !SSL_session_reused(p.server));
		pair_close(&p);
		SSL_SESSION_free(sess);
	}
}

/* A client that only speaks TLS 1.1 or below is refused. */
static void test_handshake_old_versions(void)
{
	struct pair p;
	CHECK(pair_open(&p, hs_ca, "api.example.com", "api.example.com", "api.example.com", NULL,
			0));
	SSL_set_security_level(p.client, 0);
	SSL_set_min_proto_version(p.client, TLS1_VERSION);
	SSL_set_max_proto_version(p.client, TLS1_1_VERSION);
	pair_handshake(&p);
	CHECK(p.cstate == -1 && p.sstate == -1);
	pair_close(&p);
}

/* A plain OpenSSL server presenting a leaf minted for `host` by the test CA
 * (no SNI check: the upstream side's own verification is under test). */
static SSL_CTX *upstream_server_ctx(const char *host)
{
	kn_error err = {0};
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *leaf = kp_mint_leaf(ca_ec.cert, ca_ec.key, leaf_key, host, &err);
	bool ok = ctx && leaf && SSL_CTX_use_certificate(ctx, leaf) == 1 &&
		  SSL_CTX_use_PrivateKey(ctx, leaf_key) == 1;
	X509_free(leaf);
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* kp_tls_upstream_ssl against a server with a leaf of the test CA: with the
 * CA as --upstream-ca (extra PEM) it verifies, for the right name only; with
 * the system bundle alone it does not. */
static void test_upstream_verify(void)
{
	struct kp_tls up;
	kn_error err = {0};
	CHECK(kp_tls_init(&up, ca_ec.cert_pem, ca_ec.cert_len, &err) == 0);
	static const struct {
		const char *leaf_host, *dial_host;
		bool system_only, ok, sni;
	} cases[] = {
		{ "api.example.com", "api.example.com", false, true, true },
		{ "192.0.2.7", "192.0.2.7", false, true, false },
		{ "2001:db8::1", "2001:db8::1", false, true, false },
		{ "api.example.com", "other.example.com", false, false, true },
		{ "api.example.com", "x.api.example.com", false, false, true },
		{ "192.0.2.7", "192.0.2.8", false, false, false },
		{ "api.example.com", "api.example.com", true, false, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int sp[2];
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
		SSL_CTX *sctx = upstream_server_ctx(cases[i].leaf_host);
		SSL *server = sctx ? SSL_new(sctx) : NULL;
		SSL *client = kp_tls_upstream_ssl(cases[i].system_only ? &tls : &up, sp[0],
						  cases[i].dial_host, &err);
		CHECK(server != NULL && client != NULL);
		if (server && client && SSL_set_fd(server, sp[1])) {
			SSL_set_accept_state(server);
			int cs = 0, ss = 0;
			for (int n = 0; n < 1000 && (!cs || !ss); n++) {
				step(client, &cs);
				step(server, &ss);
			}
			ERR_clear_error();
			const char *sent = SSL_get_servername(server, TLSEXT_NAMETYPE_host_name);
			if (cases[i].sni)
				CHECK(sent && strcmp(sent, cases[i].dial_host) == 0);
			else
				CHECK(sent == NULL);
			if (cases[i].ok) {
				CHECK(cs == 1 && ss == 1);
				CHECK(kp_tls_verify_error(client) == NULL);
			} else {
				CHECK(cs == -1);
				const char *why = kp_tls_verify_error(client);
				CHECK(why != NULL);
				if (why && !cases[i].system_only)
					CHECK(strstr(why, "mismatch") != NULL);
				if (cases[i].system_only)
					CHECK(SSL_get_verify_result(client) ==
					      X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
			}
		}
		SSL_free(client);
		SSL_free(server);
		SSL_CTX_free(sctx);
		close(sp[0]);
		close(sp[1]);
	}
	kp_tls_free(&up);
}

/* The upstream context offers ALPN http/1.1: the proxy's own server side
 * selects it. */
static void test_upstream_alpn(void)
{
	struct kp_tls up;
	kn_error err = {0};
	CHECK(kp_tls_init(&up, ca_ec.cert_pem, ca_ec.cert_len, &err) == 0);
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) == 0);
	struct kp_sni_check sni = { .expect = "api.example.com" };
	SSL *server = kp_tls_client_ssl(&tls, hs_ca, sp[1], &sni, &err);
	SSL *client = kp_tls_upstream_ssl(&up, sp[0], "api.example.com", &err);
	CHECK(server && client);
	if (server && client) {
		int cs = 0, ss = 0;
		for (int n = 0; n < 1000 && (!cs || !ss); n++) {
			step(client, &cs);
			step(server, &ss);
		}
		ERR_clear_error();
		CHECK(cs == 1 && ss == 1 && !sni.mismatch);
		const unsigned char *sel;
		unsigned sel_len;
		SSL_get0_alpn_selected(client, &sel, &sel_len);
		CHECK(sel_len == 8 && memcmp(sel, "http/1.1", 8) == 0);
	}
	SSL_free(client);
	SSL_free(server);
	close(sp[0]);
	close(sp[1]);
	kp_tls_free(&up);
}

int main(void)
{
	/* A peer that gave up must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	kn_error err = {0};
	have_bundle = access(X509_get_default_cert_file(), R_OK) == 0;
	if (!make_ca(&ca_ec, 0, CERT_CA) || !make_ca(&ca_unrelated, 0, CERT_CA) ||
	    !(leaf_key = kp_mint_key(&err)) ||
	    kp_tls_init(&tls, have_bundle ? NULL : ca_unrelated.cert_pem,
			have_bundle ? 0 : ca_unrelated.cert_len, &err) < 0 ||
	    !(hs_ca = kp_ca_new(ca_ec.cert_pem, ca_ec.cert_len, ca_ec.key_pem, ca_ec.key_len,
				&err))) {
		printf("FAIL setup: %s\n", err.msg);
		return 1;
	}
	RUN(test_mint_key);
	RUN(test_mint_leaf_name);
	RUN(test_mint_leaf_ip);
	RUN(test_mint_leaf_long_names);
	RUN(test_mint_leaf_rsa_ca);
	RUN(test_ca_parse_accepts);
	RUN(test_ca_parse_refuses);
	RUN(test_tls_init);
	RUN(test_leaf_cache);
	RUN(test_ca_refused_at_first_use);
	RUN(test_handshake_sni);
	RUN(test_handshake_alpn);
	RUN(test_handshake_no_resumption);
	RUN(test_handshake_old_versions);
	RUN(test_upstream_verify);
	RUN(test_upstream_alpn);
	kp_ca_free(hs_ca);
	kp_tls_free(&tls);
	EVP_PKEY_free(leaf_key);
	free_ca(&ca_ec);
	free_ca(&ca_unrelated);
	return test_summary();
}
