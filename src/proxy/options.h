/* options.h — kennel-proxy's command line (docs/kennel-proxy.8).
 *
 * Contract: kp_options_parse fills `opt` from argv (getopt_long, so it resets
 * optind itself) starting from the defaults in limits.h, and returns 0, 1 for
 * --help / --version (text already printed to stdout), or -1 with `err` set.
 * Required: --control-fd and --log. Numbers must be plain decimal within the
 * bounds named in the manual. */
#ifndef KENNEL_PROXY_OPTIONS_H
#define KENNEL_PROXY_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

struct kp_options {
	int control_fd;
	const char *log_path;
	const char *hosts_path; /* NULL: none */
	const char *upstream_ca_path; /* NULL: none */
	int upstream_ca_fd;           /* -1: none */
	bool debug;
	int workers;
	uint64_t header_timeout_ms;
	uint64_t keepalive_timeout_ms;
	uint64_t connect_timeout_ms;
	uint64_t idle_timeout_ms;
	unsigned max_conns_per_sandbox;
	off_t log_max_bytes;
};

int kp_options_parse(struct kp_options *opt, int argc, char **argv, kn_error *err);
/* max(KP_DEFAULT_WORKERS_MIN, online CPUs) up to KP_DEFAULT_WORKERS_MAX. */
int kp_default_workers(void);

#endif
