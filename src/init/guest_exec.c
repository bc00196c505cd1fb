#define _GNU_SOURCE
#include "init/guest_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "init/command.h"
#include "init/io.h"
#include "sandbox/exec_env.h"
#include "sandbox/sandbox.h"
#include "sandbox/vm_proto.h"

/* The largest host control frame: KN_VM_RESIZE's rows and cols. */
#define CTL_MAX 4
/* Highest signal number Linux has (SIGRTMAX). */
#define SIGNAL_MAX 64
/* Exit status sent when the command could not be started at all. */
#define EXIT_NOT_STARTED 126

struct source {
	int fd;
	char type; /* KN_VM_STDOUT or KN_VM_STDERR */
	int done;
};

struct session {
	int sock, sfd;
	int pty;          /* the master with a tty, else -1 */
	int in_fd;        /* where KN_VM_STDIN goes: the stdin pipe or the master; -1 none */
	int in_eof;       /* KN_VM_STDIN_EOF came: close the pipe once drained */
	struct source src[2];
	pid_t pid;
	int exited, status;
	long long quiet_since; /* pty after the exit: when output last came */
	int exit_queued;
	/* host -> guest: the frame being read */
	uint8_t head[KN_VM_FRAME_HEAD];
	size_t head_len;
	char type;
	uint32_t left; /* payload bytes of the current frame still to come */
	uint8_t ctl[CTL_MAX];
	size_t ctl_len;
	/* stdin for the command */
	uint8_t in[KN_GUEST_IN_MAX];
	size_t in_off, in_len;
	/* frames for the host */
	uint8_t out[KN_GUEST_OUT_MAX];
	size_t out_off, out_len;
};

static struct session S;

/* ---------- the request ---------- */

/* The request's payload (malloc'd, room for the decoder's NUL), or NULL. */
static uint8_t *read_request(int sock, size_t *len)
{
	uint8_t head[KN_VM_FRAME_HEAD];
	char type;
	uint32_t n;
	long long deadline = kn_now_ms() + KN_GUEST_REQ_TIMEOUT_MS;
	if (kn_init_recv_full(sock, head, sizeof(head), NULL, NULL, deadline) < 0 ||
	    kn_vm_frame_parse_head(head, &type, &n) < 0 || type != KN_VM_REQ)
		return NULL;
	uint8_t *buf = malloc((size_t)n + 1);
	if (!buf || kn_init_recv_full(sock, buf, n, NULL, NULL, deadline) < 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* No early exit: how much of a guess matched must not show in the timing. */
static int token_equal(const char *a, const char *b)
{
	volatile uint8_t diff = 0;
	for (size_t i = 0; i < KN_VM_TOKEN_LEN; i++)
		diff |= (uint8_t)(a[i] ^ b[i]);
	return diff == 0;
}

/* ---------- the command ---------- */

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---------- frames for the host ---------- */

static size_t out_room(void)
{
	if (!S.out_len)
		S.out_off = 0;
	if (S.out_off && S.out_off + S.out_len + KN_GUEST_CHUNK + KN_VM_FRAME_HEAD > sizeof(S.out)) {
		memmove(S.out, S.out + S.out_off, S.out_len);
		S.out_off = 0;
	}
	return sizeof(S.out) - S.out_off - S.out_len;
}

/* Callers check out_room() first. */
static void queue_frame(char type, const void *data, uint32_t len)
{
	uint8_t *p = S.out + S.out_off + S.out_len;
	kn_vm_frame_head(p, type, len);
	memcpy(p + KN_VM_FRAME_HEAD, data, len);
	S.out_len += KN_VM_FRAME_HEAD + len;
}

static void queue_u32(char type, uint32_t v)
{
	uint8_t b[4];
	kn_vm_put_u32(b, v);
	queue_frame(type, b, sizeof(b));
}

static void __attribute__((noreturn)) host_gone(void)
{
	if (S.pid > 0)
		kill(-S.pid, SIGKILL);
	_exit(0);
}

static void flush_out(void)
{
	while (S.out_len) {
		ssize_t n = send(S.sock, S.out + S.out_off, S.out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			host_gone();
		S.out_off += (size_t)n;
		S.out_len -= (size_t)n;
	}
}

/* Before anything started: say why, and the exit, then end. The socket is
 * still blocking here, bounded by the request timeout's length. */
static void __attribute__((noreturn)) fail_start(const char *what)
{
	char msg[256];
	int len = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	struct timeval tv = {.tv_sec = KN_GUEST_REQ_TIMEOUT_MS / 1000};
	setsockopt(S.sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	queue_frame(KN_VM_ERROR, msg, (uint32_t)len);
	queue_u32(KN_VM_EXIT, EXIT_NOT_STARTED);
	send(S.sock, S.out, S.out_len, MSG_NOSIGNAL);
	_exit(0);
}

/* ---------- the host's frames ---------- */

static void stdin_closed(void)
{
	if (S.in_fd >= 0 && S.in_fd != S.pty)
		close(S.in_fd);
	S.in_fd = -1;
	S.in_len = S.in_off = 0;
}

static void control(void)
{
	switch (S.type) {
	case KN_VM_STDIN_EOF:
		if (S.pty < 0) {
			S.in_eof = 1;
			if (!S.in_len)
				stdin_closed();
		}
		break;
	case KN_VM_RESIZE:
		if (S.pty >= 0 && S.ctl_len == 4) {
			struct winsize ws = {.ws_row = (unsigned short)(S.ctl[0] << 8 | S.ctl[1]),
					     .ws_col = (unsigned short)(S.ctl[2] << 8 | S.ctl[3])};
			ioctl(S.pty, TIOCSWINSZ, &ws);
		}
		break;
	case KN_VM_SIGNAL:
		if (S.ctl_len == 1 && S.ctl[0] >= 1 && S.ctl[0] <= SIGNAL_MAX)
			kill(-S.pid, S.ctl[0]);
		break;
	}
}

/* Takes what came from the host; stdin bytes fit (see read_host). */
static void parse_host(const uint8_t *p, size_t n)
{
	while (n) {
		if (S.head_len < KN_VM_FRAME_HEAD) {
			S.head[S.head_len++] = *p++;
			n--;
			if (S.head_len < KN_VM_FRAME_HEAD)
				continue;
			if (kn_vm_frame_parse_head(S.head, &S.type, &S.left) < 0)
				host_gone();
			S.ctl_len = 0;
			if (S.type == KN_VM_STDIN) {
				/* stays as it is */
			} else if (S.type == KN_VM_STDIN_EOF || S.type == KN_VM_RESIZE ||
				   S.type == KN_VM_SIGNAL) {
				if (S.left > CTL_MAX)
					host_gone();
			} else {
				host_gone(); /* not a frame the host sends after its request */
			}
		} else {
			size_t take = n < S.left ? n : S.left;
			if (S.type == KN_VM_STDIN) {
				if (S.in_fd >= 0 && !S.in_eof) {
					if (S.in_off + S.in_len + take > sizeof(S.in)) {
						memmove(S.in, S.in + S.in_off, S.in_len);
						S.in_off = 0;
					}
					memcpy(S.in + S.in_off + S.in_len, p, take);
					S.in_len += take;
				}
			} else {
				memcpy(S.ctl + S.ctl_len, p, take);
				S.ctl_len += take;
			}
			p += take;
			n -= take;
			S.left -= (uint32_t)take;
		}
		if (S.head_len == KN_VM_FRAME_HEAD && !S.left) {
			if (S.type != KN_VM_STDIN)
				control();
			S.head_len = 0;
		}
	}
}

static void read_host(void)
{
	/* At most what the stdin buffer can still take, so a frame's bytes
	 * always fit; heads and control frames only take less room. */
	static uint8_t buf[KN_GUEST_IN_MAX];
	size_t room = sizeof(S.in) - S.in_len;
	ssize_t n = read(S.sock, buf, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		host_gone();
	parse_host(buf, (size_t)n);
}

static void write_stdin(void)
{
	while (S.in_len && S.in_fd >= 0) {
		ssize_t n = write(S.in_fd, S.in + S.in_off, S.in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			/* The command closed its stdin: the rest has no reader. */
			stdin_closed();
			return;
		}
		S.in_off += (size_t)n;
		S.in_len -= (size_t)n;
	}
	S.in_off = 0;
	if (S.in_eof && S.in_fd >= 0)
		stdin_closed();
}

/* ---------- the command's output ---------- */

static void source_done(struct source *s)
{
	if (s->fd != S.pty)
		close(s->fd);
	s->done = 1;
}

/* Reads once from s into a frame; 1 when bytes came. */
static int read_source(struct source *s)
{
	uint8_t *p = S.out + S.out_off + S.out_len;
	ssize_t n;
	do
		n = read(s->fd, p + KN_VM_FRAME_HEAD, KN_GUEST_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		kn_vm_frame_head(p, s->type, (uint32_t)n);
		S.out_len += KN_VM_FRAME_HEAD + (size_t)n;
		return 1;
	}
	/* EOF; EIO is a pty's way of saying every slave fd is closed. After the
	 * exit, an empty pipe is done too: a background job may hold it open. */
	if (n == 0 || errno != EAGAIN || (S.exited && s->fd != S.pty))
		source_done(s);
	return 0;
}

static int outputs_done(void)
{
	return S.src[0].done && S.src[1].done;
}

static void reap(void)
{
	struct signalfd_siginfo si[8];
	while (read(S.sfd, si, sizeof(si)) > 0)
		;
	/* WNOWAIT: the command stays a zombie until this session ends (PID 1
	 * reaps it then), so its pid, which is its process group's id, cannot
	 * be reused while KN_VM_SIGNAL or host_gone may still kill(-pid). */
	siginfo_t info = {0};
	if (S.exited || waitid(P_PID, (id_t)S.pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 ||
	    info.si_pid != S.pid)
		return;
	S.exited = 1;
	S.status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
	S.quiet_since = kn_now_ms();
	/* Input for a command that is gone has no reader. */
	stdin_closed();
}

/* ---------- the session ---------- */

/* What the command wrote under a cached /usr (guest.c) is on the host before
 * its exit status is: a `kennel stop` right after `apt-get install` keeps
 * the packages. Costs nothing when nothing is dirty. */
static void flush_usr(void)
{
	int fd = open("/usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

static void start(const struct kn_vm_req *req)
{
	int slave = -1, stdio[3] = {-1, -1, -1}, mine[3] = {-1, -1, -1};
	S.pty = S.in_fd = -1;
	if (req->tty) {
		char name[64];
		S.pty = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (S.pty < 0)
			fail_start("open /dev/ptmx");
		if (unlockpt(S.pty) < 0 || ptsname_r(S.pty, name, sizeof(name)) != 0)
			fail_start("unlock pty");
		struct winsize ws = {.ws_row = req->rows ? req->rows : KN_EXEC_DEFAULT_ROWS,
				     .ws_col = req->cols ? req->cols : KN_EXEC_DEFAULT_COLS};
		ioctl(S.pty, TIOCSWINSZ, &ws);
		/* Opened here, before the fork, so a slave fd exists for the
		 * command's whole life: the master reads EIO only once it ends. */
		slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0)
			fail_start("open pty slave");
		S.in_fd = S.pty;
		S.src[0] = (struct source){.fd = S.pty, .type = KN_VM_STDOUT};
		S.src[1] = (struct source){.fd = -1, .done = 1};
	} else {
		for (int i = req->stdin_open ? 0 : 1; i < 3; i++) {
			int p[2];
			if (pipe2(p, O_CLOEXEC) < 0)
				fail_start("pipe");
			stdio[i] = i == 0 ? p[0] : p[1];
			mine[i] = i == 0 ? p[1] : p[0];
			set_nonblock(mine[i]);
		}
		S.in_fd = mine[0];
		S.src[0] = (struct source){.fd = mine[1], .type = KN_VM_STDOUT};
		S.src[1] = (struct source){.fd = mine[2], .type = KN_VM_STDERR};
	}
	S.pid = fork();
	if (S.pid < 0)
		fail_start("fork");
	if (S.pid == 0)
		kn_command_exec(req, slave, stdio, -1);
	if (slave >= 0)
		close(slave);
	for (int i = 0; i < 3; i++)
		if (stdio[i] >= 0)
			close(stdio[i]);
	set_nonblock(S.sock);
	queue_u32(KN_VM_STARTED, (uint32_t)S.pid);
}

static void __attribute__((noreturn)) pump(void)
{
	for (;;) {
		flush_out();
		write_stdin();
		if (S.exited) {
			/* Pipes: whatever is readable now is the command's last. */
			for (int i = 0; i < 2; i++)
				while (!S.src[i].done && S.src[i].fd != S.pty &&
				       out_room() >= KN_GUEST_CHUNK + KN_VM_FRAME_HEAD)
					if (!read_source(&S.src[i]))
						break;
			if (!S.src[0].done && S.src[0].fd == S.pty &&
			    kn_now_ms() - S.quiet_since >= KN_GUEST_PTY_DRAIN_MS)
				source_done(&S.src[0]);
			if (outputs_done() && !S.exit_queued && out_room() >= KN_VM_FRAME_HEAD + 4) {
				flush_usr();
				queue_u32(KN_VM_EXIT, (uint32_t)S.status);
				S.exit_queued = 1;
			}
			flush_out();
			if (S.exit_queued && !S.out_len) {
				close(S.sock);
				_exit(0);
			}
		}
		int room = out_room() >= KN_GUEST_CHUNK + KN_VM_FRAME_HEAD;
		int reading_host = !S.exit_queued && S.in_len < sizeof(S.in);
		struct pollfd p[5] = {
			{.fd = S.sock,
			 .events = (short)(POLLRDHUP | (reading_host ? POLLIN : 0) | (S.out_len ? POLLOUT : 0))},
			{.fd = S.sfd, .events = POLLIN},
			{.fd = S.in_len ? S.in_fd : -1, .events = POLLOUT},
			{.fd = !S.src[0].done && room ? S.src[0].fd : -1, .events = POLLIN},
			{.fd = !S.src[1].done && room ? S.src[1].fd : -1, .events = POLLIN},
		};
		int timeout = -1;
		if (S.exited && !S.src[0].done && S.src[0].fd == S.pty) {
			long long left = S.quiet_since + KN_GUEST_PTY_DRAIN_MS - kn_now_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		if (poll(p, 5, timeout) < 0) {
			if (errno == EINTR)
				continue;
			host_gone();
		}
		if (p[0].revents & POLLIN)
			read_host();
		else if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR))
			host_gone(); /* closed while we were not reading it */
		if (p[1].revents)
			reap();
		/* The first read may have taken the room the second one needs. */
		for (int i = 0; i < 2; i++)
			if (p[3 + i].revents && out_room() >= KN_GUEST_CHUNK + KN_VM_FRAME_HEAD &&
			    read_source(&S.src[i]) && S.exited)
				S.quiet_since = kn_now_ms();
	}
}

/* The host's clock, as the request brought it (vm_proto.h): stepped to when
 * the guest's is off by more than the slack, before the command sees it. */
static void follow_host_clock(uint64_t host_ms)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t here = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	int64_t off = here - (int64_t)host_ms;
	if (host_ms == 0 || (off <= KN_VM_CLOCK_SLACK_MS && off >= -KN_VM_CLOCK_SLACK_MS))
		return;
	struct timespec t = {.tv_sec = (time_t)(host_ms / 1000), .tv_nsec = (long)(host_ms % 1000) * 1000000};
	if (clock_settime(CLOCK_REALTIME, &t) < 0)
		dprintf(2, "kennel-guest: set the clock to the host's: %s\n", strerror(errno));
}

void kn_guest_exec(int sock, char *token)
{
	struct kn_vm_req req;
	const char *reason;
	size_t len;
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	signal(SIGPIPE, SIG_IGN);
	S.sock = sock;
	/* The host waits for this before it sends anything (vm_proto.h). */
	uint8_t hello[KN_VM_FRAME_HEAD];
	kn_vm_frame_head(hello, KN_VM_HELLO, 0);
	if (send(sock, hello, sizeof(hello), MSG_NOSIGNAL) != (ssize_t)sizeof(hello))
		_exit(0);
	uint8_t *buf = read_request(sock, &len);
	if (!buf || kn_vm_req_decode(buf, len, &req, &reason) < 0)
		_exit(0);
	int ok = token_equal(req.token, token);
	/* The token's one use is behind us: nothing this process forks gets it. */
	explicit_bzero(token, KN_VM_TOKEN_LEN);
	explicit_bzero(req.token, sizeof(req.token));
	explicit_bzero(buf, KN_VM_TOKEN_LEN);
	if (!ok)
		_exit(0);
	S.sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (S.sfd < 0)
		fail_start("signalfd");
	follow_host_clock(req.time_ms);
	start(&req);
	pump();
}
