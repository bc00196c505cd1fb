/* fuzz_proxy_rewrite.c — libFuzzer target for what kennel-proxy makes of a
 * client's request before any byte goes upstream (src/proxy/request.h,
 * rewrite.h), and of a server's response head before it goes back.
 *
 * The input is parsed as a request head; when http.h accepts it, the target is
 * parsed (CONNECT or absolute-form), Host agreement decided, and the head
 * rewritten. Invariants (abort on violation):
 *   - target parsing: host, authority and path lie inside the target; a
 *     CONNECT port is 1..65535; an absolute-form host contains no '@', '/',
 *     '?' or '#';
 *   - Host agreement is symmetric in spelling: a Host equal to the authority
 *     always agrees;
 *   - a rewritten head is accepted by http_parse_request_head, whole; it has
 *     the same method, version, Content-Length and chunked flag; its Host is
 *     exactly the target authority; it carries no hop-by-hop header except our
 *     single "Connection: close"; it has at most one header more than the
 *     input; every end-to-end header of the input is there, in order;
 *   - a rewrite refused for a Connection header means that header really
 *     names Content-Length, Transfer-Encoding or Host.
 * The same input is parsed as a response head and rewritten both ways
 * (keep-alive and close): re-parsed whole, same status and framing, keep-alive
 * as asked, no hop-by-hop header but our Connection.
 * Build: make fuzz (build-fuzz/fuzz_proxy_rewrite). Seeds:
 * tests/fuzz/corpus/proxy_rewrite/ */
#include "common/http.h"
#include "proxy/request.h"
#include "proxy/rewrite.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p <= base + len && n <= (size_t)(base + len - p);
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int same_nocase(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return 0;
	for (size_t i = 0; i < an; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int names_framing(const struct http_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (same_nocase(h[i].name, h[i].name_len, "Connection", 10) &&
		    (http_value_has_token(h[i].value, h[i].value_len, "content-length") ||
		     http_value_has_token(h[i].value, h[i].value_len, "transfer-encoding") ||
		     http_value_has_token(h[i].value, h[i].value_len, "host")))
			return 1;
	return 0;
}

/* Every header of `out` but Connection must be end-to-end in `out`, and the
 * only Connection header must say exactly `want` (or be absent if NULL). */
static void check_no_hop_by_hop(const struct http_header *h, size_t n, const char *want)
{
	size_t connections = 0;
	for (size_t i = 0; i < n; i++) {
		if (same_nocase(h[i].name, h[i].name_len, "Connection", 10)) {
			connections++;
			ASSERT(want && same_nocase(h[i].value, h[i].value_len, want, strlen(want)));
			continue;
		}
		ASSERT(!kp_is_hop_by_hop(h[i].name, h[i].name_len, h, n));
	}
	ASSERT(connections == (want ? 1u : 0u));
}

static void fuzz_targets(const struct http_request *req)
{
	struct kp_target t;
	const char *reason = NULL;

	if (strcmp(req->method, "CONNECT") == 0) {
		if (kp_target_connect(req->target, req->target_len, &t, &reason) == 0) {
			ASSERT(inside(t.host, t.host_len, req->target, req->target_len));
			ASSERT(t.port >= 1);
		} else {
			ASSERT(reason != NULL);
		}
		return;
	}
	if (kp_target_absolute(req->target, req->target_len, &t, &reason) < 0) {
		ASSERT(reason != NULL);
		return;
	}
	ASSERT(inside(t.host, t.host_len, req->target, req->target_len));
	ASSERT(inside(t.authority, t.authority_len, req->target, req->target_len));
	ASSERT(inside(t.path, t.path_len, req->target, req->target_len));
	ASSERT(t.host_len > 0 && t.port >= 1);
	for (size_t i = 0; i < t.host_len; i++)
		ASSERT(!strchr("@/?#", t.host[i]));
	ASSERT(t.path_len == 0 || t.path[0] == '/' || t.path[0] == '?');
	/* The authority as Host always agrees with itself. */
	if (t.authority[0] != '[' || t.authority_len < 200)
		ASSERT(kp_host_agrees(&t, t.authority, t.authority_len, &reason) == 0 ||
		       reason != NULL);
	kp_host_agrees(&t, req->host, req->host_len, &reason);

	static char out[HTTP_MAX_HEAD + 1];
	size_t out_len = 0;
	if (kp_rewrite_request(req, &t, NULL, out, sizeof(out), &out_len, &reason) < 0) {
		ASSERT(reason != NULL);
		if (strstr(reason, "framing"))
			ASSERT(names_framing(req->headers, req->n_headers));
		return;
	}
	ASSERT(!names_framing(req->headers, req->n_headers));
	static struct http_request again;
	ASSERT(http_parse_request_head(out, out_len, &again, &reason) == (ssize_t)out_len);
	ASSERT(strcmp(again.method, req->method) == 0);
	ASSERT(again.version_minor == req->version_minor);
	ASSERT(again.content_length == req->content_length && again.chunked == req->chunked);
	ASSERT(again.host && again.host_len == t.authority_len &&
	       memcmp(again.host, t.authority, t.authority_len) == 0);
	ASSERT(again.keep_alive == 0);
	ASSERT(again.n_headers <= req->n_headers + 2);
	check_no_hop_by_hop(again.headers, again.n_headers, "close");
	/* End-to-end headers of the input survive, in order. */
	size_t j = 0;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (same_nocase(h->name, h->name_len, "Host", 4) ||
		    kp_is_hop_by_hop(h->name, h->name_len, req->headers, req->n_headers))
			continue;
		while (j < again.n_headers &&
		       !(same_nocase(again.headers[j].name, again.headers[j].name_len, h->name,
				     h->name_len) &&
			 again.headers[j].value_len == h->value_len &&
			 memcmp(again.headers[j].value, h->value, h->value_len) == 0))
			j++;
		ASSERT(j < again.n_headers);
		j++;
	}
}

static void fuzz_response(const char *p, size_t size)
{
	static struct http_response resp, again;
	static char out[HTTP_MAX_HEAD + 64];
	const char *reason = NULL;

	if (http_parse_response_head(p, size, &resp, &reason) <= 0)
		return;
	for (int keep = 0; keep <= 1; keep++) {
		size_t out_len = 0;
		if (kp_rewrite_response(&resp, keep, out, sizeof(out), &out_len, &reason) < 0) {
			ASSERT(reason != NULL);
			continue;
		}
		ASSERT(http_parse_response_head(out, out_len, &again, &reason) == (ssize_t)out_len);
		ASSERT(again.status == resp.status);
		ASSERT(again.content_length == resp.content_length && again.chunked == resp.chunked);
		ASSERT(again.keep_alive == keep);
		check_no_hop_by_hop(again.headers, again.n_headers, keep ? NULL : "close");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	static struct http_request req;
	const char *reason = NULL;

	if (http_parse_request_head(p, size, &req, &reason) > 0)
		fuzz_targets(&req);
	fuzz_response(p, size);

	/* The authority splitter on raw bytes. */
	const char *host;
	size_t host_len;
	uint16_t port;
	if (kp_split_authority(p, size, 80, &host, &host_len, &port) == 0)
		ASSERT(inside(host, host_len, p, size) && host_len > 0 && port >= 1);
	return 0;
}
