/* hosts.h — the --hosts override file: names mapped to addresses in
 * /etc/hosts syntax, consulted before DNS.
 *
 * Contract: kp_hosts_parse reads `len` bytes of text: lines of "ADDRESS NAME
 * [NAME...]", fields separated by spaces or tabs, '#' to the end of a line a
 * comment, blank lines ignored. ADDRESS is a dotted quad or an IPv6 literal
 * (cidr.h's kn_addr_parse: no short or octal IPv4 spellings, no zone ids).
 * Every NAME goes through kn_host_canon and must come out a name, not an IP
 * literal. Anything else fails the whole file with a message naming the line.
 * A name listed on several lines gets all their addresses, in file order.
 *
 * An override only says where a name points; it does not bypass anything:
 * the proxy still checks every address with kn_policy_check_addr.
 *
 * kp_hosts_lookup copies up to `max` addresses of canonical name `canon` into
 * `out` and returns how many (0 = not in the file). kp_hosts_load reads a file
 * of at most KP_HOSTS_MAX_BYTES and parses it. An empty (zeroed) kp_hosts is
 * valid and maps nothing. */
#ifndef KENNEL_PROXY_HOSTS_H
#define KENNEL_PROXY_HOSTS_H

#include <stddef.h>

#include "common/error.h"
#include "policy/cidr.h"
#include "policy/hostname.h"

struct kp_hosts_entry {
	char name[KN_HOST_BUFSZ];
	struct kn_addr addr;
};

struct kp_hosts {
	struct kp_hosts_entry *entries;
	size_t n, cap;
};

int kp_hosts_parse(struct kp_hosts *h, const char *text, size_t len, kn_error *err);
int kp_hosts_load(struct kp_hosts *h, const char *path, kn_error *err);
size_t kp_hosts_lookup(const struct kp_hosts *h, const char *canon, struct kn_addr *out,
		       size_t max);
void kp_hosts_free(struct kp_hosts *h);

#endif
