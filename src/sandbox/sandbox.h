/* sandbox.h — the `ns` backend: a sandbox made of Linux namespaces.
 *
 * Contract. kenneld (root, single-threaded) calls these; each returns 0 / -1
 * with `err` naming the failed call and object.
 *  - kn_ns_prepare: creates the sandbox's private folders (writable layer,
 *    overlay work dirs, mount points) under spec->dir and seeds its /etc files.
 *    Idempotent; run at create time. It is kn_ns_prepare_folders (the
 *    folders, which depend on nothing but spec->dir and the uid base: made
 *    ahead of a create, manager.h) then kn_ns_prepare_identity (the files
 *    that name the sandbox: /etc/hostname and /etc/hosts; with an image, the
 *    agent's line in /etc/passwd), written through `root_layer`, the root
 *    overlay made ahead (rootfs.h), when it is not -1.
 *  - kn_ns_start: starts the sandbox: a new process, PID 1 of fresh mount, pid,
 *    uts and cgroup namespaces, of the network and IPC namespaces of `spare`
 *    (spare.h: made for this start and given to nothing else; the caller
 *    closes its fds afterwards), or of fresh ones when `spare` is NULL, and
 *    then of its own user namespace (the spare's when made for its uid
 *    base), in the cgroup `cg`, with a fresh root (see rootfs.h) pivoted
 *    into: of the KN_NS_LAYERS overlays in `layers` when not NULL (made
 *    ahead by kn_rootfs_overlays for this start and given to nothing else;
 *    the caller closes them afterwards), else of overlays it makes. Returns the host pid of that init and a pidfd for it (readable
 *    when the sandbox dies).
 *    `meanwhile` (may be NULL) runs in the caller while the new process sets
 *    up its namespaces and root, for work that may overlap with that (the
 *    caller's state files); when it fails, the process is killed and
 *    kn_ns_start fails with its error.
 *    The namespaces other than the user namespace stay owned by the host's user
 *    namespace, so even root inside the sandbox cannot mount, change the hostname
 *    or touch the network configuration; its capabilities reach only files
 *    owned by its own id range.
 *  - kn_ns_exec: runs a command inside a running sandbox as `uid`: the
 *    sandbox's init forks a session process that forks the command and says
 *    when it exits (init/ns_session.h); a sandbox whose init serves none
 *    (started by an older kenneld) gets a helper process that joins the
 *    cgroup and the namespaces of `init_pid`, forks the command (so it is
 *    inside the pid namespace), and waits for it, its exit status the
 *    command's. Either way the status is 128+signal when killed, 126 cannot
 *    execute, 127 not found. With `tty`, a pty from the sandbox's own devpts is
 *    made the command's controlling terminal and the master is returned;
 *    otherwise `stdio` fds become its 0, 1, 2. Before execve: no_new_privs,
 *    rlimits, Landlock, seccomp (from init, the command inherits the filter,
 *    the rlimits and no_new_privs, and restricts itself with the Landlock
 *    ruleset made at the start). When spec->has_ca, the
 *    command's environment also points TLS clients at the bundle that holds
 *    the sandbox's kennel CA (trust.h).
 *  - kn_ns_trust_ca: installs the kennel CA certificate `ca_pem` in the
 *    stopped sandbox's trust store (trust.h); run before every start.
 *  - kn_ns_seed_home: writes the agent's first-run files the stopped sandbox
 *    lacks into its home (home.h); run before every start.
 * With spec->vm.enabled the same functions make a vm sandbox (vm.h): start runs
 * QEMU as the payload of PID 1 and exec is kn_vm_exec (vm_exec.h).
 * The agent user is uid/gid KN_AGENT_UID inside; root inside is host uid_base. */
#ifndef KENNEL_SANDBOX_H
#define KENNEL_SANDBOX_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/spare.h"
#include "sandbox/vm_proto.h"

/* Enough for a project and a few read-only reference checkouts; each is a
 * mount, and mounts per namespace are a kernel-limited resource. */
#define KN_MAX_WORKSPACES 16
/* A host-based sandbox's overlays: its root, then one per
 * kn_base_host_layers entry (base.h); an --image's root alone. */
#define KN_NS_LAYERS 3
#define KN_AGENT_UID 1000
#define KN_AGENT_NAME "agent"
#define KN_AGENT_HOME "/home/agent"
/* Debian's tty group: devpts slaves belong to it so `mesg`/`write` behave. */
#define KN_TTY_GID 5

struct kn_workspace {
	char path[PATH_MAX];
	int readonly;
};

/* A vm sandbox (vm.h): the same namespaces, cgroup and root, with QEMU as the
 * payload instead of an agent's processes. */
struct kn_vm_spec {
	int enabled;
	const char *assets;   /* directory with vmlinux and initramfs.cpio (vm.h) */
	unsigned vcpus;
	uint64_t ram_mib;
	int kvm;              /* /dev/kvm is there: accelerate */
	unsigned long tsc_khz; /* TCG: the host's TSC rate, told to the guest (vm.h) */
	char token[KN_VM_TOKEN_LEN + 1]; /* the exec token of this boot (vm_proto.h) */
};

struct kn_sandbox_spec {
	const char *name;     /* also the hostname */
	const char *dir;      /* the sandbox's folder in the state dir */
	const char *base_dir; /* the daemon's shared base (root skeleton, curated /etc) */
	const char *image;    /* NULL: host /usr etc.; else a directory used as the root */
	uint32_t uid_base;
	int has_ca;           /* a kennel CA is installed: exec sets kn_trust_env */
	size_t n_workspaces;
	struct kn_workspace workspaces[KN_MAX_WORKSPACES];
	struct kn_vm_spec vm;
};

struct kn_exec_spec {
	char *const *argv;
	char *const *env; /* NAME=VALUE entries added to the default environment */
	uid_t uid;        /* inside the sandbox */
	gid_t gid;
	const char *workdir;
	int tty;
	unsigned short rows, cols;
	int stdio[3]; /* without tty: fds for 0, 1, 2 */
};

struct kn_exec_result {
	int helper_pidfd; /* readable once the command has exited: kn_exec_exit_code */
	int is_session;   /* helper_pidfd is the socket of init's session, not a pidfd */
	pid_t pid;        /* the command's pid inside the sandbox */
	int pty_master;   /* with tty, else -1 */
};

int kn_ns_prepare(const struct kn_sandbox_spec *spec, kn_error *err);
int kn_ns_prepare_folders(const struct kn_sandbox_spec *spec, kn_error *err);
int kn_ns_prepare_identity(const struct kn_sandbox_spec *spec, int root_layer, kn_error *err);
typedef int kn_ns_meanwhile_fn(void *arg, kn_error *err);
int kn_ns_start(const struct kn_sandbox_spec *spec, const struct kn_cgroup *cg,
		const struct kn_spare *spare, const int *layers, kn_ns_meanwhile_fn *meanwhile,
		void *arg, pid_t *init_pid, int *init_pidfd, kn_error *err);
int kn_ns_exec(const struct kn_sandbox_spec *spec, pid_t init_pid, const struct kn_cgroup *cg,
	       const struct kn_exec_spec *ex, struct kn_exec_result *out, kn_error *err);
/* The exit status of a command whose kn_exec_result's helper_pidfd has become
 * readable (it reaps the helper); 137 when the sandbox ended with it unsaid,
 * 125 when it cannot be had. Does not close the fd. */
int kn_exec_exit_code(int helper_pidfd, int is_session);
int kn_ns_trust_ca(const struct kn_sandbox_spec *spec, const char *ca_pem, size_t ca_len,
		   unsigned long subject_hash, kn_error *err);
struct kn_home_file;
int kn_ns_seed_home(const struct kn_sandbox_spec *spec, const struct kn_home_file *files, size_t n,
		    kn_error *err);

#endif
