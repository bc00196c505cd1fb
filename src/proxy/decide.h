/* decide.h — the policy questions of one proxied request, in the order the
 * proxy asks them.
 *
 * Contract: pure (no DNS, no sockets). A request is let through only when
 *   1. kp_decide_host allows the host and port as the client named them
 *      (kn_policy_check_host; an invalid name is blocked with its reason), and
 *   2. at least one of the addresses the name stands for is allowed by
 *      kn_policy_check_addr; kp_filter_candidates keeps exactly those, in
 *      order, and the proxy dials only addresses from that list: the address
 *      it checked is the address it dials, never a second lookup.
 * When every candidate is blocked, `block` is the decision for the first of
 * them (the rule named in the 403). */
#ifndef KENNEL_PROXY_DECIDE_H
#define KENNEL_PROXY_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/cidr.h"
#include "policy/hostname.h"
#include "policy/policy.h"
#include "proxy/limits.h"

struct kp_candidates {
	size_t n;
	struct kn_addr addr[KP_MAX_CANDIDATES];
};

/* true when allowed. `canon` (KN_HOST_BUFSZ bytes) receives the canonical host,
 * or "" when the host is invalid (then `d` says why it is blocked). */
bool kp_decide_host(const struct kn_policy *p, const char *host, size_t len, uint16_t port,
		    char *canon, struct kn_decision *d);

/* When canonical host `canon` is an IP literal, its one candidate: true. */
bool kp_literal_candidates(const char *canon, struct kp_candidates *out);

/* Number of allowed candidates copied to `allowed`. */
size_t kp_filter_candidates(const struct kn_policy *p, const struct kp_candidates *in,
			    struct kp_candidates *allowed, struct kn_decision *block);

/* Add `a` to `c` unless it is there already or `c` is full. */
void kp_candidates_add(struct kp_candidates *c, const struct kn_addr *a);

#endif
