/* cmd_sandbox.c — the commands that manage sandboxes without running anything
 * in them: create, ls, inspect, stop, rm (contract: commands.h, cli.h). */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/create.h"
#include "cli/table.h"
#include "common/util.h"

#define HELP_OPTION "  -h, --help          show this help\n"

const char cli_create_help[] =
	"AGENT is the agent the sandbox runs (\"shell\" for now). Each WORKSPACE is a\n"
	"host directory mounted at the same path inside; \":ro\" mounts it read-only.\n"
	"The sandbox is started; its name is printed.\n"
	"\n"
	"Options:\n" CLI_CREATE_HELP HELP_OPTION;
const char cli_ls_help[] = "Options:\n"
			   "      --json          print the sandbox objects as a JSON array\n"
			   "  -q, --quiet         print only the names\n" HELP_OPTION;
const char cli_inspect_help[] = "Prints the sandbox objects as a JSON array.\n"
				"\n"
				"Options:\n" HELP_OPTION;
const char cli_stop_help[] = "Options:\n" HELP_OPTION;
const char cli_rm_help[] = "Options:\n"
			   "  -f, --force         stop a running sandbox first\n" HELP_OPTION;

static const struct option help_only[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Options loop for commands whose only option is --help. Returns -1 to go on,
 * else the exit status. */
static int parse_help_only(const struct cli_command *cmd, int argc, char **argv)
{
	cli_getopt_reset();
	int c = getopt_long(argc, argv, "+:h", help_only, NULL);
	if (c == -1)
		return -1;
	return c == 'h' ? cli_help(cmd) : cli_getopt_error(cmd, help_only, c, argv);
}

static void print_json(const json_t *value)
{
	char *text = json_dumps(value, JSON_INDENT(4));
	if (text)
		puts(text);
	else
		fprintf(stderr, "kennel: out of memory formatting JSON\n");
	free(text);
}

int cli_cmd_create(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		   char **argv)
{
	static const struct option longopts[] = {
		CLI_CREATE_LONGOPTS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_create_options opts = {0};
	struct cli_workspace *workspaces = NULL;
	size_t n = 0;
	kn_error err = {0};
	json_t *sandbox = NULL;
	int c, rc = 0;
	cli_getopt_reset();
	while (rc == 0 && (c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			rc = cli_help(cmd);
			goto out;
		}
		rc = cli_create_option(cmd, c, optarg, &opts);
		if (rc < 0)
			rc = cli_getopt_error(cmd, longopts, c, argv);
	}
	if (rc)
		goto out;
	if (optind >= argc) {
		rc = cli_usage_error(cmd, "missing AGENT and WORKSPACE");
		goto out;
	}
	if (optind + 1 >= argc) {
		rc = cli_usage_error(cmd, "missing WORKSPACE");
		goto out;
	}
	const char *agent = argv[optind];
	workspaces = calloc((size_t)(argc - optind - 1), sizeof(*workspaces));
	if (!workspaces) {
		rc = cli_report(&(kn_error){.msg = "out of memory"});
		goto out;
	}
	for (int i = optind + 1; i < argc; i++, n++)
		if (cli_parse_workspace(argv[i], &workspaces[n], &err) < 0) {
			rc = cli_report(&err);
			goto out;
		}
	if (cli_create_sandbox(globals, &opts, agent, workspaces, n, &sandbox, &err) < 0) {
		rc = cli_report(&err);
		goto out;
	}
	puts(json_string_value(json_object_get(sandbox, "name")));
	json_decref(sandbox);
out:
	for (size_t i = 0; i < n; i++)
		cli_workspace_clear(&workspaces[i]);
	free(workspaces);
	cli_create_options_clear(&opts);
	return rc;
}

int cli_cmd_ls(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
	       char **argv)
{
	enum { OPT_JSON = 0x100 };
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool as_json = false, quiet = false;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+:qh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			as_json = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			return cli_help(cmd);
		default:
			return cli_getopt_error(cmd, longopts, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (as_json && quiet)
		return cli_usage_error(cmd, "--json and --quiet exclude each other");

	kn_error err = {0};
	json_t *answer = NULL;
	if (cli_api_call(globals->socket_path, "GET", "/sandboxes", NULL, NULL, &answer, &err) < 0)
		return cli_report(&err);
	int rc = 0;
	json_t *list = json_object_get(answer, "sandboxes");
	if (!json_is_array(list)) {
		rc = cli_report(&(kn_error){.msg = "kenneld's sandbox list has no \"sandboxes\" array"});
	} else if (as_json) {
		print_json(list);
	} else if (quiet) {
		size_t i;
		json_t *sb;
		json_array_foreach(list, i, sb) {
			const char *name = json_string_value(json_object_get(sb, "name"));
			if (name)
				puts(name);
		}
	} else {
		char *table = NULL;
		if (cli_format_sandbox_table(list, time(NULL), &table, &err) < 0)
			rc = cli_report(&err);
		else
			fputs(table, stdout);
		free(table);
	}
	json_decref(answer);
	return rc;
}

int cli_cmd_inspect(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		    char **argv)
{
	int rc = parse_help_only(cmd, argc, argv);
	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error(cmd, "missing SANDBOX");
	if ((rc = cli_check_names(cmd, argv + optind, argc - optind)))
		return rc;
	json_t *found = json_array();
	if (!found)
		return cli_report(&(kn_error){.msg = "out of memory"});
	for (int i = optind; i < argc; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/sandboxes/%s", argv[i]);
		kn_error err = {0};
		json_t *sandbox = NULL;
		if (cli_api_call(globals->socket_path, "GET", path, NULL, NULL, &sandbox, &err) < 0)
			rc = cli_report(&err);
		else
			json_array_append_new(found, sandbox);
	}
	print_json(found);
	json_decref(found);
	return rc > 0 ? rc : 0;
}

/* Apply one request to each named sandbox, printing each name that succeeded
 * and each error, going on after a failure. */
static int for_each_sandbox(const struct cli_globals *globals, const char *method,
			    const char *suffix, char **names, int n)
{
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[128];
		snprintf(path, sizeof(path), "/sandboxes/%s%s", names[i], suffix);
		kn_error err = {0};
		if (cli_api_call(globals->socket_path, method, path, NULL, NULL, NULL, &err) < 0)
			rc = cli_report(&err);
		else {
			puts(names[i]);
			fflush(stdout);
		}
	}
	return rc;
}

int cli_cmd_stop(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		 char **argv)
{
	int rc = parse_help_only(cmd, argc, argv);
	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error(cmd, "missing SANDBOX");
	if ((rc = cli_check_names(cmd, argv + optind, argc - optind)))
		return rc;
	return for_each_sandbox(globals, "POST", "/stop", argv + optind, argc - optind);
}

int cli_cmd_rm(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
	       char **argv)
{
	static const struct option longopts[] = {
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool force = false;
	int c, rc;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+:fh", longopts, NULL)) != -1) {
		if (c == 'f')
			force = true;
		else if (c == 'h')
			return cli_help(cmd);
		else
			return cli_getopt_error(cmd, longopts, c, argv);
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "missing SANDBOX");
	if ((rc = cli_check_names(cmd, argv + optind, argc - optind)))
		return rc;
	return for_each_sandbox(globals, "DELETE", force ? "?force=1" : "", argv + optind,
				argc - optind);
}
