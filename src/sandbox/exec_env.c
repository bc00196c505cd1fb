#define _GNU_SOURCE
#include "sandbox/exec_env.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/landlock.h"
#include "sandbox/netns.h"
#include "sandbox/trust.h"

const char *kn_exec_workdir(const struct kn_sandbox_spec *s, const struct kn_exec_spec *ex)
{
	return ex->workdir ? ex->workdir : s->n_workspaces ? s->workspaces[0].path : "/";
}

static int env_has(char **env, size_t n, const char *entry)
{
	size_t klen = strcspn(entry, "=");
	for (size_t i = 0; i < n; i++)
		if (!strncmp(env[i], entry, klen) && env[i][klen] == '=')
			return 1;
	return 0;
}

void kn_exec_env(const struct kn_sandbox_spec *s, const struct kn_exec_spec *ex, char *env[KN_EXEC_MAX_ENV])
{
	static char home[64], user[64], host[128], term[64];
	const int root = ex->uid == 0;
	size_t n = 0;
	for (size_t i = 0; ex->env && ex->env[i] && n < KN_EXEC_MAX_ENV - KN_EXEC_ENV_RESERVED; i++)
		if (strchr(ex->env[i], '='))
			env[n++] = ex->env[i];
	snprintf(home, sizeof(home), "HOME=%s", root ? "/root" : KN_AGENT_HOME);
	snprintf(user, sizeof(user), "USER=%s", root ? "root" : KN_AGENT_NAME);
	snprintf(host, sizeof(host), "HOSTNAME=%s", s->name);
	snprintf(term, sizeof(term), "TERM=%s", ex->tty ? "xterm-256color" : "dumb");
	char *defaults[] = {"PATH=" KN_EXEC_PATH, home, user, root ? "LOGNAME=root" : "LOGNAME=" KN_AGENT_NAME,
			    "SHELL=/bin/bash", host, term, "LANG=C.UTF-8", "KENNEL_SANDBOX=1", NULL};
	for (size_t i = 0; defaults[i]; i++)
		if (!env_has(env, n, defaults[i]))
			env[n++] = defaults[i];
	for (size_t i = 0; kn_proxy_env[i]; i++)
		if (!env_has(env, n, kn_proxy_env[i]))
			env[n++] = (char *)kn_proxy_env[i];
	for (size_t i = 0; s->has_ca && kn_trust_env[i]; i++)
		if (!env_has(env, n, kn_trust_env[i]))
			env[n++] = (char *)kn_trust_env[i];
	env[n] = NULL;
}

int kn_exec_landlock_ruleset(const struct kn_sandbox_spec *s, int *fd, kn_error *err)
{
	static const char *const writable[] = {"/tmp", "/var", "/home", "/root", "/usr", "/etc",
					       "/opt", "/srv", "/mnt", "/media", "/run", "/dev/shm"};
	const char *rw[KN_MAX_WORKSPACES + KN_ARRAY_SIZE(writable) + 1];
	size_t n = 0;
	for (size_t i = 0; i < KN_ARRAY_SIZE(writable); i++)
		if (access(writable[i], F_OK) == 0)
			rw[n++] = writable[i];
	for (size_t i = 0; i < s->n_workspaces; i++)
		if (!s->workspaces[i].readonly)
			rw[n++] = s->workspaces[i].path;
	rw[n] = NULL;
	static const char *const ro[] = {"/", NULL};
	struct kn_landlock_rules rules = {.writable = rw, .readonly = ro};
	return kn_landlock_ruleset(&rules, fd, err);
}
