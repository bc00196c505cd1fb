/* test_proxy_filter.c — kennel-proxy's seccomp filters (src/proxy/
 * sandbox_filter.h), loaded in forked children and probed with the real
 * syscalls: what a proxy needs still works (sockets, pipes, splice, threads,
 * reading files), what an attacker would want first fails with EPERM/ENOSYS. */
#define _GNU_SOURCE
#include "proxy/sandbox_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* Run `probe` in a child with the filters for `role` loaded (the worker
 * filter is stacked on the master's, as in the proxy). The child's exit
 * status is the number of the first failed expectation, 0 if all held. */
static int in_child(enum kp_filter_role role, int (*probe)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		kn_error err;
		if (kp_filter_apply(KP_FILTER_MASTER, &err) < 0 ||
		    (role == KP_FILTER_WORKER && kp_filter_apply(KP_FILTER_WORKER, &err) < 0)) {
			fprintf(stderr, "%s\n", err.msg);
			_exit(100);
		}
		_exit(probe());
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

#define EXPECT(n, cond)              \
	do {                         \
		if (!(cond))         \
			return (n);  \
	} while (0)

static void *thread_fn(void *arg) { return arg; }

static int fails_with(long rc, int e) { return rc < 0 && errno == e; }

/* What both filters leave alone. */
static int probe_allowed(void)
{
	int fds[2];
	EXPECT(1, socket(AF_INET, SOCK_STREAM, 0) >= 0);
	EXPECT(2, socket(AF_INET6, SOCK_DGRAM, 0) >= 0);
	EXPECT(3, socket(AF_UNIX, SOCK_SEQPACKET, 0) >= 0);
	EXPECT(4, socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) >= 0);
	EXPECT(5, pipe2(fds, O_NONBLOCK) == 0);
	EXPECT(6, open("/etc/hosts", O_RDONLY | O_CLOEXEC) >= 0);
	pthread_t t;
	EXPECT(7, pthread_create(&t, NULL, thread_fn, NULL) == 0 && pthread_join(t, NULL) == 0);
	EXPECT(8, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0);
	EXPECT(9, kill(getpid(), 0) == 0);
	return 0;
}

/* Refused by the master filter, hence everywhere. */
static int probe_refused_everywhere(void)
{
	char *argv[] = { "/bin/true", NULL };
	EXPECT(1, fails_with(execve("/bin/true", argv, NULL), EPERM));
	EXPECT(2, fails_with(syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0), EPERM));
	EXPECT(3, fails_with(unshare(CLONE_NEWNET), EPERM));
	EXPECT(4, fails_with(unshare(CLONE_NEWUSER), EPERM));
	EXPECT(5, fails_with(syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL), EPERM));
	EXPECT(6, fails_with(syscall(SYS_bpf, 0, NULL, 0), EPERM));
	EXPECT(7, fails_with(syscall(SYS_init_module, NULL, 0, ""), EPERM));
	EXPECT(8, fails_with(syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM));
	EXPECT(9, fails_with(socket(AF_PACKET, SOCK_RAW, 0), EPERM));
	EXPECT(10, fails_with(socket(AF_INET, SOCK_RAW, 1), EPERM));
	EXPECT(11, fails_with(socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER), EPERM));
	EXPECT(12, fails_with(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0), EPERM));
	EXPECT(13, fails_with(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), EPERM));
	EXPECT(14, fails_with(setuid(0), EPERM));
	EXPECT(15, fails_with(syscall(SYS_clone3, NULL, 0), ENOSYS));
	EXPECT(16, fails_with(syscall(SYS_setns, 0, 0), EPERM));
	EXPECT(17, fails_with(syscall(SYS_io_uring_setup, 1, NULL), EPERM));
	return 0;
}

/* Refused in workers only. */
static int probe_refused_in_workers(void)
{
	EXPECT(1, fails_with(open("/tmp/kennel-filter-probe", O_WRONLY | O_CREAT, 0600), EPERM));
	EXPECT(2, fails_with(open("/etc/hosts", O_RDWR), EPERM));
	EXPECT(3, fails_with(openat(AT_FDCWD, "/tmp/x", O_RDONLY | O_TRUNC), EPERM));
	EXPECT(4, fails_with(fork(), EPERM));
	EXPECT(5, fails_with(kill(getppid(), 0), EPERM));
	EXPECT(6, fails_with(unlink("/tmp/kennel-filter-probe"), EPERM));
	EXPECT(7, fails_with(rename("/tmp/a", "/tmp/b"), EPERM));
	EXPECT(8, fails_with(mkdir("/tmp/kennel-filter-dir", 0700), EPERM));
	EXPECT(9, fails_with(syscall(SYS_openat2, AT_FDCWD, "/etc/hosts", NULL, 0), ENOSYS));
	return 0;
}

/* The master may still write its log and start workers. */
static int probe_master_may(void)
{
	char path[] = "/tmp/kennel-filter-probe.XXXXXX";
	int fd = mkstemp(path);
	EXPECT(1, fd >= 0);
	EXPECT(2, unlink(path) == 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	EXPECT(3, pid > 0 && waitpid(pid, NULL, 0) == pid);
	return 0;
}

static void test_master_filter(void)
{
	CHECK(in_child(KP_FILTER_MASTER, probe_allowed) == 0);
	int rc = in_child(KP_FILTER_MASTER, probe_refused_everywhere);
	if (rc)
		printf("  refused-everywhere probe %d failed\n", rc);
	CHECK(rc == 0);
	CHECK(in_child(KP_FILTER_MASTER, probe_master_may) == 0);
}

static void test_worker_filter(void)
{
	CHECK(in_child(KP_FILTER_WORKER, probe_allowed) == 0);
	CHECK(in_child(KP_FILTER_WORKER, probe_refused_everywhere) == 0);
	int rc = in_child(KP_FILTER_WORKER, probe_refused_in_workers);
	if (rc)
		printf("  refused-in-workers probe %d failed\n", rc);
	CHECK(rc == 0);
	CHECK(in_child(KP_FILTER_WORKER, probe_master_may) != 0);
}

int main(void)
{
	RUN(test_master_filter);
	RUN(test_worker_filter);
	return test_summary();
}
