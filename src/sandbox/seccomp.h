/* seccomp.h — the syscall fence of the ns sandbox.
 *
 * Contract: kn_seccomp_apply() sets no_new_privs and installs, on every thread of
 * the calling process, a seccomp filter that every descendant inherits and none
 * can remove. The filter allows by default and refuses a fixed list of syscalls
 * (the table in seccomp.c says which and why): most fail with EPERM, clone3 with
 * ENOSYS so that libc falls back to clone(2), whose flags the filter can read.
 * Foreign syscall ABIs (32-bit x86 and x32 on x86_64) kill the process.
 *
 * Call it last before execve(2) of the agent, after namespaces, pivot_root and
 * the drop to the sandbox uid: the filter also binds the caller (no mount,
 * unshare or setns afterwards). Returns 0, or -1 with `err` set, in which case no
 * filter was installed.
 *
 * Flags:
 *   KN_SECCOMP_ALLOW_USERNS  let unshare(2)/clone(2) create user namespaces
 *                            (CLONE_NEWUSER alone; every other CLONE_NEW* flag
 *                            stays refused). */
#ifndef KENNEL_SANDBOX_SECCOMP_H
#define KENNEL_SANDBOX_SECCOMP_H

#include "common/error.h"

#define KN_SECCOMP_ALLOW_USERNS (1u << 0)

int kn_seccomp_apply(unsigned flags, kn_error *err);

/* Compile the filter for `flags` once (in kenneld at start-up); afterwards
 * kn_seccomp_apply in this process and its forks loads the compiled program
 * with one seccomp(2) call instead of building it again. */
int kn_seccomp_prepare(unsigned flags, kn_error *err);

#endif
