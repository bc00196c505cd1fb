#define _GNU_SOURCE
#include "daemon/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/policy_json.h"
#include "sandbox/idmap.h"
#include "sandbox/vm.h"

/* Docker Sandboxes' default: allow, with the private ranges blocked (the
 * policy engine's built-in block list). */
#define KN_BUILTIN_DEFAULT_POLICY "{\"default\": \"allow\"}"

/* config.json is a few hundred bytes; anything bigger was not written by us. */
#define KN_CONFIG_MAX (256 * 1024)

int kn_name_valid(const char *name, const char **reason)
{
	size_t len = strlen(name);
	if (len == 0) {
		*reason = "name is empty";
		return 0;
	}
	if (len > KN_NAME_MAX) {
		*reason = "name is longer than 63 characters";
		return 0;
	}
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		*reason = "name cannot be . or ..";
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (i == 0 && !alnum) {
			*reason = "name must start with a letter or digit";
			return 0;
		}
		if (!alnum && c != '-' && c != '_' && c != '.') {
			*reason = "name may contain only letters, digits, '-', '_' and '.'";
			return 0;
		}
	}
	return 1;
}

void kn_name_default(const char *agent, const char *workspace, char *out, size_t outsz)
{
	const char *base = strrchr(workspace, '/');
	base = base ? base + 1 : workspace;
	if (!*base)
		base = "root";
	char buf[KN_NAME_MAX + 1];
	snprintf(buf, sizeof(buf), "%s-%s", agent, base);
	for (char *c = buf; *c; c++) {
		int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			 (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.';
		if (!ok)
			*c = '-';
	}
	snprintf(out, outsz, "%s", buf);
}

void kn_sandbox_free(struct kn_sandbox *sb)
{
	if (!sb)
		return;
	json_decref(sb->policy);
	free(sb);
}

json_t *kn_policy_canonical(json_t *policy, kn_error *err)
{
	struct kn_policy p;
	if (!json_is_object(policy)) {
		kn_fail(err, "policy must be a JSON object");
		err->errnum = EINVAL;
		return NULL;
	}
	if (kn_policy_from_json(policy, &p, err) < 0) {
		if (err)
			err->errnum = EINVAL;
		return NULL;
	}
	json_t *canon = kn_policy_to_json(&p);
	kn_policy_free(&p);
	if (!canon)
		kn_fail(err, "out of memory");
	return canon;
}

int kn_store_load_default_policy(struct kn_store *st, kn_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/default-policy.json", st->state_dir);
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!j && access(path, F_OK) == 0)
		return kn_fail(err, "%s: %s", path, je.text);
	if (!j)
		j = json_loads(KN_BUILTIN_DEFAULT_POLICY, 0, NULL);
	json_t *canon = kn_policy_canonical(j, err);
	json_decref(j);
	if (!canon)
		return kn_fail_prefix(err, "%s", path);
	json_decref(st->default_policy);
	st->default_policy = canon;
	return 0;
}

static int save_json(const char *dir, const char *file, json_t *j, kn_error *err);
static int save_json_how(const char *dir, const char *file, json_t *j, int durable, kn_error *err);

int kn_store_save_default_policy(struct kn_store *st, json_t *policy, kn_error *err)
{
	json_incref(policy);
	if (save_json(st->state_dir, "default-policy.json", policy, err) < 0)
		return -1;
	json_incref(policy);
	json_decref(st->default_policy);
	st->default_policy = policy;
	return 0;
}

int kn_store_write_proxy_config(const struct kn_sandbox *sb, kn_error *err)
{
	/* A view of config.json's policy, rewritten at every start: no fsync. */
	json_incref(sb->policy);
	return save_json_how(sb->dir, "proxy-config.json", sb->policy, 0, err);
}

int kn_store_open(struct kn_store *st, const char *state_dir, kn_error *err)
{
	memset(st, 0, sizeof(*st));
	st->spare = KN_SPARE_NONE;
	snprintf(st->state_dir, sizeof(st->state_dir), "%s", state_dir);
	snprintf(st->base_dir, sizeof(st->base_dir), "%s/base", state_dir);
	char p[PATH_MAX];
	if (kn_mkdir_p(state_dir, 0711, err) < 0)
		return -1;
	/* Root only: sandbox layers hold files of every sandbox's uids. */
	if (chmod(state_dir, 0711) < 0)
		return kn_fail_errno(err, "chmod %s", state_dir);
	snprintf(p, sizeof(p), "%s/sandboxes", state_dir);
	if (kn_mkdir_p(p, 0700, err) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/trash", state_dir);
	return kn_mkdir_p(p, 0700, err);
}

struct kn_sandbox *kn_store_find(struct kn_store *st, const char *name)
{
	for (struct kn_sandbox *s = st->list; s; s = s->next)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

uint32_t kn_store_free_uid_base(const struct kn_store *st)
{
	for (uint32_t slot = 0;; slot++) {
		uint32_t base = KN_UID_BASE_START + slot * KN_IDMAP_RANGE;
		int used = 0;
		for (struct kn_sandbox *s = st->list; s && !used; s = s->next)
			used = s->uid_base == base;
		if (!used)
			return base;
	}
}

void kn_store_spec(const struct kn_store *st, const struct kn_sandbox *sb, struct kn_sandbox_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->name = sb->name;
	spec->dir = sb->dir;
	spec->base_dir = st->base_dir;
	spec->image = sb->image[0] ? sb->image : NULL;
	spec->uid_base = sb->uid_base;
	spec->has_ca = sb->has_ca;
	spec->n_workspaces = sb->n_workspaces;
	memcpy(spec->workspaces, sb->workspaces, sizeof(sb->workspaces[0]) * sb->n_workspaces);
	if (sb->vm) {
		spec->vm.enabled = 1;
		spec->vm.assets = st->vm_assets;
		spec->vm.vcpus = kn_vm_vcpus(sb->limits.cpus);
		spec->vm.ram_mib = kn_vm_ram_mib(sb->limits.memory_bytes);
		spec->vm.kvm = kn_vm_kvm_usable();
		spec->vm.tsc_khz = spec->vm.kvm ? 0 : kn_vm_host_tsc_khz();
		memcpy(spec->vm.token, sb->vm_token, sizeof(spec->vm.token));
	}
}

json_t *kn_sandbox_config_json(const struct kn_sandbox *sb)
{
	json_t *ws = json_array();
	for (size_t i = 0; i < sb->n_workspaces; i++)
		json_array_append_new(ws, json_pack("{s:s,s:b}", "path", sb->workspaces[i].path,
						    "readonly", sb->workspaces[i].readonly));
	json_t *limits = json_object();
	json_object_set_new(limits, "cpus", sb->limits.cpus > 0 ? json_real(sb->limits.cpus) : json_null());
	json_object_set_new(limits, "memory", sb->limits.memory_bytes ? json_integer((json_int_t)sb->limits.memory_bytes) : json_null());
	json_object_set_new(limits, "pids", sb->limits.pids ? json_integer((json_int_t)sb->limits.pids) : json_null());
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:O}", "name", sb->name, "agent",
			 sb->agent, "isolation", sb->vm ? "vm" : "ns", "created", sb->created, "workspaces", ws, "image",
			 sb->image[0] ? json_string(sb->image) : json_null(), "limits", limits,
			 "uid_base", (json_int_t)sb->uid_base, "policy",
			 sb->policy ? sb->policy : json_null());
}

int kn_sandbox_from_config_json(json_t *j, struct kn_sandbox *sb, kn_error *err)
{
	const char *name = NULL, *agent = NULL, *created = NULL, *reason, *isolation = "ns";
	json_t *ws = NULL, *image = NULL, *limits = NULL, *policy = NULL;
	json_int_t uid_base = 0;
	json_error_t je;
	if (json_unpack_ex(j, &je, 0, "{s:s,s:s,s:s,s:o,s?o,s?o,s:I,s?o,s?s}", "name", &name, "agent",
			   &agent, "created", &created, "workspaces", &ws, "image", &image, "limits",
			   &limits, "uid_base", &uid_base, "policy", &policy, "isolation", &isolation) < 0)
		return kn_fail(err, "config: %s", je.text);
	if (strcmp(isolation, "ns") && strcmp(isolation, "vm"))
		return kn_fail(err, "config: unknown isolation %s", isolation);
	if (!kn_name_valid(name, &reason))
		return kn_fail(err, "config: %s", reason);
	if (!json_is_array(ws) || json_array_size(ws) > KN_MAX_WORKSPACES)
		return kn_fail(err, "config: bad workspaces");
	if (uid_base < KN_UID_BASE_START || uid_base > (json_int_t)(0xffffffffu - KN_IDMAP_RANGE))
		return kn_fail(err, "config: uid_base out of range");
	json_t *canon = NULL;
	if (policy && !json_is_null(policy) && !(canon = kn_policy_canonical(policy, err)))
		return kn_fail_prefix(err, "config policy");
	snprintf(sb->name, sizeof(sb->name), "%s", name);
	snprintf(sb->agent, sizeof(sb->agent), "%s", agent);
	sb->vm = !strcmp(isolation, "vm");
	snprintf(sb->created, sizeof(sb->created), "%s", created);
	snprintf(sb->image, sizeof(sb->image), "%s", json_is_string(image) ? json_string_value(image) : "");
	sb->uid_base = (uint32_t)uid_base;
	json_decref(sb->policy);
	sb->policy = canon; /* NULL: the loader gives it the default */
	sb->n_workspaces = 0;
	size_t i;
	json_t *w;
	json_array_foreach(ws, i, w) {
		const char *path;
		int ro = 0;
		if (json_unpack(w, "{s:s,s?b}", "path", &path, "readonly", &ro) < 0 || path[0] != '/')
			return kn_fail(err, "config: bad workspace entry");
		snprintf(sb->workspaces[i].path, sizeof(sb->workspaces[i].path), "%s", path);
		sb->workspaces[i].readonly = ro;
		sb->n_workspaces++;
	}
	memset(&sb->limits, 0, sizeof(sb->limits));
	if (json_is_object(limits)) {
		json_t *v;
		if ((v = json_object_get(limits, "cpus")) && json_is_number(v))
			sb->limits.cpus = json_number_value(v);
		if ((v = json_object_get(limits, "memory")) && json_is_integer(v))
			sb->limits.memory_bytes = (uint64_t)json_integer_value(v);
		if ((v = json_object_get(limits, "pids")) && json_is_integer(v))
			sb->limits.pids = (uint64_t)json_integer_value(v);
	}
	return 0;
}

static int save_json_how(const char *dir, const char *file, json_t *j, int durable, kn_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (!text)
		return kn_fail(err, "encode %s", path);
	size_t len = strlen(text);
	text[len] = '\n';
	return durable ? kn_write_atomic(path, text, len + 1, 0600, err)
		       : kn_write_replace(path, text, len + 1, 0600, err);
}

static int save_json(const char *dir, const char *file, json_t *j, kn_error *err)
{
	return save_json_how(dir, file, j, 1, err);
}

int kn_store_save_config(const struct kn_sandbox *sb, kn_error *err)
{
	return save_json(sb->dir, "config.json", kn_sandbox_config_json(sb), err);
}

int kn_store_save_runtime(const struct kn_sandbox *sb, kn_error *err)
{
	/* After a power loss no init runs anyway: no fsync needed. */
	json_t *j = json_pack("{s:i,s:I}", "pid", (int)sb->init_pid, "start_time", (json_int_t)sb->init_start);
	if (j && sb->vm)
		json_object_set_new(j, "vm_token", json_string(sb->vm_token));
	return save_json_how(sb->dir, "runtime.json", j, 0, err);
}

int kn_store_clear_runtime(const struct kn_sandbox *sb, kn_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/runtime.json", sb->dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return kn_fail_errno(err, "unlink %s", path);
	return 0;
}

int kn_store_read_runtime(struct kn_sandbox *sb, pid_t *pid, unsigned long long *start)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/runtime.json", sb->dir);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return 0;
	int p = 0;
	json_int_t s = 0;
	const char *token = "";
	int ok = json_unpack(j, "{s:i,s:I,s?s}", "pid", &p, "start_time", &s, "vm_token", &token) == 0 &&
		 p > 1 && (!sb->vm || strlen(token) == KN_VM_TOKEN_LEN);
	if (ok && sb->vm)
		memcpy(sb->vm_token, token, KN_VM_TOKEN_LEN + 1);
	json_decref(j);
	if (!ok)
		return 0;
	*pid = p;
	*start = (unsigned long long)s;
	return 1;
}

unsigned long long kn_proc_start_time(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may contain spaces and parens: count from the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	int field = 2;
	for (char *save = NULL, *t = strtok_r(p + 1, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (++field == 22)
			return strtoull(t, NULL, 10);
	}
	return 0;
}

void kn_store_add(struct kn_store *st, struct kn_sandbox *sb)
{
	struct kn_sandbox **p = &st->list;
	/* Keep the list sorted by name: ls output is stable. */
	while (*p && strcmp((*p)->name, sb->name) < 0)
		p = &(*p)->next;
	sb->next = *p;
	*p = sb;
}

void kn_store_unlink(struct kn_store *st, struct kn_sandbox *sb)
{
	for (struct kn_sandbox **p = &st->list; *p; p = &(*p)->next)
		if (*p == sb) {
			*p = sb->next;
			return;
		}
}

static void empty_trash(const struct kn_store *st)
{
	char trash[PATH_MAX];
	snprintf(trash, sizeof(trash), "%s/trash", st->state_dir);
	DIR *d = opendir(trash);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[PATH_MAX];
		kn_error err;
		snprintf(p, sizeof(p), "%s/%s", trash, de->d_name);
		if (kn_rm_rf(p, &err) < 0)
			log_warn("cannot empty trash: %s", err.msg);
	}
	closedir(d);
}

int kn_store_remove_files(const struct kn_store *st, const struct kn_sandbox *sb, kn_error *err)
{
	char to[PATH_MAX];
	snprintf(to, sizeof(to), "%s/trash/%s.%d", st->state_dir, sb->name, (int)getpid());
	if (rename(sb->dir, to) < 0 && errno != ENOENT)
		return kn_fail_errno(err, "rename %s to %s", sb->dir, to);
	return kn_rm_rf(to, err);
}

int kn_store_load(struct kn_store *st, kn_error *err)
{
	char dir[PATH_MAX];
	empty_trash(st);
	snprintf(dir, sizeof(dir), "%s/sandboxes", st->state_dir);
	DIR *d = opendir(dir);
	if (!d)
		return kn_fail_errno(err, "opendir %s", dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *reason;
		if (de->d_name[0] == '.')
			continue;
		char sdir[PATH_MAX], cfg[PATH_MAX];
		snprintf(sdir, sizeof(sdir), "%s/%s", dir, de->d_name);
		if (!kn_name_valid(de->d_name, &reason)) {
			log_warn("ignoring %s in the state dir: %s", sdir, reason);
			continue;
		}
		snprintf(cfg, sizeof(cfg), "%s/config.json", sdir);
		json_error_t je;
		json_t *j = json_load_file(cfg, 0, &je);
		if (!j) {
			kn_error e2;
			log_warn("removing unfinished sandbox %s (no readable config.json: %s)", de->d_name, je.text);
			struct kn_sandbox tmp = {0};
			snprintf(tmp.name, sizeof(tmp.name), "%s", de->d_name);
			snprintf(tmp.dir, sizeof(tmp.dir), "%s", sdir);
			if (kn_store_remove_files(st, &tmp, &e2) < 0)
				log_warn("%s", e2.msg);
			continue;
		}
		struct kn_sandbox *sb = calloc(1, sizeof(*sb));
		if (!sb) {
			json_decref(j);
			closedir(d);
			return kn_fail(err, "out of memory");
		}
		kn_error e = {0};
		if (kn_sandbox_from_config_json(j, sb, &e) == 0 && strcmp(sb->name, de->d_name))
			kn_fail(&e, "its name is %s", sb->name);
		if (e.msg[0]) {
			log_error("sandbox %s: unreadable %s: %s; leaving it alone", de->d_name, cfg,
				  e.msg);
			kn_sandbox_free(sb);
			json_decref(j);
			continue;
		}
		json_decref(j);
		if (!sb->policy)
			sb->policy = json_incref(st->default_policy);
		snprintf(sb->dir, sizeof(sb->dir), "%s", sdir);
		sb->has_ca = kn_ca_present(sdir, &sb->ca);
		sb->init_pidfd = -1;
		kn_store_add(st, sb);
	}
	closedir(d);
	return 0;
}
