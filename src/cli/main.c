/* main.c — `kennel`, the command-line client of kenneld.
 *
 * Contract: parses the global options (--socket PATH, else $KENNEL_SOCKET,
 * else CLI_DEFAULT_SOCKET; -h/--help; --version), then hands the rest of argv
 * to the command named first. The table below is the list of commands: it
 * drives dispatch and `kennel --help`. Exit statuses: cli.h. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/version.h"
#include "common/util.h"

static const struct cli_command commands[] = {
	{"create", cli_cmd_create, "Create and start a sandbox for an agent",
	 "create [OPTIONS] AGENT WORKSPACE [WORKSPACE[:ro]...]", cli_create_help},
	{"run", cli_cmd_run, "Run an agent in its sandbox, creating the sandbox if needed",
	 "run [OPTIONS] SANDBOX [-- ARGS...]\n"
	 "run [OPTIONS] AGENT [WORKSPACE] [-- ARGS...]", cli_run_help},
	{"exec", cli_cmd_exec, "Run a command in a sandbox",
	 "exec [OPTIONS] SANDBOX CMD [ARG...]", cli_exec_help},
	{"ls", cli_cmd_ls, "List sandboxes", "ls [OPTIONS]", cli_ls_help},
	{"inspect", cli_cmd_inspect, "Show sandboxes as JSON", "inspect SANDBOX...",
	 cli_inspect_help},
	{"stop", cli_cmd_stop, "Stop sandboxes", "stop SANDBOX...", cli_stop_help},
	{"rm", cli_cmd_rm, "Remove sandboxes", "rm [OPTIONS] SANDBOX...", cli_rm_help},
	{"network", cli_cmd_network, "Show or change network policy; show the proxy's decisions",
	 "network proxy [OPTIONS] SANDBOX | --default\n"
	 "network log [OPTIONS] [SANDBOX]", cli_network_help},
	{"secret", cli_cmd_secret, "Store, list or remove credentials the proxy injects",
	 "secret set [OPTIONS] --host P... --header H NAME\n"
	 "secret ls [--json]\n"
	 "secret rm NAME...", cli_secret_help},
	{"version", cli_cmd_version, "Show the client's and the daemon's versions", "version",
	 cli_version_help},
	{"daemon", cli_cmd_daemon, "Run kenneld in the foreground (as root)",
	 "daemon [KENNELD OPTIONS]", cli_daemon_help},
};

static void print_main_usage(FILE *f)
{
	fprintf(f, "Usage: kennel [--socket PATH] COMMAND [ARG...]\n");
}

static int main_help(void)
{
	print_main_usage(stdout);
	printf("\nRun AI coding agents in Linux sandboxes whose only way out is kennel's proxy.\n"
	       "\nCommands:\n");
	for (size_t i = 0; i < KN_ARRAY_SIZE(commands); i++)
		printf("  %-9s %s\n", commands[i].name, commands[i].summary);
	printf("\nGlobal options:\n"
	       "      --socket PATH   kenneld's socket (default: $KENNEL_SOCKET, else %s)\n"
	       "  -h, --help          show this help\n"
	       "      --version       print kennel's version\n"
	       "\nRun 'kennel COMMAND --help' for more on a command.\n",
	       CLI_DEFAULT_SOCKET);
	return 0;
}

static int main_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int main_usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("kennel: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_main_usage(stderr);
	fprintf(stderr, "See 'kennel --help'.\n");
	return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	enum { OPT_SOCKET = 0x100, OPT_VERSION };
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	struct cli_globals globals = {.socket_path = getenv("KENNEL_SOCKET")};
	if (!globals.socket_path || !*globals.socket_path)
		globals.socket_path = CLI_DEFAULT_SOCKET;
	int timeout;
	kn_error terr;
	if (cli_timeout_parse(getenv("KENNEL_TIMEOUT"), &timeout, &terr) < 0) {
		fprintf(stderr, "kennel: %s\n", terr.msg);
		return 2;
	}
	cli_set_timeout(timeout);
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			globals.socket_path = optarg;
			break;
		case 'h':
			return main_help();
		case OPT_VERSION:
			printf("kennel version %s (git %s)\n", KENNEL_VERSION, KENNEL_GIT_REV);
			return 0;
		case ':':
			return main_usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			return main_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return main_usage_error("missing COMMAND");
	for (size_t i = 0; i < KN_ARRAY_SIZE(commands); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].run(&commands[i], &globals, argc - optind, argv + optind);
	return main_usage_error("unknown command '%s'", argv[optind]);
}
