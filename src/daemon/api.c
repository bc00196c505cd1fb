#define _GNU_SOURCE
#include "daemon/api.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/manager.h"
#include "daemon/netlog.h"
#include "daemon/secrets.h"
#include "sandbox/vm.h"
#include "sandbox/vm_exec.h"

/* argv and env entries accepted in one exec request: far above what a shell
 * accepts on a command line, low enough to bound the daemon's work. */
#define KN_EXEC_MAX_ARGS 4096
/* Enough for a big parallel build (make -j, node workers), small enough that
 * a fork bomb stops long before the host's pid space is in danger. */
#define KN_DEFAULT_PIDS 4096

/* Half the machine's memory: an agent's runaway process cannot take the host
 * down with it, and a big build still fits. */
static uint64_t kn_default_memory_limit(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size / 2 : 0;
}

static void respond_json(struct kn_api_response *r, int status, json_t *j)
{
	r->status = status;
	r->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

char *kn_api_error_body(const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static void respond_error(struct kn_api_response *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void respond_error(struct kn_api_response *r, int status, const char *fmt, ...)
{
	char msg[KN_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = status;
	r->body = kn_api_error_body(msg);
	log_debug("api: %d %s", status, msg);
}

static int status_for(const kn_error *err)
{
	switch (err->errnum) {
	case ENOENT: return 404;
	case EEXIST: return 409;
	case EBUSY: return 409;
	case EINVAL: return 400;
	default: return 500;
	}
}

static void respond_kn_error(struct kn_api_response *r, const kn_error *err)
{
	int status = status_for(err);
	if (status == 500)
		log_error("%s", err->msg);
	respond_error(r, status, "%s", err->msg);
}

static json_t *sandbox_json(const struct kn_sandbox *sb)
{
	json_t *j = kn_sandbox_config_json(sb);
	json_object_set_new(j, "status", json_string(sb->init_pid ? "running" : "stopped"));
	json_object_set_new(j, "pid", sb->init_pid ? json_integer(sb->init_pid) : json_null());
	json_t *cmd = json_array(), *env = json_array();
	const struct kn_agent *a = kn_agent_find(sb->agent);
	for (size_t i = 0; a && a->command[i]; i++)
		json_array_append_new(cmd, json_string(a->command[i]));
	for (size_t i = 0; a && a->env[i]; i++)
		json_array_append_new(env, json_string(a->env[i]));
	json_object_set_new(j, "command", cmd);
	json_object_set_new(j, "command_env", env);
	json_object_set_new(j, "install", a && a->install ? json_string(a->install) : json_null());
	json_object_set_new(j, "state_dir", json_string(sb->dir));
	json_t *ca = json_null();
	if (sb->has_ca) {
		char cert[PATH_MAX + 16];
		snprintf(cert, sizeof(cert), "%s/%s", sb->dir, KN_CA_CERT_FILE);
		ca = json_pack("{s:s,s:s}", "cert", cert, "sha256", sb->ca.fingerprint);
	}
	json_object_set_new(j, "ca", ca);
	if (sb->vm) {
		char console[PATH_MAX + 16];
		snprintf(console, sizeof(console), "%s/%s", sb->dir, KN_VM_CONSOLE_LOG);
		json_object_set_new(j, "vm", json_pack("{s:i,s:I,s:s,s:s}", "vcpus",
						       (int)kn_vm_vcpus(sb->limits.cpus), "ram_mib",
						       (json_int_t)kn_vm_ram_mib(sb->limits.memory_bytes),
						       "accel", kn_vm_kvm_usable() ? "kvm" : "tcg",
						       "console", console));
	}
	return j;
}

static json_t *parse_body(struct kn_api_response *r, const char *body, size_t len)
{
	json_error_t je;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		respond_error(r, 400, "invalid JSON body: %s (line %d)", je.text, je.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		respond_error(r, 400, "JSON body must be an object");
		return NULL;
	}
	return j;
}

/* One field of a request object: its name, the JSON types it may have, and
 * whether it must be there. */
struct field_spec {
	const char *name;
	const char *type; /* "string", "boolean", "integer", "number", "array", "object" */
	int required;
};

static int type_matches(json_t *v, const char *type)
{
	if (!strcmp(type, "string"))
		return json_is_string(v);
	if (!strcmp(type, "boolean"))
		return json_is_boolean(v);
	if (!strcmp(type, "integer"))
		return json_is_integer(v) || json_is_null(v);
	if (!strcmp(type, "number"))
		return json_is_number(v) || json_is_null(v);
	if (!strcmp(type, "array"))
		return json_is_array(v);
	return json_is_object(v);
}

/* Checks `obj` against `spec`: unknown, missing and mistyped fields are named
 * in the 400 answer. Returns 0 when the object fits. */
static int check_fields(struct kn_api_response *r, const char *what, json_t *obj,
			const struct field_spec *spec, size_t n)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		size_t i = 0;
		while (i < n && strcmp(spec[i].name, key))
			i++;
		if (i == n) {
			respond_error(r, 400, "%s: unknown field '%.64s'", what, key);
			return -1;
		}
		if (!type_matches(v, spec[i].type)) {
			respond_error(r, 400, "%s: field '%s' must be %s %s", what, key,
				      spec[i].type[0] == 'a' || spec[i].type[0] == 'i' || spec[i].type[0] == 'o' ? "an" : "a",
				      spec[i].type);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (spec[i].required && !json_object_get(obj, spec[i].name)) {
			respond_error(r, 400, "%s: missing field '%s'", what, spec[i].name);
			return -1;
		}
	return 0;
}

static const struct field_spec create_fields[] = {
	{"name", "string", 0},    {"agent", "string", 1},  {"workspaces", "array", 1},
	{"image", "string", 0},   {"cpus", "number", 0},   {"memory", "integer", 0},
	{"pids", "integer", 0},   {"isolation", "string", 0},
};

static const struct field_spec exec_fields[] = {
	{"cmd", "array", 1},          {"env", "array", 0},         {"user", "string", 0},
	{"workdir", "string", 0},     {"tty", "boolean", 0},       {"interactive", "boolean", 0},
	{"detach", "boolean", 0},     {"rows", "integer", 0},      {"cols", "integer", 0},
};

static void handle_create(struct kn_store *st, const char *body, size_t len, struct kn_api_response *r)
{
	json_t *j = parse_body(r, body, len);
	if (!j)
		return;
	struct kn_create_req req;
	memset(&req, 0, sizeof(req));
	json_t *ws = NULL, *cpus = NULL, *mem = NULL, *pids = NULL;
	const char *isolation = NULL;
	json_error_t je;
	if (check_fields(r, "create request", j, create_fields, KN_ARRAY_SIZE(create_fields)) < 0)
		goto out;
	if (json_unpack_ex(j, &je, JSON_STRICT, "{s?s,s:s,s:o,s?s,s?o,s?o,s?o,s?s}", "name", &req.name,
			   "agent", &req.agent, "workspaces", &ws, "image", &req.image, "cpus", &cpus,
			   "memory", &mem, "pids", &pids, "isolation", &isolation) < 0) {
		respond_error(r, 400, "create request: %s", je.text);
		goto out;
	}
	if (isolation && strcmp(isolation, "ns") && strcmp(isolation, "vm")) {
		respond_error(r, 400, "isolation must be \"ns\" or \"vm\"");
		goto out;
	}
	req.vm = isolation ? !strcmp(isolation, "vm") : st->default_vm;
	if (!json_is_array(ws) || json_array_size(ws) == 0 || json_array_size(ws) > KN_MAX_WORKSPACES) {
		respond_error(r, 400, "workspaces must be a list of 1 to %d entries", KN_MAX_WORKSPACES);
		goto out;
	}
	size_t i;
	json_t *w;
	json_array_foreach(ws, i, w) {
		const char *path;
		int ro = 0;
		if (json_unpack_ex(w, &je, JSON_STRICT, "{s:s,s?b}", "path", &path, "readonly", &ro) < 0) {
			respond_error(r, 400, "workspace %zu: %s", i, je.text);
			goto out;
		}
		if (strlen(path) >= sizeof(req.workspaces[0].path)) {
			respond_error(r, 400, "workspace %zu: path too long", i);
			goto out;
		}
		snprintf(req.workspaces[i].path, sizeof(req.workspaces[i].path), "%s", path);
		req.workspaces[i].readonly = ro;
		req.n_workspaces++;
	}
	if ((cpus && !json_is_null(cpus) && !json_is_number(cpus)) ||
	    (mem && !json_is_null(mem) && !json_is_integer(mem)) ||
	    (pids && !json_is_null(pids) && !json_is_integer(pids))) {
		respond_error(r, 400, "cpus must be a number, memory and pids integers");
		goto out;
	}
	if ((mem && json_is_integer(mem) && json_integer_value(mem) < 0) ||
	    (pids && json_is_integer(pids) && json_integer_value(pids) < 0)) {
		respond_error(r, 400, "memory and pids must not be negative");
		goto out;
	}
	/* Absent limits get safe defaults; an explicit 0 means "no limit". */
	req.limits.cpus = cpus && json_is_number(cpus) ? json_number_value(cpus) : 0;
	req.limits.memory_bytes = mem && json_is_integer(mem) ? (uint64_t)json_integer_value(mem)
				  : req.vm ? (uint64_t)KN_VM_DEFAULT_RAM_MIB << 20 /* the guest's RAM, see vm.h */
				  : kn_default_memory_limit();
	req.limits.pids = pids && json_is_integer(pids) ? (uint64_t)json_integer_value(pids)
							: KN_DEFAULT_PIDS;
	struct kn_sandbox *sb;
	kn_error err = {0};
	if (kn_mgr_create(st, &req, &sb, &err) < 0)
		respond_kn_error(r, &err);
	else
		respond_json(r, 201, sandbox_json(sb));
out:
	json_decref(j);
}

static int parse_user(json_t *u, uid_t *uid)
{
	if (!u || json_is_null(u)) {
		*uid = KN_AGENT_UID;
		return 0;
	}
	if (!json_is_string(u))
		return -1;
	const char *s = json_string_value(u);
	if (!strcmp(s, "agent") || !strcmp(s, "")) {
		*uid = KN_AGENT_UID;
		return 0;
	}
	if (!strcmp(s, "root")) {
		*uid = 0;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v >= 65534)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

static char **string_list(json_t *arr, size_t max, int need_one)
{
	if (arr && !json_is_array(arr))
		return NULL;
	size_t n = arr ? json_array_size(arr) : 0;
	if (n > max || (need_one && n == 0))
		return NULL;
	char **v = calloc(n + 1, sizeof(char *));
	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		if (!json_is_string(e)) {
			free(v);
			return NULL;
		}
		v[i] = (char *)json_string_value(e);
	}
	return v;
}

static void handle_exec(struct kn_store *st, struct kn_sandbox *sb, const char *body, size_t len,
			struct kn_api_response *r)
{
	json_t *j = parse_body(r, body, len);
	if (!j)
		return;
	json_t *cmd = NULL, *env = NULL, *user = NULL;
	const char *workdir = NULL;
	int tty = 0, interactive = 0, detach = 0, rows = 0, cols = 0;
	json_error_t je;
	char **argv = NULL, **envv = NULL;
	int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	if (check_fields(r, "exec request", j, exec_fields, KN_ARRAY_SIZE(exec_fields)) < 0)
		goto out;
	if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o,s?o,s?o,s?s,s?b,s?b,s?b,s?i,s?i}", "cmd", &cmd,
			   "env", &env, "user", &user, "workdir", &workdir, "tty", &tty, "interactive",
			   &interactive, "detach", &detach, "rows", &rows, "cols", &cols) < 0) {
		respond_error(r, 400, "exec request: %s", je.text);
		goto out;
	}
	argv = string_list(cmd, KN_EXEC_MAX_ARGS, 1);
	envv = string_list(env, KN_EXEC_MAX_ARGS, 0);
	if (!argv || !envv) {
		respond_error(r, 400, "cmd must be a non-empty list of strings and env a list of K=V strings");
		goto out;
	}
	for (size_t i = 0; envv[i]; i++)
		if (!strchr(envv[i], '=') || envv[i][0] == '=') {
			respond_error(r, 400, "env entry '%s' is not NAME=VALUE", envv[i]);
			goto out;
		}
	if (workdir && workdir[0] != '/') {
		respond_error(r, 400, "workdir must be an absolute path");
		goto out;
	}
	uid_t uid;
	if (parse_user(user, &uid) < 0) {
		respond_error(r, 400, "user must be \"agent\", \"root\" or a uid below 65534");
		goto out;
	}
	if (rows < 0 || rows > 0xffff || cols < 0 || cols > 0xffff) {
		respond_error(r, 400, "rows and cols must be between 0 and 65535");
		goto out;
	}
	kn_error err = {0};
	if (!sb->init_pid && kn_mgr_start(st, sb, &err) < 0) {
		respond_kn_error(r, &err);
		goto out;
	}
	struct kn_exec_spec ex = {.argv = argv, .env = envv, .uid = uid, .gid = uid,
				  .workdir = workdir, .tty = tty && !detach, .rows = (unsigned short)rows,
				  .cols = (unsigned short)cols, .stdio = {-1, -1, -1}};
	int devnull = -1;
	if (!ex.tty) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int i = 0; i < 3; i++) {
			int want_pipe = !detach && (i > 0 || interactive);
			if (want_pipe && pipe2(pipes[i], O_CLOEXEC) < 0) {
				kn_fail_errno(&err, "pipe2 for exec");
				respond_kn_error(r, &err);
				goto out_null;
			}
			ex.stdio[i] = want_pipe ? pipes[i][i == 0 ? 0 : 1] : devnull;
		}
	}
	struct kn_sandbox_spec spec;
	kn_store_spec(st, sb, &spec);
	struct kn_exec_result res;
	if ((sb->vm ? kn_vm_exec : kn_ns_exec)(&spec, sb->init_pid, &sb->cg, &ex, &res, &err) < 0) {
		respond_kn_error(r, &err);
		goto out_null;
	}
	log_info("exec in %s: pid %d uid %u%s: %s", sb->name, (int)res.pid, (unsigned)uid,
		 ex.tty ? " tty" : "", argv[0]);
	r->is_session = res.is_session;
	if (detach) {
		r->reap_pidfd = res.helper_pidfd;
		respond_json(r, 200, json_pack("{s:i}", "pid", (int)res.pid));
		goto out_null;
	}
	r->is_exec_stream = 1;
	r->status = 200;
	r->helper_pidfd = res.helper_pidfd;
	json_t *fdnames = json_array();
	if (ex.tty) {
		r->fds[r->n_fds++] = res.pty_master;
		json_array_append_new(fdnames, json_string("pty"));
	} else {
		static const char *const names[] = {"stdin", "stdout", "stderr"};
		for (int i = 0; i < 3; i++) {
			if (pipes[i][0] < 0)
				continue;
			r->fds[r->n_fds++] = steal_fd(&pipes[i][i == 0 ? 1 : 0]);
			json_array_append_new(fdnames, json_string(names[i]));
		}
	}
	respond_json(r, 200, json_pack("{s:s,s:i,s:o}", "event", "started", "pid", (int)res.pid, "fds", fdnames));
	r->is_exec_stream = 1;
out_null:
	if (devnull >= 0)
		close(devnull);
out:
	for (int i = 0; i < 3; i++) {
		kn_closep(&pipes[i][0]);
		kn_closep(&pipes[i][1]);
	}
	free(argv);
	free(envv);
	json_decref(j);
}

/* A query parameter's value ("a=1&sandbox=x" -> "x"); NULL when absent. */
static const char *query_param(const char *query, const char *key, char *buf, size_t bufsz)
{
	size_t klen = strlen(key);
	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, key, klen) || (p[klen] != '=' && p[klen] != '&' && p[klen] != '\0'))
			continue;
		const char *v = p[klen] == '=' ? p + klen + 1 : p + klen;
		size_t n = strcspn(v, "&");
		if (n >= bufsz)
			return NULL;
		memcpy(buf, v, n);
		buf[n] = '\0';
		return buf;
	}
	return NULL;
}

static json_t *proxyconfig_json(const char *name, json_t *policy)
{
	return json_pack("{s:o,s:O}", "sandbox", name ? json_string(name) : json_null(), "policy", policy);
}

/* GET/POST /network/proxyconfig: a sandbox's policy, or the default for new ones. */
static void handle_proxyconfig(struct kn_store *st, int post, const char *query, const char *body,
			       size_t len, struct kn_api_response *r)
{
	char namebuf[KN_NAME_MAX + 2];
	const char *name = NULL, *reason;
	json_t *j = NULL, *canon = NULL;
	if (post) {
		if (!(j = parse_body(r, body, len)))
			return;
		json_t *sbj = json_object_get(j, "sandbox"), *pol = json_object_get(j, "policy");
		if ((sbj && !json_is_null(sbj) && !json_is_string(sbj)) || !pol ||
		    json_object_size(j) != (size_t)(1 + (sbj != NULL))) {
			respond_error(r, 400, "body must be {\"sandbox\": NAME or null, \"policy\": {...}}");
			goto out;
		}
		name = json_is_string(sbj) ? json_string_value(sbj) : NULL;
		kn_error err = {0};
		if (!(canon = kn_policy_canonical(pol, &err))) {
			respond_error(r, 400, "invalid policy: %s", err.msg);
			goto out;
		}
	} else {
		name = query ? query_param(query, "sandbox", namebuf, sizeof(namebuf)) : NULL;
	}
	if (!name) {
		kn_error err = {0};
		if (canon && kn_store_save_default_policy(st, canon, &err) < 0) {
			respond_kn_error(r, &err);
			goto out;
		}
		respond_json(r, 200, proxyconfig_json(NULL, st->default_policy));
		goto out;
	}
	if (!kn_name_valid(name, &reason)) {
		respond_error(r, 400, "invalid sandbox name: %s", reason);
		goto out;
	}
	struct kn_sandbox *sb = kn_store_find(st, name);
	if (!sb) {
		respond_error(r, 404, "no such sandbox: %s", name);
		goto out;
	}
	kn_error err = {0};
	if (canon && kn_mgr_set_policy(st, sb, canon, &err) < 0) {
		respond_kn_error(r, &err);
		goto out;
	}
	respond_json(r, 200, proxyconfig_json(sb->name, sb->policy));
out:
	json_decref(canon);
	json_decref(j);
}

/* GET /network/log?sandbox=NAME&limit=N or ?cursor=C: decision log entries. */
static void handle_netlog(struct kn_store *st, const char *query, struct kn_api_response *r)
{
	char sbuf[KN_NAME_MAX + 2], lbuf[16], cbuf[64];
	const char *sandbox = query ? query_param(query, "sandbox", sbuf, sizeof(sbuf)) : NULL;
	const char *limit_s = query ? query_param(query, "limit", lbuf, sizeof(lbuf)) : NULL;
	const char *cursor = query ? query_param(query, "cursor", cbuf, sizeof(cbuf)) : NULL;
	const char *reason;
	if (sandbox && !kn_name_valid(sandbox, &reason))
		return respond_error(r, 400, "invalid sandbox name: %s", reason);
	if (sandbox && !kn_store_find(st, sandbox))
		return respond_error(r, 404, "no such sandbox: %s", sandbox);
	long limit = 100;
	if (limit_s) {
		char *end;
		limit = strtol(limit_s, &end, 10);
		if (*end || end == limit_s || limit < 1 || limit > KN_NETLOG_MAX_LIMIT)
			return respond_error(r, 400, "limit must be 1 to %d", KN_NETLOG_MAX_LIMIT);
	}
	char log_path[PATH_MAX];
	snprintf(log_path, sizeof(log_path), "%s/proxy/decisions.log", st->state_dir);
	kn_error err = {0};
	json_t *j = kn_netlog_read(log_path, sandbox, (size_t)limit, cursor, &err);
	if (!j)
		return respond_kn_error(r, &err);
	respond_json(r, 200, j);
}

/* /secrets and /secrets/NAME: the credential store (secrets.h). Values go
 * in with PUT and never come out. */
static void handle_secrets(struct kn_store *st, const char *method, const char *name,
			   const char *body, size_t len, struct kn_api_response *r)
{
	int get = !strcmp(method, "GET"), put = !strcmp(method, "PUT"), del = !strcmp(method, "DELETE");
	const char *reason;
	if (!name) {
		if (!get)
			return respond_error(r, 405, "use GET for /secrets");
		return respond_json(r, 200, json_pack("{s:o}", "secrets", kn_secrets_public(st)));
	}
	if (!kn_secret_name_valid(name, &reason))
		return respond_error(r, 400, "invalid secret name in path: %s", reason);
	kn_error err = {0};
	if (get || del) {
		json_t *s = kn_secrets_find(st, name);
		if (!s)
			return respond_error(r, 404, "no such secret: %s", name);
		if (get)
			return respond_json(r, 200, kn_secret_public(s));
		if (kn_secrets_remove(st, name, &err) < 0)
			return respond_kn_error(r, &err);
		return respond_json(r, 200, json_pack("{s:s}", "removed", name));
	}
	if (!put)
		return respond_error(r, 405, "use GET, PUT or DELETE for /secrets/%s", name);
	/* Not parse_body: jansson's messages quote the text near an error,
	 * which here may be the value. */
	json_error_t je;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	int line = je.line, column = je.column;
	explicit_bzero(&je, sizeof(je));
	if (!json_is_object(j)) {
		json_decref(j);
		return respond_error(r, 400, "the body must be a JSON object (line %d, column %d)",
				     j ? 1 : line, j ? 1 : column);
	}
	json_t *secret = kn_secret_parse(name, j, &err);
	json_decref(j);
	int created = 0;
	if (!secret)
		return respond_error(r, 400, "%s", err.msg);
	if (kn_secrets_put(st, secret, &created, &err) < 0) {
		json_decref(secret);
		if (err.errnum == E2BIG)
			return respond_error(r, 413, "%s", err.msg);
		return respond_kn_error(r, &err);
	}
	respond_json(r, created ? 201 : 200, kn_secret_public(secret));
	json_decref(secret);
}

/* Split "/sandboxes/NAME[/ACTION]" ; returns 1 when it matched. */
static int sandbox_path(const char *path, char *name, size_t namesz, const char **action)
{
	static const char prefix[] = "/sandboxes/";
	if (strncmp(path, prefix, sizeof(prefix) - 1))
		return 0;
	const char *n = path + sizeof(prefix) - 1;
	const char *slash = strchr(n, '/');
	size_t len = slash ? (size_t)(slash - n) : strlen(n);
	if (len == 0 || len >= namesz)
		return len >= namesz ? -1 : 0;
	memcpy(name, n, len);
	name[len] = '\0';
	*action = slash ? slash + 1 : "";
	return 1;
}

void kn_api_handle(struct kn_store *st, const struct http_request *req, const char *body,
		   size_t body_len, struct kn_api_response *r)
{
	memset(r, 0, sizeof(*r));
	r->helper_pidfd = -1;
	r->reap_pidfd = -1;
	char path[1024], *query;
	if (req->target_len >= sizeof(path) || req->target_len == 0 || req->target[0] != '/') {
		respond_error(r, 400, "request target must be an absolute path under 1024 bytes");
		return;
	}
	memcpy(path, req->target, req->target_len);
	path[req->target_len] = '\0';
	if ((query = strchr(path, '?')))
		*query++ = '\0';
	const char *m = req->method;
	int get = !strcmp(m, "GET"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");

	if (!strcmp(path, "/health")) {
		if (!get)
			return respond_error(r, 405, "use GET for /health");
		return respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
	}
	if (!strcmp(path, "/version")) {
		if (!get)
			return respond_error(r, 405, "use GET for /version");
		return respond_json(r, 200, json_pack("{s:s,s:s,s:i}", "version", KENNEL_VERSION, "git",
						      KENNEL_GIT_REV, "api", 1));
	}
	if (!strcmp(path, "/network/log")) {
		if (!get)
			return respond_error(r, 405, "use GET for /network/log");
		return handle_netlog(st, query, r);
	}
	if (!strcmp(path, "/network/proxyconfig")) {
		if (!get && !post)
			return respond_error(r, 405, "use GET or POST for /network/proxyconfig");
		return handle_proxyconfig(st, post, query, body, body_len, r);
	}
	if (!strcmp(path, "/secrets"))
		return handle_secrets(st, m, NULL, body, body_len, r);
	if (!strncmp(path, "/secrets/", 9))
		return handle_secrets(st, m, path + 9, body, body_len, r);
	if (!strcmp(path, "/sandboxes")) {
		if (post)
			return handle_create(st, body, body_len, r);
		if (!get)
			return respond_error(r, 405, "use GET or POST for /sandboxes");
		json_t *list = json_array();
		for (struct kn_sandbox *sb = st->list; sb; sb = sb->next)
			json_array_append_new(list, sandbox_json(sb));
		return respond_json(r, 200, json_pack("{s:o}", "sandboxes", list));
	}
	char name[KN_NAME_MAX + 2];
	const char *action = NULL, *reason;
	int matched = sandbox_path(path, name, sizeof(name), &action);
	if (matched == 0)
		return respond_error(r, 404, "no such endpoint: %s", path);
	if (matched < 0 || !kn_name_valid(name, &reason))
		return respond_error(r, 400, "invalid sandbox name in path: %s",
				     matched < 0 ? "too long" : reason);
	struct kn_sandbox *sb = kn_store_find(st, name);
	if (!sb)
		return respond_error(r, 404, "no such sandbox: %s", name);
	kn_error err = {0};
	if (!strcmp(action, "")) {
		if (get)
			return respond_json(r, 200, sandbox_json(sb));
		if (!del)
			return respond_error(r, 405, "use GET or DELETE for /sandboxes/%s", name);
		int force = query && (strstr(query, "force=1") || strstr(query, "force=true"));
		if (kn_mgr_remove(st, sb, force, &err) < 0)
			return respond_kn_error(r, &err);
		return respond_json(r, 200, json_pack("{s:s}", "removed", name));
	}
	if (!post)
		return respond_error(r, 405, "use POST for /sandboxes/%s/%s", name, action);
	if (!strcmp(action, "start") || !strcmp(action, "stop")) {
		int rc = action[2] == 'a' ? kn_mgr_start(st, sb, &err) : kn_mgr_stop(st, sb, &err);
		if (rc < 0)
			return respond_kn_error(r, &err);
		return respond_json(r, 200, sandbox_json(sb));
	}
	if (!strcmp(action, "exec"))
		return handle_exec(st, sb, body, body_len, r);
	respond_error(r, 404, "no such endpoint: %s", path);
}
