/* mint.h — leaf certificates for intercepted hosts, signed by a sandbox's CA.
 *
 * Contract: pure OpenSSL object work, no I/O.
 *   kp_mint_key   a new EC P-256 key (a worker makes one and signs every leaf
 *                 over it: the key never leaves the proxy's memory and a
 *                 handshake then costs one signature, not a key generation).
 *   kp_mint_leaf  an X.509 v3 certificate for `host`, a canonical host as
 *                 kn_host_canon returns it (name, dotted quad or IPv6 text):
 *                 subjectAltName DNS:host or IP:host (the only name clients
 *                 check), CN=host when it fits the 64-byte X.520 bound,
 *                 issuer = the CA's subject, a random positive 128-bit serial,
 *                 valid from KP_LEAF_BACKDATE_S ago for KP_LEAF_VALIDITY_DAYS,
 *                 basicConstraints CA:FALSE, keyUsage digitalSignature,
 *                 extendedKeyUsage serverAuth, subject and authority key
 *                 identifiers, signed with SHA-256.
 *   kp_ca_parse   the CA certificate and key from PEM text (kenneld's "ca"
 *                 control field); refuses a certificate that is not a CA or
 *                 has no subjectKeyIdentifier (leaves name their issuer by
 *                 it), a key that does not match it, an encrypted key, and
 *                 anything before or after the one PEM block of each.
 * All return NULL / -1 with `err` set (naming the OpenSSL reason) on failure. */
#ifndef KENNEL_PROXY_MINT_H
#define KENNEL_PROXY_MINT_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "common/error.h"

/* Clocks inside sandboxes and on clients' machines drift; an hour of backdating
 * keeps a leaf valid for a client whose clock is a little behind ours. */
#define KP_LEAF_BACKDATE_S 3600
/* Leaves live in memory only and are re-minted by every new worker; 30 days is
 * far below the 398 days clients accept and longer than any worker lives in
 * practice (a leaf past its end is simply minted again: see tls.h). */
#define KP_LEAF_VALIDITY_DAYS 30

EVP_PKEY *kp_mint_key(kn_error *err);
X509 *kp_mint_leaf(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *leaf_key, const char *host,
		   kn_error *err);
int kp_ca_parse(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		X509 **cert, EVP_PKEY **key, kn_error *err);

/* A pem_password_cb that refuses: PEM input is never encrypted here, and
 * OpenSSL's default callback would prompt on a terminal. */
int kp_no_passphrase(char *buf, int size, int rwflag, void *u);

/* The OpenSSL error queue's first reason as text (the queue is cleared), or
 * `fallback` when it is empty. */
const char *kp_ssl_reason(char *buf, size_t bufsz, const char *fallback);

#endif
