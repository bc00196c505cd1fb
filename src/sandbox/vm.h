/* vm.h — the `vm` backend: a QEMU microVM as the payload of an ns sandbox.
 *
 * Contract. A vm sandbox is started by kn_ns_start like any other: the same
 * cgroup, the same namespaces (its own user namespace: QEMU runs as the sandbox's
 * root, an unprivileged host uid, under kennel's seccomp filter and its own
 * `-sandbox on`), the same root built from the base or --image plus the writable
 * layer and the workspaces, the same proxy listeners in its network namespace.
 * The difference is the payload: PID 1 (kennel-init --spawn) runs QEMU instead of
 * waiting for execs, QEMU sees the small root of vm_host.h, and the sandbox's root
 * is the guest's, shared over virtio-9p. The guest (kennel's kernel, built from
 * Debian's source by tools/vm-assets, and kennel-init as /init, see
 * src/init/guest.h) has one NIC on QEMU's user network with restrict=on and
 * IPv6 off: its only ways out are KN_VM_PROXY_ADDR:3128,
 * which QEMU hands per connection to `kennel-init --relay` and so to the proxy
 * listener in the sandbox's namespace, and nothing else; the host reaches the
 * guest's exec port through a hostfwd on 127.0.0.1 in that same namespace,
 * where nothing but QEMU lives (vm_exec.c).
 *
 * The guest kernel and initramfs come from the assets directory (`make vm`,
 * tools/vm-assets): KN_VM_KERNEL and KN_VM_INITRAMFS. Each boot gets a copy of
 * the initramfs in a memfd with one more cpio archive appended, holding the boot
 * configuration (vm_proto.h: the exec token, the hostname).
 *
 *  - kn_vm_check: the host can run vm sandboxes (QEMU installed, assets there);
 *    err names what is missing and how to get it.
 *  - kn_vm_new_token: a fresh exec token (getrandom).
 *  - kn_vm_boot_fds: in the starting sandbox, before pivot_root: the kernel and
 *    the initramfs as fds (to become KN_VM_FD_KERNEL and KN_VM_FD_INITRD).
 *  - kn_vm_qemu_argv: QEMU's command line for `spec`, NULL-terminated, in
 *    storage that lives until the next call (the starting child execs it).
 *  - kn_vm_memory_limit: the cgroup memory limit for a guest of ram_mib: the RAM
 *    plus what QEMU needs around it, so the guest's own use never gets QEMU
 *    killed before the guest kernel reclaims. */
#ifndef KENNEL_VM_H
#define KENNEL_VM_H

#include <stdint.h>

#include "common/error.h"
#include "sandbox/sandbox.h"

#define KN_VM_QEMU "/usr/bin/qemu-system-x86_64"
#define KN_VM_KERNEL "vmlinux"
#define KN_VM_INITRAMFS "initramfs.cpio"
/* In the sandbox's state folder: the guest's serial console and QEMU's own
 * messages, rewritten at every start. */
#define KN_VM_CONSOLE_LOG "console.log"
/* Where PID 1 (and so QEMU) holds the boot files: above the proxy listeners
 * (3, 4) and init's own binary (5). */
#define KN_VM_FD_KERNEL 6
#define KN_VM_FD_INITRD 7
/* Guest RAM when the sandbox has no memory limit: enough for an agent, npm and
 * a compiler; the guest's page cache grows into whatever it is given. */
#define KN_VM_DEFAULT_RAM_MIB 2048
/* A guest smaller than this does not boot Debian's generic kernel (vm-assets
 * --debian-kernel) with room to work. */
#define KN_VM_MIN_RAM_MIB 256
/* TCG's translated-code cache: QEMU's default (1 GiB) is sized for long-lived
 * desktops; a sandbox's working set of code fits in far less. */
#define KN_VM_TCG_CACHE_MIB 256
/* QEMU's own memory beside guest RAM and the code cache: its heap, 9p and
 * network buffers, libraries. */
#define KN_VM_QEMU_OVERHEAD_MIB 256

int kn_vm_check(const char *assets, kn_error *err);
/* Whether QEMU can use KVM here: /dev/kvm exists and a paused QEMU with
 * `-accel kvm -cpu host` stays up for KN_VM_KVM_PROBE_MS (a nested or broken
 * KVM fails at once, e.g. setting MSRs). Probed once per process, on first use;
 * without it, guests run under TCG. */
int kn_vm_kvm_usable(void);
/* The host's TSC rate in kHz, timed once per process (~20 ms) in the daemon,
 * not in every starting sandbox: under TCG the guest's TSC is the host's, and
 * Debian's kernel, left to calibrate it against the emulated PIT, fails or
 * hangs on a loaded host ("Unable to calibrate against PIT", seen with three
 * guests booting on two busy cores). The guest gets it as tsc_early_khz=. */
unsigned long kn_vm_host_tsc_khz(void);
#define KN_VM_KVM_PROBE_MS 300
/* The guest's vCPUs for a CPU limit (whole CPUs, rounded up; 0 = no limit:
 * every host CPU) and its RAM for a memory limit (0: KN_VM_DEFAULT_RAM_MIB). */
unsigned kn_vm_vcpus(double cpus);
uint64_t kn_vm_ram_mib(uint64_t memory_bytes);
void kn_vm_new_token(char token[KN_VM_TOKEN_LEN + 1]);
int kn_vm_boot_fds(const struct kn_sandbox_spec *spec, int *kernel, int *initrd, kn_error *err);
char *const *kn_vm_qemu_argv(const struct kn_sandbox_spec *spec);
uint64_t kn_vm_memory_limit(uint64_t ram_mib);

#endif
