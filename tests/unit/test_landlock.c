/* test_landlock.c — the filesystem fence, tried with real syscalls.
 *
 * A scratch tree under /tmp holds a writable directory, a read-only one and
 * one outside both. Every check runs in a forked child that applies the fence
 * and then tries one thing; it reports the errno through a pipe (0 = success)
 * and the parent asserts. Run as root: the permission bits would allow all of
 * it, so every EACCES below comes from Landlock. */
#define _GNU_SOURCE
#include "sandbox/landlock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "test.h"

#define RESULT_NOT_APPLIED (-998)
#define RESULT_NO_REPORT (-999)
#define RESULT_KILLED(sig) (-1000 - (sig))

/* The ABI that added signal and abstract-socket scoping. */
#define ABI_SCOPE 6

static int abi;
static char base[64];
static char rw_dir[128], ro_dir[128], outside_dir[128];
static char ro_file[160], outside_file[160], outside_prog[160];
static const char *writable[2];
static const char *readonly[8];
static struct kn_landlock_rules rules = { writable, readonly, 1 };

typedef int (*probe_fn)(const void *arg);

static int run_in_domain(const struct kn_landlock_rules *r, probe_fn fn, const void *arg)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return RESULT_NO_REPORT;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return RESULT_NO_REPORT;
	if (pid == 0) {
		close(pipefd[0]);
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		kn_error err;
		int result = kn_landlock_apply(r, &err);
		if (result != 0) {
			if (result < 0)
				fprintf(stderr, "kn_landlock_apply: %s\n", err.msg);
			result = RESULT_NOT_APPLIED;
		} else {
			result = fn(arg);
		}
		if (write(pipefd[1], &result, sizeof(result)) != sizeof(result))
			_exit(3);
		_exit(0);
	}
	close(pipefd[1]);
	int result;
	ssize_t n;
	do
		n = read(pipefd[0], &result, sizeof(result));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		return RESULT_KILLED(WTERMSIG(status));
	if (n != (ssize_t)sizeof(result))
		return RESULT_NO_REPORT;
	return result;
}

static void expect_result(const char *what, int got, int want)
{
	if (got != want)
		printf("  %s: got %d (%s), want %d (%s)\n", what, got, got > 0 ? strerror(got) : "-",
		       want, want > 0 ? strerror(want) : "success");
	CHECK(got == want);
}

/* ---- filesystem probes ----------------------------------------------- */

enum fs_op {
	OP_READ,
	OP_WRITE_EXISTING,
	OP_CREATE,
	OP_MKDIR,
	OP_UNLINK,
	OP_LIST,
	OP_RENAME_ACROSS_DIRS,
	OP_TRUNCATE,
	OP_SYMLINK,
	OP_MKFIFO,
	OP_MKNOD_CHAR,
	OP_EXEC,
};

struct fs_probe {
	const char *what;
	enum fs_op op;
	const char *path;
	int want;
};

static int errno_of(int rc)
{
	return rc < 0 ? errno : 0;
}

static int run_exec(const char *path)
{
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		char *argv[] = { (char *)path, NULL };
		char *envp[] = { NULL };
		execve(path, argv, envp);
		_exit(100 + errno);
	}
	int status;
	if (waitpid(pid, &status, 0) < 0)
		return errno;
	if (!WIFEXITED(status))
		return EINTR;
	int code = WEXITSTATUS(status);
	return code >= 100 ? code - 100 : code ? ECHILD : 0;
}

static int probe_fs(const void *arg)
{
	const struct fs_probe *p = arg;
	char path2[512];
	int fd;

	switch (p->op) {
	case OP_READ: {
		char buf[16];
		fd = open(p->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return errno;
		int r = read(fd, buf, sizeof(buf)) > 0 ? 0 : EIO;
		close(fd);
		return r;
	}
	case OP_WRITE_EXISTING:
		fd = open(p->path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd < 0)
			return errno;
		close(fd);
		return 0;
	case OP_CREATE: {
		fd = open(p->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return errno;
		int r = write(fd, "data", 4) == 4 ? 0 : EIO;
		close(fd);
		return r;
	}
	case OP_MKDIR:
		return errno_of(mkdir(p->path, 0755));
	case OP_UNLINK:
		return errno_of(unlink(p->path));
	case OP_LIST: {
		DIR *d = opendir(p->path);
		if (!d)
			return errno;
		int r = readdir(d) ? 0 : EIO;
		closedir(d);
		return r;
	}
	case OP_RENAME_ACROSS_DIRS: {
		/* p->path is a writable directory: make a/f, move it to b/f. */
		char a[300], b[300];
		snprintf(a, sizeof(a), "%s/a", p->path);
		snprintf(b, sizeof(b), "%s/b", p->path);
		snprintf(path2, sizeof(path2), "%s/f", a);
		if (mkdir(a, 0755) < 0 || mkdir(b, 0755) < 0)
			return errno;
		fd = open(path2, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return errno;
		close(fd);
		char dst[512];
		snprintf(dst, sizeof(dst), "%s/f", b);
		return errno_of(rename(path2, dst));
	}
	case OP_TRUNCATE:
		return errno_of(truncate(p->path, 0));
	case OP_SYMLINK:
		return errno_of(symlink("/nonexistent-target", p->path));
	case OP_MKFIFO:
		return errno_of(mkfifo(p->path, 0644));
	case OP_MKNOD_CHAR:
		/* /dev/null's numbers; root could make it without the fence. */
		return errno_of(mknod(p->path, S_IFCHR | 0666, makedev(1, 3)));
	case OP_EXEC:
		return run_exec(p->path);
	}
	return EINVAL;
}

static void run_fs_probes(const struct fs_probe *probes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_result(probes[i].what, run_in_domain(&rules, probe_fs, &probes[i]), probes[i].want);
}

static void test_outside_is_denied(void)
{
	char created[200];
	snprintf(created, sizeof(created), "%s/new", outside_dir);
	const struct fs_probe probes[] = {
		{ "create outside", OP_CREATE, created, EACCES },
		{ "write existing outside", OP_WRITE_EXISTING, outside_file, EACCES },
		{ "read outside", OP_READ, outside_file, EACCES },
		{ "list outside", OP_LIST, outside_dir, EACCES },
		{ "mkdir outside", OP_MKDIR, created, EACCES },
		{ "unlink outside", OP_UNLINK, outside_file, EACCES },
		{ "truncate outside", OP_TRUNCATE, outside_file, EACCES },
		{ "exec outside", OP_EXEC, outside_prog, EACCES },
		{ "create in / (not listed)", OP_CREATE, "/kennel-landlock-test-file", EACCES },
	};
	run_fs_probes(probes, sizeof(probes) / sizeof(probes[0]));
	CHECK(access(created, F_OK) < 0);
}

static void test_readonly_paths(void)
{
	char created[200];
	snprintf(created, sizeof(created), "%s/new", ro_dir);
	const struct fs_probe probes[] = {
		{ "read read-only file", OP_READ, ro_file, 0 },
		{ "list read-only dir", OP_LIST, ro_dir, 0 },
		{ "read /usr/bin/true (system dir)", OP_READ, "/usr/bin/true", 0 },
		{ "exec /bin/true", OP_EXEC, "/bin/true", 0 },
		{ "write read-only file", OP_WRITE_EXISTING, ro_file, EACCES },
		{ "create in read-only dir", OP_CREATE, created, EACCES },
		{ "mkdir in read-only dir", OP_MKDIR, created, EACCES },
		{ "unlink in read-only dir", OP_UNLINK, ro_file, EACCES },
		{ "truncate read-only file", OP_TRUNCATE, ro_file, abi >= 3 ? EACCES : 0 },
	};
	if (abi < 3)
		printf("  note: ABI %d does not restrict truncate(2)\n", abi);
	run_fs_probes(probes, sizeof(probes) / sizeof(probes[0]));
}

static void test_writable_paths(void)
{
	char file[200], dir[200], link[200], fifo[200], node[200], sub[200];
	snprintf(file, sizeof(file), "%s/file", rw_dir);
	snprintf(dir, sizeof(dir), "%s/dir", rw_dir);
	snprintf(link, sizeof(link), "%s/link", rw_dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", rw_dir);
	snprintf(node, sizeof(node), "%s/null", rw_dir);
	snprintf(sub, sizeof(sub), "%s/rename", rw_dir);
	if (mkdir(sub, 0755) < 0)
		CHECK(errno == EEXIST);
	const struct fs_probe probes[] = {
		{ "create in writable dir", OP_CREATE, file, 0 },
		{ "read back", OP_READ, file, 0 },
		{ "write existing", OP_WRITE_EXISTING, file, 0 },
		{ "truncate", OP_TRUNCATE, file, 0 },
		{ "unlink", OP_UNLINK, file, 0 },
		{ "mkdir", OP_MKDIR, dir, 0 },
		{ "symlink", OP_SYMLINK, link, 0 },
		{ "mkfifo", OP_MKFIFO, fifo, 0 },
		{ "rename across directories", OP_RENAME_ACROSS_DIRS, sub, 0 },
		{ "mknod char device", OP_MKNOD_CHAR, node, EACCES },
	};
	run_fs_probes(probes, sizeof(probes) / sizeof(probes[0]));
}

/* ---- devices --------------------------------------------------------- */

static int probe_dev_null(const void *arg)
{
	/* What a shell's "> /dev/null" does. */
	int fd = open("/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		return errno;
	int r = write(fd, "x", 1) == 1 ? 0 : errno;
	close(fd);
	if (r)
		return r;
	char buf[8];
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	r = read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) ? 0 : EIO;
	close(fd);
	return r;
}

/* Opens a new pty through /dev/ptmx and /dev/pts, makes it the controlling
 * terminal, opens /dev/tty and uses terminal ioctls on all of them. */
static int probe_terminal(const void *arg)
{
	/* Closing the master hangs up the controlling terminal. */
	signal(SIGHUP, SIG_IGN);
	if (setsid() < 0)
		return errno;
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return errno;
	if (grantpt(master) < 0 || unlockpt(master) < 0)
		return errno;
	const char *name = ptsname(master);
	if (!name)
		return errno;
	int slave = open(name, O_RDWR | O_CLOEXEC);
	if (slave < 0)
		return errno;
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	if (ioctl(master, TIOCSWINSZ, &ws) < 0)
		return errno;
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return errno;
	int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (tty < 0)
		return errno;
	struct termios tio;
	memset(&ws, 0, sizeof(ws));
	if (ioctl(tty, TIOCGWINSZ, &ws) < 0 || tcgetattr(slave, &tio) < 0)
		return errno;
	if (ws.ws_row != 24 || ws.ws_col != 80)
		return EIO;
	if (write(tty, "x", 1) != 1)
		return errno;
	close(tty);
	close(slave);
	close(master);
	return 0;
}

static void test_devices_usable(void)
{
	expect_result("/dev/null and /dev/zero", run_in_domain(&rules, probe_dev_null, NULL), 0);
	expect_result("/dev/ptmx, /dev/pts/N, /dev/tty with ioctls",
		      run_in_domain(&rules, probe_terminal, NULL), 0);
}

/* ---- scoping --------------------------------------------------------- */

static int probe_signal_parent(const void *arg)
{
	return errno_of(kill(getppid(), 0));
}

static int probe_signal_own_domain(const void *arg)
{
	if (kill(getpid(), 0) < 0)
		return errno;
	pid_t child = fork();
	if (child < 0)
		return errno;
	if (child == 0) {
		pause();
		_exit(0);
	}
	int r = errno_of(kill(child, SIGKILL));
	waitpid(child, NULL, 0);
	return r;
}

static socklen_t abstract_addr(struct sockaddr_un *addr, const char *tag)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	int n = snprintf(addr->sun_path + 1, sizeof(addr->sun_path) - 1, "kennel-landlock-%s-%d",
			 tag, (int)getpid());
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int probe_connect_abstract(const void *arg)
{
	const struct sockaddr_un *addr = arg;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				    strlen(addr->sun_path + 1));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	int r = errno_of(connect(fd, (const struct sockaddr *)addr, len));
	close(fd);
	return r;
}

static int probe_abstract_own_domain(const void *arg)
{
	struct sockaddr_un addr;
	socklen_t len = abstract_addr(&addr, "inner");
	int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (server < 0)
		return errno;
	if (bind(server, (struct sockaddr *)&addr, len) < 0 || listen(server, 1) < 0)
		return errno;
	int r = probe_connect_abstract(&addr);
	close(server);
	return r;
}

static void test_scope(void)
{
	if (abi < ABI_SCOPE) {
		printf("  note: ABI %d has no scoping; skipped\n", abi);
		return;
	}
	expect_result("kill(parent, 0) from inside", run_in_domain(&rules, probe_signal_parent, NULL),
		      EPERM);
	expect_result("signals inside the domain",
		      run_in_domain(&rules, probe_signal_own_domain, NULL), 0);

	struct sockaddr_un addr;
	socklen_t len = abstract_addr(&addr, "outer");
	int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(server >= 0);
	CHECK(bind(server, (struct sockaddr *)&addr, len) == 0);
	CHECK(listen(server, 1) == 0);
	expect_result("connect to outside abstract socket",
		      run_in_domain(&rules, probe_connect_abstract, &addr), EPERM);
	expect_result("abstract socket inside the domain",
		      run_in_domain(&rules, probe_abstract_own_domain, NULL), 0);
	close(server);
}

/* ---- API ------------------------------------------------------------- */

/* Runs in the test process itself: a failed apply must leave nothing
 * applied (it fails before restricting anything). */
static void test_missing_path_is_an_error(void)
{
	const char *missing[] = { "/kennel-landlock-test-nonexistent", NULL };
	struct kn_landlock_rules bad = { missing, NULL, 1 };
	kn_error err;
	CHECK(kn_landlock_apply(&bad, &err) == -1);
	CHECK(strstr(err.msg, "/kennel-landlock-test-nonexistent") != NULL);
	CHECK(err.errnum == ENOENT);
	CHECK(kn_landlock_apply(NULL, &err) == -1);
	/* Still unrestricted: the scratch tree outside the rules is readable. */
	CHECK(access(outside_file, R_OK) == 0);
}

/* Only reached on kernels without Landlock. */
static void test_unavailable_is_reported(void)
{
	kn_error err;
	struct kn_landlock_rules none = { NULL, NULL, 1 };
	printf("  landlock is not available on this kernel\n");
	CHECK(kn_landlock_apply(&none, &err) == 1);
}

static void test_abi_reported(void)
{
	printf("  landlock ABI %d\n", abi);
	CHECK(abi >= 1);
}

/* ---- setup ----------------------------------------------------------- */

static int write_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, content, strlen(content));
	close(fd);
	return n == (ssize_t)strlen(content) ? 0 : -1;
}

static int copy_file(const char *from, const char *to)
{
	kn_error err;
	char *data;
	size_t len;
	if (kn_read_file(from, 16 << 20, &data, &len, &err) < 0)
		return -1;
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t n = fd < 0 ? -1 : write(fd, data, len);
	if (fd >= 0)
		close(fd);
	free(data);
	return n == (ssize_t)len ? 0 : -1;
}

static int setup(void)
{
	snprintf(base, sizeof(base), "/tmp/kennel-landlock-XXXXXX");
	if (!mkdtemp(base))
		return -1;
	snprintf(rw_dir, sizeof(rw_dir), "%s/rw", base);
	snprintf(ro_dir, sizeof(ro_dir), "%s/ro", base);
	snprintf(outside_dir, sizeof(outside_dir), "%s/outside", base);
	snprintf(ro_file, sizeof(ro_file), "%s/file", ro_dir);
	snprintf(outside_file, sizeof(outside_file), "%s/file", outside_dir);
	snprintf(outside_prog, sizeof(outside_prog), "%s/true", outside_dir);
	if (mkdir(rw_dir, 0777) < 0 || mkdir(ro_dir, 0777) < 0 || mkdir(outside_dir, 0777) < 0)
		return -1;
	if (write_file(ro_file, "read-only content\n", 0666) < 0 ||
	    write_file(outside_file, "outside content\n", 0666) < 0 ||
	    copy_file("/usr/bin/true", outside_prog) < 0)
		return -1;

	writable[0] = rw_dir;
	writable[1] = NULL;
	size_t n = 0;
	readonly[n++] = ro_dir;
	static const char *const system_dirs[] = { "/usr", "/bin", "/lib", "/lib64", "/etc" };
	for (size_t i = 0; i < sizeof(system_dirs) / sizeof(system_dirs[0]); i++)
		if (access(system_dirs[i], F_OK) == 0)
			readonly[n++] = system_dirs[i];
	readonly[n] = NULL;
	return 0;
}

int main(void)
{
	abi = kn_landlock_abi();
	if (abi == 0) {
		RUN(test_unavailable_is_reported);
		return test_summary();
	}
	if (setup() < 0) {
		printf("  setup of %s failed: %s\n", base, strerror(errno));
		return 1;
	}
	RUN(test_abi_reported);
	RUN(test_outside_is_denied);
	RUN(test_readonly_paths);
	RUN(test_writable_paths);
	RUN(test_devices_usable);
	RUN(test_scope);
	RUN(test_missing_path_is_an_error);

	kn_error err;
	if (kn_rm_rf(base, &err) < 0)
		printf("  cleanup: %s\n", err.msg);
	return test_summary();
}
