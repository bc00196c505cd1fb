/* cmd_misc.c — `kennel version` and `kennel daemon` (contract: commands.h, cli.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/version.h"

const char cli_version_help[] =
	"Prints the client's version, then the daemon's (and fails if it cannot be\n"
	"reached).\n"
	"\n"
	"Options:\n"
	"  -h, --help          show this help\n";

const char cli_daemon_help[] =
	"Runs kenneld, the root daemon, in the foreground: the kenneld next to this\n"
	"kennel binary if there is one, else the first in PATH. Its options:\n"
	"\n"
	"      --socket PATH      API socket (default /run/kennel/kenneld.sock)\n"
	"      --state-dir DIR    state directory (default /var/lib/kennel)\n"
	"      --group NAME       group allowed to use the socket (default kennel)\n"
	"      --debug            log debug messages\n"
	"      --version          print kenneld's version\n"
	"  -h, --help             show this help\n";

int cli_cmd_version(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		    char **argv)
{
	int rc = cli_help_only(cmd, argc, argv);
	if (rc >= 0)
		return rc;
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);

	printf("Client:\n"
	       " Version:     %s\n"
	       " Git commit:  %s\n",
	       KENNEL_VERSION, KENNEL_GIT_REV);
	fflush(stdout);
	kn_error err = {0};
	json_t *answer = NULL;
	if (cli_api_call(globals->socket_path, "GET", "/version", NULL, NULL, &answer, &err) < 0)
		return cli_report(&err);
	const char *version = json_string_value(json_object_get(answer, "version"));
	const char *git = json_string_value(json_object_get(answer, "git"));
	json_t *api = json_object_get(answer, "api");
	printf("Server: kenneld at %s\n"
	       " Version:     %s\n"
	       " Git commit:  %s\n",
	       globals->socket_path, version ? version : "(not given)", git ? git : "(not given)");
	if (json_is_integer(api))
		printf(" API version: %" JSON_INTEGER_FORMAT "\n", json_integer_value(api));
	else
		printf(" API version: (not given)\n");
	json_decref(answer);
	return 0;
}

/* The kenneld installed beside this kennel (build/kenneld next to
 * build/kennel), or NULL. */
static char *sibling_kenneld(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	char *path = NULL;
	if (asprintf(&path, "%s/kenneld", self) < 0)
		return NULL;
	if (access(path, X_OK) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

int cli_cmd_daemon(const struct cli_command *cmd, const struct cli_globals *globals, int argc,
		   char **argv)
{
	/* kenneld has its own --socket; the global one is not passed on, so that
	 * `kennel daemon` does what `kenneld` does with the same arguments. */
	(void)globals;
	/* Everything else is kenneld's to parse; only help is ours (it lists
	 * kenneld's options too). */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return cli_help(cmd);
	char **args = calloc((size_t)argc + 1, sizeof(char *));
	if (!args)
		return cli_report(&(kn_error){.msg = "out of memory"});
	for (int i = 1; i < argc; i++)
		args[i] = argv[i];
	fflush(NULL);
	char *sibling = sibling_kenneld();
	if (sibling) {
		args[0] = sibling;
		execv(sibling, args);
		kn_error err = {0};
		kn_fail_errno(&err, "execv %s", sibling);
		free(sibling);
		free(args);
		return cli_report(&err);
	}
	args[0] = "kenneld";
	execvp("kenneld", args);
	kn_error err = {0};
	if (errno == ENOENT)
		kn_fail(&err, "cannot find kenneld: it is neither next to this kennel binary nor "
			      "in PATH");
	else
		kn_fail_errno(&err, "execvp kenneld");
	free(args);
	return cli_report(&err);
}
