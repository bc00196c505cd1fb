/* args.h — parsing and checking of the kennel CLI's argument values.
 *
 * Contract: each function turns one command-line string into a value or fails
 * with `err` naming the value and the problem; nothing here talks to the daemon.
 *   - cli_parse_size: "512m", "2g", "1.5G", "100k", "4096", "1t", with an optional
 *     trailing "b" or "ib" ("512MiB"); binary units (k = 1024), case-insensitive.
 *     A fraction needs a unit and is truncated to whole bytes. Refuses empty
 *     strings, signs, spaces, junk, more than CLI_SIZE_MAX_FRACTION_DIGITS after
 *     the point, and anything above INT64_MAX (what JSON integers carry).
 *   - cli_parse_cpus: a plain positive decimal ("2", "0.5"), at most CLI_MAX_CPUS.
 *   - cli_parse_pids: a plain positive integer, at most CLI_MAX_PIDS.
 *   - cli_valid_sandbox_name: api.md's rule (1–63 of [A-Za-z0-9_.-], starting
 *     with a letter or digit); returns 1 or 0, with `why` set when 0.
 *   - cli_parse_workspace: "PATH", "PATH:ro" or "PATH:rw". Only a final ":ro" or
 *     ":rw" is an option, so "/a:b" is the path "/a:b"; a directory whose name
 *     really ends in ":ro" is written "DIR:ro:rw". PATH is resolved with
 *     realpath(3) (relative to the current directory) and must be a directory;
 *     the error names the path as the user wrote it.
 *   - cli_resolve_dir: realpath(3) of an existing directory (e.g. --image);
 *     errors read "<what> '<text>': <problem>".
 */
#ifndef KENNEL_CLI_ARGS_H
#define KENNEL_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* Sizes like "1.123456G" are already byte-exact enough; six digits also keep
 * fraction * unit (10^6 * 2^40) inside int64 arithmetic. */
#define CLI_SIZE_MAX_FRACTION_DIGITS 6
/* The largest NR_CPUS a distribution kernel is built with (x86_64 MAXSMP). */
#define CLI_MAX_CPUS 8192.0
/* PID_MAX_LIMIT on 64-bit Linux: no cgroup pids.max above it can mean anything. */
#define CLI_MAX_PIDS 4194304
/* api.md: a sandbox name is a folder in the state dir and a hostname label. */
#define CLI_MAX_NAME 63

int cli_parse_size(const char *text, int64_t *out, kn_error *err);
int cli_parse_cpus(const char *text, double *out, kn_error *err);
int cli_parse_pids(const char *text, int64_t *out, kn_error *err);
bool cli_valid_sandbox_name(const char *name, const char **why);

struct cli_workspace {
	char *path; /* absolute, resolved; owned (free with cli_workspace_clear) */
	bool readonly;
};
int cli_parse_workspace(const char *text, struct cli_workspace *out, kn_error *err);
/* -e's argument: "K=V" as it is; "K" becomes "K=<the caller's value of K>".
 * NULL with err set: errnum EINVAL when K is empty or not set here (a usage
 * error), else out of memory. */
char *cli_env_entry(const char *arg, kn_error *err);
int cli_resolve_dir(const char *what, const char *text, char **out, kn_error *err);
void cli_workspace_clear(struct cli_workspace *ws);

#endif
