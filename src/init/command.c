/* command.c — a command's last steps before execve (contract: command.h). */
#define _GNU_SOURCE
#include "init/command.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

static void __attribute__((noreturn)) die_child(const char *what, const char *obj)
{
	int e = errno;
	/* Nobody may read stderr: the message must not turn the exit status
	 * into SIGPIPE's. */
	signal(SIGPIPE, SIG_IGN);
	dprintf(2, "kennel: %s %s: %s\n", what, obj, strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

void kn_command_exec(const struct kn_vm_req *req, int slave, const int stdio[3], int landlock_fd)
{
	sigset_t none;
	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		die_child("setsid", "");
	if (slave >= 0) {
		if (ioctl(slave, TIOCSCTTY, 0) < 0)
			die_child("TIOCSCTTY", "pty");
		if (fchown(slave, req->uid, KN_TTY_GID) < 0)
			die_child("chown", "pty");
		for (int i = 0; i < 3; i++)
			if (dup2(slave, i) < 0)
				die_child("dup2", "pty");
	} else {
		int in = stdio[0] >= 0 ? stdio[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (in < 0)
			die_child("open", "/dev/null");
		if (dup2(in, 0) < 0 || dup2(stdio[1], 1) < 0 || dup2(stdio[2], 2) < 0)
			die_child("dup2", "stdio");
	}
	gid_t groups[] = {req->gid};
	if (setgroups(req->uid == 0 ? 0 : 1, groups) < 0 || setresgid(req->gid, req->gid, req->gid) < 0 ||
	    setresuid(req->uid, req->uid, req->uid) < 0) {
		char who[32];
		snprintf(who, sizeof(who), "%u", (unsigned)req->uid);
		die_child("switch to uid", who);
	}
	if (chdir(req->workdir) < 0)
		die_child("chdir", req->workdir);
	/* no_new_privs is set already (init's seccomp filter needed it). */
	if (landlock_fd >= 0 && syscall(SYS_landlock_restrict_self, landlock_fd, 0U) < 0)
		die_child("landlock_restrict_self", req->workdir);
	syscall(SYS_close_range, 3, ~0U, 0);
	/* execvp searches the PATH of `environ`: the request's, not ours. */
	environ = req->env;
	execvp(req->argv[0], req->argv);
	die_child("exec", req->argv[0]);
}
