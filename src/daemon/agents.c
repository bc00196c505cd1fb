/* agents.c — the agents table (contract: agents.h). */
#define _GNU_SOURCE
#include "daemon/agents.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/datadir.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/util.h"
#include "policy/hostpattern.h"

static struct kn_agent *agents;
static size_t n_agents;

static const char *const shell_command[] = { "/bin/bash", "-l", NULL };

static char **strv_dup(const char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	char **out = calloc(n + 1, sizeof(char *));
	for (size_t i = 0; out && i < n; i++)
		if (!(out[i] = strdup(v[i]))) {
			for (size_t k = 0; k < i; k++)
				free(out[k]);
			free(out);
			return NULL;
		}
	return out;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void agent_clear(struct kn_agent *a)
{
	free(a->name);
	free(a->description);
	strv_free(a->command);
	strv_free(a->env);
	free(a->install);
	strv_free(a->hosts);
	for (size_t i = 0; i < a->n_files; i++) {
		free((char *)a->files[i].path);
		free((char *)a->files[i].content);
	}
	free(a->files);
	memset(a, 0, sizeof(*a));
}

void kn_agents_free(void)
{
	for (size_t i = 0; i < n_agents; i++)
		agent_clear(&agents[i]);
	free(agents);
	agents = NULL;
	n_agents = 0;
}

const struct kn_agent *kn_agent_find(const char *name)
{
	for (size_t i = 0; name && i < n_agents; i++)
		if (!strcmp(agents[i].name, name))
			return &agents[i];
	return NULL;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct kn_agent *)a)->name, ((const struct kn_agent *)b)->name);
}

void kn_agent_names(char *buf, size_t bufsz)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n_agents && off < bufsz; i++)
		off += (size_t)snprintf(buf + off, bufsz - off, "%s%s", i ? ", " : "", agents[i].name);
}

static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static int name_ok(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > KN_AGENT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_')))
			return 0;
	}
	return 1;
}

static int var_ok(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* "hosts": canonical patterns into a->hosts. */
static int parse_hosts(const char *path, json_t *hosts, struct kn_agent *a, kn_error *err)
{
	size_t n = hosts ? json_array_size(hosts) : 0;
	if (hosts && (!json_is_array(hosts) || n > KN_AGENT_HOSTS_MAX))
		return kn_fail(err, "%s: \"hosts\" must be a list of at most %d host patterns", path,
			       KN_AGENT_HOSTS_MAX);
	if (!(a->hosts = calloc(n + 1, sizeof(char *))))
		return kn_fail(err, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *pat = json_string_value(json_array_get(hosts, i)), *reason = NULL;
		struct kn_host_pattern hp;
		if (!pat || kn_host_pattern_parse(pat, strlen(pat), &hp, &reason) < 0)
			return kn_fail(err, "%s: hosts[%zu]: %s", path, i,
				       reason ? reason : "not a string");
		char canon[KN_HOST_PATTERN_STRLEN];
		kn_host_pattern_format(&hp, canon, sizeof(canon));
		if (!(a->hosts[i] = strdup(canon)))
			return kn_fail(err, "out of memory");
	}
	return 0;
}

/* "files": PATH -> string (as it is) or JSON (dumped) into a->files. */
static int parse_files(const char *path, json_t *files, struct kn_agent *a, kn_error *err)
{
	if (!files)
		return 0;
	if (!json_is_object(files) || json_object_size(files) > KN_AGENT_FILES_MAX)
		return kn_fail(err, "%s: \"files\" must be an object of at most %d paths to contents",
			       path, KN_AGENT_FILES_MAX);
	if (!(a->files = calloc(json_object_size(files), sizeof(*a->files))))
		return kn_fail(err, "out of memory");
	const char *rel;
	json_t *v;
	json_object_foreach(files, rel, v) {
		if (!kn_home_path_ok(rel))
			return kn_fail(err, "%s: files \"%.64s\": not a relative path below the home "
				       "([A-Za-z0-9._-] names, no '.' or '..', at most %d deep)",
				       path, rel, KN_HOME_DEPTH_MAX);
		char *text = NULL;
		if (json_is_string(v)) {
			text = strdup(json_string_value(v));
		} else {
			char *dumped = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
			if (dumped && asprintf(&text, "%s\n", dumped) < 0)
				text = NULL;
			free(dumped);
		}
		struct kn_home_file *f = &a->files[a->n_files];
		if (!text || !(f->path = strdup(rel))) {
			free(text);
			return kn_fail(err, "out of memory");
		}
		f->content = text;
		f->len = strlen(text);
		a->n_files++;
		if (f->len > KN_HOME_FILE_MAX)
			return kn_fail(err, "%s: files \"%.64s\": over %d bytes", path, rel,
				       KN_HOME_FILE_MAX);
	}
	return 0;
}

/* One file into `a`; 0 or -1 naming the file and field. */
static int parse_agent(const char *path, struct kn_agent *a, kn_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (kn_read_file(path, KN_AGENT_FILE_MAX, &text, &len, err) < 0)
		return -1;
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return kn_fail(err, "%s:%d: %s", path, jerr.line, jerr.text);
	int rc = -1;
	const char *key;
	json_t *v;
	if (!json_is_object(doc)) {
		kn_fail(err, "%s: an agent is a JSON object", path);
		goto out;
	}
	json_object_foreach(doc, key, v) {
		static const char *const known[] = { "name", "description", "command", "env",
						     "install", "hosts", "files" };
		int ok = 0;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= !strcmp(key, known[i]);
		if (!ok) {
			kn_fail(err, "%s: unknown field \"%.64s\"", path, key);
			goto out;
		}
	}
	const char *name = json_string_value(json_object_get(doc, "name"));
	if (!name || !name_ok(name)) {
		kn_fail(err, "%s: \"name\" must be [a-z0-9][a-z0-9_-]* of at most %d characters",
			path, KN_AGENT_NAME_MAX);
		goto out;
	}
	json_t *cmd = json_object_get(doc, "command");
	if (!json_is_array(cmd) || json_array_size(cmd) == 0 ||
	    json_array_size(cmd) > KN_AGENT_ARGS_MAX) {
		kn_fail(err, "%s: \"command\" must be a list of 1 to %d strings", path,
			KN_AGENT_ARGS_MAX);
		goto out;
	}
	const char *argv[KN_AGENT_ARGS_MAX + 1] = { 0 };
	size_t i;
	json_array_foreach(cmd, i, v) {
		argv[i] = json_string_value(v);
		if (!argv[i] || !*argv[i] || !printable(argv[i])) {
			kn_fail(err, "%s: command[%zu] must be a non-empty printable string", path, i);
			goto out;
		}
	}
	json_t *env = json_object_get(doc, "env");
	if (env && !json_is_object(env)) {
		kn_fail(err, "%s: \"env\" must be an object of names to values", path);
		goto out;
	}
	size_t n_env = env ? json_object_size(env) : 0;
	char **envv = calloc(n_env + 1, sizeof(char *));
	size_t k = 0;
	a->env = envv;
	json_object_foreach(env, key, v) {
		const char *val = json_string_value(v);
		if (!var_ok(key) || !val || !printable(val)) {
			kn_fail(err, "%s: env %.64s: a variable name and a printable string value",
				path, key);
			goto out;
		}
		if (envv && asprintf(&envv[k++], "%s=%s", key, val) < 0)
			envv[--k] = NULL;
	}
	json_t *install = json_object_get(doc, "install");
	json_t *desc = json_object_get(doc, "description");
	if ((install && (!json_is_string(install) || !printable(json_string_value(install)))) ||
	    (desc && (!json_is_string(desc) || !printable(json_string_value(desc))))) {
		kn_fail(err, "%s: \"install\" and \"description\" must be printable strings", path);
		goto out;
	}
	if (parse_hosts(path, json_object_get(doc, "hosts"), a, err) < 0 ||
	    parse_files(path, json_object_get(doc, "files"), a, err) < 0)
		goto out;
	a->name = strdup(name);
	a->command = strv_dup(argv);
	a->install = install ? strdup(json_string_value(install)) : NULL;
	a->description = desc ? strdup(json_string_value(desc)) : NULL;
	if (!a->name || !a->command || !envv || k != n_env || (install && !a->install) ||
	    (desc && !a->description)) {
		kn_fail(err, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(doc);
	if (rc < 0)
		agent_clear(a);
	return rc;
}

static int add_agent(struct kn_agent *a, kn_error *err)
{
	for (size_t i = 0; i < n_agents; i++)
		if (!strcmp(agents[i].name, a->name)) {
			agent_clear(&agents[i]);
			agents[i] = *a;
			return 0;
		}
	struct kn_agent *grown = realloc(agents, (n_agents + 1) * sizeof(*grown));
	if (!grown) {
		agent_clear(a);
		return kn_fail(err, "out of memory");
	}
	agents = grown;
	agents[n_agents++] = *a;
	return 0;
}

static int load_agent(const char *path, void *arg, kn_error *err)
{
	(void)arg;
	struct kn_agent a = { 0 };
	if (parse_agent(path, &a, err) < 0)
		return -1;
	return add_agent(&a, err);
}

int kn_agents_load(kn_error *err)
{
	char buf[PATH_MAX];
	kn_agents_free();
	struct kn_agent shell = { .name = strdup("shell"),
				  .description = strdup("a login shell"),
				  .command = strv_dup(shell_command),
				  .env = calloc(1, sizeof(char *)),
				  .hosts = calloc(1, sizeof(char *)) };
	if (!shell.name || !shell.description || !shell.command || !shell.env || !shell.hosts) {
		agent_clear(&shell);
		return kn_fail(err, "out of memory");
	}
	if (add_agent(&shell, err) < 0)
		return -1;
	const char *data = kn_data_path("agents", KN_DATA_DIR, buf, sizeof(buf));
	if (data && kn_each_json_file(data, load_agent, NULL, err) < 0)
		return -1;
	const char *etc = getenv("KENNEL_AGENTS_DIR");
	if (kn_each_json_file(etc && *etc ? etc : KN_AGENTS_ETC_DIR, load_agent, NULL, err) < 0)
		return -1;
	qsort(agents, n_agents, sizeof(*agents), by_name);
	char names[1024];
	kn_agent_names(names, sizeof(names));
	log_info("agents: %s", names);
	return 0;
}

static int listed(json_t *list, const char *pattern)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), pattern))
			return 1;
	}
	return 0;
}

json_t *kn_agent_policy(const struct kn_agent *a, json_t *base)
{
	if (!a || !a->hosts[0])
		return json_incref(base);
	json_t *p = json_deep_copy(base);
	json_t *allow = p ? json_object_get(p, "allow_hosts") : NULL;
	json_t *block = p ? json_object_get(p, "block_hosts") : NULL;
	if (!json_is_array(allow)) {
		json_decref(p);
		return NULL;
	}
	for (char **h = a->hosts; *h; h++)
		if (!listed(allow, *h) && !listed(block, *h) && json_array_append_new(allow, json_string(*h)) < 0) {
			json_decref(p);
			return NULL;
		}
	return p;
}
