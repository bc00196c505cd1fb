#define _GNU_SOURCE
#include "sandbox/base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox.h"

const char *const kn_base_host_layers[] = {"/usr", "/var/lib/dpkg", NULL};

/* Top-level host entries that are symlinks on a merged-/usr system; copied as
 * symlinks when they are, refused as a base otherwise (see kn_base_build). */
static const char *const merged_usr_links[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};

static const char *const skeleton_dirs[] = {
	"dev", "proc", "sys", "tmp", "run", "home", "root", "opt", "srv", "mnt", "media",
	"var", "var/lib", "var/tmp", "var/cache", "var/log", "var/lib/dpkg", "usr", "etc",
};

/* World-readable /etc entries that still name or unlock the host: ssh config
 * and keys, privilege config, host identity, id delegation, mounts. passwd and
 * group are regenerated; hostname, hosts and resolv.conf are per sandbox. */
static const char *const etc_deny[] = {
	"ssh", "sudoers", "sudoers.d", "machine-id", "subuid", "subuid-", "subgid", "subgid-",
	"fstab", "crypttab", "mtab", "passwd", "passwd-", "group", "group-", "shadow", "shadow-",
	"gshadow", "gshadow-", "hostname", "hosts", "resolv.conf", ".pwd.lock", "docker",
	"containerd", "kubernetes", "NetworkManager", "wpa_supplicant", "ppp", "openvpn",
	"wireguard", "krb5.keytab", "security", "polkit-1", "cron.d", "cron.daily", "cron.weekly",
	"cron.hourly", "cron.monthly", "crontab", "auth.conf", "auth.conf.d", "netrc",
};

static int denied(const char *name)
{
	for (size_t i = 0; i < KN_ARRAY_SIZE(etc_deny); i++)
		if (!strcmp(name, etc_deny[i]))
			return 1;
	return 0;
}

static int copy_file(int sfd, const char *name, int dfd, mode_t mode, const char *shown,
		     kn_error *err)
{
	_cleanup_close_ int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return kn_fail_errno(err, "open %s", shown);
	_cleanup_close_ int out =
		openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0755);
	if (out < 0)
		return kn_fail_errno(err, "create copy of %s", shown);
	char buf[65536];
	for (;;) {
		ssize_t r = read(in, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return kn_fail_errno(err, "read %s", shown);
		if (r == 0)
			break;
		if (write(out, buf, (size_t)r) != r)
			return kn_fail_errno(err, "write copy of %s", shown);
	}
	return 0;
}

/* Copy what every host user can read; skip the rest without a word (it is
 * exactly what the sandbox must not see). `top` applies the deny list. */
static int copy_readable_tree(int sfd, int dfd, const char *shown, int top, kn_error *err)
{
	_cleanup_close_ int sdup = dup(sfd);
	if (sdup < 0)
		return kn_fail_errno(err, "dup for %s", shown);
	DIR *d = fdopendir(sdup);
	if (!d)
		return kn_fail_errno(err, "fdopendir %s", shown);
	sdup = -1;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d))) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") || (top && denied(n)))
			continue;
		if (!strcmp(n, "auth.conf") || !strcmp(n, "auth.conf.d"))
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", shown, n);
		struct stat st;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t l = readlinkat(dirfd(d), n, target, sizeof(target) - 1);
			if (l < 0)
				continue;
			target[l] = '\0';
			if (symlinkat(target, dfd, n) < 0)
				rc = kn_fail_errno(err, "symlink copy of %s", path);
		} else if (S_ISDIR(st.st_mode)) {
			if ((st.st_mode & 05) != 05)
				continue;
			if (mkdirat(dfd, n, st.st_mode & 0755) < 0) {
				rc = kn_fail_errno(err, "mkdir copy of %s", path);
				break;
			}
			_cleanup_close_ int s2 = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_close_ int d2 = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 < 0 || d2 < 0)
				rc = kn_fail_errno(err, "open %s", path);
			else
				rc = copy_readable_tree(s2, d2, path, 0, err);
		} else if (S_ISREG(st.st_mode) && (st.st_mode & 04)) {
			rc = copy_file(dirfd(d), n, dfd, st.st_mode, path, err);
		}
	}
	closedir(d);
	return rc;
}

/* Keep system accounts (id below 1000, plus nobody) so package scripts find
 * their users; drop human accounts and every password field. */
static char *filter_id_file(const char *path, const char *agent_line, kn_error *err)
{
	_cleanup_free_ char *data = NULL;
	if (kn_read_file(path, 1 << 22, &data, NULL, err) < 0)
		return NULL;
	/* Each line can grow by the "x" of an empty password field. */
	size_t cap = 2 * strlen(data) + strlen(agent_line) + 2;
	char *out = calloc(1, cap), *o = out;
	if (!out) {
		kn_fail(err, "out of memory filtering %s", path);
		return NULL;
	}
	int agent_taken = 0;
	for (char *save = NULL, *line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {0};
		char *p = line;
		for (int i = 0; i < 4 && p; i++) {
			f[i] = p;
			p = strchr(p, ':');
			if (p)
				p++;
		}
		if (!f[2] || !f[3])
			continue;
		long id = strtol(f[2], NULL, 10);
		if (id >= 1000 && id != 65534)
			continue;
		if (id == KN_AGENT_UID || !strncmp(line, "agent:", 6))
			agent_taken = 1;
		/* name:x:rest — the password field becomes "x" whatever it was. */
		size_t name_len = (size_t)(f[1] - f[0]);
		o += sprintf(o, "%.*sx:%s\n", (int)name_len, f[0], f[2]);
	}
	if (!agent_taken)
		o += sprintf(o, "%s\n", agent_line);
	return out;
}

int kn_base_passwd(char **passwd, char **group, kn_error *err)
{
	char agent_pw[128], agent_gr[64];
	snprintf(agent_pw, sizeof(agent_pw), "%s:x:%d:%d:kennel agent:%s:/bin/bash", KN_AGENT_NAME,
		 KN_AGENT_UID, KN_AGENT_UID, KN_AGENT_HOME);
	snprintf(agent_gr, sizeof(agent_gr), "%s:x:%d:", KN_AGENT_NAME, KN_AGENT_UID);
	*passwd = filter_id_file("/etc/passwd", agent_pw, err);
	if (!*passwd)
		return -1;
	*group = filter_id_file("/etc/group", agent_gr, err);
	if (!*group) {
		free(*passwd);
		*passwd = NULL;
		return -1;
	}
	return 0;
}

static int write_at(const char *dir, const char *name, const char *content, kn_error *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return kn_write_atomic(path, content, strlen(content), 0644, err);
}

static int build_into(const char *root, kn_error *err)
{
	char path[PATH_MAX];
	for (size_t i = 0; i < KN_ARRAY_SIZE(skeleton_dirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, skeleton_dirs[i]);
		if (kn_mkdir_p(path, 0755, err) < 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/tmp", root);
	chmod(path, 01777);
	snprintf(path, sizeof(path), "%s/var/tmp", root);
	chmod(path, 01777);
	snprintf(path, sizeof(path), "%s/root", root);
	chmod(path, 0700);
	for (size_t i = 0; i < KN_ARRAY_SIZE(merged_usr_links); i++) {
		char host[64], target[PATH_MAX];
		snprintf(host, sizeof(host), "/%s", merged_usr_links[i]);
		ssize_t l = readlink(host, target, sizeof(target) - 1);
		if (l < 0) {
			struct stat st;
			if (errno == ENOENT || (lstat(host, &st) == 0 && !S_ISDIR(st.st_mode)))
				continue;
			return kn_fail(err, "%s is a directory, not a link into /usr: kennel needs "
					    "a merged-/usr host (Debian 12 default) or --image",
				       host);
		}
		target[l] = '\0';
		snprintf(path, sizeof(path), "%s/%s", root, merged_usr_links[i]);
		if (symlink(target, path) < 0)
			return kn_fail_errno(err, "symlink %s", path);
	}
	snprintf(path, sizeof(path), "%s/etc", root);
	_cleanup_close_ int src = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int dst = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0 || dst < 0)
		return kn_fail_errno(err, "open /etc or %s", path);
	if (copy_readable_tree(src, dst, "/etc", 1, err) < 0)
		return -1;
	_cleanup_free_ char *pw = NULL, *gr = NULL;
	if (kn_base_passwd(&pw, &gr, err) < 0)
		return -1;
	if (write_at(path, "passwd", pw, err) < 0 || write_at(path, "group", gr, err) < 0)
		return -1;
	/* No DNS server is reachable from a sandbox: names resolve in the proxy. */
	if (write_at(path, "resolv.conf", "# kennel: no DNS inside the sandbox; the proxy resolves names\n", err) < 0)
		return -1;
	return 0;
}

int kn_base_build(const char *base_dir, kn_error *err)
{
	char root[PATH_MAX], tmp[PATH_MAX];
	snprintf(root, sizeof(root), "%s/root", base_dir);
	struct stat st;
	if (stat(root, &st) == 0)
		return 0;
	if (kn_mkdir_p(base_dir, 0711, err) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s/root.tmp.%d", base_dir, (int)getpid());
	if (kn_rm_rf(tmp, err) < 0)
		return -1;
	if (mkdir(tmp, 0755) < 0)
		return kn_fail_errno(err, "mkdir %s", tmp);
	if (build_into(tmp, err) < 0) {
		kn_error ignored;
		kn_rm_rf(tmp, &ignored);
		return kn_fail_prefix(err, "build sandbox base %s", root);
	}
	if (rename(tmp, root) < 0)
		return kn_fail_errno(err, "rename %s to %s", tmp, root);
	log_info("built sandbox base %s", root);
	return 0;
}
