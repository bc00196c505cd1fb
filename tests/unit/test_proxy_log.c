/* test_proxy_log.c — decision lines (src/proxy/decision_log.h): the exact keys
 * in order, JSON that any parser accepts whatever bytes a client put in a
 * host, null for what did not happen; and the log file, written and rotated
 * in a real temporary directory. */
#include "proxy/decision_log.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proxy/limits.h"
#include "test.h"

static json_t *format(const struct kp_decision_record *r, char *buf, size_t bufsz)
{
	size_t n = kp_decision_format(r, buf, bufsz);
	if (n == 0)
		return NULL;
	CHECK(strlen(buf) == n && !strchr(buf, '\n'));
	return json_loads(buf, 0, NULL);
}

static void test_allowed_connect(void)
{
	char buf[KP_LOG_LINE_MAX];
	struct kn_addr a;
	kn_addr_parse("127.0.0.1", 9, &a, NULL);
	struct kp_decision_record r = {
		.time_ms = 1700000000123LL, .sandbox = "sb", .method = "CONNECT",
		.host = "example.com", .port = 443, .addr = &a, .rule = "allow-host example.com",
		.decision = KP_DECISION_ALLOW, .status = 200, .bytes_up = 10, .bytes_down = 20,
		.duration_ms = 5,
	};
	json_t *j = format(&r, buf, sizeof(buf));
	CHECK(j != NULL);
	static const char *const keys[] = { "time", "sandbox", "method", "host", "port", "addr",
					    "rule", "decision", "status", "bytes_up", "bytes_down",
					    "duration_ms" };
	const char *p = buf;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char quoted[32];
		snprintf(quoted, sizeof(quoted), "\"%s\":", keys[i]);
		const char *at = strstr(p, quoted);
		CHECK(at != NULL); /* present, and after the previous key */
		if (at)
			p = at;
	}
	CHECK(json_object_size(j) == 12);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "time")), "2023-11-14T22:13:20.123Z");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "addr")), "127.0.0.1");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "decision")), "allow");
	CHECK(json_integer_value(json_object_get(j, "port")) == 443);
	CHECK(json_integer_value(json_object_get(j, "bytes_down")) == 20);
	json_decref(j);
}

static void test_nulls_and_error(void)
{
	char buf[KP_LOG_LINE_MAX];
	struct kp_decision_record r = {
		.time_ms = 0, .sandbox = "sb", .method = "", .decision = KP_DECISION_ERROR,
		.status = 400, .error = "bare LF in message head (CRLF required)",
	};
	json_t *j = format(&r, buf, sizeof(buf));
	CHECK(j != NULL);
	CHECK(json_is_null(json_object_get(j, "host")) && json_is_null(json_object_get(j, "port")));
	CHECK(json_is_null(json_object_get(j, "addr")) && json_is_null(json_object_get(j, "rule")));
	CHECK_STR_EQ(json_string_value(json_object_get(j, "decision")), "error");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "error")),
		     "bare LF in message head (CRLF required)");
	json_decref(j);
	r.status = 0;
	j = format(&r, buf, sizeof(buf));
	CHECK(j && json_is_null(json_object_get(j, "status")));
	json_decref(j);
}

static void test_hostile_strings(void)
{
	char buf[KP_LOG_LINE_MAX];
	char host[300];
	for (int i = 0; i < 255; i++)
		host[i] = (char)(i + 1); /* every byte but NUL */
	host[255] = '\0';
	struct kp_decision_record r = {
		.sandbox = "s\"b\\", .method = "GET", .host = host, .port = 80,
		.rule = "invalid host: \"quoted\"", .decision = KP_DECISION_BLOCK, .status = 403,
	};
	json_t *j = format(&r, buf, sizeof(buf));
	CHECK(j != NULL);
	const char *h = json_string_value(json_object_get(j, "host"));
	CHECK(h && strlen(h) == 255);
	for (size_t i = 0; h && i < 255; i++)
		CHECK((h[i] >= 0x20 && h[i] < 0x7f));
	CHECK_STR_EQ(json_string_value(json_object_get(j, "sandbox")), "s\"b\\");
	json_decref(j);
	/* A buffer too small: 0, never a cut line. */
	CHECK(kp_decision_format(&r, buf, 64) == 0);
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	return n;
}

static off_t size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_rotation(void)
{
	char dir[] = "/tmp/kennel-test-log.XXXXXX", path[256], rotated[300];
	struct kp_log log;
	kn_error err;
	char line[200];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/decisions.log", dir);
	CHECK(kp_log_open(&log, path, 1000, &err) == 0);
	memset(line, 'x', sizeof(line));
	line[99] = '\n';
	/* 100 bytes a line: the 11th line passes 1000 bytes and rotates. */
	for (int i = 0; i < 10; i++)
		CHECK(kp_log_append(&log, line, 100, &err) == 0);
	CHECK(size_of(path) == 1000 && count_files(dir) == 1);
	CHECK(kp_log_append(&log, line, 100, &err) == 0);
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	CHECK(size_of(rotated) == 1100 && size_of(path) == 0);
	for (int i = 0; i < 60; i++)
		CHECK(kp_log_append(&log, line, 100, &err) == 0);
	CHECK(count_files(dir) == 1 + KP_LOG_KEEP);
	snprintf(rotated, sizeof(rotated), "%s.%d", path, KP_LOG_KEEP + 1);
	CHECK(size_of(rotated) == -1);
	/* Only whole lines, and no more than a batch. */
	CHECK(kp_log_append(&log, line, 99, &err) < 0);
	CHECK(kp_log_append(&log, line, 0, &err) < 0);
	static char big[KP_LOG_BATCH_MAX + 1];
	memset(big, 'x', sizeof(big));
	big[KP_LOG_BATCH_MAX] = '\n';
	CHECK(kp_log_append(&log, big, sizeof(big), &err) < 0);
	CHECK(strstr(err.msg, "whole lines") != NULL);
	kp_log_close(&log);

	/* Reopening appends. */
	off_t before = size_of(path);
	CHECK(kp_log_open(&log, path, 1000, &err) == 0);
	line[9] = '\n';
	CHECK(kp_log_append(&log, line, 10, &err) == 0);
	CHECK(size_of(path) == before + 10);
	kp_log_close(&log);
	for (int i = 0; i <= KP_LOG_KEEP; i++) {
		if (i == 0)
			snprintf(rotated, sizeof(rotated), "%s", path);
		else
			snprintf(rotated, sizeof(rotated), "%s.%d", path, i);
		unlink(rotated);
	}
	rmdir(dir);
	CHECK(kp_log_open(&log, "/nonexistent-dir/decisions.log", 1000, &err) < 0);
	CHECK(strstr(err.msg, "/nonexistent-dir/decisions.log") != NULL);
}

/* Times and numbers are formatted by hand (decision_log.c): every second and
 * millisecond boundary, and the largest counters, come out as printf would. */
static void test_times_and_numbers(void)
{
	char buf[KP_LOG_LINE_MAX];
	static const struct {
		int64_t ms;
		const char *text;
	} times[] = {
		{ 0, "1970-01-01T00:00:00.000Z" },
		{ 1700000000999LL, "2023-11-14T22:13:20.999Z" },
		{ 1700000001000LL, "2023-11-14T22:13:21.000Z" },
		{ 1700000001007LL, "2023-11-14T22:13:21.007Z" },
		{ 1700000000123LL, "2023-11-14T22:13:20.123Z" }, /* back a second */
		{ 4102444799999LL, "2099-12-31T23:59:59.999Z" },
	};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		struct kp_decision_record r = { .time_ms = times[i].ms, .sandbox = "sb", .method = "GET",
						.port = 65535, .status = 200, .bytes_up = 9007199254740993ULL,
						.bytes_down = 0, .duration_ms = 10 };
		json_t *j = format(&r, buf, sizeof(buf));
		CHECK(j != NULL);
		if (!j)
			continue;
		CHECK_STR_EQ(json_string_value(json_object_get(j, "time")), times[i].text);
		CHECK(json_integer_value(json_object_get(j, "port")) == 65535);
		CHECK(json_integer_value(json_object_get(j, "status")) == 200);
		CHECK(json_integer_value(json_object_get(j, "bytes_up")) == 9007199254740993LL);
		CHECK(json_integer_value(json_object_get(j, "bytes_down")) == 0);
		CHECK(json_integer_value(json_object_get(j, "duration_ms")) == 10);
		json_decref(j);
	}
	/* The largest counter, beyond jansson's integers: compared as text. */
	struct kp_decision_record big = { .time_ms = 0, .sandbox = "sb", .method = "GET",
					  .bytes_up = UINT64_MAX };
	CHECK(kp_decision_format(&big, buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "\"bytes_up\":18446744073709551615,") != NULL);
}

int main(void)
{
	RUN(test_allowed_connect);
	RUN(test_times_and_numbers);
	RUN(test_nulls_and_error);
	RUN(test_hostile_strings);
	RUN(test_rotation);
	return test_summary();
}
