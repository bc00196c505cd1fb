#define _GNU_SOURCE
#include "daemon/manager.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/ca.h"
#include "daemon/proxy_sup.h"
#include "daemon/secrets.h"
#include "sandbox/base.h"
#include "sandbox/vm.h"

/* Below this a shell cannot even start; it catches "--memory 64" meant as MiB. */
#define KN_MIN_MEMORY (16u << 20)
/* A login shell plus a command needs a handful of processes. */
#define KN_MIN_PIDS 8
/* More than the kernel's default pid_max makes no sense. */
#define KN_MAX_PIDS 4194304

/* Is `path` equal to `dir` or below it? */
static int path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return 1;
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static int validate(const struct kn_create_req *req, const char *state_dir,
		    const char *socket_path, kn_error *err)
{
	if (!req->agent || !kn_agent_find(req->agent)) {
		char known[512];
		kn_agent_names(known, sizeof(known));
		return kn_fail_class(err, EINVAL, "unknown agent '%s' (known: %s)",
				     req->agent ? req->agent : "", known);
	}
	if (req->n_workspaces == 0)
		return kn_fail_class(err, EINVAL, "at least one workspace is required");
	for (size_t i = 0; i < req->n_workspaces; i++) {
		const char *p = req->workspaces[i].path;
		struct stat st;
		if (p[0] != '/')
			return kn_fail_class(err, EINVAL, "workspace %s is not an absolute path", p);
		if (stat(p, &st) < 0)
			return kn_fail_class(err, EINVAL, "workspace %s: %s", p, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return kn_fail_class(err, EINVAL, "workspace %s is not a directory", p);
		char real[PATH_MAX];
		if (!realpath(p, real) || strcmp(real, p))
			return kn_fail_class(err, EINVAL, "workspace %s must be a canonical path (it is %s)",
					     p, realpath(p, real) ? real : "unresolvable");
		if (!strcmp(p, "/"))
			return kn_fail_class(err, EINVAL, "the root directory cannot be a workspace");
		/* Kernel file systems the sandbox mounts fresh. */
		static const char *const reserved[] = {"/proc", "/sys", "/dev"};
		for (size_t r = 0; r < KN_ARRAY_SIZE(reserved); r++) {
			size_t n = strlen(reserved[r]);
			if (!strncmp(p, reserved[r], n) && (p[n] == '\0' || p[n] == '/'))
				return kn_fail_class(err, EINVAL, "workspace %s lies in %s, which the sandbox provides itself",
						     p, reserved[r]);
		}
	}
	/* The state dir holds every sandbox's layers and the API socket drives
	 * the daemon: no workspace may expose either, nor lie inside the state dir. */
	for (size_t i = 0; i < req->n_workspaces; i++) {
		const char *p = req->workspaces[i].path;
		if (path_within(state_dir, p) || path_within(p, state_dir))
			return kn_fail_class(err, EINVAL, "workspace %s %s kennel's state dir %s", p,
					     path_within(state_dir, p) ? "contains" : "lies in", state_dir);
		if (socket_path[0] && path_within(socket_path, p))
			return kn_fail_class(err, EINVAL, "workspace %s contains kenneld's API socket %s",
					     p, socket_path);
	}
	if (req->image) {
		struct stat st;
		if (req->image[0] != '/' || stat(req->image, &st) < 0 || !S_ISDIR(st.st_mode))
			return kn_fail_class(err, EINVAL, "image %s is not an existing absolute directory",
					     req->image);
	}
	if (req->limits.cpus < 0 || req->limits.cpus > 1024)
		return kn_fail_class(err, EINVAL, "cpus must be between 0 and 1024");
	if (req->limits.memory_bytes && req->limits.memory_bytes < KN_MIN_MEMORY)
		return kn_fail_class(err, EINVAL, "memory limit below 16 MiB");
	if (req->limits.pids && (req->limits.pids < KN_MIN_PIDS || req->limits.pids > KN_MAX_PIDS))
		return kn_fail_class(err, EINVAL, "pids limit must be between %d and %d", KN_MIN_PIDS,
				     KN_MAX_PIDS);
	return 0;
}

static void now_rfc3339(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* How start_sandbox starts. */
#define START_CREATE 1  /* the sandbox's first start: config.json is written too */
#define START_TRUSTED 2 /* its trust store holds its CA already (ahead.h) */
static int start_sandbox(struct kn_store *st, struct kn_sandbox *sb, unsigned how,
			 const int *layers, kn_error *err);

static void close_layers(int layers[KN_NS_LAYERS])
{
	for (size_t i = 0; i < KN_NS_LAYERS; i++)
		kn_closep(&layers[i]);
}

static void log_new_ca(const struct kn_sandbox *sb)
{
	log_info("sandbox %s: new kennel CA (SHA-256 %s)", sb->name, sb->ca.fingerprint);
}

/* The sandbox's kennel CA, made when missing: at create, and at the start
 * of a sandbox from state older than CAs. */
static int make_ca(struct kn_store *st, struct kn_sandbox *sb, kn_error *err)
{
	/* The key belongs to kennel-proxy's user, as the design says the proxy
	 * holds it; without a supervisor (unit tests) it stays root's. */
	uid_t uid = st->proxy ? st->proxy->uid : 0;
	gid_t gid = st->proxy ? st->proxy->gid : 0;
	int made = 0;
	if (!sb->has_ca)
		sb->ca = (struct kn_ca_info){0};
	if (kn_ca_ensure(sb->dir, uid, gid, &sb->ca, &made, err) < 0)
		return kn_fail_prefix(err, "kennel CA");
	sb->has_ca = 1;
	if (made)
		log_new_ca(sb);
	return 0;
}

int kn_mgr_create(struct kn_store *st, const struct kn_create_req *req, struct kn_sandbox **out,
		  kn_error *err)
{
	const char *reason;
	if (validate(req, st->state_dir, st->socket_path, err) < 0)
		return -1;
	char name[KN_NAME_MAX + 1];
	if (req->name) {
		if (!kn_name_valid(req->name, &reason))
			return kn_fail_class(err, EINVAL, "invalid sandbox name '%s': %s", req->name, reason);
		if (kn_store_find(st, req->name))
			return kn_fail_class(err, EEXIST, "a sandbox named %s already exists", req->name);
		snprintf(name, sizeof(name), "%s", req->name);
	} else {
		char base[KN_NAME_MAX + 1];
		kn_name_default(req->agent, req->workspaces[0].path, base, sizeof(base));
		snprintf(name, sizeof(name), "%s", base);
		for (int i = 2; kn_store_find(st, name); i++) {
			char suffix[16];
			int sl = snprintf(suffix, sizeof(suffix), "-%d", i);
			snprintf(name, sizeof(name), "%.*s%s", KN_NAME_MAX - sl, base, suffix);
		}
	}
	struct kn_sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return kn_fail(err, "out of memory");
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	snprintf(sb->agent, sizeof(sb->agent), "%s", req->agent);
	snprintf(sb->image, sizeof(sb->image), "%s", req->image ? req->image : "");
	snprintf(sb->dir, sizeof(sb->dir), "%s/sandboxes/%s", st->state_dir, name);
	now_rfc3339(sb->created, sizeof(sb->created));
	sb->limits = req->limits;
	sb->vm = req->vm;
	if (sb->vm && kn_vm_check(st->vm_assets, err) < 0) {
		kn_sandbox_free(sb);
		kn_fail_prefix(err, "create sandbox %s", name);
		/* A 400: the request asks for what this host lacks. (Not
		 * kn_fail_class with err->msg as an argument: it would format
		 * into the buffer it reads.) */
		if (err)
			err->errnum = EINVAL;
		return -1;
	}
	/* The base of the folder made ahead when this create can take it. */
	sb->uid_base = !sb->image[0] && !sb->vm ? kn_ahead_next_base(st) : kn_store_free_uid_base(st);
	sb->n_workspaces = req->n_workspaces;
	memcpy(sb->workspaces, req->workspaces, sizeof(req->workspaces[0]) * req->n_workspaces);
	sb->init_pidfd = -1;
	/* The agent's API hosts are part of what it needs to work at all. */
	sb->policy = kn_agent_policy(kn_agent_find(req->agent), st->default_policy);
	if (!sb->policy) {
		kn_sandbox_free(sb);
		return kn_fail(err, "out of memory");
	}

	/* The folders, CA, trust store and overlays made ahead (ahead.h), if
	 * they are. */
	int layers[KN_NS_LAYERS];
	int ahead = kn_ahead_take(st, sb, layers);
	if (!ahead && mkdir(sb->dir, 0700) < 0) {
		int e = errno;
		kn_sandbox_free(sb);
		return kn_fail_class(err, e == EEXIST ? EEXIST : e, "mkdir %s: %s", sb->dir, strerror(e));
	}
	if (ahead)
		log_new_ca(sb);
	struct kn_sandbox_spec spec;
	kn_store_spec(st, sb, &spec);
	if ((!sb->image[0] && kn_base_build(st->base_dir, err) < 0) ||
	    (ahead ? kn_ns_prepare_identity(&spec, layers[0], err) : kn_ns_prepare(&spec, err)) < 0 ||
	    (!ahead && make_ca(st, sb, err) < 0)) {
		kn_error ignored;
		close_layers(layers);
		kn_store_remove_files(st, sb, &ignored);
		kn_sandbox_free(sb);
		return kn_fail_prefix(err, "create sandbox %s", name);
	}
	kn_store_add(st, sb);
	log_info("created sandbox %s (agent %s, workspace %s, uid base %u)", sb->name, sb->agent,
		 sb->workspaces[0].path, sb->uid_base);
	/* An agent's first-run files go into the stopped sandbox's layer
	 * (seed_home), which must not change under a mounted overlay: the
	 * start makes its own. */
	const struct kn_agent *a = kn_agent_find(sb->agent);
	if (a && a->n_files)
		close_layers(layers);
	/* config.json is written while the sandbox's first start is under way
	 * (start_sandbox): a create that fails or dies before it leaves a folder
	 * without one, which the next start of kenneld removes (store.c). */
	int rc = start_sandbox(st, sb, START_CREATE | (ahead ? START_TRUSTED : 0),
			       layers[0] >= 0 ? layers : NULL, err);
	close_layers(layers);
	if (rc < 0) {
		kn_error ignored;
		kn_store_unlink(st, sb);
		kn_store_remove_files(st, sb, &ignored);
		kn_sandbox_free(sb);
		return -1;
	}
	kn_ahead_recheck(st);
	*out = sb;
	return 0;
}

void kn_mgr_connect_pending(struct kn_store *st)
{
	for (struct kn_sandbox *sb = st->list; sb; sb = sb->next) {
		if (!sb->proxy_pending)
			continue;
		sb->proxy_pending = 0;
		kn_error err;
		/* Not fatal: without the proxy the sandbox simply has no way out
		 * yet; the proxy gets every running sandbox again when it
		 * (re)starts. */
		if (st->proxy && sb->init_pid && kn_proxy_add_sandbox(st->proxy, sb, 0, &err) < 0)
			log_error("sandbox %s: no network until kennel-proxy takes it: %s", sb->name, err.msg);
	}
}

int kn_mgr_set_policy(struct kn_store *st, struct kn_sandbox *sb, json_t *canon, kn_error *err)
{
	json_t *old = sb->policy;
	sb->policy = json_incref(canon);
	if (kn_store_save_config(sb, err) < 0) {
		json_decref(sb->policy);
		sb->policy = old;
		return -1;
	}
	json_decref(old);
	if (kn_store_write_proxy_config(sb, err) < 0)
		log_warn("sandbox %s: %s", sb->name, err->msg);
	/* A sandbox not handed over yet goes to the proxy with this policy. */
	if (st->proxy && sb->init_pid && !sb->proxy_pending && kn_proxy_set_policy(st->proxy, sb, err) < 0)
		log_error("sandbox %s: policy saved but kennel-proxy did not take it yet: %s "
			  "(it gets it when it restarts)", sb->name, err->msg);
	log_info("sandbox %s: network policy changed", sb->name);
	return 0;
}

/* Before every start, after the CA is made: the CA in the sandbox's trust
 * store. Only while it is stopped: the trust store lives in its overlay's
 * writable layer. A trust store that cannot be written (the sandbox may have
 * wrecked its own /etc) only costs the sandbox its TLS. */
static void trust_ca(const struct kn_sandbox *sb, const struct kn_sandbox_spec *spec)
{
	kn_error e;
	if (kn_ahead_trust(spec, sb->ca.subject_hash, &e) < 0)
		log_error("sandbox %s: kennel CA not installed in its trust store, so it will "
			  "not trust intercepted TLS: %s", sb->name, e.msg);
}

/* Before every start: the agent's first-run files the sandbox lacks. Only
 * costs the agent its unattended start when they cannot be written. */
static void seed_home(const struct kn_sandbox *sb, const struct kn_sandbox_spec *spec)
{
	const struct kn_agent *a = kn_agent_find(sb->agent);
	kn_error e;
	if (a && a->n_files && kn_ns_seed_home(spec, a->files, a->n_files, &e) < 0)
		log_error("sandbox %s: the %s agent's first-run files are not all in its home, "
			  "so it may stop at set-up questions: %s", sb->name, a->name, e.msg);
}

struct start_files {
	struct kn_sandbox *sb;
	int config; /* also config.json: the sandbox's first start */
};

/* While the sandbox's init sets itself up: the state files that do not
 * depend on it having succeeded. (runtime.json waits for that: it is what
 * a restarted kenneld adopts.) */
static int write_start_files(void *arg, kn_error *err)
{
	const struct start_files *f = arg;
	if (f->config && kn_store_save_config(f->sb, err) < 0)
		return -1;
	kn_error perr;
	if (kn_store_write_proxy_config(f->sb, &perr) < 0)
		log_warn("sandbox %s: %s", f->sb->name, perr.msg);
	return 0;
}

int kn_mgr_idle_due(const struct kn_store *st)
{
	/* A failed attempt is retried only at the loop's slow tick. */
	return (st->spare.net < 0 && !st->spare_failed) || kn_ahead_due(st);
}

static void make_spare(struct kn_store *st)
{
	kn_error err;
	if (kn_spare_make(&st->spare, kn_ahead_next_base(st), &err) == 0) {
		st->spare_failed = 0;
		return;
	}
	/* The next start makes its own and reports what fails then. */
	if (!st->spare_failed)
		log_warn("namespaces for the next sandbox not made ahead: %s", err.msg);
	st->spare_failed = 1;
}

static void make_ahead(struct kn_store *st)
{
	kn_error err;
	int failed_before = st->ahead.failed;
	/* The next create makes its own folder. */
	if (kn_ahead_make(st, kn_ahead_next_base(st), &err) < 0 && !failed_before)
		log_warn("the next sandbox's folder not made ahead: %s", err.msg);
}

void kn_mgr_idle(struct kn_store *st)
{
	kn_ca_key_ahead();
	/* One piece per call, the namespaces first: a request that comes
	 * meanwhile waits for one piece at most. */
	if (st->spare.net < 0 && !st->spare_failed)
		make_spare(st);
	else if (kn_ahead_due(st))
		make_ahead(st);
	else if (st->spare.net < 0) /* the slow tick: retry what failed */
		make_spare(st);
	else if (!st->ahead.mounted)
		make_ahead(st);
}

static int start_sandbox(struct kn_store *st, struct kn_sandbox *sb, unsigned how,
			 const int *layers, kn_error *err)
{
	if (sb->init_pid)
		return 0;
	/* A CA that cannot be made fails the start. */
	if (make_ca(st, sb, err) < 0)
		return kn_fail_prefix(err, "start sandbox %s", sb->name);
	struct kn_limits limits = sb->limits;
	if (sb->vm) {
		/* Each boot has its own exec token; the limit holds QEMU around
		 * the guest's RAM. */
		kn_vm_new_token(sb->vm_token);
		limits.memory_bytes = kn_vm_memory_limit(kn_vm_ram_mib(sb->limits.memory_bytes));
	}
	struct kn_sandbox_spec spec;
	kn_store_spec(st, sb, &spec);
	if (!(how & START_TRUSTED))
		trust_ca(sb, &spec);
	seed_home(sb, &spec);
	if (kn_cgroup_create(sb->name, &limits, &sb->cg, err) < 0)
		return kn_fail_prefix(err, "start sandbox %s", sb->name);
	pid_t pid;
	int pidfd;
	struct start_files files = {sb, !!(how & START_CREATE)};
	/* The namespaces made ahead (kn_mgr_idle), if they are: making them
	 * now would cost more than the clone making its own. */
	struct kn_spare spare = st->spare;
	st->spare = KN_SPARE_NONE;
	int rc = kn_ns_start(&spec, &sb->cg, spare.net >= 0 ? &spare : NULL, layers, write_start_files, &files,
			     &pid, &pidfd, err);
	kn_spare_close(&spare);
	if (rc < 0) {
		kn_error ignored;
		kn_cgroup_destroy(&sb->cg, &ignored);
		return -1;
	}
	sb->init_pid = pid;
	sb->init_pidfd = pidfd;
	sb->init_is_child = 1;
	sb->init_start = kn_proc_start_time(pid);
	if (kn_store_save_runtime(sb, err) < 0) {
		kn_error ignored;
		kn_mgr_stop(st, sb, &ignored);
		return -1;
	}
	log_info("started sandbox %s (init pid %d%s)", sb->name, (int)pid, sb->vm ? ", a QEMU microVM" : "");
	sb->proxy_pending = 1;
	return 0;
}

int kn_mgr_start(struct kn_store *st, struct kn_sandbox *sb, kn_error *err)
{
	return start_sandbox(st, sb, 0, NULL, err);
}

/* Reap or wait for the init after its cgroup was killed. */
static void wait_init_gone(struct kn_sandbox *sb)
{
	if (sb->init_is_child) {
		while (waitpid(sb->init_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	kn_closep(&sb->init_pidfd);
	sb->init_pid = 0;
	sb->init_start = 0;
}

int kn_mgr_stop(struct kn_store *st, struct kn_sandbox *sb, kn_error *err)
{
	if (!sb->init_pid)
		return 0;
	kn_error perr;
	if (st->proxy && !sb->proxy_pending && kn_proxy_remove_sandbox(st->proxy, sb, &perr) < 0)
		log_warn("sandbox %s: %s", sb->name, perr.msg);
	sb->proxy_pending = 0;
	if (kn_cgroup_kill(&sb->cg, err) < 0)
		return kn_fail_prefix(err, "stop sandbox %s", sb->name);
	wait_init_gone(sb);
	if (kn_cgroup_destroy(&sb->cg, err) < 0)
		log_warn("stop sandbox %s: %s", sb->name, err->msg);
	if (kn_store_clear_runtime(sb, err) < 0)
		return -1;
	log_info("stopped sandbox %s", sb->name);
	return 0;
}

void kn_mgr_on_init_exit(struct kn_store *st, struct kn_sandbox *sb)
{
	kn_error err;
	log_warn("sandbox %s: init (pid %d) exited; marking it stopped", sb->name, (int)sb->init_pid);
	if (kn_mgr_stop(st, sb, &err) < 0)
		log_error("%s", err.msg);
}

int kn_mgr_remove(struct kn_store *st, struct kn_sandbox *sb, int force, kn_error *err)
{
	if (sb->init_pid && !force)
		return kn_fail_class(err, EBUSY, "sandbox %s is running; stop it first or use rm -f",
				     sb->name);
	if (kn_mgr_stop(st, sb, err) < 0)
		return -1;
	if (kn_store_remove_files(st, sb, err) < 0)
		return kn_fail_prefix(err, "remove sandbox %s", sb->name);
	kn_store_unlink(st, sb);
	log_info("removed sandbox %s", sb->name);
	kn_error serr;
	/* Its secrets die with it: a later sandbox of the same name must not
	 * inherit them. The sandbox is gone either way; a failure is logged. */
	if (kn_secrets_remove_sandbox(st, sb->name, &serr) < 0)
		log_error("sandbox %s: removing its secrets: %s", sb->name, serr.msg);
	kn_sandbox_free(sb);
	return 0;
}

int kn_mgr_reconcile(struct kn_store *st, kn_error *err)
{
	for (struct kn_sandbox *sb = st->list; sb; sb = sb->next) {
		pid_t pid;
		unsigned long long start;
		kn_error e;
		int has_cg = kn_cgroup_open(sb->name, &sb->cg, &e) == 0;
		if (kn_store_read_runtime(sb, &pid, &start) && start && kn_proc_start_time(pid) == start) {
			int fd = (int)syscall(SYS_pidfd_open, pid, 0);
			if (fd >= 0 && has_cg) {
				sb->init_pid = pid;
				sb->init_start = start;
				sb->init_pidfd = fd;
				sb->init_is_child = 0;
				log_info("reconcile: sandbox %s still running (init pid %d); adopted", sb->name, (int)pid);
				continue;
			}
			if (fd >= 0)
				close(fd);
			/* Running but without its cgroup: it cannot be managed, end it. */
			kill(pid, SIGKILL);
		}
		if (has_cg && kn_cgroup_destroy(&sb->cg, &e) < 0)
			log_warn("reconcile: sandbox %s: %s", sb->name, e.msg);
		kn_store_clear_runtime(sb, &e);
	}
	char **names = NULL;
	size_t n = 0;
	if (kn_cgroup_list(&names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (kn_store_find(st, names[i]))
			continue;
		struct kn_cgroup cg;
		kn_error e;
		log_info("reconcile: removing stray cgroup %s", names[i]);
		if (kn_cgroup_open(names[i], &cg, &e) < 0 || kn_cgroup_destroy(&cg, &e) < 0)
			log_warn("reconcile: %s", e.msg);
	}
	kn_cgroup_list_free(names, n);
	return 0;
}
