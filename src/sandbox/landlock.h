/* landlock.h — the filesystem fence of the ns sandbox, a second line behind
 * the mount namespace: should a mount escape or a bug expose a host path, the
 * agent still cannot write (or read) beyond what it was given.
 *
 * Contract: kn_landlock_apply() sets no_new_privs and restricts the calling
 * process, and everything it starts, to:
 *   - beneath each `writable` path: everything (read, write, execute, create,
 *     remove, rename, truncate, device ioctl) except creating device nodes;
 *   - beneath each `readonly` path: read files, list directories, execute;
 *   - the null, zero, random and terminal devices (/dev/null, /dev/zero,
 *     /dev/full, /dev/random, /dev/urandom, /dev/tty, /dev/ptmx, /dev/pts/):
 *     read, write and ioctl, wherever the lists put /dev; those that do not
 *     exist are skipped;
 *   - nothing anywhere else. Rules add up along a path, so a writable
 *     directory below a read-only one is writable.
 * With Landlock ABI 6 or later and `scope_ipc` set, it also scopes signals
 * and abstract Unix sockets: a process in the domain can signal, or connect to an abstract
 * socket of, only processes in the same domain or one nested in it. Every
 * restriction is inherited across fork and execve and cannot be lifted. Files
 * already open are not affected. Only access rights the running kernel knows
 * are handled; what an older kernel lacks is logged at warn.
 *
 * Paths are resolved in the caller's mount namespace (after pivot_root); a
 * listed path that does not exist is an error. Lists are NULL-terminated; a
 * NULL list is empty.
 *
 * Returns 0 when the fence is in place; 1 when the kernel offers no usable
 * Landlock, in which case nothing was applied, a warning was logged and the
 * caller decides whether to go on; -1 with `err` set on failure (nothing
 * applied).
 *
 * kn_landlock_abi() returns the Landlock ABI version of the running kernel, or
 * 0 when Landlock is not built in or not enabled. */
#ifndef KENNEL_SANDBOX_LANDLOCK_H
#define KENNEL_SANDBOX_LANDLOCK_H

#include "common/error.h"

struct kn_landlock_rules {
	const char *const *writable;
	const char *const *readonly;
	/* Scope signals and abstract sockets to the domain (ABI 6+). Every
	 * Landlock call makes a new domain, so processes fenced by separate
	 * calls (separate `kennel exec`s) could no longer signal each other;
	 * kennel's ns sandbox leaves it off and relies on its pid and net
	 * namespaces for that fence. */
	int scope_ipc;
};

int kn_landlock_abi(void);
int kn_landlock_apply(const struct kn_landlock_rules *rules, kn_error *err);
/* The ruleset kn_landlock_apply would restrict with, as a close-on-exec fd in
 * *fd for a process to restrict itself with later (landlock_restrict_self,
 * after no_new_privs): same returns, *fd -1 unless 0. */
int kn_landlock_ruleset(const struct kn_landlock_rules *rules, int *fd, kn_error *err);
/* no_new_privs, then the calling process restricted by `ruleset_fd`: what
 * kn_landlock_apply does with the ruleset it makes. 0, or -1 with err. */
int kn_landlock_restrict(int ruleset_fd, kn_error *err);

#endif
