/* test_http.c — table-driven tests of the strict HTTP/1.1 parser (common/http.h).
 *
 * Each table row is one case and prints its own PASS/FAIL line, so the suite
 * counts cases, not tables. Rows that should parse also check that every
 * shorter prefix of the head asks for more bytes (returns 0), never fails.
 * Limits are tested exactly at and one past each named constant with inputs
 * built at run time. Chunked bodies are decoded in one call, split at every
 * byte boundary, and byte by byte, and must give the same payload each way. */
#include "common/http.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* test.h counts one result per RUN; a table row reports itself through this. */
static void report(const char *group, const char *name, int failed_checks_before)
{
	if (test_failed_checks != failed_checks_before) {
		test_failed_tests++;
		printf("FAIL %s/%s\n", group, name);
	} else {
		printf("PASS %s/%s\n", group, name);
	}
	fflush(stdout);
}

enum { WANT_OK, WANT_MORE, WANT_BAD };

static size_t head_end(const char *s, size_t len)
{
	for (size_t i = 0; i + 4 <= len; i++)
		if (memcmp(s + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}

static int reason_has(const char *reason, const char *want)
{
	return reason && want && strstr(reason, want) != NULL;
}

#define CHECK_REASON(reason, want)                                                       \
	do {                                                                             \
		CHECK(reason_has((reason), (want)));                                     \
		if (!reason_has((reason), (want)))                                       \
			printf("  reason \"%s\", wanted \"%s\"\n", (reason) ? (reason) : "(null)", \
			       (want));                                                  \
	} while (0)

/* ---------------------------------------------------------------- requests */

/* Every row's input is a string literal, so sizeof gives its length even when
 * it holds a NUL. */
struct req_case {
	const char *name;
	const char *in;
	size_t len;
	int want;
	const char *why; /* WANT_BAD: substring of the reason */
	const char *method, *target;
	int minor;
	int64_t content_length;
	int chunked, keep_alive;
	const char *host; /* NULL: no Host header */
	size_t n_headers;
};

#define REQ_OK(name_, in_, method_, target_, minor_, cl_, chunked_, ka_, host_, nh_)          \
	{ .name = name_, .in = in_, .len = sizeof(in_) - 1, .want = WANT_OK, .method = method_, \
	  .target = target_,                                                                  \
	  .minor = minor_, .content_length = cl_, .chunked = chunked_, .keep_alive = ka_,     \
	  .host = host_, .n_headers = nh_ }
#define REQ_BAD(name_, in_, why_) \
	{ .name = name_, .in = in_, .len = sizeof(in_) - 1, .want = WANT_BAD, .why = why_ }
#define REQ_MORE(name_, in_) { .name = name_, .in = in_, .len = sizeof(in_) - 1, .want = WANT_MORE }

static const struct req_case req_cases[] = {
	/* request lines and target forms */
	REQ_OK("origin-form", "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET",
	       "/index.html?q=1", 1, -1, 0, 1, "example.com", 1),
	REQ_OK("absolute-form", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "http://h/", 1,
	       -1, 0, 1, "h", 1),
	REQ_OK("absolute-form with port and query",
	       "GET https://api.example.com:8443/v1/x?y=z HTTP/1.1\r\nHost: api.example.com:8443\r\n\r\n",
	       "GET", "https://api.example.com:8443/v1/x?y=z", 1, -1, 0, 1, "api.example.com:8443", 1),
	REQ_OK("authority-form CONNECT", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", "CONNECT",
	       "h:443", 1, -1, 0, 1, "h:443", 1),
	REQ_OK("CONNECT to IPv6 literal", "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	       "CONNECT", "[::1]:8080", 1, -1, 0, 1, "[::1]:8080", 1),
	REQ_OK("asterisk-form OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS", "*", 1,
	       -1, 0, 1, "h", 1),
	REQ_OK("extension method", "PROPFIND /dav HTTP/1.1\r\nHost: h\r\n\r\n", "PROPFIND", "/dav", 1,
	       -1, 0, 1, "h", 1),
	REQ_OK("method with token punctuation", "M-SEARCH! /x HTTP/1.1\r\nHost: h\r\n\r\n",
	       "M-SEARCH!", "/x", 1, -1, 0, 1, "h", 1),
	REQ_OK("lower-case method is a token", "get / HTTP/1.1\r\nHost: h\r\n\r\n", "get", "/", 1,
	       -1, 0, 1, "h", 1),
	REQ_BAD("CONNECT without port", "CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", "authority-form"),
	REQ_BAD("CONNECT with path", "CONNECT h:443/x HTTP/1.1\r\nHost: h\r\n\r\n", "authority-form"),
	REQ_BAD("CONNECT with userinfo", "CONNECT u@h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		"authority-form"),
	REQ_BAD("CONNECT port 0", "CONNECT h:0 HTTP/1.1\r\nHost: h\r\n\r\n", "authority-form"),
	REQ_BAD("CONNECT port 65536", "CONNECT h:65536 HTTP/1.1\r\nHost: h\r\n\r\n",
		"authority-form"),
	REQ_BAD("CONNECT origin-form", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", "authority-form"),
	REQ_BAD("CONNECT pct-encoded host", "CONNECT h%2e:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		"authority-form"),
	REQ_BAD("authority-form without CONNECT", "GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		"neither origin-form nor absolute-form"),
	REQ_BAD("asterisk-form with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", "only for OPTIONS"),
	REQ_BAD("absolute-form empty authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",
		"neither origin-form"),
	REQ_BAD("relative target", "GET index.html HTTP/1.1\r\nHost: h\r\n\r\n", "neither"),
	REQ_BAD("method not a token", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "not a token"),
	REQ_BAD("method with control char", "G\x01T / HTTP/1.1\r\nHost: h\r\n\r\n", "not a token"),
	REQ_BAD("empty method", " / HTTP/1.1\r\nHost: h\r\n\r\n", "not a token"),
	REQ_BAD("two spaces after method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
		"empty request-target"),
	REQ_BAD("two spaces before version", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP version"),
	REQ_BAD("tab as separator", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", "not a token"),
	REQ_BAD("space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP version"),
	REQ_BAD("non-ASCII in target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", "invalid character"),
	REQ_BAD("DEL in target", "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", "invalid character"),
	REQ_BAD("missing version", "GET /\r\nHost: h\r\n\r\n", "malformed request line"),
	REQ_BAD("trailing space after version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", "HTTP version"),
	REQ_BAD("empty line before request line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"empty line"),
	/* versions */
	REQ_OK("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, -1, 0, 0, NULL, 0),
	REQ_BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", "unsupported HTTP version"),
	REQ_BAD("HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", "unsupported HTTP version"),
	REQ_BAD("HTTP/0.9", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", "unsupported HTTP version"),
	REQ_BAD("HTTP/1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", "malformed HTTP version"),
	REQ_BAD("lower-case http", "GET / http/1.1\r\nHost: h\r\n\r\n", "malformed HTTP version"),
	REQ_BAD("HTTP/1", "GET / HTTP/1\r\nHost: h\r\n\r\n", "malformed HTTP version"),
	REQ_BAD("HTTP/11", "GET / HTTP/11\r\nHost: h\r\n\r\n", "malformed HTTP version"),
	/* Host */
	REQ_BAD("missing Host on 1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "without Host"),
	REQ_BAD("two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "more than one Host"),
	REQ_BAD("Host case-insensitive duplicate", "GET / HTTP/1.1\r\nHost: a\r\nhOST: b\r\n\r\n",
		"more than one Host"),
	REQ_BAD("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", "host[:port]"),
	REQ_BAD("Host with space inside", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "host[:port]"),
	REQ_BAD("Host with path", "GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", "host[:port]"),
	REQ_OK("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", 1, -1, 0, 1, "", 1),
	REQ_OK("Host on 1.0 recorded", "GET / HTTP/1.0\r\nHost: h:80\r\n\r\n", "GET", "/", 0, -1, 0, 0,
	       "h:80", 1),
	/* headers: whitespace, tokens, control characters, line endings */
	REQ_OK("value whitespace trimmed", "GET / HTTP/1.1\r\nHost: \t h \t\r\n\r\n", "GET", "/", 1,
	       -1, 0, 1, "h", 1),
	REQ_OK("no whitespace after colon", "GET / HTTP/1.1\r\nHost:h\r\nX-A:b\r\n\r\n", "GET", "/", 1,
	       -1, 0, 1, "h", 2),
	REQ_OK("obs-text in value", "GET / HTTP/1.1\r\nHost: h\r\nX-N: caf\xc3\xa9\r\n\r\n", "GET", "/",
	       1, -1, 0, 1, "h", 2),
	REQ_BAD("obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n", "line folding"),
	REQ_BAD("obs-fold with tab", "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\tc\r\n\r\n",
		"line folding"),
	REQ_BAD("whitespace before first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", "line folding"),
	REQ_BAD("space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", "whitespace before colon"),
	REQ_BAD("tab before colon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", "whitespace before colon"),
	REQ_BAD("non-token header name", "GET / HTTP/1.1\r\nHost: h\r\nX(A): b\r\n\r\n",
		"not a token"),
	REQ_BAD("header name with slash", "GET / HTTP/1.1\r\nHost: h\r\nX/A: b\r\n\r\n", "not a token"),
	REQ_BAD("empty header name", "GET / HTTP/1.1\r\nHost: h\r\n: b\r\n\r\n", "empty header name"),
	REQ_BAD("header without colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
		"without colon"),
	REQ_BAD("NUL in header value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n", "NUL"),
	REQ_BAD("NUL in request line", "GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n", "NUL"),
	REQ_BAD("control char in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x1b[0m\r\n\r\n",
		"control character"),
	REQ_BAD("DEL in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n", "control character"),
	REQ_BAD("bare CR in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", "bare CR"),
	REQ_BAD("bare CR ending request line", "GET / HTTP/1.1\rHost: h\r\n\r\n", "bare CR"),
	REQ_BAD("bare LF ending request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", "bare LF"),
	REQ_BAD("bare LF ending header", "GET / HTTP/1.1\r\nHost: h\n\r\n", "bare LF"),
	REQ_BAD("bare LF blank line", "GET / HTTP/1.1\r\nHost: h\r\n\n", "bare LF"),
	REQ_BAD("LF-only request", "GET / HTTP/1.1\nHost: h\n\n", "bare LF"),
	REQ_BAD("bad line refused before the head ends", "GET / HTTP/1.1\r\nHost : h\r\n",
		"whitespace before colon"),
	/* framing */
	REQ_OK("Content-Length", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", "POST",
	       "/x", 1, 5, 0, 1, "h", 2),
	REQ_OK("Content-Length zero", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "POST",
	       "/x", 1, 0, 0, 1, "h", 2),
	REQ_OK("Content-Length leading zeros",
	       "POST /x HTTP/1.1\r\nHost: h\r\ncontent-length: 007\r\n\r\n", "POST", "/x", 1, 7, 0,
	       1, "h", 2),
	REQ_OK("Content-Length INT64_MAX",
	       "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n", "POST", "/x",
	       1, INT64_MAX, 0, 1, "h", 2),
	REQ_BAD("Content-Length INT64_MAX+1",
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", "too large"),
	REQ_BAD("Content-Length huge",
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"too large"),
	REQ_BAD("duplicate identical Content-Length",
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"duplicate Content-Length"),
	REQ_BAD("conflicting Content-Length",
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"duplicate Content-Length"),
	REQ_BAD("Content-Length list", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
		"plain decimal"),
	REQ_BAD("Content-Length negative", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
		"plain decimal"),
	REQ_BAD("Content-Length plus sign", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
		"plain decimal"),
	REQ_BAD("Content-Length hex", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n",
		"plain decimal"),
	REQ_BAD("Content-Length inner space", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
		"plain decimal"),
	REQ_BAD("Content-Length empty", "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
		"plain decimal"),
	REQ_OK("chunked", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", "POST",
	       "/x", 1, -1, 1, 1, "h", 2),
	REQ_OK("chunked any case", "POST /x HTTP/1.1\r\nHost: h\r\ntransfer-encoding: ChUnKeD \r\n\r\n",
	       "POST", "/x", 1, -1, 1, 1, "h", 2),
	REQ_BAD("CL then TE",
		"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"both Transfer-Encoding and Content-Length"),
	REQ_BAD("TE then CL",
		"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		"both Transfer-Encoding and Content-Length"),
	REQ_BAD("TE gzip", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
		"other than chunked"),
	REQ_BAD("TE gzip, chunked",
		"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"other than chunked"),
	REQ_BAD("TE chunked, chunked",
		"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		"other than chunked"),
	REQ_BAD("TE chunked with vertical tab",
		"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0b" "chunked\r\n\r\n",
		"control character"),
	REQ_BAD("TE xchunked", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n",
		"other than chunked"),
	REQ_BAD("TE identity", "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
		"other than chunked"),
	REQ_BAD("two TE headers",
		"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"duplicate Transfer-Encoding"),
	REQ_BAD("TE in HTTP/1.0", "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.0 message"),
	/* keep-alive derivation */
	REQ_OK("1.1 default keep-alive", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/", 1, -1, 0, 1,
	       "h", 1),
	REQ_OK("1.1 Connection: close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "GET",
	       "/", 1, -1, 0, 0, "h", 2),
	REQ_OK("1.1 Connection list with Close",
	       "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n", "GET", "/", 1, -1, 0,
	       0, "h", 2),
	REQ_OK("1.1 close in second Connection header",
	       "GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection: close\r\n\r\n", "GET", "/", 1,
	       -1, 0, 0, "h", 3),
	REQ_OK("1.1 closed is not close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n",
	       "GET", "/", 1, -1, 0, 1, "h", 2),
	REQ_OK("1.0 default close", "GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, -1, 0, 0, NULL, 0),
	REQ_OK("1.0 Connection: keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET",
	       "/", 0, -1, 0, 1, NULL, 1),
	REQ_OK("1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
	       "GET", "/", 0, -1, 0, 0, NULL, 1),
	/* incomplete input */
	REQ_MORE("empty input", ""),
	REQ_MORE("request line without CRLF", "GET / HTTP/1.1"),
	REQ_MORE("head ending in CR", "GET / HTTP/1.1\r\nHost: h\r\n\r"),
	REQ_MORE("head without blank line", "GET / HTTP/1.1\r\nHost: h\r\n"),
};

static void run_req_case(const struct req_case *tc)
{
	int before = test_failed_checks;
	size_t len = tc->len;
	struct http_request req;
	const char *reason = NULL;

	ssize_t n = http_parse_request_head(tc->in, len, &req, &reason);
	switch (tc->want) {
	case WANT_OK: {
		size_t want_len = head_end(tc->in, len);
		CHECK(n == (ssize_t)want_len);
		if (n < 0)
			printf("  reason: %s\n", reason);
		if (n <= 0)
			break;
		CHECK_STR_EQ(req.method, tc->method);
		CHECK(req.target_len == strlen(tc->target) &&
		      memcmp(req.target, tc->target, req.target_len) == 0);
		CHECK(req.version_minor == tc->minor);
		CHECK(req.content_length == tc->content_length);
		CHECK(req.chunked == tc->chunked);
		CHECK(req.keep_alive == tc->keep_alive);
		CHECK(req.n_headers == tc->n_headers);
		if (tc->host)
			CHECK(req.host && req.host_len == strlen(tc->host) &&
			      memcmp(req.host, tc->host, req.host_len) == 0);
		else
			CHECK(req.host == NULL);
		/* Every shorter prefix of a valid head asks for more. */
		for (size_t k = 0; k < want_len; k++) {
			ssize_t r = http_parse_request_head(tc->in, k, &req, &reason);
			if (r != 0) {
				printf("  prefix %zu returned %zd\n", k, r);
				CHECK(r == 0);
				break;
			}
		}
		break;
	}
	case WANT_MORE:
		CHECK(n == 0);
		break;
	case WANT_BAD:
		CHECK(n == -1);
		if (n == -1)
			CHECK_REASON(reason, tc->why);
		break;
	}
	report("request", tc->name, before);
}

/* --------------------------------------------------------------- responses */

struct resp_case {
	const char *name;
	const char *in;
	size_t len;
	int want;
	const char *why;
	int minor, status;
	const char *reason;
	int64_t content_length;
	int chunked, keep_alive;
};

#define RESP_OK(name_, in_, minor_, status_, reason_, cl_, chunked_, ka_)                    \
	{ .name = name_, .in = in_, .len = sizeof(in_) - 1, .want = WANT_OK, .minor = minor_, \
	  .status = status_,                                                                  \
	  .reason = reason_, .content_length = cl_, .chunked = chunked_, .keep_alive = ka_ }
#define RESP_BAD(name_, in_, why_) \
	{ .name = name_, .in = in_, .len = sizeof(in_) - 1, .want = WANT_BAD, .why = why_ }

static const struct resp_case resp_cases[] = {
	RESP_OK("200 with length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1, 200, "OK", 2,
		0, 1),
	RESP_OK("404 reason with spaces", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 1, 404,
		"Not Found", 0, 0, 1),
	RESP_OK("empty reason with SP", "HTTP/1.1 204 \r\n\r\n", 1, 204, "", -1, 0, 1),
	RESP_OK("empty reason without SP", "HTTP/1.1 304\r\n\r\n", 1, 304, "", -1, 0, 1),
	RESP_OK("1xx", "HTTP/1.1 100 Continue\r\n\r\n", 1, 100, "Continue", -1, 0, 1),
	RESP_OK("status 999", "HTTP/1.1 999 Odd\r\n\r\n", 1, 999, "Odd", -1, 0, 1),
	RESP_OK("obs-text reason", "HTTP/1.1 200 D\xc3\xa9j\xc3\xa0\r\n\r\n", 1, 200,
		"D\xc3\xa9j\xc3\xa0", -1, 0, 1),
	RESP_OK("1.0 response closes", "HTTP/1.0 200 OK\r\n\r\n", 0, 200, "OK", -1, 0, 0),
	RESP_OK("1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
		0, 200, "OK", 1, 0, 1),
	RESP_OK("1.1 close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 1, 200, "OK", -1, 0, 0),
	RESP_OK("chunked response", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1, 200, "OK",
		-1, 1, 1),
	RESP_OK("gzip, chunked response", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 1,
		200, "OK", -1, 1, 1),
	RESP_OK("no Host needed", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", 1, 200, "OK", -1, 0, 1),
	RESP_BAD("TE without final chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		 "single chunked"),
	RESP_BAD("TE gzip only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "single chunked"),
	RESP_BAD("TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		 "single chunked"),
	RESP_BAD("TE and CL", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		 "both"),
	RESP_BAD("duplicate CL", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
		 "duplicate Content-Length"),
	RESP_BAD("status two digits", "HTTP/1.1 20 OK\r\n\r\n", "three digits"),
	RESP_BAD("status four digits", "HTTP/1.1 2000 OK\r\n\r\n", "three digits"),
	RESP_BAD("status below 100", "HTTP/1.1 099 Low\r\n\r\n", "below 100"),
	RESP_BAD("status not digits", "HTTP/1.1 2x0 OK\r\n\r\n", "three digits"),
	RESP_BAD("status line missing status", "HTTP/1.1\r\n\r\n", "malformed status line"),
	RESP_BAD("double space before status", "HTTP/1.1  200 OK\r\n\r\n", "three digits"),
	RESP_BAD("HTTP/2 status line", "HTTP/2.0 200 OK\r\n\r\n", "unsupported"),
	RESP_BAD("ICY status line", "ICY 200 OK\r\n\r\n", "malformed"),
	RESP_BAD("control char in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", "control character"),
	RESP_BAD("bare LF status line", "HTTP/1.1 200 OK\n\r\n", "bare LF"),
	RESP_BAD("obs-fold in response", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "line folding"),
};

static void run_resp_case(const struct resp_case *tc)
{
	int before = test_failed_checks;
	size_t len = tc->len;
	struct http_response resp;
	const char *reason = NULL;

	ssize_t n = http_parse_response_head(tc->in, len, &resp, &reason);
	if (tc->want == WANT_BAD) {
		CHECK(n == -1);
		if (n == -1)
			CHECK_REASON(reason, tc->why);
		report("response", tc->name, before);
		return;
	}
	size_t want_len = head_end(tc->in, len);
	CHECK(n == (ssize_t)want_len);
	if (n > 0) {
		CHECK(resp.version_minor == tc->minor);
		CHECK(resp.status == tc->status);
		CHECK(resp.reason_len == strlen(tc->reason) &&
		      memcmp(resp.reason, tc->reason, resp.reason_len) == 0);
		CHECK(resp.content_length == tc->content_length);
		CHECK(resp.chunked == tc->chunked);
		CHECK(resp.keep_alive == tc->keep_alive);
		for (size_t k = 0; k < want_len; k++) {
			if (http_parse_response_head(tc->in, k, &resp, &reason) != 0) {
				printf("  prefix %zu did not return 0\n", k);
				CHECK(0);
				break;
			}
		}
	} else if (n < 0) {
		printf("  reason: %s\n", reason);
	}
	report("response", tc->name, before);
}

/* ------------------------------------------------------------------ limits */

/* A growable test buffer; tests may allocate, the parser may not. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_fill(struct sbuf *b, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_add(b, &c, 1);
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	sb_add(b, tmp, (size_t)n);
}

/* Parse b as a request and check the outcome; want_len is used for WANT_OK. */
static void expect_request(const char *name, const struct sbuf *b, int want, const char *why)
{
	int before = test_failed_checks;
	struct http_request req;
	const char *reason = NULL;
	ssize_t n = http_parse_request_head(b->p, b->len, &req, &reason);

	if (want == WANT_OK) {
		CHECK(n == (ssize_t)b->len);
		if (n < 0)
			printf("  reason: %s\n", reason);
	} else if (want == WANT_MORE) {
		CHECK(n == 0);
	} else {
		CHECK(n == -1);
		if (n == -1)
			CHECK_REASON(reason, why);
	}
	report("limits", name, before);
}

/* A request line of exactly `line_len` bytes, optionally followed by its CRLF
 * and a Host header. */
static void build_request_line(struct sbuf *b, size_t line_len, int complete)
{
	sb_str(b, "GET /");
	sb_fill(b, 'a', line_len - strlen("GET / HTTP/1.1"));
	sb_str(b, " HTTP/1.1");
	if (complete)
		sb_str(b, "\r\nHost: h\r\n\r\n");
}

static void test_limit_request_line(void)
{
	struct sbuf b = { 0 };

	build_request_line(&b, HTTP_MAX_REQUEST_LINE, 1);
	expect_request("request line at HTTP_MAX_REQUEST_LINE", &b, WANT_OK, NULL);
	b.len = 0;
	build_request_line(&b, HTTP_MAX_REQUEST_LINE + 1, 1);
	expect_request("request line at HTTP_MAX_REQUEST_LINE+1", &b, WANT_BAD, "request line too long");

	/* Incomplete: a line of exactly the limit may still end; one more byte cannot. */
	b.len = 0;
	sb_str(&b, "GET /");
	sb_fill(&b, 'a', HTTP_MAX_REQUEST_LINE - 5);
	expect_request("partial request line at limit asks for more", &b, WANT_MORE, NULL);
	sb_str(&b, "\r");
	expect_request("partial request line at limit plus CR asks for more", &b, WANT_MORE, NULL);
	b.len--;
	sb_str(&b, "a");
	expect_request("partial request line over limit is refused early", &b, WANT_BAD,
		       "request line too long");
	free(b.p);
}

static void test_limit_method(void)
{
	struct sbuf b = { 0 };

	sb_fill(&b, 'M', HTTP_MAX_METHOD);
	sb_str(&b, " / HTTP/1.1\r\nHost: h\r\n\r\n");
	expect_request("method at HTTP_MAX_METHOD", &b, WANT_OK, NULL);
	{
		struct http_request req;
		const char *reason;
		int before = test_failed_checks;
		CHECK(http_parse_request_head(b.p, b.len, &req, &reason) > 0);
		CHECK(strlen(req.method) == HTTP_MAX_METHOD);
		report("limits", "method copy is NUL-terminated at full length", before);
	}
	b.len = 0;
	sb_fill(&b, 'M', HTTP_MAX_METHOD + 1);
	sb_str(&b, " / HTTP/1.1\r\nHost: h\r\n\r\n");
	expect_request("method at HTTP_MAX_METHOD+1", &b, WANT_BAD, "method too long");
	free(b.p);
}

static void build_header_line(struct sbuf *b, size_t line_len)
{
	sb_str(b, "GET / HTTP/1.1\r\nHost: h\r\nX-Long: ");
	sb_fill(b, 'v', line_len - strlen("X-Long: "));
	sb_str(b, "\r\n\r\n");
}

static void test_limit_header_line(void)
{
	struct sbuf b = { 0 };

	build_header_line(&b, HTTP_MAX_HEADER_LINE);
	expect_request("header line at HTTP_MAX_HEADER_LINE", &b, WANT_OK, NULL);
	b.len = 0;
	build_header_line(&b, HTTP_MAX_HEADER_LINE + 1);
	expect_request("header line at HTTP_MAX_HEADER_LINE+1", &b, WANT_BAD, "header line too long");
	free(b.p);
}

static void build_headers(struct sbuf *b, size_t n_headers)
{
	sb_str(b, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (size_t i = 1; i < n_headers; i++)
		sb_printf(b, "X-H%zu: %zu\r\n", i, i);
	sb_str(b, "\r\n");
}

static void test_limit_headers(void)
{
	struct sbuf b = { 0 };

	build_headers(&b, HTTP_MAX_HEADERS);
	expect_request("headers at HTTP_MAX_HEADERS", &b, WANT_OK, NULL);
	b.len = 0;
	build_headers(&b, HTTP_MAX_HEADERS + 1);
	expect_request("headers at HTTP_MAX_HEADERS+1", &b, WANT_BAD, "too many headers");
	/* Refused as soon as the extra line is complete, blank line or not. */
	b.len -= 2;
	expect_request("too many headers refused before the head ends", &b, WANT_BAD,
		       "too many headers");
	free(b.p);
}

/* A complete request head of exactly `total` bytes (total >= 64). */
static void build_head(struct sbuf *b, size_t total)
{
	const size_t fill_overhead = strlen("X-Fill: \r\n");

	sb_str(b, "GET / HTTP/1.1\r\nHost: h\r\n");
	while (b->len + 2 < total) {
		size_t room = total - 2 - b->len; /* bytes left for filler lines */
		size_t line = room;
		if (line > HTTP_MAX_HEADER_LINE + 2)
			line = HTTP_MAX_HEADER_LINE + 2;
		/* Leave enough for one more minimal line if this one would not fill
		 * the room exactly. */
		if (room - line > 0 && room - line < fill_overhead + 1)
			line -= fill_overhead + 1;
		sb_str(b, "X-Fill: ");
		sb_fill(b, 'f', line - fill_overhead);
		sb_str(b, "\r\n");
	}
	sb_str(b, "\r\n");
}

static void test_limit_head(void)
{
	struct sbuf b = { 0 };

	build_head(&b, HTTP_MAX_HEAD);
	CHECK(b.len == HTTP_MAX_HEAD);
	expect_request("head at HTTP_MAX_HEAD", &b, WANT_OK, NULL);
	b.len--;
	expect_request("head at HTTP_MAX_HEAD missing its last LF asks for more", &b, WANT_MORE, NULL);
	b.len = 0;
	build_head(&b, HTTP_MAX_HEAD + 1);
	CHECK(b.len == HTTP_MAX_HEAD + 1);
	expect_request("head at HTTP_MAX_HEAD+1", &b, WANT_BAD, "head too large");
	/* HTTP_MAX_HEAD bytes without the end can never become a valid head. */
	b.len = HTTP_MAX_HEAD;
	expect_request("incomplete head of HTTP_MAX_HEAD bytes is refused", &b, WANT_BAD,
		       "head too large");
	free(b.p);
}

static void test_limit_status_line(void)
{
	struct sbuf b = { 0 };
	struct http_response resp;
	const char *reason = NULL;
	int before = test_failed_checks;

	sb_str(&b, "HTTP/1.1 200 ");
	sb_fill(&b, 'r', HTTP_MAX_REQUEST_LINE - b.len);
	sb_str(&b, "\r\n\r\n");
	CHECK(http_parse_response_head(b.p, b.len, &resp, &reason) == (ssize_t)b.len);
	CHECK(resp.reason_len == HTTP_MAX_REQUEST_LINE - 13);
	report("limits", "status line at HTTP_MAX_REQUEST_LINE", before);

	before = test_failed_checks;
	b.len = 0;
	sb_str(&b, "HTTP/1.1 200 ");
	sb_fill(&b, 'r', HTTP_MAX_REQUEST_LINE + 1 - b.len);
	sb_str(&b, "\r\n\r\n");
	CHECK(http_parse_response_head(b.p, b.len, &resp, &reason) == -1);
	CHECK_REASON(reason, "status line too long");
	report("limits", "status line at HTTP_MAX_REQUEST_LINE+1", before);
	free(b.p);
}

/* ------------------------------------------------------------ chunked bodies */

/* Decode `in` fed in pieces: a cut at every index in `cuts` (ascending, each
 * < len). Collects the payload into `out`. Returns the total consumed or -1. */
static ssize_t decode_pieces(const char *in, size_t len, const size_t *cuts, size_t n_cuts,
			     struct sbuf *out, int *done, const char **reason)
{
	struct http_chunked c;
	char *buf = malloc(len ? len : 1);
	size_t pos = 0;

	if (!buf)
		abort();
	memcpy(buf, in, len);
	http_chunked_init(&c);
	out->len = 0;
	for (size_t k = 0; k <= n_cuts && pos < len && !c.done; k++) {
		size_t end = k < n_cuts ? cuts[k] : len;
		if (end < pos)
			continue;
		size_t out_len = 99;
		ssize_t n = http_chunked_decode(&c, buf + pos, end - pos, &out_len, reason);
		if (n < 0) {
			free(buf);
			return -1;
		}
		if (out_len > (size_t)n || (size_t)n > end - pos)
			abort(); /* invariant broken; make it loud */
		sb_add(out, buf + pos, out_len);
		/* Unconsumed bytes are only allowed once the body is done. */
		if ((size_t)n < end - pos && !c.done) {
			free(buf);
			*reason = "decoder stopped early without done";
			return -1;
		}
		pos += (size_t)n;
	}
	*done = c.done;
	free(buf);
	return (ssize_t)pos;
}

struct chunk_case {
	const char *name;
	const char *in;
	size_t len;
	int want;
	const char *why;
	const char *payload;
	size_t consumed; /* WANT_OK: bytes of the body; 0 means all of in */
};

#define CHUNK_OK(name_, in_, payload_, consumed_)                                             \
	{ .name = name_, .in = in_, .len = sizeof(in_) - 1, .want = WANT_OK, .payload = payload_, \
	  .consumed = consumed_ }
#define CHUNK_MORE(name_, in_, payload_) \
	{ .name = name_, .in = in_, .len = sizeof(in_) - 1, .want = WANT_MORE, .payload = payload_ }
#define CHUNK_BAD(name_, in_, why_) \
	{ .name = name_, .in = in_, .len = sizeof(in_) - 1, .want = WANT_BAD, .why = why_ }

static const struct chunk_case chunk_cases[] = {
	CHUNK_OK("single chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", 0),
	CHUNK_OK("multi chunk", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0),
	CHUNK_OK("upper and lower hex", "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n",
		 "0123456789abcdefghijk", 0),
	CHUNK_OK("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", 0),
	CHUNK_OK("empty body", "0\r\n\r\n", "", 0),
	CHUNK_OK("payload with CRLF inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0),
	CHUNK_OK("extension", "5;name=value\r\nhello\r\n0\r\n\r\n", "hello", 0),
	CHUNK_OK("extension without value", "5;flag\r\nhello\r\n0\r\n\r\n", "hello", 0),
	CHUNK_OK("quoted extension", "5;n=\"a;b \\\"c\\\"\"\r\nhello\r\n0;last\r\n\r\n", "hello", 0),
	CHUNK_OK("extensions with BWS", "5 ; a = b ;c\r\nhello\r\n0\r\n\r\n", "hello", 0),
	CHUNK_OK("trailers", "5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Other:\r\n\r\n", "hello", 0),
	CHUNK_OK("bytes after the body are not consumed", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
		 "abc", 13),
	CHUNK_MORE("incomplete data", "5\r\nhel", "hel"),
	CHUNK_MORE("incomplete size line", "5", ""),
	CHUNK_MORE("last chunk without final CRLF", "5\r\nhello\r\n0\r\n", "hello"),
	CHUNK_MORE("size INT64_MAX", "7fffffffffffffff\r\nab", "ab"),
	CHUNK_BAD("invalid hex", "5g\r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
	CHUNK_BAD("empty size", "\r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
	CHUNK_BAD("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
	CHUNK_BAD("negative size", "-5\r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
	CHUNK_BAD("size 2^63", "8000000000000000\r\n", "too large"),
	CHUNK_BAD("size 2^64", "10000000000000000\r\n", "too large"),
	CHUNK_BAD("size 2^64 - 1", "ffffffffffffffff\r\n", "too large"),
	CHUNK_BAD("missing CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", "missing CRLF after chunk data"),
	CHUNK_BAD("LF only after data", "5\r\nhello\n0\r\n\r\n", "missing CRLF after chunk data"),
	CHUNK_BAD("CR then junk after data", "5\r\nhello\rX0\r\n\r\n", "missing CRLF after chunk data"),
	CHUNK_BAD("bare LF after size", "5\nhello\r\n0\r\n\r\n", "bare LF"),
	CHUNK_BAD("bare CR after size", "5\rhello\r\n0\r\n\r\n", "bare CR"),
	CHUNK_BAD("trailing space after size", "5 \r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
	CHUNK_BAD("extension with empty name", "5;=x\r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
	CHUNK_BAD("extension with empty value", "5;a=\r\nhello\r\n0\r\n\r\n", "malformed chunk size"),
	CHUNK_BAD("control char in quoted extension", "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n",
		  "malformed chunk size"),
	CHUNK_BAD("NUL in size line", "5\0\r\nhello\r\n0\r\n\r\n", "NUL"),
	CHUNK_BAD("obs-fold in trailer", "0\r\nX: a\r\n b\r\n\r\n", "line folding"),
	CHUNK_BAD("space before colon in trailer", "0\r\nX : a\r\n\r\n", "malformed trailer"),
	CHUNK_BAD("trailer without colon", "0\r\nX\r\n\r\n", "malformed trailer"),
	CHUNK_BAD("control char in trailer", "0\r\nX: a\x01\r\n\r\n", "control character"),
	CHUNK_BAD("bare LF ending trailer", "0\r\nX: a\n\r\n", "bare LF"),
	CHUNK_BAD("bare LF as final line", "0\r\n\n", "bare LF"),
	CHUNK_BAD("bare CR in final line", "0\r\n\rX", "bare CR"),
};

static void run_chunk_case(const struct chunk_case *tc)
{
	int before = test_failed_checks;
	size_t len = tc->len;
	struct sbuf out = { 0 };
	const char *reason = NULL;
	int done = 0;

	/* Mode 0: one call. Modes 1..len-1: two calls cut there. Mode len: byte by
	 * byte. All must agree. */
	size_t *cuts = malloc((len + 1) * sizeof(*cuts));
	if (!cuts)
		abort();
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;

	for (size_t mode = 0; mode <= len; mode++) {
		const size_t *c = NULL;
		size_t nc = 0;
		if (mode == len) {
			c = cuts;
			nc = len - 1;
		} else if (mode > 0) {
			c = &cuts[mode - 1]; /* == mode */
			nc = 1;
		}
		ssize_t n = decode_pieces(tc->in, len, c, nc, &out, &done, &reason);
		int ok = 1;
		switch (tc->want) {
		case WANT_OK:
			ok = n == (ssize_t)(tc->consumed ? tc->consumed : len) && done &&
			     out.len == strlen(tc->payload) && memcmp(out.p, tc->payload, out.len) == 0;
			break;
		case WANT_MORE:
			ok = n == (ssize_t)len && !done && out.len == strlen(tc->payload) &&
			     memcmp(out.p, tc->payload, out.len) == 0;
			break;
		case WANT_BAD:
			ok = n == -1 && reason_has(reason, tc->why);
			break;
		}
		if (!ok) {
			printf("  mode %zu: n=%zd done=%d out_len=%zu reason=%s\n", mode, n, done,
			       out.len, n < 0 ? reason : "-");
			CHECK(ok);
			break;
		}
	}
	free(cuts);
	free(out.p);
	report("chunked", tc->name, before);
}

static void test_chunked_limits(void)
{
	struct sbuf in = { 0 }, out = { 0 };
	const char *reason = NULL;
	int done, before;

	/* Size line exactly HTTP_MAX_CHUNK_LINE bytes (an extension pads it). */
	before = test_failed_checks;
	sb_str(&in, "1;");
	sb_fill(&in, 'e', HTTP_MAX_CHUNK_LINE - 2);
	sb_str(&in, "\r\nx\r\n0\r\n\r\n");
	CHECK(decode_pieces(in.p, in.len, NULL, 0, &out, &done, &reason) == (ssize_t)in.len);
	CHECK(done && out.len == 1 && out.p[0] == 'x');
	report("chunked", "size line at HTTP_MAX_CHUNK_LINE", before);

	before = test_failed_checks;
	in.len = 0;
	sb_str(&in, "1;");
	sb_fill(&in, 'e', HTTP_MAX_CHUNK_LINE - 1);
	sb_str(&in, "\r\nx\r\n0\r\n\r\n");
	CHECK(decode_pieces(in.p, in.len, NULL, 0, &out, &done, &reason) == -1);
	CHECK_REASON(reason, "chunk size line too long");
	report("chunked", "size line at HTTP_MAX_CHUNK_LINE+1", before);

	/* Leading zeros never overflow, but the line limit still holds. */
	before = test_failed_checks;
	in.len = 0;
	sb_fill(&in, '0', HTTP_MAX_CHUNK_LINE - 1);
	sb_str(&in, "1\r\nx\r\n0\r\n\r\n");
	CHECK(decode_pieces(in.p, in.len, NULL, 0, &out, &done, &reason) == (ssize_t)in.len);
	in.len = 0;
	sb_fill(&in, '0', HTTP_MAX_CHUNK_LINE);
	sb_str(&in, "1\r\nx\r\n0\r\n\r\n");
	CHECK(decode_pieces(in.p, in.len, NULL, 0, &out, &done, &reason) == -1);
	CHECK_REASON(reason, "chunk size line too long");
	report("chunked", "leading zeros up to the line limit", before);

	/* Over-long size line refused before its CRLF arrives. */
	before = test_failed_checks;
	in.len = 0;
	sb_fill(&in, '0', HTTP_MAX_CHUNK_LINE + 1);
	CHECK(decode_pieces(in.p, in.len, NULL, 0, &out, &done, &reason) == -1);
	report("chunked", "over-long size line refused early", before);

	/* Trailer line at and over HTTP_MAX_HEADER_LINE. */
	before = test_failed_checks;
	in.len = 0;
	sb_str(&in, "0\r\nX: ");
	sb_fill(&in, 't', HTTP_MAX_HEADER_LINE - 3);
	sb_str(&in, "\r\n\r\n");
	CHECK(decode_pieces(in.p, in.len, NULL, 0, &out, &done, &reason) == (ssize_t)in.len);
	CHECK(done);
	in.len = 0;
	sb_str(&in, "0\r\nX: ");
	sb_fill(&in, 't', HTTP_MAX_HEADER_LINE - 2);
	sb_str(&in, "\r\n\r\n");
	CHECK(decode_pieces(in.p, in.len, NULL, 0, &out, &done, &reason) == -1);
	CHECK_REASON(reason, "trailer line too long");
	report("chunked", "trailer line at and over HTTP_MAX_HEADER_LINE", before);

	/* The trailer section as a whole is bounded by HTTP_MAX_HEAD. */
	before = test_failed_checks;
	in.len = 0;
	sb_str(&in, "0\r\n");
	while (in.len < HTTP_MAX_HEAD + 16)
		sb_str(&in, "X-Trailer: some value here\r\n");
	sb_str(&in, "\r\n");
	CHECK(decode_pieces(in.p, in.len, NULL, 0, &out, &done, &reason) == -1);
	CHECK_REASON(reason, "trailer section too large");
	report("chunked", "trailer section over HTTP_MAX_HEAD", before);

	/* After an error the decoder stays failed. */
	before = test_failed_checks;
	{
		struct http_chunked c;
		char bad[] = "zz\r\n";
		char good[] = "0\r\n\r\n";
		size_t out_len;
		http_chunked_init(&c);
		CHECK(http_chunked_decode(&c, bad, strlen(bad), &out_len, &reason) == -1);
		CHECK(http_chunked_decode(&c, good, strlen(good), &out_len, &reason) == -1);
		CHECK(out_len == 0);
	}
	report("chunked", "errors are sticky", before);

	/* After done, further calls consume nothing. */
	before = test_failed_checks;
	{
		struct http_chunked c;
		char body[] = "0\r\n\r\n";
		char next[] = "GET";
		size_t out_len;
		http_chunked_init(&c);
		CHECK(http_chunked_decode(&c, body, strlen(body), &out_len, &reason) == 5);
		CHECK(c.done);
		CHECK(http_chunked_decode(&c, next, 3, &out_len, &reason) == 0);
		CHECK(out_len == 0 && c.done);
	}
	report("chunked", "nothing consumed after done", before);
	free(in.p);
	free(out.p);
}

/* A larger multi-chunk body, split at every byte boundary. */
static void test_chunked_every_split(void)
{
	int before = test_failed_checks;
	struct sbuf in = { 0 }, want = { 0 }, out = { 0 };
	const char *reason = NULL;
	int done;

	for (int i = 1; i <= 40; i += 3) {
		sb_printf(&in, "%x;i=%d\r\n", i, i);
		for (int j = 0; j < i; j++) {
			char ch = (char)('a' + (i + j) % 26);
			sb_add(&in, &ch, 1);
			sb_add(&want, &ch, 1);
		}
		sb_str(&in, "\r\n");
	}
	sb_str(&in, "0\r\nT: v\r\n\r\n");
	for (size_t a = 1; a < in.len; a++) {
		for (size_t b = a; b < in.len; b += 7) {
			size_t cuts[2] = { a, b };
			ssize_t n = decode_pieces(in.p, in.len, cuts, b > a ? 2 : 1, &out, &done,
						  &reason);
			if (n != (ssize_t)in.len || !done || out.len != want.len ||
			    memcmp(out.p, want.p, want.len) != 0) {
				printf("  cuts %zu,%zu: n=%zd\n", a, b, n);
				CHECK(0);
				goto out;
			}
		}
	}
out:
	report("chunked", "multi-chunk body split at every pair of boundaries", before);
	free(in.p);
	free(want.p);
	free(out.p);
}

/* ------------------------------------------------------------------ helpers */

static void test_header_find(void)
{
	int before = test_failed_checks;
	const char *head = "GET / HTTP/1.1\r\nHost: h\r\nX-Dup: one\r\nx-dup: two\r\n\r\n";
	struct http_request req;
	const char *reason;

	CHECK(http_parse_request_head(head, strlen(head), &req, &reason) > 0);
	const struct http_header *h = http_header_find(req.headers, req.n_headers, "X-DUP");
	CHECK(h && h->value_len == 3 && memcmp(h->value, "one", 3) == 0);
	CHECK(http_header_find(req.headers, req.n_headers, "X-Du") == NULL);
	CHECK(http_header_find(req.headers, req.n_headers, "X-Dupe") == NULL);
	CHECK(http_header_find(req.headers, 0, "Host") == NULL);
	h = http_header_find(req.headers, req.n_headers, "host");
	CHECK(h && h->name_len == 4 && memcmp(h->name, "Host", 4) == 0);
	report("helpers", "http_header_find", before);
}

static void test_value_has_token(void)
{
	int before = test_failed_checks;
	const char *v = " keep-alive ,\tUpgrade,,close ";

	CHECK(http_value_has_token(v, strlen(v), "Keep-Alive"));
	CHECK(http_value_has_token(v, strlen(v), "upgrade"));
	CHECK(http_value_has_token(v, strlen(v), "close"));
	CHECK(!http_value_has_token(v, strlen(v), "clos"));
	CHECK(!http_value_has_token(v, strlen(v), "keep"));
	CHECK(!http_value_has_token("closed", 6, "close"));
	CHECK(!http_value_has_token("", 0, "close"));
	/* The length bounds the value: "close" past len is not seen. */
	CHECK(!http_value_has_token("a, close", 3, "close"));
	report("helpers", "http_value_has_token", before);
}

static void test_status_text(void)
{
	int before = test_failed_checks;

	CHECK_STR_EQ(http_status_text(200), "OK");
	CHECK_STR_EQ(http_status_text(404), "Not Found");
	CHECK_STR_EQ(http_status_text(407), "Proxy Authentication Required");
	CHECK_STR_EQ(http_status_text(505), "HTTP Version Not Supported");
	CHECK_STR_EQ(http_status_text(299), "Unknown");
	CHECK_STR_EQ(http_status_text(-1), "Unknown");
	report("helpers", "http_status_text", before);
}

/* Fields point into the caller's buffer, not into a copy. */
static void test_pointers_into_buffer(void)
{
	int before = test_failed_checks;
	char head[] = "PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
	struct http_request req;
	const char *reason;
	ssize_t n = http_parse_request_head(head, strlen(head), &req, &reason);

	CHECK(n == (ssize_t)strlen(head));
	CHECK(req.target == head + 4);
	CHECK(req.host == head + 23);
	for (size_t i = 0; i < req.n_headers; i++) {
		CHECK(req.headers[i].name >= head && req.headers[i].name < head + n);
		CHECK(req.headers[i].value >= head &&
		      req.headers[i].value + req.headers[i].value_len <= head + n);
	}
	report("helpers", "fields point into the buffer", before);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++)
		run_req_case(&req_cases[i]);
	for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++)
		run_resp_case(&resp_cases[i]);
	for (size_t i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++)
		run_chunk_case(&chunk_cases[i]);
	test_limit_request_line();
	test_limit_method();
	test_limit_header_line();
	test_limit_headers();
	test_limit_head();
	test_limit_status_line();
	test_chunked_limits();
	test_chunked_every_split();
	test_header_find();
	test_value_has_token();
	test_status_text();
	test_pointers_into_buffer();
	return test_summary();
}
