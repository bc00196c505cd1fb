#define _GNU_SOURCE
#include "init/guest.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "init/guest_exec.h"
#include "init/relay.h"
#include "sandbox/sandbox.h"
#include "sandbox/vm_proto.h"

/* The boot configuration is two short lines (vm_proto.h). */
#define CONFIG_MAX 4096
/* One file name per line for a few dozen modules. */
#define ORDER_MAX 65536
/* Connections waiting for accept: a build that opens many proxy connections
 * at once must not see refusals while PID 1 forks for the earlier ones. */
#define LISTEN_BACKLOG 128
/* After accept fails for want of fds or memory, PID 1 pauses this long before
 * trying again instead of spinning on a listener that stays readable. */
#define ACCEPT_BACKOFF_MS 100
/* 9p: the protocol version with Linux semantics; a large msize so big reads and
 * writes take few round trips through QEMU; cache=mmap so mmap works (linkers,
 * package managers) while the host's files stay the truth; access=client so the
 * guest kernel checks permissions as a local filesystem would. */
#define NINEP_OPTS_BASE "trans=virtio,version=9p2000.L,msize=512000,access=client"
#define NINEP_OPTS NINEP_OPTS_BASE ",cache=mmap"
/* /usr, when shared on its own, is cached by the guest (cache=loose: names,
 * attributes and data kept without asking the host again). Nothing but the
 * guest writes it while it runs (the sandbox's layer over the host's /usr,
 * which the host changes only when it upgrades packages; a running sandbox
 * then sees them at its next start), and every program start looks up and
 * reads a dozen files there: uncached, each a round trip through QEMU's 9p
 * server, a `kennel exec SANDBOX true` took 130 ms under TCG, cached 44. The
 * workspaces, /etc and the rest stay uncached: the host edits them too. */
#define NINEP_OPTS_USR NINEP_OPTS_BASE ",cache=loose"
#define STR_(x) #x
#define STR(x) STR_(x)
#define DEVPTS_OPTS "newinstance,ptmxmode=0666,mode=0620,gid=" STR(KN_TTY_GID)

static struct kn_vm_config config;

static void __attribute__((noreturn)) power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	/* Not allowed to power off: PID 1 exiting panics the kernel, and with
	 * panic=-1 and -no-reboot that ends QEMU too. */
	_exit(1);
}

/* "kennel-guest: <what failed>: <strerror(errno)>" on the console, then off. */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	int e = errno;
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	dprintf(2, "kennel-guest: %s: %s\n", what, strerror(e));
	power_off();
}

static void __attribute__((noreturn)) die_reason(const char *what, const char *reason)
{
	dprintf(2, "kennel-guest: %s: %s\n", what, reason);
	power_off();
}

static void mount_or_die(const char *src, const char *target, const char *type, unsigned long flags,
			 const char *data)
{
	if (mkdir(target, 0755) < 0 && errno != EEXIST)
		die("mkdir %s", target);
	if (mount(src, target, type, flags, data) < 0)
		die("mount %s on %s", type, target);
}

static void console(void)
{
	mount_or_die("devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL);
	/* The kernel found no /dev/console in the initramfs, so 0, 1, 2 are
	 * closed and the first open gets 0. O_NOCTTY: the console is the log,
	 * nobody's terminal. */
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		power_off();
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd, i);
	if (fd > 2)
		close(fd);
	mount_or_die("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

/* Reads a whole small file into buf (NUL-terminated); returns its length. */
static size_t slurp(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s", path);
	size_t len = 0;
	for (;;) {
		char extra;
		/* Full: one more byte tells a file of exactly this size from a
		 * larger one. */
		ssize_t n = len < size - 1 ? read(fd, buf + len, size - 1 - len) : read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read %s", path);
		if (n == 0)
			break;
		if (len == size - 1) {
			errno = EFBIG;
			die("read %s", path);
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static void read_config(void)
{
	char text[CONFIG_MAX];
	const char *reason = NULL;
	size_t len = slurp(KN_VM_CONFIG_PATH, text, sizeof(text));
	int rc = kn_vm_config_parse(text, len, &config, &reason);
	explicit_bzero(text, sizeof(text));
	if (rc < 0)
		die_reason("parse " KN_VM_CONFIG_PATH, reason);
}

static void load_modules(void)
{
	static char order[ORDER_MAX];
	slurp(KN_GUEST_MODULE_ORDER, order, sizeof(order));
	for (char *save = NULL, *name = strtok_r(order, "\n", &save); name;
	     name = strtok_r(NULL, "\n", &save)) {
		char path[PATH_MAX];
		if (strchr(name, '/') || snprintf(path, sizeof(path), KN_GUEST_MODULE_DIR "/%s", name) >=
						 (int)sizeof(path)) {
			errno = EINVAL;
			die("module name in " KN_GUEST_MODULE_ORDER " '%s'", name);
		}
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("open module %s", path);
		/* EEXIST: built into this kernel, or loaded as another's dependency. */
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
			die("load module %s", path);
	}
}

static void symlink_or_die(const char *target, const char *link)
{
	if (symlink(target, link) < 0 && errno != EEXIST)
		die("symlink %s", link);
}

static void mount_root(void)
{
	const char *r = KN_GUEST_NEWROOT;
	char p[PATH_MAX];
	mount_or_die(KN_VM_ROOT_TAG, r, "9p", MS_NOSUID, NINEP_OPTS);
#define AT(sub) (snprintf(p, sizeof(p), "%s%s", r, sub), p)
	/* No such share (ENOENT: an image's root): /usr stays in the root's. */
	if (mount(KN_VM_USR_TAG, AT("/usr"), "9p", MS_NOSUID, NINEP_OPTS_USR) < 0 && errno != ENOENT)
		die("mount %s on %s", KN_VM_USR_TAG, p);
	mount_or_die("proc", AT("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_die("sysfs", AT("/sys"), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_die("devtmpfs", AT("/dev"), "devtmpfs", MS_NOSUID | MS_NOEXEC, NULL);
	mount_or_die("devpts", AT("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC, DEVPTS_OPTS);
	/* devtmpfs's ptmx node opens the devpts instance mounted at pts beside
	 * it; a kernel without that node gets the instance's own ptmx. */
	symlink_or_die("pts/ptmx", AT("/dev/ptmx"));
	/* What udev would add: bash's <(...), tools writing to /dev/stdout. */
	symlink_or_die("/proc/self/fd", AT("/dev/fd"));
	symlink_or_die("/proc/self/fd/0", AT("/dev/stdin"));
	symlink_or_die("/proc/self/fd/1", AT("/dev/stdout"));
	symlink_or_die("/proc/self/fd/2", AT("/dev/stderr"));
	mount_or_die("tmpfs", AT("/dev/shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	/* Not /tmp: it comes over 9p from the host's tmpfs, under which the
	 * workspaces below /tmp are mounted (src/sandbox/rootfs.h). */
#undef AT
}

/* Deletes what is under dirfd on device `dev` (switch_root's recursiveRemove):
 * mount points are another device and stay. Best effort: what cannot be
 * deleted only keeps its RAM. Closes dirfd. */
static void remove_tree(int dirfd, dev_t dev)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				remove_tree(sub, dev);
			unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
		} else {
			unlinkat(dirfd, e->d_name, 0);
		}
	}
	closedir(d);
}

static void switch_root(void)
{
	struct statfs sfs;
	struct stat st;
	/* The initramfs's own /dev and /proc would stay behind, unreachable. */
	umount2("/proc", MNT_DETACH);
	umount2("/dev", MNT_DETACH);
	/* Only ever empty a RAM filesystem: if / were something else, this is
	 * not the boot we expect and its files are not ours to delete. */
	if (statfs("/", &sfs) == 0 && (sfs.f_type == RAMFS_MAGIC || sfs.f_type == TMPFS_MAGIC) &&
	    stat("/", &st) == 0) {
		int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			remove_tree(fd, st.st_dev);
	}
	if (chdir(KN_GUEST_NEWROOT) < 0)
		die("chdir %s", KN_GUEST_NEWROOT);
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		die("move %s to /", KN_GUEST_NEWROOT);
	if (chroot(".") < 0)
		die("chroot %s", KN_GUEST_NEWROOT);
	if (chdir("/") < 0)
		die("chdir /");
}

static void write_if_there(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		die("open %s", path);
	}
	if (write(fd, value, strlen(value)) < 0)
		die("write %s", path);
	close(fd);
}

static void link_up(int s, const char *ifname, const char *addr)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (addr) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
		sin->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &sin->sin_addr);
		if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
			die("set address %s on %s", addr, ifname);
		inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
		if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
			die("set netmask /24 on %s", ifname);
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		die("get flags of %s", ifname);
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		die("bring %s up", ifname);
}

/* Writes that no exec waits for (a background process's under the cached
 * /usr) reach the host within about two seconds, not the kernel's default
 * thirty: QEMU dies with the sandbox's stop, and the guest's page cache with
 * it. (An exec's own writes are synced before its exit: guest_exec.h.) */
static void writeback_soon(void)
{
	write_if_there("/proc/sys/vm/dirty_expire_centisecs", "100");
	write_if_there("/proc/sys/vm/dirty_writeback_centisecs", "100");
}

static void network(void)
{
	if (config.hostname[0] && sethostname(config.hostname, strlen(config.hostname)) < 0)
		die("sethostname %s", config.hostname);
	/* Before any link is up, so no interface ever gets an IPv6 address:
	 * QEMU's network has none, and the guest must not try it first. */
	write_if_there("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	write_if_there("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket for interface setup");
	link_up(s, "lo", NULL);
	/* The /24 brings its own route to KN_VM_PROXY_ADDR; no default route, so
	 * anything else is unreachable at once rather than dropped by QEMU. */
	/* A gratuitous ARP as the link comes up: QEMU learns the guest's MAC
	 * at once instead of holding the first forwarded connection for it. */
	write_if_there("/proc/sys/net/ipv4/conf/" KN_GUEST_NIC "/arp_notify", "1");
	link_up(s, KN_GUEST_NIC, KN_VM_GUEST_ADDR);
}

static int listen_on(const char *addr, int port)
{
	int one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, addr, &sa.sin_addr);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		die("socket for %s:%d", addr, port);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind %s:%d", addr, port);
	if (listen(s, LISTEN_BACKLOG) < 0)
		die("listen on %s:%d", addr, port);
	return s;
}

/* A child for one connection to the guest's proxy port: on to the host's. */
static void __attribute__((noreturn)) forward_proxy(int c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(KN_VM_PROXY_PORT)};
	inet_pton(AF_INET, KN_VM_PROXY_ADDR, &sa.sin_addr);
	int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* A failed connect closes the client's connection: it sees what it would
	 * see from a proxy that is down. */
	if (up < 0 || connect(up, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		_exit(1);
	_exit(kn_relay_fds(c, c, up) < 0 ? 1 : 0);
}

static long boot_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_BOOTTIME, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void __attribute__((noreturn)) serve(int proxy_l, int exec_l, int sfd)
{
	for (;;) {
		struct pollfd p[3] = {
			{.fd = proxy_l, .events = POLLIN},
			{.fd = exec_l, .events = POLLIN},
			{.fd = sfd, .events = POLLIN},
		};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[2].revents) {
			/* SIGCHLD is what matters; anything else sent to PID 1 is
			 * read and ignored. */
			struct signalfd_siginfo si[16];
			while (read(sfd, si, sizeof(si)) > 0)
				;
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			int c = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0) {
				if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
					dprintf(2, "kennel-guest: accept: %s\n", strerror(errno));
					poll(NULL, 0, ACCEPT_BACKOFF_MS);
				}
				continue;
			}
			pid_t pid = fork();
			if (pid < 0)
				dprintf(2, "kennel-guest: fork for a connection: %s\n", strerror(errno));
			if (pid == 0) {
				close(proxy_l);
				close(exec_l);
				close(sfd);
				if (i == 0) {
					/* Only exec sessions need the token. */
					explicit_bzero(&config, sizeof(config));
					sigset_t none;
					sigemptyset(&none);
					signal(SIGPIPE, SIG_IGN);
					sigprocmask(SIG_SETMASK, &none, NULL);
					forward_proxy(c);
				}
				kn_guest_exec(c, config.token);
			}
			close(c);
		}
	}
}

void kn_guest_run(void)
{
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	console();
	read_config();
	load_modules();
	mount_root();
	switch_root();
	writeback_soon();
	network();
	int proxy_l = listen_on("127.0.0.1", KN_VM_PROXY_PORT);
	int exec_l = listen_on(KN_VM_GUEST_ADDR, KN_VM_EXEC_PORT);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd");
	dprintf(2, "kennel-guest: ready after %ld ms\n", boot_ms());
	serve(proxy_l, exec_l, sfd);
}
