/* exec_helper.h — the process between kenneld and a command in a sandbox.
 *
 * Contract. kn_exec_helper_start forks a helper (born in the sandbox's v2 cgroup,
 * see cgroup.h) that runs fn(arg, sock) and never returns; the helper first
 * calls kn_exec_helper_enter (keep only sock and the command's stdio, join the
 * v1 cgroups), and reports exactly once on sock: kn_exec_helper_ok with the
 * command's pid and, with a tty, the pty master that the daemon hands to the
 * client; or kn_exec_helper_fail with why the command could not start (it then
 * exits 125). Its exit status is the command's (128+signal when killed). The
 * parent waits for that report and fills `out`; the reported pid is a host pid
 * translated to the sandbox's pid namespace when `host_pid` (ns), else taken as
 * is (a guest's pid, vm). Both return 0 / -1 + err. */
#ifndef KENNEL_EXEC_HELPER_H
#define KENNEL_EXEC_HELPER_H

#include <sys/types.h>

#include "common/error.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"

typedef void (*kn_exec_helper_fn)(void *arg, int sock);

int kn_exec_helper_start(const char *sandbox, const struct kn_cgroup *cg, kn_exec_helper_fn fn,
			 void *arg, int host_pid, struct kn_exec_result *out, kn_error *err);
int kn_exec_helper_enter(int sock, const int stdio[3], const struct kn_cgroup *cg, kn_error *err);
int kn_exec_helper_ok(int sock, pid_t pid, int pty_master, kn_error *err);
void kn_exec_helper_fail(int sock, const kn_error *err) __attribute__((noreturn));

#endif
