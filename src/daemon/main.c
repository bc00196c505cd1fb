/* kenneld — the kennel daemon (root). See docs/kenneld.8 and docs/api.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/agents.h"
#include "daemon/manager.h"
#include "daemon/proxy_sup.h"
#include "daemon/secrets.h"
#include "daemon/server.h"
#include "daemon/store.h"
#include "sandbox/base.h"
#include "sandbox/seccomp.h"
#include "sandbox/vm.h"

#define DEFAULT_SOCKET "/run/kennel/kenneld.sock"
#define DEFAULT_STATE_DIR "/var/lib/kennel"
#define DEFAULT_GROUP "kennel"

static void usage(FILE *f)
{
	fprintf(f, "usage: kenneld [--socket PATH] [--state-dir DIR] [--group NAME] [--hosts FILE]\n"
		   "               [--upstream-ca FILE] [--isolation ns|vm] [--vm-assets DIR] [--debug]\n"
		   "\n"
		   "The kennel daemon: creates and runs sandboxes; serves the API on a Unix socket.\n"
		   "\n"
		   "  --socket PATH         API socket (default " DEFAULT_SOCKET ")\n"
		   "  --state-dir DIR       state directory (default " DEFAULT_STATE_DIR ")\n"
		   "  --group NAME          group allowed to use the socket (default " DEFAULT_GROUP
		   ", created if missing)\n"
		   "  --hosts FILE          name overrides for the proxy's resolver (/etc/hosts syntax)\n"
		   "  --upstream-ca FILE    PEM CAs the proxy also trusts for upstream TLS\n"
		   "  --isolation ns|vm     isolation of sandboxes created without one (default ns)\n"
		   "  --vm-assets DIR       guest kernel and initramfs of vm sandboxes (default: vm/\n"
		   "                        next to kenneld, where `make vm` puts them)\n"
		   "  --debug               log every request and step\n"
		   "  -h, --help            this help\n"
		   "  --version             print the version\n");
}

/* The socket's group: created with groupadd when missing, as the API promises. */
static void ensure_group(const char *group)
{
	if (getgrnam(group))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 1);
		execlp("groupadd", "groupadd", "--system", group, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		log_warn("could not create group %s (groupadd failed)", group);
	else
		log_info("created group %s", group);
}

int main(int argc, char **argv)
{
	const char *sock = DEFAULT_SOCKET, *state = DEFAULT_STATE_DIR, *group = DEFAULT_GROUP;
	const char *hosts = NULL, *upstream_ca = NULL, *vm_assets = NULL;
	int debug = 0, default_vm = 0;
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"state-dir", required_argument, NULL, 'd'},
		{"group", required_argument, NULL, 'g'},  {"debug", no_argument, NULL, 'D'},
		{"hosts", required_argument, NULL, 'H'},  {"upstream-ca", required_argument, NULL, 'C'},
		{"isolation", required_argument, NULL, 'I'}, {"vm-assets", required_argument, NULL, 'A'},
		{"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'd': state = optarg; break;
		case 'g': group = optarg; break;
		case 'H': hosts = optarg; break;
		case 'C': upstream_ca = optarg; break;
		case 'D': debug = 1; break;
		case 'A': vm_assets = optarg; break;
		case 'I':
			if (strcmp(optarg, "ns") && strcmp(optarg, "vm")) {
				fprintf(stderr, "kenneld: --isolation: want ns or vm, not %s\n", optarg);
				usage(stderr);
				return 2;
			}
			default_vm = !strcmp(optarg, "vm");
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("kenneld %s (%s)\n", KENNEL_VERSION, KENNEL_GIT_REV); return 0;
		default:
			fprintf(stderr, "kenneld: %s: %s\n",
				optopt ? "option needs an argument or is unknown" : "unknown option",
				argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kenneld: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	kn_log_init("kenneld", debug ? KN_LOG_DEBUG : KN_LOG_INFO);
	if (geteuid() != 0) {
		log_error("kenneld must run as root (it creates namespaces, mounts and cgroups)");
		return 1;
	}
	/* Not the invoker's umask: with 077, the mount points kenneld makes in a
	 * sandbox's root (/tmp, a workspace's parents) were root's alone inside,
	 * and the agent could not reach its workspace. Every file that must be
	 * private is created with its own mode. */
	umask(022);
	/* The daemon never dumps core: sandboxes' secrets may pass through it. */
	struct rlimit core = {0, 0};
	setrlimit(RLIMIT_CORE, &core);
	prctl(PR_SET_DUMPABLE, 0);
	/* ...and what passed through JSON (CA keys for the proxy, secret values)
	 * is wiped when jansson frees it, its growing buffers included. */
	json_set_alloc_funcs(malloc, kn_wipe_free);
	int upstream_ca_fd = -1;
	if (upstream_ca) {
		int n_certs = 0;
		kn_error cerr;
		upstream_ca_fd = kn_proxy_open_upstream_ca(upstream_ca, &n_certs, &cerr);
		if (upstream_ca_fd < 0) {
			log_error("%s", cerr.msg);
			return 1;
		}
		log_info("upstream CAs: %d certificate%s from %s, for kennel-proxy as fd %d", n_certs,
			 n_certs == 1 ? "" : "s", upstream_ca, KN_PROXY_FD_UPSTREAM_CA);
	}
	kn_error serr;
	if (kn_seccomp_prepare(0, &serr) < 0) {
		log_error("%s", serr.msg);
		return 1;
	}
	char real_state[PATH_MAX];
	kn_error err = {0};
	struct kn_store st;
	char assets[PATH_MAX];
	if (vm_assets) {
		snprintf(assets, sizeof(assets), "%s", vm_assets);
	} else {
		ssize_t n = readlink("/proc/self/exe", assets, sizeof(assets) - 4);
		char *slash = n > 0 ? memrchr(assets, '/', (size_t)n) : NULL;
		snprintf(slash ? slash : assets, sizeof(assets) - (size_t)(slash ? slash - assets : 0), "%s",
			 slash ? "/vm" : "vm");
	}
	if (kn_store_open(&st, state, &err) < 0 || !realpath(state, real_state)) {
		log_error("state dir %s: %s", state, err.msg[0] ? err.msg : strerror(errno));
		return 1;
	}
	/* Daemons with different state dirs (tests run several side by side)
	 * keep their sandboxes' cgroups apart, or one's reconcile would reap the
	 * other's. The default state dir keeps the plain name. */
	if (strcmp(real_state, DEFAULT_STATE_DIR)) {
		char root_name[32];
		unsigned long h = 5381;
		for (const char *p = real_state; *p; p++)
			h = h * 33 + (unsigned char)*p;
		snprintf(root_name, sizeof(root_name), "kennel-%08lx", h & 0xffffffffUL);
		if (kn_cgroup_set_root_name(root_name, &err) < 0) {
			log_error("%s", err.msg);
			return 1;
		}
	}
	if (kn_cgroup_init_daemon(&err) < 0)
		log_warn("%s", err.msg);
	if (kn_agents_load(&err) < 0 ||
	    kn_store_open(&st, real_state, &err) < 0 || kn_store_load_default_policy(&st, &err) < 0 ||
	    kn_store_load(&st, &err) < 0 || kn_secrets_load(&st, &err) < 0 ||
	    kn_mgr_reconcile(&st, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	/* A folder made ahead by a kenneld that crashed: its CA is unknown here. */
	kn_ahead_drop(&st);
	snprintf(st.vm_assets, sizeof(st.vm_assets), "%s", assets);
	st.default_vm = default_vm;
	if (default_vm && kn_vm_check(assets, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	if (kn_base_build(st.base_dir, &err) < 0)
		log_warn("%s (host-based sandboxes will fail to start)", err.msg);
	ensure_group(group);
	struct kn_proxy_sup proxy;
	if (kn_proxy_init(&proxy, &st, hosts, upstream_ca_fd, debug, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	st.proxy = &proxy;
	if (kn_proxy_start(&proxy, &st, &err) < 0) {
		log_error("%s; sandboxes have no network until it starts", err.msg);
		proxy.next_start = time(NULL) + proxy.backoff_s;
	}
	int lfd = kn_server_listen(sock, group, &err);
	if (lfd < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	if (!realpath(sock, st.socket_path))
		snprintf(st.socket_path, sizeof(st.socket_path), "%s", sock);
	log_info("kenneld %s listening on %s, state in %s", KENNEL_VERSION, sock, real_state);
	int rc = kn_server_run(&st, lfd, &err);
	if (rc < 0)
		log_error("%s", err.msg);
	unlink(sock);
	close(lfd);
	kn_proxy_stop(&proxy);
	kn_ahead_drop(&st);
	/* With no sandbox left running, nothing is to be adopted from kennel's
	 * cgroup root: it goes (a stopped sandbox has no cgroup). A running one
	 * keeps it, as the next kenneld adopts it there. */
	int running = 0;
	for (struct kn_sandbox *sb = st.list; sb; sb = sb->next)
		running |= sb->init_pid != 0;
	kn_error cerr;
	if (!running && kn_cgroup_remove_root(&cerr) < 0)
		log_warn("%s", cerr.msg);
	kn_agents_free();
	return rc < 0 ? 1 : 0;
}
