/* exec_env.h — what a command in a sandbox starts with: its environment, its
 * directory, and the Landlock fence around it.
 *
 * Contract: kn_exec_env fills env (KN_EXEC_MAX_ENV slots) with, in this order
 * and each name once: the request's own NAME=VALUE entries (at most
 * KN_EXEC_MAX_ENV - KN_EXEC_ENV_RESERVED of them), then the defaults (PATH,
 * HOME, USER, LOGNAME, SHELL, HOSTNAME, TERM, LANG, KENNEL_SANDBOX), the proxy
 * entries (netns.h) and, when spec->has_ca, the trust entries (trust.h) for
 * whatever the request did not set; NULL-terminated. The strings are the
 * request's, static ones, or in static storage that the next call overwrites:
 * for a process about to exec (ns) or to send them (vm).
 * kn_exec_workdir is where the command starts: the request's workdir, else the
 * first workspace, else /; a terminal the request gives no size is
 * KN_EXEC_DEFAULT_ROWS x KN_EXEC_DEFAULT_COLS.
 * kn_exec_landlock_ruleset makes, in the sandbox's mount namespace, the
 * Landlock ruleset of an ns sandbox's commands (landlock.h): write access only
 * where the sandbox is meant to write (its writable top-level folders that
 * exist, /dev/shm, the writable workspaces), read everywhere else, no device
 * nodes, nothing under /proc or /sys; same returns as kn_landlock_ruleset. */
#ifndef KENNEL_EXEC_ENV_H
#define KENNEL_EXEC_ENV_H

#include "sandbox/sandbox.h"

/* Environment entries a command gets on top of the defaults; the API bounds
 * the request size, this bounds the array built from it. */
#define KN_EXEC_MAX_ENV 512
/* Room kept for the defaults, the proxy and the trust entries (9 + 13 + 6
 * today) and the terminating NULL. */
#define KN_EXEC_ENV_RESERVED 40
#define KN_EXEC_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The classic terminal size, for clients that send none (curl, scripts). */
#define KN_EXEC_DEFAULT_ROWS 24
#define KN_EXEC_DEFAULT_COLS 80

const char *kn_exec_workdir(const struct kn_sandbox_spec *spec, const struct kn_exec_spec *ex);
void kn_exec_env(const struct kn_sandbox_spec *spec, const struct kn_exec_spec *ex,
		 char *env[KN_EXEC_MAX_ENV]);
int kn_exec_landlock_ruleset(const struct kn_sandbox_spec *spec, int *fd, kn_error *err);

#endif
