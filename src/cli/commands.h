/* commands.h — the handlers behind `kennel CMD`, and their option help.
 *
 * Contract: each handler follows cli.h (argv[0] is the command's name; returns
 * the exit status). main.c's table pairs them with names, summaries, usage
 * lines and these help texts. */
#ifndef KENNEL_CLI_COMMANDS_H
#define KENNEL_CLI_COMMANDS_H

#include "cli/cli.h"

cli_handler cli_cmd_create, cli_cmd_run, cli_cmd_exec, cli_cmd_ls, cli_cmd_inspect,
	cli_cmd_stop, cli_cmd_rm, cli_cmd_network, cli_cmd_secret, cli_cmd_version, cli_cmd_daemon;

extern const char cli_create_help[], cli_run_help[], cli_exec_help[], cli_ls_help[],
	cli_inspect_help[], cli_stop_help[], cli_rm_help[], cli_network_help[], cli_secret_help[],
	cli_version_help[], cli_daemon_help[];

#endif
