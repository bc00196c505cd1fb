/* cmd_run.c — `kennel run`: find or create a sandbox, start it, and attach to
 * its agent's command (contract: commands.h, cli.h).
 *
 * `run X` uses the sandbox named X when there is one; otherwise X is an agent
 * and the sandbox is the one for that agent whose first workspace is WORKSPACE
 * (default: the current directory), created when there is none. With --name,
 * that name is looked up instead, and must belong to the same agent and
 * workspace if it exists. The command is the sandbox's "command" plus ARGS,
 * interactive always, with a terminal when stdin is one.
 *
 * Keys: for every service of the table (services.h) whose variable is set in
 * the caller's environment, the value is stored as a secret bound to this
 * sandbox (SANDBOX.VAR, replacing the one a previous run stored) before the
 * command starts, and the command sees VAR=proxy-managed instead: kennel-proxy
 * puts the key into requests to the service's hosts. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/create.h"
#include "cli/exec.h"
#include "cli/services.h"
#include "common/secret_rules.h"
#include "common/wipe.h"

const char cli_run_help[] =
	"Runs the agent's command in a sandbox and attaches to it. SANDBOX names an\n"
	"existing sandbox; otherwise AGENT's sandbox for WORKSPACE (default: the\n"
	"current directory) is used, and created if there is none. ARGS after '--'\n"
	"are appended to the agent's command. Exits with the command's status.\n"
	"API keys of known services in your environment (ANTHROPIC_API_KEY,\n"
	"OPENAI_API_KEY, GEMINI_API_KEY, GH_TOKEN, ...; share/kennel/services.json)\n"
	"become secrets of the sandbox that kennel-proxy injects; the agent sees\n"
	"the placeholder proxy-managed instead.\n"
	"\n"
	"Options:\n"
	"  -e, --env K=V       set a variable for the agent's command (-e K takes K's\n"
	"                      value here); it replaces the agent's own setting\n"
	"  -h, --help          show this help\n"
	"Options used only when the sandbox is created:\n" CLI_CREATE_HELP;

static const char *first_workspace(const json_t *sandbox)
{
	const json_t *first = json_array_get(json_object_get(sandbox, "workspaces"), 0);
	return json_string_value(json_object_get(first, "path"));
}

static bool belongs_to(const json_t *sandbox, const char *agent, const char *workspace)
{
	const char *a = json_string_value(json_object_get(sandbox, "agent"));
	const char *w = first_workspace(sandbox);
	return a && w && strcmp(a, agent) == 0 && strcmp(w, workspace) == 0;
}

/* GET /sandboxes/NAME: 1 with *sandbox, 0 when there is no such sandbox. */
static int lookup(const struct cli_globals *globals, const char *name, json_t **sandbox,
		  kn_error *err)
{
	char path[128];
	int status = 0;
	snprintf(path, sizeof(path), "/sandboxes/%s", name);
	if (cli_api_call(globals->socket_path, "GET", path, NULL, &status, sandbox, err) == 0)
		return 1;
	return status == 404 ? 0 : -1;
}

/* The sandbox for AGENT in WORKSPACE: 1 with *sandbox, 0 when there is none. */
static int find_for_agent(const struct cli_globals *globals, const char *agent,
			  const char *workspace, json_t **sandbox, kn_error *err)
{
	json_t *answer = NULL;
	if (cli_api_call(globals->socket_path, "GET", "/sandboxes", NULL, NULL, &answer, err) < 0)
		return -1;
	size_t i;
	json_t *sb;
	int found = 0;
	json_array_foreach(json_object_get(answer, "sandboxes"), i, sb) {
		if (belongs_to(sb, agent, workspace)) {
			*sandbox = json_incref(sb);
			found = 1;
			break;
		}
	}
	json_decref(answer);
	return found;
}

/* Resolve the positionals to a sandbox (kenneld's object, *out), creating it
 * if needed. */
static int resolve_sandbox(const struct cli_command *cmd, const struct cli_globals *globals,
			   const struct cli_create_options *opts, const char *target,
			   const char *workspace_arg, json_t **out)
{
	kn_error err = {0};
	json_t *sandbox = NULL;
	int found = 0;
	if (!opts->name && cli_valid_sandbox_name(target, NULL)) {
		found = lookup(globals, target, &sandbox, &err);
		if (found < 0)
			return cli_report(&err);
		if (found && workspace_arg) {
			json_decref(sandbox);
			return cli_usage_error(cmd, "'%s' is a sandbox; WORKSPACE goes only with an "
						    "AGENT", target);
		}
	}
	if (!found) {
		struct cli_workspace ws = {0};
		if (cli_parse_workspace(workspace_arg ? workspace_arg : ".", &ws, &err) < 0)
			return cli_report(&err);
		if (opts->name) {
			found = lookup(globals, opts->name, &sandbox, &err);
			if (found > 0 && !belongs_to(sandbox, target, ws.path)) {
				kn_fail(&err, "sandbox '%s' exists but is not agent '%s' in %s",
					opts->name, target, ws.path);
				found = -1;
				json_decref(sandbox);
			}
		} else {
			found = find_for_agent(globals, target, ws.path, &sandbox, &err);
		}
		if (found == 0 &&
		    cli_create_sandbox(globals, opts, target, &ws, 1, &sandbox, &err) == 0) {
			fprintf(stderr, "kennel: created sandbox %s\n",
				json_string_value(json_object_get(sandbox, "name")));
			found = 1;
		} else if (found == 0) {
			found = -1;
		}
		cli_workspace_clear(&ws);
		if (found < 0)
			return cli_report(&err);
	} else if (cli_create_has_limits(opts)) {
		fprintf(stderr, "kennel: sandbox '%s' exists; --cpus, --memory, --pids, "
				"--image and --isolation only apply when a sandbox is created\n", target);
	}
	if (!json_is_string(json_object_get(sandbox, "name"))) {
		json_decref(sandbox);
		return cli_report(&(kn_error){.msg = "kenneld's sandbox object has no name"});
	}
	*out = sandbox;
	return 0;
}

/* The caller's keys for known services (services.h) become the sandbox's
 * secrets; `placeholders` gets what the agent sees in their place. */
static int store_service_keys(const struct cli_globals *globals, const char *name,
			      json_t *placeholders)
{
	kn_error err = {0};
	json_t *services = cli_services_load(&err);
	if (!services)
		return cli_report(&err);
	json_t *secrets = cli_services_secrets(services, name, environ, placeholders);
	json_decref(services);
	int rc = 0;
	size_t i;
	json_t *s;
	json_array_foreach(secrets, i, s) {
		char path[32 + KN_SECRET_NAME_MAX];
		json_t *answer = NULL;
		snprintf(path, sizeof(path), "/secrets/%s", json_string_value(json_object_get(s, "name")));
		if (cli_api_call(globals->socket_path, "PUT", path, json_object_get(s, "body"), NULL,
				 &answer, &err) < 0) {
			rc = cli_report(&err);
			break;
		}
		json_decref(answer);
	}
	json_decref(secrets); /* wiped as freed: the CLI's jansson frees with kn_wipe_free */
	return rc;
}

/* NAME=VALUE into `env`, replacing the entries for NAME already there. */
static int env_set(json_t *env, const char *entry)
{
	size_t name_len = strcspn(entry, "=") + 1;
	for (size_t i = json_array_size(env); i-- > 0;) {
		const char *have = json_string_value(json_array_get(env, i));
		if (have && !strncmp(have, entry, name_len))
			json_array_remove(env, i);
	}
	return json_array_append_new(env, json_string(entry));
}

/* POST start unless `found` (kenneld's object, consumed) is running already
 * (a create starts its sandbox), then the sandbox's command followed by `args`,
 * with the agent's environment, the key placeholders, then `user_env` (-e). */
static int start_and_attach(const struct cli_globals *globals, json_t *found, char **args,
			    size_t n_args, json_t *user_env)
{
	kn_error err = {0};
	char path[128], name[128];
	json_t *sandbox = found;
	snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(found, "name")));
	const char *status = json_string_value(json_object_get(found, "status"));
	if (!status || strcmp(status, "running") != 0) {
		snprintf(path, sizeof(path), "/sandboxes/%s/start", name);
		sandbox = NULL;
		int rc = cli_api_call(globals->socket_path, "POST", path, NULL, NULL, &sandbox, &err);
		json_decref(found);
		if (rc < 0)
			return cli_report(&err);
	}
	const json_t *command = json_object_get(sandbox, "command");
	size_t n_cmd = json_array_size(command);
	const char **argv = calloc(n_cmd + n_args + 1, sizeof(char *));
	int rc = 0;
	if (!argv)
		rc = cli_report(&(kn_error){.msg = "out of memory"});
	for (size_t i = 0; rc == 0 && i < n_cmd; i++) {
		argv[i] = json_string_value(json_array_get(command, i));
		if (!argv[i])
			rc = cli_report(&(kn_error){.msg = "sandbox command has a non-string element"});
	}
	if (rc == 0 && n_cmd == 0) {
		kn_fail(&err, "sandbox '%s' has no command to run; use 'kennel exec %s CMD'",
			name, name);
		rc = cli_report(&err);
	}
	/* The agent's own settings first, then the placeholders for keys. */
	json_t *cmd_env = json_deep_copy(json_object_get(sandbox, "command_env"));
	if (!json_is_array(cmd_env)) {
		json_decref(cmd_env);
		cmd_env = json_array();
	}
	const char **env = NULL;
	if (rc == 0)
		rc = store_service_keys(globals, name, cmd_env);
	for (size_t i = 0; rc == 0 && i < json_array_size(user_env); i++)
		if (env_set(cmd_env, json_string_value(json_array_get(user_env, i))) < 0)
			rc = cli_report(&(kn_error){.msg = "out of memory"});
	if (rc == 0 && !(env = calloc(json_array_size(cmd_env) + 1, sizeof(char *))))
		rc = cli_report(&(kn_error){.msg = "out of memory"});
	if (rc == 0) {
		for (size_t i = 0; i < json_array_size(cmd_env); i++)
			env[i] = json_string_value(json_array_get(cmd_env, i));
		for (size_t i = 0; i < n_args; i++)
			argv[n_cmd + i] = args[i];
		struct cli_exec_options opt = {
			.cmd = argv,
			.n_cmd = n_cmd + n_args,
			.env = env,
			.n_env = json_array_size(cmd_env),
			.tty = isatty(STDIN_FILENO),
			.interactive = true,
		};
		rc = cli_exec_session(globals->socket_path, name, &opt);
		const char *install = json_string_value(json_object_get(sandbox, "install"));
		if (rc == 127 && install)
			fprintf(stderr, "kennel: %s was not found in the sandbox; the sandbox uses "
					"the host's /usr, so install it on the host: %s\n",
				argv[0], install);
	}
	free(env);
	json_decref(cmd_env);
	free(argv);
	json_decref(sandbox);
	return rc;
}

int cli_cmd_run(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		char **argv)
{
	static const struct option longopts[] = {
		CLI_CREATE_LONGOPTS,
		{"env", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_create_options opts = {0};
	json_t *user_env = json_array(), *sandbox = NULL;
	char *entry;
	const char *target, *workspace = NULL;
	int c, i, rc = 0;
	/* The caller's keys pass through jansson on their way to kenneld. */
	json_set_alloc_funcs(malloc, kn_wipe_free);
	cli_protect_secrets();
	cli_getopt_reset();
	if (!user_env)
		return cli_report(&(kn_error){.msg = "out of memory"});
	while (rc == 0 && (c = getopt_long(argc, argv, "+:he:", longopts, NULL)) != -1) {
		if (c == 'h') {
			rc = cli_help(cmd);
			goto out;
		}
		if (c == 'e') {
			if ((entry = cli_env_option(cmd, optarg, &rc)) &&
			    json_array_append_new(user_env, json_string(entry)) < 0)
				rc = cli_report(&(kn_error){.msg = "out of memory"});
			kn_wipe_free(entry);
			continue;
		}
		rc = cli_create_option(cmd, c, optarg, &opts);
		if (rc < 0)
			rc = cli_getopt_error(cmd, longopts, c, argv);
	}
	if (rc)
		goto out;
	i = optind;
	if (i >= argc) {
		rc = cli_usage_error(cmd, "missing SANDBOX or AGENT");
		goto out;
	}
	target = argv[i++];
	if (i < argc && strcmp(argv[i], "--") != 0)
		workspace = argv[i++];
	if (i < argc && strcmp(argv[i], "--") != 0) {
		rc = cli_usage_error(cmd, "unexpected argument '%s' (arguments for the agent "
					  "go after '--')", argv[i]);
		goto out;
	}
	if (i < argc)
		i++; /* the "--" */
	rc = resolve_sandbox(cmd, globals, &opts, target, workspace, &sandbox);
	if (rc == 0)
		rc = start_and_attach(globals, sandbox, argv + i, (size_t)(argc - i), user_env);
out:
	json_decref(user_env);
	cli_create_options_clear(&opts);
	return rc;
}
