/* term.h — the caller's terminal during `kennel exec -t` and `kennel run`.
 *
 * Contract: cli_term_make_raw saves the terminal state of `fd` and puts it in raw
 * mode (cfmakeraw). The saved state is put back by cli_term_restore, at exit()
 * (atexit), and by handlers for the signals that end the process (SIGHUP,
 * SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL),
 * which restore the terminal and then let the signal take its default course;
 * so every way out leaves the terminal as it was, except SIGKILL. Restoring is
 * idempotent. Only one terminal is managed at a time.
 * cli_term_size reads a terminal's window size; it returns -1 (errno set) when
 * `fd` is not a terminal or has no size. */
#ifndef KENNEL_CLI_TERM_H
#define KENNEL_CLI_TERM_H

#include "common/error.h"

int cli_term_make_raw(int fd, kn_error *err);
void cli_term_restore(void);
int cli_term_size(int fd, unsigned short *rows, unsigned short *cols);
/* The first of stdin, stdout, stderr that is a terminal, or -1. */
int cli_term_find(void);

#endif
