/* options.c — command line parsing (contract: options.h). */
#include "proxy/options.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/limits.h"

/* From the Makefile; a build outside make says "unknown". */
#ifndef KENNEL_VERSION
#define KENNEL_VERSION "unknown"
#endif
#ifndef KENNEL_GIT_REV
#define KENNEL_GIT_REV "unknown"
#endif

enum {
	OPT_CONTROL_FD = 0x100,
	OPT_LOG,
	OPT_HOSTS,
	OPT_UPSTREAM_CA,
	OPT_UPSTREAM_CA_FD,
	OPT_DEBUG,
	OPT_WORKERS,
	OPT_HEADER_TIMEOUT,
	OPT_KEEPALIVE_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_CONNS,
	OPT_LOG_MAX_BYTES,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{ "control-fd", required_argument, NULL, OPT_CONTROL_FD },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "hosts", required_argument, NULL, OPT_HOSTS },
	{ "upstream-ca", required_argument, NULL, OPT_UPSTREAM_CA },
	{ "upstream-ca-fd", required_argument, NULL, OPT_UPSTREAM_CA_FD },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "header-timeout-ms", required_argument, NULL, OPT_HEADER_TIMEOUT },
	{ "keepalive-timeout-ms", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT },
	{ "connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "idle-timeout-ms", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "max-conns-per-sandbox", required_argument, NULL, OPT_MAX_CONNS },
	{ "log-max-bytes", required_argument, NULL, OPT_LOG_MAX_BYTES },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"usage: kennel-proxy --control-fd FD --log FILE [options]\n"
	"  --control-fd FD             the SOCK_SEQPACKET control socket from kenneld\n"
	"  --log FILE                  decision log (JSON lines, rotated)\n"
	"  --hosts FILE                name overrides in /etc/hosts syntax\n"
	"  --upstream-ca FILE          extra CAs (PEM) trusted for upstream TLS\n"
	"  --upstream-ca-fd FD         the same, read from an inherited descriptor\n"
	"  --workers N                 worker processes (default max(2, nproc), <= 8)\n"
	"  --header-timeout-ms MS      request head deadline (default 10000)\n"
	"  --keepalive-timeout-ms MS   idle kept-alive client (default 60000)\n"
	"  --connect-timeout-ms MS     resolve + connect deadline (default 30000)\n"
	"  --idle-timeout-ms MS        idle tunnel or exchange (default 600000)\n"
	"  --max-conns-per-sandbox N   client connections per sandbox (default 10240)\n"
	"  --log-max-bytes N           rotate the decision log past N bytes (default 10 MiB)\n"
	"  --debug                     debug logging on stderr\n";

/* Plain decimal in [min, max]. */
static int parse_number(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out,
			kn_error *err)
{
	uint64_t v = 0;

	if (!*s)
		return kn_fail(err, "%s: empty number", flag);
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return kn_fail(err, "%s: \"%s\" is not a decimal number", flag, s);
		if (v > (UINT64_MAX - 9) / 10)
			return kn_fail(err, "%s: \"%s\" is too large", flag, s);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max)
		return kn_fail(err, "%s: %s is outside %llu..%llu", flag, s, (unsigned long long)min,
			       (unsigned long long)max);
	*out = v;
	return 0;
}

int kp_default_workers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < KP_DEFAULT_WORKERS_MIN)
		n = KP_DEFAULT_WORKERS_MIN;
	if (n > KP_DEFAULT_WORKERS_MAX)
		n = KP_DEFAULT_WORKERS_MAX;
	return (int)n;
}

/* A day: no timeout here is meant to be longer; catches unit mistakes. */
#define MAX_TIMEOUT_MS 86400000ULL

int kp_options_parse(struct kp_options *opt, int argc, char **argv, kn_error *err)
{
	uint64_t v;
	int c;

	*opt = (struct kp_options){
		.control_fd = -1,
		.upstream_ca_fd = -1,
		.workers = kp_default_workers(),
		.header_timeout_ms = KP_HEADER_TIMEOUT_MS,
		.keepalive_timeout_ms = KP_KEEPALIVE_TIMEOUT_MS,
		.connect_timeout_ms = KP_CONNECT_TIMEOUT_MS,
		.idle_timeout_ms = KP_IDLE_TIMEOUT_MS,
		.max_conns_per_sandbox = KP_MAX_CONNS_PER_SANDBOX,
		.log_max_bytes = KP_LOG_ROTATE_BYTES,
	};
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
		switch (c) {
		case OPT_CONTROL_FD:
			if (parse_number("--control-fd", optarg, 0, 65535, &v, err) < 0)
				return -1;
			opt->control_fd = (int)v;
			break;
		case OPT_LOG:
			opt->log_path = optarg;
			break;
		case OPT_HOSTS:
			opt->hosts_path = optarg;
			break;
		case OPT_UPSTREAM_CA:
			opt->upstream_ca_path = optarg;
			break;
		case OPT_UPSTREAM_CA_FD:
			if (parse_number("--upstream-ca-fd", optarg, 0, 65535, &v, err) < 0)
				return -1;
			opt->upstream_ca_fd = (int)v;
			break;
		case OPT_DEBUG:
			opt->debug = true;
			break;
		case OPT_WORKERS:
			if (parse_number("--workers", optarg, 1, KP_MAX_WORKERS, &v, err) < 0)
				return -1;
			opt->workers = (int)v;
			break;
		case OPT_HEADER_TIMEOUT:
			if (parse_number("--header-timeout-ms", optarg, 1, MAX_TIMEOUT_MS,
					 &opt->header_timeout_ms, err) < 0)
				return -1;
			break;
		case OPT_KEEPALIVE_TIMEOUT:
			if (parse_number("--keepalive-timeout-ms", optarg, 1, MAX_TIMEOUT_MS,
					 &opt->keepalive_timeout_ms, err) < 0)
				return -1;
			break;
		case OPT_CONNECT_TIMEOUT:
			if (parse_number("--connect-timeout-ms", optarg, 1, MAX_TIMEOUT_MS,
					 &opt->connect_timeout_ms, err) < 0)
				return -1;
			break;
		case OPT_IDLE_TIMEOUT:
			if (parse_number("--idle-timeout-ms", optarg, 1, MAX_TIMEOUT_MS,
					 &opt->idle_timeout_ms, err) < 0)
				return -1;
			break;
		case OPT_MAX_CONNS:
			if (parse_number("--max-conns-per-sandbox", optarg, 1, 1000000, &v, err) < 0)
				return -1;
			opt->max_conns_per_sandbox = (unsigned)v;
			break;
		case OPT_LOG_MAX_BYTES:
			/* At least one line, so a rotation always makes progress. */
			if (parse_number("--log-max-bytes", optarg, 1024, (uint64_t)1 << 40, &v, err) < 0)
				return -1;
			opt->log_max_bytes = (off_t)v;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			return 1;
		case OPT_VERSION:
			printf("kennel-proxy %s (%s)\n", KENNEL_VERSION, KENNEL_GIT_REV);
			return 1;
		default:
			return kn_fail(err, "unknown or incomplete option %s (see --help)", flag);
		}
	}
	if (optind < argc)
		return kn_fail(err, "unexpected argument \"%s\"", argv[optind]);
	if (opt->control_fd < 0)
		return kn_fail(err, "--control-fd is required");
	if (!opt->log_path)
		return kn_fail(err, "--log is required");
	if (opt->upstream_ca_path && opt->upstream_ca_fd >= 0)
		return kn_fail(err, "--upstream-ca and --upstream-ca-fd exclude each other");
	return 0;
}
