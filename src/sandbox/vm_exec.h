/* vm_exec.h — running a command in a vm sandbox.
 *
 * Contract: kn_vm_exec is kn_ns_exec (sandbox.h) for a vm sandbox, with the same
 * arguments, result and exit-status rules: a helper process relays the command's
 * I/O between the daemon's fds (pipes, or a host pty whose master is returned)
 * and the guest's exec port (vm_proto.h), its exit status is the command's, and
 * out->pid is the command's pid in the guest. The command runs in the guest as
 * ex->uid with the environment of exec_env.h; the first exec of a booting guest
 * waits for it (up to a minute under TCG). The guest is the isolation: no
 * Landlock or seccomp is applied inside it. */
#ifndef KENNEL_VM_EXEC_H
#define KENNEL_VM_EXEC_H

#include "sandbox/sandbox.h"

int kn_vm_exec(const struct kn_sandbox_spec *spec, pid_t init_pid, const struct kn_cgroup *cg,
	       const struct kn_exec_spec *ex, struct kn_exec_result *out, kn_error *err);

#endif
