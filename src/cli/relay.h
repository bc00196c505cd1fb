/* relay.h — moving an exec'd process's I/O between the caller and the sandbox.
 *
 * Contract: cli_relay_run takes ownership of the fds kenneld sent (pty,
 * stdin_w, stdout_r, stderr_r: it closes them; in_fd and term_fd stay open)
 * and relays with poll(2) until the command is over:
 *   - pty mode (pty >= 0): in_fd → pty, pty → stdout. The pty follows the size
 *     of term_fd on SIGWINCH (TIOCSWINSZ on the master), and is set to it once
 *     at the start. After the exit event, output is drained until the pty
 *     reports the slave closed (EIO) or is quiet for CLI_PTY_DRAIN_MS.
 *   - pipe mode: in_fd → stdin_w (closed at EOF on in_fd, so the process sees
 *     EOF), stdout_r → 1, stderr_r → 2; done once both output pipes reached EOF
 *     and the exit event arrived.
 * Writes toward the sandbox never block the loop (the process may not be
 * reading its input while we must drain its output); a process that closes its
 * stdin just stops getting input. If the caller's stdout or stderr is a closed
 * pipe, that stream is closed toward the process, which then gets SIGPIPE as
 * it would outside kennel. SIGPIPE must be ignored by the caller.
 * Events come from `conn` (the exec stream): `{"event":"exit","exit_code":N}`
 * sets *exit_code; other events are ignored, for newer daemons.
 * Returns 0 with *exit_code set, or -1 with `err` set when the stream broke,
 * above all when kenneld closed it without an exit event. */
#ifndef KENNEL_CLI_RELAY_H
#define KENNEL_CLI_RELAY_H

#include "cli/client.h"
#include "common/error.h"

/* After the exit event, how long a pty may stay silent before we stop waiting
 * for the slave to close: a background job that keeps the terminal open must
 * not keep kennel from returning, and the last output of the exited command
 * is in the pty buffer well within a quarter second. */
#define CLI_PTY_DRAIN_MS 250
/* Bytes moved per read: one pipe buffer's worth. */
#define CLI_RELAY_CHUNK 65536

struct cli_relay {
	struct cli_conn *conn; /* the exec stream, after the "started" event */
	int in_fd;             /* caller's input to forward, or -1 (not interactive) */
	int pty;               /* pty master (tty mode), or -1 */
	int stdin_w;           /* pipe mode: the process's stdin, or -1 */
	int stdout_r, stderr_r; /* pipe mode: the process's outputs, or -1 */
	int term_fd;           /* caller's terminal the pty's size follows, or -1 */
};

int cli_relay_run(struct cli_relay *r, int *exit_code, kn_error *err);

#endif
