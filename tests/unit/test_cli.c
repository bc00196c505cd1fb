/* test_cli.c — the kennel CLI's own parts: argument values (args.h), the ls
 * table (table.h), and the Unix-socket client (client.h) against a real socket
 * served by a forked child, including SCM_RIGHTS fd passing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/table.h"
#include "test.h"

static int64_t size_of(const char *text)
{
	int64_t v = -1;
	kn_error err = {0};
	return cli_parse_size(text, &v, &err) == 0 ? v : -1;
}

static void test_size_units(void)
{
	CHECK(size_of("512m") == 512LL << 20);
	CHECK(size_of("2g") == 2LL << 30);
	CHECK(size_of("1.5G") == 1610612736LL);
	CHECK(size_of("100k") == 102400);
	CHECK(size_of("4096") == 4096);
	CHECK(size_of("4096b") == 4096);
	CHECK(size_of("0") == 0);
	CHECK(size_of("1t") == 1LL << 40);
	CHECK(size_of("512MiB") == 512LL << 20);
	CHECK(size_of("512mb") == 512LL << 20);
	CHECK(size_of("2K") == 2048);
	CHECK(size_of("0.5k") == 512);
	/* 1.1 KiB is 1126.4 bytes: whole bytes only. */
	CHECK(size_of("1.1k") == 1126);
	CHECK(size_of("1.999999g") == (int64_t)(1999999LL * (1LL << 30) / 1000000));
}

static void test_size_refusals(void)
{
	const char *bad[] = {
		"", "-1m", "+1m", " 1m", "1m ", "1 m", "1.5", "1.", ".5g", "abc", "1x", "1kk",
		"1mbb", "1ki", "0x10", "1e3", "m", "1,5g", "1.1234567g", "1..5g", "1m\n",
		"9223372036854775808",  /* INT64_MAX + 1 */
		"99999999999999999999", /* beyond any 64-bit value */
		"8388608t",             /* 2^23 * 2^40 = 2^63 */
		"8589934592g",          /* 2^33 * 2^30 = 2^63 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 42;
		kn_error err = {0};
		int rc = cli_parse_size(bad[i], &v, &err);
		if (rc != -1 || v != 42 || !strstr(err.msg, "invalid size"))
			printf("  size '%s' was not refused properly (rc %d, msg '%s')\n", bad[i], rc,
			       err.msg);
		CHECK(rc == -1 && v == 42 && strstr(err.msg, "invalid size"));
	}
}

static void test_size_limits(void)
{
	CHECK(size_of("9223372036854775807") == INT64_MAX);
	CHECK(size_of("8388607t") == INT64_MAX - ((1LL << 40) - 1));
	/* The largest whole number of a unit plus the largest fraction still fits. */
	CHECK(size_of("8388607.999999t") == INT64_MAX - ((1LL << 40) - 1) +
						 999999LL * (1LL << 40) / 1000000);
	CHECK(size_of("8388608.0t") == -1);
	kn_error err = {0};
	int64_t v;
	CHECK(cli_parse_size("1.5", &v, &err) == -1 && strstr(err.msg, "needs a unit"));
	CHECK(cli_parse_size("99999999999999999999", &v, &err) == -1 &&
	      strstr(err.msg, "too large"));
}

static void test_cpus(void)
{
	kn_error err = {0};
	double v = 0;
	CHECK(cli_parse_cpus("2", &v, &err) == 0 && v == 2.0);
	CHECK(cli_parse_cpus("0.5", &v, &err) == 0 && v == 0.5);
	CHECK(cli_parse_cpus("1.25", &v, &err) == 0 && v == 1.25);
	CHECK(cli_parse_cpus("8192", &v, &err) == 0 && v == 8192.0);
	const char *bad[] = {"", "0", "0.0", "-1", "+1", "inf", "nan", "1e3", "0x1", " 1",
			     "1 ", "1.", ".5", "abc", "8193", "8192.5", "1,5", "1.2.3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -7;
		int rc = cli_parse_cpus(bad[i], &v, &err);
		if (rc != -1 || v != -7)
			printf("  cpus '%s' was not refused\n", bad[i]);
		CHECK(rc == -1 && v == -7 && strstr(err.msg, "invalid CPU count"));
	}
}

static void test_pids(void)
{
	kn_error err = {0};
	int64_t v = 0;
	CHECK(cli_parse_pids("512", &v, &err) == 0 && v == 512);
	CHECK(cli_parse_pids("1", &v, &err) == 0 && v == 1);
	CHECK(cli_parse_pids("4194304", &v, &err) == 0 && v == 4194304);
	const char *bad[] = {"", "0", "-5", "+5", "4194305", "99999999999999999999", "12a",
			     " 12", "1.5", "0x10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -7;
		int rc = cli_parse_pids(bad[i], &v, &err);
		if (rc != -1 || v != -7)
			printf("  pids '%s' was not refused\n", bad[i]);
		CHECK(rc == -1 && v == -7 && strstr(err.msg, "invalid process limit"));
	}
}

static void test_names(void)
{
	char longest[CLI_MAX_NAME + 2];
	memset(longest, 'a', CLI_MAX_NAME);
	longest[CLI_MAX_NAME] = '\0';
	const char *good[] = {"shell-myproj", "a", "0", "A_b.c-1", "x..y", longest};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *why = "unset";
		CHECK(cli_valid_sandbox_name(good[i], &why) && why == NULL);
	}
	char too_long[CLI_MAX_NAME + 2];
	memset(too_long, 'a', CLI_MAX_NAME + 1);
	too_long[CLI_MAX_NAME + 1] = '\0';
	const char *bad[] = {"", ".", "..", "-x", "_x", ".hidden", too_long, "a/b", "../x",
			     "a b", "\xc3\xa9t\xc3\xa9", "a\n", "a:b", "a%2f", "a?force=1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;
		bool ok = cli_valid_sandbox_name(bad[i], &why);
		if (ok || !why)
			printf("  name '%s' was accepted\n", bad[i]);
		CHECK(!ok && why != NULL);
	}
	CHECK(cli_valid_sandbox_name("..", NULL) == false);
}

/* A scratch directory; the test chdirs into it and back. */
static char scratch[] = "/tmp/kennel-test-cli.XXXXXX";
static char old_cwd[PATH_MAX];

static void make_dir(const char *rel)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", scratch, rel);
	CHECK(mkdir(path, 0755) == 0);
}

static void check_workspace(const char *arg, const char *want_rel, bool want_ro)
{
	struct cli_workspace ws = {0};
	kn_error err = {0};
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s%s%s", scratch, *want_rel ? "/" : "", want_rel);
	int rc = cli_parse_workspace(arg, &ws, &err);
	if (rc != 0 || !ws.path || strcmp(ws.path, want) != 0 || ws.readonly != want_ro)
		printf("  workspace '%s': rc %d path '%s' ro %d (%s)\n", arg, rc,
		       ws.path ? ws.path : "(null)", ws.readonly, err.msg);
	CHECK(rc == 0 && ws.path && strcmp(ws.path, want) == 0 && ws.readonly == want_ro);
	cli_workspace_clear(&ws);
	CHECK(ws.path == NULL);
}

static void check_workspace_fails(const char *arg, const char *named)
{
	struct cli_workspace ws = {0};
	kn_error err = {0};
	int rc = cli_parse_workspace(arg, &ws, &err);
	if (rc != -1 || !strstr(err.msg, named))
		printf("  workspace '%s': rc %d msg '%s'\n", arg, rc, err.msg);
	CHECK(rc == -1 && ws.path == NULL && strstr(err.msg, named));
}

static void test_workspace(void)
{
	/* mkdtemp's directory may sit behind a symlinked /tmp: compare to realpath. */
	char *real = realpath(scratch, NULL);
	CHECK(real != NULL);
	if (!real)
		return;
	strcpy(scratch, real);
	free(real);
	make_dir("proj");
	make_dir("a:b");
	make_dir("x:ro");
	make_dir("proj/sub");
	char link[PATH_MAX];
	snprintf(link, sizeof(link), "%s/link", scratch);
	CHECK(symlink("proj", link) == 0);
	char file[PATH_MAX];
	snprintf(file, sizeof(file), "%s/file", scratch);
	int fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	close(fd);

	CHECK(getcwd(old_cwd, sizeof(old_cwd)) != NULL);
	CHECK(chdir(scratch) == 0);
	check_workspace("proj", "proj", false);
	check_workspace("proj:ro", "proj", true);
	check_workspace("proj:rw", "proj", false);
	check_workspace("./proj/sub/..", "proj", false);
	check_workspace("proj/sub:ro", "proj/sub", true);
	check_workspace("link", "proj", false);
	check_workspace("a:b", "a:b", false);
	check_workspace("a:b:ro", "a:b", true);
	check_workspace("x:ro:rw", "x:ro", false);
	check_workspace(".", "", false);
	char abs[PATH_MAX + 8];
	snprintf(abs, sizeof(abs), "%s/proj:ro", scratch);
	check_workspace(abs, "proj", true);
	check_workspace_fails("missing", "'missing': No such file or directory");
	check_workspace_fails("missing:ro", "'missing': No such file or directory");
	check_workspace_fails("file", "'file': not a directory");
	check_workspace_fails("", "empty path");
	check_workspace_fails(":ro", "empty path");
	/* "x:ro" is read as the directory "x", which does not exist. */
	check_workspace_fails("x:ro", "'x'");
	CHECK(chdir(old_cwd) == 0);
}

static void test_resolve_dir(void)
{
	char *out = NULL;
	kn_error err = {0};
	CHECK(cli_resolve_dir("image", scratch, &out, &err) == 0 && out &&
	      strcmp(out, scratch) == 0);
	free(out);
	out = NULL;
	CHECK(cli_resolve_dir("image", "/nonexistent-kennel-dir", &out, &err) == -1 && !out);
	CHECK_STR_EQ(err.msg, "image '/nonexistent-kennel-dir': No such file or directory");
}

static void test_timestamps(void)
{
	time_t t = 0;
	CHECK(cli_parse_utc_timestamp("2026-11-23T07:40:00Z", &t) == 0 && t == 1795419600);
	CHECK(cli_parse_utc_timestamp("2026-11-23T07:40:00.123Z", &t) == 0 && t == 1795419600);
	CHECK(cli_parse_utc_timestamp("2026-11-23T07:40:00+00:00", &t) == 0 && t == 1795419600);
	CHECK(cli_parse_utc_timestamp("2026-11-23T07:40:00", &t) == -1);
	CHECK(cli_parse_utc_timestamp("2026-11-23T07:40:00+02:00", &t) == -1);
	CHECK(cli_parse_utc_timestamp("2026-11-23T07:40:00.Z", &t) == -1);
	CHECK(cli_parse_utc_timestamp("yesterday", &t) == -1);
	CHECK(cli_parse_utc_timestamp("", &t) == -1);
}

static void check_ago(long long seconds, const char *want)
{
	char buf[64];
	cli_format_ago(1000000000, (time_t)(1000000000 + seconds), buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		printf("  %lld s: '%s', want '%s'\n", seconds, buf, want);
	CHECK(strcmp(buf, want) == 0);
}

static void test_ago(void)
{
	check_ago(-5, "Less than a second ago");
	check_ago(0, "Less than a second ago");
	check_ago(1, "1 second ago");
	check_ago(59, "59 seconds ago");
	check_ago(60, "About a minute ago");
	check_ago(119, "About a minute ago");
	check_ago(120, "2 minutes ago");
	check_ago(3599, "59 minutes ago");
	check_ago(3600, "About an hour ago");
	check_ago(5399, "About an hour ago");
	check_ago(5400, "2 hours ago");
	check_ago(47 * 3600, "47 hours ago");
	check_ago(48 * 3600, "2 days ago");
	check_ago(13 * 86400, "13 days ago");
	check_ago(14 * 86400, "2 weeks ago");
	check_ago(60 * 86400, "2 months ago");
	check_ago(730 * 86400, "2 years ago");
}

static void test_table(void)
{
	const char *text =
		"[{\"name\":\"shell-myproj\",\"agent\":\"shell\",\"status\":\"running\","
		"\"created\":\"2026-11-23T07:40:00Z\","
		"\"workspaces\":[{\"path\":\"/home/u/myproj\",\"readonly\":false}]},"
		" {\"name\":\"x\",\"agent\":\"shell\",\"status\":\"stopped\","
		"\"created\":\"2026-11-23T05:40:00Z\","
		"\"workspaces\":[{\"path\":\"/srv/d\",\"readonly\":true},"
		"{\"path\":\"/srv/e\",\"readonly\":false}]},"
		" {\"name\":\"odd\",\"created\":\"not a time\",\"workspaces\":[]}]";
	json_t *list = json_loads(text, 0, NULL);
	CHECK(list != NULL);
	char *out = NULL;
	kn_error err = {0};
	CHECK(cli_format_sandbox_table(list, 1795419600 + 300, &out, &err) == 0);
	const char *want =
		"NAME           AGENT   STATUS    WORKSPACE        CREATED\n"
		"shell-myproj   shell   running   /home/u/myproj   5 minutes ago\n"
		"x              shell   stopped   /srv/d:ro (+1)   2 hours ago\n"
		"odd            -       -         -                not a time\n";
	CHECK_STR_EQ(out, want);
	free(out);
	json_decref(list);

	list = json_array();
	CHECK(cli_format_sandbox_table(list, 0, &out, &err) == 0);
	CHECK_STR_EQ(out, "NAME   AGENT   STATUS   WORKSPACE   CREATED\n");
	free(out);
	json_decref(list);

	/* Column widths count characters, not bytes. */
	list = json_loads("[{\"name\":\"a\",\"agent\":\"shell\",\"status\":\"running\","
			  "\"workspaces\":[{\"path\":\"/home/\xc3\xa9t\xc3\xa9\"}],"
			  "\"created\":\"x\"},{\"name\":\"b\",\"agent\":\"shell\","
			  "\"status\":\"running\",\"workspaces\":[{\"path\":\"/home/abc\"}],"
			  "\"created\":\"y\"}]",
			  0, NULL);
	CHECK(cli_format_sandbox_table(list, 0, &out, &err) == 0);
	CHECK(out && strstr(out, "/home/\xc3\xa9t\xc3\xa9   x\n") && strstr(out, "/home/abc   y\n"));
	free(out);
	json_decref(list);

	list = json_loads("[{\"agent\":\"shell\"}]", 0, NULL);
	out = NULL;
	CHECK(cli_format_sandbox_table(list, 0, &out, &err) == -1 && out == NULL);
	CHECK(strstr(err.msg, "no name") != NULL);
	json_decref(list);
	list = json_loads("{\"sandboxes\":[]}", 0, NULL);
	CHECK(cli_format_sandbox_table(list, 0, &out, &err) == -1 && out == NULL);
	json_decref(list);
}

/* ---- the client, against a forked one-connection server on a real socket ---- */

static char sock_path[PATH_MAX];

/* Serve one connection: read the request head and body, check it contains
 * `expect` (exit 3 if not), send `answer` split at `split` (the part after
 * the split carries `n_fds` fresh pipe read ends as SCM_RIGHTS), close. */
static pid_t serve_once(const char *expect, const char *answer, size_t split, int n_fds)
{
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	strcpy(addr.sun_path, sock_path);
	unlink(sock_path);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 1) < 0)
		return -1;
	pid_t pid = fork();
	if (pid != 0) {
		close(lfd);
		return pid;
	}
	int c = accept(lfd, NULL, NULL);
	char req[8192];
	size_t len = 0;
	while (len < sizeof(req) - 1) {
		ssize_t n = read(c, req + len, sizeof(req) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		char *end = strstr(req, "\r\n\r\n");
		char *cl = strcasestr(req, "Content-Length: ");
		if (end && cl && len - (size_t)(end + 4 - req) >= strtoul(cl + 16, NULL, 10))
			break;
	}
	req[len] = '\0';
	if (!strstr(req, expect))
		_exit(3);
	if (write(c, answer, split) != (ssize_t)split)
		_exit(4);
	const char *rest = answer + split;
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int) * 8)];
	} control;
	struct iovec iov = {.iov_base = (void *)rest, .iov_len = strlen(rest)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n_fds > 0) {
		int fds[8];
		for (int i = 0; i < n_fds; i++) {
			int p[2];
			if (pipe(p) < 0)
				_exit(5);
			char tag = (char)('A' + i);
			if (write(p[1], &tag, 1) != 1)
				_exit(5);
			close(p[1]);
			fds[i] = p[0];
		}
		msg.msg_control = control.bytes;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n_fds);
	}
	if (iov.iov_len > 0 && sendmsg(c, &msg, 0) != (ssize_t)iov.iov_len)
		_exit(6);
	close(c);
	_exit(0);
}

static int reap(pid_t pid)
{
	int status = 0;
	if (pid <= 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_client_json(void)
{
	const char *answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			     "Content-Length: 27\r\n\r\n{\"version\":\"0.1.0\",\"api\":1}";
	pid_t pid = serve_once("GET /version HTTP/1.1\r\n", answer, 40, 0);
	json_t *value = NULL;
	int status = 0;
	kn_error err = {0};
	CHECK(cli_api_call(sock_path, "GET", "/version", NULL, &status, &value, &err) == 0);
	CHECK(status == 200);
	CHECK_STR_EQ(json_string_value(json_object_get(value, "version")), "0.1.0");
	json_decref(value);
	CHECK(reap(pid) == 0);

	/* The request carries Connection: close, Content-Length and the JSON body. */
	json_t *body = json_pack("{s:s}", "agent", "shell");
	pid = serve_once("Content-Length: 17\r\n\r\n{\"agent\":\"shell\"}",
			 "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", 0, 0);
	CHECK(cli_api_call(sock_path, "POST", "/sandboxes", body, &status, NULL, &err) == 0);
	CHECK(status == 201);
	json_decref(body);
	CHECK(reap(pid) == 0);

	pid = serve_once("Connection: close\r\n",
			 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 0, 0);
	CHECK(cli_api_call(sock_path, "GET", "/health", NULL, NULL, NULL, &err) == 0);
	CHECK(reap(pid) == 0);
}

static void test_client_errors(void)
{
	kn_error err = {0};
	int status = 0;
	json_t *value = (json_t *)1;
	pid_t pid = serve_once("GET /sandboxes/nope ",
			       "HTTP/1.1 404 Not Found\r\nContent-Length: 35\r\n\r\n"
			       "{\"error\":\"no sandbox named 'nope'\"}",
			       10, 0);
	CHECK(cli_api_call(sock_path, "GET", "/sandboxes/nope", NULL, &status, &value, &err) == -1);
	CHECK(status == 404 && value == NULL);
	CHECK_STR_EQ(err.msg, "no sandbox named 'nope'");
	CHECK(reap(pid) == 0);

	/* Not the {"error": ...} shape: the status says what happened. */
	pid = serve_once("GET", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops",
			 0, 0);
	CHECK(cli_api_call(sock_path, "GET", "/x", NULL, &status, NULL, &err) == -1);
	CHECK_STR_EQ(err.msg, "kenneld answered 500 Internal Server Error");
	CHECK(reap(pid) == 0);

	pid = serve_once("GET", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a\":", 0, 0);
	CHECK(cli_api_call(sock_path, "GET", "/x", NULL, &status, NULL, &err) == -1);
	CHECK(strstr(err.msg, "closed the connection after 5 of 10 body bytes") != NULL);
	CHECK(reap(pid) == 0);

	pid = serve_once("GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n{",
			 0, 0);
	CHECK(cli_api_call(sock_path, "GET", "/x", NULL, &status, NULL, &err) == -1);
	CHECK(strstr(err.msg, "bad answer from kenneld") != NULL);
	CHECK(reap(pid) == 0);

	pid = serve_once("GET", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!", 0, 0);
	CHECK(cli_api_call(sock_path, "GET", "/x", NULL, &status, NULL, &err) == -1);
	CHECK(strstr(err.msg, "bad JSON from kenneld") != NULL);
	CHECK(reap(pid) == 0);

	/* Chunked and close-delimited bodies are read too. */
	pid = serve_once("GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n", 0, 0);
	value = NULL;
	CHECK(cli_api_call(sock_path, "GET", "/x", NULL, &status, &value, &err) == 0);
	CHECK(json_integer_value(json_object_get(value, "a")) == 1);
	json_decref(value);
	CHECK(reap(pid) == 0);
	pid = serve_once("GET", "HTTP/1.1 200 OK\r\n\r\n{\"b\":2}", 0, 0);
	value = NULL;
	CHECK(cli_api_call(sock_path, "GET", "/x", NULL, &status, &value, &err) == 0);
	CHECK(json_integer_value(json_object_get(value, "b")) == 2);
	json_decref(value);
	CHECK(reap(pid) == 0);

	pid = serve_once("GET", "", 0, 0);
	CHECK(cli_api_call(sock_path, "GET", "/x", NULL, &status, NULL, &err) == -1);
	CHECK(strstr(err.msg, "closed the connection before answering") != NULL);
	CHECK(reap(pid) == 0);
}

static void test_client_no_daemon(void)
{
	kn_error err = {0};
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/absent.sock", scratch);
	CHECK(cli_api_call(path, "GET", "/version", NULL, NULL, NULL, &err) == -1);
	CHECK(strstr(err.msg, "cannot connect to kenneld at ") && strstr(err.msg, path) &&
	      strstr(err.msg, "No such file or directory. Is it running? Start it with "
			      "'kennel daemon' (as root) or 'make run'."));
	/* A socket file nobody listens on any more. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/stale.sock", scratch);
	CHECK(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	close(fd);
	CHECK(cli_api_call(addr.sun_path, "GET", "/version", NULL, NULL, NULL, &err) == -1);
	CHECK(strstr(err.msg, "Connection refused. Is it running?") != NULL);
	char long_path[200];
	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	CHECK(cli_api_call(long_path, "GET", "/version", NULL, NULL, NULL, &err) == -1);
	CHECK(strstr(err.msg, "socket path too long") != NULL);
}

static void test_timeout_parse(void)
{
	kn_error err = {0};
	int sec = 0;
	CHECK(cli_timeout_parse(NULL, &sec, &err) == 0 && sec == CLI_API_TIMEOUT_SEC);
	CHECK(cli_timeout_parse("", &sec, &err) == 0 && sec == CLI_API_TIMEOUT_SEC);
	CHECK(cli_timeout_parse("1", &sec, &err) == 0 && sec == 1);
	CHECK(cli_timeout_parse("86400", &sec, &err) == 0 && sec == CLI_TIMEOUT_MAX_SEC);
	static const char *const bad[] = {"0", "-1", "86401", "1.5", "5s", " 5", "abc",
					  "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sec = 7;
		CHECK(cli_timeout_parse(bad[i], &sec, &err) == -1);
		CHECK(strstr(err.msg, bad[i]) != NULL);
	}
}

static char read_tag(int fd)
{
	char c = 0;
	return read(fd, &c, 1) == 1 ? c : 0;
}

static void test_client_exec_stream(void)
{
	/* The head and the start of the body in one write, the started line with
	 * three fds in a sendmsg, the exit line after it in the same message. */
	const char *answer =
		"HTTP/1.1 200 OK\r\nContent-Type: application/x-kennel-exec\r\n\r\n"
		"{\"event\":\"started\",\"pid\":7,\"fds\":[\"stdin\",\"stdout\",\"stderr\"]}\n"
		"{\"event\":\"exit\",\"exit_code\":3}\n";
	pid_t pid = serve_once("POST /sandboxes/s/exec ", answer, 70, 3);
	struct cli_conn conn;
	kn_error err = {0};
	json_t *body = json_pack("{s:[s]}", "cmd", "true");
	CHECK(cli_conn_open(&conn, sock_path, &err) == 0);
	CHECK(cli_conn_send(&conn, "POST", "/sandboxes/s/exec", body, &err) == 0);
	json_decref(body);
	CHECK(cli_conn_read_head(&conn, &err) == 0);
	CHECK(conn.status == 200 && conn.content_length == -1);
	CHECK_STR_EQ(conn.content_type, "application/x-kennel-exec");
	json_t *ev = NULL;
	CHECK(cli_conn_next_event(&conn, &ev, &err) == 1);
	CHECK_STR_EQ(json_string_value(json_object_get(ev, "event")), "started");
	json_decref(ev);
	int fds[3] = {-1, -1, -1};
	CHECK(cli_conn_take_fds(&conn, fds, 3, &err) == 0);
	CHECK(read_tag(fds[0]) == 'A' && read_tag(fds[1]) == 'B' && read_tag(fds[2]) == 'C');
	for (int i = 0; i < 3; i++) {
		/* Received with MSG_CMSG_CLOEXEC. */
		CHECK(fds[i] >= 0 && (fcntl(fds[i], F_GETFD) & FD_CLOEXEC));
		close(fds[i]);
	}
	CHECK(cli_conn_take_fds(&conn, fds, 1, &err) == -1);
	ev = NULL;
	CHECK(cli_conn_next_event(&conn, &ev, &err) == 1);
	CHECK(json_integer_value(json_object_get(ev, "exit_code")) == 3);
	json_decref(ev);
	CHECK(cli_conn_next_event(&conn, &ev, &err) == 0);
	cli_conn_close(&conn);
	cli_conn_close(&conn);
	CHECK(reap(pid) == 0);

	/* A stream that breaks off in the middle of a line is an error, and fds
	 * nobody took are closed with the connection. */
	pid = serve_once("POST", "HTTP/1.1 200 OK\r\n\r\n{\"event\":\"sta", 19, 2);
	CHECK(cli_conn_open(&conn, sock_path, &err) == 0);
	CHECK(cli_conn_send(&conn, "POST", "/x", NULL, &err) == 0);
	CHECK(cli_conn_read_head(&conn, &err) == 0);
	CHECK(cli_conn_next_event(&conn, &ev, &err) == -1);
	CHECK(strstr(err.msg, "in the middle of a line") != NULL);
	CHECK(conn.n_fds == 2);
	int kept = conn.fds[0];
	cli_conn_close(&conn);
	CHECK(fcntl(kept, F_GETFD) == -1 && errno == EBADF);
	CHECK(reap(pid) == 0);

	pid = serve_once("POST", "HTTP/1.1 200 OK\r\n\r\n[1,2]\n", 0, 0);
	CHECK(cli_conn_open(&conn, sock_path, &err) == 0);
	CHECK(cli_conn_send(&conn, "POST", "/x", NULL, &err) == 0);
	CHECK(cli_conn_read_head(&conn, &err) == 0);
	CHECK(cli_conn_next_event(&conn, &ev, &err) == -1);
	CHECK(strstr(err.msg, "not a JSON object") != NULL);
	cli_conn_close(&conn);
	CHECK(reap(pid) == 0);
}

int main(void)
{
	if (!mkdtemp(scratch)) {
		perror("mkdtemp");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	RUN(test_size_units);
	RUN(test_size_refusals);
	RUN(test_size_limits);
	RUN(test_cpus);
	RUN(test_pids);
	RUN(test_names);
	RUN(test_workspace);
	RUN(test_resolve_dir);
	RUN(test_timestamps);
	RUN(test_ago);
	RUN(test_table);
	snprintf(sock_path, sizeof(sock_path), "%s/kenneld.sock", scratch);
	RUN(test_client_json);
	RUN(test_client_errors);
	RUN(test_client_no_daemon);
	RUN(test_timeout_parse);
	RUN(test_client_exec_stream);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		printf("  could not remove %s\n", scratch);
	return test_summary();
}
