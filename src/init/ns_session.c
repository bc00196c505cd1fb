/* ns_session.c — one exec served by an ns sandbox's init (contract: ns_session.h). */
#define _GNU_SOURCE
#include "init/ns_session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/clock.h"
#include "init/command.h"
#include "init/io.h"
#include "sandbox/exec_env.h"
#include "sandbox/vm_proto.h"

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
	long long deadline = kn_now_ms() + KN_NS_SESSION_REQ_MS;
	uint8_t head[KN_VM_FRAME_HEAD];
	int stdio[3] = {-1, -1, -1};
	size_t n_fds = 0;
	char type;
	uint32_t len;
	if (kn_init_recv_full(sock, head, sizeof(head), stdio, &n_fds, deadline) < 0)
		_exit(1);
	if (kn_vm_frame_parse_head(head, &type, &len) < 0 || type != KN_VM_REQ)
		refuse(sock, "exec request: not a request frame");
	uint8_t *buf = malloc((size_t)len + 1);
	if (!buf)
		refuse(sock, "exec request: out of memory");
	if (kn_init_recv_full(sock, buf, len, NULL, NULL, deadline) < 0)
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
