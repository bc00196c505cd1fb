#define _GNU_SOURCE
#include "cli/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/term.h"
#include "common/util.h"

struct relay {
	struct cli_relay *r;
	int *target;        /* where input goes: &r->pty or &r->stdin_w */
	char in_buf[CLI_RELAY_CHUNK];
	size_t in_len, in_off;
	bool in_open;       /* still reading the caller's input */
	bool have_exit;
	int exit_code;
	int sigfd;          /* SIGWINCH, pty mode with a terminal; else -1 */
	bool mask_changed;  /* SIGWINCH blocked by us; old_mask to restore */
	sigset_t old_mask;
	char out_buf[CLI_RELAY_CHUNK];
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int set_nonblocking(int fd, kn_error *err)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return kn_fail_errno(err, "fcntl O_NONBLOCK on fd %d", fd);
	return 0;
}

/* Blocking write to the caller's stdout/stderr (which may be non-blocking:
 * then wait for room). Returns 0, or -1 with errno set. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return -1;
			continue;
		}
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void follow_window_size(struct relay *st)
{
	unsigned short rows, cols;
	if (st->r->term_fd < 0 || st->r->pty < 0 ||
	    cli_term_size(st->r->term_fd, &rows, &cols) < 0)
		return;
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	/* Failure means the pty is gone; its EIO on read ends the relay. */
	(void)ioctl(st->r->pty, TIOCSWINSZ, &ws);
}

static int handle_events(struct relay *st, kn_error *err)
{
	for (;;) {
		json_t *event = NULL;
		int r = cli_conn_pop_event(st->r->conn, &event, err);
		if (r <= 0)
			return r;
		const char *name = json_string_value(json_object_get(event, "event"));
		if (name && strcmp(name, "exit") == 0) {
			json_t *code = json_object_get(event, "exit_code");
			json_int_t v = json_integer_value(code);
			if (!json_is_integer(code) || v < 0 || v > 255) {
				json_decref(event);
				return kn_fail(err, "exit event from kenneld has no valid exit_code");
			}
			st->exit_code = (int)v;
			st->have_exit = true;
		}
		json_decref(event);
	}
}

static int read_conn(struct relay *st, kn_error *err)
{
	if (cli_conn_recv(st->r->conn, err) < 0)
		return -1;
	if (handle_events(st, err) < 0)
		return -1;
	if (st->r->conn->eof && !st->have_exit)
		return kn_fail(err, "kenneld closed the connection before the command's exit "
				    "status arrived");
	return 0;
}

/* Copy what one read gives from *src to dst; closes *src at EOF, on EIO (a pty
 * whose slave is closed), or when dst no longer takes data. */
static int pump_output(struct relay *st, int *src, int dst, kn_error *err)
{
	ssize_t n = read(*src, st->out_buf, sizeof(st->out_buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n < 0 && errno == EIO && *src == st->r->pty) {
		close_fd(src);
		return 0;
	}
	if (n < 0)
		return kn_fail_errno(err, "read the command's output");
	if (n == 0) {
		close_fd(src);
		return 0;
	}
	if (write_all(dst, st->out_buf, (size_t)n) < 0) {
		if (errno != EPIPE)
			fprintf(stderr, "kennel: write to fd %d: %s; no more output relayed there\n",
				dst, strerror(errno));
		/* The process now gets EPIPE/SIGPIPE, as it would writing there itself. */
		close_fd(src);
	}
	return 0;
}

static void stop_input(struct relay *st)
{
	st->in_open = false;
	st->in_len = st->in_off = 0;
	if (st->target == &st->r->stdin_w)
		close_fd(&st->r->stdin_w);
}

static void read_input(struct relay *st)
{
	ssize_t n = read(st->r->in_fd, st->in_buf, sizeof(st->in_buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* EOF, or an input that fails (a hung-up terminal): the process sees EOF. */
		st->in_open = false;
		if (st->target == &st->r->stdin_w)
			close_fd(&st->r->stdin_w);
		return;
	}
	st->in_len = (size_t)n;
	st->in_off = 0;
}

static void write_input(struct relay *st)
{
	ssize_t n = write(*st->target, st->in_buf + st->in_off, st->in_len - st->in_off);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0) {
		/* EPIPE: the process closed its stdin; EIO: the pty's slave is gone. */
		stop_input(st);
		return;
	}
	st->in_off += (size_t)n;
	if (st->in_off == st->in_len) {
		st->in_len = st->in_off = 0;
		if (!st->in_open && st->target == &st->r->stdin_w)
			close_fd(&st->r->stdin_w);
	}
}

static bool outputs_done(const struct relay *st)
{
	const struct cli_relay *r = st->r;
	return r->pty < 0 && r->stdout_r < 0 && r->stderr_r < 0;
}

enum { P_CONN, P_IN, P_TARGET, P_PTY, P_STDOUT, P_STDERR, P_SIG, P_COUNT };

static int loop(struct relay *st, kn_error *err)
{
	struct cli_relay *r = st->r;
	if (handle_events(st, err) < 0)
		return -1;
	for (;;) {
		if (st->have_exit && outputs_done(st))
			return 0;
		if (r->conn->eof && !st->have_exit)
			return kn_fail(err, "kenneld closed the connection before the command's "
					    "exit status arrived");
		struct pollfd p[P_COUNT];
		for (int i = 0; i < P_COUNT; i++)
			p[i] = (struct pollfd){.fd = -1};
		if (!r->conn->eof)
			p[P_CONN] = (struct pollfd){.fd = r->conn->fd, .events = POLLIN};
		if (st->in_open && st->in_len == 0 && *st->target >= 0)
			p[P_IN] = (struct pollfd){.fd = r->in_fd, .events = POLLIN};
		if (st->in_len > 0 && *st->target >= 0)
			p[P_TARGET] = (struct pollfd){.fd = *st->target, .events = POLLOUT};
		p[P_PTY] = (struct pollfd){.fd = r->pty, .events = POLLIN};
		p[P_STDOUT] = (struct pollfd){.fd = r->stdout_r, .events = POLLIN};
		p[P_STDERR] = (struct pollfd){.fd = r->stderr_r, .events = POLLIN};
		p[P_SIG] = (struct pollfd){.fd = st->sigfd, .events = POLLIN};
		int timeout = r->pty >= 0 && st->have_exit ? CLI_PTY_DRAIN_MS : -1;
		int n = poll(p, P_COUNT, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kn_fail_errno(err, "poll");
		if (n == 0) {
			close_fd(&r->pty); /* quiet after the exit: done draining */
			continue;
		}
		short ready = POLLIN | POLLHUP | POLLERR | POLLNVAL;
		if (p[P_CONN].revents & ready && read_conn(st, err) < 0)
			return -1;
		if (p[P_SIG].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(st->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			follow_window_size(st);
		}
		if (p[P_TARGET].revents & (POLLOUT | POLLHUP | POLLERR | POLLNVAL))
			write_input(st);
		if (p[P_IN].revents & ready) {
			read_input(st);
			if (st->in_len > 0)
				write_input(st);
		}
		if (p[P_PTY].revents & ready && pump_output(st, &r->pty, STDOUT_FILENO, err) < 0)
			return -1;
		if (p[P_STDOUT].revents & ready &&
		    pump_output(st, &r->stdout_r, STDOUT_FILENO, err) < 0)
			return -1;
		if (p[P_STDERR].revents & ready &&
		    pump_output(st, &r->stderr_r, STDERR_FILENO, err) < 0)
			return -1;
	}
}

static int setup(struct relay *st, kn_error *err)
{
	struct cli_relay *r = st->r;
	if (*st->target >= 0 && set_nonblocking(*st->target, err) < 0)
		return -1;
	if (r->pty >= 0 && r->term_fd >= 0) {
		sigset_t winch;
		sigemptyset(&winch);
		sigaddset(&winch, SIGWINCH);
		if (sigprocmask(SIG_BLOCK, &winch, &st->old_mask) < 0)
			return kn_fail_errno(err, "sigprocmask SIGWINCH");
		st->mask_changed = true;
		st->sigfd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
		if (st->sigfd < 0)
			return kn_fail_errno(err, "signalfd SIGWINCH");
		/* The window may have changed since the request carried its size. */
		follow_window_size(st);
	}
	return 0;
}

int cli_relay_run(struct cli_relay *r, int *exit_code, kn_error *err)
{
	static struct relay st; /* two 64 KiB buffers: not on the stack */
	memset(&st, 0, sizeof(st));
	st.r = r;
	st.target = r->pty >= 0 ? &r->pty : &r->stdin_w;
	st.in_open = r->in_fd >= 0;
	st.sigfd = -1;
	if (!st.in_open && st.target == &r->stdin_w)
		close_fd(&r->stdin_w); /* nothing to forward: the process sees EOF */

	int rc = setup(&st, err);
	if (rc == 0)
		rc = loop(&st, err);
	if (st.sigfd >= 0)
		close(st.sigfd);
	if (st.mask_changed)
		sigprocmask(SIG_SETMASK, &st.old_mask, NULL);
	close_fd(&r->pty);
	close_fd(&r->stdin_w);
	close_fd(&r->stdout_r);
	close_fd(&r->stderr_r);
	if (rc == 0)
		*exit_code = st.exit_code;
	return rc;
}
