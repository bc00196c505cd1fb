/* test_home.c — first-run files in a sandbox's home (sandbox/home.h) on a real
 * directory tree laid out as the state dir has it: which paths are accepted,
 * what is written, with which owner and mode, and what is left alone (the
 * sandbox's own file, the base's file), replaced (a whiteout) or never
 * followed (a symlink the sandbox planted). Needs root (chown). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "sandbox/home.h"
#include "sandbox/sandbox.h"
#include "test.h"

#define UID_BASE 0x30000000u

static char top[64];

static void path_table(void)
{
	static const struct {
		const char *path;
		int ok;
	} cases[] = {
		{".claude.json", 1}, {".codex/config.toml", 1}, {"a/b/c/d/e/f/g/h", 1},
		{"a/b/c/d/e/f/g/h/i", 0}, {"", 0}, {"/etc/passwd", 0}, {"../x", 0}, {"a/../b", 0},
		{"./a", 0}, {"a//b", 0}, {"a/", 0}, {"a b", 0}, {"a\nb", 0}, {"é", 0}, {"..a", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (kn_home_path_ok(cases[i].path) != cases[i].ok) {
			printf("  path \"%s\": expected %d\n", cases[i].path, cases[i].ok);
			CHECK(0);
		}
}

static char *slurp(const char *rel)
{
	char p[256];
	char *out = NULL;
	size_t len;
	snprintf(p, sizeof(p), "%s/sb/upper/root/home/agent/%s", top, rel);
	return kn_read_file(p, 4096, &out, &len, NULL) < 0 ? NULL : out;
}

static void mk(const char *rel, mode_t mode)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", top, rel);
	CHECK(mkdir(p, mode) == 0);
}

static void seeding(void)
{
	static const char *const dirs[] = {"sb", "sb/upper", "sb/upper/root", "sb/upper/root/home",
					   "sb/upper/root/home/agent", "base", "base/root",
					   "base/root/home", "base/root/home/agent", "bait"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		mk(dirs[i], 0755);
	char p[256], q[256];
	struct kn_sandbox_spec spec = {.name = "t", .uid_base = UID_BASE};
	char dir[128], base[128];
	snprintf(dir, sizeof(dir), "%s/sb", top);
	snprintf(base, sizeof(base), "%s/base", top);
	spec.dir = dir;
	spec.base_dir = base;

	/* The sandbox's own file, a whiteout, a link to the host, the base's file. */
	snprintf(p, sizeof(p), "%s/sb/upper/root/home/agent/mine", top);
	CHECK(kn_write_replace(p, "own\n", 4, 0644, NULL) == 0);
	snprintf(p, sizeof(p), "%s/sb/upper/root/home/agent/gone", top);
	CHECK(mknod(p, S_IFCHR | 0, makedev(0, 0)) == 0);
	snprintf(p, sizeof(p), "%s/sb/upper/root/home/agent/.dir", top);
	snprintf(q, sizeof(q), "%s/bait", top);
	CHECK(symlink(q, p) == 0);
	snprintf(p, sizeof(p), "%s/base/root/home/agent/from-base", top);
	CHECK(kn_write_replace(p, "base\n", 5, 0644, NULL) == 0);

	const struct kn_home_file files[] = {
		{"new.json", "{}\n", 3}, {"mine", "seeded\n", 7}, {"gone", "back\n", 5},
		{".dir/x/conf", "deep\n", 5}, {"from-base", "seeded\n", 7},
	};
	kn_error err = {0};
	CHECK(kn_ns_seed_home(&spec, files, sizeof(files) / sizeof(files[0]), &err) == 0);
	char *s;
	CHECK((s = slurp("new.json")) && !strcmp(s, "{}\n"));
	free(s);
	CHECK((s = slurp("mine")) && !strcmp(s, "own\n"));
	free(s);
	CHECK((s = slurp("gone")) && !strcmp(s, "back\n"));
	free(s);
	CHECK((s = slurp(".dir/x/conf")) && !strcmp(s, "deep\n"));
	free(s);
	CHECK(!(s = slurp("from-base")));
	free(s);

	struct stat st;
	snprintf(p, sizeof(p), "%s/sb/upper/root/home/agent/new.json", top);
	CHECK(lstat(p, &st) == 0 && (st.st_mode & 07777) == 0600 &&
	      st.st_uid == UID_BASE + KN_AGENT_UID && st.st_gid == UID_BASE + KN_AGENT_UID);
	snprintf(p, sizeof(p), "%s/sb/upper/root/home/agent/.dir", top);
	CHECK(lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700 &&
	      st.st_uid == UID_BASE + KN_AGENT_UID);
	snprintf(p, sizeof(p), "%s/bait/x", top);
	CHECK(lstat(p, &st) < 0); /* nothing went through the link */

	/* A bad path fails the call, naming it. */
	const struct kn_home_file bad[] = {{"../../etc/x", "y", 1}};
	CHECK(kn_ns_seed_home(&spec, bad, 1, &err) < 0 && strstr(err.msg, "../../etc/x"));
}

int main(void)
{
	snprintf(top, sizeof(top), "/tmp/kennel-test-home.XXXXXX");
	if (!mkdtemp(top))
		return 1;
	RUN(path_table);
	if (geteuid() == 0)
		RUN(seeding);
	kn_error err = {0};
	if (kn_rm_rf(top, &err) < 0)
		printf("  cleanup: %s\n", err.msg);
	return test_summary();
}
