/* secrets.h — the credential store: secrets that kennel-proxy injects into
 * requests to the hosts they are bound to, which the sandboxes never see.
 *
 * Contract. A secret is a JSON object
 *   {"name":N, "hosts":[P...], "header":H, "format":F, "value":V, "sandbox":S}
 *   name, header, format (default "{}"), value   as common/secret_rules.h
 *           says (a header that frames or routes the request is refused: a
 *           secret must not be able to smuggle a second request);
 *   hosts   1..KN_SECRET_MAX_HOSTS host patterns (policy/hostpattern.h), kept
 *           in canonical spelling, duplicates dropped;
 *   sandbox optional: the secret applies only to that sandbox's requests
 *           (absent, never null, in the stored form).
 * kn_secret_parse (pure) checks a PUT body for `name` and returns the
 * canonical object, or NULL with err (errnum EINVAL) naming the bad field and
 * never quoting the value.
 * The store is STATE/secrets.json, {"secrets":[...]} sorted by name, mode
 * 0600, root's, written atomically; the daemon holds the same list in
 * st->secrets. kn_secrets_load reads it at start (a file that does not parse
 * or check stops the daemon). kn_secrets_put / kn_secrets_remove write the
 * file first (a failed write changes nothing), then the list, then send the
 * whole list to kennel-proxy. The whole list must fit one control message:
 * a put that would make it larger than KN_SECRETS_MSG_BUDGET is refused
 * (errnum E2BIG). kn_secrets_public lists them without values;
 * kn_secrets_message is the proxy's {"op":"secrets","secrets":[...]}, made of
 * references to the stored objects (values included: whoever dumps it wipes
 * the text). Values are never logged. */
#ifndef KENNEL_SECRETS_H
#define KENNEL_SECRETS_H

#include <jansson.h>

#include "common/error.h"
#include "common/secret_rules.h"

struct kn_store;

/* The proxy's control messages are at most 64 KiB (proxy_sup.h); the rest
 * of the message is its few framing bytes. */
#define KN_SECRETS_MSG_BUDGET (65536 - 64)
#define KN_SECRETS_FILE "secrets.json"

int kn_secret_name_valid(const char *name, const char **reason);
json_t *kn_secret_parse(const char *name, json_t *body, kn_error *err);

int kn_secrets_load(struct kn_store *st, kn_error *err);
/* *created: 1 when the name was new. */
int kn_secrets_put(struct kn_store *st, json_t *secret, int *created, kn_error *err);
/* errnum ENOENT when there is no such secret. */
int kn_secrets_remove(struct kn_store *st, const char *name, kn_error *err);
/* Remove every secret bound to `sandbox` (when it is removed); 0 when there
 * were none. */
int kn_secrets_remove_sandbox(struct kn_store *st, const char *sandbox, kn_error *err);
/* The secret without its value (new reference). */
json_t *kn_secret_public(const json_t *secret);
json_t *kn_secrets_public(const struct kn_store *st);
json_t *kn_secrets_find(const struct kn_store *st, const char *name);
json_t *kn_secrets_message(json_t *secrets);

#endif
