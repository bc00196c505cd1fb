/* secret_rules.h — what the fields of a secret (a credential kennel-proxy
 * injects) may hold: one rule set for kenneld, which stores secrets, and
 * kennel-proxy, which checks them again when they arrive.
 *
 * Contract: pure. Each *_problem function returns NULL when `len` bytes at `s`
 * are acceptable, else a static English phrase saying what is wrong; the
 * phrase never quotes the input (a value must never reach a message).
 *   name    1..KN_SECRET_NAME_MAX of [A-Za-z0-9_.-], not "." or ".." (a path
 *           segment of the API and a log field);
 *   header  an HTTP field name (a token) of at most KN_SECRET_HEADER_MAX
 *           bytes that neither frames, routes nor hops a request: Host,
 *           Content-Length, Transfer-Encoding, Connection, Upgrade, TE,
 *           Trailer, Keep-Alive, Expect and Proxy-* are refused, since
 *           injecting one could split a request, redirect it, or reach past
 *           the upstream;
 *   format  printable ASCII of at most KN_SECRET_FORMAT_MAX bytes with
 *           exactly one placeholder: "{}" (the value), or "{basic:USER}" (HTTP
 *           Basic credentials: base64 of USER ":" value, how git over HTTPS
 *           sends a token; USER is 1..KN_SECRET_BASIC_USER_MAX of
 *           [A-Za-z0-9._-]); kn_secret_format_parse says where it is;
 *   value   1..KN_SECRET_VALUE_MAX printable ASCII bytes (no CR, LF, NUL). */
#ifndef KENNEL_SECRET_RULES_H
#define KENNEL_SECRET_RULES_H

#include <stddef.h>

/* `kennel run` names the secrets it makes SANDBOX.VARIABLE: a 63-byte sandbox
 * name and a 64-byte variable name. */
#define KN_SECRET_NAME_MAX 128
/* A provider key is under 200 bytes; a JWT or an OAuth token a few KiB. */
#define KN_SECRET_VALUE_MAX 8192
/* An API and its mirrors or regions; more is a policy, not a credential. */
#define KN_SECRET_MAX_HOSTS 32
/* Real credential headers are short (x-api-key, authorization). */
#define KN_SECRET_HEADER_MAX 64
/* "Bearer {}", "token {}", "Basic {}": room to spare. */
#define KN_SECRET_FORMAT_MAX 256

/* Basic-auth user names in formats ("x-access-token", "oauth2"). */
#define KN_SECRET_BASIC_USER_MAX 64

/* Where a format's placeholder is: bytes [start, start + len) of the format,
 * and for "{basic:USER}" the user (NULL for "{}"). */
struct kn_secret_slot {
	size_t start, len;
	const char *user;
	size_t user_len;
};

const char *kn_secret_name_problem(const char *s, size_t len);
const char *kn_secret_format_parse(const char *s, size_t len, struct kn_secret_slot *slot);
const char *kn_secret_header_problem(const char *s, size_t len);
const char *kn_secret_format_problem(const char *s, size_t len);
const char *kn_secret_value_problem(const char *s, size_t len);

#endif
