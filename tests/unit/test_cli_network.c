/* test_cli_network.c — the pure parts of `kennel network` (cli/network.h):
 * applying the command line's changes to a policy, showing a policy, and the
 * decision log table with its byte and duration cells. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/network.h"
#include "test.h"

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);
	if (!v)
		printf("  bad test JSON: %s: %s\n", jerr.text, text);
	return v;
}

/* The result of applying `change` to `current_text`, as compact JSON with
 * sorted keys (so tests compare text), or NULL when apply failed. */
static char *apply_text(const char *current_text, const struct cli_policy_change *change)
{
	json_t *current = parse(current_text), *out = NULL;
	kn_error err = {0};
	char *text = NULL;
	if (current && cli_policy_apply(current, change, &out, &err) == 0)
		text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(out);
	json_decref(current);
	return text;
}

static void add(struct cli_policy_change *c, enum cli_rule_list list, const char *pattern)
{
	kn_error err = {0};
	CHECK(cli_policy_change_add(c, list, pattern, &err) == 0);
}

static void test_change_empty(void)
{
	struct cli_policy_change c = {0};
	CHECK(cli_policy_change_empty(&c));
	c.reset = true;
	CHECK(!cli_policy_change_empty(&c));
	c.reset = false;
	c.policy_default = "deny";
	CHECK(!cli_policy_change_empty(&c));
	c.policy_default = NULL;
	add(&c, CLI_BYPASS_CIDRS, "10.0.0.0/8");
	CHECK(!cli_policy_change_empty(&c));
	cli_policy_change_clear(&c);
	CHECK(cli_policy_change_empty(&c));
	CHECK(c.add[CLI_BYPASS_CIDRS] == NULL);
	/* JSON carries only UTF-8: a pattern that is not is refused up front. */
	kn_error err = {0};
	CHECK(cli_policy_change_add(&c, CLI_ALLOW_HOSTS, "a\xff.com", &err) == -1);
	CHECK(err.errnum == EILSEQ);
	CHECK(cli_policy_change_empty(&c));
	cli_policy_change_clear(&c);
}

static void test_list_keys(void)
{
	CHECK_STR_EQ(cli_rule_list_keys[CLI_ALLOW_HOSTS], "allow_hosts");
	CHECK_STR_EQ(cli_rule_list_keys[CLI_BLOCK_HOSTS], "block_hosts");
	CHECK_STR_EQ(cli_rule_list_keys[CLI_ALLOW_CIDRS], "allow_cidrs");
	CHECK_STR_EQ(cli_rule_list_keys[CLI_BLOCK_CIDRS], "block_cidrs");
	CHECK_STR_EQ(cli_rule_list_keys[CLI_BYPASS_HOSTS], "bypass_hosts");
	CHECK_STR_EQ(cli_rule_list_keys[CLI_BYPASS_CIDRS], "bypass_cidrs");
}

static void test_apply_appends_in_order(void)
{
	struct cli_policy_change c = {0};
	add(&c, CLI_ALLOW_HOSTS, "b.com");
	add(&c, CLI_ALLOW_HOSTS, "*.c.com:443");
	add(&c, CLI_BLOCK_CIDRS, "203.0.113.0/24");
	add(&c, CLI_BYPASS_HOSTS, "x.com");
	char *t = apply_text("{\"default\":\"allow\",\"allow_hosts\":[\"a.com\"],\"block_hosts\":[],"
			     "\"allow_cidrs\":[],\"block_cidrs\":[],\"bypass_hosts\":[],"
			     "\"bypass_cidrs\":[]}",
			     &c);
	CHECK_STR_EQ(t, "{\"allow_cidrs\":[],\"allow_hosts\":[\"a.com\",\"b.com\",\"*.c.com:443\"],"
			"\"block_cidrs\":[\"203.0.113.0/24\"],\"block_hosts\":[],"
			"\"bypass_cidrs\":[],\"bypass_hosts\":[\"x.com\"],\"default\":\"allow\"}");
	free(t);
	cli_policy_change_clear(&c);
}

static void test_apply_creates_missing_lists(void)
{
	/* api.md: lists are optional on input; a policy without them still takes
	 * additions. */
	struct cli_policy_change c = {0};
	add(&c, CLI_BYPASS_CIDRS, "192.0.2.0/24");
	char *t = apply_text("{\"default\":\"deny\"}", &c);
	CHECK_STR_EQ(t, "{\"bypass_cidrs\":[\"192.0.2.0/24\"],\"default\":\"deny\"}");
	free(t);
	cli_policy_change_clear(&c);
}

static void test_apply_skips_duplicates(void)
{
	struct cli_policy_change c = {0};
	add(&c, CLI_BLOCK_HOSTS, "a.com");
	add(&c, CLI_BLOCK_HOSTS, "b.com");
	add(&c, CLI_BLOCK_HOSTS, "b.com");
	char *t = apply_text("{\"default\":\"allow\",\"block_hosts\":[\"a.com\"]}", &c);
	CHECK_STR_EQ(t, "{\"block_hosts\":[\"a.com\",\"b.com\"],\"default\":\"allow\"}");
	free(t);
	cli_policy_change_clear(&c);
}

static void test_apply_policy_default(void)
{
	struct cli_policy_change c = {.policy_default = "deny"};
	char *t = apply_text("{\"default\":\"allow\",\"allow_hosts\":[\"a.com\"]}", &c);
	CHECK_STR_EQ(t, "{\"allow_hosts\":[\"a.com\"],\"default\":\"deny\"}");
	free(t);
}

static void test_apply_reset(void)
{
	/* --reset drops every rule and keys we do not know, keeps the default... */
	struct cli_policy_change c = {.reset = true};
	char *t = apply_text("{\"default\":\"deny\",\"allow_hosts\":[\"a.com\"],"
			     "\"block_cidrs\":[\"203.0.113.0/24\"],\"future\":1}",
			     &c);
	CHECK_STR_EQ(t, "{\"default\":\"deny\"}");
	free(t);
	/* ...or takes allow when there was none... */
	t = apply_text("{\"allow_hosts\":[\"a.com\"]}", &c);
	CHECK_STR_EQ(t, "{\"default\":\"allow\"}");
	free(t);
	/* ...and happens before --policy and the additions. */
	c.policy_default = "allow";
	add(&c, CLI_ALLOW_HOSTS, "b.com");
	t = apply_text("{\"default\":\"deny\",\"allow_hosts\":[\"a.com\"]}", &c);
	CHECK_STR_EQ(t, "{\"allow_hosts\":[\"b.com\"],\"default\":\"allow\"}");
	free(t);
	cli_policy_change_clear(&c);
}

static void test_apply_keeps_unknown_keys_and_input(void)
{
	struct cli_policy_change c = {0};
	add(&c, CLI_ALLOW_HOSTS, "b.com");
	json_t *current = parse("{\"default\":\"allow\",\"allow_hosts\":[\"a.com\"],\"ports\":[1]}");
	char *before = json_dumps(current, JSON_COMPACT | JSON_SORT_KEYS);
	json_t *out = NULL;
	kn_error err = {0};
	CHECK(cli_policy_apply(current, &c, &out, &err) == 0);
	char *after = json_dumps(current, JSON_COMPACT | JSON_SORT_KEYS);
	char *result = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR_EQ(after, before);
	CHECK_STR_EQ(result, "{\"allow_hosts\":[\"a.com\",\"b.com\"],\"default\":\"allow\","
			     "\"ports\":[1]}");
	free(before);
	free(after);
	free(result);
	json_decref(out);
	json_decref(current);
	cli_policy_change_clear(&c);
}

static void test_apply_refusals(void)
{
	struct cli_policy_change c = {0};
	add(&c, CLI_ALLOW_HOSTS, "b.com");
	json_t *out = (json_t *)&c; /* must be reset to NULL on failure */
	kn_error err = {0};
	json_t *not_object = parse("[1]");
	CHECK(cli_policy_apply(not_object, &c, &out, &err) == -1);
	CHECK(out == NULL);
	CHECK(strstr(err.msg, "not a JSON object") != NULL);
	json_t *bad_list = parse("{\"default\":\"allow\",\"allow_hosts\":\"a.com\"}");
	CHECK(cli_policy_apply(bad_list, &c, &out, &err) == -1);
	CHECK(out == NULL);
	CHECK(strstr(err.msg, "allow_hosts") != NULL);
	json_decref(not_object);
	json_decref(bad_list);
	cli_policy_change_clear(&c);
}

static void test_conflicts(void)
{
	json_t *p = parse("{\"allow_hosts\":[\"a.com\",\"b.com\",\"c.com\"],"
			  "\"block_hosts\":[\"c.com\",\"b.com\"]}");
	const char *first = NULL;
	CHECK(cli_policy_conflicts(p, &first) == 2);
	CHECK_STR_EQ(first, "b.com");
	json_decref(p);
	p = parse("{\"allow_hosts\":[\"a.com\"],\"block_hosts\":[\"*.a.com\"]}");
	CHECK(cli_policy_conflicts(p, &first) == 0);
	CHECK(first == NULL);
	json_decref(p);
	p = parse("{\"default\":\"allow\"}");
	CHECK(cli_policy_conflicts(p, NULL) == 0);
	json_decref(p);
}

static char *policy_text(const char *config_text)
{
	json_t *config = parse(config_text);
	kn_error err = {0};
	char *text = NULL;
	if (config && cli_format_policy(config, &text, &err) < 0)
		text = NULL;
	json_decref(config);
	return text;
}

static void test_format_policy(void)
{
	char *t = policy_text("{\"sandbox\":\"sb1\",\"policy\":{\"default\":\"deny\","
			      "\"allow_hosts\":[\"api.example.com\",\"*.github.com:443\"],"
			      "\"block_hosts\":[],\"allow_cidrs\":[\"10.1.0.0/16\"],"
			      "\"block_cidrs\":[],\"bypass_hosts\":[\"pinned.example\"],"
			      "\"bypass_cidrs\":[]}}");
	CHECK_STR_EQ(t, "Sandbox:       sb1\n"
			"Default:       deny\n"
			"Allow hosts:   api.example.com\n"
			"               *.github.com:443\n"
			"Block hosts:   -\n"
			"Allow CIDRs:   10.1.0.0/16\n"
			"Block CIDRs:   -\n"
			"Bypass hosts:  pinned.example\n"
			"Bypass CIDRs:  -\n");
	free(t);
	t = policy_text("{\"sandbox\":null,\"policy\":{\"default\":\"allow\"}}");
	CHECK_STR_EQ(t, "Sandbox:       (default for new sandboxes)\n"
			"Default:       allow\n"
			"Allow hosts:   -\n"
			"Block hosts:   -\n"
			"Allow CIDRs:   -\n"
			"Block CIDRs:   -\n"
			"Bypass hosts:  -\n"
			"Bypass CIDRs:  -\n");
	free(t);
	/* Control bytes never reach the terminal. */
	t = policy_text("{\"sandbox\":\"x\",\"policy\":{\"default\":\"allow\","
			"\"block_hosts\":[\"a\\u001b]0;pwned\\u0007\"]}}");
	CHECK(t && strstr(t, "Block hosts:   a?]0;pwned?\n") != NULL);
	free(t);
	json_t *no_policy = parse("{\"sandbox\":\"x\"}");
	kn_error err = {0};
	char *out = (char *)"unchanged";
	CHECK(cli_format_policy(no_policy, &out, &err) == -1);
	CHECK(out == NULL);
	CHECK(strstr(err.msg, "\"policy\"") != NULL);
	json_decref(no_policy);
}

static void test_bytes(void)
{
	struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{0, "0B"},          {1, "1B"},           {999, "999B"},
		{1000, "1kB"},      {1532, "1.532kB"},   {123456, "123.5kB"},
		{1500000, "1.5MB"}, {2000000000, "2GB"}, {UINT64_MAX, "18.45EB"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		cli_format_bytes(cases[i].bytes, buf, sizeof(buf));
		CHECK_STR_EQ(buf, cases[i].text);
	}
}

static void test_duration(void)
{
	struct {
		uint64_t ms;
		const char *text;
	} cases[] = {
		{0, "0ms"},           {999, "999ms"},         {1000, "1.0s"},
		{1999, "1.9s"},       {59999, "59.9s"},       {60000, "1m0s"},
		{125000, "2m5s"},     {3599999, "59m59s"},    {3600000, "1h0m"},
		{3725000, "1h2m"},    {90000000, "25h0m"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		cli_format_duration_ms(cases[i].ms, buf, sizeof(buf));
		CHECK_STR_EQ(buf, cases[i].text);
	}
}

static char *log_text(struct cli_netlog_table *table, const char *entries_text)
{
	json_t *entries = parse(entries_text);
	kn_error err = {0};
	char *text = NULL;
	if (entries && cli_format_netlog(table, entries, &text, &err) < 0)
		text = NULL;
	json_decref(entries);
	return text;
}

static const char entry_allow[] =
	"{\"time\":\"2026-01-29T10:15:23.120Z\",\"sandbox\":\"sb1\",\"method\":\"CONNECT\","
	"\"host\":\"api.example.com\",\"port\":443,\"addr\":\"93.184.216.34\","
	"\"rule\":\"allow_hosts api.example.com\",\"decision\":\"allow\",\"status\":200,"
	"\"bytes_up\":1532,\"bytes_down\":123456,\"duration_ms\":1234}";
static const char entry_error[] =
	"{\"time\":\"2026-01-29T10:15:25Z\",\"sandbox\":\"sb2\",\"method\":\"\",\"host\":null,"
	"\"port\":null,\"addr\":null,\"rule\":null,\"decision\":\"error\",\"status\":null,"
	"\"bytes_up\":10,\"bytes_down\":0,\"duration_ms\":3725000,\"error\":\"bad request\"}";

static void test_log_table(void)
{
	struct cli_netlog_table table = {0};
	char *entries;
	CHECK(asprintf(&entries, "[%s,%s]", entry_allow, entry_error) > 0);
	char *t = log_text(&table, entries);
	CHECK_STR_EQ(t,
		     "TIME                   SANDBOX   METHOD    HOST              PORT   DECISION"
		     "   RULE                          STATUS   UP        DOWN      DURATION\n"
		     "2026-01-29T10:15:23Z   sb1       CONNECT   api.example.com   443    allow   "
		     "   allow_hosts api.example.com   200      1.532kB   123.5kB   1.2s\n"
		     "2026-01-29T10:15:25Z   sb2       -         -                 -      error   "
		     "   -                             -        10B       0B        1h2m\n");
	CHECK(table.header_done);
	free(t);
	free(entries);
}

static void test_log_table_empty(void)
{
	struct cli_netlog_table table = {0};
	char *t = log_text(&table, "[]");
	CHECK_STR_EQ(t, "TIME   SANDBOX   METHOD   HOST   PORT   DECISION   RULE   STATUS   UP   "
			"DOWN   DURATION\n");
	free(t);
	/* Following: a poll with nothing new prints nothing. */
	t = log_text(&table, "[]");
	CHECK_STR_EQ(t, "");
	free(t);
}

static void test_log_table_follow_keeps_columns(void)
{
	struct cli_netlog_table table = {0};
	char *first;
	CHECK(asprintf(&first, "[%s]", entry_allow) > 0);
	char *t = log_text(&table, first);
	free(t);
	free(first);
	/* The next batch: no header, and its narrower cells padded to the columns
	 * already printed. */
	char *second;
	CHECK(asprintf(&second, "[%s]", entry_error) > 0);
	t = log_text(&table, second);
	CHECK_STR_EQ(t, "2026-01-29T10:15:25Z   sb2       -         -                 -      error"
			"      -                             -        10B       0B        1h2m\n");
	free(t);
	free(second);
	/* A wider cell widens its column from then on. */
	t = log_text(&table, "[{\"sandbox\":\"a-much-longer-name\",\"decision\":\"block\"}]");
	CHECK(t && strncmp(t, "-                      a-much-longer-name   -", 45) == 0);
	free(t);
	t = log_text(&table, "[{\"sandbox\":\"s\"}]");
	CHECK(t && strncmp(t, "-                      s                    -", 45) == 0);
	free(t);
}

static void test_log_table_odd_fields(void)
{
	struct cli_netlog_table table = {0};
	/* Time not RFC 3339: shown as sent; negative or non-integer numbers: "-";
	 * control bytes and non-ASCII bytes from the sandbox: '?'. */
	char *t = log_text(&table, "[{\"time\":\"yesterday\",\"sandbox\":\"sb\",\"method\":\"GET\","
				   "\"host\":\"e\\u001b[2Jvil\\u00e9.com\",\"port\":-1,"
				   "\"decision\":\"block\",\"rule\":\"default deny\",\"status\":\"403\","
				   "\"bytes_up\":1.5,\"bytes_down\":0,\"duration_ms\":null}]");
	const char *row = t ? strchr(t, '\n') : NULL;
	CHECK_STR_EQ(row ? row + 1 : NULL,
		     "yesterday   sb        GET      e?[2Jvil??.com   -      block      default deny"
		     "   -        -    0B     -\n");
	free(t);
}

static void test_log_table_refusals(void)
{
	struct cli_netlog_table table = {0};
	kn_error err = {0};
	char *out = (char *)"unchanged";
	json_t *not_array = parse("{\"entries\":[]}");
	CHECK(cli_format_netlog(&table, not_array, &out, &err) == -1);
	CHECK(out == NULL);
	CHECK(strstr(err.msg, "\"entries\"") != NULL);
	json_t *bad_entry = parse("[{\"sandbox\":\"a\"},7]");
	CHECK(cli_format_netlog(&table, bad_entry, &out, &err) == -1);
	CHECK(out == NULL);
	CHECK(strstr(err.msg, "#2") != NULL);
	CHECK(!table.header_done);
	json_decref(not_array);
	json_decref(bad_entry);
}

int main(void)
{
	RUN(test_change_empty);
	RUN(test_list_keys);
	RUN(test_apply_appends_in_order);
	RUN(test_apply_creates_missing_lists);
	RUN(test_apply_skips_duplicates);
	RUN(test_apply_policy_default);
	RUN(test_apply_reset);
	RUN(test_apply_keeps_unknown_keys_and_input);
	RUN(test_apply_refusals);
	RUN(test_conflicts);
	RUN(test_format_policy);
	RUN(test_bytes);
	RUN(test_duration);
	RUN(test_log_table);
	RUN(test_log_table_empty);
	RUN(test_log_table_follow_keeps_columns);
	RUN(test_log_table_odd_fields);
	RUN(test_log_table_refusals);
	return test_summary();
}
