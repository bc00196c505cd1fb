/* datadir.c — shipped data and JSON folders (contract: datadir.h). */
#define _GNU_SOURCE
#include "common/datadir.h"

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int usable(const char *path, enum kn_data_kind kind)
{
	struct stat st;
	if (kind == KN_DATA_FILE)
		return access(path, R_OK) == 0;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *kn_data_path(const char *rel, enum kn_data_kind kind, char *buf, size_t bufsz)
{
	const char *env = getenv("KENNEL_DATA_DIR");
	if (env && *env) {
		snprintf(buf, bufsz, "%s/%s", env, rel);
		return buf;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(buf, bufsz, "%s/../share/kennel/%s", dirname(exe), rel);
		if (usable(buf, kind))
			return buf;
	}
	static const char *const fixed[] = { "/usr/local/share/kennel", "/usr/share/kennel" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		snprintf(buf, bufsz, "%s/%s", fixed[i], rel);
		if (usable(buf, kind))
			return buf;
	}
	return NULL;
}

static int json_entry(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

int kn_each_json_file(const char *dir, int (*fn)(const char *path, void *arg, kn_error *err),
		      void *arg, kn_error *err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, json_entry, alphasort);
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (rc == 0)
			rc = fn(path, arg, err);
		free(names[i]);
	}
	free(names);
	return rc;
}
