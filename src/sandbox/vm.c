#define _GNU_SOURCE
#include "sandbox/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/vm_host.h"

/* The guest's kernel command line. quiet: serial output is slow under TCG and
 * goes to console.log; panic=-1 with QEMU's -no-reboot turns a guest panic into
 * QEMU's exit; mitigations=off: the guest is a single tenant, and the
 * mitigations cost boot time under TCG (the host's own stay on). tsc=reliable
 * clocksource=tsc: the guest's TSC is the host's (TCG) or constant (KVM), but
 * without the invariant-TSC flag Debian's kernel falls back to refined-jiffies,
 * whose ticks an emulated guest loses on a busy host (measured: half a second
 * behind within a minute). Under TCG a tsc_early_khz= follows (vm.h). */
#define VM_CMDLINE                                                                      \
	"console=ttyS0 quiet panic=-1 rdinit=/init mitigations=off tsc=reliable clocksource=tsc " \
	"cryptomgr.notests initcall_blacklist=" VM_SKIPPED_INITCALLS
/* Boot-time work a sandbox's guest has no use for, found with initcall_debug
 * under TCG in Debian's generic kernel (tools/vm-assets --debian-kernel;
 * kennel's own, tools/vm-kernel.config, has none of it): the kernel crypto
 * self-tests (cryptomgr.notests: 0.35 s in
 * crypto_algapi_init alone, ~0.9 s of boot in all; the guest's TLS is in user
 * space), loading the distribution's X.509 certificates (0.11 s: modules then
 * load unverified, with a taint, as signature enforcement is off), the block
 * tracer, zswap and the TPM (none here). */
#define VM_SKIPPED_INITCALLS "load_system_certificate_list,init_blk_tracer,init_zswap,tpm_init"
/* How long the host's TSC is timed against CLOCK_MONOTONIC_RAW: long enough
 * for a rate within 0.1 %, which the guest's clock tolerates. */
#define TSC_CALIBRATE_NS 20000000LL
/* newc cpio: a 110-byte header of "070701" and 13 8-digit hex fields. */
#define CPIO_HEAD 110
/* The appended config archive: one entry and the trailer, with room. */
#define CONFIG_ARCHIVE_MAX 4096

int kn_vm_check(const char *assets, kn_error *err)
{
	char p[PATH_MAX];
	if (access(KN_VM_QEMU, X_OK) < 0)
		return kn_fail_errno(err, "--isolation vm needs %s (Debian package qemu-system-x86; "
					  "tools/install-deps installs it)",
				     KN_VM_QEMU);
	const char *files[] = {KN_VM_KERNEL, KN_VM_INITRAMFS};
	for (size_t i = 0; i < KN_ARRAY_SIZE(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", assets, files[i]);
		if (access(p, R_OK) < 0)
			return kn_fail_errno(err, "--isolation vm needs the guest kernel and initramfs: %s "
						  "(`make vm` builds them; kenneld --vm-assets DIR)",
					     p);
	}
	return 0;
}

void kn_vm_new_token(char token[KN_VM_TOKEN_LEN + 1])
{
	unsigned char raw[KN_VM_TOKEN_LEN / 2];
	size_t got = 0;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			abort(); /* the kernel has had getrandom since 3.17: cannot happen */
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
}

static size_t cpio_entry(char *out, size_t size, const char *name, unsigned mode, const char *data,
			 size_t len)
{
	size_t nlen = strlen(name) + 1;
	size_t head = CPIO_HEAD + nlen, head_pad = (4 - head % 4) % 4, data_pad = (4 - len % 4) % 4;
	size_t total = head + head_pad + len + data_pad;
	if (total > size)
		return 0;
	snprintf(out, CPIO_HEAD + 1, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", 0u,
		 mode, 0u, 0u, 1u, 0u, len, 0u, 0u, 0u, 0u, nlen, 0u);
	memcpy(out + CPIO_HEAD, name, nlen);
	memset(out + head, 0, head_pad);
	memcpy(out + head + head_pad, data, len);
	memset(out + head + head_pad + len, 0, data_pad);
	return total;
}

static int write_all(int fd, const char *p, size_t len, kn_error *err)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kn_fail_errno(err, "write initramfs memfd");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The base initramfs, then an archive with the boot configuration: the kernel
 * unpacks concatenated archives in order. In a memfd, so the token is never in
 * a file. */
static int make_initrd(const struct kn_sandbox_spec *s, kn_error *err)
{
	char p[PATH_MAX], conf[512], archive[CONFIG_ARCHIVE_MAX];
	struct kn_vm_config c = {0};
	memcpy(c.token, s->vm.token, sizeof(c.token));
	snprintf(c.hostname, sizeof(c.hostname), "%s", s->name);
	int clen = kn_vm_config_format(&c, conf, sizeof(conf));
	explicit_bzero(&c, sizeof(c));
	if (clen < 0)
		return kn_fail(err, "vm boot configuration too long");
	size_t n = cpio_entry(archive, sizeof(archive), &KN_VM_CONFIG_PATH[1], 0100600, conf, (size_t)clen);
	explicit_bzero(conf, sizeof(conf));
	size_t t = n ? cpio_entry(archive + n, sizeof(archive) - n, "TRAILER!!!", 0, "", 0) : 0;
	if (!t)
		return kn_fail(err, "vm boot configuration archive too long");
	n += t;

	snprintf(p, sizeof(p), "%s/%s", s->vm.assets, KN_VM_INITRAMFS);
	_cleanup_close_ int base = open(p, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (base < 0 || fstat(base, &st) < 0)
		return kn_fail_errno(err, "open %s", p);
	_cleanup_close_ int mfd = memfd_create("kennel-initrd", MFD_CLOEXEC);
	if (mfd < 0)
		return kn_fail_errno(err, "memfd_create for the initramfs");
	for (off_t off = 0; off < st.st_size;) {
		/* sendfile: copy_file_range refuses a memfd (EXDEV). */
		ssize_t c2 = sendfile(mfd, base, &off, (size_t)(st.st_size - off));
		if (c2 < 0 && errno == EINTR)
			continue;
		if (c2 <= 0)
			return kn_fail_errno(err, "copy %s into the initramfs memfd", p);
	}
	/* Archives start on a 4-byte boundary. */
	static const char zeros[4];
	if (write_all(mfd, zeros, (size_t)((4 - st.st_size % 4) % 4), err) < 0 ||
	    write_all(mfd, archive, n, err) < 0)
		return -1;
	explicit_bzero(archive, sizeof(archive));
	return steal_fd(&mfd);
}

int kn_vm_boot_fds(const struct kn_sandbox_spec *s, int *kernel, int *initrd, kn_error *err)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", s->vm.assets, KN_VM_KERNEL);
	*kernel = open(p, O_RDONLY | O_CLOEXEC);
	if (*kernel < 0)
		return kn_fail_errno(err, "open %s", p);
	*initrd = make_initrd(s, err);
	if (*initrd < 0) {
		kn_closep(kernel);
		return -1;
	}
	return 0;
}

int kn_vm_kvm_usable(void)
{
	static int usable = -1;
	if (usable >= 0)
		return usable;
	usable = 0;
	if (access("/dev/kvm", R_OK | W_OK) < 0 || access(KN_VM_QEMU, X_OK) < 0)
		return usable;
	pid_t pid = fork();
	if (pid < 0)
		return usable;
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execl(KN_VM_QEMU, KN_VM_QEMU, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-S",
		      "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none", (char *)NULL);
		_exit(127);
	}
	int status;
	for (int waited = 0; waited < KN_VM_KVM_PROBE_MS; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return usable; /* exited: KVM does not work here */
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	usable = 1;
	return usable;
}

unsigned kn_vm_vcpus(double cpus)
{
	if (cpus > 0) {
		unsigned n = (unsigned)cpus;
		return n + (cpus > (double)n ? 1 : 0);
	}
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	return online > 0 ? (unsigned)online : 1;
}

uint64_t kn_vm_ram_mib(uint64_t memory_bytes)
{
	uint64_t mib = memory_bytes >> 20;
	if (!memory_bytes)
		return KN_VM_DEFAULT_RAM_MIB;
	return mib < KN_VM_MIN_RAM_MIB ? KN_VM_MIN_RAM_MIB : mib;
}

uint64_t kn_vm_memory_limit(uint64_t ram_mib)
{
	return (ram_mib + KN_VM_TCG_CACHE_MIB + KN_VM_QEMU_OVERHEAD_MIB) << 20;
}

static long long mono_raw_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_RAW, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

unsigned long kn_vm_host_tsc_khz(void)
{
	static unsigned long khz;
	if (khz)
		return khz;
	long long t0 = mono_raw_ns();
	unsigned long long c0 = __builtin_ia32_rdtsc();
	long long t1;
	while ((t1 = mono_raw_ns()) - t0 < TSC_CALIBRATE_NS)
		;
	unsigned long long c1 = __builtin_ia32_rdtsc();
	khz = (unsigned long)((c1 - c0) * 1000000ULL / (unsigned long long)(t1 - t0));
	return khz;
}

char *const *kn_vm_qemu_argv(const struct kn_sandbox_spec *s)
{
	static char cmdline[512];
	static char mem[32], smp[32], accel[64], name[96], fsdev[128], usr_fsdev[128], kernel[32];
	static char initrd[32];
	static char netdev[256];
	static char *argv[64];
	size_t n = 0;
	snprintf(mem, sizeof(mem), "%luM", (unsigned long)s->vm.ram_mib);
	snprintf(smp, sizeof(smp), "%u", s->vm.vcpus ? s->vm.vcpus : 1);
	if (s->vm.kvm)
		snprintf(accel, sizeof(accel), "kvm");
	else
		snprintf(accel, sizeof(accel), "tcg,tb-size=%d", KN_VM_TCG_CACHE_MIB);
	snprintf(name, sizeof(name), "kennel-%s", s->name);
	if (s->vm.kvm)
		snprintf(cmdline, sizeof(cmdline), "%s", VM_CMDLINE);
	else
		snprintf(cmdline, sizeof(cmdline), "%s tsc_early_khz=%lu", VM_CMDLINE, s->vm.tsc_khz);
	snprintf(kernel, sizeof(kernel), "/proc/self/fd/%d", KN_VM_FD_KERNEL);
	snprintf(initrd, sizeof(initrd), "/proc/self/fd/%d", KN_VM_FD_INITRD);
	snprintf(fsdev, sizeof(fsdev), "local,id=root,path=%s,security_model=passthrough,multidevs=remap",
		 KN_VM_HOST_GUEST_DIR);
	snprintf(usr_fsdev, sizeof(usr_fsdev),
		 "local,id=usr,path=%s/usr,security_model=passthrough,multidevs=remap", KN_VM_HOST_GUEST_DIR);
	/* QEMU runs the guestfwd command with the guest's connection on stdin and
	 * stdout; /proc/1/exe is kennel-init (PID 1 of the sandbox's pid namespace). */
	snprintf(netdev, sizeof(netdev),
		 "user,id=net0,restrict=on,ipv6=off,net=%s,host=10.0.2.2,"
		 "hostfwd=tcp:127.0.0.1:%d-%s:%d,guestfwd=tcp:%s:%d-cmd:/proc/1/exe --relay",
		 KN_VM_NET, KN_VM_EXEC_PORT, KN_VM_GUEST_ADDR, KN_VM_EXEC_PORT, KN_VM_PROXY_ADDR,
		 KN_VM_PROXY_PORT);
	char *const fixed[] = {
		KN_VM_QEMU, "-name", name, "-nodefaults", "-no-user-config", "-no-reboot",
		/* rtc: the guest's wall clock (TLS needs it); pit and pic: without
		 * them Debian's kernel can hang calibrating its clock under TCG. */
		"-M", "microvm,x-option-roms=off,isa-serial=on,rtc=on,pit=on,pic=on",
		"-accel", accel, "-cpu", s->vm.kvm ? "host" : "max", "-m", mem, "-smp", smp,
		"-display", "none", "-monitor", "none",
		"-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
		"-kernel", kernel, "-initrd", initrd, "-append", cmdline,
		"-fsdev", fsdev, "-device", "virtio-9p-device,fsdev=root,mount_tag=" KN_VM_ROOT_TAG,
		"-netdev", netdev, "-device", "virtio-net-device,netdev=net0",
		/* QEMU's own filter on top of kennel's. Spawning and set*id stay
		 * allowed: the guestfwd command is forked by GLib, which calls
		 * setsid in the child (elevateprivileges=deny kills it with
		 * SIGSYS). QEMU is the sandbox's root in its own user namespace,
		 * under kennel's filter and no_new_privs: set*id moves only
		 * between the sandbox's own unprivileged host uids. */
		"-sandbox", "on,obsolete=deny,elevateprivileges=allow,spawn=allow,resourcecontrol=deny",
		NULL};
	for (; fixed[n]; n++)
		argv[n] = fixed[n];
	/* The host base's /usr is the overlay rootfs.c made, a directory: shared
	 * on its own, the guest caches it (guest.c says why). An image's /usr is
	 * whatever the image has there, and stays part of the root share. */
	if (!s->image) {
		argv[n++] = "-fsdev";
		argv[n++] = usr_fsdev;
		argv[n++] = "-device";
		argv[n++] = "virtio-9p-device,fsdev=usr,mount_tag=" KN_VM_USR_TAG;
	}
	argv[n] = NULL;
	return argv;
}
