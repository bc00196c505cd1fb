/* secrets.h — kennel-proxy's table of credentials to inject, from kenneld's
 * {"op":"secrets"} message (docs/proxy-protocol.md), and the question "which
 * headers does this request get".
 *
 * Contract:
 *   kp_secrets_parse   the message's "secrets" array into a new table, each
 *                      entry checked again here (the proxy trusts no input):
 *                      name 1..KN_SECRET_NAME_MAX of [A-Za-z0-9_.-]; hosts
 *                      1..KN_SECRET_MAX_HOSTS host patterns (hostpattern.h);
 *                      header a token that does not frame, route or hop a
 *                      request (kp_secret_header_refused); format printable
 *                      ASCII with exactly one "{}"; value 1..KN_SECRET_VALUE_MAX
 *                      printable ASCII bytes; optional sandbox name. The value
 *                      is stored already formatted, in memory that is wiped
 *                      when freed and excluded from core dumps
 *                      (MADV_DONTDUMP), and never appears in an error.
 *   kp_secrets_to_json the table as the same array (for the workers); the
 *                      caller wipes the dumped text.
 *   kp_secrets_match   for a request of `sandbox` to canonical `host`:`port`,
 *                      at most KP_INJECT_MAX headers to set: per header name
 *                      (case-insensitive) the secret whose matching host
 *                      pattern is most specific; at equal specificity one
 *                      bound to this sandbox beats a global one, then the
 *                      lower name wins (deterministic). Pointers borrow the
 *                      table.
 *   kp_secrets_free    wipes and frees; NULL is fine. */
#ifndef KENNEL_PROXY_SECRETS_H
#define KENNEL_PROXY_SECRETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/secret_rules.h"
#include "policy/hostpattern.h"
#include "proxy/limits.h"

/* Secrets in one table: a 64 KiB message holds far fewer than this. */
#define KP_SECRETS_MAX 256
/* Headers injected into one request: one per credential header a service
 * uses (x-api-key, authorization, x-goog-api-key, ...). */
#define KP_INJECT_MAX 4

struct kp_secret {
	char name[KN_SECRET_NAME_MAX + 1];
	char header[KN_SECRET_HEADER_MAX + 1];
	char sandbox[KP_SANDBOX_NAME_MAX + 1]; /* "" = every sandbox */
	struct kn_host_pattern hosts[KN_SECRET_MAX_HOSTS];
	size_t n_hosts;
	char *format; /* as given, for kp_secrets_to_json */
	char *raw;    /* the value as given (guarded memory) */
	char *value;  /* the header value: format expanded (guarded memory) */
};

struct kp_secrets {
	struct kp_secret *v;
	size_t n;
};

struct kp_inject {
	const char *name;   /* header name */
	const char *value;
	const char *secret; /* the secret's name, for the log */
};

struct kp_secrets *kp_secrets_parse(json_t *array, kn_error *err);
json_t *kp_secrets_to_json(const struct kp_secrets *t);
size_t kp_secrets_match(const struct kp_secrets *t, const char *sandbox, const char *host,
			uint16_t port, struct kp_inject out[KP_INJECT_MAX]);
void kp_secrets_free(struct kp_secrets *t);

bool kp_secret_header_refused(const char *name);

#endif
