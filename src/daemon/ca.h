/* ca.h — the per-sandbox kennel CA: the root that kennel-proxy signs its TLS
 * interception leaves with, and that the sandbox (and nothing else) trusts.
 *
 * Contract.
 *  - kn_ca_make (no files): a fresh EC P-256 key (the one kn_ca_key_ahead
 *    made while kenneld was idle, if there is one; each is used once) and a
 *    self-signed X.509 v3 certificate: subject and issuer O=kennel,
 *    CN="kennel sandbox CA XXXXXXXX" (the last 4 bytes of its serial in hex;
 *    no sandbox name, as the CA of the next sandbox is made before its name
 *    is known, manager.h), a random 128-bit serial, valid from `now` - 1 hour (clock
 *    skew) for KN_CA_VALID_DAYS, basicConstraints critical CA:TRUE pathlen:0
 *    (it signs leaves only), keyUsage critical keyCertSign+cRLSign, subject and
 *    authority key identifiers, signed with ECDSA-SHA256. Out: PEM text, the
 *    key as PKCS#8 ("BEGIN PRIVATE KEY"). kn_ca_pem_clear wipes the key's bytes
 *    (OPENSSL_cleanse) and frees both; call it on every kn_ca_pem filled.
 *    `info`, when not NULL, gets the new certificate's kn_ca_info.
 *  - kn_ca_info: what kenneld keeps of a CA in memory: the "AB:CD:..." SHA-256
 *    of the certificate's DER, as `openssl x509 -fingerprint -sha256` prints
 *    it (inspect shows it), and its subject-name hash (the trust store's
 *    c_rehash link is named after it). kn_ca_describe computes both from PEM.
 *  - kn_ca_ensure: the sandbox folder `dir` holds KN_CA_CERT_FILE (0644, root)
 *    and KN_CA_KEY_FILE (0400, owned by key_uid:key_gid, the kennel-proxy user),
 *    each replaced by rename, key first. A usable pair is kept (its key file's
 *    owner and mode put right): both regular files, the key's text a PEM
 *    block, and the certificate described by `info` already (kenneld made or
 *    read it in this run: info->fingerprint is set) or parsing now (`info`
 *    filled). Anything less is replaced by a new pair, and `info` describes
 *    it. *made says which. No fsync: the pair is not the sandbox (config.json
 *    is), and a pair a power loss tore is found unusable here and made again
 *    at the next start, whose trust store then follows (sandbox.h). Two
 *    fsyncs per file were a quarter of a create.
 *  - kn_ca_present: 1 when `dir` holds a usable pair (`info` filled), else 0.
 *  - kn_ca_load: reads the pair back (each at most KN_CA_FILE_MAX bytes).
 *  - kn_ca_count_certs: the number of PEM certificates in `len` bytes of text;
 *    -1 with err naming the first block that does not parse. Text outside
 *    PEM blocks is ignored, as OpenSSL does when it loads a CA file.
 * Nothing here logs, and no key byte is left in memory this module freed. */
#ifndef KENNEL_CA_H
#define KENNEL_CA_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "common/error.h"

/* Ten years: a sandbox may live long; rotating is `rm` and `create`. */
#define KN_CA_VALID_DAYS 3650
/* Before `now`: a sandbox clock a little behind the host's still accepts it. */
#define KN_CA_BACKDATE_S 3600
#define KN_CA_CERT_FILE "ca.crt"
#define KN_CA_KEY_FILE "ca.key"
/* A P-256 certificate is under 1 KiB and its key 250 bytes: anything near
 * this was not written by us. */
#define KN_CA_FILE_MAX 16384
/* "AB:" per byte of a SHA-256. */
#define KN_CA_FINGERPRINT_LEN (32 * 3)

struct kn_ca_info {
	char fingerprint[KN_CA_FINGERPRINT_LEN]; /* "" when unknown */
	unsigned long subject_hash;
};

struct kn_ca_pem {
	char *cert; /* NUL-terminated PEM */
	size_t cert_len;
	char *key;  /* NUL-terminated PEM (PKCS#8); secret */
	size_t key_len;
};

/* Idle work: generate the next CA's key (~0.1 ms of a create) unless one waits. */
void kn_ca_key_ahead(void);
int kn_ca_make(time_t now, struct kn_ca_pem *out, struct kn_ca_info *info, kn_error *err);
void kn_ca_pem_clear(struct kn_ca_pem *pem);

int kn_ca_ensure(const char *dir, uid_t key_uid, gid_t key_gid, struct kn_ca_info *info, int *made,
		 kn_error *err);
int kn_ca_load(const char *dir, struct kn_ca_pem *out, kn_error *err);
int kn_ca_present(const char *dir, struct kn_ca_info *info);

int kn_ca_describe(const char *cert_pem, size_t len, struct kn_ca_info *info, kn_error *err);
int kn_ca_count_certs(const char *pem, size_t len, kn_error *err);

#endif
