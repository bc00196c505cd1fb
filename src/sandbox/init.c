#define _GNU_SOURCE
#include "sandbox/init.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

void kn_init_run(void)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
			if (sig == forwarded[i])
				kill(-1, sig);
		/* Reap everything that is ready: several children may have exited
		 * behind a single SIGCHLD. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}
