#define _GNU_SOURCE
#include "cli/create.h"

#include <stdlib.h>
#include <string.h>

#include "cli/client.h"

int cli_create_option(const struct cli_command *cmd, int c, const char *arg,
		      struct cli_create_options *opts)
{
	kn_error err = {0};
	const char *why = NULL;
	switch (c) {
	case CLI_OPT_NAME:
		if (!cli_valid_sandbox_name(arg, &why))
			return cli_usage_error(cmd, "invalid sandbox name '%s': %s", arg, why);
		opts->name = arg;
		return 0;
	case CLI_OPT_CPUS:
		if (cli_parse_cpus(arg, &opts->cpus, &err) < 0)
			return cli_usage_error(cmd, "--cpus: %s", err.msg);
		return 0;
	case CLI_OPT_MEMORY:
		if (cli_parse_size(arg, &opts->memory, &err) < 0)
			return cli_usage_error(cmd, "--memory: %s", err.msg);
		if (opts->memory == 0)
			return cli_usage_error(cmd, "--memory: must be more than 0 bytes");
		return 0;
	case CLI_OPT_PIDS:
		if (cli_parse_pids(arg, &opts->pids, &err) < 0)
			return cli_usage_error(cmd, "--pids: %s", err.msg);
		return 0;
	case CLI_OPT_IMAGE:
		free(opts->image);
		opts->image = NULL;
		if (cli_resolve_dir("image", arg, &opts->image, &err) < 0)
			return cli_report(&err);
		return 0;
	case CLI_OPT_ISOLATION:
		if (strcmp(arg, "ns") && strcmp(arg, "vm"))
			return cli_usage_error(cmd, "--isolation: want ns or vm, not '%s'", arg);
		opts->isolation = arg;
		return 0;
	default:
		return -1;
	}
}

bool cli_create_has_limits(const struct cli_create_options *opts)
{
	return opts->cpus > 0 || opts->memory > 0 || opts->pids > 0 || opts->image || opts->isolation;
}

void cli_create_options_clear(struct cli_create_options *opts)
{
	free(opts->image);
	opts->image = NULL;
}

int cli_create_sandbox(const struct cli_globals *globals, const struct cli_create_options *opts,
		       const char *agent, const struct cli_workspace *workspaces, size_t n,
		       json_t **sandbox, kn_error *err)
{
	json_t *req = json_object();
	json_t *list = json_array();
	int bad = !req || !list;
	for (size_t i = 0; !bad && i < n; i++) {
		json_t *ws = json_object();
		bad |= !ws;
		bad |= json_object_set_new(ws, "path", json_string(workspaces[i].path));
		bad |= json_object_set_new(ws, "readonly", json_boolean(workspaces[i].readonly));
		bad |= json_array_append_new(list, ws);
	}
	bad |= json_object_set_new(req, "agent", json_string(agent));
	bad |= json_object_set(req, "workspaces", list);
	if (opts->name)
		bad |= json_object_set_new(req, "name", json_string(opts->name));
	if (opts->image)
		bad |= json_object_set_new(req, "image", json_string(opts->image));
	if (opts->isolation)
		bad |= json_object_set_new(req, "isolation", json_string(opts->isolation));
	if (opts->cpus > 0)
		bad |= json_object_set_new(req, "cpus", json_real(opts->cpus));
	if (opts->memory > 0)
		bad |= json_object_set_new(req, "memory", json_integer(opts->memory));
	if (opts->pids > 0)
		bad |= json_object_set_new(req, "pids", json_integer(opts->pids));
	json_decref(list);
	int rc = bad ? kn_fail(err, "out of memory building the create request")
		     : cli_api_call(globals->socket_path, "POST", "/sandboxes", req, NULL, sandbox,
				    err);
	json_decref(req);
	if (rc == 0 && !json_is_string(json_object_get(*sandbox, "name"))) {
		json_decref(*sandbox);
		*sandbox = NULL;
		return kn_fail(err, "kenneld's answer to create has no sandbox name");
	}
	return rc;
}
