/* Unit tests of the daemon's state store: names, config JSON, runtime files,
 * loading a state dir with leftovers, atomic writes. Real files in a temp dir. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "daemon/store.h"
#include "test.h"

static char tmpdir[] = "/tmp/kennel-test-store.XXXXXX";

static void test_name_validation(void)
{
	static const struct {
		const char *name;
		int ok;
	} cases[] = {
		{"a", 1}, {"shell-proj", 1}, {"A_b.c-1", 1}, {"9lives", 1},
		{"", 0}, {".", 0}, {"..", 0}, {"-x", 0}, {".hidden", 0}, {"_x", 0},
		{"a/b", 0}, {"../etc", 0}, {"a b", 0}, {"a\nb", 0}, {"caf\xc3\xa9", 0},
		{"x%2e", 0}, {"a:b", 0},
		{"123456789012345678901234567890123456789012345678901234567890123", 1},
		{"1234567890123456789012345678901234567890123456789012345678901234", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *reason = NULL;
		int ok = kn_name_valid(cases[i].name, &reason);
		if (ok != cases[i].ok)
			printf("  name '%s': got %d want %d\n", cases[i].name, ok, cases[i].ok);
		CHECK(ok == cases[i].ok);
		CHECK(ok || reason != NULL);
	}
}

static void test_default_names(void)
{
	char out[KN_NAME_MAX + 1];
	kn_name_default("shell", "/home/u/my proj", out, sizeof(out));
	CHECK_STR_EQ(out, "shell-my-proj");
	kn_name_default("shell", "/", out, sizeof(out));
	CHECK_STR_EQ(out, "shell-root");
	kn_name_default("shell", "/x/caf\xc3\xa9", out, sizeof(out));
	CHECK_STR_EQ(out, "shell-caf--");
	char longpath[300] = "/";
	memset(longpath + 1, 'a', 200);
	longpath[201] = '\0';
	kn_name_default("shell", longpath, out, sizeof(out));
	const char *reason;
	CHECK(strlen(out) == KN_NAME_MAX);
	CHECK(kn_name_valid(out, &reason));
}

static struct kn_sandbox sample(void)
{
	struct kn_sandbox sb;
	memset(&sb, 0, sizeof(sb));
	snprintf(sb.name, sizeof(sb.name), "shell-proj");
	snprintf(sb.agent, sizeof(sb.agent), "shell");
	snprintf(sb.created, sizeof(sb.created), "2026-11-23T07:40:00Z");
	sb.uid_base = KN_UID_BASE_START + 3 * 65536;
	sb.n_workspaces = 2;
	snprintf(sb.workspaces[0].path, sizeof(sb.workspaces[0].path), "/home/u/proj");
	snprintf(sb.workspaces[1].path, sizeof(sb.workspaces[1].path), "/srv/ref");
	sb.workspaces[1].readonly = 1;
	sb.limits.cpus = 1.5;
	sb.limits.memory_bytes = 1u << 30;
	sb.limits.pids = 512;
	return sb;
}

static void test_config_roundtrip(void)
{
	struct kn_sandbox a = sample(), b;
	memset(&b, 0, sizeof(b));
	a.policy = json_pack("{s:s}", "default", "deny");
	json_t *j = kn_sandbox_config_json(&a);
	kn_error err = {0};
	CHECK(kn_sandbox_from_config_json(j, &b, &err) == 0);
	json_decref(j);
	CHECK_STR_EQ(b.name, a.name);
	CHECK_STR_EQ(b.agent, a.agent);
	CHECK_STR_EQ(b.created, a.created);
	CHECK(b.uid_base == a.uid_base);
	CHECK(b.n_workspaces == 2);
	CHECK_STR_EQ(b.workspaces[1].path, "/srv/ref");
	CHECK(b.workspaces[1].readonly && !b.workspaces[0].readonly);
	CHECK(b.limits.cpus == 1.5 && b.limits.memory_bytes == (1u << 30) && b.limits.pids == 512);
	CHECK(b.image[0] == '\0');
	CHECK(b.policy && !strcmp(json_string_value(json_object_get(b.policy, "default")), "deny"));
	json_decref(a.policy);
	json_decref(b.policy);
}

static void test_config_refusals(void)
{
	static const char *const bad[] = {
		"{}",
		"{\"name\":\"../x\",\"agent\":\"shell\",\"created\":\"t\",\"workspaces\":[],\"uid_base\":268435456}",
		"{\"name\":\"x\",\"agent\":\"shell\",\"created\":\"t\",\"workspaces\":[],\"uid_base\":0}",
		"{\"name\":\"x\",\"agent\":\"shell\",\"created\":\"t\",\"workspaces\":[{\"path\":\"rel\"}],\"uid_base\":268435456}",
		"{\"name\":\"x\",\"agent\":\"shell\",\"created\":\"t\",\"workspaces\":\"no\",\"uid_base\":268435456}",
		"{\"name\":\"x\",\"agent\":\"shell\",\"created\":\"t\",\"workspaces\":[],\"uid_base\":4294967295}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		struct kn_sandbox sb = {0};
		kn_error err = {0};
		CHECK(j != NULL);
		CHECK(kn_sandbox_from_config_json(j, &sb, &err) < 0);
		CHECK(err.msg[0] != '\0');
		json_decref(j);
	}
}

static void test_uid_base_allocation(void)
{
	struct kn_store st;
	memset(&st, 0, sizeof(st));
	struct kn_sandbox a = sample(), b = sample();
	a.uid_base = KN_UID_BASE_START;
	snprintf(b.name, sizeof(b.name), "b");
	b.uid_base = KN_UID_BASE_START + 2 * 65536;
	CHECK(kn_store_free_uid_base(&st) == KN_UID_BASE_START);
	kn_store_add(&st, &a);
	kn_store_add(&st, &b);
	CHECK(kn_store_free_uid_base(&st) == KN_UID_BASE_START + 65536);
	CHECK(kn_store_find(&st, "b") == &b);
	CHECK(st.list == &b); /* sorted by name */
	kn_store_unlink(&st, &b);
	CHECK(kn_store_find(&st, "b") == NULL);
}

static void test_save_and_load(void)
{
	char state[PATH_MAX], p[PATH_MAX];
	kn_error err = {0};
	snprintf(state, sizeof(state), "%s/state", tmpdir);
	struct kn_store st;
	CHECK(kn_store_open(&st, state, &err) == 0);
	struct kn_sandbox a = sample();
	snprintf(a.dir, sizeof(a.dir), "%s/sandboxes/%s", state, a.name);
	CHECK(mkdir(a.dir, 0700) == 0);
	CHECK(kn_store_save_config(&a, &err) == 0);
	a.init_pid = 4242;
	a.init_start = 777;
	CHECK(kn_store_save_runtime(&a, &err) == 0);
	pid_t pid = 0;
	unsigned long long start = 0;
	CHECK(kn_store_read_runtime(&a, &pid, &start) == 1 && pid == 4242 && start == 777);
	/* config.json is root-only */
	struct stat sst;
	snprintf(p, sizeof(p), "%s/config.json", a.dir);
	CHECK(stat(p, &sst) == 0 && (sst.st_mode & 0777) == 0600);
	/* leftovers: an unfinished create, a bad name, a file in trash */
	snprintf(p, sizeof(p), "%s/sandboxes/halfmade", state);
	CHECK(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/trash/old.1", state);
	CHECK(mkdir(p, 0700) == 0);
	struct kn_store st2;
	CHECK(kn_store_open(&st2, state, &err) == 0);
	CHECK(kn_store_load(&st2, &err) == 0);
	struct kn_sandbox *got = kn_store_find(&st2, "shell-proj");
	CHECK(got != NULL);
	CHECK(kn_store_find(&st2, "halfmade") == NULL);
	snprintf(p, sizeof(p), "%s/sandboxes/halfmade", state);
	CHECK(access(p, F_OK) != 0);
	snprintf(p, sizeof(p), "%s/trash/old.1", state);
	CHECK(access(p, F_OK) != 0);
	if (got) {
		CHECK(got->init_pidfd == -1 && got->init_pid == 0);
		CHECK(kn_store_clear_runtime(got, &err) == 0);
		CHECK(kn_store_read_runtime(got, &pid, &start) == 0);
		CHECK(kn_store_remove_files(&st2, got, &err) == 0);
		CHECK(access(got->dir, F_OK) != 0);
		kn_store_unlink(&st2, got);
		kn_sandbox_free(got);
	}
}

static void test_proc_start_time(void)
{
	CHECK(kn_proc_start_time(getpid()) > 0);
	CHECK(kn_proc_start_time(getpid()) == kn_proc_start_time(getpid()));
	CHECK(kn_proc_start_time(0x3fffffff) == 0);
}

static void test_atomic_write(void)
{
	char p[PATH_MAX];
	kn_error err = {0};
	snprintf(p, sizeof(p), "%s/atomic", tmpdir);
	CHECK(kn_write_atomic(p, "one", 3, 0600, &err) == 0);
	CHECK(kn_write_atomic(p, "two!", 4, 0644, &err) == 0);
	char *data = NULL;
	size_t len = 0;
	CHECK(kn_read_file(p, 100, &data, &len, &err) == 0);
	CHECK(len == 4 && data && !strcmp(data, "two!"));
	free(data);
	CHECK(kn_read_file(p, 2, &data, &len, &err) < 0); /* over the limit */
	CHECK(strstr(err.msg, p) != NULL);
	snprintf(p, sizeof(p), "%s/no/such/dir/file", tmpdir);
	CHECK(kn_write_atomic(p, "x", 1, 0600, &err) < 0);
	CHECK(strstr(err.msg, "open") != NULL);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_name_validation);
	RUN(test_default_names);
	RUN(test_config_roundtrip);
	RUN(test_config_refusals);
	RUN(test_uid_base_allocation);
	RUN(test_save_and_load);
	RUN(test_proc_start_time);
	RUN(test_atomic_write);
	kn_error err;
	kn_rm_rf(tmpdir, &err);
	return test_summary();
}
