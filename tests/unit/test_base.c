/* Unit tests of the shared sandbox base: the curated /etc and the skeleton.
 * Builds a real base from this host's /etc into a temp dir (needs root to
 * plant a host-side canary in /etc). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "sandbox/base.h"
#include "test.h"

static char tmpdir[] = "/tmp/kennel-test-base.XXXXXX";
static char canary_secret[64], canary_public[64];

static int exists(const char *rel)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/root/%s", tmpdir, rel);
	return lstat(p, &st) == 0;
}

static char *slurp(const char *rel)
{
	char p[PATH_MAX], *data = NULL;
	snprintf(p, sizeof(p), "%s/root/%s", tmpdir, rel);
	if (kn_read_file(p, 1 << 22, &data, NULL, NULL) < 0)
		return NULL;
	return data;
}

static void test_build(void)
{
	kn_error err = {0};
	CHECK(kn_base_build(tmpdir, &err) == 0);
	if (err.msg[0])
		printf("  %s\n", err.msg);
	/* A second build reuses the first: it may be a live lower layer. */
	CHECK(kn_base_build(tmpdir, &err) == 0);
}

static void test_no_host_secrets(void)
{
	static const char *const absent[] = {"etc/shadow", "etc/gshadow", "etc/ssh", "etc/sudoers",
					     "etc/machine-id", "etc/subuid", "etc/hostname",
					     "etc/ssl/private"};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		if (exists(absent[i]))
			printf("  present: %s\n", absent[i]);
		CHECK(!exists(absent[i]));
	}
	char rel[80];
	snprintf(rel, sizeof(rel), "etc/%s", canary_secret);
	CHECK(!exists(rel)); /* mode 0600 on the host: not for the sandbox */
	snprintf(rel, sizeof(rel), "etc/%s", canary_public);
	CHECK(exists(rel));  /* world-readable: copied */
}

static void test_passwd(void)
{
	char *pw = slurp("etc/passwd"), *gr = slurp("etc/group");
	CHECK(pw && gr);
	if (!pw || !gr)
		return;
	CHECK(strstr(pw, "agent:x:1000:1000:") != NULL);
	CHECK(strncmp(pw, "root:x:0:0:", 11) == 0);
	CHECK(strstr(gr, "agent:x:1000:") != NULL);
	for (char *save = NULL, *l = strtok_r(pw, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *f2 = strchr(l, ':');
		CHECK(f2 && f2[1] == 'x' && f2[2] == ':'); /* no password field survives */
		long uid = f2 ? strtol(f2 + 3, NULL, 10) : -1;
		CHECK(uid < 1000 || uid == 65534 || (uid == 1000 && !strncmp(l, "agent:", 6)));
	}
	free(pw);
	free(gr);
}

static void test_skeleton(void)
{
	char p[PATH_MAX], target[64];
	static const char *const dirs[] = {"dev", "proc", "sys", "tmp", "home", "root", "usr", "var/lib/dpkg"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		CHECK(exists(dirs[i]));
	snprintf(p, sizeof(p), "%s/root/bin", tmpdir);
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	CHECK(n > 0);
	if (n > 0) {
		target[n] = '\0';
		CHECK_STR_EQ(target, "usr/bin");
	}
	struct stat st;
	snprintf(p, sizeof(p), "%s/root/tmp", tmpdir);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 01777);
	char *resolv = slurp("etc/resolv.conf");
	CHECK(resolv && !strstr(resolv, "nameserver"));
	free(resolv);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIP test_base: needs root\n");
		return 0;
	}
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(canary_secret, sizeof(canary_secret), "kennel-canary-secret-%d", (int)getpid());
	snprintf(canary_public, sizeof(canary_public), "kennel-canary-public-%d", (int)getpid());
	char p1[128], p2[128];
	snprintf(p1, sizeof(p1), "/etc/%s", canary_secret);
	snprintf(p2, sizeof(p2), "/etc/%s", canary_public);
	kn_error err;
	kn_write_atomic(p1, "secret\n", 7, 0600, &err);
	kn_write_atomic(p2, "public\n", 7, 0644, &err);
	RUN(test_build);
	RUN(test_no_host_secrets);
	RUN(test_passwd);
	RUN(test_skeleton);
	unlink(p1);
	unlink(p2);
	kn_rm_rf(tmpdir, &err);
	return test_summary();
}
