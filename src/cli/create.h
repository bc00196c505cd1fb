/* create.h — creating a sandbox, shared by `kennel create` and `kennel run`.
 *
 * Contract: the options both commands take (--name, --cpus, --memory, --pids,
 * --image, --isolation) are listed once in CLI_CREATE_LONGOPTS and parsed by
 * cli_create_option; cli_create_sandbox sends POST /sandboxes and returns the
 * sandbox object kenneld answers (caller decrefs). Values are checked here
 * (args.h) before anything is sent; the daemon checks them again. */
#ifndef KENNEL_CLI_CREATE_H
#define KENNEL_CLI_CREATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli/args.h"
#include "cli/cli.h"

enum {
	CLI_OPT_NAME = 0x100, /* above every short option character */
	CLI_OPT_CPUS,
	CLI_OPT_MEMORY,
	CLI_OPT_PIDS,
	CLI_OPT_IMAGE,
	CLI_OPT_ISOLATION,
};

#define CLI_CREATE_LONGOPTS                                                \
	{"name", required_argument, NULL, CLI_OPT_NAME},                   \
	{"cpus", required_argument, NULL, CLI_OPT_CPUS},                   \
	{"memory", required_argument, NULL, CLI_OPT_MEMORY},               \
	{"pids", required_argument, NULL, CLI_OPT_PIDS},                   \
	{"image", required_argument, NULL, CLI_OPT_IMAGE},                 \
	{"isolation", required_argument, NULL, CLI_OPT_ISOLATION}

#define CLI_CREATE_HELP                                                                   \
	"      --name NAME     name the sandbox (default: AGENT-<workspace basename>)\n" \
	"      --cpus N        CPU limit, e.g. 2 or 0.5\n"                                  \
	"      --memory SIZE   memory limit, e.g. 512m, 2g, 1.5G\n"                         \
	"      --pids N        process limit\n"                                             \
	"      --image DIR     base filesystem directory (default: the host's /usr etc.)\n" \
	"      --isolation ns|vm  namespaces, or a QEMU microVM with its own kernel\n"      \
	"                      (default: kenneld's --isolation, itself ns by default)\n"

struct cli_create_options {
	const char *name;
	double cpus;    /* 0: none */
	int64_t memory; /* 0: none */
	int64_t pids;   /* 0: none */
	char *image;    /* resolved absolute directory, or NULL; owned */
	const char *isolation; /* "ns", "vm" or NULL: the daemon's default */
};

/* Handle one getopt_long result `c` if it is a create option: returns 0 when
 * handled, the exit status after printing the problem (CLI_EXIT_USAGE for a bad
 * value, CLI_EXIT_FAILURE for an --image that is not a directory), or -1 when
 * `c` is not a create option. */
int cli_create_option(const struct cli_command *cmd, int c, const char *arg,
		      struct cli_create_options *opts);
bool cli_create_has_limits(const struct cli_create_options *opts);
void cli_create_options_clear(struct cli_create_options *opts);

int cli_create_sandbox(const struct cli_globals *globals, const struct cli_create_options *opts,
		       const char *agent, const struct cli_workspace *workspaces, size_t n,
		       json_t **sandbox, kn_error *err);

#endif
