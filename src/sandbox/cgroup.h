/* cgroup.h — the cgroups that hold each sandbox's processes: limits, kill, cleanup.
 *
 * Contract: a sandbox named N gets a cgroup `<own>/<root>/N` in every hierarchy kennel
 * uses, where <own> is the cgroup the calling process (kenneld) is in, per hierarchy, as
 * /proc/self/cgroup says, and <root> is "kennel" unless kn_cgroup_set_root_name() chose
 * another (tests do, so they never touch a real daemon's cgroups). Hierarchies are found
 * by parsing /proc/self/mountinfo, never by assuming /sys/fs/cgroup/<controller>; what
 * was found is kept while the caller's mount table and /proc/self/cgroup stay the same.
 *
 * Which hierarchies: the unified (v2) one whenever it is mounted, for process tracking
 * (cgroup.kill, cgroup.freeze, cgroup.events) and for each of the memory, pids and cpu
 * controllers that kenneld's own v2 cgroup offers (its cgroup.controllers); a v1
 * hierarchy for each of those controllers the unified one does not offer, and the v1
 * freezer when it is mounted. A limit whose controller is in neither is an error.
 *
 * On v2 a controller is enabled (cgroup.subtree_control) in <own> and in <own>/<root>
 * only for the limits a create asks for. cgroup v2 refuses to enable the memory
 * controller for the children of a non-root cgroup that has processes of its own (the
 * no-internal-process rule; pids and cpu are exempt), and kenneld is one of them. So on
 * v2, <own> is the parent of kenneld's cgroup when that is named KN_CGROUP_DAEMON_LEAF,
 * and kn_cgroup_init_daemon (called once at startup, before kenneld starts any other
 * process) moves kenneld into <own>/KN_CGROUP_DAEMON_LEAF when it is alone in a
 * non-root <own>; systemd's DelegateSubgroup=kenneld does the same. When <own> holds
 * other processes, init_daemon warns and a create that needs memory fails saying why.
 *
 * Limits: memory_bytes sets memory.limit_in_bytes and memory.memsw.limit_in_bytes to
 * the same value on v1 (RAM plus swap, so swap cannot extend the limit), memory.max and
 * memory.swap.max = 0 on v2 (where swap is counted apart); cpus sets a CFS quota of
 * cpus * 100 ms per 100 ms period; pids sets pids.max. 0 means no limit, and create
 * writes "no limit" explicitly so that reusing an existing cgroup resets it.
 *
 * kn_cgroup_kill SIGKILLs every process in the cgroup and its descendants and waits
 * until it is empty: with v2 cgroup.kill when the kernel has it (5.14+), otherwise by
 * rounds of freeze (v2 cgroup.freeze, else v1 freezer), SIGKILL each listed process,
 * thaw, wait; a fork bomb cannot outrun it because frozen processes cannot fork. Each
 * listed pid is pinned with pidfd_open and checked in /proc/<pid>/cgroup before it is
 * signalled, so a recycled pid outside the sandbox is never hit. Without any freezer
 * the rounds run unfrozen and the pids limit is what bounds a fork bomb.
 *
 * All functions return 0 / -1 with `err` set (kn_cgroup_is_populated: 1 / 0 / -1);
 * kn_cgroup_open fails with err->errnum == ENOENT when the sandbox has no cgroup. The
 * setters are not thread-safe: call them before anything else. A child about to become
 * a sandbox calls kn_cgroup_enter_self before it unshares its cgroup namespace, so that
 * the namespace's root is the sandbox's cgroup.
 *
 * Entering is cheap only from inside: a pid written to cgroup.procs takes the kernel's
 * global threadgroup lock, whose RCU grace period costs 10-30 ms on an idle machine,
 * while a single-threaded process writing "0" to a v1 `tasks` file moves itself without
 * it. v2 has no such file, so the fast way into the unified cgroup is to be born there:
 * clone3 with CLONE_INTO_CGROUP (kn_cgroup_clone), after which the child calls
 * kn_cgroup_enter_self(cg, KN_CGROUP_CLONED_INTO_UNIFIED, ...) for the v1 hierarchies. */
#ifndef KENNEL_SANDBOX_CGROUP_H
#define KENNEL_SANDBOX_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/* Sandbox names are at most 63 characters (docs/api.md: they are also hostnames). */
#define KN_CGROUP_NAME_MAX 63
/* Own cgroup paths are systemd slice/unit names, well under 300 bytes in practice;
 * 1 KiB leaves room and keeps struct kn_cgroup small enough to embed by value. */
#define KN_CGROUP_PATH_MAX 1024
/* The unified hierarchy plus v1 memory, pids, cpu and freezer. */
#define KN_CGROUP_MAX_DIRS 5
/* kenneld's own v2 leaf; its parent is <own> (see above). */
#define KN_CGROUP_DAEMON_LEAF "kenneld"

struct kn_limits {
	double cpus;           /* CPUs' worth of time, e.g. 1.5; 0 = no limit */
	uint64_t memory_bytes; /* 0 = no limit */
	uint64_t pids;         /* processes and threads; 0 = no limit */
};

/* Controllers, as bits of a mask. */
enum {
	KN_CGROUP_MEMORY = 1u << 0,
	KN_CGROUP_PIDS = 1u << 1,
	KN_CGROUP_CPU = 1u << 2,
	KN_CGROUP_FREEZER = 1u << 3, /* v1 freezer only; v2 freezes without a controller */
};

struct kn_cgroup_dir {
	int version;                        /* 1 or 2 */
	int hierarchy_id;                   /* first field of /proc/<pid>/cgroup; 0 on v2 */
	unsigned controllers;               /* KN_CGROUP_* limited through this directory */
	char path[KN_CGROUP_PATH_MAX];      /* absolute path of the sandbox's cgroup */
	char proc_path[KN_CGROUP_PATH_MAX]; /* the same cgroup as /proc/<pid>/cgroup names it */
};

struct kn_cgroup {
	char name[KN_CGROUP_NAME_MAX + 1];
	size_t ndirs;
	struct kn_cgroup_dir dirs[KN_CGROUP_MAX_DIRS];
};

struct kn_cgroup_stats {
	unsigned controllers;   /* which of the fields below were read (KN_CGROUP_*) */
	struct kn_limits limits; /* as the kernel has them; 0 = no limit */
	uint64_t memory_current; /* bytes charged now (v1 usage_in_bytes, v2 memory.current) */
	uint64_t pids_current;   /* tasks now */
};

/* Move kenneld out of the way of cgroup v2's no-internal-process rule (see above).
 * Does nothing without v2, in the root cgroup, or when already done. */
int kn_cgroup_init_daemon(kn_error *err);

/* Use `name` (one path component) instead of "kennel" for the parent directory. */
int kn_cgroup_set_root_name(const char *name, kn_error *err);

/* Options: ignore the unified hierarchy altogether (as on a v1-only host), or ignore
 * cgroup.kill (as on kernels before 5.14). Tests use them to run every kill strategy
 * on one machine; a daemon has no reason to. */
enum {
	KN_CGROUP_IGNORE_UNIFIED = 1u << 0,
	KN_CGROUP_IGNORE_CGROUP_KILL = 1u << 1,
};
void kn_cgroup_set_options(unsigned options);

int kn_cgroup_create(const char *name, const struct kn_limits *lim, struct kn_cgroup *cg,
		     kn_error *err);
int kn_cgroup_open(const char *name, struct kn_cgroup *cg, kn_error *err);
/* Flags of kn_cgroup_enter_self. */
enum {
	KN_CGROUP_CLONED_INTO_UNIFIED = 1u << 0, /* skip the v2 directory: already in it */
};
/* Moves the calling process, which must be single-threaded, into every directory. */
int kn_cgroup_enter_self(const struct kn_cgroup *cg, unsigned flags, kn_error *err);
/* fork(2) as clone3 with `flags` (e.g. namespaces) and CLONE_PIDFD, born into the v2
 * cgroup when there is one; returns the child's pid and its pidfd in the parent, 0 in
 * the child, which next calls kn_cgroup_enter_self(cg, KN_CGROUP_CLONED_INTO_UNIFIED). */
pid_t kn_cgroup_clone(const struct kn_cgroup *cg, uint64_t flags, int *pidfd, kn_error *err);
int kn_cgroup_is_populated(const struct kn_cgroup *cg, kn_error *err);
int kn_cgroup_kill(const struct kn_cgroup *cg, kn_error *err);
/* Kill, then remove the cgroup (and any sub-cgroups) in every hierarchy. Removing one
 * that is already gone is not an error. */
int kn_cgroup_destroy(const struct kn_cgroup *cg, kn_error *err);
int kn_cgroup_read_stats(const struct kn_cgroup *cg, struct kn_cgroup_stats *st, kn_error *err);

/* Names of the sandbox cgroups under <own>/<root> in any hierarchy, sorted, each once;
 * free with kn_cgroup_list_free. Directories whose name is not a sandbox name are
 * skipped with a warning. */
int kn_cgroup_list(char ***names, size_t *n, kn_error *err);
void kn_cgroup_list_free(char **names, size_t n);
/* Remove <own>/<root> itself from every hierarchy; fails (EBUSY) while it still holds
 * a sandbox cgroup. Absent is fine. */
int kn_cgroup_remove_root(kn_error *err);

#endif
