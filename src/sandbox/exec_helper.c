#define _GNU_SOURCE
#include "sandbox/exec_helper.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/util.h"

/* A report: "ok PID" or "error " and a kn_error's message. */
#define MSG_MAX_EXEC (KN_ERR_MAX + 16)

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

int kn_exec_helper_enter(int sock, const int stdio[3], const struct kn_cgroup *cg, kn_error *err)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Drop every daemon fd (listener, other clients, the daemon's ends of
	 * this command's pipes, which would hold them open) before going in. */
	int keep[] = {sock, stdio[0], stdio[1], stdio[2]};
	close_fds_except(keep, KN_ARRAY_SIZE(keep));
	return kn_cgroup_enter_self(cg, KN_CGROUP_CLONED_INTO_UNIFIED, err);
}

int kn_exec_helper_ok(int sock, pid_t pid, int pty_master, kn_error *err)
{
	char msg[MSG_MAX_EXEC];
	snprintf(msg, sizeof(msg), "ok %d", (int)pid);
	int rc = kn_send_fds(sock, msg, strlen(msg), &pty_master, pty_master >= 0 ? 1 : 0, err);
	close(sock);
	return rc;
}

void kn_exec_helper_fail(int sock, const kn_error *err)
{
	char msg[MSG_MAX_EXEC];
	snprintf(msg, sizeof(msg), "error %s", err->msg);
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

int kn_exec_helper_start(const char *sandbox, const struct kn_cgroup *cg, kn_exec_helper_fn fn,
			 void *arg, int host_pid, struct kn_exec_result *out, kn_error *err)
{
	int sv[2];
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
		fn(arg, sv[1]);
		_exit(125);
	}
	close(sv[1]);
	_cleanup_close_ int sock = sv[0];
	char msg[MSG_MAX_EXEC];
	int fds[1] = {-1};
	size_t n_fds = 0;
	ssize_t n = kn_recv_fds(sock, msg, sizeof(msg) - 1, fds, 1, &n_fds, err);
	if (n <= 0) {
		if (n == 0)
			kn_fail(err, "exec helper for sandbox %s died", sandbox);
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
	out->helper_pidfd = pidfd;
	out->is_session = 0;
	out->pid = host_pid ? inside_pid((pid_t)atoi(msg + 3)) : (pid_t)atoi(msg + 3);
	out->pty_master = n_fds ? fds[0] : -1;
	return 0;
}
