/* harden.c — process hardening at start-up (contract: harden.h). */
#include "proxy/harden.h"

#include <sys/prctl.h>
#include <sys/resource.h>

int kp_harden(size_t *nofile, kn_error *err)
{
	struct rlimit rl = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return kn_fail_errno(err, "prctl PR_SET_DUMPABLE 0");
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return kn_fail_errno(err, "setrlimit RLIMIT_CORE 0");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return kn_fail_errno(err, "prctl PR_SET_NO_NEW_PRIVS");
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return kn_fail_errno(err, "getrlimit RLIMIT_NOFILE");
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return kn_fail_errno(err, "setrlimit RLIMIT_NOFILE to %llu",
					     (unsigned long long)rl.rlim_max);
	}
	*nofile = rl.rlim_cur == RLIM_INFINITY ? (size_t)1 << 20 : (size_t)rl.rlim_cur;
	return 0;
}
