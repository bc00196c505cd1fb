/* rlimits.h — resource limits the ns sandbox sets on an agent's process.
 *
 * Contract: kn_rlimits_apply() sets, on the calling process (and so on
 * everything it execs and forks):
 *   - RLIMIT_CORE 0, soft and hard: no core files, and the sandbox cannot
 *     raise it again;
 *   - RLIMIT_NOFILE soft and hard KN_RLIMIT_NOFILE, or the current hard
 *     limit if that is lower (an unprivileged caller cannot raise it; this
 *     is logged).
 * Nothing else: process counts and memory belong to the cgroup (RLIMIT_NPROC
 * counts per host uid, RLIMIT_AS breaks AddressSanitizer and JIT runtimes
 * that reserve large address ranges). Returns 0, or -1 with `err` set. */
#ifndef KENNEL_SANDBOX_RLIMITS_H
#define KENNEL_SANDBOX_RLIMITS_H

#include "common/error.h"

/* Room for language servers, file watchers and test runners that keep many
 * files open (Docker's default is 1048576, systemd's hard default 524288),
 * while an fd leak still ends in EMFILE long before it costs the host much
 * kernel memory. */
#define KN_RLIMIT_NOFILE 65536

int kn_rlimits_apply(kn_error *err);

#endif
