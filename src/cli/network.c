/* network.c — the pure half of `kennel network` (contract: network.h): editing
 * a policy's JSON by the command's flags, and formatting policies and decision
 * log entries for people. No I/O. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/network.h"
#include "cli/table.h"
#include "common/util.h"

/* docker's tabwriter padding between columns (as table.c). */
#define COLUMN_GAP 3

/* ---- policy editing (pure) ------------------------------------------------ */

const char *const cli_rule_list_keys[CLI_RULE_LISTS] = {
	[CLI_ALLOW_HOSTS] = "allow_hosts",   [CLI_BLOCK_HOSTS] = "block_hosts",
	[CLI_ALLOW_CIDRS] = "allow_cidrs",   [CLI_BLOCK_CIDRS] = "block_cidrs",
	[CLI_BYPASS_HOSTS] = "bypass_hosts", [CLI_BYPASS_CIDRS] = "bypass_cidrs",
};

bool cli_policy_change_empty(const struct cli_policy_change *change)
{
	if (change->reset || change->policy_default)
		return false;
	for (size_t i = 0; i < CLI_RULE_LISTS; i++)
		if (json_array_size(change->add[i]) > 0)
			return false;
	return true;
}

int cli_policy_change_add(struct cli_policy_change *change, enum cli_rule_list list,
			  const char *pattern, kn_error *err)
{
	if (!change->add[list] && !(change->add[list] = json_array()))
		return kn_fail(err, "out of memory");
	json_t *s = json_string(pattern);
	if (!s) {
		kn_fail(err, "%s pattern is not valid UTF-8", cli_rule_list_keys[list]);
		err->errnum = EILSEQ;
		return -1;
	}
	if (json_array_append_new(change->add[list], s) < 0)
		return kn_fail(err, "out of memory");
	return 0;
}

void cli_policy_change_clear(struct cli_policy_change *change)
{
	for (size_t i = 0; i < CLI_RULE_LISTS; i++) {
		json_decref(change->add[i]);
		change->add[i] = NULL;
	}
}

static bool list_has(const json_t *list, const char *text)
{
	size_t i;
	const json_t *v;
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		if (s && strcmp(s, text) == 0)
			return true;
	}
	return false;
}

int cli_policy_apply(const json_t *current, const struct cli_policy_change *change, json_t **out,
		     kn_error *err)
{
	*out = NULL;
	if (!json_is_object(current))
		return kn_fail(err, "the policy from kenneld is not a JSON object");
	json_t *policy;
	if (change->reset) {
		const json_t *d = json_object_get(current, "default");
		policy = json_pack("{s:s}", "default", json_is_string(d) ? json_string_value(d) : "allow");
	} else {
		policy = json_deep_copy(current);
	}
	if (!policy)
		return kn_fail(err, "out of memory");
	if (change->policy_default &&
	    json_object_set_new(policy, "default", json_string(change->policy_default)) < 0)
		goto oom;
	for (size_t i = 0; i < CLI_RULE_LISTS; i++) {
		if (json_array_size(change->add[i]) == 0)
			continue;
		const char *key = cli_rule_list_keys[i];
		json_t *list = json_object_get(policy, key);
		if (!list) {
			if (json_object_set_new(policy, key, json_array()) < 0)
				goto oom;
			list = json_object_get(policy, key);
		}
		if (!json_is_array(list)) {
			json_decref(policy);
			return kn_fail(err, "\"%s\" in the policy from kenneld is not a JSON array", key);
		}
		size_t j;
		json_t *pattern;
		json_array_foreach(change->add[i], j, pattern) {
			if (list_has(list, json_string_value(pattern)))
				continue;
			if (json_array_append(list, pattern) < 0)
				goto oom;
		}
	}
	*out = policy;
	return 0;
oom:
	json_decref(policy);
	return kn_fail(err, "out of memory");
}

size_t cli_policy_conflicts(const json_t *policy, const char **first)
{
	const json_t *allow = json_object_get(policy, cli_rule_list_keys[CLI_ALLOW_HOSTS]);
	const json_t *block = json_object_get(policy, cli_rule_list_keys[CLI_BLOCK_HOSTS]);
	size_t n = 0, i;
	const json_t *v;
	if (first)
		*first = NULL;
	json_array_foreach(allow, i, v) {
		const char *s = json_string_value(v);
		if (s && list_has(block, s)) {
			if (n++ == 0 && first)
				*first = s;
		}
	}
	return n;
}

/* ---- formatting (pure) ---------------------------------------------------- */

/* `text` with every byte outside printable ASCII as '?'. Log fields carry
 * what a sandbox sent and must not move a terminal's cursor or retitle it
 * (C0, DEL, and C1 controls, which UTF-8 spells as two bytes); every field
 * shown here (names, methods, canonical hosts, patterns) is ASCII anyway. */
static char *printable(const char *text)
{
	char *copy = strdup(text);
	if (copy)
		for (char *p = copy; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
	return copy;
}

static const char *const list_titles[CLI_RULE_LISTS] = {
	[CLI_ALLOW_HOSTS] = "Allow hosts:",   [CLI_BLOCK_HOSTS] = "Block hosts:",
	[CLI_ALLOW_CIDRS] = "Allow CIDRs:",   [CLI_BLOCK_CIDRS] = "Block CIDRs:",
	[CLI_BYPASS_HOSTS] = "Bypass hosts:", [CLI_BYPASS_CIDRS] = "Bypass CIDRs:",
};
/* Width of the title column: the longest title plus two spaces. */
#define POLICY_TITLE_WIDTH 15

int cli_format_policy(const json_t *config, char **out, kn_error *err)
{
	*out = NULL;
	const json_t *policy = json_object_get(config, "policy");
	if (!json_is_object(policy))
		return kn_fail(err, "kenneld's answer has no \"policy\" object");
	const char *sandbox = json_string_value(json_object_get(config, "sandbox"));
	const char *dflt = json_string_value(json_object_get(policy, "default"));
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return kn_fail_errno(err, "open_memstream for the policy");
	_cleanup_free_ char *who = sandbox ? printable(sandbox) : NULL;
	_cleanup_free_ char *dtext = dflt ? printable(dflt) : NULL;
	fprintf(f, "%-*s%s\n", POLICY_TITLE_WIDTH, "Sandbox:",
		sandbox ? (who ? who : "?") : "(default for new sandboxes)");
	fprintf(f, "%-*s%s\n", POLICY_TITLE_WIDTH, "Default:", dflt ? (dtext ? dtext : "?") : "-");
	for (size_t i = 0; i < CLI_RULE_LISTS; i++) {
		const json_t *list = json_object_get(policy, cli_rule_list_keys[i]);
		size_t n = 0, j;
		const json_t *v;
		json_array_foreach(list, j, v) {
			const char *s = json_string_value(v);
			if (!s)
				continue;
			char *shown = printable(s);
			fprintf(f, "%-*s%s\n", POLICY_TITLE_WIDTH, n++ == 0 ? list_titles[i] : "",
				shown ? shown : "?");
			free(shown);
		}
		if (n == 0)
			fprintf(f, "%-*s-\n", POLICY_TITLE_WIDTH, list_titles[i]);
	}
	if (fclose(f) != 0) {
		free(text);
		return kn_fail_errno(err, "write the policy");
	}
	*out = text;
	return 0;
}

void cli_format_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1000.0 && u + 1 < KN_ARRAY_SIZE(units)) {
		v /= 1000.0;
		u++;
	}
	snprintf(buf, size, "%.4g%s", v, units[u]);
}

void cli_format_duration_ms(uint64_t ms, char *buf, size_t size)
{
	if (ms < 1000)
		snprintf(buf, size, "%llums", (unsigned long long)ms);
	else if (ms < 60 * 1000)
		/* Tenths, truncated: 1999 ms is "1.9s", never "2.0s" beside a "2s". */
		snprintf(buf, size, "%llu.%llus", (unsigned long long)(ms / 1000),
			 (unsigned long long)(ms % 1000 / 100));
	else if (ms < 3600 * 1000)
		snprintf(buf, size, "%llum%llus", (unsigned long long)(ms / 60000),
			 (unsigned long long)(ms % 60000 / 1000));
	else
		snprintf(buf, size, "%lluh%llum", (unsigned long long)(ms / 3600000),
			 (unsigned long long)(ms % 3600000 / 60000));
}

enum {
	COL_TIME, COL_SANDBOX, COL_METHOD, COL_HOST, COL_PORT, COL_DECISION, COL_RULE,
	COL_STATUS, COL_UP, COL_DOWN, COL_DURATION, N_COLS
};
_Static_assert((int)N_COLS == (int)CLI_NETLOG_COLUMNS, "network.h's column count");
static const char *const netlog_headers[N_COLS] = {
	"TIME", "SANDBOX", "METHOD", "HOST", "PORT", "DECISION", "RULE",
	"STATUS", "UP", "DOWN", "DURATION",
};

static char *text_cell(const json_t *entry, const char *key)
{
	const char *v = json_string_value(json_object_get(entry, key));
	return printable(v && *v ? v : "-");
}

static char *time_cell(const json_t *entry)
{
	const char *v = json_string_value(json_object_get(entry, "time"));
	time_t t;
	struct tm tm;
	if (!v || !*v)
		return strdup("-");
	if (cli_parse_utc_timestamp(v, &t) < 0 || !gmtime_r(&t, &tm))
		return printable(v);
	char buf[64];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return strdup(buf);
}

/* A non-negative integer field through `format`, else "-". */
static char *number_cell(const json_t *entry, const char *key,
			 void (*format)(uint64_t, char *, size_t))
{
	const json_t *v = json_object_get(entry, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return strdup("-");
	char buf[64];
	if (format)
		format((uint64_t)json_integer_value(v), buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return strdup(buf);
}

static void free_cells(char **cells, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(cells[i]);
	free(cells);
}

int cli_format_netlog(struct cli_netlog_table *table, const json_t *entries, char **out,
		      kn_error *err)
{
	*out = NULL;
	if (!json_is_array(entries))
		return kn_fail(err, "kenneld's decision log has no \"entries\" array");
	size_t first = table->header_done ? 1 : 0;
	size_t rows = json_array_size(entries) + 1; /* row 0: the header */
	char **cells = calloc(rows * N_COLS, sizeof(char *));
	if (!cells)
		return kn_fail_errno(err, "allocate the decision table");
	for (size_t c = 0; c < N_COLS; c++)
		cells[c] = strdup(netlog_headers[c]);
	for (size_t r = 1; r < rows; r++) {
		const json_t *e = json_array_get(entries, r - 1);
		char **row = cells + r * N_COLS;
		if (!json_is_object(e)) {
			free_cells(cells, rows * N_COLS);
			return kn_fail(err, "decision log entry #%zu from kenneld is not an object", r);
		}
		row[COL_TIME] = time_cell(e);
		row[COL_SANDBOX] = text_cell(e, "sandbox");
		row[COL_METHOD] = text_cell(e, "method");
		row[COL_HOST] = text_cell(e, "host");
		row[COL_PORT] = number_cell(e, "port", NULL);
		row[COL_DECISION] = text_cell(e, "decision");
		row[COL_RULE] = text_cell(e, "rule");
		row[COL_STATUS] = number_cell(e, "status", NULL);
		row[COL_UP] = number_cell(e, "bytes_up", cli_format_bytes);
		row[COL_DOWN] = number_cell(e, "bytes_down", cli_format_bytes);
		row[COL_DURATION] = number_cell(e, "duration_ms", cli_format_duration_ms);
	}
	for (size_t i = 0; i < rows * N_COLS; i++) {
		if (!cells[i]) {
			free_cells(cells, rows * N_COLS);
			return kn_fail_errno(err, "allocate the decision table");
		}
		size_t w = strlen(cells[i]);
		if (w > table->width[i % N_COLS])
			table->width[i % N_COLS] = w;
	}
	char *text = NULL;
	size_t text_len = 0;
	FILE *f = open_memstream(&text, &text_len);
	if (!f) {
		free_cells(cells, rows * N_COLS);
		return kn_fail_errno(err, "open_memstream for the decision table");
	}
	for (size_t r = first; r < rows; r++) {
		for (size_t c = 0; c < N_COLS; c++) {
			const char *cell = cells[r * N_COLS + c];
			fputs(cell, f);
			if (c + 1 < N_COLS)
				fprintf(f, "%*s",
					(int)(table->width[c] - strlen(cell) + COLUMN_GAP), "");
		}
		fputc('\n', f);
	}
	free_cells(cells, rows * N_COLS);
	if (fclose(f) != 0) {
		free(text);
		return kn_fail_errno(err, "write the decision table");
	}
	table->header_done = true;
	*out = text;
	return 0;
}

