/* fuzz_http.c — libFuzzer target for common/http.h.
 *
 * Runs the request parser, the response parser and the chunked decoder on the
 * input and aborts when an invariant breaks:
 *   - a head parser returns -1, 0 or a length <= the input (and <= HTTP_MAX_HEAD);
 *   - on success every field points inside the head, counts are within limits,
 *     http_header_find("Host") agrees with the parsed host,
 *     re-parsing exactly that prefix gives the same result, every shorter
 *     prefix returns 0, and appending bytes does not change the result;
 *   - -1 is final: appending bytes never makes the input acceptable;
 *   - the chunked decoder (run on the whole input and on whatever follows a
 *     request head) gives the same consumed count, payload, done flag
 *     and failure whether it is fed everything at once, in two pieces, or one
 *     byte at a time, and never reports more output than it consumed.
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *        src/common/http.c tests/fuzz/fuzz_http.c -o /tmp/fuzz_http
 * Seeds: tests/fuzz/corpus/http/ */
#include "common/http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Bytes appended to test that results are final; a plausible head ending, so
 * an incomplete input is as likely as possible to become complete. */
static const char suffix[] = "\r\nHost: h\r\n\r\n";

static int inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && p <= base + len && n <= (size_t)(base + len - p);
}

static void check_headers(const struct http_header *h, size_t n, const char *buf, size_t len)
{
	ASSERT(n <= HTTP_MAX_HEADERS);
	for (size_t i = 0; i < n; i++) {
		ASSERT(inside(h[i].name, h[i].name_len, buf, len));
		ASSERT(inside(h[i].value, h[i].value_len, buf, len));
		ASSERT(h[i].name_len > 0);
	}
}

/* Compare two parses of the same bytes at (possibly) different addresses. */
static int same_headers(const struct http_header *a, const char *abase, const struct http_header *b,
			const char *bbase, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].name - abase != b[i].name - bbase || a[i].name_len != b[i].name_len ||
		    a[i].value - abase != b[i].value - bbase || a[i].value_len != b[i].value_len)
			return 0;
	return 1;
}

static int same_request(const struct http_request *a, const char *abase,
			const struct http_request *b, const char *bbase)
{
	return strcmp(a->method, b->method) == 0 && a->target - abase == b->target - bbase &&
	       a->target_len == b->target_len && a->version_minor == b->version_minor &&
	       a->n_headers == b->n_headers && a->content_length == b->content_length &&
	       a->chunked == b->chunked && a->keep_alive == b->keep_alive &&
	       (a->host == NULL) == (b->host == NULL) &&
	       (a->host == NULL || a->host - abase == b->host - bbase) &&
	       a->host_len == b->host_len &&
	       same_headers(a->headers, abase, b->headers, bbase, a->n_headers);
}

static int same_response(const struct http_response *a, const char *abase,
			 const struct http_response *b, const char *bbase)
{
	return a->version_minor == b->version_minor && a->status == b->status &&
	       a->reason - abase == b->reason - bbase && a->reason_len == b->reason_len &&
	       a->n_headers == b->n_headers && a->content_length == b->content_length &&
	       a->chunked == b->chunked && a->keep_alive == b->keep_alive &&
	       same_headers(a->headers, abase, b->headers, bbase, a->n_headers);
}

/* The input followed by `suffix`, in its own allocation so ASan sees its end. */
static char *extended(const char *data, size_t size, size_t *out_len)
{
	*out_len = size + sizeof(suffix) - 1;
	char *p = malloc(*out_len);
	if (!p)
		abort();
	memcpy(p, data, size);
	memcpy(p + size, suffix, sizeof(suffix) - 1);
	return p;
}

static ssize_t fuzz_request(const char *data, size_t size)
{
	static struct http_request req, again;
	const char *reason = NULL;
	ssize_t n = http_parse_request_head(data, size, &req, &reason);

	ASSERT(n >= -1 && (n < 0 || (size_t)n <= size));
	ASSERT(n != -1 || reason != NULL);
	size_t ext_len;
	char *ext = extended(data, size, &ext_len);
	ssize_t m = http_parse_request_head(ext, ext_len, &again, &reason);
	if (n == -1)
		ASSERT(m == -1);
	if (n > 0) {
		ASSERT(n <= HTTP_MAX_HEAD);
		ASSERT(strlen(req.method) >= 1 && strlen(req.method) <= HTTP_MAX_METHOD);
		ASSERT(req.target_len > 0 && inside(req.target, req.target_len, data, (size_t)n));
		ASSERT(req.version_minor == 0 || req.version_minor == 1);
		ASSERT(req.keep_alive == 0 || req.keep_alive == 1);
		ASSERT(!(req.chunked && req.content_length >= 0));
		ASSERT(req.host == NULL || inside(req.host, req.host_len, data, (size_t)n));
		ASSERT(req.version_minor == 0 || req.host != NULL);
		check_headers(req.headers, req.n_headers, data, (size_t)n);
		const struct http_header *host = http_header_find(req.headers, req.n_headers, "hOsT");
		ASSERT((host == NULL) == (req.host == NULL));
		ASSERT(host == NULL || (host->value == req.host && host->value_len == req.host_len));
		ASSERT(m == n && same_request(&req, data, &again, ext));
		ASSERT(http_parse_request_head(data, (size_t)n, &again, &reason) == n);
		ASSERT(same_request(&req, data, &again, data));
		/* Prefixes: a few, not all, to keep the target fast. */
		size_t probes[] = { 0, 1, (size_t)n / 2, (size_t)n - 2, (size_t)n - 1 };
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			if (probes[i] < (size_t)n)
				ASSERT(http_parse_request_head(data, probes[i], &again, &reason) == 0);
	}
	free(ext);
	return n;
}

static void fuzz_response(const char *data, size_t size)
{
	static struct http_response resp, again;
	const char *reason = NULL;
	ssize_t n = http_parse_response_head(data, size, &resp, &reason);

	ASSERT(n >= -1 && (n < 0 || (size_t)n <= size));
	ASSERT(n != -1 || reason != NULL);
	size_t ext_len;
	char *ext = extended(data, size, &ext_len);
	ssize_t m = http_parse_response_head(ext, ext_len, &again, &reason);
	if (n == -1)
		ASSERT(m == -1);
	if (n > 0) {
		ASSERT(n <= HTTP_MAX_HEAD);
		ASSERT(resp.status >= 100 && resp.status <= 999);
		ASSERT(resp.version_minor == 0 || resp.version_minor == 1);
		ASSERT(inside(resp.reason, resp.reason_len, data, (size_t)n));
		ASSERT(!(resp.chunked && resp.content_length >= 0));
		check_headers(resp.headers, resp.n_headers, data, (size_t)n);
		ASSERT(m == n && same_response(&resp, data, &again, ext));
		ASSERT(http_parse_response_head(data, (size_t)n, &again, &reason) == n);
		ASSERT(same_response(&resp, data, &again, data));
		size_t probes[] = { 0, 1, (size_t)n / 2, (size_t)n - 2, (size_t)n - 1 };
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
			if (probes[i] < (size_t)n)
				ASSERT(http_parse_response_head(data, probes[i], &again, &reason) == 0);
	}
	free(ext);
}

struct chunk_result {
	ssize_t consumed; /* -1 on failure */
	int done;
	size_t out_len;
};

/* Decode data fed in pieces of `step` bytes (0: all at once, else the first
 * piece is `first` bytes and the rest `step` at a time). Payload goes to out. */
static struct chunk_result decode(const char *data, size_t size, size_t first, size_t step,
				  char *out)
{
	struct chunk_result r = { 0, 0, 0 };
	struct http_chunked c;
	char *buf = malloc(size ? size : 1);
	size_t pos = 0;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	http_chunked_init(&c);
	while (pos < size && !c.done) {
		size_t piece = size - pos;
		size_t want = pos == 0 && first ? first : step;
		if (want && want < piece)
			piece = want;
		size_t out_len = (size_t)-1;
		const char *reason = NULL;
		ssize_t n = http_chunked_decode(&c, buf + pos, piece, &out_len, &reason);
		if (n < 0) {
			ASSERT(reason != NULL);
			ASSERT(http_chunked_decode(&c, buf + pos, piece, &out_len, &reason) == -1);
			r.consumed = -1;
			break;
		}
		ASSERT((size_t)n <= piece && out_len <= (size_t)n);
		ASSERT((size_t)n == piece || c.done);
		memcpy(out + r.out_len, buf + pos, out_len);
		r.out_len += out_len;
		pos += (size_t)n;
		if (pos == size || c.done)
			r.consumed = (ssize_t)pos;
	}
	r.done = c.done;
	free(buf);
	return r;
}

static void fuzz_chunked(const char *data, size_t size)
{
	char *out_all = malloc(size + 1), *out_split = malloc(size + 1), *out_bytes = malloc(size + 1);
	if (!out_all || !out_split || !out_bytes)
		abort();

	struct chunk_result all = decode(data, size, 0, 0, out_all);
	size_t cut = size ? (unsigned char)data[size - 1] % size + 1 : 0;
	struct chunk_result split = decode(data, size, cut, 0, out_split);
	struct chunk_result bytes = decode(data, size, 0, 1, out_bytes);

	ASSERT(all.consumed == split.consumed && all.consumed == bytes.consumed);
	if (all.consumed >= 0) {
		ASSERT(all.done == split.done && all.done == bytes.done);
		ASSERT(all.out_len == split.out_len && all.out_len == bytes.out_len);
		ASSERT(memcmp(out_all, out_split, all.out_len) == 0);
		ASSERT(memcmp(out_all, out_bytes, all.out_len) == 0);
		ASSERT(all.out_len <= (size_t)all.consumed);
	}
	free(out_all);
	free(out_split);
	free(out_bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;

	ssize_t head = fuzz_request(p, size);
	fuzz_response(p, size);
	fuzz_chunked(p, size);
	/* The seeds hold whole messages: also decode what follows a request head. */
	if (head > 0)
		fuzz_chunked(p + head, size - (size_t)head);
	/* Helpers on arbitrary bytes: only memory safety to check here. */
	(void)http_value_has_token(p, size, "close");
	(void)http_status_text(size > 0 ? (int)data[0] * 4 : 200);
	return 0;
}
