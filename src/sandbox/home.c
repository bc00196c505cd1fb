/* home.c — an agent's first-run files in the sandbox's home (contract: home.h). */
#define _GNU_SOURCE
#include "sandbox/home.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "sandbox/layer.h"
#include "sandbox/sandbox.h"

int kn_home_path_ok(const char *path)
{
	size_t len = strlen(path), depth = 0;
	if (len == 0 || len >= PATH_MAX - sizeof(KN_AGENT_HOME) || path[0] == '/')
		return 0;
	for (const char *c = path; *c;) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);
		if (n == 0 || n > NAME_MAX || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.') || ++depth > KN_HOME_DEPTH_MAX)
			return 0;
		for (const char *p = c; p < end; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
				return 0;
		c = *end ? end + 1 : end;
		if (*end && !*c)
			return 0; /* a trailing '/' */
	}
	return 1;
}

/* Is `name` in `dirfd` something of the sandbox's? A whiteout (the 0:0
 * character device overlayfs leaves for a deleted file) is not. */
static int sandbox_has(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return !(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
}

static int seed_one(const struct kn_layer *root, const struct kn_home_file *f, kn_error *err)
{
	char rel[PATH_MAX], dir[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/%s", &KN_AGENT_HOME[1], f->path);
	snprintf(dir, sizeof(dir), "%s", rel);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	const char *name = slash + 1;
	struct stat st;
	if (kn_layer_base_stat(root, rel, &st) == 0)
		return 0; /* the base (an --image) brings its own */
	_cleanup_close_ int dirfd = kn_layer_dir(root, dir, KN_AGENT_UID, 0700, err);
	if (dirfd < 0)
		return -1;
	if (sandbox_has(dirfd, name))
		return 0;
	if (kn_layer_put_file(root, dirfd, name, f->content, f->len, NULL, 0, KN_AGENT_UID, 0600,
			      err) < 0)
		return -1;
	log_debug("sandbox layer %s: seeded %s", root->upper, rel);
	return 0;
}

int kn_ns_seed_home(const struct kn_sandbox_spec *s, const struct kn_home_file *files, size_t n,
		    kn_error *err)
{
	struct kn_layer root;
	kn_layer_root(s, &root);
	for (size_t i = 0; i < n; i++) {
		if (!kn_home_path_ok(files[i].path))
			return kn_fail(err, "seed %s: not a path below the agent's home",
				       files[i].path);
		if (seed_one(&root, &files[i], err) < 0)
			return kn_fail_prefix(err, "seed ~/%s", files[i].path);
	}
	return 0;
}
