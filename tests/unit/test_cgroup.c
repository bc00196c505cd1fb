/* test_cgroup.c — sandbox cgroups on the real kernel: limits read back, membership,
 * OOM kill, a fork bomb against pids.max, kill of many processes, destroy, leftovers.
 * Needs root. Everything lives under <own>/kennel-test-<pid>, so a real kenneld and
 * other test runs are never touched. Each kill-related test runs once per kill
 * strategy this machine offers: cgroup.kill, v2 freeze rounds, v1 freezer rounds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/cgroup.h"
#include "test.h"

#define MIB (UINT64_C(1) << 20)
/* A memory limit far below what the OOM child touches, far above a process's baseline. */
#define OOM_LIMIT_BYTES (64 * MIB)
#define OOM_TOUCH_BYTES (256 * MIB)
/* The fork bomb's cgroup: small, so the limit is hit within milliseconds. */
#define BOMB_PIDS_MAX 32
/* Each bomb process stops forking after this many attempts or this long, so a
 * broken pids limit cannot take the machine down with the test. */
#define BOMB_ATTEMPTS_MAX 2000
#define BOMB_SECONDS 10
/* How long the test watches the bomb at its limit before killing it. */
#define BOMB_WATCH_MS 300
#define SLEEPERS 50
/* Generous bounds on waiting for children: each should take milliseconds. */
#define CHILD_READY_TIMEOUT_MS 5000
#define CHILD_EXIT_TIMEOUT_MS 10000

static unsigned mode;
static const char *const mode_names[] = {"cgroup.kill", "v2-freeze", "v1-freezer"};
static const unsigned mode_options[] = {0, KN_CGROUP_IGNORE_CGROUP_KILL, KN_CGROUP_IGNORE_UNIFIED};

/* Parent directories (<own>/kennel-test-<pid>) seen, to check they are gone at the end. */
static char roots[KN_CGROUP_MAX_DIRS * 3][KN_CGROUP_PATH_MAX];
static size_t nroots;

static void note_roots(const struct kn_cgroup *cg)
{
	for (size_t i = 0; i < cg->ndirs; i++) {
		char r[KN_CGROUP_PATH_MAX];
		snprintf(r, sizeof(r), "%s", cg->dirs[i].path);
		*strrchr(r, '/') = '\0';
		bool seen = false;
		for (size_t j = 0; j < nroots; j++)
			seen |= strcmp(roots[j], r) == 0;
		if (!seen && nroots < KN_ARRAY_SIZE(roots))
			snprintf(roots[nroots++], sizeof(roots[0]), "%s", r);
	}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool create(const char *name, const struct kn_limits *lim, struct kn_cgroup *cg)
{
	kn_error err = {0};
	if (kn_cgroup_create(name, lim, cg, &err) < 0) {
		printf("  %s\n", err.msg);
		return false;
	}
	note_roots(cg);
	return true;
}

static void destroy(const struct kn_cgroup *cg)
{
	kn_error err = {0};
	int r = kn_cgroup_destroy(cg, &err);
	if (r < 0)
		printf("  %s\n", err.msg);
	CHECK(r == 0);
	for (size_t i = 0; i < cg->ndirs; i++)
		CHECK(access(cg->dirs[i].path, F_OK) < 0 && errno == ENOENT);
}

/* Reap every child and grandchild (we are their subreaper) until none is left;
 * returns how many died of SIGKILL. */
static int reap_all(void)
{
	int killed = 0;
	long long deadline = now_ms() + CHILD_EXIT_TIMEOUT_MS;
	for (;;) {
		int status;
		pid_t p = waitpid(-1, &status, WNOHANG);
		if (p > 0) {
			killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
			continue;
		}
		if (p < 0 && errno == ECHILD)
			return killed;
		if (now_ms() > deadline) {
			printf("  children still running after %d ms\n", CHILD_EXIT_TIMEOUT_MS);
			CHECK(!"children exited");
			return killed;
		}
		usleep(1000);
	}
}

/* Wait for `n` bytes on `fd` (each child writes one when ready). */
static bool wait_ready(int fd, int n)
{
	long long deadline = now_ms() + CHILD_READY_TIMEOUT_MS;
	while (n > 0) {
		int left = (int)(deadline - now_ms());
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			return false;
		char buf[64];
		ssize_t r = read(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
		if (r <= 0)
			return false;
		n -= (int)r;
	}
	return true;
}

static size_t count_lines(const char *dir, const char *file)
{
	char p[KN_CGROUP_PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	FILE *f = fopen(p, "re");
	if (!f)
		return (size_t)-1;
	size_t n = 0;
	int c;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static bool file_has_pid(const char *dir, pid_t pid)
{
	char p[KN_CGROUP_PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	FILE *f = fopen(p, "re");
	if (!f)
		return false;
	int v;
	bool found = false;
	while (fscanf(f, "%d", &v) == 1)
		found |= v == pid;
	fclose(f);
	return found;
}

/* The value after `key` in a flat-keyed file, or -1. */
static long long read_key(const char *dir, const char *file, const char *key)
{
	char p[KN_CGROUP_PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	FILE *f = fopen(p, "re");
	if (!f)
		return -1;
	char k[64];
	long long v, found = -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2)
		if (strcmp(k, key) == 0)
			found = v;
	fclose(f);
	return found;
}

/* A file holding one number; -1 for "max", -2 when the file is not there. */
static long long read_number(const char *dir, const char *file)
{
	char p[KN_CGROUP_PATH_MAX + 32], buf[64] = "";
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	FILE *f = fopen(p, "re");
	if (!f)
		return -2;
	bool ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok || strncmp(buf, "max", 3) == 0)
		return -1;
	return strtoll(buf, NULL, 10);
}

static const struct kn_cgroup_dir *dir_with(const struct kn_cgroup *cg, unsigned controller)
{
	for (size_t i = 0; i < cg->ndirs; i++)
		if (cg->dirs[i].controllers & controller)
			return &cg->dirs[i];
	return NULL;
}

static void test_limits_read_back(void)
{
	struct kn_cgroup cg, again, opened;
	struct kn_limits lim = {.cpus = 1.5, .memory_bytes = OOM_LIMIT_BYTES, .pids = BOMB_PIDS_MAX};
	if (!create("limits", &lim, &cg)) {
		CHECK(!"create");
		return;
	}
	kn_error err = {0};
	struct kn_cgroup_stats st;
	CHECK(kn_cgroup_read_stats(&cg, &st, &err) == 0);
	CHECK((st.controllers & (KN_CGROUP_MEMORY | KN_CGROUP_PIDS | KN_CGROUP_CPU)) ==
	      (KN_CGROUP_MEMORY | KN_CGROUP_PIDS | KN_CGROUP_CPU));
	CHECK(st.limits.memory_bytes == OOM_LIMIT_BYTES);
	CHECK(st.limits.pids == BOMB_PIDS_MAX);
	CHECK(st.limits.cpus == 1.5);
	CHECK(st.pids_current == 0);

	/* Swap cannot bypass the memory limit. */
	const struct kn_cgroup_dir *m = dir_with(&cg, KN_CGROUP_MEMORY);
	CHECK(m != NULL);
	if (m && m->version == 1 && read_number(m->path, "memory.memsw.limit_in_bytes") != -2)
		CHECK(read_number(m->path, "memory.memsw.limit_in_bytes") == (long long)OOM_LIMIT_BYTES);
	if (m && m->version == 2 && read_number(m->path, "memory.swap.max") != -2)
		CHECK(read_number(m->path, "memory.swap.max") == 0);

	/* Reopening finds the same directories. */
	CHECK(kn_cgroup_open("limits", &opened, &err) == 0);
	CHECK(opened.ndirs == cg.ndirs);
	for (size_t i = 0; i < cg.ndirs && i < opened.ndirs; i++)
		CHECK_STR_EQ(opened.dirs[i].path, cg.dirs[i].path);

	/* Creating it again reuses it and resets what is no longer asked for. */
	struct kn_limits none = {0};
	CHECK(create("limits", &none, &again));
	CHECK(kn_cgroup_read_stats(&again, &st, &err) == 0);
	CHECK(st.limits.memory_bytes == 0 && st.limits.pids == 0 && st.limits.cpus == 0);

	/* Bad input is refused before anything is made. */
	CHECK(kn_cgroup_create("../escape", &lim, &again, &err) < 0);
	struct kn_limits tiny_cpu = {.cpus = 0.001};
	CHECK(kn_cgroup_create("tiny", &tiny_cpu, &again, &err) < 0);
	CHECK(kn_cgroup_open("tiny", &again, &err) < 0 && err.errnum == ENOENT);
	CHECK(kn_cgroup_open("never-made", &again, &err) < 0 && err.errnum == ENOENT);
	destroy(&cg);
}

/* enter_self, and a child born in the cgroup (kn_cgroup_clone, then
 * enter_self for v1), both put the process everywhere. */
static void test_enter(void)
{
	struct kn_cgroup cg;
	struct kn_limits lim = {.pids = 16};
	if (!create("members", &lim, &cg)) {
		CHECK(!"create");
		return;
	}
	kn_error err = {0};
	int ready[2];
	CHECK(pipe2(ready, O_CLOEXEC) == 0);
	pid_t entered = fork();
	if (entered == 0) {
		if (kn_cgroup_enter_self(&cg, 0, NULL) < 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	int cloned_pidfd = -1;
	pid_t cloned = kn_cgroup_clone(&cg, 0, &cloned_pidfd, &err);
	if (cloned == 0) {
		if (kn_cgroup_enter_self(&cg, KN_CGROUP_CLONED_INTO_UNIFIED, NULL) < 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	CHECK(cloned > 0 && cloned_pidfd >= 0);
	CHECK(wait_ready(ready[0], 2));
	for (size_t i = 0; i < cg.ndirs; i++) {
		CHECK(file_has_pid(cg.dirs[i].path, entered));
		CHECK(file_has_pid(cg.dirs[i].path, cloned));
	}
	CHECK(kn_cgroup_is_populated(&cg, &err) == 1);
	CHECK(kn_cgroup_kill(&cg, &err) == 0);
	CHECK(kn_cgroup_is_populated(&cg, &err) == 0);
	CHECK(reap_all() == 2);
	if (cloned_pidfd >= 0)
		close(cloned_pidfd);
	close(ready[0]);
	close(ready[1]);
	destroy(&cg);
}

static void test_oom_kills_only_the_sandbox(void)
{
	struct kn_cgroup cg;
	struct kn_limits lim = {.memory_bytes = OOM_LIMIT_BYTES};
	if (!create("oom", &lim, &cg)) {
		CHECK(!"create");
		return;
	}
	pid_t child = fork();
	if (child == 0) {
		if (kn_cgroup_enter_self(&cg, 0, NULL) < 0)
			_exit(1);
		char *p = mmap(NULL, OOM_TOUCH_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(2);
		for (size_t off = 0; off < OOM_TOUCH_BYTES; off += 4096)
			p[off] = 1;
		_exit(0); /* survived: the limit did not hold */
	}
	int status = 0;
	long long deadline = now_ms() + CHILD_EXIT_TIMEOUT_MS;
	pid_t w;
	while ((w = waitpid(child, &status, WNOHANG)) == 0 && now_ms() < deadline)
		usleep(1000);
	CHECK(w == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (w == child && !WIFSIGNALED(status))
		printf("  child exited with %d\n", WEXITSTATUS(status));
	const struct kn_cgroup_dir *m = dir_with(&cg, KN_CGROUP_MEMORY);
	CHECK(m != NULL);
	if (m)
		CHECK(read_key(m->path, m->version == 2 ? "memory.events" : "memory.oom_control",
			       "oom_kill") >= 1);
	reap_all();
	destroy(&cg);
}

/* Forks until told to stop; every process runs this loop, so it is a real bomb. */
static void fork_bomb(int eagain_fd)
{
	long long deadline = now_ms() + BOMB_SECONDS * 1000;
	bool told = false;
	for (int attempts = 0; attempts < BOMB_ATTEMPTS_MAX && now_ms() < deadline; attempts++) {
		pid_t p = fork();
		if (p == 0)
			continue; /* the child bombs on, with the parent's budget */
		if (p < 0 && errno == EAGAIN && !told) {
			(void)!write(eagain_fd, "!", 1);
			told = true;
		}
		if (p < 0)
			usleep(1000);
	}
	for (;;)
		pause();
}

static void test_fork_bomb_is_contained(void)
{
	struct kn_cgroup cg;
	struct kn_limits lim = {.pids = BOMB_PIDS_MAX};
	if (!create("bomb", &lim, &cg)) {
		CHECK(!"create");
		return;
	}
	int eagain[2];
	CHECK(pipe2(eagain, O_CLOEXEC) == 0);
	CHECK(fcntl(eagain[1], F_SETFL, O_NONBLOCK) == 0);
	pid_t bomb = fork();
	if (bomb == 0) {
		if (kn_cgroup_enter_self(&cg, 0, NULL) < 0)
			_exit(1);
		fork_bomb(eagain[1]);
	}
	close(eagain[1]);
	CHECK(wait_ready(eagain[0], 1)); /* some bomb process saw EAGAIN */

	kn_error err = {0};
	const struct kn_cgroup_dir *pd = dir_with(&cg, KN_CGROUP_PIDS);
	uint64_t peak = 0;
	size_t peak_listed = 0;
	for (long long end = now_ms() + BOMB_WATCH_MS; now_ms() < end;) {
		struct kn_cgroup_stats st;
		if (kn_cgroup_read_stats(&cg, &st, &err) == 0 && st.pids_current > peak)
			peak = st.pids_current;
		size_t listed = pd ? count_lines(pd->path, pd->version == 2 ? "cgroup.threads" : "tasks") : 0;
		if (listed != (size_t)-1 && listed > peak_listed)
			peak_listed = listed;
	}
	printf("  peak pids.current %llu, tasks listed %zu\n", (unsigned long long)peak, peak_listed);
	/* The bomb filled the limit ... (pids.current itself may read one or two above
	 * pids.max for an instant: the kernel charges a fork, then takes the charge
	 * back when it is over the limit; the fork fails all the same) */
	CHECK(peak >= BOMB_PIDS_MAX);
	/* ... and there were never more tasks than the limit. */
	CHECK(peak_listed <= BOMB_PIDS_MAX);
	if (pd && count_lines(pd->path, "pids.events") != (size_t)-1)
		CHECK(read_key(pd->path, "pids.events", "max") > 0);

	/* Kill it while it is still forking. */
	long long t0 = now_ms();
	int r = kn_cgroup_kill(&cg, &err);
	if (r < 0)
		printf("  %s\n", err.msg);
	CHECK(r == 0);
	printf("  killed in %lld ms\n", now_ms() - t0);
	CHECK(kn_cgroup_is_populated(&cg, &err) == 0);
	CHECK(reap_all() >= 1);
	close(eagain[0]);
	destroy(&cg);
}

static void test_kill_empties_many(void)
{
	struct kn_cgroup cg;
	struct kn_limits lim = {0};
	if (!create("sleepers", &lim, &cg)) {
		CHECK(!"create");
		return;
	}
	int ready[2];
	CHECK(pipe2(ready, O_CLOEXEC) == 0);
	for (int i = 0; i < SLEEPERS; i++) {
		if (fork() == 0) {
			if (kn_cgroup_enter_self(&cg, 0, NULL) < 0)
				_exit(1);
			(void)!write(ready[1], "x", 1);
			for (;;)
				pause();
		}
	}
	CHECK(wait_ready(ready[0], SLEEPERS));
	CHECK(count_lines(cg.dirs[0].path, "cgroup.procs") == SLEEPERS);
	kn_error err = {0};
	int r = kn_cgroup_kill(&cg, &err);
	if (r < 0)
		printf("  %s\n", err.msg);
	CHECK(r == 0);
	for (size_t i = 0; i < cg.ndirs; i++)
		CHECK(count_lines(cg.dirs[i].path, "cgroup.procs") == 0);
	CHECK(kn_cgroup_is_populated(&cg, &err) == 0);
	CHECK(reap_all() == SLEEPERS);
	close(ready[0]);
	close(ready[1]);
	destroy(&cg);
}

static bool listed(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* What a restarted daemon does: list, open and destroy what a crash left. */
static void test_list_and_reconcile_leftovers(void)
{
	struct kn_cgroup a, b;
	struct kn_limits lim = {.pids = 8};
	if (!create("left-b", &lim, &b) || !create("left-a", &lim, &a)) {
		CHECK(!"create");
		return;
	}
	kn_error err = {0};
	int ready[2];
	CHECK(pipe2(ready, O_CLOEXEC) == 0);
	pid_t child = fork();
	if (child == 0) {
		if (kn_cgroup_enter_self(&a, 0, NULL) < 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	CHECK(wait_ready(ready[0], 1));
	close(ready[0]);
	close(ready[1]);
	char **names = NULL;
	size_t n = 0;
	CHECK(kn_cgroup_list(&names, &n, &err) == 0);
	CHECK(n == 2);
	CHECK(n == 2 && strcmp(names[0], "left-a") == 0 && strcmp(names[1], "left-b") == 0);
	for (size_t i = 0; i < n; i++) {
		struct kn_cgroup cg;
		CHECK(kn_cgroup_open(names[i], &cg, &err) == 0);
		destroy(&cg);
	}
	kn_cgroup_list_free(names, n);
	CHECK(kn_cgroup_list(&names, &n, &err) == 0);
	CHECK(n == 0 && !listed(names, n, "left-a"));
	kn_cgroup_list_free(names, n);
	CHECK(reap_all() == 1);
	/* Destroying twice is fine. */
	destroy(&a);
}

static bool write_file(const char *dir, const char *file, const char *value)
{
	char p[KN_CGROUP_PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/%s", dir, file);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	close(fd);
	return ok;
}

static bool self_v2_path_ends_with(const char *suffix)
{
	char line[KN_CGROUP_PATH_MAX + 8] = "";
	FILE *f = fopen("/proc/self/cgroup", "re");
	bool found = false;
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		size_t l = strlen(line), sl = strlen(suffix);
		found = l >= sl && strcmp(line + l - sl, suffix) == 0;
	}
	if (f)
		fclose(f);
	return found;
}

/* A daemon alone in a non-root v2 cgroup (a systemd service, simulated here with a
 * cgroup of the test's own) steps into <own>/kenneld, and kennel/ goes beside it. */
static void test_init_daemon_steps_aside(void)
{
	kn_cgroup_set_options(0);
	struct kn_cgroup probe, cg;
	struct kn_limits none = {0}, lim = {.pids = 8};
	if (!create("probe", &none, &probe)) {
		CHECK(!"create");
		return;
	}
	const struct kn_cgroup_dir *u = NULL;
	for (size_t i = 0; i < probe.ndirs; i++)
		if (probe.dirs[i].version == 2)
			u = &probe.dirs[i];
	if (!u) {
		printf("  no unified hierarchy here: nothing to step aside from\n");
		destroy(&probe);
		return;
	}
	/* <own>/<root>/probe -> <own> */
	char own[KN_CGROUP_PATH_MAX], svc[KN_CGROUP_PATH_MAX + 64], leaf[KN_CGROUP_PATH_MAX + 128];
	char expect[KN_CGROUP_PATH_MAX + 192], pid[32];
	snprintf(own, sizeof(own), "%s", u->path);
	*strrchr(own, '/') = '\0';
	*strrchr(own, '/') = '\0';
	destroy(&probe);
	snprintf(svc, sizeof(svc), "%s/kennel-test-svc-%d", own, (int)getpid());
	snprintf(leaf, sizeof(leaf), "%s/%s", svc, KN_CGROUP_DAEMON_LEAF);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	CHECK(mkdir(svc, 0755) == 0);
	CHECK(write_file(svc, "cgroup.procs", pid));

	kn_error err = {0};
	int r = kn_cgroup_init_daemon(&err);
	if (r < 0)
		printf("  %s\n", err.msg);
	CHECK(r == 0);
	CHECK(self_v2_path_ends_with("/" KN_CGROUP_DAEMON_LEAF));
	CHECK(kn_cgroup_init_daemon(&err) == 0); /* again: already aside */
	CHECK(self_v2_path_ends_with("/" KN_CGROUP_DAEMON_LEAF));

	if (create("svc", &lim, &cg)) {
		for (size_t i = 0; i < cg.ndirs; i++) {
			if (cg.dirs[i].version != 2)
				continue;
			char root[KN_CGROUP_NAME_MAX + 1];
			snprintf(root, sizeof(root), "kennel-test-%d", (int)getpid());
			snprintf(expect, sizeof(expect), "%s/%s/svc", svc, root);
			CHECK_STR_EQ(cg.dirs[i].path, expect);
		}
		int ready[2];
		CHECK(pipe2(ready, O_CLOEXEC) == 0);
		pid_t child = fork();
		if (child == 0) {
			if (kn_cgroup_enter_self(&cg, 0, NULL) < 0)
				_exit(1);
			(void)!write(ready[1], "x", 1);
			for (;;)
				pause();
		}
		CHECK(wait_ready(ready[0], 1));
		CHECK(kn_cgroup_is_populated(&cg, &err) == 1);
		close(ready[0]);
		close(ready[1]);
		destroy(&cg);
		reap_all();
	} else {
		CHECK(!"create under the daemon's parent");
	}
	CHECK(kn_cgroup_remove_root(&err) == 0);
	/* Back where the test started, and the simulated service cgroup gone. */
	CHECK(write_file(own, "cgroup.procs", pid));
	CHECK(rmdir(leaf) == 0);
	CHECK(rmdir(svc) == 0);
}

/* The mount point of the v1 hierarchy of `controller`, or "" when none is mounted. */
static void v1_mount(const char *controller, char *out, size_t n)
{
	out[0] = '\0';
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - cgroup ");
		char point[1024];
		if (dash && strstr(dash, controller) && sscanf(line, "%*s %*s %*s %*s %1023s", point) == 1) {
			snprintf(out, n, "%s", point);
			break;
		}
	}
	if (f)
		fclose(f);
}

static bool has_v1_memory_dir(const struct kn_cgroup *cg)
{
	for (size_t i = 0; i < cg->ndirs; i++)
		if (cg->dirs[i].version == 1 && (cg->dirs[i].controllers & KN_CGROUP_MEMORY))
			return true;
	return false;
}

/* The layout kenneld keeps between creates follows the mount table: with the v1
 * memory hierarchy unmounted (in a private mount namespace, so the host keeps
 * it), a create that needs a memory limit fails as it would have from the start. */
static void test_layout_follows_mounts(void)
{
	kn_cgroup_set_options(0);
	char point[1024];
	v1_mount("memory", point, sizeof(point));
	if (!point[0]) {
		printf("  no v1 memory hierarchy here: nothing to unmount\n");
		return;
	}
	pid_t child = fork();
	if (child == 0) {
		struct kn_cgroup a, b;
		struct kn_limits lim = {.memory_bytes = OOM_LIMIT_BYTES};
		kn_error err = {0};
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(2);
		/* Twice: the second create is served from what the first found. */
		for (int i = 0; i < 2; i++) {
			if (kn_cgroup_create("layout-a", &lim, &a, &err) < 0)
				_exit(3);
			bool v1 = has_v1_memory_dir(&a);
			if (kn_cgroup_destroy(&a, &err) < 0 || !v1)
				_exit(4);
		}
		if (umount2(point, MNT_DETACH) < 0)
			_exit(5);
		if (kn_cgroup_create("layout-b", &lim, &b, &err) == 0) {
			kn_cgroup_destroy(&b, &err);
			_exit(6); /* the unmounted hierarchy was still used */
		}
		_exit(strstr(err.msg, "memory controller") ? 0 : 7);
	}
	int status = -1;
	CHECK(child > 0 && waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("  child: %s %d\n", WIFEXITED(status) ? "exit" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Runs last, in the widest mode: whatever earlier failures left is removed, and the
 * test's root directory with it. */
static void test_nothing_left(void)
{
	kn_cgroup_set_options(0);
	kn_error err = {0};
	char **names = NULL;
	size_t n = 0;
	CHECK(kn_cgroup_list(&names, &n, &err) == 0);
	CHECK(n == 0);
	for (size_t i = 0; i < n; i++) {
		struct kn_cgroup cg;
		printf("  leftover %s\n", names[i]);
		if (kn_cgroup_open(names[i], &cg, &err) == 0)
			kn_cgroup_destroy(&cg, &err);
	}
	kn_cgroup_list_free(names, n);
	int r = kn_cgroup_remove_root(&err);
	if (r < 0)
		printf("  %s\n", err.msg);
	CHECK(r == 0);
	CHECK(nroots > 0);
	for (size_t i = 0; i < nroots; i++)
		CHECK(access(roots[i], F_OK) < 0 && errno == ENOENT);
	reap_all();
}

static bool have_mode(unsigned m)
{
	/* A probe cgroup tells which strategy this mode really gets. */
	struct kn_cgroup cg;
	struct kn_limits none = {0};
	kn_error err = {0};
	kn_cgroup_set_options(mode_options[m]);
	if (kn_cgroup_create("probe", &none, &cg, &err) < 0) {
		printf("  %s: %s\n", mode_names[m], err.msg);
		return false;
	}
	note_roots(&cg);
	bool unified = false, v1_freezer = false, has_kill = false, has_freeze = false;
	for (size_t i = 0; i < cg.ndirs; i++) {
		char p[KN_CGROUP_PATH_MAX + 32];
		if (cg.dirs[i].version == 2) {
			unified = true;
			snprintf(p, sizeof(p), "%s/cgroup.kill", cg.dirs[i].path);
			has_kill = access(p, F_OK) == 0;
			snprintf(p, sizeof(p), "%s/cgroup.freeze", cg.dirs[i].path);
			has_freeze = access(p, F_OK) == 0;
		}
		v1_freezer |= (cg.dirs[i].controllers & KN_CGROUP_FREEZER) != 0;
	}
	kn_cgroup_destroy(&cg, &err);
	switch (m) {
	case 0: return unified && has_kill;
	case 1: return unified && has_freeze;
	default: return !unified && v1_freezer;
	}
}

int main(void)
{
	if (geteuid() != 0) {
		printf("SKIP test_cgroup: needs root to make cgroups\n");
		return 0;
	}
	char root[KN_CGROUP_NAME_MAX + 1];
	snprintf(root, sizeof(root), "kennel-test-%d", (int)getpid());
	kn_error err = {0};
	if (kn_cgroup_set_root_name(root, &err) < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		printf("FAIL setup: %s\n", err.msg);
		return 1;
	}
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
		{"limits_read_back", test_limits_read_back},
		{"enter", test_enter},
		{"oom_kills_only_the_sandbox", test_oom_kills_only_the_sandbox},
		{"fork_bomb_is_contained", test_fork_bomb_is_contained},
		{"kill_empties_many", test_kill_empties_many},
		{"list_and_reconcile_leftovers", test_list_and_reconcile_leftovers},
	};
	for (mode = 0; mode < KN_ARRAY_SIZE(mode_names); mode++) {
		if (!have_mode(mode)) {
			printf("SKIP kill strategy %s: not on this machine\n", mode_names[mode]);
			continue;
		}
		for (size_t t = 0; t < KN_ARRAY_SIZE(tests); t++) {
			char name[128];
			snprintf(name, sizeof(name), "test_cgroup_%s[%s]", tests[t].name, mode_names[mode]);
			test_run(name, tests[t].fn);
		}
	}
	RUN(test_init_daemon_steps_aside);
	RUN(test_layout_follows_mounts);
	RUN(test_nothing_left);
	return test_summary();
}
