/* policy_json.h — a policy as JSON (proxy-config.json, POST /network/proxyconfig).
 *
 * Contract: pure (jansson values in and out, no I/O). The shape is
 *
 *   {"default": "allow" | "deny",
 *    "allow_hosts": [...], "block_hosts": [...], "allow_cidrs": [...],
 *    "block_cidrs": [...], "bypass_hosts": [...], "bypass_cidrs": [...]}
 *
 * each list holding pattern strings as kn_policy_add_rule takes them.
 *
 * kn_policy_from_json: "default" is required, every list is optional (missing =
 * empty), any other key, a non-string entry, an entry with a NUL byte or an entry
 * the pattern parsers refuse fails the whole call with a message naming the entry
 * and the reason, e.g. `block_hosts[2] "foo*.com": '*' is only allowed ...`.
 * `out` is written only on success (it need not be initialised and is not freed
 * first: build into a fresh policy, then swap it for the old one). Duplicate
 * entries collapse into one rule.
 *
 * kn_policy_to_json: a new object with all seven keys, each list in insertion
 * order, every pattern in canonical spelling (the built-in block ranges are implicit
 * and not listed). NULL only when out of memory. Round trip: from_json(to_json(p))
 * is the same policy, and to_json of it is equal to the first to_json; JSON already
 * in canonical spelling without duplicates comes back exactly as it went in.
 */
#ifndef KENNEL_POLICY_POLICY_JSON_H
#define KENNEL_POLICY_POLICY_JSON_H

#include "common/error.h"
#include "policy/policy.h"

#include <jansson.h>

int kn_policy_from_json(json_t *json, struct kn_policy *out, kn_error *err);
json_t *kn_policy_to_json(const struct kn_policy *p);

#endif
