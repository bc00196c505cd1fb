/* vm_exec.c — kn_vm_exec: a command in a vm sandbox's guest (vm.h, vm_proto.h).
 *
 * The helper (exec_helper.h) is the relay between the daemon's side of the
 * command (the client's pipes, or a host pty whose master the client gets) and
 * one exec connection to the guest: it joins only the sandbox's network
 * namespace, where 127.0.0.1:KN_VM_EXEC_PORT is QEMU's forward to the guest,
 * and stays a host process. With a tty it owns the pty's slave side as its
 * controlling terminal in raw mode, so the client's window size changes reach
 * it as SIGWINCH and go to the guest as KN_VM_RESIZE; the guest's own pty does
 * the line discipline. Everything the guest sends is parsed as hostile. */
#define _GNU_SOURCE
#include "sandbox/vm_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/util.h"
#include "sandbox/exec_env.h"
#include "sandbox/exec_helper.h"
#include "sandbox/vm_proto.h"

/* A guest that has just been created is still booting (about 2 s under TCG):
 * QEMU accepts at once, then closes the connection or holds it in its own TCP
 * retries while nothing listens in the guest. The first exec waits this long
 * for the guest before giving up. */
#define VM_BOOT_WAIT_MS 60000
/* While no connection has brought the guest's KN_VM_HELLO, a new one is
 * opened this often, and the older ones stay open: QEMU accepts each at once
 * but holds it in its own TCP retries (a second or more) when its SYN reached
 * a guest whose network was not up yet, so the first connection made after
 * the guest is up is the one that answers first. Closing and reconnecting
 * instead lost half a growing wait (~0.2 s) on every first exec. */
#define VM_CONNECT_EVERY_MS 50
/* Connections kept waiting at once, the oldest closed for a new one: each
 * waits 40 x 50 ms = 2 s for HELLO, which a booted guest sends in
 * milliseconds (tens under TCG on a busy host). */
#define VM_CONNECTS_OPEN 40
/* Bytes read from the command's input before they go out as one frame. */
#define VM_STDIN_CHUNK 65536

struct vm_exec {
	const struct kn_sandbox_spec *s;
	pid_t init_pid;
	const struct kn_cgroup *cg;
	const struct kn_exec_spec *ex;
};

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len) {
		ssize_t n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t len)
{
	char *c = p;
	while (len) {
		ssize_t n = read(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_frame(int sock, char type, const void *payload, uint32_t len)
{
	uint8_t head[KN_VM_FRAME_HEAD];
	kn_vm_frame_head(head, type, len);
	struct iovec iov[2] = {{head, sizeof(head)}, {(void *)payload, len}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	size_t left = sizeof(head) + len;
	while (left) {
		ssize_t n = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		left -= (size_t)n;
		while (n > 0 && m.msg_iovlen) {
			size_t take = (size_t)n < m.msg_iov->iov_len ? (size_t)n : m.msg_iov->iov_len;
			m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + take;
			m.msg_iov->iov_len -= take;
			n -= (ssize_t)take;
			if (!m.msg_iov->iov_len) {
				m.msg_iov++;
				m.msg_iovlen--;
			}
		}
	}
	return 0;
}

/* Reads one frame; the payload (malloc'd, NUL-terminated) in *out. 0 on a
 * frame, -1 at the end of the connection or on a malformed frame. */
static int recv_frame(int sock, char *type, uint8_t **out, uint32_t *len)
{
	uint8_t head[KN_VM_FRAME_HEAD];
	if (read_all(sock, head, sizeof(head)) < 0 || kn_vm_frame_parse_head(head, type, len) < 0)
		return -1;
	uint8_t *p = malloc((size_t)*len + 1);
	if (!p)
		return -1;
	if (read_all(sock, p, *len) < 0) {
		free(p);
		return -1;
	}
	p[*len] = '\0';
	*out = p;
	return 0;
}

static int connect_exec_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(KN_VM_EXEC_PORT),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* 0 when the frame waiting on sock is the guest's KN_VM_HELLO. */
static int read_hello(int sock)
{
	char type;
	uint8_t *data;
	uint32_t len;
	if (recv_frame(sock, &type, &data, &len) < 0)
		return -1;
	free(data);
	return type == KN_VM_HELLO && len == 0 ? 0 : -1;
}

/* A connection the guest greeted: connections are opened every
 * VM_CONNECT_EVERY_MS until one brings KN_VM_HELLO (nothing is sent before,
 * so giving up on the others is safe). -1 at the deadline. */
static int greeted_connection(long long deadline)
{
	struct pollfd open_fds[VM_CONNECTS_OPEN];
	size_t next = 0; /* the slot the next connection takes, the oldest */
	int won = -1;
	for (size_t i = 0; i < VM_CONNECTS_OPEN; i++)
		open_fds[i] = (struct pollfd){.fd = -1, .events = POLLIN};
	while (won < 0 && kn_now_ms() < deadline) {
		int sock = connect_exec_port();
		if (sock >= 0) {
			if (open_fds[next].fd >= 0)
				close(open_fds[next].fd);
			open_fds[next].fd = sock;
			next = (next + 1) % VM_CONNECTS_OPEN;
		}
		long long until = kn_now_ms() + VM_CONNECT_EVERY_MS;
		for (long long left; won < 0 && (left = until - kn_now_ms()) > 0;) {
			if (poll(open_fds, VM_CONNECTS_OPEN, (int)left) <= 0)
				break;
			for (size_t i = 0; i < VM_CONNECTS_OPEN && won < 0; i++) {
				if (open_fds[i].fd < 0 || !open_fds[i].revents)
					continue;
				if (read_hello(open_fds[i].fd) == 0) {
					won = open_fds[i].fd;
				} else {
					close(open_fds[i].fd); /* nothing listens yet, or not the guest */
				}
				open_fds[i].fd = -1;
			}
		}
	}
	for (size_t i = 0; i < VM_CONNECTS_OPEN; i++)
		if (open_fds[i].fd >= 0)
			close(open_fds[i].fd);
	return won;
}

/* Connects until the guest says hello, then sends the request and waits for
 * STARTED or ERROR. Returns the socket with *pid set; -1 with err set. */
static int start_in_guest(const struct kn_sandbox_spec *s, const uint8_t *req, size_t req_len,
			  pid_t *pid, kn_error *err)
{
	int sock = greeted_connection(kn_now_ms() + VM_BOOT_WAIT_MS);
	if (sock < 0)
		return kn_fail(err, "the guest of %s did not answer within %d s (its console: %s/console.log)",
			       s->name, VM_BOOT_WAIT_MS / 1000, s->dir);
	char type = 0;
	uint8_t *p = NULL;
	uint32_t len = 0;
	if (send_frame(sock, KN_VM_REQ, req, (uint32_t)req_len) < 0 || recv_frame(sock, &type, &p, &len) < 0) {
		close(sock);
		return kn_fail(err, "the guest of %s closed the exec connection", s->name);
	}
	if (type == KN_VM_STARTED && len == 4) {
		*pid = (pid_t)kn_vm_get_u32(p);
		free(p);
		return sock;
	}
	if (type == KN_VM_ERROR) {
		/* The guest's words go into the daemon's log and the client's
		 * terminal: printable ASCII only. */
		for (uint32_t i = 0; i < len; i++)
			if (p[i] < 0x20 || p[i] > 0x7e)
				p[i] = '?';
		kn_fail(err, "in the guest of %s: %.*s", s->name, (int)(len > 512 ? 512 : len), (const char *)p);
	} else {
		kn_fail(err, "guest of %s answered an exec with frame '%c'", s->name, type);
	}
	free(p);
	close(sock);
	return -1;
}

/* Moves bytes until the guest's KN_VM_EXIT; returns the exit status. */
static int pump(int sock, int in, int out, int err_fd, int tty_fd, int winch)
{
	struct pollfd p[3] = {{.fd = sock, .events = POLLIN},
			      {.fd = in, .events = POLLIN},
			      {.fd = winch, .events = POLLIN}};
	static uint8_t buf[VM_STDIN_CHUNK];
	for (;;) {
		p[1].fd = in;
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 125;
		}
		if (p[2].revents & POLLIN) {
			struct signalfd_siginfo si;
			struct winsize ws;
			if (read(winch, &si, sizeof(si)) > 0 && ioctl(tty_fd, TIOCGWINSZ, &ws) == 0) {
				uint8_t sz[4] = {(uint8_t)(ws.ws_row >> 8), (uint8_t)ws.ws_row,
						 (uint8_t)(ws.ws_col >> 8), (uint8_t)ws.ws_col};
				send_frame(sock, KN_VM_RESIZE, sz, sizeof(sz));
			}
		}
		if (in >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(in, buf, sizeof(buf));
			if (n > 0) {
				if (send_frame(sock, KN_VM_STDIN, buf, (uint32_t)n) < 0)
					return 125;
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				/* The client closed its input: EOF for the command; with a
				 * tty the client hung up (its master is closed), which on an
				 * ns sandbox's pty is SIGHUP for the command, and so here. */
				if (tty_fd < 0) {
					send_frame(sock, KN_VM_STDIN_EOF, NULL, 0);
				} else {
					uint8_t sig = SIGHUP;
					send_frame(sock, KN_VM_SIGNAL, &sig, 1);
				}
				in = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char type;
			uint8_t *data;
			uint32_t len;
			if (recv_frame(sock, &type, &data, &len) < 0) {
				dprintf(err_fd, "kennel: lost the connection to the sandbox's VM\n");
				return 125;
			}
			int status = -1;
			if (type == KN_VM_STDOUT || type == KN_VM_STDERR)
				/* A reader that went away loses the output, as a pipe would. */
				(void)write_all(type == KN_VM_STDOUT ? out : err_fd, data, len);
			else if (type == KN_VM_EXIT && len == 4)
				status = (int)(kn_vm_get_u32(data) & 0xff);
			free(data);
			if (status >= 0)
				return status;
		}
	}
}

static void vm_helper(void *arg, int sock)
{
	const struct vm_exec *a = arg;
	const struct kn_sandbox_spec *s = a->s;
	const struct kn_exec_spec *ex = a->ex;
	kn_error err;
	int master = -1, slave = -1, winch = -1;
	struct winsize ws = {.ws_row = ex->rows ? ex->rows : KN_EXEC_DEFAULT_ROWS,
			     .ws_col = ex->cols ? ex->cols : KN_EXEC_DEFAULT_COLS};
	signal(SIGPIPE, SIG_IGN);
	if (kn_exec_helper_enter(sock, ex->stdio, a->cg, &err) < 0)
		kn_exec_helper_fail(sock, &err);
	int pidfd = (int)syscall(SYS_pidfd_open, a->init_pid, 0);
	if (pidfd < 0 || setns(pidfd, CLONE_NEWNET) < 0) {
		kn_fail_errno(&err, "enter the network namespace of sandbox %s", s->name);
		kn_exec_helper_fail(sock, &err);
	}
	close(pidfd);
	if (ex->tty) {
		char name[64];
		struct termios t;
		master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0 ||
		    (slave = open(name, O_RDWR | O_CLOEXEC)) < 0) {
			kn_fail_errno(&err, "allocate a pty for sandbox %s", s->name);
			kn_exec_helper_fail(sock, &err);
		}
		ioctl(master, TIOCSWINSZ, &ws);
		/* Raw: the guest's pty does echo, line editing and signals. */
		if (tcgetattr(slave, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(slave, TCSANOW, &t);
		}
		/* The client's hang-up reaches this session leader as SIGHUP: it
		 * is the command's to get (pump), not a reason to die here. */
		signal(SIGHUP, SIG_IGN);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGWINCH);
		sigprocmask(SIG_BLOCK, &set, NULL);
		winch = signalfd(-1, &set, SFD_CLOEXEC);
		if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0 || winch < 0) {
			kn_fail_errno(&err, "take the pty for sandbox %s as terminal", s->name);
			kn_exec_helper_fail(sock, &err);
		}
	}
	char *env[KN_EXEC_MAX_ENV];
	kn_exec_env(s, ex, env);
	struct stat st;
	struct kn_vm_req req = {
		.uid = ex->uid, .gid = ex->gid,
		.workdir = kn_exec_workdir(s, ex), .tty = ex->tty, .rows = ws.ws_row, .cols = ws.ws_col,
		.stdin_open = !ex->tty && fstat(ex->stdio[0], &st) == 0 && S_ISFIFO(st.st_mode),
		.argv = (char **)ex->argv, .env = env};
	memcpy(req.token, s->vm.token, sizeof(req.token));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	req.time_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	size_t req_len = 0;
	uint8_t *payload = kn_vm_req_encode(&req, &req_len);
	explicit_bzero(req.token, sizeof(req.token));
	if (!payload) {
		kn_fail(&err, "exec request for sandbox %s too large or malformed", s->name);
		kn_exec_helper_fail(sock, &err);
	}
	pid_t pid = 0;
	int guest = start_in_guest(s, payload, req_len, &pid, &err);
	kn_wipe_free(payload);
	if (guest < 0)
		kn_exec_helper_fail(sock, &err);
	if (kn_exec_helper_ok(sock, pid, master, &err) < 0)
		_exit(125);
	if (master >= 0)
		close(master);
	int in = ex->tty ? slave : (req.stdin_open ? ex->stdio[0] : -1);
	int out = ex->tty ? slave : ex->stdio[1];
	int errfd = ex->tty ? slave : ex->stdio[2];
	_exit(pump(guest, in, out, errfd, ex->tty ? slave : -1, winch));
}

int kn_vm_exec(const struct kn_sandbox_spec *s, pid_t init_pid, const struct kn_cgroup *cg,
	       const struct kn_exec_spec *ex, struct kn_exec_result *out, kn_error *err)
{
	if (!ex->argv || !ex->argv[0])
		return kn_fail(err, "exec: empty command");
	struct vm_exec a = {s, init_pid, cg, ex};
	return kn_exec_helper_start(s->name, cg, vm_helper, &a, 0, out, err);
}
