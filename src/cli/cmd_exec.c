/* cmd_exec.c — `kennel exec`: run a command in a sandbox and relay its I/O
 * (contract: commands.h, cli.h, exec.h). */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/exec.h"

const char cli_exec_help[] =
	"Runs CMD in SANDBOX (starting it if it is stopped) and exits with CMD's exit\n"
	"status. Options end at CMD; '--' also ends them.\n"
	"\n"
	"Options:\n"
	"  -i, --interactive   pass standard input to the command\n"
	"  -t, --tty           give the command a terminal (a pty inside the sandbox)\n"
	"  -d, --detach        start the command in the background; print its pid\n"
	"  -e, --env K=V       set an environment variable (-e K takes K's value here)\n"
	"  -u, --user USER     agent (default), root, or a numeric uid\n"
	"  -w, --workdir DIR   working directory (default: the first workspace)\n"
	"  -h, --help          show this help\n";

int cli_cmd_exec(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		 char **argv)
{
	static const struct option longopts[] = {
		{"interactive", no_argument, NULL, 'i'},
		{"tty", no_argument, NULL, 't'},
		{"detach", no_argument, NULL, 'd'},
		{"env", required_argument, NULL, 'e'},
		{"user", required_argument, NULL, 'u'},
		{"workdir", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cli_exec_options opt = {0};
	char **env = calloc((size_t)argc, sizeof(char *));
	size_t n_env = 0;
	int c, rc = 0;
	if (!env)
		return cli_report(&(kn_error){.msg = "out of memory"});
	cli_getopt_reset();
	while (rc == 0 && (c = getopt_long(argc, argv, "+:itde:u:w:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			opt.interactive = true;
			break;
		case 't':
			opt.tty = true;
			break;
		case 'd':
			opt.detach = true;
			break;
		case 'e':
			if (!(env[n_env++] = cli_env_option(cmd, optarg, &rc)))
				n_env--;
			break;
		case 'u':
			opt.user = optarg;
			break;
		case 'w':
			opt.workdir = optarg;
			break;
		case 'h':
			rc = cli_help(cmd);
			goto out;
		default:
			rc = cli_getopt_error(cmd, longopts, c, argv);
		}
	}
	if (rc)
		goto out;
	if (optind >= argc) {
		rc = cli_usage_error(cmd, "missing SANDBOX and CMD");
		goto out;
	}
	if ((rc = cli_check_names(cmd, argv + optind, 1)))
		goto out;
	if (optind + 1 >= argc) {
		rc = cli_usage_error(cmd, "missing CMD");
		goto out;
	}
	if (opt.tty && opt.interactive && !opt.detach && !isatty(STDIN_FILENO)) {
		rc = cli_report(&(kn_error){.msg = "the input device is not a TTY; drop -t or "
						   "run from a terminal"});
		goto out;
	}
	opt.cmd = (const char *const *)argv + optind + 1;
	opt.n_cmd = (size_t)(argc - optind - 1);
	opt.env = (const char *const *)env;
	opt.n_env = n_env;
	rc = cli_exec_session(globals->socket_path, argv[optind], &opt);
out:
	for (size_t i = 0; i < n_env; i++)
		free(env[i]);
	free(env);
	return rc;
}
