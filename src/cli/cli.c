/* cli.c — what every kennel command shares: getopt set-up, help and usage
 * errors, command groups (contract: cli.h). */
#define _GNU_SOURCE
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cli/args.h"

void cli_getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

void cli_print_usage(FILE *f, const struct cli_command *cmd)
{
	const char *line = cmd->usage;
	const char *label = "Usage: ";
	while (*line) {
		size_t len = strcspn(line, "\n");
		fprintf(f, "%skennel %.*s\n", label, (int)len, line);
		label = "       ";
		line += len;
		if (*line == '\n')
			line++;
	}
}

int cli_help(const struct cli_command *cmd)
{
	cli_print_usage(stdout, cmd);
	printf("\n%s\n", cmd->summary);
	if (cmd->help && *cmd->help)
		printf("\n%s", cmd->help);
	return 0;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "kennel %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_print_usage(stderr, cmd);
	fprintf(stderr, "See 'kennel %s --help'.\n", cmd->name);
	return CLI_EXIT_USAGE;
}

char *cli_env_option(const struct cli_command *cmd, const char *arg, int *rc)
{
	kn_error err = {0};
	char *entry = cli_env_entry(arg, &err);
	if (!entry)
		*rc = err.errnum == EINVAL ? cli_usage_error(cmd, "%s", err.msg) : cli_report(&err);
	return entry;
}

static const struct option *find_long(const struct option *longopts, const char *name,
				      size_t len)
{
	for (const struct option *o = longopts; o && o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	return NULL;
}

void cli_protect_secrets(void)
{
	struct rlimit none = { 0, 0 };
	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0);
}

int cli_help_only(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	cli_getopt_reset();
	int c = getopt_long(argc, argv, "+:h", longopts, NULL);
	if (c == 'h')
		return cli_help(cmd);
	if (c != -1)
		return cli_getopt_error(cmd, longopts, c, argv);
	return -1;
}

int cli_run_group(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		  char **argv, const struct cli_command *subs, size_t n_subs, const char *names)
{
	int rc = cli_help_only(cmd, argc, argv);
	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error(cmd, "missing COMMAND (%s)", names);
	size_t group_len = strlen(cmd->name) + 1; /* "GROUP " */
	for (size_t i = 0; i < n_subs; i++)
		if (strcmp(argv[optind], subs[i].name + group_len) == 0)
			return subs[i].run(&subs[i], globals, argc - optind, argv + optind);
	return cli_usage_error(cmd, "unknown command '%s'", argv[optind]);
}

int cli_getopt_error(const struct cli_command *cmd, const struct option *longopts, int c,
		     char **argv)
{
	/* getopt has moved optind past the element holding the bad option, except
	 * inside a cluster of short options, where optopt names it. */
	const char *elem = optind > 0 ? argv[optind - 1] : "";
	bool is_long = strncmp(elem, "--", 2) == 0;
	if (c == ':') {
		if (is_long)
			return cli_usage_error(cmd, "option '%s' needs an argument", elem);
		return cli_usage_error(cmd, "option '-%c' needs an argument", optopt);
	}
	if (is_long) {
		size_t len = strcspn(elem + 2, "=");
		const struct option *o = find_long(longopts, elem + 2, len);
		if (o && elem[2 + len] == '=' && o->has_arg == no_argument)
			return cli_usage_error(cmd, "option '--%s' takes no argument", o->name);
		return cli_usage_error(cmd, "unknown option '--%.*s'", (int)len, elem + 2);
	}
	if (optopt > 0 && optopt < 128 && optopt != '?')
		return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	return cli_usage_error(cmd, "unknown option '%s'", elem);
}

int cli_report(const kn_error *err)
{
	fflush(stdout);
	fprintf(stderr, "kennel: %s\n", err->msg);
	return CLI_EXIT_FAILURE;
}

int cli_check_names(const struct cli_command *cmd, char **names, int n)
{
	for (int i = 0; i < n; i++) {
		const char *why = NULL;
		if (!cli_valid_sandbox_name(names[i], &why))
			return cli_usage_error(cmd, "invalid sandbox name '%s': %s", names[i], why);
	}
	return 0;
}
