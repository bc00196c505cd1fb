/* store.h — sandbox records and their files in the state dir.
 *
 * Contract: the state dir holds sandboxes/<name>/ per sandbox with config.json
 * (what the user asked for; written once at create), runtime.json (the
 * running init's pid and start time; present only while it runs) and the
 * sandbox's kennel CA, ca.crt and ca.key (ca.h); sandboxes/.next (the next
 * sandbox's folder, made ahead: ahead.h; skipped by kn_store_load); base/ (the shared root
 * skeleton) and trash/ (sandboxes being removed: a removal renames the folder
 * there first, so a crash mid-removal leaves trash, not a half sandbox).
 * Every write is atomic (fsutil). A folder without config.json is an
 * unfinished create and is removed at start-up. Records live in a linked list
 * owned by the store. Pure name/JSON helpers are exposed for unit tests. */
#ifndef KENNEL_STORE_H
#define KENNEL_STORE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "daemon/ahead.h"
#include "daemon/ca.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox.h"

#define KN_NAME_MAX 63
#define KN_AGENT_MAX 31
/* First host uid handed to a sandbox: far above any real account (and above
 * the usual /etc/subuid ranges), leaving room for ~61000 sandboxes of 65536 ids
 * below 2^32. */
#define KN_UID_BASE_START 0x10000000u

struct kn_sandbox {
	char name[KN_NAME_MAX + 1];
	char agent[KN_AGENT_MAX + 1];
	char created[32];
	char image[PATH_MAX]; /* empty: host base */
	char dir[PATH_MAX];
	struct kn_limits limits;
	uint32_t uid_base;
	size_t n_workspaces;
	struct kn_workspace workspaces[KN_MAX_WORKSPACES];
	int vm;                    /* isolation "vm" (sandbox/vm.h), else "ns" */
	int has_ca;                /* ca.crt + ca.key in dir (ca.h) */
	struct kn_ca_info ca;      /* what they are: inspect, the trust store */
	/* runtime */
	pid_t init_pid;            /* 0 when stopped */
	unsigned long long init_start; /* /proc/<pid>/stat start time: pid identity */
	int init_pidfd;
	int init_is_child;         /* started by this daemon (else adopted) */
	int proxy_pending;         /* started, not yet handed to kennel-proxy (manager.h) */
	char vm_token[KN_VM_TOKEN_LEN + 1]; /* vm: the running guest's exec token */
	struct kn_cgroup cg;
	json_t *policy;            /* canonical network policy (policy_json.h), owned */
	struct kn_sandbox *next;
};

struct kn_proxy_sup;

struct kn_store {
	char state_dir[PATH_MAX];
	char base_dir[PATH_MAX];
	struct kn_sandbox *list;
	char socket_path[PATH_MAX];   /* the API socket: no workspace may contain it */
	json_t *default_policy;       /* for new sandboxes; canonical, owned */
	json_t *secrets;              /* secrets.h: the stored list, values included; owned */
	struct kn_proxy_sup *proxy;   /* NULL in unit tests: no proxy to tell */
	char vm_assets[PATH_MAX];     /* guest kernel and initramfs (sandbox/vm.h) */
	int default_vm;               /* isolation of a create that names none */
	struct kn_spare spare;        /* the next start's namespaces (spare.h), or none */
	int spare_failed;             /* the last attempt to make them failed */
	struct kn_ahead ahead;        /* the next sandbox's folder (ahead.h) */
};

int kn_name_valid(const char *name, const char **reason);
void kn_sandbox_free(struct kn_sandbox *sb);
/* Validate a policy and return its canonical JSON (new reference), or NULL with
 * err naming the bad entry (errnum EINVAL). */
json_t *kn_policy_canonical(json_t *policy, kn_error *err);
/* Load state/default-policy.json (or the built-in default) into st. */
int kn_store_load_default_policy(struct kn_store *st, kn_error *err);
int kn_store_save_default_policy(struct kn_store *st, json_t *policy, kn_error *err);
/* proxy-config.json in the sandbox folder: the policy in force, for people. */
int kn_store_write_proxy_config(const struct kn_sandbox *sb, kn_error *err);
/* "<agent>-<basename>" sanitised to a valid name (without uniqueness). */
void kn_name_default(const char *agent, const char *workspace, char *out, size_t outsz);

int kn_store_open(struct kn_store *st, const char *state_dir, kn_error *err);
struct kn_sandbox *kn_store_find(struct kn_store *st, const char *name);
uint32_t kn_store_free_uid_base(const struct kn_store *st);
void kn_store_spec(const struct kn_store *st, const struct kn_sandbox *sb, struct kn_sandbox_spec *spec);

json_t *kn_sandbox_config_json(const struct kn_sandbox *sb);
/* `sb` must be zeroed or hold a previous load (its policy is replaced). */
int kn_sandbox_from_config_json(json_t *j, struct kn_sandbox *sb, kn_error *err);
int kn_store_save_config(const struct kn_sandbox *sb, kn_error *err);
int kn_store_save_runtime(const struct kn_sandbox *sb, kn_error *err);
int kn_store_clear_runtime(const struct kn_sandbox *sb, kn_error *err);
/* Loads every sandbox; removes unfinished creates and emptied trash. */
int kn_store_load(struct kn_store *st, kn_error *err);
/* Reads runtime.json: 1 with pid/start filled (and, for a vm sandbox, its
 * vm_token), 0 when absent. runtime.json holds the token: the state dir is
 * root's alone, and a restarted daemon needs it to reach the running guest. */
int kn_store_read_runtime(struct kn_sandbox *sb, pid_t *pid, unsigned long long *start);
void kn_store_add(struct kn_store *st, struct kn_sandbox *sb);
void kn_store_unlink(struct kn_store *st, struct kn_sandbox *sb);
/* Move the sandbox folder to trash and delete it. */
int kn_store_remove_files(const struct kn_store *st, const struct kn_sandbox *sb, kn_error *err);

/* Start time of a process (field 22 of /proc/pid/stat), 0 if gone. */
unsigned long long kn_proc_start_time(pid_t pid);

#endif
