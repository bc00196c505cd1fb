/* test_rlimits.c — kn_rlimits_apply() on real processes. Each check runs in a
 * forked child (limits are per process) that reports through its exit code. */
#include "sandbox/rlimits.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* Child exit codes. */
#define CHILD_OK 0
#define CHILD_SETUP_FAILED 10
#define CHILD_APPLY_FAILED 11
#define CHILD_WRONG_LIMIT 12

static int run_child(int (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(fn());
	int status;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int apply(void)
{
	kn_error err;
	if (kn_rlimits_apply(&err) < 0) {
		printf("  kn_rlimits_apply: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int child_sets_limits(void)
{
	struct rlimit as_before, core, nofile, as_after;
	/* Start from something wide, as a daemon under systemd would, where
	 * we may raise the hard limit (CAP_SYS_RESOURCE); else from what we have. */
	struct rlimit wide = { 1048576, 1048576 };
	if (setrlimit(RLIMIT_NOFILE, &wide) < 0 && getrlimit(RLIMIT_NOFILE, &wide) < 0)
		return CHILD_SETUP_FAILED;
	rlim_t want = wide.rlim_max < KN_RLIMIT_NOFILE ? wide.rlim_max : KN_RLIMIT_NOFILE;
	if (getrlimit(RLIMIT_AS, &as_before) < 0)
		return CHILD_SETUP_FAILED;
	if (apply() < 0)
		return CHILD_APPLY_FAILED;
	if (getrlimit(RLIMIT_CORE, &core) < 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0 ||
	    getrlimit(RLIMIT_AS, &as_after) < 0)
		return CHILD_SETUP_FAILED;
	if (core.rlim_cur != 0 || core.rlim_max != 0)
		return CHILD_WRONG_LIMIT;
	if (nofile.rlim_cur != want || nofile.rlim_max != want)
		return CHILD_WRONG_LIMIT;
	if (as_after.rlim_cur != as_before.rlim_cur || as_after.rlim_max != as_before.rlim_max)
		return CHILD_WRONG_LIMIT;
	return CHILD_OK;
}

static int child_caps_nofile_at_hard_limit(void)
{
	struct rlimit low = { 1024, 4096 }, nofile;
	if (setrlimit(RLIMIT_NOFILE, &low) < 0)
		return CHILD_SETUP_FAILED;
	if (apply() < 0)
		return CHILD_APPLY_FAILED;
	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return CHILD_SETUP_FAILED;
	return nofile.rlim_cur == 4096 && nofile.rlim_max == 4096 ? CHILD_OK : CHILD_WRONG_LIMIT;
}

static void test_sets_core_and_nofile(void)
{
	int code = run_child(child_sets_limits);
	if (code != CHILD_OK)
		printf("  child exit code %d\n", code);
	CHECK(code == CHILD_OK);
}

static void test_nofile_capped_by_hard_limit(void)
{
	CHECK(run_child(child_caps_nofile_at_hard_limit) == CHILD_OK);
}

int main(void)
{
	RUN(test_sets_core_and_nofile);
	RUN(test_nofile_capped_by_hard_limit);
	return test_summary();
}
