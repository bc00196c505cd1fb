/* cli.h — what every `kennel` command shares: its table entry, the global
 * options, and the conventions for usage errors and exit statuses.
 *
 * Contract: main.c holds one `struct cli_command` per command; it drives both
 * dispatch and `kennel --help`. A handler gets its own entry (for its usage),
 * the global options, and argv with argv[0] = the command's name; it parses
 * with getopt_long after cli_getopt_reset(), with a "+:" optstring so options
 * stop at the first positional and a missing argument is told apart.
 * Exit statuses: 0 success; 1 an operation failed (printed as "kennel: <text>",
 * the daemon's own error text when it answered); 2 bad usage (printed as
 * "kennel <cmd>: <problem>" then the usage lines, on stderr); an exec'd
 * command's own status for exec and run (125 when kennel itself failed). */
#ifndef KENNEL_CLI_H
#define KENNEL_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/error.h"

#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2
/* Where kenneld listens unless --socket or $KENNEL_SOCKET says otherwise. */
#define CLI_DEFAULT_SOCKET "/run/kennel/kenneld.sock"

struct cli_globals {
	const char *socket_path;
};

struct cli_command;
typedef int cli_handler(const struct cli_command *cmd, const struct cli_globals *globals,
			int argc, char **argv);

struct cli_command {
	const char *name;
	cli_handler *run;
	const char *summary; /* one line for `kennel --help` */
	const char *usage;   /* synopsis line(s) after "kennel ", '\n'-separated */
	const char *help;    /* option descriptions for `kennel CMD --help` */
};

/* Prepare getopt_long for a fresh argv (GNU: optind = 0 also resets "+"). */
void cli_getopt_reset(void);
/* Print "Usage: kennel ..." lines to `f`. */
void cli_print_usage(FILE *f, const struct cli_command *cmd);
/* `kennel CMD --help`: usage, summary and options on stdout; returns 0. */
int cli_help(const struct cli_command *cmd);
/* "kennel CMD: <problem>" and the usage on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* -e's argument as "K=V" (args.h: cli_env_entry), malloc'd; NULL after a
 * usage error, with *rc set. */
char *cli_env_option(const struct cli_command *cmd, const char *arg, int *rc);
/* The usage error for getopt_long's '?' or ':' (c), naming the bad option. */
int cli_getopt_error(const struct cli_command *cmd, const struct option *longopts, int c,
		     char **argv);
/* For commands whose only option is -h/--help: parses it, leaving optind at
 * the first operand. Returns -1 to go on, else the exit status to return
 * (help printed, or a usage error reported). */
int cli_help_only(const struct cli_command *cmd, int argc, char **argv);
/* A command group ("kennel network", "kennel secret"): -h, then the
 * subcommand of `subs` (named "GROUP SUB") that the first operand names.
 * `names` lists them for the error when it is missing ("proxy or log"). */
int cli_run_group(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		  char **argv, const struct cli_command *subs, size_t n_subs, const char *names);
/* Before a command handles a secret value: no core dump of this process may
 * hold it (RLIMIT_CORE 0, not dumpable, which also keeps same-uid processes
 * from ptrace and /proc/PID/mem). Best effort: both calls only fail on
 * kernels without them. */
void cli_protect_secrets(void);
/* "kennel: <err>" on stderr; returns CLI_EXIT_FAILURE. */
int cli_report(const kn_error *err);
/* Usage error unless every name is a valid sandbox name (args.h). */
int cli_check_names(const struct cli_command *cmd, char **names, int n);

#endif
