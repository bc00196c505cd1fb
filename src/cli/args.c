#define _GNU_SOURCE
#include "cli/args.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/util.h"

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Unit suffix after the number: "", "b", or one of k/m/g/t followed by "", "b"
 * or "ib". Returns the multiplier, or 0 for an unknown suffix. */
static int64_t size_unit(const char *suffix)
{
	static const struct {
		char letter;
		int64_t mult;
	} units[] = {
		{'k', INT64_C(1) << 10},
		{'m', INT64_C(1) << 20},
		{'g', INT64_C(1) << 30},
		{'t', INT64_C(1) << 40},
	};
	if (suffix[0] == '\0' || strcasecmp(suffix, "b") == 0)
		return 1;
	for (size_t i = 0; i < KN_ARRAY_SIZE(units); i++) {
		if (tolower((unsigned char)suffix[0]) != units[i].letter)
			continue;
		const char *rest = suffix + 1;
		if (rest[0] == '\0' || strcasecmp(rest, "b") == 0 || strcasecmp(rest, "ib") == 0)
			return units[i].mult;
	}
	return 0;
}

int cli_parse_size(const char *text, int64_t *out, kn_error *err)
{
	const char *p = text;
	if (!is_digit(*p))
		return kn_fail(err, "invalid size '%s': expected a number with an optional unit "
				    "k, m, g or t (e.g. 512m, 1.5g)", text);
	int64_t whole = 0;
	for (; is_digit(*p); p++) {
		int d = *p - '0';
		if (whole > (INT64_MAX - d) / 10)
			return kn_fail(err, "invalid size '%s': too large", text);
		whole = whole * 10 + d;
	}
	int64_t frac = 0, frac_scale = 1;
	int frac_digits = 0;
	bool has_point = false;
	if (*p == '.') {
		has_point = true;
		p++;
		if (!is_digit(*p))
			return kn_fail(err, "invalid size '%s': expected digits after '.'", text);
		for (; is_digit(*p); p++) {
			if (++frac_digits > CLI_SIZE_MAX_FRACTION_DIGITS)
				return kn_fail(err, "invalid size '%s': at most %d digits after '.'",
					       text, CLI_SIZE_MAX_FRACTION_DIGITS);
			frac = frac * 10 + (*p - '0');
			frac_scale *= 10;
		}
	}
	int64_t mult = size_unit(p);
	if (mult == 0)
		return kn_fail(err, "invalid size '%s': unknown unit '%s' (use k, m, g or t)", text, p);
	if (has_point && mult == 1)
		return kn_fail(err, "invalid size '%s': a fraction needs a unit (k, m, g or t)", text);
	if (whole > INT64_MAX / mult)
		return kn_fail(err, "invalid size '%s': too large", text);
	int64_t bytes = whole * mult;
	/* frac < 10^6 and mult <= 2^40, so the product stays below 2^60. */
	int64_t frac_bytes = frac * mult / frac_scale;
	if (bytes > INT64_MAX - frac_bytes)
		return kn_fail(err, "invalid size '%s': too large", text);
	*out = bytes + frac_bytes;
	return 0;
}

int cli_parse_cpus(const char *text, double *out, kn_error *err)
{
	/* Checked by hand first: strtod would also take "inf", "nan", hex floats,
	 * exponents and leading spaces. */
	const char *p = text;
	size_t int_digits = 0, frac_digits = 0;
	for (; is_digit(*p); p++)
		int_digits++;
	if (*p == '.')
		for (p++; is_digit(*p); p++)
			frac_digits++;
	if (*p != '\0' || int_digits == 0 || (text[int_digits] == '.' && frac_digits == 0))
		return kn_fail(err, "invalid CPU count '%s': expected a positive decimal number "
				    "(e.g. 2 or 0.5)", text);
	errno = 0;
	double value = strtod(text, NULL);
	if (errno != 0 || !(value > 0))
		return kn_fail(err, "invalid CPU count '%s': must be greater than 0", text);
	if (value > CLI_MAX_CPUS)
		return kn_fail(err, "invalid CPU count '%s': at most %g", text, CLI_MAX_CPUS);
	*out = value;
	return 0;
}

int cli_parse_pids(const char *text, int64_t *out, kn_error *err)
{
	int64_t value = 0;
	const char *p = text;
	if (!is_digit(*p))
		return kn_fail(err, "invalid process limit '%s': expected a positive integer", text);
	for (; is_digit(*p); p++) {
		value = value * 10 + (*p - '0');
		if (value > CLI_MAX_PIDS)
			return kn_fail(err, "invalid process limit '%s': at most %d", text,
				       CLI_MAX_PIDS);
	}
	if (*p != '\0')
		return kn_fail(err, "invalid process limit '%s': expected a positive integer", text);
	if (value == 0)
		return kn_fail(err, "invalid process limit '%s': must be at least 1", text);
	*out = value;
	return 0;
}

bool cli_valid_sandbox_name(const char *name, const char **why)
{
	const char *reason = NULL;
	size_t len = strlen(name);
	if (len == 0)
		reason = "empty";
	else if (len > CLI_MAX_NAME)
		reason = "longer than 63 characters";
	else if (!isalnum((unsigned char)name[0]) || (unsigned char)name[0] >= 0x80)
		reason = "must start with a letter or digit";
	else
		for (size_t i = 0; i < len && !reason; i++) {
			unsigned char c = (unsigned char)name[i];
			bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
			if (!ok)
				reason = "only letters, digits, '_', '.' and '-' are allowed";
		}
	if (why)
		*why = reason;
	return reason == NULL;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

int cli_resolve_dir(const char *what, const char *text, char **out, kn_error *err)
{
	if (*text == '\0')
		return kn_fail(err, "%s '%s': empty path", what, text);
	_cleanup_free_ char *resolved = realpath(text, NULL);
	if (!resolved)
		return kn_fail_errno(err, "%s '%s'", what, text);
	struct stat st;
	if (stat(resolved, &st) < 0)
		return kn_fail_errno(err, "%s '%s': stat %s", what, text, resolved);
	if (!S_ISDIR(st.st_mode))
		return kn_fail(err, "%s '%s': not a directory", what, text);
	*out = steal_pointer(&resolved);
	return 0;
}

int cli_parse_workspace(const char *text, struct cli_workspace *out, kn_error *err)
{
	size_t len = strlen(text);
	bool readonly = false;
	if (ends_with(text, len, ":ro")) {
		readonly = true;
		len -= 3;
	} else if (ends_with(text, len, ":rw")) {
		len -= 3;
	}
	_cleanup_free_ char *given = strndup(text, len);
	if (!given)
		return kn_fail_errno(err, "workspace '%s'", text);
	if (cli_resolve_dir("workspace", given, &out->path, err) < 0)
		return -1;
	out->readonly = readonly;
	return 0;
}

void cli_workspace_clear(struct cli_workspace *ws)
{
	free(ws->path);
	ws->path = NULL;
}

char *cli_env_entry(const char *arg, kn_error *err)
{
	size_t key_len = strcspn(arg, "=");
	char *entry = NULL;
	if (key_len == 0) {
		kn_fail_class(err, EINVAL, "-e '%s': the variable name is empty", arg);
		return NULL;
	}
	if (arg[key_len] == '=')
		entry = strdup(arg);
	else if (!getenv(arg)) {
		kn_fail_class(err, EINVAL, "-e %s: %s is not set here, so there is no value to pass",
			      arg, arg);
		return NULL;
	} else if (asprintf(&entry, "%s=%s", arg, getenv(arg)) < 0)
		entry = NULL;
	if (!entry)
		kn_fail(err, "out of memory");
	return entry;
}
