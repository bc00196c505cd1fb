/* test_proxy_request.c — request targets, Host agreement and head rewriting
 * (src/proxy/request.h, rewrite.h): what the proxy forwards is decided by
 * these pure functions, so each rule has a case, and every rewritten head is
 * parsed again with common/http.h to prove it is a head we would accept. */
#include "proxy/request.h"
#include "proxy/rewrite.h"

#include <stdio.h>
#include <string.h>

#include "common/http.h"
#include "test.h"

static int target_connect(const char *t, struct kp_target *out)
{
	const char *reason = NULL;
	return kp_target_connect(t, strlen(t), out, &reason);
}

static int target_absolute(const char *t, struct kp_target *out, const char **reason)
{
	return kp_target_absolute(t, strlen(t), out, reason);
}

static int span_is(const char *p, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

static void test_connect_targets(void)
{
	struct kp_target t;

	CHECK(target_connect("example.com:443", &t) == 0);
	CHECK(span_is(t.host, t.host_len, "example.com") && t.port == 443);
	CHECK(target_connect("[::1]:8443", &t) == 0);
	CHECK(span_is(t.host, t.host_len, "::1") && t.port == 8443);
	CHECK(span_is(t.authority, t.authority_len, "[::1]:8443"));
	CHECK(target_connect("example.com", &t) < 0);
	CHECK(target_connect("example.com:", &t) < 0);
	CHECK(target_connect("example.com:0", &t) < 0);
	CHECK(target_connect("example.com:65536", &t) < 0);
	CHECK(target_connect("example.com:44x", &t) < 0);
	CHECK(target_connect("[::1:443", &t) < 0);
	CHECK(target_connect(":443", &t) < 0);
}

static void test_absolute_targets(void)
{
	struct kp_target t;
	const char *reason = NULL;

	CHECK(target_absolute("http://example.com/a/b?c=d", &t, &reason) == 0);
	CHECK(span_is(t.host, t.host_len, "example.com") && t.port == 80);
	CHECK(span_is(t.path, t.path_len, "/a/b?c=d"));
	CHECK(target_absolute("HTTP://Example.com:8080", &t, &reason) == 0);
	CHECK(t.port == 8080 && t.path_len == 0);
	CHECK(span_is(t.authority, t.authority_len, "Example.com:8080"));
	CHECK(target_absolute("http://h?q", &t, &reason) == 0);
	CHECK(span_is(t.path, t.path_len, "?q") && span_is(t.host, t.host_len, "h"));
	CHECK(target_absolute("http://[::1]:81/x", &t, &reason) == 0);
	CHECK(span_is(t.host, t.host_len, "::1") && t.port == 81);

	CHECK(target_absolute("/relative", &t, &reason) < 0);
	CHECK(strstr(reason, "absolute-form") != NULL);
	CHECK(target_absolute("https://example.com/", &t, &reason) < 0);
	CHECK(strstr(reason, "CONNECT") != NULL);
	CHECK(target_absolute("ftp://example.com/", &t, &reason) < 0);
	CHECK(target_absolute("http://user:pw@example.com/", &t, &reason) < 0);
	CHECK(strstr(reason, "userinfo") != NULL);
	CHECK(target_absolute("http://example.com/#frag", &t, &reason) < 0);
	CHECK(target_absolute("http://:80/", &t, &reason) < 0);
	CHECK(target_absolute("http://example.com:/", &t, &reason) < 0);
	CHECK(target_absolute("http://example.com:99999/", &t, &reason) < 0);
}

static void test_host_agreement(void)
{
	struct kp_target t;
	const char *reason = NULL;

	CHECK(target_absolute("http://Example.COM./x", &t, &reason) == 0);
	CHECK(kp_host_agrees(&t, "example.com", 11, &reason) == 0);
	CHECK(kp_host_agrees(&t, "example.com:80", 14, &reason) == 0);
	CHECK(kp_host_agrees(&t, NULL, 0, &reason) == 0); /* HTTP/1.0 without Host */
	CHECK(kp_host_agrees(&t, "other.com", 9, &reason) < 0);
	CHECK(strstr(reason, "does not match") != NULL);
	CHECK(kp_host_agrees(&t, "example.com:81", 14, &reason) < 0);
	CHECK(kp_host_agrees(&t, "", 0, &reason) < 0);

	/* IP spellings are compared canonically. */
	CHECK(target_absolute("http://127.1:8080/", &t, &reason) == 0);
	CHECK(kp_host_agrees(&t, "127.0.0.1:8080", 14, &reason) == 0);
	CHECK(kp_host_agrees(&t, "0x7f000001:8080", 15, &reason) == 0);
	CHECK(kp_host_agrees(&t, "127.0.0.2:8080", 14, &reason) < 0);
	CHECK(target_absolute("http://[::ffff:127.0.0.1]/", &t, &reason) == 0);
	CHECK(kp_host_agrees(&t, "127.0.0.1", 9, &reason) == 0);
}

/* Parse `head`, rewrite it for `target`, and parse the result again. */
static int rewrite(const char *head, const char *target, char *out, size_t outsz,
		   struct http_request *again, const char **reason)
{
	struct http_request req;
	struct kp_target t;
	size_t len = 0;

	if (http_parse_request_head(head, strlen(head), &req, reason) <= 0)
		return -2;
	if (kp_target_absolute(target, strlen(target), &t, reason) < 0)
		return -3;
	if (kp_rewrite_request(&req, &t, NULL, out, outsz, &len, reason) < 0)
		return -1;
	out[len] = '\0';
	return http_parse_request_head(out, len, again, reason) == (ssize_t)len ? 0 : -4;
}

static int has_header(const struct http_request *r, const char *name)
{
	return http_header_find(r->headers, r->n_headers, name) != NULL;
}

static void test_rewrite_request(void)
{
	static char out[HTTP_MAX_HEAD + 1];
	struct http_request r;
	const char *reason = NULL;
	const char *head =
		"POST http://example.com:8080/up?x=1 HTTP/1.1\r\n"
		"Host: example.com:8080\r\n"
		"Connection: keep-alive, X-Hop\r\n"
		"X-Hop: secret\r\n"
		"Keep-Alive: timeout=5\r\n"
		"TE: trailers\r\n"
		"Trailer: X-T\r\n"
		"Upgrade: websocket\r\n"
		"Proxy-Connection: keep-alive\r\n"
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
		"User-Agent: test\r\n"
		"Content-Length: 3\r\n"
		"\r\n";

	CHECK(rewrite(head, "http://example.com:8080/up?x=1", out, sizeof(out), &r, &reason) == 0);
	CHECK(strncmp(out, "POST /up?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n", 47) == 0);
	CHECK(r.content_length == 3);
	CHECK(has_header(&r, "User-Agent"));
	CHECK(!has_header(&r, "X-Hop") && !has_header(&r, "Keep-Alive") && !has_header(&r, "TE"));
	CHECK(!has_header(&r, "Trailer") && !has_header(&r, "Upgrade"));
	CHECK(!has_header(&r, "Proxy-Connection") && !has_header(&r, "Proxy-Authorization"));
	const struct http_header *c = http_header_find(r.headers, r.n_headers, "Connection");
	CHECK(c && c->value_len == 5 && memcmp(c->value, "close", 5) == 0);
	CHECK(r.keep_alive == 0);

	/* Empty path and query-only path get a leading '/'. */
	CHECK(rewrite("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", "http://h", out, sizeof(out), &r,
		      &reason) == 0);
	CHECK(strncmp(out, "GET / HTTP/1.1\r\n", 16) == 0);
	CHECK(rewrite("GET http://h?q HTTP/1.0\r\n\r\n", "http://h?q", out, sizeof(out), &r,
		      &reason) == 0);
	CHECK(strncmp(out, "GET /?q HTTP/1.0\r\nHost: h\r\n", 27) == 0);
	CHECK(r.version_minor == 0);

	/* Chunked framing is kept as it is. */
	CHECK(rewrite("PUT http://h/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
		      "http://h/", out, sizeof(out), &r, &reason) == 0);
	CHECK(r.chunked == 1);
}

static void test_rewrite_refuses_framing_in_connection(void)
{
	static char out[HTTP_MAX_HEAD + 1];
	struct http_request r;
	const char *reason = NULL;
	static const char *const heads[] = {
		"POST http://h/ HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: 3\r\n\r\n",
		"POST http://h/ HTTP/1.1\r\nHost: h\r\nConnection: close, transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://h/ HTTP/1.1\r\nHost: h\r\nConnection: x\r\nConnection: host\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		CHECK(rewrite(heads[i], "http://h/", out, sizeof(out), &r, &reason) == -1);
		CHECK(reason && strstr(reason, "framing") != NULL);
	}
}

static void test_rewrite_limits(void)
{
	static char head[HTTP_MAX_HEAD], out[HTTP_MAX_HEAD + 1];
	struct http_request r;
	const char *reason = NULL;

	/* A head that fits, rewritten into a buffer that does not. */
	CHECK(rewrite("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", "http://h/", out, 20, &r,
		      &reason) == -1);
	CHECK(strstr(reason, "too large") != NULL);

	/* Heads of exactly `total` bytes: padding headers of at most 8000 bytes. The
	 * rewrite saves 8 bytes ("http://h/" -> "/") and adds "Connection:
	 * close\r\n" (19), so a head within 11 bytes of HTTP_MAX_HEAD would come
	 * out larger than any head we accept, and is refused instead. */
	for (size_t total = HTTP_MAX_HEAD - 11; total <= HTTP_MAX_HEAD - 10; total++) {
		size_t n = (size_t)snprintf(head, sizeof(head), "GET http://h/ HTTP/1.1\r\nHost: h\r\n");
		while (n < total - 2) {
			size_t left = total - 2 - n; /* bytes until the final CRLF */
			size_t line = left > 8000 ? 8000 : left;
			if (left - line > 0 && left - line < 12)
				line -= 12; /* never leave a remainder too short for a line */
			n += (size_t)snprintf(head + n, sizeof(head) - n, "X-P: %0*d\r\n", (int)(line - 7), 0);
		}
		snprintf(head + n, sizeof(head) - n, "\r\n");
		CHECK(strlen(head) == total);
		int rc = rewrite(head, "http://h/", out, sizeof(out), &r, &reason);
		CHECK(total == HTTP_MAX_HEAD - 11 ? rc == 0 : rc == -1);
	}

	/* HTTP_MAX_HEADERS headers with Host: one more (Connection) would come out. */
	for (int extra = 98; extra <= 99; extra++) {
		size_t n = (size_t)snprintf(head, sizeof(head), "GET http://h/ HTTP/1.1\r\nHost: h\r\n");
		for (int i = 0; i < extra; i++)
			n += (size_t)snprintf(head + n, sizeof(head) - n, "X-%d: v\r\n", i);
		snprintf(head + n, sizeof(head) - n, "\r\n");
		int rc = rewrite(head, "http://h/", out, sizeof(out), &r, &reason);
		CHECK(extra == 98 ? rc == 0 : rc == -1);
		CHECK(extra == 98 || strstr(reason, "too many headers") != NULL);
	}
}

static void test_rewrite_response(void)
{
	static char out[HTTP_MAX_HEAD + 64];
	struct http_response resp, again;
	const char *reason = NULL;
	size_t len;
	const char *head = "HTTP/1.0 200 OK\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n"
			   "Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nContent-Length: 2\r\n"
			   "X-Keep: yes\r\n\r\n";

	CHECK(http_parse_response_head(head, strlen(head), &resp, &reason) > 0);
	CHECK(kp_rewrite_response(&resp, true, out, sizeof(out), &len, &reason) == 0);
	CHECK(http_parse_response_head(out, len, &again, &reason) == (ssize_t)len);
	CHECK(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(again.keep_alive == 1 && again.content_length == 2);
	CHECK(http_header_find(again.headers, again.n_headers, "X-Keep") != NULL);
	CHECK(http_header_find(again.headers, again.n_headers, "X-Drop") == NULL);
	CHECK(http_header_find(again.headers, again.n_headers, "Keep-Alive") == NULL);
	CHECK(http_header_find(again.headers, again.n_headers, "Proxy-Authenticate") == NULL);

	CHECK(kp_rewrite_response(&resp, false, out, sizeof(out), &len, &reason) == 0);
	CHECK(http_parse_response_head(out, len, &again, &reason) == (ssize_t)len);
	CHECK(again.keep_alive == 0);

	head = "HTTP/1.1 204 No Content\r\nConnection: content-length\r\n\r\n";
	CHECK(http_parse_response_head(head, strlen(head), &resp, &reason) > 0);
	CHECK(kp_rewrite_response(&resp, true, out, sizeof(out), &len, &reason) < 0);
}

static void test_hop_by_hop(void)
{
	struct http_header h[2] = {
		{ "Connection", 10, "x-custom, keep-alive", 20 },
		{ "X-Custom", 8, "v", 1 },
	};

	CHECK(kp_is_hop_by_hop("x-CUSTOM", 8, h, 2));
	CHECK(kp_is_hop_by_hop("Proxy-Whatever", 14, h, 2));
	CHECK(kp_is_hop_by_hop("te", 2, h, 2));
	CHECK(!kp_is_hop_by_hop("Proxy", 5, h, 2));
	CHECK(!kp_is_hop_by_hop("X-Other", 7, h, 2));
	CHECK(!kp_is_hop_by_hop("Authorization", 13, h, 2));
}

int main(void)
{
	RUN(test_connect_targets);
	RUN(test_absolute_targets);
	RUN(test_host_agreement);
	RUN(test_rewrite_request);
	RUN(test_rewrite_refuses_framing_in_connection);
	RUN(test_rewrite_limits);
	RUN(test_rewrite_response);
	RUN(test_hop_by_hop);
	return test_summary();
}
