/* trust.h — the sandbox's trust store: the kennel CA among the CAs the
 * sandbox's TLS clients trust, so kennel-proxy can intercept HTTPS.
 *
 * Contract: kn_ns_trust_ca (sandbox.h) runs in the daemon while the sandbox is
 * stopped (its overlay is not mounted: an overlay's layers may change only
 * then) and writes into the sandbox's own writable layer, never anywhere else:
 *   KN_TRUST_CA       the kennel CA alone (rewritten at every call), where
 *                     Debian's update-ca-certificates looks for local CAs, so
 *                     running it inside keeps the kennel CA in the bundle;
 *   KN_TRUST_BUNDLE   the base's bundle (the host's /etc/ssl/certs/
 *                     ca-certificates.crt, or the --image's own) with the
 *                     kennel CA appended: written when the sandbox's copy is
 *                     missing or lacks this CA (a new sandbox, a new CA, or a
 *                     copy the sandbox broke); otherwise the sandbox's copy,
 *                     part of its own /etc, is kept;
 *   KN_TRUST_DIR/kennel-ca.pem and HASH.N   links to KN_TRUST_CA, for tools
 *                     that look CAs up by subject hash in the directory
 *                     (`subject_hash`: X509_subject_name_hash of the CA, which
 *                     the caller knows from making or reading it: parsing the
 *                     PEM again here cost 0.3 ms of every start).
 * The layer belongs to the sandbox, whose root may have planted symlinks,
 * FIFOs or whiteouts on these paths: every path is walked with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS from the layer's top, a directory in
 * the way of something else is recreated (opaque, as the thing it replaces hid
 * the base's), files are replaced by rename, never written through. Files are
 * owned by root inside (uid_base), mode 0644; the host's bundle is only read.
 * Only the certificate ever enters the sandbox, never the key.
 * kn_trust_env: what points TLS clients at the bundle (NAME=VALUE, NULL-
 * terminated); set in every command of a sandbox that has a CA. */
#ifndef KENNEL_TRUST_H
#define KENNEL_TRUST_H

#define KN_TRUST_DIR "/etc/ssl/certs"
#define KN_TRUST_BUNDLE KN_TRUST_DIR "/ca-certificates.crt"
#define KN_TRUST_CA_DIR "/usr/local/share/ca-certificates"
#define KN_TRUST_CA KN_TRUST_CA_DIR "/kennel-ca.crt"
/* Where the bundle comes from for a host-based sandbox. */
#define KN_TRUST_HOST_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
/* A full Mozilla bundle is 220 KB; corporate ones add a few certificates. */
#define KN_TRUST_BUNDLE_MAX (16 << 20)

extern const char *const kn_trust_env[];

#endif
