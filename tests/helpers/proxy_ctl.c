/* proxy_ctl.c — plays kenneld's side of the proxy control protocol
 * (docs/proxy-protocol.md) for tests that drive kennel-proxy standalone.
 *
 * Usage: proxy_ctl PROXY [ARGS...]
 * Starts PROXY ARGS... --control-fd 3 (PROXY may be a wrapper such as
 * "prlimit ... --", found in PATH) with one end of a SOCK_SEQPACKET
 * socketpair as fd 3, waits for {"op":"ready"} and prints "ready". Then reads
 * commands, one per line, from stdin and prints one line per answer:
 *   sandbox NAME PORT POLICY   listen on 127.0.0.1:PORT (0: any free port),
 *                              print "port N", send {"op":"sandbox",...} with
 *                              the listener, print the proxy's answer
 *   sandbox6 NAME PORT POLICY  the same with a second listener on [::1]:PORT
 *   sandboxca NAME PORT CERT KEY POLICY
 *                              like sandbox, with "ca" made of the PEM files
 *                              CERT and KEY (TLS interception)
 *   policy NAME POLICY         send {"op":"policy",...}, print the answer
 *   remove NAME                send {"op":"remove",...}, print the answer
 *   raw JSON                   send JSON as it is, print the answer
 *   rawfd JSON                 the same with /dev/null attached as an fd
 *   pid                        print the proxy's pid
 *   listeners                  print how many listeners were made
 *   quit (or EOF)              close the control socket, wait for the proxy
 *                              (10 s at most, then SIGKILL) and print
 *                              "exit STATUS" (128+N for signal N)
 * The listeners stay open here, as kenneld keeps them. Self-contained: tests
 * helpers do not link libkennel. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* The protocol's message limit, plus one to see truncation. */
#define MSG_MAX 65537
/* An answer comes after every worker has applied the message: seconds at worst. */
#define ANSWER_TIMEOUT_MS 10000
#define EXIT_TIMEOUT_MS 10000

static int ctl = -1;
static pid_t proxy = -1;

static void die(const char *what) __attribute__((noreturn));
static void die(const char *what)
{
	fprintf(stderr, "proxy_ctl: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int send_msg(const char *text, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(ctl, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Print the next message from the proxy as one line. */
static void print_answer(void)
{
	static char buf[MSG_MAX];
	struct pollfd p = { .fd = ctl, .events = POLLIN };

	int n = poll(&p, 1, ANSWER_TIMEOUT_MS);
	if (n <= 0) {
		printf("timeout\n");
		fflush(stdout);
		return;
	}
	ssize_t len = recv(ctl, buf, sizeof(buf) - 1, 0);
	if (len <= 0) {
		printf("closed\n");
	} else {
		buf[len] = '\0';
		printf("%s\n", buf);
	}
	fflush(stdout);
}

static int make_listener(int family, int port)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sin6->sin6_addr = in6addr_loopback;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		len = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die("bind");
	/* The kernel caps it at net.core.somaxconn; the flood test needs depth. */
	if (listen(fd, 65535) < 0)
		die("listen");
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname");
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void start_proxy(char **argv)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		die("socketpair");
	proxy = fork();
	if (proxy < 0)
		die("fork");
	if (proxy == 0) {
		if (dup2(sv[1], 3) < 0)
			die("dup2");
		if (sv[0] != 3)
			close(sv[0]);
		if (sv[1] != 3)
			close(sv[1]);
		int n = 0;
		while (argv[n])
			n++;
		char **args = calloc((size_t)n + 3, sizeof(char *));
		if (!args)
			die("calloc");
		/* Last, so that PROXY may be a wrapper (prlimit ... -- kennel-proxy). */
		for (int i = 0; i < n; i++)
			args[i] = argv[i];
		args[n] = "--control-fd";
		args[n + 1] = "3";
		execvp(argv[0], args);
		die("execvp");
	}
	close(sv[1]);
	ctl = sv[0];
	fcntl(ctl, F_SETFD, FD_CLOEXEC);
}

static void quit(void)
{
	int status = 0;
	close(ctl);
	for (int waited = 0; waited < EXIT_TIMEOUT_MS; waited += 10) {
		pid_t r = waitpid(proxy, &status, WNOHANG);
		if (r == proxy) {
			printf("exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status)
							      : 128 + WTERMSIG(status));
			fflush(stdout);
			exit(0);
		}
		struct timespec nap = { 0, 10 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	kill(proxy, SIGKILL);
	waitpid(proxy, &status, 0);
	printf("exit timeout\n");
	fflush(stdout);
	exit(0);
}

/* A PEM file as a JSON string body: newlines escaped (PEM has no quotes or
 * backslashes). NULL when unreadable or too large. */
static char *pem_json(const char *path)
{
	static char out[2][20000];
	static int which;
	char *o = out[which++ % 2];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = 0;
	int ch;
	while ((ch = fgetc(f)) != EOF && n + 3 < sizeof(out[0])) {
		if (ch == '\n') {
			o[n++] = '\\';
			o[n++] = 'n';
		} else if (ch != '\r') {
			o[n++] = (char)ch;
		}
	}
	fclose(f);
	o[n] = '\0';
	return ch == EOF ? o : NULL;
}

int main(int argc, char **argv)
{
	static char line[MSG_MAX + 64], msg[MSG_MAX + 256];
	size_t nlisteners = 0; /* kept open, as kenneld keeps them */

	if (argc < 2) {
		fprintf(stderr, "usage: proxy_ctl PROXY [ARGS...]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	start_proxy(argv + 1);
	print_answer(); /* {"op":"ready"} */

	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		char *cmd = strtok(line, " ");
		if (!cmd)
			continue;
		if (strcmp(cmd, "sandbox") == 0 || strcmp(cmd, "sandbox6") == 0 ||
		    strcmp(cmd, "sandboxca") == 0) {
			char *name = strtok(NULL, " "), *port = strtok(NULL, " ");
			char *cert = NULL, *key = NULL, ca[45000] = "";
			if (strcmp(cmd, "sandboxca") == 0) {
				char *cert_path = strtok(NULL, " "), *key_path = strtok(NULL, " ");
				cert = cert_path ? pem_json(cert_path) : NULL;
				key = key_path ? pem_json(key_path) : NULL;
				if (cert && key)
					snprintf(ca, sizeof(ca), ",\"ca\":{\"cert\":\"%s\",\"key\":\"%s\"}",
						 cert, key);
			}
			char *policy = strtok(NULL, "");
			if (!name || !port || !policy || (strcmp(cmd, "sandboxca") == 0 && !ca[0])) {
				printf("usage: sandbox NAME PORT POLICY | sandboxca NAME PORT CERT KEY POLICY\n");
				fflush(stdout);
				continue;
			}
			int fds[2], nfds = 1;
			fds[0] = make_listener(AF_INET, atoi(port));
			if (strcmp(cmd, "sandbox6") == 0)
				fds[nfds++] = make_listener(AF_INET6, bound_port(fds[0]));
			nlisteners += (size_t)nfds;
			printf("port %d\n", bound_port(fds[0]));
			fflush(stdout);
			snprintf(msg, sizeof(msg), "{\"op\":\"sandbox\",\"name\":\"%s\",\"policy\":%s%s}",
				 name, policy, ca);
			if (send_msg(msg, fds, nfds) < 0)
				die("sendmsg");
			print_answer();
		} else if (strcmp(cmd, "policy") == 0) {
			char *name = strtok(NULL, " "), *policy = strtok(NULL, "");
			snprintf(msg, sizeof(msg), "{\"op\":\"policy\",\"name\":\"%s\",\"policy\":%s}",
				 name ? name : "", policy ? policy : "null");
			if (send_msg(msg, NULL, 0) < 0)
				die("sendmsg");
			print_answer();
		} else if (strcmp(cmd, "remove") == 0) {
			char *name = strtok(NULL, " ");
			snprintf(msg, sizeof(msg), "{\"op\":\"remove\",\"name\":\"%s\"}", name ? name : "");
			if (send_msg(msg, NULL, 0) < 0)
				die("sendmsg");
			print_answer();
		} else if (strcmp(cmd, "raw") == 0 || strcmp(cmd, "rawfd") == 0) {
			char *json = strtok(NULL, "");
			int devnull = -1;
			if (strcmp(cmd, "rawfd") == 0)
				devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (send_msg(json ? json : "", &devnull, devnull >= 0 ? 1 : 0) < 0)
				die("sendmsg");
			if (devnull >= 0)
				close(devnull);
			print_answer();
		} else if (strcmp(cmd, "pid") == 0) {
			printf("%d\n", (int)proxy);
			fflush(stdout);
		} else if (strcmp(cmd, "listeners") == 0) {
			printf("%zu\n", nlisteners);
			fflush(stdout);
		} else if (strcmp(cmd, "quit") == 0) {
			quit();
		} else {
			printf("unknown command %s\n", cmd);
			fflush(stdout);
		}
	}
	quit();
}
