/* agents.h — the agents kennel can run: data, not code.
 *
 * Contract: kn_agents_load reads, once at start, every *.json file of
 * share/kennel/agents where common/datadir.h finds it, then of
 * /etc/kennel/agents.d ($KENNEL_AGENTS_DIR for tests), in name order; an
 * agent from a later file replaces one of the same name. A file is one agent:
 *   {"name": N, "description": D?, "command": [ARG...], "env": {VAR: VALUE}?,
 *    "install": TEXT?, "hosts": [PATTERN...]?, "files": {PATH: CONTENT}?}
 *   name     [a-z0-9][a-z0-9_-]* of at most KN_AGENT_NAME_MAX bytes (it is
 *            part of default sandbox names);
 *   command  1..KN_AGENT_ARGS_MAX strings: what `kennel run` starts, ARGS
 *            appended; a bare name is looked up in the sandbox's PATH;
 *   env      set for the agent's command (its unattended-mode switches);
 *            names [A-Za-z_][A-Za-z0-9_]*, values printable ASCII;
 *   install  how to install the command when the sandbox lacks it (shown by
 *            `kennel run` when the command is not found);
 *   hosts    the agent's API hosts (policy host patterns, at most
 *            KN_AGENT_HOSTS_MAX): a new sandbox of this agent gets them as
 *            allow-host rules (kn_agent_policy);
 *   files    first-run files for the agent's home (sandbox/home.h): PATH
 *            relative to the home, CONTENT a string written as it is or JSON
 *            written as JSON; at most KN_AGENT_FILES_MAX.
 * A file that does not parse or check stops the daemon, naming the file and
 * the field. "shell" (/bin/bash -l) always exists: it is built in when no file
 * defines it. kn_agent_find returns an agent or NULL; kn_agent_names lists
 * them for error messages.
 *
 * kn_agent_policy: the policy of a new sandbox of agent `a` made from the
 * daemon's default policy `base` (canonical JSON): the agent's hosts added
 * to allow_hosts, except a host the policy already names as it is (allowed,
 * or blocked on purpose: the operator's block stands). A new reference. */
#ifndef KENNEL_AGENTS_H
#define KENNEL_AGENTS_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"
#include "sandbox/home.h"

#define KN_AGENT_NAME_MAX 32
/* An agent's command line is a binary and a few flags. */
#define KN_AGENT_ARGS_MAX 32
/* An agent file is a few hundred bytes. */
#define KN_AGENT_FILE_MAX (64 * 1024)
/* A vendor's API and auth hosts: a handful. */
#define KN_AGENT_HOSTS_MAX 16
/* Settings files of one tool: a handful. */
#define KN_AGENT_FILES_MAX 16
#define KN_AGENTS_ETC_DIR "/etc/kennel/agents.d"

struct kn_agent {
	char *name;
	char *description;
	char **command; /* NULL-terminated */
	char **env;     /* "VAR=VALUE", NULL-terminated */
	char *install;  /* or NULL */
	char **hosts;   /* canonical allow-host patterns, NULL-terminated */
	struct kn_home_file *files;
	size_t n_files;
};

int kn_agents_load(kn_error *err);
const struct kn_agent *kn_agent_find(const char *name);
/* "claude, codex, gemini, shell" into buf. */
void kn_agent_names(char *buf, size_t bufsz);
void kn_agents_free(void);
json_t *kn_agent_policy(const struct kn_agent *a, json_t *base);

#endif
