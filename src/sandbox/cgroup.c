#define _GNU_SOURCE
#include "sandbox/cgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sched.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

/* The CFS period kennel uses: the kernel's default, 100 ms, short enough that a
 * throttled sandbox still feels responsive. */
#define CFS_PERIOD_US 100000
/* The kernel refuses quotas below 1 ms (cfs_quota_us minimum). */
#define CFS_QUOTA_MIN_US 1000
/* More CPUs than any machine kennel runs on has; beyond it a value is a typo. */
#define CPUS_MAX 4096.0
/* v1 reports "no memory limit" as PAGE_COUNTER_MAX pages, i.e. LONG_MAX rounded down
 * to a page; no machine has 2^62 bytes, so any value from here on means none. */
#define V1_MEMORY_UNLIMITED_MIN (UINT64_C(1) << 62)
/* Small control files (limits, state, events) are a few hundred bytes; cgroup.procs
 * and mountinfo grow with the system, so those are read without this bound. */
#define SMALL_FILE_MAX 4096
/* /proc/self/cgroup has one line per hierarchy: the kernel has 14 controllers and a
 * system a few named hierarchies (name=systemd); 64 is ample. */
#define PROC_CGROUP_LINES_MAX 64
/* How deep kill and destroy follow sub-cgroups a sandbox may have made. Deeper
 * nesting is no use to a sandbox; the bound keeps the recursion's stack small. */
#define SUBTREE_DEPTH_MAX 32
/* Rounds of freeze, SIGKILL everything listed, thaw. One round empties a frozen
 * cgroup (frozen tasks cannot fork); more cover tasks that were mid-migration or not
 * yet frozen when the freeze timed out. The bound stops a livelock when no freezer
 * exists and a fork bomb keeps refilling the pids limit. */
#define KILL_ROUNDS_MAX 20
/* How long to wait for a freeze to take. A task in uninterruptible sleep (NFS, FUSE)
 * delays it; after this the round kills what it can and the next one retries. */
#define FREEZE_TIMEOUT_MS 1000
/* How long killed tasks get to exit in one round: freeing a few GiB takes well
 * under a second. */
#define ROUND_DRAIN_TIMEOUT_MS 1000
/* After cgroup.kill: one wait for everything (exit of every task, however many). */
#define KILL_DRAIN_TIMEOUT_MS 10000
/* destroy: kill-then-rmdir attempts when a process moves in between the two. */
#define DESTROY_ATTEMPTS_MAX 3
/* Poll interval while waiting for a cgroup to freeze or drain. */
#define POLL_INTERVAL_US 1000

static char root_name[KN_CGROUP_NAME_MAX + 1] = "kennel";
static unsigned options;

/* ---------- names, paths and small files ---------- */

static bool valid_name(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > KN_CGROUP_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

int kn_cgroup_set_root_name(const char *name, kn_error *err)
{
	if (strcmp(name, KN_CGROUP_DAEMON_LEAF) == 0)
		return kn_fail(err, "cgroup root name \"%s\" is taken by kenneld's own leaf cgroup",
			       name);
	if (!valid_name(name))
		return kn_fail(err, "invalid cgroup root name \"%s\": use 1-%d characters of "
				    "[A-Za-z0-9_.-] starting with a letter or digit",
			       name, KN_CGROUP_NAME_MAX);
	snprintf(root_name, sizeof(root_name), "%s", name);
	return 0;
}

void kn_cgroup_set_options(unsigned opts) { options = opts; }

static int join(char *out, size_t size, const char *dir, const char *file, kn_error *err)
{
	if ((size_t)snprintf(out, size, "%s/%s", dir, file) >= size)
		return kn_fail(err, "path too long: %s/%s", dir, file);
	return 0;
}

static bool exists(const char *dir, const char *file)
{
	char p[KN_CGROUP_PATH_MAX + 64];
	if (join(p, sizeof(p), dir, file, NULL) < 0)
		return false;
	return access(p, F_OK) == 0;
}

/* Read a whole file (cgroupfs and procfs report size 0, so read until EOF). `max` 0
 * means no bound. The result is NUL-terminated. */
static int read_all(const char *path, size_t max, char **out, kn_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kn_fail_errno(err, "open %s", path);
	size_t cap = 1024, len = 0;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return kn_fail(err, "out of memory reading %s", path);
	for (;;) {
		if (len + 1 == cap) {
			if (max && cap > max) {
				errno = EFBIG;
				return kn_fail(err, "%s is larger than %zu bytes", path, max);
			}
			char *bigger = realloc(buf, cap * 2);
			if (!bigger)
				return kn_fail(err, "out of memory reading %s", path);
			buf = bigger;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kn_fail_errno(err, "read %s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = steal_pointer(&buf);
	return 0;
}

static int read_in(const char *dir, const char *file, char **out, kn_error *err)
{
	char p[KN_CGROUP_PATH_MAX + 64];
	if (join(p, sizeof(p), dir, file, err) < 0)
		return -1;
	return read_all(p, SMALL_FILE_MAX, out, err);
}

/* Control files take one write(2) each: the kernel parses what one write brings. */
static int write_in(const char *dir, const char *file, const char *value, kn_error *err)
{
	char p[KN_CGROUP_PATH_MAX + 64];
	if (join(p, sizeof(p), dir, file, err) < 0)
		return -1;
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return kn_fail_errno(err, "open %s", p);
	size_t len = strlen(value);
	ssize_t n = write(fd, value, len);
	if (n < 0)
		return kn_fail_errno(err, "write \"%s\" to %s", value, p);
	if ((size_t)n != len)
		return kn_fail(err, "write \"%s\" to %s: short write", value, p);
	return 0;
}

/* Parse a control file holding one number or "max"; "max" reads as UINT64_MAX. */
static int read_u64_in(const char *dir, const char *file, uint64_t *v, kn_error *err)
{
	_cleanup_free_ char *s = NULL;
	if (read_in(dir, file, &s, err) < 0)
		return -1;
	s[strcspn(s, "\n")] = '\0';
	if (strcmp(s, "max") == 0) {
		*v = UINT64_MAX;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return kn_fail(err, "%s/%s: expected a number or \"max\", found \"%s\"", dir, file, s);
	*v = n;
	return 0;
}

/* Find "key value" in a flat-keyed file such as cgroup.events. */
static int read_key_in(const char *dir, const char *file, const char *key, uint64_t *v,
		       kn_error *err)
{
	_cleanup_free_ char *s = NULL;
	if (read_in(dir, file, &s, err) < 0)
		return -1;
	size_t klen = strlen(key);
	char *save = NULL;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
			*v = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
	}
	return kn_fail(err, "%s/%s has no \"%s\" line", dir, file, key);
}

static bool list_has(const char *list, const char *item, char sep)
{
	size_t ilen = strlen(item);
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, sep);
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == ilen && strncmp(p, item, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static void sleep_us(long us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---------- finding the hierarchies ---------- */

static const struct {
	unsigned bit;
	const char *name;
} controller_names[] = {
	{KN_CGROUP_MEMORY, "memory"},
	{KN_CGROUP_PIDS, "pids"},
	{KN_CGROUP_CPU, "cpu"},
	{KN_CGROUP_FREEZER, "freezer"},
};

#define LIMIT_CONTROLLERS (KN_CGROUP_MEMORY | KN_CGROUP_PIDS | KN_CGROUP_CPU)

/* One hierarchy kennel uses, with the calling process's own cgroup in it ("own":
 * on v2 the parent of KN_CGROUP_DAEMON_LEAF when the caller sits in that leaf). */
struct hierarchy {
	int version;
	int id;
	bool in_leaf;         /* v2: the caller is in <own>/KN_CGROUP_DAEMON_LEAF */
	unsigned controllers; /* v2: those kenneld's own cgroup offers */
	char own_dir[KN_CGROUP_PATH_MAX];  /* absolute directory of our own cgroup */
	char own_path[KN_CGROUP_PATH_MAX]; /* as /proc/self/cgroup names it */
};

struct layout {
	size_t n;
	struct hierarchy h[KN_CGROUP_MAX_DIRS];
	unsigned covered; /* controllers some hierarchy provides */
};

struct proc_line {
	int id;
	char *controllers; /* "memory", "cpu,cpuacct", "" on v2 */
	char *path;
};

struct cgroup_mount {
	int version;
	char *root;  /* the part of the hierarchy mounted (4th mountinfo field) */
	char *point; /* where (5th), unescaped */
	char *super; /* super options: the v1 controllers */
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

/* Split `line` (modified in place) into whitespace-separated fields. */
static size_t split_fields(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *tok = strtok_r(line, " ", &save); tok && n < max; tok = strtok_r(NULL, " ", &save))
		fields[n++] = tok;
	return n;
}

/* The directory of cgroup `path` through mount `m`, if `m` shows that part. */
static int dir_through_mount(const struct cgroup_mount *m, const char *path, char *out,
			     size_t size, kn_error *err)
{
	const char *rest;
	if (strcmp(m->root, "/") == 0) {
		rest = strcmp(path, "/") == 0 ? "" : path;
	} else {
		size_t rlen = strlen(m->root);
		if (strncmp(path, m->root, rlen) != 0 || (path[rlen] != '\0' && path[rlen] != '/'))
			return 1; /* this mount shows another part of the hierarchy */
		rest = path + rlen;
	}
	if ((size_t)snprintf(out, size, "%s%s", m->point, rest) >= size)
		return kn_fail(err, "cgroup path too long: %s%s", m->point, rest);
	return 0;
}

static int add_hierarchy(struct layout *lay, int version, const struct proc_line *pl,
			 const struct cgroup_mount *m, unsigned controllers, kn_error *err)
{
	for (size_t i = 0; i < lay->n; i++) {
		if (lay->h[i].id == pl->id) {
			lay->h[i].controllers |= controllers;
			lay->covered |= controllers;
			return 0;
		}
	}
	if (lay->n == KN_CGROUP_MAX_DIRS)
		return kn_fail(err, "more than %d cgroup hierarchies to use", KN_CGROUP_MAX_DIRS);
	struct hierarchy *h = &lay->h[lay->n];
	memset(h, 0, sizeof(*h));
	h->version = version;
	h->id = pl->id;
	h->controllers = controllers;
	int r = dir_through_mount(m, pl->path, h->own_dir, sizeof(h->own_dir), err);
	if (r != 0)
		return r;
	if ((size_t)snprintf(h->own_path, sizeof(h->own_path), "%s", pl->path) >= sizeof(h->own_path))
		return kn_fail(err, "cgroup path too long: %s", pl->path);
	lay->n++;
	lay->covered |= controllers;
	return 0;
}

/* The first mount of the hierarchy that shows `path`. */
static const struct cgroup_mount *find_mount(const struct cgroup_mount *mounts, size_t nmounts,
					     int version, const char *controller, const char *path)
{
	for (size_t i = 0; i < nmounts; i++) {
		const struct cgroup_mount *m = &mounts[i];
		if (m->version != version)
			continue;
		if (version == 1 && !list_has(m->super, controller, ','))
			continue;
		char dir[KN_CGROUP_PATH_MAX];
		if (dir_through_mount(m, path, dir, sizeof(dir), NULL) == 0)
			return m;
	}
	return NULL;
}

static unsigned v2_offered(const char *own_dir, kn_error *err)
{
	_cleanup_free_ char *s = NULL;
	if (read_in(own_dir, "cgroup.controllers", &s, err) < 0)
		return (unsigned)-1;
	s[strcspn(s, "\n")] = '\0';
	unsigned mask = 0;
	for (size_t i = 0; i < KN_ARRAY_SIZE(controller_names); i++)
		if ((controller_names[i].bit & LIMIT_CONTROLLERS) &&
		    list_has(s, controller_names[i].name, ' '))
			mask |= controller_names[i].bit;
	return mask;
}

static int discover_now(struct layout *lay, kn_error *err)
{
	memset(lay, 0, sizeof(*lay));
	_cleanup_free_ char *cg_text = NULL, *mi_text = NULL;
	if (read_all("/proc/self/cgroup", 0, &cg_text, err) < 0 ||
	    read_all("/proc/self/mountinfo", 0, &mi_text, err) < 0)
		return -1;

	struct proc_line lines[PROC_CGROUP_LINES_MAX];
	size_t nlines = 0;
	char *save = NULL;
	for (char *l = strtok_r(cg_text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			return kn_fail(err, "/proc/self/cgroup: unexpected line \"%s\"", l);
		if (nlines == PROC_CGROUP_LINES_MAX)
			return kn_fail(err, "/proc/self/cgroup has more than %d lines",
				       PROC_CGROUP_LINES_MAX);
		*c1 = *c2 = '\0';
		lines[nlines++] = (struct proc_line){atoi(l), c1 + 1, c2 + 1};
	}

	size_t nmounts = 0, cap = 0;
	_cleanup_free_ struct cgroup_mount *mounts = NULL;
	save = NULL;
	for (char *l = strtok_r(mi_text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		/* ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		char *f[64];
		size_t nf = split_fields(l, f, KN_ARRAY_SIZE(f));
		size_t dash = 6;
		while (dash < nf && strcmp(f[dash], "-") != 0)
			dash++;
		if (dash + 3 >= nf)
			continue;
		int version = strcmp(f[dash + 1], "cgroup2") == 0 ? 2 :
			      strcmp(f[dash + 1], "cgroup") == 0  ? 1 :
								    0;
		if (!version)
			continue;
		if (nmounts == cap) {
			cap = cap ? cap * 2 : 16;
			struct cgroup_mount *bigger = realloc(mounts, cap * sizeof(*mounts));
			if (!bigger)
				return kn_fail(err, "out of memory reading /proc/self/mountinfo");
			mounts = bigger;
		}
		unescape_octal(f[3]);
		unescape_octal(f[4]);
		mounts[nmounts++] = (struct cgroup_mount){version, f[3], f[4], f[dash + 3]};
	}

	if (!(options & KN_CGROUP_IGNORE_UNIFIED)) {
		for (size_t i = 0; i < nlines; i++) {
			if (lines[i].id != 0)
				continue;
			/* In the daemon's leaf, its parent is where kennel/ goes. */
			char *last = strrchr(lines[i].path, '/');
			bool in_leaf = last && strcmp(last + 1, KN_CGROUP_DAEMON_LEAF) == 0;
			if (in_leaf)
				last[last == lines[i].path ? 1 : 0] = '\0';
			const struct cgroup_mount *m =
				find_mount(mounts, nmounts, 2, NULL, lines[i].path);
			if (!m)
				break;
			if (add_hierarchy(lay, 2, &lines[i], m, 0, err) < 0)
				return -1;
			lay->h[0].in_leaf = in_leaf;
			unsigned offered = v2_offered(lay->h[0].own_dir, err);
			if (offered == (unsigned)-1)
				return -1;
			lay->h[0].controllers = offered;
			lay->covered = offered;
			break;
		}
	}
	for (size_t c = 0; c < KN_ARRAY_SIZE(controller_names); c++) {
		if (lay->covered & controller_names[c].bit)
			continue;
		for (size_t i = 0; i < nlines; i++) {
			if (lines[i].id == 0 || !list_has(lines[i].controllers, controller_names[c].name, ','))
				continue;
			const struct cgroup_mount *m = find_mount(mounts, nmounts, 1,
								  controller_names[c].name, lines[i].path);
			if (m && add_hierarchy(lay, 1, &lines[i], m, controller_names[c].bit, err) < 0)
				return -1;
			break;
		}
	}
	if (lay->n == 0)
		return kn_fail(err, "no usable cgroup hierarchy: none of memory, pids, cpu, freezer "
				    "is mounted as cgroup v1 and no cgroup2 is mounted");
	return 0;
}

/* Every create looks the layout up (~90 us here, most of it the mount table):
 * what was found is kept while what it was found from stays the same: the
 * caller's /proc/self/cgroup (compared as text), its mount table (a poll on an
 * open /proc/self/mountinfo reports any change in its mount namespace,
 * POLLPRI), and the options. Only in the process that found it: a child
 * shares the fd, and its poll would take the parent's news. */
static struct {
	bool valid;
	pid_t pid;
	unsigned options;
	int mountinfo_fd;
	char *cgroup_text;
	struct layout lay;
} found = {.mountinfo_fd = -1};

static int discover(struct layout *lay, kn_error *err)
{
	_cleanup_free_ char *cg_text = NULL;
	if (read_all("/proc/self/cgroup", 0, &cg_text, err) < 0)
		return -1;
	pid_t self = getpid();
	if (found.pid != self) {
		found.valid = false;
		found.mountinfo_fd = -1; /* the parent's: not ours to poll or close */
	}
	struct pollfd p = {.fd = found.mountinfo_fd, .events = POLLPRI};
	bool mounts_same = found.mountinfo_fd >= 0 && poll(&p, 1, 0) == 0;
	if (found.valid && mounts_same && found.options == options &&
	    strcmp(found.cgroup_text, cg_text) == 0) {
		*lay = found.lay;
		return 0;
	}
	found.valid = false;
	if (found.mountinfo_fd < 0) {
		found.pid = self;
		found.mountinfo_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
		if (found.mountinfo_fd >= 0)
			poll(&p, 1, 0); /* an event from before the read below is stale */
	}
	if (discover_now(lay, err) < 0)
		return -1;
	free(found.cgroup_text);
	found.cgroup_text = steal_pointer(&cg_text);
	found.options = options;
	found.lay = *lay;
	found.valid = found.mountinfo_fd >= 0;
	return 0;
}

static const char *controller_list(unsigned mask, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < KN_ARRAY_SIZE(controller_names); i++)
		if (mask & controller_names[i].bit)
			snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? "," : "",
				 controller_names[i].name);
	return buf;
}

static int sandbox_dir(const struct hierarchy *h, const char *name, struct kn_cgroup_dir *d,
		       kn_error *err)
{
	memset(d, 0, sizeof(*d));
	d->version = h->version;
	d->hierarchy_id = h->id;
	d->controllers = h->controllers;
	const char *own_path = strcmp(h->own_path, "/") == 0 ? "" : h->own_path;
	if ((size_t)snprintf(d->path, sizeof(d->path), "%s/%s/%s", h->own_dir, root_name, name) >=
		    sizeof(d->path) ||
	    (size_t)snprintf(d->proc_path, sizeof(d->proc_path), "%s/%s/%s", own_path, root_name,
			     name) >= sizeof(d->proc_path))
		return kn_fail(err, "cgroup path too long: %s/%s/%s", h->own_dir, root_name, name);
	return 0;
}

/* v2: the controllers this sandbox cgroup actually has (its cgroup.controllers). */
static int v2_enabled(struct kn_cgroup_dir *d, kn_error *err)
{
	unsigned m = v2_offered(d->path, err);
	if (m == (unsigned)-1)
		return -1;
	d->controllers = m;
	return 0;
}

/* ---------- create / open ---------- */

static int check_limits(const struct kn_limits *lim, kn_error *err)
{
	if (!isfinite(lim->cpus) || lim->cpus < 0 || lim->cpus > CPUS_MAX)
		return kn_fail(err, "cpu limit %g is out of range (0 for none, at most %g)",
			       lim->cpus, CPUS_MAX);
	if (lim->cpus > 0 && (long long)(lim->cpus * CFS_PERIOD_US + 0.5) < CFS_QUOTA_MIN_US)
		return kn_fail(err, "cpu limit %g is below the kernel's minimum of %g",
			       lim->cpus, (double)CFS_QUOTA_MIN_US / CFS_PERIOD_US);
	return 0;
}

static unsigned limits_need(const struct kn_limits *lim)
{
	return (lim->memory_bytes ? KN_CGROUP_MEMORY : 0) | (lim->pids ? KN_CGROUP_PIDS : 0) |
	       (lim->cpus > 0 ? KN_CGROUP_CPU : 0);
}

static int mkdir_ok_exists(const char *path, bool *created, kn_error *err)
{
	if (mkdir(path, 0755) == 0) {
		if (created)
			*created = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	return kn_fail_errno(err, "mkdir %s", path);
}

/* Write "+memory +pids" style into dir/cgroup.subtree_control for what is missing. */
static int v2_enable(const char *dir, unsigned need, bool dir_is_own, kn_error *err)
{
	_cleanup_free_ char *cur = NULL;
	if (read_in(dir, "cgroup.subtree_control", &cur, err) < 0)
		return -1;
	cur[strcspn(cur, "\n")] = '\0';
	for (size_t i = 0; i < KN_ARRAY_SIZE(controller_names); i++) {
		const char *c = controller_names[i].name;
		if (!(need & controller_names[i].bit) || list_has(cur, c, ' '))
			continue;
		char plus[32];
		snprintf(plus, sizeof(plus), "+%s", c);
		if (write_in(dir, "cgroup.subtree_control", plus, err) == 0)
			continue;
		if (errno == EBUSY && dir_is_own)
			return kn_fail_prefix(
				err,
				"cgroup v2 will not enable %s for the children of %s while that cgroup "
				"holds processes of its own (the no-internal-process rule); start kenneld "
				"in a cgroup of its own (systemd: Delegate=yes, DelegateSubgroup=%s) so "
				"kn_cgroup_init_daemon can step aside into %s/%s, or drop the %s limit",
				c, dir, KN_CGROUP_DAEMON_LEAF, dir, KN_CGROUP_DAEMON_LEAF, c);
		return -1;
	}
	return 0;
}

static int apply_memory(const struct kn_cgroup_dir *d, uint64_t bytes, kn_error *err)
{
	char v[32];
	if (bytes)
		snprintf(v, sizeof(v), "%" PRIu64, bytes);
	if (d->version == 2) {
		if (write_in(d->path, "memory.max", bytes ? v : "max", err) < 0)
			return -1;
		/* v2 counts swap apart from memory.max: no swap at all keeps the limit whole. */
		if (exists(d->path, "memory.swap.max") &&
		    write_in(d->path, "memory.swap.max", bytes ? "0" : "max", err) < 0)
			return -1;
		return 0;
	}
	/* v1 memsw is RAM plus swap and must stay >= the RAM limit at every step:
	 * lift it, set the RAM limit, then bring it down to the same value. */
	bool memsw = exists(d->path, "memory.memsw.limit_in_bytes");
	if (memsw && write_in(d->path, "memory.memsw.limit_in_bytes", "-1", err) < 0)
		return -1;
	if (write_in(d->path, "memory.limit_in_bytes", bytes ? v : "-1", err) < 0)
		return -1;
	if (memsw && bytes && write_in(d->path, "memory.memsw.limit_in_bytes", v, err) < 0)
		return -1;
	return 0;
}

static int apply_cpu(const struct kn_cgroup_dir *d, double cpus, kn_error *err)
{
	long long quota = cpus > 0 ? (long long)(cpus * CFS_PERIOD_US + 0.5) : -1;
	char v[64];
	if (d->version == 2) {
		if (quota > 0)
			snprintf(v, sizeof(v), "%lld %d", quota, CFS_PERIOD_US);
		else
			snprintf(v, sizeof(v), "max %d", CFS_PERIOD_US);
		return write_in(d->path, "cpu.max", v, err);
	}
	snprintf(v, sizeof(v), "%d", CFS_PERIOD_US);
	if (write_in(d->path, "cpu.cfs_period_us", v, err) < 0)
		return -1;
	snprintf(v, sizeof(v), "%lld", quota);
	return write_in(d->path, "cpu.cfs_quota_us", v, err);
}

static int apply_pids(const struct kn_cgroup_dir *d, uint64_t pids, kn_error *err)
{
	char v[32] = "max";
	if (pids)
		snprintf(v, sizeof(v), "%" PRIu64, pids);
	return write_in(d->path, "pids.max", v, err);
}

static int apply_limits(const struct kn_cgroup *cg, const struct kn_limits *lim, kn_error *err)
{
	for (size_t i = 0; i < cg->ndirs; i++) {
		const struct kn_cgroup_dir *d = &cg->dirs[i];
		if ((d->controllers & KN_CGROUP_MEMORY) && apply_memory(d, lim->memory_bytes, err) < 0)
			return -1;
		if ((d->controllers & KN_CGROUP_CPU) && apply_cpu(d, lim->cpus, err) < 0)
			return -1;
		if ((d->controllers & KN_CGROUP_PIDS) && apply_pids(d, lim->pids, err) < 0)
			return -1;
	}
	return 0;
}

static int create_dirs(const struct layout *lay, const char *name, unsigned need,
		       struct kn_cgroup *cg, bool created[], kn_error *err)
{
	/* Every cgroup v1 migration waits for an RCU grace period, and each exec
	 * joins every hierarchy the sandbox has: only use the v1 hierarchies a
	 * limit needs, and the v1 freezer only when there is no unified hierarchy
	 * (whose cgroup.kill/cgroup.freeze do its job). */
	bool have_v2 = false;
	for (size_t i = 0; i < lay->n; i++)
		have_v2 |= lay->h[i].version == 2;
	unsigned wanted = need | (have_v2 ? 0 : KN_CGROUP_FREEZER);
	for (size_t i = 0; i < lay->n; i++) {
		const struct hierarchy *h = &lay->h[i];
		struct kn_cgroup_dir *d = &cg->dirs[cg->ndirs];
		if (h->version == 1 && !(h->controllers & wanted))
			continue;
		if (sandbox_dir(h, name, d, err) < 0)
			return -1;
		char parent[KN_CGROUP_PATH_MAX];
		if (join(parent, sizeof(parent), h->own_dir, root_name, err) < 0)
			return -1;
		unsigned v2_need = h->version == 2 ? need & h->controllers : 0;
		if (v2_need && v2_enable(h->own_dir, v2_need, true, err) < 0)
			return -1;
		if (mkdir_ok_exists(parent, NULL, err) < 0)
			return -1;
		if (v2_need && v2_enable(parent, v2_need, false, err) < 0)
			return -1;
		if (mkdir_ok_exists(d->path, &created[cg->ndirs], err) < 0)
			return -1;
		cg->ndirs++;
		if (h->version == 2 && v2_enabled(d, err) < 0)
			return -1;
	}
	return 0;
}

int kn_cgroup_create(const char *name, const struct kn_limits *lim, struct kn_cgroup *cg,
		     kn_error *err)
{
	if (!valid_name(name))
		return kn_fail(err, "create cgroup: invalid sandbox name \"%s\"", name);
	if (check_limits(lim, err) < 0)
		return kn_fail_prefix(err, "create cgroup %s", name);
	struct layout lay;
	if (discover(&lay, err) < 0)
		return kn_fail_prefix(err, "create cgroup %s", name);
	unsigned need = limits_need(lim);
	if (need & ~lay.covered) {
		char names[64];
		return kn_fail(err, "create cgroup %s: the %s controller is neither offered to "
				    "kenneld's cgroup v2 (cgroup.controllers) nor mounted as cgroup v1",
			       name, controller_list(need & ~lay.covered, names, sizeof(names)));
	}

	memset(cg, 0, sizeof(*cg));
	snprintf(cg->name, sizeof(cg->name), "%s", name);
	bool created[KN_CGROUP_MAX_DIRS] = {false};
	if (create_dirs(&lay, name, need, cg, created, err) < 0 || apply_limits(cg, lim, err) < 0) {
		/* Leave no half-made cgroup behind; ones that existed before stay. */
		for (size_t i = 0; i < KN_CGROUP_MAX_DIRS; i++)
			if (created[i] && rmdir(cg->dirs[i].path) < 0)
				log_warn("rmdir %s: %s", cg->dirs[i].path, strerror(errno));
		return kn_fail_prefix(err, "create cgroup %s", name);
	}
	return 0;
}

int kn_cgroup_open(const char *name, struct kn_cgroup *cg, kn_error *err)
{
	if (!valid_name(name))
		return kn_fail(err, "open cgroup: invalid sandbox name \"%s\"", name);
	struct layout lay;
	if (discover(&lay, err) < 0)
		return kn_fail_prefix(err, "open cgroup %s", name);
	memset(cg, 0, sizeof(*cg));
	snprintf(cg->name, sizeof(cg->name), "%s", name);
	for (size_t i = 0; i < lay.n; i++) {
		struct kn_cgroup_dir *d = &cg->dirs[cg->ndirs];
		if (sandbox_dir(&lay.h[i], name, d, err) < 0)
			return kn_fail_prefix(err, "open cgroup %s", name);
		struct stat st;
		if (stat(d->path, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return kn_fail_errno(err, "open cgroup %s: stat %s", name, d->path);
		}
		cg->ndirs++;
		if (d->version == 2 && v2_enabled(d, err) < 0)
			return kn_fail_prefix(err, "open cgroup %s", name);
	}
	if (cg->ndirs == 0) {
		errno = ENOENT;
		return kn_fail_errno(err, "open cgroup %s: no %s/%s in any cgroup hierarchy", name,
				     root_name, name);
	}
	return 0;
}

/* ---------- processes ---------- */

static const struct kn_cgroup_dir *unified_dir(const struct kn_cgroup *cg)
{
	for (size_t i = 0; i < cg->ndirs; i++)
		if (cg->dirs[i].version == 2)
			return &cg->dirs[i];
	return NULL;
}

int kn_cgroup_enter_self(const struct kn_cgroup *cg, unsigned flags, kn_error *err)
{
	for (size_t i = 0; i < cg->ndirs; i++) {
		const struct kn_cgroup_dir *d = &cg->dirs[i];
		if (d->version == 2 && (flags & KN_CGROUP_CLONED_INTO_UNIFIED))
			continue;
		/* "0" is the writer itself. On v1 `tasks` moves that one thread without
		 * the kernel's global threadgroup write lock, whose RCU grace period
		 * (10-30 ms on an idle machine) a pid written to cgroup.procs waits
		 * for; the callers are single-threaded, so the thread is the process. */
		if (write_in(d->path, d->version == 1 ? "tasks" : "cgroup.procs", "0", err) < 0)
			return kn_fail_prefix(err, "enter cgroup %s", cg->name);
	}
	return 0;
}

/* An O_DIRECTORY fd of the sandbox's v2 cgroup, for CLONE_INTO_CGROUP. */
static int unified_fd(const struct kn_cgroup_dir *d, kn_error *err)
{
	int fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kn_fail_errno(err, "open %s", d->path);
	return fd;
}

pid_t kn_cgroup_clone(const struct kn_cgroup *cg, uint64_t flags, int *pidfd, kn_error *err)
{
	_cleanup_close_ int dir = -1;
	const struct kn_cgroup_dir *u = unified_dir(cg);
	if (u && (dir = unified_fd(u, err)) < 0)
		return -1;
	struct clone_args args = {
		.flags = flags | CLONE_PIDFD | (dir >= 0 ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t)(uintptr_t)pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = dir >= 0 ? (uint64_t)dir : 0,
	};
	pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return kn_fail_errno(err, "clone3 into cgroup %s", cg->name);
	return pid;
}

/* Calls fn(dir_path, arg) for `dir` and every sub-cgroup below it, children first. */
typedef int (*subtree_fn)(const char *path, void *arg, kn_error *err);

static int walk_subtree(const char *path, int depth, subtree_fn fn, void *arg, kn_error *err)
{
	if (depth > SUBTREE_DEPTH_MAX)
		return kn_fail(err, "%s: cgroups nested deeper than %d", path, SUBTREE_DEPTH_MAX);
	DIR *dir = opendir(path);
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		return kn_fail_errno(err, "opendir %s", path);
	}
	int r = 0;
	struct dirent *e;
	while (r == 0 && (errno = 0, e = readdir(dir))) {
		if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char sub[KN_CGROUP_PATH_MAX];
		r = join(sub, sizeof(sub), path, e->d_name, err);
		if (r == 0)
			r = walk_subtree(sub, depth + 1, fn, arg, err);
	}
	if (r == 0 && errno) /* readdir failed; on success errno stays 0 */
		r = kn_fail_errno(err, "readdir %s", path);
	closedir(dir);
	if (r == 0)
		r = fn(path, arg, err);
	return r;
}

/* Reads the pids in path/cgroup.procs. A cgroup removed meanwhile has none. */
static int read_pids(const char *path, pid_t **pids, size_t *n, kn_error *err)
{
	char p[KN_CGROUP_PATH_MAX + 64];
	*pids = NULL;
	*n = 0;
	if (join(p, sizeof(p), path, "cgroup.procs", err) < 0)
		return -1;
	_cleanup_free_ char *text = NULL;
	if (read_all(p, 0, &text, err) < 0)
		return errno == ENOENT ? 0 : -1;
	size_t cap = 0;
	for (char *s = text; *s;) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s)
			break;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			pid_t *bigger = realloc(*pids, cap * sizeof(**pids));
			if (!bigger) {
				free(*pids);
				*pids = NULL;
				return kn_fail(err, "out of memory reading %s", p);
			}
			*pids = bigger;
		}
		(*pids)[(*n)++] = (pid_t)v;
		s = end;
		while (*s == '\n')
			s++;
	}
	return 0;
}

static int count_procs(const char *path, void *arg, kn_error *err)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	if (read_pids(path, &pids, &n, err) < 0)
		return -1;
	*(size_t *)arg += n;
	return 0;
}

int kn_cgroup_is_populated(const struct kn_cgroup *cg, kn_error *err)
{
	const struct kn_cgroup_dir *u = unified_dir(cg);
	if (u) {
		/* cgroup.events counts the whole subtree and ignores zombies. */
		uint64_t populated = 0;
		if (read_key_in(u->path, "cgroup.events", "populated", &populated, err) < 0) {
			if (errno == ENOENT)
				return 0;
			return -1;
		}
		return populated != 0;
	}
	size_t total = 0;
	for (size_t i = 0; i < cg->ndirs; i++)
		if (walk_subtree(cg->dirs[i].path, 0, count_procs, &total, err) < 0)
			return -1;
	return total > 0;
}

/* 1 when /proc/<pid>/cgroup puts pid in `proc_path` (or below) of hierarchy `id`. */
static int pid_in_cgroup(pid_t pid, int id, const char *proc_path, kn_error *err)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)pid);
	_cleanup_free_ char *text = NULL;
	if (read_all(p, 0, &text, err) < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	size_t plen = strlen(proc_path);
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || atoi(l) != id)
			continue;
		const char *path = c2 + 1;
		return strncmp(path, proc_path, plen) == 0 && (path[plen] == '\0' || path[plen] == '/');
	}
	return 0;
}

/* Pin the process with a pidfd, make sure it is still ours, then SIGKILL it: a pid
 * read from cgroup.procs may have exited and been reused by then. */
static int kill_member(pid_t pid, const struct kn_cgroup_dir *d, kn_error *err)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 && errno == ESRCH)
		return 0;
	if (pidfd < 0 && errno != ENOSYS)
		return kn_fail_errno(err, "pidfd_open %d", (int)pid);
	int ours = pid_in_cgroup(pid, d->hierarchy_id, d->proc_path, err);
	if (ours <= 0)
		return ours;
	/* Before 5.3 there is no pidfd: plain kill after the check (a narrow race). */
	int r = pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0)
			   : kill(pid, SIGKILL);
	if (r < 0 && errno != ESRCH)
		return kn_fail_errno(err, "kill %d", (int)pid);
	return 0;
}

/* subtree_fn: SIGKILL every process listed in one cgroup of sandbox dir `arg`. */
static int kill_listed(const char *path, void *arg, kn_error *err)
{
	const struct kn_cgroup_dir *d = arg;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	if (read_pids(path, &pids, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (kill_member(pids[i], d, err) < 0)
			return -1;
	return 0;
}

/* Wait until the cgroup is empty: 1 when it is, 0 on timeout. */
static int wait_empty(const struct kn_cgroup *cg, int timeout_ms, kn_error *err)
{
	long long deadline = kn_now_ms() + timeout_ms;
	for (;;) {
		int pop = kn_cgroup_is_populated(cg, err);
		if (pop <= 0)
			return pop < 0 ? -1 : 1;
		if (kn_now_ms() >= deadline)
			return 0;
		sleep_us(POLL_INTERVAL_US);
	}
}

/* The directory that freezes the sandbox: v2 (a frozen task still dies of SIGKILL)
 * before the v1 freezer; NULL when there is neither. */
static const struct kn_cgroup_dir *find_freezer(const struct kn_cgroup *cg)
{
	const struct kn_cgroup_dir *u = unified_dir(cg);
	if (u && exists(u->path, "cgroup.freeze"))
		return u;
	for (size_t i = 0; i < cg->ndirs; i++)
		if (cg->dirs[i].controllers & KN_CGROUP_FREEZER)
			return &cg->dirs[i];
	return NULL;
}

static int set_frozen(const struct kn_cgroup_dir *f, bool frozen, kn_error *err)
{
	if (f->version == 2)
		return write_in(f->path, "cgroup.freeze", frozen ? "1" : "0", err);
	return write_in(f->path, "freezer.state", frozen ? "FROZEN" : "THAWED", err);
}

/* 1 once the freeze has taken, 0 on timeout. */
static int wait_frozen(const struct kn_cgroup_dir *f, kn_error *err)
{
	long long deadline = kn_now_ms() + FREEZE_TIMEOUT_MS;
	for (;;) {
		bool frozen;
		if (f->version == 2) {
			uint64_t v = 0;
			if (read_key_in(f->path, "cgroup.events", "frozen", &v, err) < 0)
				return -1;
			frozen = v == 1;
		} else {
			_cleanup_free_ char *s = NULL;
			if (read_in(f->path, "freezer.state", &s, err) < 0)
				return -1;
			frozen = strncmp(s, "FROZEN", 6) == 0;
		}
		if (frozen)
			return 1;
		if (kn_now_ms() >= deadline)
			return 0;
		sleep_us(POLL_INTERVAL_US);
	}
}

static int kill_by_rounds(const struct kn_cgroup *cg, kn_error *err)
{
	const struct kn_cgroup_dir *f = find_freezer(cg);
	for (int round = 0; round < KILL_ROUNDS_MAX; round++) {
		int pop = kn_cgroup_is_populated(cg, err);
		if (pop <= 0)
			return pop;
		if (f) {
			if (set_frozen(f, true, err) < 0)
				return -1;
			int r = wait_frozen(f, err);
			if (r < 0) {
				set_frozen(f, false, NULL);
				return -1;
			}
			if (r == 0)
				log_debug("cgroup %s: not frozen after %d ms, killing what is listed",
					  cg->name, FREEZE_TIMEOUT_MS);
		}
		int r = 0;
		for (size_t i = 0; r == 0 && i < cg->ndirs; i++)
			r = walk_subtree(cg->dirs[i].path, 0, kill_listed, (void *)&cg->dirs[i], err);
		/* Thaw even after a failure: a cgroup left frozen would hang its sandbox. */
		if (f && set_frozen(f, false, r < 0 ? NULL : err) < 0)
			return -1;
		if (r < 0)
			return -1;
		r = wait_empty(cg, ROUND_DRAIN_TIMEOUT_MS, err);
		if (r != 0)
			return r < 0 ? -1 : 0;
	}
	return kn_fail(err, "cgroup %s still has processes after %d rounds of %sSIGKILL", cg->name,
		       KILL_ROUNDS_MAX, f ? "freeze and " : "");
}

int kn_cgroup_kill(const struct kn_cgroup *cg, kn_error *err)
{
	const struct kn_cgroup_dir *u = unified_dir(cg);
	if (u && !(options & KN_CGROUP_IGNORE_CGROUP_KILL) && exists(u->path, "cgroup.kill")) {
		/* Kills the whole subtree atomically with respect to fork. */
		if (write_in(u->path, "cgroup.kill", "1", err) < 0) {
			if (errno == ENOENT)
				return 0;
			return kn_fail_prefix(err, "kill cgroup %s", cg->name);
		}
		int r = wait_empty(cg, KILL_DRAIN_TIMEOUT_MS, err);
		if (r < 0)
			return kn_fail_prefix(err, "kill cgroup %s", cg->name);
		if (r == 0)
			return kn_fail(err, "kill cgroup %s: processes still there %d ms after cgroup.kill",
				       cg->name, KILL_DRAIN_TIMEOUT_MS);
		return 0;
	}
	if (kill_by_rounds(cg, err) < 0)
		return kn_fail_prefix(err, "kill cgroup %s", cg->name);
	return 0;
}

static int rmdir_one(const char *path, void *arg, kn_error *err)
{
	(void)arg;
	if (rmdir(path) < 0 && errno != ENOENT)
		return kn_fail_errno(err, "rmdir %s", path);
	return 0;
}

int kn_cgroup_destroy(const struct kn_cgroup *cg, kn_error *err)
{
	for (int attempt = 1;; attempt++) {
		if (kn_cgroup_kill(cg, err) < 0)
			return kn_fail_prefix(err, "destroy cgroup %s", cg->name);
		int r = 0;
		for (size_t i = 0; r == 0 && i < cg->ndirs; i++)
			r = walk_subtree(cg->dirs[i].path, 0, rmdir_one, NULL, err);
		if (r == 0)
			return 0;
		/* EBUSY: a process moved in after the kill (one that was being added).
		 * Kill again; one that keeps coming back is someone else's doing. */
		if (errno != EBUSY || attempt == DESTROY_ATTEMPTS_MAX)
			return kn_fail_prefix(err, "destroy cgroup %s", cg->name);
	}
}

/* ---------- reading back ---------- */

int kn_cgroup_read_stats(const struct kn_cgroup *cg, struct kn_cgroup_stats *st, kn_error *err)
{
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < cg->ndirs; i++) {
		const struct kn_cgroup_dir *d = &cg->dirs[i];
		const char *p = d->path;
		bool v2 = d->version == 2;
		uint64_t v = 0;
		if (d->controllers & KN_CGROUP_MEMORY) {
			if (read_u64_in(p, v2 ? "memory.max" : "memory.limit_in_bytes", &v, err) < 0 ||
			    read_u64_in(p, v2 ? "memory.current" : "memory.usage_in_bytes",
					&st->memory_current, err) < 0)
				goto fail;
			st->limits.memory_bytes = v == UINT64_MAX || v >= V1_MEMORY_UNLIMITED_MIN ? 0 : v;
			st->controllers |= KN_CGROUP_MEMORY;
		}
		if (d->controllers & KN_CGROUP_PIDS) {
			if (read_u64_in(p, "pids.max", &v, err) < 0 ||
			    read_u64_in(p, "pids.current", &st->pids_current, err) < 0)
				goto fail;
			st->limits.pids = v == UINT64_MAX ? 0 : v;
			st->controllers |= KN_CGROUP_PIDS;
		}
		if (d->controllers & KN_CGROUP_CPU) {
			long long quota, period;
			if (v2) {
				_cleanup_free_ char *s = NULL;
				if (read_in(p, "cpu.max", &s, err) < 0)
					goto fail;
				char q[32];
				if (sscanf(s, "%31s %lld", q, &period) != 2)
					return kn_fail(err, "read stats of cgroup %s: %s/cpu.max: "
							    "unexpected \"%s\"", cg->name, p, s);
				quota = strcmp(q, "max") == 0 ? -1 : atoll(q);
			} else {
				_cleanup_free_ char *qs = NULL, *ps = NULL;
				if (read_in(p, "cpu.cfs_quota_us", &qs, err) < 0 ||
				    read_in(p, "cpu.cfs_period_us", &ps, err) < 0)
					goto fail;
				quota = atoll(qs);
				period = atoll(ps);
			}
			st->limits.cpus = quota > 0 && period > 0 ? (double)quota / (double)period : 0;
			st->controllers |= KN_CGROUP_CPU;
		}
	}
	return 0;
fail:
	return kn_fail_prefix(err, "read stats of cgroup %s", cg->name);
}

/* ---------- listing leftovers ---------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void kn_cgroup_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int kn_cgroup_list(char ***names_out, size_t *n_out, kn_error *err)
{
	*names_out = NULL;
	*n_out = 0;
	struct layout lay;
	if (discover(&lay, err) < 0)
		return kn_fail_prefix(err, "list cgroups");
	char **names = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < lay.n; i++) {
		char parent[KN_CGROUP_PATH_MAX];
		if (join(parent, sizeof(parent), lay.h[i].own_dir, root_name, err) < 0)
			goto fail;
		DIR *dir = opendir(parent);
		if (!dir) {
			if (errno == ENOENT)
				continue;
			kn_fail_errno(err, "list cgroups: opendir %s", parent);
			goto fail;
		}
		struct dirent *e;
		while ((e = readdir(dir))) {
			if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			if (!valid_name(e->d_name)) {
				log_warn("cgroup %s/%s is not a sandbox's: left alone", parent, e->d_name);
				continue;
			}
			bool seen = false;
			for (size_t j = 0; j < n && !seen; j++)
				seen = strcmp(names[j], e->d_name) == 0;
			if (seen)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				char **bigger = realloc(names, cap * sizeof(*names));
				if (!bigger) {
					closedir(dir);
					kn_fail(err, "list cgroups: out of memory");
					goto fail;
				}
				names = bigger;
			}
			if (!(names[n] = strdup(e->d_name))) {
				closedir(dir);
				kn_fail(err, "list cgroups: out of memory");
				goto fail;
			}
			n++;
		}
		closedir(dir);
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	*names_out = names;
	*n_out = n;
	return 0;
fail:
	kn_cgroup_list_free(names, n);
	return -1;
}

int kn_cgroup_remove_root(kn_error *err)
{
	struct layout lay;
	if (discover(&lay, err) < 0)
		return kn_fail_prefix(err, "remove cgroup root %s", root_name);
	for (size_t i = 0; i < lay.n; i++) {
		char parent[KN_CGROUP_PATH_MAX];
		if (join(parent, sizeof(parent), lay.h[i].own_dir, root_name, err) < 0)
			return -1;
		if (rmdir(parent) < 0 && errno != ENOENT)
			return kn_fail_errno(err, "remove cgroup root: rmdir %s", parent);
	}
	return 0;
}

/* ---------- the daemon's own place ---------- */

int kn_cgroup_init_daemon(kn_error *err)
{
	struct layout lay;
	if (discover(&lay, err) < 0)
		return kn_fail_prefix(err, "set up kenneld's cgroup");
	const struct hierarchy *h = lay.n && lay.h[0].version == 2 ? &lay.h[0] : NULL;
	if (!h || h->in_leaf || strcmp(h->own_path, "/") == 0)
		return 0; /* nothing to split: no v2, already split, or the root */
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	if (read_pids(h->own_dir, &pids, &n, err) < 0)
		return kn_fail_prefix(err, "set up kenneld's cgroup");
	if (n != 1 || pids[0] != getpid()) {
		if (h->controllers & KN_CGROUP_MEMORY)
			log_warn("cgroup %s holds %zu processes besides kenneld, so cgroup v2 cannot "
				 "hand the memory controller to kennel's cgroups below it and memory "
				 "limits will fail; run kenneld in a cgroup of its own (systemd: "
				 "Delegate=yes, DelegateSubgroup=%s)",
				 h->own_dir, n ? n - 1 : 0, KN_CGROUP_DAEMON_LEAF);
		return 0;
	}
	char leaf[KN_CGROUP_PATH_MAX], pid[32];
	if (join(leaf, sizeof(leaf), h->own_dir, KN_CGROUP_DAEMON_LEAF, err) < 0 ||
	    mkdir_ok_exists(leaf, NULL, err) < 0)
		return kn_fail_prefix(err, "set up kenneld's cgroup");
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (write_in(leaf, "cgroup.procs", pid, err) < 0)
		return kn_fail_prefix(err, "set up kenneld's cgroup: move kenneld into %s", leaf);
	log_info("moved kenneld into cgroup %s so that %s can delegate controllers", leaf,
		 h->own_dir);
	return 0;
}
