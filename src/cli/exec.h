/* exec.h — one `POST /sandboxes/{name}/exec`, from request to exit status.
 *
 * Contract: cli_exec_session sends the exec request (api.md "Exec"), and then:
 *   - detach: prints the pid kenneld answers and returns 0;
 *   - otherwise: reads the "started" event, takes the fds it names (["pty"] with
 *     tty, else ["stdin"?, "stdout", "stderr"]), puts the caller's terminal in
 *     raw mode when tty and interactive (restored before returning), relays with
 *     cli_relay_run and returns the command's exit status.
 * It prints its own errors ("kennel: ...") and returns: 1 when kenneld refused
 * the request or could not be reached (nothing started); 125 when the stream
 * broke after the request was accepted (docker's "the tool itself failed").
 * With tty, the request carries the caller's window size when there is a
 * terminal to take it from. */
#ifndef KENNEL_CLI_EXEC_H
#define KENNEL_CLI_EXEC_H

#include <stdbool.h>
#include <stddef.h>

/* docker's exit status for "kennel itself failed", distinct from any status
 * the command could have: 126/127 (cannot run / not found) come from kenneld. */
#define CLI_EXIT_TOOL_FAILED 125

struct cli_exec_options {
	const char *const *cmd; /* argv, n_cmd >= 1 */
	size_t n_cmd;
	const char *const *env; /* "K=V" */
	size_t n_env;
	const char *user;       /* NULL: the daemon's default */
	const char *workdir;    /* NULL: the first workspace */
	bool tty, interactive, detach;
};

int cli_exec_session(const char *socket_path, const char *sandbox,
		     const struct cli_exec_options *opt);

#endif
