/* rlimits.c — see rlimits.h for the contract. */
#include "sandbox/rlimits.h"

#include <sys/resource.h>

#include "common/log.h"

/* Core dumps would write the agent's memory (workspace contents, tokens it
 * was shown) to disk outside the sandbox's control. Note that the kernel
 * ignores RLIMIT_CORE when core_pattern pipes to a helper: that helper
 * decides (systemd-coredump honours the limit). */
#define KN_RLIMIT_CORE 0

int kn_rlimits_apply(kn_error *err)
{
	struct rlimit core = { KN_RLIMIT_CORE, KN_RLIMIT_CORE };
	if (setrlimit(RLIMIT_CORE, &core) < 0)
		return kn_fail_errno(err, "setrlimit RLIMIT_CORE %d", KN_RLIMIT_CORE);

	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return kn_fail_errno(err, "getrlimit RLIMIT_NOFILE");
	rlim_t want = KN_RLIMIT_NOFILE;
	if (nofile.rlim_max != RLIM_INFINITY && nofile.rlim_max < want) {
		log_info("RLIMIT_NOFILE hard limit is %llu, below %d; using %llu",
			 (unsigned long long)nofile.rlim_max, KN_RLIMIT_NOFILE,
			 (unsigned long long)nofile.rlim_max);
		want = nofile.rlim_max;
	}
	nofile.rlim_cur = nofile.rlim_max = want;
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return kn_fail_errno(err, "setrlimit RLIMIT_NOFILE %llu", (unsigned long long)want);
	return 0;
}
