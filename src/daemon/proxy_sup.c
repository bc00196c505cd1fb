#define _GNU_SOURCE
#include "daemon/proxy_sup.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fdpass.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/ca.h"
#include "daemon/secrets.h"
#include "sandbox/netns.h"

static int run_quiet(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int ensure_user(struct kn_proxy_sup *ps, kn_error *err)
{
	struct passwd *pw = getpwnam(KN_PROXY_USER);
	if (!pw) {
		char *const argv[] = {"useradd", "--system", "--no-create-home", "--home-dir",
				      "/nonexistent", "--shell", "/usr/sbin/nologin",
				      "--user-group", KN_PROXY_USER, NULL};
		if (run_quiet(argv) != 0)
			log_warn("useradd %s failed", KN_PROXY_USER);
		pw = getpwnam(KN_PROXY_USER);
	}
	if (!pw)
		return kn_fail(err, "no user %s and it could not be created (useradd); kennel-proxy "
				    "must not run as root",
			       KN_PROXY_USER);
	if (pw->pw_uid == 0)
		return kn_fail(err, "user %s has uid 0; refusing to run the proxy as root", KN_PROXY_USER);
	ps->uid = pw->pw_uid;
	ps->gid = pw->pw_gid;
	return 0;
}

int kn_proxy_open_upstream_ca(const char *path, int *n_certs, kn_error *err)
{
	/* O_NONBLOCK until it is known to be a regular file: a FIFO named by
	 * mistake must not hang the daemon's start. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return kn_fail_errno(err, "--upstream-ca %s: open", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return kn_fail_errno(err, "--upstream-ca %s: fstat", path);
	if (!S_ISREG(st.st_mode))
		return kn_fail(err, "--upstream-ca %s: not a regular file", path);
	if (fcntl(fd, F_SETFL, 0) < 0)
		return kn_fail_errno(err, "--upstream-ca %s: fcntl", path);
	_cleanup_free_ char *data = NULL;
	size_t got = 0;
	if (kn_read_fd(fd, path, KN_UPSTREAM_CA_MAX, &data, &got, err) < 0)
		return kn_fail_prefix(err, "--upstream-ca");
	int count = kn_ca_count_certs(data, got, err);
	if (count < 0)
		return kn_fail_prefix(err, "--upstream-ca %s", path);
	if (count == 0)
		return kn_fail(err, "--upstream-ca %s: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
			       path);
	*n_certs = count;
	return steal_fd(&fd);
}

int kn_proxy_init(struct kn_proxy_sup *ps, const struct kn_store *st, const char *hosts_file,
		  int upstream_ca_fd, int debug, kn_error *err)
{
	memset(ps, 0, sizeof(*ps));
	ps->pidfd = ps->ctl = -1;
	ps->upstream_ca_fd = upstream_ca_fd;
	ps->debug = debug;
	ps->backoff_s = 1;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return kn_fail_errno(err, "readlink /proc/self/exe");
	self[n] = '\0';
	snprintf(ps->binary, sizeof(ps->binary), "%s/kennel-proxy", dirname(self));
	if (ensure_user(ps, err) < 0)
		return -1;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/proxy", st->state_dir);
	if (kn_mkdir_p(dir, 0750, err) < 0)
		return -1;
	if (chown(dir, ps->uid, ps->gid) < 0 || chmod(dir, 0750) < 0)
		return kn_fail_errno(err, "chown %s", dir);
	snprintf(ps->log_path, sizeof(ps->log_path), "%s/decisions.log", dir);
	if (hosts_file) {
		_cleanup_free_ char *data = NULL;
		size_t len = 0;
		/* The proxy cannot read arbitrary root files: give it a copy. */
		if (kn_read_file(hosts_file, 1 << 24, &data, &len, err) < 0)
			return kn_fail_prefix(err, "--hosts");
		snprintf(ps->hosts_path, sizeof(ps->hosts_path), "%s/hosts", dir);
		if (kn_write_atomic(ps->hosts_path, data, len, 0644, err) < 0)
			return -1;
	}
	return 0;
}

static void proxy_child(struct kn_proxy_sup *ps, int ctl)
{
	if (setgroups(0, NULL) < 0 || setresgid(ps->gid, ps->gid, ps->gid) < 0 ||
	    setresuid(ps->uid, ps->uid, ps->uid) < 0)
		_exit(126);
	/* Lift both fds above their targets first, so no dup2 clobbers the other. */
	int ca = ps->upstream_ca_fd >= 0
			 ? fcntl(ps->upstream_ca_fd, F_DUPFD, KN_PROXY_FD_UPSTREAM_CA + 1)
			 : -1;
	ctl = fcntl(ctl, F_DUPFD, KN_PROXY_FD_UPSTREAM_CA + 1);
	if (ctl < 0 || dup2(ctl, KN_PROXY_FD_CONTROL) < 0)
		_exit(126);
	if (ps->upstream_ca_fd >= 0) {
		/* Every proxy shares the file offset: start each from the top. */
		if (ca < 0 || dup2(ca, KN_PROXY_FD_UPSTREAM_CA) < 0 ||
		    lseek(KN_PROXY_FD_UPSTREAM_CA, 0, SEEK_SET) < 0)
			_exit(126);
	}
	syscall(SYS_close_range,
		(ps->upstream_ca_fd >= 0 ? KN_PROXY_FD_UPSTREAM_CA : KN_PROXY_FD_CONTROL) + 1, ~0U, 0);
	char *argv[14];
	char ctl_arg[16], ca_arg[16];
	int a = 0;
	snprintf(ctl_arg, sizeof(ctl_arg), "%d", KN_PROXY_FD_CONTROL);
	snprintf(ca_arg, sizeof(ca_arg), "%d", KN_PROXY_FD_UPSTREAM_CA);
	argv[a++] = "kennel-proxy";
	argv[a++] = "--control-fd";
	argv[a++] = ctl_arg;
	argv[a++] = "--log";
	argv[a++] = ps->log_path;
	if (ps->hosts_path[0]) {
		argv[a++] = "--hosts";
		argv[a++] = ps->hosts_path;
	}
	if (ps->upstream_ca_fd >= 0) {
		argv[a++] = "--upstream-ca-fd";
		argv[a++] = ca_arg;
	}
	if (ps->debug)
		argv[a++] = "--debug";
	argv[a] = NULL;
	/* LeakSanitizer needs ptrace, which the proxy's seccomp filter refuses:
	 * in a sanitizer build it would fail every clean exit. Ignored otherwise. */
	char *const env[] = {"PATH=/usr/bin:/bin", "ASAN_OPTIONS=detect_leaks=0", NULL};
	execve(ps->binary, argv, env);
	_exit(127);
}

static void kill_proxy(struct kn_proxy_sup *ps)
{
	if (ps->pid > 0) {
		kill(ps->pid, SIGKILL);
		while (waitpid(ps->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	kn_closep(&ps->pidfd);
	kn_closep(&ps->ctl);
	ps->pid = 0;
	ps->owed = 0;
}

/* A control failure: the proxy is killed and restarted at the next tick. */
static int proxy_dead(struct kn_proxy_sup *ps, kn_error *err)
{
	log_error("kennel-proxy: %s; restarting it", err ? err->msg : "control failure");
	kill_proxy(ps);
	ps->next_start = 0;
	return -1;
}

/* A proxy that died by itself (its socket closed) restarts after the
 * back-off, as when its pidfd reports the death first. */
static void schedule_restart(struct kn_proxy_sup *ps)
{
	ps->next_start = time(NULL) + ps->backoff_s;
	if (ps->backoff_s < KN_PROXY_MAX_BACKOFF_S)
		ps->backoff_s *= 2;
}

/* Read one answer, waiting for it up to `wait_ms` (0: only if it is there):
 * 1 and *ok (a refusal's text in err), 0 when none came in time, -1 (err)
 * when the proxy failed. */
static int read_answer(struct kn_proxy_sup *ps, int wait_ms, int *ok, kn_error *err)
{
	struct pollfd pfd = {.fd = ps->ctl, .events = POLLIN};
	int r;
	do
		r = poll(&pfd, 1, wait_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return kn_fail_errno(err, "poll kennel-proxy's control socket");
	if (r == 0)
		return 0;
	char buf[4096];
	size_t got_fds = 0;
	ssize_t n = kn_recv_fds(ps->ctl, buf, sizeof(buf) - 1, NULL, 0, &got_fds, err);
	if (n <= 0)
		return n == 0 ? kn_fail(err, "kennel-proxy closed its control socket") : -1;
	buf[n] = '\0';
	json_t *reply = json_loads(buf, 0, NULL);
	*ok = reply && json_is_true(json_object_get(reply, "ok"));
	if (!*ok) {
		const char *e = reply ? json_string_value(json_object_get(reply, "error")) : NULL;
		kn_fail(err, "kennel-proxy refused: %s", e ? e : buf);
	}
	json_decref(reply);
	return 1;
}

/* One owed answer has come: a refusal is logged (whoever sent the message
 * did not wait for it), and the next one is due a full timeout from now. */
static void answer_owed(struct kn_proxy_sup *ps, int ok, const kn_error *refusal)
{
	ps->owed--;
	ps->owed_due_ms = kn_now_ms() + KN_PROXY_REPLY_TIMEOUT_MS;
	if (!ok)
		log_error("%s", refusal->msg);
}

void kn_proxy_collect(struct kn_proxy_sup *ps)
{
	/* Also when nothing is owed: the socket is readable, and left unread
	 * (a closed socket, a message nobody asked for) the loop would spin. */
	while (ps->ctl >= 0) {
		kn_error e;
		int ok = 0, r = read_answer(ps, 0, &ok, &e);
		if (r == 0)
			break;
		if (r > 0 && !ps->owed)
			kn_fail(&e, "an answer to no message");
		if (r < 0 || !ps->owed) {
			proxy_dead(ps, &e);
			schedule_restart(ps);
			return;
		}
		answer_owed(ps, ok, &e);
	}
}

/* Send one message. With `wait`: then every answer still owed and its own
 * (the proxy answers in order), its refusal as the error; without, its
 * answer is owed and collected later. */
static int send_message(struct kn_proxy_sup *ps, json_t *msg, const int *fds, size_t n_fds, int wait,
			kn_error *err)
{
	/* The text may hold a key or secret values: wiped when freed. */
	_cleanup_wipe_free_ char *text = json_dumps(msg, JSON_COMPACT);
	if (!text)
		return kn_fail(err, "encode proxy message");
	if (ps->ctl < 0)
		return kn_fail(err, "kennel-proxy is not running");
	if (strlen(text) > KN_PROXY_MSG_MAX)
		return kn_fail(err, "proxy message larger than %d bytes", KN_PROXY_MSG_MAX);
	if (kn_send_fds(ps->ctl, text, strlen(text), fds, n_fds, err) < 0)
		return proxy_dead(ps, err);
	if (!wait) {
		if (!ps->owed++)
			ps->owed_due_ms = kn_now_ms() + KN_PROXY_REPLY_TIMEOUT_MS;
		return 0;
	}
	for (;;) {
		int ok = 0, r = read_answer(ps, KN_PROXY_REPLY_TIMEOUT_MS, &ok, err);
		if (r == 0)
			kn_fail(err, "kennel-proxy did not answer within %d ms", KN_PROXY_REPLY_TIMEOUT_MS);
		if (r <= 0)
			return proxy_dead(ps, err);
		if (!ps->owed)
			return ok ? 0 : -1;
		answer_owed(ps, ok, err);
	}
}

static int transact(struct kn_proxy_sup *ps, json_t *msg, const int *fds, size_t n_fds, kn_error *err)
{
	return send_message(ps, msg, fds, n_fds, 1, err);
}

/* {"cert":PEM,"key":PEM} of the sandbox's kennel CA; NULL with err set. */
static json_t *ca_json(const struct kn_sandbox *sb, kn_error *err)
{
	struct kn_ca_pem pem;
	if (kn_ca_load(sb->dir, &pem, err) < 0)
		return NULL;
	json_t *j = json_pack("{s:s%,s:s%}", "cert", pem.cert, pem.cert_len, "key", pem.key, pem.key_len);
	kn_ca_pem_clear(&pem);
	if (!j)
		kn_fail(err, "encode the kennel CA of sandbox %s", sb->name);
	return j;
}

/* Wipe the key's copy in `msg` before it is freed: kenneld's jansson frees
 * through kn_wipe_free anyway, but this does not depend on that (the buffer
 * is jansson's own malloc'd, writable memory). */
static void wipe_ca_key(json_t *msg)
{
	json_t *key = json_object_get(json_object_get(msg, "ca"), "key");
	if (json_is_string(key))
		OPENSSL_cleanse((char *)json_string_value(key), json_string_length(key));
}

int kn_proxy_add_sandbox(struct kn_proxy_sup *ps, struct kn_sandbox *sb, int wait, kn_error *err)
{
	/* Whoever sends it (a start, or a proxy's restart), it is sent. */
	sb->proxy_pending = 0;
	if (ps->ctl < 0 || !sb->init_pid)
		return 0; /* sent when the proxy (re)starts */
	int fds[2];
	if (kn_netns_proxy_listeners(sb->init_pidfd, fds, err) < 0)
		return kn_fail_prefix(err, "sandbox %s", sb->name);
	int rc = -1;
	json_t *msg = json_pack("{s:s,s:s,s:O}", "op", "sandbox", "name", sb->name, "policy", sb->policy);
	if (!msg) {
		kn_fail(err, "encode proxy message");
		goto out;
	}
	/* A sandbox adopted from a daemon older than CAs has none until its
	 * next start: the proxy gets no "ca" for it. */
	if (sb->has_ca) {
		json_t *ca = ca_json(sb, err);
		if (!ca) {
			kn_fail_prefix(err, "sandbox %s", sb->name);
			goto out;
		}
		json_object_set_new(msg, "ca", ca);
	}
	rc = send_message(ps, msg, fds, fds[1] >= 0 ? 2 : 1, wait, err);
out:
	if (msg) {
		wipe_ca_key(msg);
		json_decref(msg);
	}
	close(fds[0]);
	kn_closep(&fds[1]);
	return rc;
}

int kn_proxy_set_policy(struct kn_proxy_sup *ps, struct kn_sandbox *sb, kn_error *err)
{
	if (ps->ctl < 0 || !sb->init_pid)
		return 0;
	json_t *msg = json_pack("{s:s,s:s,s:O}", "op", "policy", "name", sb->name, "policy", sb->policy);
	int rc = transact(ps, msg, NULL, 0, err);
	json_decref(msg);
	return rc;
}

int kn_proxy_remove_sandbox(struct kn_proxy_sup *ps, struct kn_sandbox *sb, kn_error *err)
{
	if (ps->ctl < 0)
		return 0;
	json_t *msg = json_pack("{s:s,s:s}", "op", "remove", "name", sb->name);
	int rc = transact(ps, msg, NULL, 0, err);
	json_decref(msg);
	return rc;
}

int kn_proxy_send_secrets(struct kn_proxy_sup *ps, json_t *secrets, kn_error *err)
{
	if (ps->ctl < 0)
		return 0; /* sent when the proxy (re)starts */
	json_t *msg = kn_secrets_message(secrets);
	if (!msg)
		return kn_fail(err, "encode the secrets message");
	int rc = transact(ps, msg, NULL, 0, err);
	json_decref(msg);
	return rc;
}

int kn_proxy_start(struct kn_proxy_sup *ps, struct kn_store *st, kn_error *err)
{
	if (access(ps->binary, X_OK) < 0)
		return kn_fail_errno(err, "kennel-proxy binary %s", ps->binary);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return kn_fail_errno(err, "socketpair for kennel-proxy");
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return kn_fail_errno(err, "fork kennel-proxy");
	}
	if (pid == 0) {
		close(sv[0]);
		proxy_child(ps, sv[1]);
	}
	close(sv[1]);
	ps->pid = pid;
	ps->ctl = sv[0];
	ps->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd pfd = {.fd = ps->ctl, .events = POLLIN};
	char buf[256];
	size_t nf = 0;
	ssize_t n = -1;
	if (poll(&pfd, 1, KN_PROXY_REPLY_TIMEOUT_MS) == 1)
		n = kn_recv_fds(ps->ctl, buf, sizeof(buf) - 1, NULL, 0, &nf, err);
	if (n <= 0 || ps->pidfd < 0) {
		kill_proxy(ps);
		return kn_fail(err, "kennel-proxy did not report ready");
	}
	ps->started = time(NULL);
	log_info("kennel-proxy started (pid %d, user %s)", (int)pid, KN_PROXY_USER);
	for (struct kn_sandbox *sb = st->list; sb; sb = sb->next) {
		kn_error e;
		if (sb->init_pid && kn_proxy_add_sandbox(ps, sb, 1, &e) < 0)
			log_error("proxy: sandbox %s: %s", sb->name, e.msg);
	}
	/* A new proxy's table is empty: only a non-empty one needs sending. */
	kn_error e;
	if (json_array_size(st->secrets) && kn_proxy_send_secrets(ps, st->secrets, &e) < 0)
		log_error("proxy: secrets: %s", e.msg);
	return 0;
}

void kn_proxy_on_exit(struct kn_proxy_sup *ps)
{
	siginfo_t si = {0};
	if (ps->pidfd >= 0)
		waitid(P_PIDFD, (id_t)ps->pidfd, &si, WEXITED | WNOHANG);
	log_error("kennel-proxy (pid %d) %s %d; sandboxes have no network until it is back",
		  (int)ps->pid, si.si_code == CLD_EXITED ? "exited with status" : "killed by signal",
		  si.si_status);
	kn_closep(&ps->pidfd);
	kn_closep(&ps->ctl);
	ps->pid = 0;
	ps->owed = 0;
	schedule_restart(ps);
}

void kn_proxy_tick(struct kn_proxy_sup *ps, struct kn_store *st)
{
	if (ps->owed && kn_now_ms() >= ps->owed_due_ms) {
		kn_error e;
		kn_fail(&e, "kennel-proxy did not answer within %d ms", KN_PROXY_REPLY_TIMEOUT_MS);
		proxy_dead(ps, &e);
	}
	if (ps->pid && time(NULL) - ps->started >= KN_PROXY_STABLE_S)
		ps->backoff_s = 1;
	if (ps->pid || time(NULL) < ps->next_start || !ps->binary[0])
		return;
	kn_error err;
	if (kn_proxy_start(ps, st, &err) < 0) {
		log_error("%s", err.msg);
		schedule_restart(ps);
	}
}

void kn_proxy_stop(struct kn_proxy_sup *ps)
{
	kill_proxy(ps);
	kn_closep(&ps->upstream_ca_fd);
}
