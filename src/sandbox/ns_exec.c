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
#include "sandbox/exec_env.h"
#include "sandbox/exec_helper.h"
#include "sandbox/landlock.h"
#include "sandbox/netns.h"
#include "sandbox/rlimits.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp.h"
#include "sandbox/trust.h"

static void __attribute__((noreturn)) die_child(const char *what, const char *obj)
{
	int e = errno;
	/* Nobody may read stderr (a detached or curl client): the message must not
	 * turn the exit status into SIGPIPE's. */
	signal(SIGPIPE, SIG_IGN);
	dprintf(2, "kennel: %s %s: %s\n", what, obj, strerror(e));
	_exit(e == ENOENT ? 127 : 126);
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
	const char *wd = kn_exec_workdir(s, ex);
	if (chdir(wd) < 0)
		die_child("chdir", wd);
	char *env[KN_EXEC_MAX_ENV];
	kn_exec_env(s, ex, env);
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

/* The helper: joins the sandbox, forks the command, reports, waits. */
struct ns_exec {
	const struct kn_sandbox_spec *s;
	pid_t init_pid;
	const struct kn_cgroup *cg;
	const struct kn_exec_spec *ex;
};

static void exec_helper(void *arg, int sock)
{
	const struct ns_exec *a = arg;
	const struct kn_sandbox_spec *s = a->s;
	const struct kn_exec_spec *ex = a->ex;
	pid_t init_pid = a->init_pid;
	kn_error err;
	int master = -1;
	char slave[64] = "";
	if (kn_exec_helper_enter(sock, ex->stdio, a->cg, &err) < 0)
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
		struct winsize ws = {.ws_row = ex->rows ? ex->rows : KN_EXEC_DEFAULT_ROWS,
				     .ws_col = ex->cols ? ex->cols : KN_EXEC_DEFAULT_COLS};
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
	if (kn_exec_helper_ok(sock, child, master, &err) < 0)
		kill(child, SIGKILL);
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
	kn_exec_helper_fail(sock, &err);
}

int kn_ns_exec(const struct kn_sandbox_spec *s, pid_t init_pid, const struct kn_cgroup *cg,
	       const struct kn_exec_spec *ex, struct kn_exec_result *out, kn_error *err)
{
	if (!ex->argv || !ex->argv[0])
		return kn_fail(err, "exec: empty command");
	struct ns_exec a = {s, init_pid, cg, ex};
	return kn_exec_helper_start(s->name, cg, exec_helper, &a, 1, out, err);
}

