/* table.h — how `kennel ls` shows sandboxes (and `kennel secret ls` secrets).
 *
 * Contract: pure formatting, no I/O. cli_format_sandbox_table turns the array
 * from GET /sandboxes into docker-style columns NAME AGENT STATUS WORKSPACE
 * CREATED: a header line, one line per sandbox, columns as wide as their widest
 * cell and three spaces apart, no trailing spaces. WORKSPACE is the first
 * workspace's path, with " (+N)" when there are N more, ":ro" when read-only.
 * CREATED is "N minutes ago" as docker says it (go-units HumanDuration),
 * measured to `now`; a timestamp that is not RFC 3339 UTC is shown as sent.
 * A sandbox without a string "name" is refused (the daemon is broken); other
 * missing fields show "-". The result is a malloc'd string the caller frees. */
#ifndef KENNEL_CLI_TABLE_H
#define KENNEL_CLI_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "common/error.h"

int cli_format_sandbox_table(const json_t *sandboxes, time_t now, char **out, kn_error *err);
/* `kennel secret ls`: NAME HOSTS (comma-separated) HEADER FORMAT SANDBOX ("-"
 * for every sandbox), laid out the same way, from GET /secrets's list. There
 * is no value to show: the daemon never sends one. */
int cli_format_secret_table(const json_t *secrets, char **out, kn_error *err);
/* "2026-11-23T07:40:00Z" (fractional seconds allowed) to a time_t: 0 or -1. */
int cli_parse_utc_timestamp(const char *text, time_t *out);
/* "Less than a second ago", "About a minute ago", "3 hours ago", ... */
void cli_format_ago(time_t then, time_t now, char *buf, size_t size);

#endif
