/* ns_session.c — one exec served by an ns sandbox's init (contract: ns_session.h). */
#define _GNU_SOURCE
#include "init/ns_session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "init/command.h"
#include "sandbox/exec_env.h"
#include "sandbox/vm_proto.h"

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int wait_readable(int fd, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0)
			return -1;
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0 || errno != EINTR)
			return -1;
	}
}

/* `n` bytes; the fds that come with them (the first bytes of the frame) are
 * kept in fds, up to 3, *n_fds of them. */
static int recv_full(int sock, void *buf, size_t n, int fds[3], size_t *n_fds, long long deadline)
{
	uint8_t *p = buf;
	while (n) {
		if (wait_readable(sock, deadline) < 0)
			return -1;
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(3 * sizeof(int))];
		} c;
		struct iovec iov = {.iov_base = p, .iov_len = n};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		if (fds) {
			m.msg_control = c.buf;
			m.msg_controllen = sizeof(c.buf);
		}
		ssize_t got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0 || (m.msg_flags & MSG_CTRUNC))
			return -1;
		for (struct cmsghdr *h = fds ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
				if (*n_fds < 3)
					fds[(*n_fds)++] = fd;
				else
					close(fd);
			}
		}
		fds = NULL; /* fds come with the first bytes only */
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* One frame to kenneld, with `fd` (>= 0) attached. Errors are not ours to
 * act on: kenneld gone means nobody waits for the answer. */
static void send_frame(int sock, char type, const void *data, uint32_t len, int fd)
{
	uint8_t head[KN_VM_FRAME_HEAD];
	kn_vm_frame_head(head, type, len);
	struct iovec iov[2] = {{head, sizeof(head)}, {(void *)data, len}};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	if (fd >= 0) {
		m.msg_control = c.buf;
		m.msg_controllen = sizeof(c.buf);
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof(int));
	}
	while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void send_u32(int sock, char type, uint32_t v, int fd)
{
	uint8_t b[4];
	kn_vm_put_u32(b, v);
	send_frame(sock, type, b, sizeof(b), fd);
}

static void __attribute__((noreturn)) refuse(int sock, const char *what)
{
	send_frame(sock, KN_VM_ERROR, what, (uint32_t)strlen(what), -1);
	_exit(1);
}

void kn_ns_session(int sock, int landlock_fd)
{
	long long deadline = now_ms() + KN_NS_SESSION_REQ_MS;
	uint8_t head[KN_VM_FRAME_HEAD];
	int stdio[3] = {-1, -1, -1};
	size_t n_fds = 0;
	char type;
	uint32_t len;
	if (recv_full(sock, head, sizeof(head), stdio, &n_fds, deadline) < 0)
		_exit(1);
	if (kn_vm_frame_parse_head(head, &type, &len) < 0 || type != KN_VM_REQ)
		refuse(sock, "exec request: not a request frame");
	uint8_t *buf = malloc((size_t)len + 1);
	if (!buf)
		refuse(sock, "exec request: out of memory");
	if (recv_full(sock, buf, len, NULL, NULL, deadline) < 0)
		_exit(1);
	struct kn_vm_req req;
	const char *reason = "";
	if (kn_vm_req_decode(buf, len, &req, &reason) < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "exec request: bad %s", reason);
		refuse(sock, msg);
	}
	if (n_fds != (req.tty ? 0u : 3u))
		refuse(sock, "exec request: wrong number of stdio descriptors");

	int master = -1, slave = -1;
	if (req.tty) {
		char name[64];
		master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (master < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
			refuse(sock, "allocate a pty in the sandbox");
		struct winsize ws = {.ws_row = req.rows ? req.rows : KN_EXEC_DEFAULT_ROWS,
				     .ws_col = req.cols ? req.cols : KN_EXEC_DEFAULT_COLS};
		ioctl(master, TIOCSWINSZ, &ws);
		slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0)
			refuse(sock, "open the pty slave in the sandbox");
	}
	pid_t pid = fork();
	if (pid < 0)
		refuse(sock, "fork the command in the sandbox");
	if (pid == 0)
		kn_command_exec(&req, slave, stdio, landlock_fd);
	if (slave >= 0)
		close(slave);
	for (int i = 0; i < 3; i++)
		if (stdio[i] >= 0)
			close(stdio[i]);
	send_u32(sock, KN_VM_STARTED, (uint32_t)pid, master);
	if (master >= 0)
		close(master);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	send_u32(sock, KN_VM_EXIT,
		 (uint32_t)(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)), -1);
	_exit(0);
}
