#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/log.h"
#include "common/util.h"
#include "init/ns_session.h"
#include "sandbox/exec_env.h"
#include "sandbox/exec_helper.h"
#include "sandbox/landlock.h"
#include "sandbox/netns.h"
#include "sandbox/rlimits.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp.h"
#include "sandbox/trust.h"
#include "sandbox/vm_proto.h"

/* init's session answers once it has forked: a loaded machine takes
 * milliseconds, not seconds. */
#define KN_NS_EXEC_ANSWER_MS 10000
/* The exit frame is one 9-byte send: once its socket is readable it is all
 * there, and the daemon's loop must not wait long on a session that says less. */
#define KN_NS_EXEC_EXIT_MS 100

static void __attribute__((noreturn)) die_child(const char *what, const char *obj)
{
	int e = errno;
	/* Nobody may read stderr (a detached or curl client): the message must not
	 * turn the exit status into SIGPIPE's. */
	signal(SIGPIPE, SIG_IGN);
	dprintf(2, "kennel: %s %s: %s\n", what, obj, strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* The second fence, around the filesystem (exec_env.h). 1 = the kernel has
 * no usable Landlock: it has already said so at warn; the namespaces remain
 * the first fence, so the command still runs. */
static int apply_landlock(const struct kn_sandbox_spec *s, kn_error *err)
{
	_cleanup_close_ int fd = -1;
	int rc = kn_exec_landlock_ruleset(s, &fd, err);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return kn_landlock_restrict(fd, err);
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

/* `n` bytes from the session socket within `ms`; with `fd`, the descriptor
 * that comes with them (else -1). */
static int session_read(int sock, void *buf, size_t n, int *fd, int ms, kn_error *err)
{
	uint8_t *p = buf;
	if (fd)
		*fd = -1;
	while (n) {
		struct pollfd pfd = {.fd = sock, .events = POLLIN};
		int r = poll(&pfd, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? kn_fail(err, "no answer within %d ms", ms) : kn_fail_errno(err, "poll");
		int got_fd[1] = {-1};
		size_t n_fds = 0;
		ssize_t got = kn_recv_fds(sock, p, n, got_fd, fd && *fd < 0 ? 1 : 0, &n_fds, err);
		if (got <= 0)
			return got == 0 ? kn_fail(err, "the session ended") : -1;
		if (n_fds)
			*fd = got_fd[0];
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* The request (vm_proto.h's, which init's session decodes), with the
 * command's stdio attached unless it has a tty. */
static int session_send(int sock, const struct kn_sandbox_spec *s, const struct kn_exec_spec *ex,
			kn_error *err)
{
	char *env[KN_EXEC_MAX_ENV];
	kn_exec_env(s, ex, env);
	struct kn_vm_req req = {
		.uid = ex->uid,
		.gid = ex->gid,
		.workdir = kn_exec_workdir(s, ex),
		.tty = ex->tty,
		.stdin_open = 1,
		.rows = ex->rows,
		.cols = ex->cols,
		.argv = (char **)ex->argv, /* only read */
		.env = env,
	};
	/* Not checked by an ns session: the socket's place authenticates. */
	memset(req.token, '0', KN_VM_TOKEN_LEN);
	size_t len = 0;
	_cleanup_free_ uint8_t *payload = kn_vm_req_encode(&req, &len);
	if (!payload)
		return kn_fail(err, "exec request: too large or not encodable");
	uint8_t head[KN_VM_FRAME_HEAD];
	kn_vm_frame_head(head, KN_VM_REQ, (uint32_t)len);
	if (kn_send_fds(sock, head, sizeof(head), ex->stdio, ex->tty ? 0 : 3, err) < 0)
		return -1;
	for (size_t done = 0; done < len;) {
		ssize_t w = send(sock, payload + done, len - done, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return kn_fail_errno(err, "send the exec request");
		done += (size_t)w;
	}
	return 0;
}

/* Through the sandbox's init (init/ns_session.h): 1 when it serves no exec
 * sessions (no socket), 0 started, -1 failed. */
static int exec_via_init(const struct kn_sandbox_spec *s, const struct kn_exec_spec *ex,
			 struct kn_exec_result *out, kn_error *err)
{
	_cleanup_close_ int dir = open(s->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return kn_fail_errno(err, "open %s", s->dir);
	struct sockaddr_un addr = kn_ns_exec_addr(dir);
	_cleanup_close_ int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return kn_fail_errno(err, "socket for exec in sandbox %s", s->name);
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			return 1;
		return kn_fail_errno(err, "connect to the exec socket of sandbox %s", s->name);
	}
	if (session_send(sock, s, ex, err) < 0)
		return kn_fail_prefix(err, "exec in sandbox %s", s->name);
	uint8_t head[KN_VM_FRAME_HEAD];
	char type;
	uint32_t len;
	int master = -1;
	if (session_read(sock, head, sizeof(head), ex->tty ? &master : NULL, KN_NS_EXEC_ANSWER_MS, err) < 0)
		return kn_fail_prefix(err, "exec in sandbox %s: init's session", s->name);
	if (kn_vm_frame_parse_head(head, &type, &len) < 0 ||
	    (type == KN_VM_STARTED ? len != 4 : type != KN_VM_ERROR || len > KN_ERR_MAX)) {
		kn_closep(&master);
		return kn_fail(err, "exec in sandbox %s: init's session answered something else", s->name);
	}
	char body[KN_ERR_MAX + 1];
	if (session_read(sock, body, len, NULL, KN_NS_EXEC_ANSWER_MS, err) < 0) {
		kn_closep(&master);
		return kn_fail_prefix(err, "exec in sandbox %s: init's session", s->name);
	}
	if (type == KN_VM_ERROR) {
		kn_closep(&master);
		body[len] = '\0';
		for (uint32_t i = 0; i < len; i++)
			if ((unsigned char)body[i] < 0x20 || body[i] == 0x7f)
				body[i] = '?';
		return kn_fail(err, "exec in sandbox %s: %s", s->name, body);
	}
	if (ex->tty && master < 0)
		return kn_fail(err, "exec in sandbox %s: init's session sent no pty", s->name);
	out->pid = (pid_t)kn_vm_get_u32((const uint8_t *)body);
	out->helper_pidfd = steal_fd(&sock);
	out->is_session = 1;
	out->pty_master = master;
	return 0;
}

int kn_ns_exec(const struct kn_sandbox_spec *s, pid_t init_pid, const struct kn_cgroup *cg,
	       const struct kn_exec_spec *ex, struct kn_exec_result *out, kn_error *err)
{
	if (!ex->argv || !ex->argv[0])
		return kn_fail(err, "exec: empty command");
	int rc = exec_via_init(s, ex, out, err);
	if (rc <= 0)
		return rc;
	struct ns_exec a = {s, init_pid, cg, ex};
	return kn_exec_helper_start(s->name, cg, exec_helper, &a, 1, out, err);
}

int kn_exec_exit_code(int fd, int is_session)
{
	if (!is_session) {
		siginfo_t si = {0};
		if (waitid(P_PIDFD, (id_t)fd, &si, WEXITED) < 0)
			return 125;
		return si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	}
	uint8_t frame[KN_VM_FRAME_HEAD + 4];
	char type;
	uint32_t len;
	kn_error err;
	/* EOF before the frame: the session was killed with the sandbox. */
	if (session_read(fd, frame, sizeof(frame), NULL, KN_NS_EXEC_EXIT_MS, &err) < 0 ||
	    kn_vm_frame_parse_head(frame, &type, &len) < 0 || type != KN_VM_EXIT || len != 4)
		return 128 + SIGKILL;
	uint32_t code = kn_vm_get_u32(frame + KN_VM_FRAME_HEAD);
	return code <= 255 ? (int)code : 125;
}

