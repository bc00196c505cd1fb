/* Unit tests of the per-sandbox kennel CA (src/daemon/ca.h), checked with
 * OpenSSL itself: the key is EC P-256, the certificate a v3 CA limited to
 * signing leaves, self-signed and verifying, and a leaf it signs verifies
 * against a store holding only it (X509_STRICT, as Python 3.13 checks). Also
 * the files in a sandbox folder (modes, owner, reuse, repair), the
 * fingerprint and the PEM certificate counter behind kenneld --upstream-ca. */
#define _GNU_SOURCE
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "daemon/ca.h"
#include "test.h"

static char tmpdir[] = "/tmp/kennel-test-ca.XXXXXX";

static X509 *cert_of(const struct kn_ca_pem *pem)
{
	BIO *b = BIO_new_mem_buf(pem->cert, (int)pem->cert_len);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

static EVP_PKEY *key_of(const struct kn_ca_pem *pem)
{
	BIO *b = BIO_new_mem_buf(pem->key, (int)pem->key_len);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	return k;
}

static int ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);
	return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* The key in `pem` is the certificate's. */
static int pair_matches(const struct kn_ca_pem *pem)
{
	X509 *x = cert_of(pem);
	EVP_PKEY *k = key_of(pem);
	int ok = x && k && X509_check_private_key(x, k) == 1;
	X509_free(x);
	EVP_PKEY_free(k);
	return ok;
}

static void name_field(X509_NAME *n, int nid, char *out, size_t len)
{
	out[0] = '\0';
	X509_NAME_get_text_by_NID(n, nid, out, (int)len);
}

/* "kennel sandbox CA " and the serial's last 4 bytes in hex, computed from
 * the serial through BIGNUM (not as ca.c does it). */
static const char *cn_of_serial(X509 *x)
{
	static char cn[64];
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	BN_mask_bits(bn, 32);
	snprintf(cn, sizeof(cn), "kennel sandbox CA %08lx", (unsigned long)BN_get_word(bn));
	BN_free(bn);
	return cn;
}

static void test_ca_certificate(void)
{
	struct kn_ca_pem pem;
	kn_error err = {0};
	time_t now = time(NULL);
	CHECK(kn_ca_make(now, &pem, NULL, &err) == 0);
	if (!pem.cert) {
		printf("  %s\n", err.msg);
		return;
	}
	CHECK(strstr(pem.cert, "-----BEGIN CERTIFICATE-----") == pem.cert);
	CHECK(strlen(pem.cert) == pem.cert_len);
	CHECK(strstr(pem.key, "-----BEGIN PRIVATE KEY-----") == pem.key);
	CHECK(strlen(pem.key) == pem.key_len);
	X509 *x = cert_of(&pem);
	EVP_PKEY *key = key_of(&pem);
	CHECK(x != NULL);
	CHECK(key != NULL);
	if (!x || !key)
		goto out;
	/* The key's PEM is written by hand (ca.c): byte for byte OpenSSL's. */
	BIO *ob = BIO_new(BIO_s_mem());
	char *ours = NULL;
	long on = ob && PEM_write_bio_PrivateKey(ob, key, NULL, NULL, 0, NULL, NULL) ?
			  BIO_get_mem_data(ob, &ours) : -1;
	CHECK(on == (long)pem.key_len);
	CHECK(on == (long)pem.key_len && memcmp(ours, pem.key, pem.key_len) == 0);
	BIO_free(ob);
	/* EC P-256, in the certificate and the key, and they match. */
	EVP_PKEY *pub = X509_get0_pubkey(x);
	char group[64] = "";
	size_t glen = 0;
	CHECK(EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC);
	CHECK(EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen) == 1);
	CHECK_STR_EQ(group, "prime256v1");
	CHECK(EVP_PKEY_get_bits(key) == 256);
	CHECK(X509_check_private_key(x, key) == 1);
	/* v3, self-issued and self-signed, the signature verifies. */
	CHECK(X509_get_version(x) == X509_VERSION_3);
	CHECK(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0);
	CHECK(X509_verify(x, pub) == 1);
	CHECK(X509_get_signature_nid(x) == NID_ecdsa_with_SHA256);
	char cn[128], o[64];
	name_field(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	name_field(X509_get_subject_name(x), NID_organizationName, o, sizeof(o));
	CHECK_STR_EQ(cn, cn_of_serial(x));
	CHECK_STR_EQ(o, "kennel");
	/* A CA for leaves only: CA:TRUE pathlen:0, keyCertSign + cRLSign, both
	 * critical; key identifiers present. */
	CHECK(X509_check_ca(x) == 1);
	CHECK(X509_get_pathlen(x) == 0);
	CHECK(ext_critical(x, NID_basic_constraints));
	CHECK(ext_critical(x, NID_key_usage));
	CHECK((X509_get_extension_flags(x) & EXFLAG_KUSAGE) != 0);
	CHECK(X509_get_key_usage(x) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
	CHECK(X509_get0_subject_key_id(x) != NULL);
	CHECK(X509_get0_authority_key_id(x) != NULL);
	CHECK(!ext_critical(x, NID_subject_key_identifier));
	/* 128-bit positive serial. */
	BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	CHECK(serial && BN_num_bits(serial) == 128 && !BN_is_negative(serial));
	BN_free(serial);
	/* From an hour ago for ten years. */
	int days = -1, secs = -1;
	time_t back = now - 3600;
	ASN1_TIME *t = ASN1_TIME_set(NULL, back);
	CHECK(ASN1_TIME_diff(&days, &secs, t, X509_get0_notBefore(x)) == 1 && days == 0 && secs == 0);
	CHECK(ASN1_TIME_diff(&days, &secs, t, X509_get0_notAfter(x)) == 1 && days == 3650 && secs == 0);
	ASN1_TIME_free(t);
out:
	X509_free(x);
	EVP_PKEY_free(key);
	kn_ca_pem_clear(&pem);
	CHECK(pem.key == NULL && pem.cert == NULL);
}

static int add_leaf_ext(X509 *leaf, X509 *ca, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, ca, leaf, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = e && X509_add_ext(leaf, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

/* What kennel-proxy will do with it: sign a leaf for a host; the leaf
 * verifies against a store holding only this CA, strictly. */
static void test_ca_signs_a_verifying_leaf(void)
{
	struct kn_ca_pem pem;
	kn_error err;
	CHECK(kn_ca_make(time(NULL), &pem, NULL, &err) == 0);
	X509 *ca = cert_of(&pem);
	EVP_PKEY *ca_key = key_of(&pem);
	EVP_PKEY *leaf_key = EVP_EC_gen("P-256");
	X509 *leaf = X509_new();
	CHECK(ca && ca_key && leaf_key && leaf);
	if (!ca || !ca_key || !leaf_key || !leaf)
		goto out;
	X509_set_version(leaf, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(leaf), 4242);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(leaf), "CN", MBSTRING_ASC,
				   (const unsigned char *)"api.example.test", -1, -1, 0);
	X509_set_issuer_name(leaf, X509_get_subject_name(ca));
	X509_gmtime_adj(X509_getm_notBefore(leaf), -60);
	X509_gmtime_adj(X509_getm_notAfter(leaf), 86400);
	X509_set_pubkey(leaf, leaf_key);
	CHECK(add_leaf_ext(leaf, ca, NID_basic_constraints, "critical,CA:FALSE"));
	CHECK(add_leaf_ext(leaf, ca, NID_key_usage, "critical,digitalSignature"));
	CHECK(add_leaf_ext(leaf, ca, NID_ext_key_usage, "serverAuth"));
	CHECK(add_leaf_ext(leaf, ca, NID_subject_alt_name, "DNS:api.example.test"));
	CHECK(add_leaf_ext(leaf, ca, NID_subject_key_identifier, "hash"));
	CHECK(add_leaf_ext(leaf, ca, NID_authority_key_identifier, "keyid:always"));
	CHECK(X509_sign(leaf, ca_key, EVP_sha256()) > 0);

	X509_STORE *store = X509_STORE_new();
	X509_STORE_add_cert(store, ca);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), "api.example.test", 0);
	int ok = X509_verify_cert(ctx);
	if (ok != 1)
		printf("  verify: %s\n", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	CHECK(ok == 1);
	X509_STORE_CTX_free(ctx);

	/* ...and not against another sandbox's CA. */
	struct kn_ca_pem other;
	CHECK(kn_ca_make(time(NULL), &other, NULL, &err) == 0);
	X509 *oca = cert_of(&other);
	X509_STORE *ostore = X509_STORE_new();
	X509_STORE_add_cert(ostore, oca);
	ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, ostore, leaf, NULL);
	CHECK(X509_verify_cert(ctx) != 1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(ostore);
	X509_free(oca);
	kn_ca_pem_clear(&other);
	X509_STORE_free(store);
	ERR_clear_error();
out:
	X509_free(leaf);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	kn_ca_pem_clear(&pem);
}

static void test_two_cas_differ(void)
{
	struct kn_ca_pem a, b;
	kn_error err;
	CHECK(kn_ca_make(time(NULL), &a, NULL, &err) == 0);
	CHECK(kn_ca_make(time(NULL), &b, NULL, &err) == 0);
	CHECK(strcmp(a.cert, b.cert) != 0);
	CHECK(strcmp(a.key, b.key) != 0);
	X509 *xa = cert_of(&a), *xb = cert_of(&b);
	CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(xa), X509_get0_serialNumber(xb)) != 0);
	X509_free(xa);
	X509_free(xb);
	kn_ca_pem_clear(&a);
	kn_ca_pem_clear(&b);
}

/* A key made ahead (idle work) serves one CA only: the CA after it, and one
 * made ahead again after that, each get their own. */
static void test_key_ahead_used_once(void)
{
	struct kn_ca_pem a, b, c;
	kn_error err;
	kn_ca_key_ahead();
	kn_ca_key_ahead(); /* a second call keeps the waiting key */
	CHECK(kn_ca_make(time(NULL), &a, NULL, &err) == 0);
	CHECK(kn_ca_make(time(NULL), &b, NULL, &err) == 0);
	kn_ca_key_ahead();
	CHECK(kn_ca_make(time(NULL), &c, NULL, &err) == 0);
	CHECK(strcmp(a.key, b.key) != 0 && strcmp(b.key, c.key) != 0 && strcmp(a.key, c.key) != 0);
	CHECK(pair_matches(&a));
	kn_ca_pem_clear(&a);
	kn_ca_pem_clear(&b);
	kn_ca_pem_clear(&c);
}

/* Two CAs: each CN ends in its own serial's last 4 bytes, so they differ. */
static void test_cn_from_serial(void)
{
	struct kn_ca_pem a, b;
	kn_error err = {0};
	CHECK(kn_ca_make(time(NULL), &a, NULL, &err) == 0);
	CHECK(kn_ca_make(time(NULL), &b, NULL, &err) == 0);
	if (!a.cert || !b.cert) {
		printf("  %s\n", err.msg);
		return;
	}
	X509 *xa = cert_of(&a), *xb = cert_of(&b);
	char ca[128], cb[128];
	name_field(X509_get_subject_name(xa), NID_commonName, ca, sizeof(ca));
	name_field(X509_get_subject_name(xb), NID_commonName, cb, sizeof(cb));
	CHECK_STR_EQ(ca, cn_of_serial(xa));
	CHECK(strlen(ca) == strlen("kennel sandbox CA ") + 8);
	CHECK(strcmp(ca, cb) != 0);
	X509_free(xa);
	X509_free(xb);
	kn_ca_pem_clear(&a);
	kn_ca_pem_clear(&b);
}

static void test_fingerprint(void)
{
	struct kn_ca_pem pem;
	kn_error err;
	struct kn_ca_info made, parsed;
	CHECK(kn_ca_make(time(NULL), &pem, &made, &err) == 0);
	CHECK(kn_ca_describe(pem.cert, pem.cert_len, &parsed, &err) == 0);
	CHECK(strlen(made.fingerprint) == 95);
	CHECK_STR_EQ(made.fingerprint, parsed.fingerprint);
	X509 *x = cert_of(&pem);
	unsigned char md[32];
	unsigned int n;
	X509_digest(x, EVP_sha256(), md, &n);
	char first[4];
	snprintf(first, sizeof(first), "%02X:", md[0]);
	CHECK(strncmp(made.fingerprint, first, 3) == 0);
	/* The hash the trust store's c_rehash link is named after. */
	CHECK(made.subject_hash == X509_subject_name_hash(x));
	CHECK(parsed.subject_hash == made.subject_hash);
	X509_free(x);
	CHECK(kn_ca_describe("not a certificate", 17, &parsed, &err) < 0);
	CHECK(parsed.fingerprint[0] == '\0');
	kn_ca_pem_clear(&pem);
}

static mode_t mode_of(const char *dir, const char *file, uid_t *uid)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	if (lstat(p, &st) < 0)
		return (mode_t)-1;
	if (uid)
		*uid = st.st_uid;
	return st.st_mode & 07777;
}

static char *slurp(const char *dir, const char *file)
{
	char p[512], *data = NULL;
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	if (kn_read_file(p, 1 << 20, &data, NULL, NULL) < 0)
		return NULL;
	return data;
}

static void test_files(void)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/sb", tmpdir);
	CHECK(mkdir(dir, 0700) == 0);
	kn_error err = {0};
	int made = -1;
	/* Owned by a uid that is not ours, as kenneld gives it to kennel-proxy. */
	uid_t owner = 4242;
	struct kn_ca_info info = {0};
	CHECK(kn_ca_present(dir, &info) == 0);
	CHECK(kn_ca_ensure(dir, owner, owner, &info, &made, &err) == 0);
	if (err.msg[0])
		printf("  %s\n", err.msg);
	CHECK(made == 1);
	CHECK(strlen(info.fingerprint) == 95);
	uid_t uid = 0;
	CHECK(mode_of(dir, KN_CA_KEY_FILE, &uid) == 0400);
	CHECK(uid == owner);
	CHECK(mode_of(dir, KN_CA_CERT_FILE, &uid) == 0644);
	CHECK(uid == 0);
	struct kn_ca_info read_back;
	CHECK(kn_ca_present(dir, &read_back) == 1);
	CHECK_STR_EQ(read_back.fingerprint, info.fingerprint);
	CHECK(read_back.subject_hash == info.subject_hash);

	/* Kept when complete; the key's mode and owner are put right. */
	char *cert1 = slurp(dir, KN_CA_CERT_FILE);
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, KN_CA_KEY_FILE);
	CHECK(chmod(p, 0644) == 0);
	CHECK(chown(p, 0, 0) == 0);
	CHECK(kn_ca_ensure(dir, owner, owner, &info, &made, &err) == 0);
	CHECK(made == 0);
	/* Unknown to the caller (a daemon that just started): parsed, kept. */
	struct kn_ca_info fresh = {0};
	CHECK(kn_ca_ensure(dir, owner, owner, &fresh, &made, &err) == 0);
	CHECK(made == 0);
	CHECK_STR_EQ(fresh.fingerprint, info.fingerprint);
	CHECK(mode_of(dir, KN_CA_KEY_FILE, &uid) == 0400);
	CHECK(uid == owner);
	char *cert2 = slurp(dir, KN_CA_CERT_FILE);
	CHECK(cert1 && cert2 && !strcmp(cert1, cert2));

	/* Loaded back: the pair matches. */
	struct kn_ca_pem pem;
	CHECK(kn_ca_load(dir, &pem, &err) == 0);
	CHECK(pem.cert && cert1 && !strcmp(pem.cert, cert1));
	CHECK(pair_matches(&pem));
	kn_ca_pem_clear(&pem);

	/* A lone certificate (a key lost) is not a CA: a new pair replaces it. */
	CHECK(unlink(p) == 0);
	CHECK(kn_ca_present(dir, &read_back) == 0);
	CHECK(kn_ca_load(dir, &pem, &err) < 0);
	CHECK(kn_ca_ensure(dir, owner, owner, &info, &made, &err) == 0);
	CHECK(made == 1);
	char *cert3 = slurp(dir, KN_CA_CERT_FILE);
	CHECK(cert3 && cert1 && strcmp(cert1, cert3) != 0);
	CHECK(kn_ca_present(dir, &read_back) == 1);
	CHECK_STR_EQ(read_back.fingerprint, info.fingerprint);

	/* What a power loss leaves of files written without fsync: a key of
	 * zeros or of nothing, a certificate of zeros. Each pair is made anew,
	 * even when the caller still holds the old one's description. */
	static const struct {
		const char *file;
		size_t zeros;
	} torn[] = { { KN_CA_KEY_FILE, 0 }, { KN_CA_KEY_FILE, 241 }, { KN_CA_CERT_FILE, 600 } };
	for (size_t i = 0; i < sizeof(torn) / sizeof(torn[0]); i++) {
		char old_fp[KN_CA_FINGERPRINT_LEN];
		snprintf(old_fp, sizeof(old_fp), "%s", info.fingerprint);
		char f[512];
		snprintf(f, sizeof(f), "%s/%s", dir, torn[i].file);
		FILE *fp = fopen(f, "w");
		CHECK(fp != NULL);
		for (size_t z = 0; fp && z < torn[i].zeros; z++)
			fputc(0, fp);
		if (fp)
			fclose(fp);
		CHECK(kn_ca_present(dir, &read_back) == 0);
		if (!strcmp(torn[i].file, KN_CA_CERT_FILE))
			info.fingerprint[0] = '\0'; /* a key intact, the certificate not: parsed */
		CHECK(kn_ca_ensure(dir, owner, owner, &info, &made, &err) == 0);
		CHECK(made == 1);
		CHECK(strcmp(old_fp, info.fingerprint) != 0);
		CHECK(kn_ca_present(dir, &read_back) == 1);
		CHECK_STR_EQ(read_back.fingerprint, info.fingerprint);
	}
	/* No temp file left behind. */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) -eq 2", dir);
	CHECK(system(cmd) == 0);
	free(cert1);
	free(cert2);
	free(cert3);
}

static void test_count_certs(void)
{
	struct kn_ca_pem a, b;
	kn_error err = {0};
	CHECK(kn_ca_make(time(NULL), &a, NULL, &err) == 0);
	CHECK(kn_ca_make(time(NULL), &b, NULL, &err) == 0);
	char buf[8192];
	int n = snprintf(buf, sizeof(buf), "# two CAs\n%s\nsome text between\n%s", a.cert, b.cert);
	CHECK(kn_ca_count_certs(buf, (size_t)n, &err) == 2);
	CHECK(kn_ca_count_certs(a.cert, a.cert_len, &err) == 1);
	CHECK(kn_ca_count_certs("", 0, &err) == 0);
	CHECK(kn_ca_count_certs("hello\n", 6, &err) == 0);
	/* A key in the file is skipped, not counted. */
	n = snprintf(buf, sizeof(buf), "%s%s", b.key, a.cert);
	CHECK(kn_ca_count_certs(buf, (size_t)n, &err) == 1);
	/* A damaged certificate is an error, named. */
	n = snprintf(buf, sizeof(buf), "%s%s", a.cert, b.cert);
	char *body = strstr(buf + a.cert_len, "\n") + 10;
	memcpy(body, "!!!!", 4);
	err.msg[0] = '\0';
	CHECK(kn_ca_count_certs(buf, (size_t)n, &err) < 0);
	CHECK(strstr(err.msg, "after certificate 1") != NULL);
	kn_ca_pem_clear(&a);
	kn_ca_pem_clear(&b);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_ca_certificate);
	RUN(test_ca_signs_a_verifying_leaf);
	RUN(test_two_cas_differ);
	RUN(test_key_ahead_used_once);
	RUN(test_cn_from_serial);
	RUN(test_fingerprint);
	if (geteuid() == 0)
		RUN(test_files);
	else
		printf("PASS test_files (skipped: needs root to chown)\n");
	RUN(test_count_certs);
	kn_rm_rf(tmpdir, NULL);
	return test_summary();
}
