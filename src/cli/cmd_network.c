/* cmd_network.c — `kennel network proxy` and `kennel network log` (contract:
 * commands.h, cli.h); the pure editing and formatting they use is network.c.
 *
 * `network` is one entry of main.c's table; its handler dispatches to the two
 * subcommands, which have command entries of their own so that their usage
 * errors and help read "kennel network proxy: ...". Unlike the other commands,
 * their options may also follow SANDBOX, as in `docker sandbox network proxy
 * my-sandbox --block-host example.com`. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/network.h"
#include "cli/table.h"
#include "common/util.h"

/* How often `network log -f` asks for new decisions: fast enough to look live
 * to a person, slow enough that an idle follower costs the daemon two small
 * requests a second. */
#define FOLLOW_INTERVAL_MS 500
/* api.md: GET /network/log returns at most 10000 entries per request. */
#define NETLOG_MAX_LIMIT 10000
/* A follow request asks for the most the daemon gives, so that a burst
 * between two polls is not cut to the daemon's default of 100. */
#define FOLLOW_BATCH_LIMIT NETLOG_MAX_LIMIT
/* A cursor is "<inode>:<offset>" (two 64-bit numbers, 41 bytes); anything
 * longer is not one, and would not fit the request line we build. */
#define CURSOR_MAX 64
#define HELP_OPTION "  -h, --help              show this help\n"

/* ---- the commands --------------------------------------------------------- */

static cli_handler cmd_network_proxy, cmd_network_log;

static const char network_proxy_help[] =
	"Without changes (or with --show), prints the policy in force for SANDBOX, or\n"
	"with --default the policy a new sandbox starts with. With changes, applies\n"
	"them to that policy (--reset first, then --policy, then each list option\n"
	"appends its pattern), saves the result, and prints it. A change applies at\n"
	"once to a running sandbox and survives restarts. An invalid pattern is\n"
	"refused, naming the entry, and nothing changes.\n"
	"\n"
	"Host patterns: \"example.com\" (that host only), \"*.example.com\" (any\n"
	"subdomain, not the apex), \"*\" (all), each optionally with \":PORT\". CIDRs:\n"
	"\"203.0.113.0/24\", \"2001:db8::/32\". The most specific host rule wins; at\n"
	"equal specificity a block wins. Private, loopback and link-local ranges are\n"
	"always blocked unless --allow-cidr opens them.\n"
	"\n"
	"Options (may come before or after SANDBOX):\n"
	"      --default           the default policy for new sandboxes\n"
	"      --policy allow|deny what happens when no host rule matches\n"
	"      --allow-host P      allow hosts matching P (repeatable)\n"
	"      --block-host P      block hosts matching P (repeatable)\n"
	"      --allow-cidr C      remove range C from the blocked ranges (repeatable)\n"
	"      --block-cidr C      block addresses in range C (repeatable)\n"
	"      --bypass-host P     tunnel to hosts matching P without TLS interception\n"
	"                          (repeatable; host and port rules still apply)\n"
	"      --bypass-cidr C     same, for addresses in range C (repeatable)\n"
	"      --reset             drop every rule first, keeping the default policy\n"
	"      --show              print the policy (the default without changes)\n"
	"      --json              print the policy as JSON\n" HELP_OPTION;

static const char network_log_help[] =
	"Prints the egress proxy's decisions, oldest first: one line per CONNECT or\n"
	"plain-HTTP request, with the rule that decided it and the bytes moved.\n"
	"Without SANDBOX, the decisions of every sandbox.\n"
	"\n"
	"Options (may come before or after SANDBOX):\n"
	"      --json              print one JSON object per decision and line\n"
	"      --limit N           print the last N decisions (default 100, at most\n"
	"                          10000)\n"
	"  -f, --follow            then keep printing new decisions until interrupted\n" HELP_OPTION;

static const struct cli_command network_subcommands[] = {
	{"network proxy", cmd_network_proxy, "Show or change a sandbox's network policy",
	 "network proxy [OPTIONS] SANDBOX\n"
	 "network proxy [OPTIONS] --default",
	 network_proxy_help},
	{"network log", cmd_network_log, "Show the egress proxy's decisions",
	 "network log [OPTIONS] [SANDBOX]", network_log_help},
};

const char cli_network_help[] =
	"Commands:\n"
	"  proxy     Show or change a sandbox's network policy\n"
	"  log       Show the egress proxy's decisions\n"
	"\n"
	"Options:\n" HELP_OPTION "\n"
	"Run 'kennel network COMMAND --help' for more on a command.\n";

int cli_cmd_network(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		    char **argv)
{
	return cli_run_group(cmd, globals, argc, argv, network_subcommands,
			     KN_ARRAY_SIZE(network_subcommands), "proxy or log");
}

/* getopt_long over options and at most one positional, in any order: getopt
 * with "+" stops at the first positional, next_option stores it in
 * `positional` and resumes after it. Everything after "--" is positional.
 * Returns the option, -1 at the end, or -2 when a second positional came (the
 * usage error is printed and its exit status is in `status`). */
struct interleaved {
	const struct cli_command *cmd;
	const struct option *longopts;
	const char *optstring;
	const char *positional;
	bool only_positionals; /* after "--" */
	int status;
};

static int next_option(struct interleaved *p, int argc, char **argv)
{
	for (;;) {
		int c = -1;
		if (!p->only_positionals) {
			/* The element getopt looks at next (optind 0 means 1: a reset). After
			 * it consumed a "--" it must not be called again: glibc would move
			 * optind back to it. */
			int at = optind > 0 ? optind : 1;
			const char *before = at < argc ? argv[at] : NULL;
			c = getopt_long(argc, argv, p->optstring, p->longopts, NULL);
			if (c == -1 && before && strcmp(before, "--") == 0 && optind > 0 &&
			    argv[optind - 1] == before)
				p->only_positionals = true;
		}
		if (c != -1)
			return c;
		if (optind >= argc)
			return -1;
		if (p->positional) {
			p->status = cli_usage_error(p->cmd, "unexpected argument '%s'", argv[optind]);
			return -2;
		}
		p->positional = argv[optind++];
	}
}

static void print_json(const json_t *value, size_t flags)
{
	char *text = json_dumps(value, flags);
	if (text)
		puts(text);
	else
		fprintf(stderr, "kennel: out of memory formatting JSON\n");
	free(text);
}

static int print_policy(const json_t *config, bool as_json)
{
	if (as_json) {
		print_json(config, JSON_INDENT(4));
		return 0;
	}
	kn_error err = {0};
	char *text = NULL;
	if (cli_format_policy(config, &text, &err) < 0)
		return cli_report(&err);
	fputs(text, stdout);
	free(text);
	return 0;
}

static int cmd_network_proxy(const struct cli_command *cmd, const struct cli_globals *globals,
			     int argc, char **argv)
{
	enum {
		OPT_LIST = 0x100, /* + enum cli_rule_list */
		OPT_DEFAULT = OPT_LIST + CLI_RULE_LISTS,
		OPT_POLICY,
		OPT_RESET,
		OPT_SHOW,
		OPT_JSON,
	};
	static const struct option longopts[] = {
		{"allow-host", required_argument, NULL, OPT_LIST + CLI_ALLOW_HOSTS},
		{"block-host", required_argument, NULL, OPT_LIST + CLI_BLOCK_HOSTS},
		{"allow-cidr", required_argument, NULL, OPT_LIST + CLI_ALLOW_CIDRS},
		{"block-cidr", required_argument, NULL, OPT_LIST + CLI_BLOCK_CIDRS},
		{"bypass-host", required_argument, NULL, OPT_LIST + CLI_BYPASS_HOSTS},
		{"bypass-cidr", required_argument, NULL, OPT_LIST + CLI_BYPASS_CIDRS},
		{"default", no_argument, NULL, OPT_DEFAULT},
		{"policy", required_argument, NULL, OPT_POLICY},
		{"reset", no_argument, NULL, OPT_RESET},
		{"show", no_argument, NULL, OPT_SHOW},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct interleaved p = {.cmd = cmd, .longopts = longopts, .optstring = "+:h"};
	struct cli_policy_change change = {0};
	bool for_default = false, as_json = false;
	json_t *config = NULL, *policy = NULL, *body = NULL, *result = NULL;
	kn_error err = {0};
	int c, rc = 0;
	cli_getopt_reset();
	while ((c = next_option(&p, argc, argv)) >= 0) {
		if (c >= OPT_LIST && c < OPT_LIST + CLI_RULE_LISTS) {
			if (cli_policy_change_add(&change, (enum cli_rule_list)(c - OPT_LIST), optarg,
						  &err) < 0) {
				/* The list options come first in longopts, in list order. */
				rc = err.errnum == EILSEQ
					     ? cli_usage_error(cmd, "--%s: the pattern is not valid UTF-8",
							       longopts[c - OPT_LIST].name)
					     : cli_report(&err);
				goto out;
			}
			continue;
		}
		switch (c) {
		case OPT_DEFAULT:
			for_default = true;
			break;
		case OPT_POLICY:
			if (strcmp(optarg, "allow") != 0 && strcmp(optarg, "deny") != 0) {
				rc = cli_usage_error(cmd, "--policy must be allow or deny, not '%s'",
						     optarg);
				goto out;
			}
			change.policy_default = optarg;
			break;
		case OPT_RESET:
			change.reset = true;
			break;
		case OPT_SHOW:
			break; /* showing is what happens anyway */
		case OPT_JSON:
			as_json = true;
			break;
		case 'h':
			rc = cli_help(cmd);
			goto out;
		default:
			rc = cli_getopt_error(cmd, longopts, c, argv);
			goto out;
		}
	}
	if (c == -2) {
		rc = p.status;
		goto out;
	}
	const char *sandbox = p.positional;
	if (sandbox && for_default) {
		rc = cli_usage_error(cmd, "SANDBOX and --default exclude each other");
		goto out;
	}
	if (!sandbox && !for_default) {
		rc = cli_usage_error(cmd, "missing SANDBOX (or --default for the policy of new "
					  "sandboxes)");
		goto out;
	}
	if (sandbox && (rc = cli_check_names(cmd, (char **)&sandbox, 1)))
		goto out;

	char path[128];
	if (sandbox)
		snprintf(path, sizeof(path), "/network/proxyconfig?sandbox=%s", sandbox);
	else
		snprintf(path, sizeof(path), "/network/proxyconfig");
	if (cli_api_call(globals->socket_path, "GET", path, NULL, NULL, &config, &err) < 0) {
		rc = cli_report(&err);
		goto out;
	}
	if (cli_policy_change_empty(&change)) {
		rc = print_policy(config, as_json);
		goto out;
	}
	if (cli_policy_apply(json_object_get(config, "policy"), &change, &policy, &err) < 0) {
		rc = cli_report(&err);
		goto out;
	}
	body = json_pack("{s:o,s:O}", "sandbox", sandbox ? json_string(sandbox) : json_null(),
			 "policy", policy);
	if (!body) {
		rc = cli_report(&(kn_error){.msg = "out of memory"});
		goto out;
	}
	if (cli_api_call(globals->socket_path, "POST", "/network/proxyconfig", body, NULL, &result,
			 &err) < 0) {
		rc = cli_report(&err);
		goto out;
	}
	rc = print_policy(result, as_json);
	const char *conflict;
	size_t n = cli_policy_conflicts(json_object_get(result, "policy"), &conflict);
	if (n > 0) {
		fflush(stdout);
		fprintf(stderr,
			"kennel: warning: '%s'%s both allowed and blocked; at equal specificity a "
			"block wins (use --reset to start over)\n",
			conflict, n > 1 ? " and others are" : " is");
	}
out:
	json_decref(result);
	json_decref(body);
	json_decref(policy);
	json_decref(config);
	cli_policy_change_clear(&change);
	return rc;
}

/* Print one batch of entries; 0 or the exit status. */
static int print_entries(const json_t *answer, bool as_json, struct cli_netlog_table *table)
{
	const json_t *entries = json_object_get(answer, "entries");
	kn_error err = {0};
	if (as_json) {
		if (!json_is_array(entries))
			return cli_report(&(kn_error){.msg = "kenneld's decision log has no "
							     "\"entries\" array"});
		size_t i;
		const json_t *e;
		json_array_foreach(entries, i, e)
			print_json(e, JSON_COMPACT);
	} else {
		char *text = NULL;
		if (cli_format_netlog(table, entries, &text, &err) < 0)
			return cli_report(&err);
		fputs(text, stdout);
		free(text);
	}
	fflush(stdout);
	return 0;
}

/* The cursor goes into a URL as it came: the daemon does not decode queries,
 * so anything that would need escaping means the answer is not what we know. */
static const char *answer_cursor(const json_t *answer)
{
	const char *cursor = json_string_value(json_object_get(answer, "cursor"));
	if (!cursor || !*cursor || strlen(cursor) > CURSOR_MAX ||
	    strspn(cursor, "0123456789:ABCDEFabcdef._-") != strlen(cursor))
		return NULL;
	return cursor;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Sleep FOLLOW_INTERVAL_MS; false when SIGINT came (before or during). */
static bool follow_pause(void)
{
	struct timespec left = {.tv_sec = FOLLOW_INTERVAL_MS / 1000,
				.tv_nsec = (long)(FOLLOW_INTERVAL_MS % 1000) * 1000000L};
	while (!interrupted && nanosleep(&left, &left) < 0 && errno == EINTR)
		;
	return !interrupted;
}

/* From here on SIGINT ends `-f` cleanly. No SA_RESTART: it cuts a pause
 * short. A request in flight is finished (the client retries on EINTR). */
static int catch_interrupt(void)
{
	struct sigaction sa = {.sa_handler = on_interrupt};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0) {
		kn_error err = {0};
		kn_fail_errno(&err, "sigaction SIGINT");
		return cli_report(&err);
	}
	return 0;
}

static int follow(const struct cli_globals *globals, const char *sandbox, const char *cursor,
		  bool as_json, struct cli_netlog_table *table)
{
	_cleanup_free_ char *next = strdup(cursor);
	if (!next)
		return cli_report(&(kn_error){.msg = "out of memory"});
	while (follow_pause()) {
		char path[256];
		snprintf(path, sizeof(path), "/network/log?cursor=%s&limit=%d%s%s", next,
			 FOLLOW_BATCH_LIMIT, sandbox ? "&sandbox=" : "", sandbox ? sandbox : "");
		kn_error err = {0};
		json_t *answer = NULL;
		if (cli_api_call(globals->socket_path, "GET", path, NULL, NULL, &answer, &err) < 0) {
			if (interrupted)
				break;
			return cli_report(&err);
		}
		int rc = print_entries(answer, as_json, table);
		const char *c = answer_cursor(answer);
		if (!rc && !c)
			rc = cli_report(&(kn_error){.msg = "kenneld's decision log answer has no "
							   "usable \"cursor\""});
		if (!rc) {
			free(next);
			next = strdup(c);
			if (!next)
				rc = cli_report(&(kn_error){.msg = "out of memory"});
		}
		json_decref(answer);
		if (rc)
			return rc;
	}
	return 0;
}

static int cmd_network_log(const struct cli_command *cmd, const struct cli_globals *globals,
			   int argc, char **argv)
{
	enum { OPT_JSON = 0x100, OPT_LIMIT };
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"follow", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct interleaved p = {.cmd = cmd, .longopts = longopts, .optstring = "+:fh"};
	bool as_json = false, follow_on = false;
	long limit = 0; /* 0: the daemon's default */
	int c;
	cli_getopt_reset();
	while ((c = next_option(&p, argc, argv)) >= 0) {
		switch (c) {
		case OPT_JSON:
			as_json = true;
			break;
		case OPT_LIMIT: {
			char *end;
			errno = 0;
			limit = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '+' || optarg[0] == '-' ||
			    optarg[0] == ' ' || limit < 1 || limit > NETLOG_MAX_LIMIT)
				return cli_usage_error(cmd, "--limit must be a number from 1 to %d, "
							    "not '%s'",
						       NETLOG_MAX_LIMIT, optarg);
			break;
		}
		case 'f':
			follow_on = true;
			break;
		case 'h':
			return cli_help(cmd);
		default:
			return cli_getopt_error(cmd, longopts, c, argv);
		}
	}
	if (c == -2)
		return p.status;
	const char *sandbox = p.positional;
	int rc = 0;
	if (sandbox && (rc = cli_check_names(cmd, (char **)&sandbox, 1)))
		return rc;

	char path[256], limit_text[32] = "";
	if (limit)
		snprintf(limit_text, sizeof(limit_text), "limit=%ld", limit);
	snprintf(path, sizeof(path), "/network/log%s%s%s%s%s", limit || sandbox ? "?" : "",
		 limit_text, limit && sandbox ? "&" : "", sandbox ? "sandbox=" : "",
		 sandbox ? sandbox : "");
	if (follow_on && (rc = catch_interrupt()))
		return rc;
	kn_error err = {0};
	json_t *answer = NULL;
	if (cli_api_call(globals->socket_path, "GET", path, NULL, NULL, &answer, &err) < 0)
		return interrupted ? 0 : cli_report(&err);
	struct cli_netlog_table table = {0};
	rc = print_entries(answer, as_json, &table);
	if (!rc && follow_on && !interrupted) {
		const char *cursor = answer_cursor(answer);
		if (!cursor)
			rc = cli_report(&(kn_error){.msg = "kenneld's decision log answer has no "
							   "usable \"cursor\""});
		else
			rc = follow(globals, sandbox, cursor, as_json, &table);
	}
	json_decref(answer);
	return rc;
}
