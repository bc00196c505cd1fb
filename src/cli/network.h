/* network.h — the pure parts of `kennel network proxy` and `kennel network log`
 * (cmd_network.c): editing a policy, and showing a policy and decision log
 * entries. No I/O; JSON shapes are api.md's "Network" section.
 *
 * Contract, policy:
 *   - cli_policy_apply builds the policy to POST from the one in force
 *     (`current`, the "policy" of GET /network/proxyconfig) and the command
 *     line's changes: with `reset`, it starts from {"default": D} where D is
 *     the current default (or "allow" when there is none), else from a copy of
 *     `current` (keys it does not know are kept); then `policy_default` (when
 *     set) replaces "default"; then each list flag appends its patterns to its
 *     list, in command-line order, skipping a pattern already in that list with
 *     the same spelling. Patterns are not checked here: the daemon is the one
 *     judge and names a bad entry. `current` is never modified.
 *   - cli_policy_conflicts counts the patterns that are both in "allow_hosts"
 *     and "block_hosts" (same spelling) and names the first: at equal
 *     specificity a block wins, so such an allow has no effect.
 *   - cli_format_policy renders a GET/POST /network/proxyconfig answer for
 *     people: whose policy it is, the default, then each rule list, one pattern
 *     per line, "-" for an empty list. Refuses an answer without a "policy"
 *     object.
 *
 * Contract, log:
 *   - cli_format_netlog renders decision log entries as docker-style columns
 *     TIME SANDBOX METHOD HOST PORT DECISION RULE STATUS UP DOWN DURATION,
 *     three spaces apart, no trailing spaces. The first call prints the header;
 *     a column is as wide as its widest cell seen so far, so that `-f`, which
 *     formats each new batch with the same table, keeps its columns aligned
 *     unless a wider cell arrives. TIME is UTC to the second
 *     ("2026-01-29T10:15:23Z"), UP/DOWN are bytes as docker shows sizes
 *     (cli_format_bytes), DURATION is cli_format_duration_ms; a missing or
 *     null field is "-". The log's text fields come from what a sandbox sent,
 *     so every byte outside printable ASCII is shown as '?' (no terminal
 *     escapes).
 *     An entry that is not an object is refused (the daemon is broken).
 *   - cli_format_bytes: go-units HumanSize, as `docker images` shows sizes:
 *     decimal units, four significant digits ("0B", "512B", "1.5kB",
 *     "123.5MB").
 *   - cli_format_duration_ms: "850ms", "1.2s" (under a minute), "2m5s" (under
 *     an hour), "1h2m".
 * Every result is a malloc'd string the caller frees. */
#ifndef KENNEL_CLI_NETWORK_H
#define KENNEL_CLI_NETWORK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* The rule lists of a policy, in api.md's order. */
enum cli_rule_list {
	CLI_ALLOW_HOSTS,
	CLI_BLOCK_HOSTS,
	CLI_ALLOW_CIDRS,
	CLI_BLOCK_CIDRS,
	CLI_BYPASS_HOSTS,
	CLI_BYPASS_CIDRS,
	CLI_RULE_LISTS
};
/* Their JSON keys: "allow_hosts", ... */
extern const char *const cli_rule_list_keys[CLI_RULE_LISTS];

struct cli_policy_change {
	bool reset;
	const char *policy_default;   /* "allow", "deny", or NULL: keep */
	json_t *add[CLI_RULE_LISTS];  /* arrays of pattern strings, or NULL */
};

/* true when the change would change nothing (no reset, default or pattern). */
bool cli_policy_change_empty(const struct cli_policy_change *change);
/* Append one pattern to a list of the change: 0, or -1 when out of memory or
 * when the pattern is not UTF-8 (JSON cannot carry it; err->errnum EILSEQ). */
int cli_policy_change_add(struct cli_policy_change *change, enum cli_rule_list list,
			  const char *pattern, kn_error *err);
void cli_policy_change_clear(struct cli_policy_change *change);

int cli_policy_apply(const json_t *current, const struct cli_policy_change *change, json_t **out,
		     kn_error *err);
size_t cli_policy_conflicts(const json_t *policy, const char **first);
int cli_format_policy(const json_t *config, char **out, kn_error *err);

enum { CLI_NETLOG_COLUMNS = 11 };
struct cli_netlog_table {
	size_t width[CLI_NETLOG_COLUMNS]; /* widest cell so far, per column */
	bool header_done;
};

/* `table` starts zeroed; `entries` is the "entries" array of GET /network/log.
 * With `header_done` set and no entries, the result is "". */
int cli_format_netlog(struct cli_netlog_table *table, const json_t *entries, char **out,
		      kn_error *err);
void cli_format_bytes(uint64_t bytes, char *buf, size_t size);
void cli_format_duration_ms(uint64_t ms, char *buf, size_t size);

#endif
