#define _GNU_SOURCE
#include "cli/term.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"

/* Read by the signal handlers, so set before they are installed and changed
 * only with those signals' effect in mind (a torn read restores nothing worse
 * than the saved state). */
static struct termios saved_state;
static volatile sig_atomic_t saved_fd = -1;

static const int fatal_signals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGPIPE,
				    SIGABRT, SIGSEGV, SIGBUS,  SIGFPE,  SIGILL};

void cli_term_restore(void)
{
	int fd = saved_fd;
	if (fd < 0)
		return;
	saved_fd = -1;
	int saved_errno = errno;
	tcsetattr(fd, TCSADRAIN, &saved_state);
	errno = saved_errno;
}

/* Installed with SA_RESETHAND: after restoring, re-raising the signal (delivered
 * when the handler returns) takes the default action. A synchronous fault
 * re-executes the faulting instruction and gets the default action too. */
static void restore_and_reraise(int sig)
{
	int fd = saved_fd;
	if (fd >= 0) {
		saved_fd = -1;
		tcsetattr(fd, TCSANOW, &saved_state);
	}
	raise(sig);
}

int cli_term_make_raw(int fd, kn_error *err)
{
	static bool atexit_done;
	struct termios state;
	if (tcgetattr(fd, &state) < 0)
		return kn_fail_errno(err, "tcgetattr on fd %d", fd);
	cli_term_restore();
	saved_state = state;
	saved_fd = fd;
	if (!atexit_done) {
		if (atexit(cli_term_restore) != 0) {
			saved_fd = -1;
			return kn_fail(err, "atexit: cannot register the terminal restore");
		}
		atexit_done = true;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_and_reraise;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < KN_ARRAY_SIZE(fatal_signals); i++) {
		struct sigaction old;
		/* A signal the caller ignores (nohup, SIGPIPE) stays ignored. */
		if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		if (sigaction(fatal_signals[i], &sa, NULL) < 0) {
			saved_fd = -1;
			return kn_fail_errno(err, "sigaction %s", strsignal(fatal_signals[i]));
		}
	}
	struct termios raw = state;
	cfmakeraw(&raw);
	if (tcsetattr(fd, TCSADRAIN, &raw) < 0) {
		saved_fd = -1;
		return kn_fail_errno(err, "tcsetattr raw mode on fd %d", fd);
	}
	return 0;
}

int cli_term_size(int fd, unsigned short *rows, unsigned short *cols)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
		return -1;
	if (ws.ws_row == 0 || ws.ws_col == 0) {
		errno = EINVAL;
		return -1;
	}
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}

int cli_term_find(void)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
		if (isatty(fd))
			return fd;
	return -1;
}
