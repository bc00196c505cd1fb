#define _GNU_SOURCE
#include "sandbox/init.h"
#include "sandbox/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static kn_init_exec_fn *exec_server;

static int fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* Every connection waiting on the exec listener gets a session process. */
static void accept_sessions(void)
{
	int landlock = fd_open(KN_INIT_FD_LANDLOCK) ? KN_INIT_FD_LANDLOCK : -1;
	for (;;) {
		int conn = accept4(KN_INIT_FD_EXEC, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN: all taken; anything else: the next SIGIO retries */
		}
		pid_t pid = fork();
		if (pid == 0) {
			/* The session keeps its connection, the ruleset and stdio. */
			close(KN_INIT_FD_EXEC);
			close(KN_INIT_FD_PROXY4);
			close(KN_INIT_FD_PROXY6);
			exec_server(conn, landlock);
			_exit(1);
		}
		close(conn);
	}
}

/* Waits for signals until `payload` (> 0) exits, forwarding and reaping;
 * returns its exit status. Without a payload it never returns. */
static int serve(pid_t payload)
{
	sigset_t all;
	sigfillset(&all);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
			if (sig == forwarded[i])
				kill(-1, sig);
		if (sig == SIGIO && exec_server)
			accept_sessions();
		/* Reap everything that is ready: several children may have exited
		 * behind a single SIGCHLD. */
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == payload)
				return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
}

void kn_init_run(kn_init_exec_fn *serve_exec)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	/* A connection raises SIGIO, which the loop below waits for with the
	 * rest: one loop, no poll. */
	int fl = fcntl(KN_INIT_FD_EXEC, F_GETFL);
	if (serve_exec && fl >= 0 && fcntl(KN_INIT_FD_EXEC, F_SETOWN, getpid()) == 0 &&
	    fcntl(KN_INIT_FD_EXEC, F_SETFL, fl | O_NONBLOCK | O_ASYNC) == 0) {
		exec_server = serve_exec;
		accept_sessions(); /* any that came before O_ASYNC was set */
	}
	serve(-1);
	_exit(1);
}

void kn_init_run_spawn(char *const argv[])
{
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	sigprocmask(SIG_BLOCK, &all, NULL);
	if (!argv[0]) {
		dprintf(2, "kennel-init: --spawn needs a command\n");
		_exit(1);
	}
	pid_t pid = fork();
	if (pid < 0) {
		dprintf(2, "kennel-init: fork %s: %m\n", argv[0]);
		_exit(1);
	}
	if (pid == 0) {
		/* The proxy listeners stay with PID 1, where the daemon fetches them. */
		close(KN_INIT_FD_PROXY4);
		close(KN_INIT_FD_PROXY6);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		dprintf(2, "kennel-init: exec %s: %m\n", argv[0]);
		_exit(127);
	}
	int status = serve(pid);
	/* The payload is the sandbox: what it leaves behind goes with it. */
	kill(-1, SIGKILL);
	_exit(status);
}
