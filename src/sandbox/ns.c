#define _GNU_SOURCE
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "init/ns_session.h"
#include "sandbox/base.h"
#include "sandbox/exec_env.h"
#include "sandbox/idmap.h"
#include "sandbox/init.h"
#include "sandbox/layer.h"
#include "sandbox/netns.h"
#include "sandbox/rlimits.h"
#include "sandbox/rootfs.h"
#include "sandbox/seccomp.h"
#include "sandbox/vm.h"

/* Messages from a starting sandbox to the daemon; errors carry text. */
#define MSG_READY "ready"
#define MSG_MAX 1100
/* Where init's binary sits for the execveat, above the listener fds. */
#define KN_INIT_FD_EXE 5
/* Connections kenneld may have waiting for init's exec sessions at once. */
#define KN_NS_EXEC_BACKLOG 64
/* Above every fd the setup child can hold, for reshuffling. */
#define KN_INIT_FD_HIGH 100

static const char *const layer_dirs[] = {"root", "usr", "var_lib_dpkg"};

/* When a directory mkdir(2) makes is already what mkdir_owned wants: its
 * mode when the umask leaves it whole, root's group (the daemon's, not one a
 * setgid parent passes on) for a root-owned one. Then the chmod, and for
 * those the chown, of a create's 17 folders are skipped. */
struct mkdir_rules {
	mode_t umask;
	int root_group;
};

static void mkdir_rules(const char *parent, struct mkdir_rules *r)
{
	struct stat st;
	r->umask = umask(0);
	umask(r->umask);
	r->root_group = getegid() == 0 && stat(parent, &st) == 0 && !(st.st_mode & S_ISGID);
}

static int mkdir_owned(const struct mkdir_rules *r, const char *path, mode_t mode, uid_t uid,
		       kn_error *err)
{
	int fresh = mkdir(path, mode) == 0;
	if (!fresh && errno != EEXIST)
		return kn_fail_errno(err, "mkdir %s", path);
	if ((!fresh || uid != 0 || !r->root_group) && chown(path, uid, uid) < 0)
		return kn_fail_errno(err, "chown %s", path);
	if ((!fresh || (mode & r->umask)) && chmod(path, mode) < 0)
		return kn_fail_errno(err, "chmod %s", path);
	return 0;
}

static int write_owned(const char *path, const char *content, uid_t uid, kn_error *err)
{
	/* Seed files are rewritten at every prepare: no fsync. */
	if (kn_write_replace(path, content, strlen(content), 0644, err) < 0)
		return -1;
	if (chown(path, uid, uid) < 0)
		return kn_fail_errno(err, "chown %s", path);
	return 0;
}

int kn_ns_prepare_folders(const struct kn_sandbox_spec *s, kn_error *err)
{
	char p[PATH_MAX];
	uid_t root = s->uid_base, agent = s->uid_base + KN_AGENT_UID;
	static const char *const parts[] = {"lower", "upper", "work"};
	struct mkdir_rules rules;
	mkdir_rules(s->dir, &rules);
	snprintf(p, sizeof(p), "%s/rootfs", s->dir);
	if (mkdir_owned(&rules, p, 0755, 0, err) < 0)
		return -1;
	for (size_t i = 0; i < KN_ARRAY_SIZE(parts); i++) {
		snprintf(p, sizeof(p), "%s/%s", s->dir, parts[i]);
		if (mkdir_owned(&rules, p, 0700, 0, err) < 0)
			return -1;
		for (size_t j = 0; j < KN_ARRAY_SIZE(layer_dirs); j++) {
			snprintf(p, sizeof(p), "%s/%s/%s", s->dir, parts[i], layer_dirs[j]);
			/* Upper dirs are the sandbox's own: owned by its root. */
			if (mkdir_owned(&rules, p, 0755, i == 1 ? root : 0, err) < 0)
				return -1;
		}
	}
	/* Seed the writable layer: /etc identity files, the agent's home, /root. */
	const char *dirs[][2] = {{"etc", "755"}, {"home", "755"}, {"root", "700"}};
	for (size_t i = 0; i < KN_ARRAY_SIZE(dirs); i++) {
		snprintf(p, sizeof(p), "%s/upper/root/%s", s->dir, dirs[i][0]);
		if (mkdir_owned(&rules, p, (mode_t)strtol(dirs[i][1], NULL, 8), root, err) < 0)
			return -1;
	}
	snprintf(p, sizeof(p), "%s/upper/root%s", s->dir, KN_AGENT_HOME);
	return mkdir_owned(&rules, p, 0750, agent, err);
}

int kn_ns_prepare_identity(const struct kn_sandbox_spec *s, int root_layer, kn_error *err)
{
	char p[PATH_MAX];
	uid_t root = s->uid_base;
	/* Through the mounted overlay when there is one: its upper may change
	 * only through it (layer.h). Our own folders either way: nothing of
	 * the sandbox's is in the way yet. */
	struct kn_layer l = {.uid_base = s->uid_base};
	snprintf(l.upper, sizeof(l.upper), root_layer >= 0 ? "the root overlay of %s" : "%s/upper/root",
		 s->dir);
	snprintf(p, sizeof(p), "%s/upper/root/etc", s->dir);
	_cleanup_close_ int etc = root_layer >= 0 ?
		kn_openat2(root_layer, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
			   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) :
		open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (etc < 0)
		return kn_fail_errno(err, "open /etc in %s", l.upper);
	char content[512];
	int n = snprintf(content, sizeof(content), "%s\n", s->name);
	if (kn_layer_put_file(&l, etc, "hostname", content, (size_t)n, NULL, 0, 0, 0644, err) < 0)
		return -1;
	n = snprintf(content, sizeof(content),
		     "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", s->name);
	if (kn_layer_put_file(&l, etc, "hosts", content, (size_t)n, NULL, 0, 0, 0644, err) < 0)
		return -1;
	if (s->image) {
		/* An image brings its own /etc; make sure the agent user exists. */
		char img_pw[PATH_MAX];
		snprintf(p, sizeof(p), "%s/upper/root/etc/passwd", s->dir);
		snprintf(img_pw, sizeof(img_pw), "%s/etc/passwd", s->image);
		struct stat st;
		if (stat(p, &st) < 0) {
			_cleanup_free_ char *pw = NULL;
			size_t len = 0;
			if (kn_read_file(img_pw, 1 << 22, &pw, &len, NULL) < 0)
				pw = strdup("root:x:0:0:root:/root:/bin/sh\n");
			char line[256];
			snprintf(line, sizeof(line), "%s:x:%d:%d:kennel agent:%s:/bin/sh\n", KN_AGENT_NAME,
				 KN_AGENT_UID, KN_AGENT_UID, KN_AGENT_HOME);
			if (pw && !strstr(pw, "\nagent:") && strncmp(pw, "agent:", 6)) {
				size_t pw_len = strlen(pw);
				char *m = malloc(pw_len + strlen(line) + 2);
				if (!m)
					return kn_fail(err, "out of memory");
				sprintf(m, "%s%s%s", pw, (pw_len && pw[pw_len - 1] != '\n') ? "\n" : "", line);
				int rc = write_owned(p, m, root, err);
				free(m);
				if (rc < 0)
					return -1;
			}
		}
	}
	return 0;
}

int kn_ns_prepare(const struct kn_sandbox_spec *s, kn_error *err)
{
	return kn_ns_prepare_folders(s, err) < 0 ? -1 : kn_ns_prepare_identity(s, -1, err);
}

static int send_msg(int sock, const char *msg)
{
	return send(sock, msg, strlen(msg), MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Child side: report the error text to the daemon and die. */
static void __attribute__((noreturn)) child_fail(int sock, const kn_error *err)
{
	char msg[MSG_MAX];
	snprintf(msg, sizeof(msg), "error %s", err->msg);
	send_msg(sock, msg);
	_exit(1);
}

static int expect(int sock, const char *want, kn_error *err)
{
	char buf[MSG_MAX];
	ssize_t n;
	do
		n = recv(sock, buf, sizeof(buf) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kn_fail_errno(err, "recv from sandbox setup");
	if (n == 0)
		return kn_fail(err, "sandbox setup process exited unexpectedly");
	buf[n] = '\0';
	if (!strncmp(buf, "error ", 6))
		return kn_fail(err, "%s", buf + 6);
	if (strcmp(buf, want))
		return kn_fail(err, "sandbox setup protocol: expected %s, got %.40s", want, buf);
	return 0;
}

static int open_init_binary(kn_error *err)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return kn_fail_errno(err, "readlink /proc/self/exe");
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/%s", self, KN_INIT_ARGV0);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kn_fail_errno(err, "open %s (the sandbox's init, installed next to kenneld)", path);
	return fd;
}

/* The listening socket of the sandbox's exec sessions (init/ns_session.h), at
 * KN_NS_EXEC_SOCKET in its folder, root's alone. */
static int exec_listener(const struct kn_sandbox_spec *s, kn_error *err)
{
	_cleanup_close_ int dir = open(s->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return kn_fail_errno(err, "open %s", s->dir);
	if (unlinkat(dir, KN_NS_EXEC_SOCKET, 0) < 0 && errno != ENOENT)
		return kn_fail_errno(err, "unlink %s/%s", s->dir, KN_NS_EXEC_SOCKET);
	struct sockaddr_un addr = kn_ns_exec_addr(dir);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kn_fail_errno(err, "socket for the exec listener");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    fchmodat(dir, KN_NS_EXEC_SOCKET, 0600, 0) < 0 || listen(fd, KN_NS_EXEC_BACKLOG) < 0) {
		kn_fail_errno(err, "bind/listen %s/%s", s->dir, KN_NS_EXEC_SOCKET);
		close(fd);
		return -1;
	}
	return fd;
}

static void __attribute__((noreturn)) sandbox_child(const struct kn_sandbox_spec *s,
						    const struct kn_cgroup *cg,
						    const struct kn_rootfs_fds *fds,
						    const struct kn_spare *spare, int sock)
{
	kn_error err;
	/* Into the cgroups before anything is charged, and before the cgroup
	 * namespace, whose root becomes the sandbox's cgroup. */
	if (kn_cgroup_enter_self(cg, KN_CGROUP_CLONED_INTO_UNIFIED, &err) < 0)
		child_fail(sock, &err);
	if (unshare(CLONE_NEWCGROUP) < 0) {
		kn_fail_errno(&err, "unshare cgroup namespace");
		child_fail(sock, &err);
	}
	/* The network and IPC namespaces made for us ahead (spare.h), joined
	 * as host root (they belong to the host's user namespace too); without
	 * them, those the clone made, where lo and the listeners are ours to set
	 * up. */
	if (spare && (setns(spare->net, CLONE_NEWNET) < 0 || setns(spare->ipc, CLONE_NEWIPC) < 0)) {
		kn_fail_errno(&err, "setns into the sandbox's network and IPC namespaces");
		child_fail(sock, &err);
	}
	if (sethostname(s->name, strlen(s->name)) < 0) {
		kn_fail_errno(&err, "sethostname %s", s->name);
		child_fail(sock, &err);
	}
	/* PID 1 is kennel-init (static, next to our binary), opened now: after
	 * pivot_root the host's files are out of reach. */
	int exe = open_init_binary(&err);
	if (exe < 0)
		child_fail(sock, &err);
	int proxy4 = spare ? spare->proxy4 : -1, proxy6 = spare ? spare->proxy6 : -1;
	if (!spare && kn_netns_setup(&proxy4, &proxy6, &err) < 0)
		child_fail(sock, &err);
	/* A vm sandbox's boot files and console log: opened while the host's
	 * files are still in reach. */
	int kernel = -1, initrd = -1, console = -1;
	if (s->vm.enabled) {
		char log[PATH_MAX];
		snprintf(log, sizeof(log), "%s/%s", s->dir, KN_VM_CONSOLE_LOG);
		console = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (console < 0) {
			kn_fail_errno(&err, "open %s", log);
			child_fail(sock, &err);
		}
		if (kn_vm_boot_fds(s, &kernel, &initrd, &err) < 0)
			child_fail(sock, &err);
	}
	int exec_fd = -1, landlock_fd = -1;
	if (!s->vm.enabled && (exec_fd = exec_listener(s, &err)) < 0)
		child_fail(sock, &err);
	if (kn_rootfs_setup(s, fds, &err) < 0)
		child_fail(sock, &err);

	for (size_t i = 0; i < s->n_workspaces; i++) {
		close(fds->ws_userns[i]);
		close(fds->ws_fd[i]);
	}
	/* Last namespace: the user namespace whose ids the root layers are
	 * mapped with, made and mapped by the daemon before the clone (so no
	 * round trip to the daemon for the maps here). Everything above stays
	 * owned by the host's, out of reach of root inside. */
	if (setns(fds->root_userns, CLONE_NEWUSER) < 0) {
		kn_fail_errno(&err, "setns into the sandbox's user namespace");
		child_fail(sock, &err);
	}
	close(fds->root_userns);
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0) {
		kn_fail_errno(&err, "become root of the sandbox user namespace");
		child_fail(sock, &err);
	}
	if (kn_rlimits_apply(&err) < 0 || kn_seccomp_apply(0, &err) < 0)
		child_fail(sock, &err);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		kn_fail_errno(&err, "open /dev/null in sandbox");
		child_fail(sock, &err);
	}
	dup2(devnull, 0);
	dup2(console >= 0 ? console : devnull, 1);
	dup2(console >= 0 ? console : devnull, 2);
	/* Init keeps the proxy listeners at fixed fds for the daemon to fetch.
	 * Lift every fd above the targets first so no dup2 clobbers another
	 * (the setup socket too: it may sit on a target). */
	sock = fcntl(sock, F_DUPFD_CLOEXEC, KN_INIT_FD_HIGH);
	exe = fcntl(exe, F_DUPFD_CLOEXEC, KN_INIT_FD_HIGH);
	proxy4 = fcntl(proxy4, F_DUPFD, KN_INIT_FD_HIGH);
	proxy6 = proxy6 >= 0 ? fcntl(proxy6, F_DUPFD, KN_INIT_FD_HIGH) : -1;
	if (s->vm.enabled) {
		kernel = fcntl(kernel, F_DUPFD_CLOEXEC, KN_INIT_FD_HIGH);
		initrd = fcntl(initrd, F_DUPFD_CLOEXEC, KN_INIT_FD_HIGH);
		if (kernel < 0 || initrd < 0)
			_exit(1);
	} else {
		exec_fd = fcntl(exec_fd, F_DUPFD_CLOEXEC, KN_INIT_FD_HIGH);
	}
	if (sock < 0 || exe < 0 || proxy4 < 0 || dup3(exe, KN_INIT_FD_EXE, O_CLOEXEC) < 0 ||
	    dup2(proxy4, KN_INIT_FD_PROXY4) < 0)
		_exit(1);
	if (proxy6 >= 0 ? dup2(proxy6, KN_INIT_FD_PROXY6) < 0 : close(KN_INIT_FD_PROXY6) < 0 && errno != EBADF)
		_exit(1);
	if (s->vm.enabled && (dup2(kernel, KN_VM_FD_KERNEL) < 0 || dup2(initrd, KN_VM_FD_INITRD) < 0))
		_exit(1);
	if (!s->vm.enabled && (exec_fd < 0 || dup2(exec_fd, KN_INIT_FD_EXEC) < 0))
		_exit(1);
	/* Ready only now: the daemon fetches the listeners from these fds as
	 * soon as it hears it (before, they held the setup socket or /dev/null,
	 * which it handed to the proxy). */
	send_msg(sock, MSG_READY);
	/* The Landlock ruleset of every command init starts, made once in the
	 * new root, after the answer: a first exec that comes meanwhile waits
	 * in the listener's backlog. On a kernel without Landlock, commands
	 * start without it (as from kenneld's helper, which warns). Should it
	 * fail now, past reporting, init serves no sessions at all: kenneld's
	 * helper then makes the ruleset per command, and fails what it cannot
	 * fence. */
	if (!s->vm.enabled) {
		kn_error ignored;
		int rc = kn_exec_landlock_ruleset(s, &landlock_fd, &ignored);
		if (rc == 0)
			landlock_fd = fcntl(landlock_fd, F_DUPFD_CLOEXEC, KN_INIT_FD_HIGH);
		if (rc == 0 && (landlock_fd < 0 || dup2(landlock_fd, KN_INIT_FD_LANDLOCK) < 0))
			rc = -1;
		if (rc != 0)
			close(KN_INIT_FD_LANDLOCK);
		if (rc < 0)
			close(KN_INIT_FD_EXEC);
	}
	if (s->vm.enabled) {
		syscall(SYS_close_range, KN_VM_FD_INITRD + 1, ~0U, 0);
	} else {
		syscall(SYS_close_range, KN_INIT_FD_EXE + 1, KN_INIT_FD_EXEC - 1, 0);
		syscall(SYS_close_range, KN_INIT_FD_LANDLOCK + 1, ~0U, 0);
	}
	char *init_argv[80] = {KN_INIT_ARGV0, NULL};
	if (s->vm.enabled) {
		char *const *qemu = kn_vm_qemu_argv(s);
		size_t n = 1;
		init_argv[n++] = "--spawn";
		for (size_t i = 0; qemu[i] && n < KN_ARRAY_SIZE(init_argv) - 1; i++)
			init_argv[n++] = qemu[i];
		init_argv[n] = NULL;
	}
	char *const init_env[] = {NULL};
	syscall(SYS_execveat, KN_INIT_FD_EXE, "", init_argv, init_env, AT_EMPTY_PATH);
	_exit(1);
}

static int make_userns_fds(const struct kn_sandbox_spec *s, const struct kn_spare *spare,
			   struct kn_rootfs_fds *fds, kn_error *err)
{
	/* The spare's (a dup: the caller closes the spare), when it was made
	 * for this uid base. */
	fds->root_userns = kn_spare_userns(spare, s->uid_base, err);
	if (fds->root_userns < 0)
		return -1;
	for (size_t i = 0; i < s->n_workspaces; i++) {
		struct stat st;
		/* Opened once, no symlink followed anywhere on the path: what the
		 * sandbox gets is exactly the folder that was named at create time. */
		struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				       .resolve = RESOLVE_NO_SYMLINKS};
		fds->ws_fd[i] = (int)syscall(SYS_openat2, AT_FDCWD, s->workspaces[i].path, &how, sizeof(how));
		if (fds->ws_fd[i] < 0)
			return kn_fail_errno(err, "open workspace %s (symlinks are not followed)",
					     s->workspaces[i].path);
		if (fstat(fds->ws_fd[i], &st) < 0)
			return kn_fail_errno(err, "stat workspace %s", s->workspaces[i].path);
		if (!S_ISDIR(st.st_mode))
			return kn_fail(err, "workspace %s is not a directory", s->workspaces[i].path);
		/* The workspace owner's files are the agent's, both ways. A vm
		 * sandbox's QEMU creates a guest's file as the sandbox's root and
		 * then gives it to the guest's owner (9p passthrough): the
		 * sandbox's root needs a mapping too, to itself, for that moment
		 * (and a file root makes in the guest stays the sandbox root's). */
		struct kn_idmap u[2] = {{st.st_uid, s->uid_base + KN_AGENT_UID, 1},
					{s->uid_base, s->uid_base, 1}};
		struct kn_idmap g[2] = {{st.st_gid, s->uid_base + KN_AGENT_UID, 1},
					{s->uid_base, s->uid_base, 1}};
		size_t n = s->vm.enabled && st.st_uid != s->uid_base && st.st_gid != s->uid_base ? 2 : 1;
		fds->ws_userns[i] = kn_idmap_userns_fd(u, n, g, n, err);
		if (fds->ws_userns[i] < 0)
			return kn_fail_prefix(err, "workspace %s", s->workspaces[i].path);
	}
	return 0;
}

static void close_userns_fds(const struct kn_sandbox_spec *s, struct kn_rootfs_fds *fds)
{
	kn_closep(&fds->root_userns);
	for (size_t i = 0; i < s->n_workspaces; i++) {
		kn_closep(&fds->ws_userns[i]);
		kn_closep(&fds->ws_fd[i]);
	}
}

int kn_ns_start(const struct kn_sandbox_spec *s, const struct kn_cgroup *cg,
		const struct kn_spare *spare, const int *layers, kn_ns_meanwhile_fn *meanwhile,
		void *arg, pid_t *init_pid, int *init_pidfd, kn_error *err)
{
	struct kn_rootfs_fds fds;
	memset(&fds, 0xff, sizeof(fds)); /* every fd -1 */
	if (layers) /* the caller's: the child's copies go to its mounts */
		memcpy(fds.layer, layers, sizeof(fds.layer));
	int sv[2] = {-1, -1};
	int rc = -1, pidfd = -1;
	pid_t pid = -1;
	if (make_userns_fds(s, spare, &fds, err) < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		kn_fail_errno(err, "socketpair for sandbox setup");
		goto out;
	}
	pid = kn_cgroup_clone(cg, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
				  (spare ? 0 : CLONE_NEWNET | CLONE_NEWIPC), &pidfd, err);
	if (pid < 0)
		goto out;
	if (pid == 0) {
		close(sv[0]);
		sandbox_child(s, cg, &fds, spare, sv[1]);
	}
	close(sv[1]);
	sv[1] = -1;
	/* The child's mounts keep it busy for about a millisecond: the caller's
	 * own work fits in that time on another CPU. */
	if (meanwhile && meanwhile(arg, err) < 0)
		goto out;
	if (expect(sv[0], MSG_READY, err) < 0)
		goto out;
	*init_pid = pid;
	*init_pidfd = steal_fd(&pidfd);
	rc = 0;
out:
	if (rc < 0 && pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	kn_closep(&pidfd);
	kn_closep(&sv[0]);
	kn_closep(&sv[1]);
	close_userns_fds(s, &fds);
	if (rc < 0)
		kn_fail_prefix(err, "start sandbox %s", s->name);
	return rc;
}
