/* decide.c — host decision and address filtering (contract: decide.h). */
#include "proxy/decide.h"

#include <stdio.h>
#include <string.h>

bool kp_decide_host(const struct kn_policy *p, const char *host, size_t len, uint16_t port,
		    char *canon, struct kn_decision *d)
{
	if (kn_host_canon(host, len, canon, KN_HOST_BUFSZ, NULL) < 0)
		canon[0] = '\0';
	int rc = kn_policy_check_host(p, host, len, port, d);
	return rc == 0 && d->verdict == KN_VERDICT_ALLOW;
}

bool kp_literal_candidates(const char *canon, struct kp_candidates *out)
{
	out->n = 0;
	if (kn_host_kind(canon) == KN_HOST_NAME)
		return false;
	if (kn_addr_parse(canon, strlen(canon), &out->addr[0], NULL) < 0)
		return false;
	out->n = 1;
	return true;
}

void kp_candidates_add(struct kp_candidates *c, const struct kn_addr *a)
{
	struct kn_addr norm = *a;

	kn_addr_normalize(&norm);
	if (c->n == KP_MAX_CANDIDATES)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (kn_addr_equal(&c->addr[i], &norm))
			return;
	c->addr[c->n++] = norm;
}

size_t kp_filter_candidates(const struct kn_policy *p, const struct kp_candidates *in,
			    struct kp_candidates *allowed, struct kn_decision *block)
{
	bool have_block = false;

	allowed->n = 0;
	for (size_t i = 0; i < in->n; i++) {
		struct kn_decision d;
		kn_policy_check_addr(p, &in->addr[i], &d);
		if (d.verdict == KN_VERDICT_ALLOW) {
			allowed->addr[allowed->n++] = in->addr[i];
		} else if (!have_block) {
			*block = d;
			have_block = true;
		}
	}
	if (in->n == 0) {
		block->verdict = KN_VERDICT_BLOCK;
		snprintf(block->rule, sizeof(block->rule), "no address to check");
	}
	return allowed->n;
}
