/* cmd_secret.c — `kennel secret set|ls|rm` (contract: commands.h, cli.h):
 * the credentials kennel-proxy injects into requests to the hosts they are
 * bound to (kenneld's secrets.h has the rules; the daemon checks them all).
 *
 * A value never travels in argv: `set` reads it from standard input (without
 * echo on a terminal, one trailing line break dropped) or from the caller's
 * environment (--from-env VAR), sends it in the PUT body, and wipes every
 * buffer that held it. `ls` shows everything but the value, which the daemon
 * never returns. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/secret_rules.h"
#include "common/util.h"

#define HELP_OPTION "  -h, --help              show this help\n"

static cli_handler cmd_secret_set, cmd_secret_ls, cmd_secret_rm;

static const char secret_set_help[] =
	"Stores (or replaces) the secret NAME. kennel-proxy adds it to requests to\n"
	"hosts matching a --host pattern, as the header --header, after the request\n"
	"is allowed and the server's TLS certificate verified; sandboxes never see\n"
	"it. The value is read from standard input (one trailing line break is\n"
	"dropped; on a terminal it is asked for without echo), or taken from the\n"
	"environment variable --from-env names; never from the command line. It is\n"
	"1 to 8192 characters of printable ASCII.\n"
	"\n"
	"Options:\n"
	"      --host P            a host pattern the secret is sent to (repeatable,\n"
	"                          at least one): example.com, *.example.com, :PORT\n"
	"      --header H          the request header that carries it (x-api-key,\n"
	"                          Authorization, ...)\n"
	"      --format F          the header's value, {} standing for the secret\n"
	"                          (default \"{}\"; e.g. \"Bearer {}\"), or {basic:USER}\n"
	"                          for base64(USER:secret) (\"Basic {basic:x-access-token}\")\n"
	"      --sandbox S         only for requests from sandbox S\n"
	"      --from-env VAR      take the value from the environment variable VAR\n" HELP_OPTION;

static const char secret_ls_help[] =
	"Lists the stored secrets: name, host patterns, header, format and sandbox.\n"
	"Values are never shown.\n"
	"\n"
	"Options:\n"
	"      --json              print the list as JSON\n" HELP_OPTION;

static const char secret_rm_help[] =
	"Removes the named secrets; kennel-proxy stops injecting them at once.\n"
	"\n"
	"Options:\n" HELP_OPTION;

static const struct cli_command secret_subcommands[] = {
	{"secret set", cmd_secret_set, "Store a secret for the proxy to inject",
	 "secret set [OPTIONS] --host P... --header H NAME", secret_set_help},
	{"secret ls", cmd_secret_ls, "List secrets (never their values)", "secret ls [--json]",
	 secret_ls_help},
	{"secret rm", cmd_secret_rm, "Remove secrets", "secret rm NAME...", secret_rm_help},
};

const char cli_secret_help[] =
	"Commands:\n"
	"  set       Store a secret for the proxy to inject\n"
	"  ls        List secrets (never their values)\n"
	"  rm        Remove secrets\n"
	"\n"
	"Options:\n" HELP_OPTION "\n"
	"Run 'kennel secret COMMAND --help' for more on a command.\n";

int cli_cmd_secret(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		   char **argv)
{
	return cli_run_group(cmd, globals, argc, argv, secret_subcommands,
			     KN_ARRAY_SIZE(secret_subcommands), "set, ls or rm");
}

static bool valid_secret_name(const char *name)
{
	return kn_secret_name_problem(name, strlen(name)) == NULL;
}

/* Read the value from fd 0 into buf (KN_SECRET_VALUE_MAX + 3 bytes: room to
 * tell "too long" from a value and its line break). On a terminal: a prompt
 * on stderr and no echo. Returns the length, or -1 with err set. */
static ssize_t read_value(const char *name, char *buf, size_t cap, kn_error *err)
{
	struct termios saved, quiet;
	bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
	if (tty) {
		fprintf(stderr, "Value for secret %s: ", name);
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &quiet);
	}
	size_t len = 0;
	ssize_t n = 0;
	while (len < cap) {
		n = read(0, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		/* A terminal gives one line per read: that line is the value. */
		if (tty && buf[len - 1] == '\n')
			break;
	}
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (n < 0)
		return kn_fail_errno(err, "read the value from standard input");
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		return kn_fail(err, "no value on standard input (or use --from-env VAR)");
	if (len > KN_SECRET_VALUE_MAX)
		return kn_fail(err, "the value is longer than %d characters", KN_SECRET_VALUE_MAX);
	return (ssize_t)len;
}

static int cmd_secret_set(const struct cli_command *cmd, const struct cli_globals *globals,
			  int argc, char **argv)
{
	enum { OPT_HOST = 0x100, OPT_HEADER, OPT_FORMAT, OPT_SANDBOX, OPT_FROM_ENV };
	static const struct option longopts[] = {
		{"host", required_argument, NULL, OPT_HOST},
		{"header", required_argument, NULL, OPT_HEADER},
		{"format", required_argument, NULL, OPT_FORMAT},
		{"sandbox", required_argument, NULL, OPT_SANDBOX},
		{"from-env", required_argument, NULL, OPT_FROM_ENV},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *hosts[KN_SECRET_MAX_HOSTS];
	size_t n_hosts = 0;
	const char *header = NULL, *format = NULL, *sandbox = NULL, *from_env = NULL;
	int c;
	cli_getopt_reset();
	/* Options may follow NAME, as the synopsis writes it (getopt permutes). */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HOST:
			if (n_hosts == KN_SECRET_MAX_HOSTS)
				return cli_usage_error(cmd, "more than %d --host patterns", KN_SECRET_MAX_HOSTS);
			hosts[n_hosts++] = optarg;
			break;
		case OPT_HEADER: header = optarg; break;
		case OPT_FORMAT: format = optarg; break;
		case OPT_SANDBOX: sandbox = optarg; break;
		case OPT_FROM_ENV: from_env = optarg; break;
		case 'h': return cli_help(cmd);
		default: return cli_getopt_error(cmd, longopts, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "missing NAME");
	if (optind + 1 < argc)
		/* Not quoted: it may well be the value, typed where it must not go. */
		return cli_usage_error(cmd, "unexpected argument after NAME (the value is read "
					    "from standard input, never from the command line)");
	const char *name = argv[optind];
	if (!valid_secret_name(name))
		return cli_usage_error(cmd, "invalid secret name '%s': 1 to 128 letters, digits, "
					    "'-', '_' and '.'", name);
	if (!n_hosts)
		return cli_usage_error(cmd, "at least one --host is required");
	if (!header)
		return cli_usage_error(cmd, "--header is required");
	const char *why;
	if (sandbox && !cli_valid_sandbox_name(sandbox, &why))
		return cli_usage_error(cmd, "invalid sandbox name '%s': %s", sandbox, why);

	/* From here on every JSON buffer may hold the value: wiped when freed. */
	json_set_alloc_funcs(malloc, kn_wipe_free);
	cli_protect_secrets();
	kn_error err = {0};
	_cleanup_wipe_free_ char *value = calloc(1, KN_SECRET_VALUE_MAX + 4);
	if (!value)
		return cli_report(&(kn_error){.msg = "out of memory"});
	ssize_t len;
	if (from_env) {
		const char *v = getenv(from_env);
		if (!v)
			return cli_report(&(kn_error){.msg = "--from-env: the variable is not set"});
		len = (ssize_t)strlen(v);
		if (len == 0 || len > KN_SECRET_VALUE_MAX)
			return cli_report(&(kn_error){.msg = "--from-env: the value must have 1 to 8192 characters"});
		memcpy(value, v, (size_t)len);
	} else if ((len = read_value(name, value, KN_SECRET_VALUE_MAX + 3, &err)) < 0) {
		return cli_report(&err);
	}
	json_t *body = json_object();
	json_t *hl = json_array();
	for (size_t i = 0; i < n_hosts; i++)
		json_array_append_new(hl, json_string(hosts[i]));
	json_object_set_new(body, "hosts", hl);
	json_object_set_new(body, "header", json_string(header));
	if (format)
		json_object_set_new(body, "format", json_string(format));
	if (sandbox)
		json_object_set_new(body, "sandbox", json_string(sandbox));
	/* Not json_string: it would refuse bytes that are not UTF-8 before the
	 * daemon can say what is wrong with them. */
	json_object_set_new(body, "value", json_stringn_nocheck(value, (size_t)len));
	char path[32 + KN_SECRET_NAME_MAX];
	snprintf(path, sizeof(path), "/secrets/%s", name);
	json_t *answer = NULL;
	int rc = cli_api_call(globals->socket_path, "PUT", path, body, NULL, &answer, &err);
	json_decref(body);
	if (rc < 0)
		return cli_report(&err);
	printf("%s\n", name);
	json_decref(answer);
	return 0;
}

static int cmd_secret_ls(const struct cli_command *cmd, const struct cli_globals *globals,
			 int argc, char **argv)
{
	enum { OPT_JSON = 0x100 };
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool as_json = false;
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == OPT_JSON)
			as_json = true;
		else if (c == 'h')
			return cli_help(cmd);
		else
			return cli_getopt_error(cmd, longopts, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	kn_error err = {0};
	json_t *answer = NULL;
	if (cli_api_call(globals->socket_path, "GET", "/secrets", NULL, NULL, &answer, &err) < 0)
		return cli_report(&err);
	json_t *list = json_object_get(answer, "secrets");
	int rc = 0;
	if (!json_is_array(list)) {
		rc = cli_report(&(kn_error){.msg = "kenneld's secret list has no \"secrets\" array"});
	} else if (as_json) {
		char *text = json_dumps(list, JSON_INDENT(4));
		if (text)
			puts(text);
		free(text);
	} else {
		char *table = NULL;
		if (cli_format_secret_table(list, &table, &err) < 0)
			rc = cli_report(&err);
		else
			fputs(table, stdout);
		free(table);
	}
	json_decref(answer);
	return rc;
}

static int cmd_secret_rm(const struct cli_command *cmd, const struct cli_globals *globals,
			 int argc, char **argv)
{
	static const struct option longopts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'h')
			return cli_help(cmd);
		return cli_getopt_error(cmd, longopts, c, argv);
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "missing NAME");
	for (int i = optind; i < argc; i++)
		if (!valid_secret_name(argv[i]))
			return cli_usage_error(cmd, "invalid secret name '%s'", argv[i]);
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		char path[32 + KN_SECRET_NAME_MAX];
		kn_error err = {0};
		snprintf(path, sizeof(path), "/secrets/%s", argv[i]);
		if (cli_api_call(globals->socket_path, "DELETE", path, NULL, NULL, NULL, &err) < 0)
			rc = cli_report(&err);
		else
			printf("%s\n", argv[i]);
	}
	return rc;
}
