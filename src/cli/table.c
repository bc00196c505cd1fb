#define _GNU_SOURCE
#include "cli/table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

enum { COL_NAME, COL_AGENT, COL_STATUS, COL_WORKSPACE, COL_CREATED, N_COLS };
static const char *const headers[N_COLS] = {"NAME", "AGENT", "STATUS", "WORKSPACE", "CREATED"};
/* docker's tabwriter padding between columns. */
#define COLUMN_GAP 3

int cli_parse_utc_timestamp(const char *text, time_t *out)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -1;
	if (*rest == '.') {
		rest++;
		if (*rest < '0' || *rest > '9')
			return -1;
		while (*rest >= '0' && *rest <= '9')
			rest++;
	}
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
		return -1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

void cli_format_ago(time_t then, time_t now, char *buf, size_t size)
{
	long long seconds = (long long)now - (long long)then;
	long long minutes = seconds / 60;
	/* go-units rounds hours to the nearest; the rest truncates. */
	long long hours = (seconds + 1800) / 3600;
	if (seconds < 1)
		snprintf(buf, size, "Less than a second ago");
	else if (seconds == 1)
		snprintf(buf, size, "1 second ago");
	else if (seconds < 60)
		snprintf(buf, size, "%lld seconds ago", seconds);
	else if (minutes == 1)
		snprintf(buf, size, "About a minute ago");
	else if (minutes < 60)
		snprintf(buf, size, "%lld minutes ago", minutes);
	else if (hours == 1)
		snprintf(buf, size, "About an hour ago");
	else if (hours < 48)
		snprintf(buf, size, "%lld hours ago", hours);
	else if (hours < 24 * 7 * 2)
		snprintf(buf, size, "%lld days ago", hours / 24);
	else if (hours < 24 * 30 * 2)
		snprintf(buf, size, "%lld weeks ago", hours / 24 / 7);
	else if (hours < 24 * 365 * 2)
		snprintf(buf, size, "%lld months ago", hours / 24 / 30);
	else
		snprintf(buf, size, "%lld years ago", seconds / 3600 / 24 / 365);
}

/* Display width in terminal columns, counting each UTF-8 sequence once. */
static size_t display_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static char *field_or_dash(const json_t *sandbox, const char *key)
{
	const char *v = json_string_value(json_object_get(sandbox, key));
	return strdup(v && *v ? v : "-");
}

static char *workspace_cell(const json_t *sandbox)
{
	const json_t *list = json_object_get(sandbox, "workspaces");
	const json_t *first = json_array_get(list, 0);
	const char *path = json_string_value(json_object_get(first, "path"));
	if (!path)
		return strdup("-");
	char *cell = NULL;
	size_t more = json_array_size(list) - 1;
	const char *ro = json_is_true(json_object_get(first, "readonly")) ? ":ro" : "";
	int n = more > 0 ? asprintf(&cell, "%s%s (+%zu)", path, ro, more)
			 : asprintf(&cell, "%s%s", path, ro);
	return n < 0 ? NULL : cell;
}

static char *created_cell(const json_t *sandbox, time_t now)
{
	const char *created = json_string_value(json_object_get(sandbox, "created"));
	if (!created)
		return strdup("-");
	time_t then;
	if (cli_parse_utc_timestamp(created, &then) < 0)
		return strdup(created);
	char buf[64];
	cli_format_ago(then, now, buf, sizeof(buf));
	return strdup(buf);
}

static void free_cells(char **cells, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(cells[i]);
	free(cells);
}

/* Lay out rows x ncols cells (row 0 the headers) in columns as wide as their
 * widest cell, COLUMN_GAP apart, no trailing spaces. Frees the cells. */
static int emit_table(char **cells, size_t rows, size_t ncols, const char *what, char **out,
		      kn_error *err)
{
	size_t width[8] = {0};
	if (ncols > KN_ARRAY_SIZE(width)) {
		free_cells(cells, rows * ncols);
		return kn_fail(err, "too many columns for the %s table", what);
	}
	for (size_t i = 0; i < rows * ncols; i++) {
		if (!cells[i]) {
			free_cells(cells, rows * ncols);
			return kn_fail_errno(err, "allocate the %s table", what);
		}
		size_t w = display_width(cells[i]);
		if (w > width[i % ncols])
			width[i % ncols] = w;
	}
	char *text = NULL;
	size_t text_len = 0;
	FILE *f = open_memstream(&text, &text_len);
	if (!f) {
		free_cells(cells, rows * ncols);
		return kn_fail_errno(err, "open_memstream for the %s table", what);
	}
	for (size_t r = 0; r < rows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *cell = cells[r * ncols + c];
			fputs(cell, f);
			if (c + 1 < ncols)
				fprintf(f, "%*s", (int)(width[c] - display_width(cell) + COLUMN_GAP),
					"");
		}
		fputc('\n', f);
	}
	free_cells(cells, rows * ncols);
	if (fclose(f) != 0) {
		free(text);
		return kn_fail_errno(err, "write the %s table", what);
	}
	*out = text;
	return 0;
}

int cli_format_sandbox_table(const json_t *sandboxes, time_t now, char **out, kn_error *err)
{
	if (!json_is_array(sandboxes))
		return kn_fail(err, "sandbox list from kenneld is not a JSON array");
	size_t rows = json_array_size(sandboxes) + 1;
	char **cells = calloc(rows * N_COLS, sizeof(char *));
	if (!cells)
		return kn_fail_errno(err, "allocate the sandbox table");
	for (size_t c = 0; c < N_COLS; c++)
		cells[c] = strdup(headers[c]);
	for (size_t r = 1; r < rows; r++) {
		const json_t *sb = json_array_get(sandboxes, r - 1);
		char **row = cells + r * N_COLS;
		if (!json_is_string(json_object_get(sb, "name"))) {
			free_cells(cells, rows * N_COLS);
			return kn_fail(err, "sandbox #%zu from kenneld has no name", r);
		}
		row[COL_NAME] = field_or_dash(sb, "name");
		row[COL_AGENT] = field_or_dash(sb, "agent");
		row[COL_STATUS] = field_or_dash(sb, "status");
		row[COL_WORKSPACE] = workspace_cell(sb);
		row[COL_CREATED] = created_cell(sb, now);
	}
	return emit_table(cells, rows, N_COLS, "sandbox", out, err);
}

enum { SCOL_NAME, SCOL_HOSTS, SCOL_HEADER, SCOL_FORMAT, SCOL_SANDBOX, N_SCOLS };
static const char *const secret_headers[N_SCOLS] = {"NAME", "HOSTS", "HEADER", "FORMAT", "SANDBOX"};

static char *hosts_cell(const json_t *secret)
{
	const json_t *hosts = json_object_get(secret, "hosts");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	size_t i;
	const json_t *h;
	json_array_foreach(hosts, i, h)
		fprintf(f, "%s%s", i ? "," : "", json_string_value(h) ? json_string_value(h) : "?");
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	if (!len) {
		free(text);
		return strdup("-");
	}
	return text;
}

int cli_format_secret_table(const json_t *secrets, char **out, kn_error *err)
{
	if (!json_is_array(secrets))
		return kn_fail(err, "secret list from kenneld is not a JSON array");
	size_t rows = json_array_size(secrets) + 1;
	char **cells = calloc(rows * N_SCOLS, sizeof(char *));
	if (!cells)
		return kn_fail_errno(err, "allocate the secret table");
	for (size_t c = 0; c < N_SCOLS; c++)
		cells[c] = strdup(secret_headers[c]);
	for (size_t r = 1; r < rows; r++) {
		const json_t *s = json_array_get(secrets, r - 1);
		char **row = cells + r * N_SCOLS;
		if (!json_is_string(json_object_get(s, "name"))) {
			free_cells(cells, rows * N_SCOLS);
			return kn_fail(err, "secret #%zu from kenneld has no name", r);
		}
		row[SCOL_NAME] = field_or_dash(s, "name");
		row[SCOL_HOSTS] = hosts_cell(s);
		row[SCOL_HEADER] = field_or_dash(s, "header");
		row[SCOL_FORMAT] = field_or_dash(s, "format");
		row[SCOL_SANDBOX] = field_or_dash(s, "sandbox");
	}
	return emit_table(cells, rows, N_SCOLS, "secret", out, err);
}
