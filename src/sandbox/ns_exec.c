#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/landlock.h"
#include "sandbox/netns.h"
#include "sandbox/rlimits.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp.h"
#include "sandbox/trust.h"

/* Environment entries a command gets on top of the defaults; the API bounds
 * the request size, this bounds the array we build from it. */
#define EXEC_MAX_ENV 512
/* Room kept in env[] for the defaults, the proxy and the trust entries
 * (9 + 13 + 6 today) and the terminating NULL. */
#define EXEC_ENV_RESERVED 40
/* An error message from the helper: a kn_error plus its prefix. */
#define MSG_MAX_EXEC (KN_ERR_MAX + 16)
#define EXEC_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void __attribute__((noreturn)) die_child(const char *what, const char *obj)
{
	int e = errno;
	/* Nobody may read stderr (a detached or curl client): the message must not
	 * turn the exit status into SIGPIPE's. */
	signal(SIGPIPE, SIG_IGN);
	dprintf(2, "kennel: %s %s: %s\n", what, obj, strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

static int env_has(char **env, size_t n, const char *entry)
{
	size_t klen = strcspn(entry, "=");
	for (size_t i = 0; i < n; i++)
		if (!strncmp(env[i], entry, klen) && env[i][klen] == '=')
			return 1;
	return 0;
}

static void build_env(const struct kn_sandbox_spec *s, const struct kn_exec_spec *ex, char **env)
{
	static char home[64], user[64], host[128], term[64];
	const int root = ex->uid == 0;
	size_t n = 0;
	for (size_t i = 0; ex->env && ex->env[i] && n < EXEC_MAX_ENV - EXEC_ENV_RESERVED; i++)
		if (strchr(ex->env[i], '='))
			env[n++] = ex->env[i];
	snprintf(home, sizeof(home), "HOME=%s", root ? "/root" : KN_AGENT_HOME);
	snprintf(user, sizeof(user), "USER=%s", root ? "root" : KN_AGENT_NAME);
	snprintf(host, sizeof(host), "HOSTNAME=%s", s->name);
	snprintf(term, sizeof(term), "TERM=%s", ex->tty ? "xterm-256color" : "dumb");
	char *defaults[] = {"PATH=" EXEC_PATH, home, user, root ? "LOGNAME=root" : "LOGNAME=" KN_AGENT_NAME,
			    "SHELL=/bin/bash", host, term, "LANG=C.UTF-8", "KENNEL_SANDBOX=1", NULL};
	for (size_t i = 0; defaults[i]; i++)
		if (!env_has(env, n, defaults[i]))
			env[n++] = defaults[i];
	for (size_t i = 0; kn_proxy_env[i]; i++)
		if (!env_has(env, n, kn_proxy_env[i]))
			env[n++] = (char *)kn_proxy_env[i];
	for (size_t i = 0; s->has_ca && kn_trust_env[i]; i++)
		if (!env_has(env, n, kn_trust_env[i]))
			env[n++] = (char *)kn_trust_env[i];
	env[n] = NULL;
}

/* The second fence, around the filesystem: write access only where the
 * sandbox is meant to write, no device nodes, nothing under /proc or /sys. */
static int apply_landlock(const struct kn_sandbox_spec *s, kn_error *err)
{
	static const char *const writable[] = {"/tmp", "/var", "/home", "/root", "/usr", "/etc",
					       "/opt", "/srv", "/mnt", "/media", "/run", "/dev/shm"};
	const char *rw[KN_MAX_WORKSPACES + KN_ARRAY_SIZE(writable) + 1];
	size_t n = 0;
	for (size_t i = 0; i < KN_ARRAY_SIZE(writable); i++)
		if (access(writable[i], F_OK) == 0)
			rw[n++] = writable[i];
	for (size_t i = 0; i < s->n_workspaces; i++)
		if (!s->workspaces[i].readonly)
			rw[n++] = s->workspaces[i].path;
	rw[n] = NULL;
	static const char *const ro[] = {"/", NULL};
	struct kn_landlock_rules rules = {.writable = rw, .readonly = ro};
	/* 1 = the kernel has no usable Landlock: it has already said so at warn;
	 * the namespaces remain the first fence, so the command still runs. */
	int rc = kn_landlock_apply(&rules, err);
	return rc < 0 ? -1 : 0;
}

static void __attribute__((noreturn)) exec_child(const struct kn_sandbox_spec *s,
						 const struct kn_exec_spec *ex, const char *slave)
{
	kn_error err;
	/* The command's stderr is the user's: only real problems go there. */
	kn_log_init("kennel", KN_LOG_WARN);
	if (setsid() < 0)
		die_child("setsid", "");
	if (slave) {
		int t = open(slave, O_RDWR);
		if (t < 0)
			die_child("open", slave);
		if (ioctl(t, TIOCSCTTY, 0) < 0)
			die_child("TIOCSCTTY", slave);
		if (fchown(t, ex->uid, KN_TTY_GID) < 0)
			die_child("chown", slave);
		dup2(t, 0);
		dup2(t, 1);
		dup2(t, 2);
	} else {
		for (int i = 0; i < 3; i++)
			if (dup2(ex->stdio[i], i) < 0)
				die_child("dup2", "stdio");
	}
	syscall(SYS_close_range, 3, ~0U, 0);
	gid_t groups[] = {ex->gid};
	if (setgroups(ex->uid == 0 ? 0 : 1, groups) < 0 || setresgid(ex->gid, ex->gid, ex->gid) < 0 ||
	    setresuid(ex->uid, ex->uid, ex->uid) < 0)
		die_child("switch to uid", ex->uid ? KN_AGENT_NAME : "root");
	const char *wd = ex->workdir ? ex->workdir : (s->n_workspaces ? s->workspaces[0].path : "/");
	if (chdir(wd) < 0)
		die_child("chdir", wd);
	char *env[EXEC_MAX_ENV];
	build_env(s, ex, env);
	signal(SIGPIPE, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (kn_rlimits_apply(&err) < 0 || apply_landlock(s, &err) < 0 || kn_seccomp_apply(0, &err) < 0) {
		signal(SIGPIPE, SIG_IGN);
		dprintf(2, "kennel: %s\n", err.msg);
		_exit(126);
	}
	/* execvp searches the PATH of `environ`, which must be the sandbox's,
	 * not the daemon's we inherited. */
	environ = env;
	execvp(ex->argv[0], ex->argv);
	die_child("exec", ex->argv[0]);
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static void close_fds_except(const int *keep, size_t n)
{
	int sorted[8];
	size_t m = 0;
	for (size_t i = 0; i < n && m < KN_ARRAY_SIZE(sorted); i++)
		if (keep[i] >= 3)
			sorted[m++] = keep[i];
	qsort(sorted, m, sizeof(int), cmp_int);
	unsigned int from = 3;
	for (size_t i = 0; i < m; i++) {
		if ((unsigned)sorted[i] > from)
			syscall(SYS_close_range, from, (unsigned)sorted[i] - 1, 0);
		if ((unsigned)sorted[i] >= from)
			from = (unsigned)sorted[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

/* The helper: joins the sandbox, forks the command, reports, waits. */
static void __attribute__((noreturn)) exec_helper(const struct kn_sandbox_spec *s, pid_t init_pid,
						  const struct kn_cgroup *cg,
						  const struct kn_exec_spec *ex, int sock)
{
	kn_error err;
	char msg[MSG_MAX_EXEC];
	int master = -1;
	char slave[64] = "";
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Drop every daemon fd (listener, other clients, the daemon's ends of
	 * this command's pipes, which would hold them open) before going in. */
	int keep[] = {sock, ex->stdio[0], ex->stdio[1], ex->stdio[2]};
	close_fds_except(keep, KN_ARRAY_SIZE(keep));
	if (kn_cgroup_enter_self(cg, KN_CGROUP_CLONED_INTO_UNIFIED, &err) < 0)
		goto fail;
	int pidfd = (int)syscall(SYS_pidfd_open, init_pid, 0);
	if (pidfd < 0) {
		kn_fail_errno(&err, "pidfd_open sandbox init %d", (int)init_pid);
		goto fail;
	}
	/* Two steps: the non-user namespaces belong to the host user namespace and
	 * must be joined while we are still host root. */
	if (setns(pidfd, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET |
				 CLONE_NEWCGROUP) < 0) {
		kn_fail_errno(&err, "setns into sandbox %s", s->name);
		goto fail;
	}
	if (setns(pidfd, CLONE_NEWUSER) < 0) {
		kn_fail_errno(&err, "setns into user namespace of sandbox %s", s->name);
		goto fail;
	}
	close(pidfd);
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0) {
		kn_fail_errno(&err, "become root of sandbox %s", s->name);
		goto fail;
	}
	if (ex->tty) {
		master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || unlockpt(master) < 0 || ptsname_r(master, slave, sizeof(slave)) != 0) {
			kn_fail_errno(&err, "allocate a pty in sandbox %s", s->name);
			goto fail;
		}
		struct winsize ws = {.ws_row = ex->rows ? ex->rows : 24, .ws_col = ex->cols ? ex->cols : 80};
		ioctl(master, TIOCSWINSZ, &ws);
	}
	pid_t child = fork();
	if (child < 0) {
		kn_fail_errno(&err, "fork command in sandbox %s", s->name);
		goto fail;
	}
	if (child == 0) {
		close(sock);
		if (master >= 0)
			close(master);
		exec_child(s, ex, ex->tty ? slave : NULL);
	}
	snprintf(msg, sizeof(msg), "ok %d", (int)child);
	if (kn_send_fds(sock, msg, strlen(msg), &master, master >= 0 ? 1 : 0, &err) < 0)
		kill(child, SIGKILL);
	close(sock);
	if (master >= 0)
		close(master);
	for (int i = 0; i < 3; i++)
		if (ex->stdio[i] >= 0)
			close(ex->stdio[i]);
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			_exit(125);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
fail:
	snprintf(msg, sizeof(msg), "error %s", err.msg);
	send(sock, msg, strlen(msg), MSG_NOSIGNAL);
	_exit(125);
}

static pid_t inside_pid(pid_t host_pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)host_pid);
	FILE *f = fopen(path, "re");
	pid_t last = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		/* The last number is the pid in the innermost namespace. */
		for (char *save = NULL, *t = strtok_r(line + 6, " \t\n", &save); t;
		     t = strtok_r(NULL, " \t\n", &save))
			last = (pid_t)atoi(t);
	}
	fclose(f);
	return last;
}

int kn_ns_exec(const struct kn_sandbox_spec *s, pid_t init_pid, const struct kn_cgroup *cg,
	       const struct kn_exec_spec *ex, struct kn_exec_result *out, kn_error *err)
{
	int sv[2];
	if (!ex->argv || !ex->argv[0])
		return kn_fail(err, "exec: empty command");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return kn_fail_errno(err, "socketpair for exec");
	int pidfd = -1;
	pid_t helper = kn_cgroup_clone(cg, 0, &pidfd, err);
	if (helper < 0) {
		close(sv[0]);
		close(sv[1]);
		return kn_fail_prefix(err, "exec helper");
	}
	if (helper == 0) {
		close(sv[0]);
		exec_helper(s, init_pid, cg, ex, sv[1]);
	}
	close(sv[1]);
	_cleanup_close_ int sock = sv[0];
	char msg[MSG_MAX_EXEC];
	int fds[1] = {-1};
	size_t n_fds = 0;
	ssize_t n = kn_recv_fds(sock, msg, sizeof(msg) - 1, fds, 1, &n_fds, err);
	if (n <= 0) {
		if (n == 0)
			kn_fail(err, "exec helper for sandbox %s died", s->name);
		kill(helper, SIGKILL);
		waitpid(helper, NULL, 0);
		kn_closep(&pidfd);
		return -1;
	}
	msg[n] = '\0';
	if (strncmp(msg, "ok ", 3)) {
		waitpid(helper, NULL, 0);
		close(pidfd);
		return kn_fail(err, "%s", !strncmp(msg, "error ", 6) ? msg + 6 : msg);
	}
	out->helper_pid = helper;
	out->helper_pidfd = pidfd;
	out->pid = inside_pid((pid_t)atoi(msg + 3));
	out->pty_master = n_fds ? fds[0] : -1;
	return 0;
}
