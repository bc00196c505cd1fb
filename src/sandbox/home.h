/* home.h — an agent's first-run files in the sandbox's home.
 *
 * Contract: kn_ns_seed_home (sandbox.h) runs in the daemon while the sandbox
 * is stopped, before every start, and writes into the sandbox's own writable
 * layer (layer.h) below KN_AGENT_HOME: each file that neither the sandbox nor
 * its base has (a sandbox's own copy, e.g. the settings the agent rewrote,
 * is never touched; a file the sandbox deleted comes back) is created with
 * mode 0600, owned by the agent user, with missing directories 0700, also
 * the agent's. A path is relative to the home, made of 1..KN_HOME_DEPTH_MAX
 * components of [A-Za-z0-9._-] that are not "." or ".."; kn_home_path_ok says
 * whether it is. A file that cannot be written fails the call, naming it; the
 * files before it stay. */
#ifndef KENNEL_SANDBOX_HOME_H
#define KENNEL_SANDBOX_HOME_H

#include <stddef.h>

/* ~/.config/APP/FILE is three deep; room for tools that nest further. */
#define KN_HOME_DEPTH_MAX 8
/* First-run settings are a few KiB. */
#define KN_HOME_FILE_MAX (64 * 1024)

struct kn_home_file {
	const char *path; /* relative to KN_AGENT_HOME */
	const char *content;
	size_t len;
};

int kn_home_path_ok(const char *path);

#endif
