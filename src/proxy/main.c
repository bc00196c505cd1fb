/* main.c — kennel-proxy: the egress proxy every kennel sandbox goes through.
 *
 * Start-up, top to bottom: parse the command line; harden the process
 * (undumpable, no core, no_new_privs, NOFILE raised); check the control socket;
 * read the hosts override; build the TLS contexts (system trust bundle plus
 * --upstream-ca: files are read now, before the filter); open the decision
 * log; install the proxy's seccomp
 * filter; hand over to the master (master.h), which forks the workers and
 * serves until kenneld closes the control socket. See docs/kennel-proxy.8 and
 * docs/proxy-protocol.md. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/wipe.h"
#include "proxy/decision_log.h"
#include "proxy/harden.h"
#include "proxy/hosts.h"
#include "proxy/master.h"
#include "proxy/options.h"
#include "proxy/sandbox_filter.h"
#include "proxy/tls.h"

/* A CA bundle a user points us at; the system one is ~220 KiB. */
#define UPSTREAM_CA_MAX (4 * 1024 * 1024)

static int tls_setup(const struct kp_options *opt, struct kp_tls *tls, kn_error *err)
{
	char *pem = NULL;
	size_t len = 0;

	if (opt->upstream_ca_path &&
	    kn_read_file(opt->upstream_ca_path, UPSTREAM_CA_MAX, &pem, &len, err) < 0)
		return -1;
	if (opt->upstream_ca_fd >= 0) {
		if (kn_read_fd(opt->upstream_ca_fd, "--upstream-ca-fd", UPSTREAM_CA_MAX, &pem, &len,
			       err) < 0)
			return -1;
		close(opt->upstream_ca_fd);
	}
	int rc = kp_tls_init(tls, pem, len, err);
	if (rc < 0 && pem)
		kn_fail_prefix(err, "%s", opt->upstream_ca_path ? opt->upstream_ca_path
								: "--upstream-ca-fd");
	free(pem);
	return rc;
}

static int check_control_fd(int fd, kn_error *err)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return kn_fail_errno(err, "control fd %d", fd);
	if (type != SOCK_SEQPACKET)
		return kn_fail(err, "control fd %d is not a SOCK_SEQPACKET socket", fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct kp_options opt;
	struct kp_hosts hosts = { 0 };
	struct kp_log log;
	struct kp_tls tls;
	size_t nofile = 0;
	kn_error err;

	kn_log_init("kennel-proxy", KN_LOG_INFO);
	int rc = kp_options_parse(&opt, argc, argv, &err);
	if (rc > 0)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "kennel-proxy: %s\n", err.msg);
		return 2;
	}
	kn_log_init("kennel-proxy", opt.debug ? KN_LOG_DEBUG : KN_LOG_INFO);
	/* Control messages carry CA keys and secret values through jansson:
	 * every block it frees is wiped first. */
	json_set_alloc_funcs(malloc, kn_wipe_free);
	/* Every send uses MSG_NOSIGNAL; this covers anything that does not. */
	signal(SIGPIPE, SIG_IGN);

	if (kp_harden(&nofile, &err) < 0 || check_control_fd(opt.control_fd, &err) < 0 ||
	    (opt.hosts_path && kp_hosts_load(&hosts, opt.hosts_path, &err) < 0) ||
	    tls_setup(&opt, &tls, &err) < 0 || kp_log_open(&log, opt.log_path, opt.log_max_bytes, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	if (kp_filter_apply(KP_FILTER_MASTER, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	log_debug("fd limit %zu, %zu hosts overrides, decision log %s", nofile, hosts.n,
		  opt.log_path);
	rc = kp_master_run(&opt, &hosts, &tls, &log);
	kp_log_close(&log);
	kp_tls_free(&tls);
	kp_hosts_free(&hosts);
	return rc;
}
