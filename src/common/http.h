/* http.h — strict HTTP/1.1 message-head parsing, shared by kenneld's API
 * server, the kennel CLI's client and kennel-proxy.
 *
 * Contract: pure functions over caller-owned bytes, no I/O, no allocation.
 * Parsed fields point into the caller's buffer, which must outlive them.
 * Anything not plainly valid RFC 9112 is refused, with `*reason` set to a short
 * static English phrase suitable for a 400 body and a log line:
 *   - request line or any header line over its limit, too many headers
 *   - methods/field names that are not tokens, bad versions (only 1.0 and 1.1)
 *   - NUL, bare CR or bare LF, other control chars in values
 *   - obs-fold (a header line starting with space or tab), space before colon
 *   - duplicate or conflicting Content-Length, a Content-Length that is not a
 *     plain decimal, Transfer-Encoding together with Content-Length, any
 *     Transfer-Encoding other than exactly "chunked" (requests)
 *   - more than one Host header, or HTTP/1.1 without Host (requests)
 * The chunked decoder refuses invalid or oversized chunk sizes and bad CRLFs. */
#ifndef KENNEL_HTTP_H
#define KENNEL_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Long enough for any real URL a tool sends; Apache and nginx default to 8 KiB. */
#define HTTP_MAX_REQUEST_LINE 8192
/* Whole head (request line + headers): nginx's large_client_header_buffers is 4x8K;
 * 64 KiB leaves room for big cookies and still bounds memory per connection. */
#define HTTP_MAX_HEAD 65536
/* One header line; the same 8 KiB as the request line. */
#define HTTP_MAX_HEADER_LINE 8192
/* Real clients send well under 50 headers; 100 is Apache's LimitRequestFields. */
#define HTTP_MAX_HEADERS 100
/* Method names are short tokens; the longest registered one is 17 bytes. */
#define HTTP_MAX_METHOD 32

struct http_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading and trailing whitespace trimmed */
	size_t value_len;
};

struct http_request {
	char method[HTTP_MAX_METHOD + 1]; /* NUL-terminated copy */
	const char *target;                /* request-target, not NUL-terminated */
	size_t target_len;
	int version_minor;                 /* 0 or 1 (major is always 1) */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	int64_t content_length;            /* -1 when absent */
	int chunked;                       /* Transfer-Encoding: chunked */
	int keep_alive;                    /* from version and Connection */
	const char *host;                  /* Host header value or NULL */
	size_t host_len;
};

struct http_response {
	int version_minor;
	int status;                        /* 100..999 */
	const char *reason;
	size_t reason_len;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	int64_t content_length;            /* -1 when absent */
	int chunked;
	int keep_alive;
};

/* Parse a message head from buf[0..len).
 * Returns the number of bytes the head occupies (through the blank line) when it
 * is complete, 0 when more bytes are needed (and the limits are not yet passed),
 * or -1 when the bytes can never become a valid head (*reason says why). */
ssize_t http_parse_request_head(const char *buf, size_t len, struct http_request *req,
				const char **reason);
ssize_t http_parse_response_head(const char *buf, size_t len, struct http_response *resp,
				 const char **reason);

/* Case-insensitive lookup of the first header called `name`; NULL if absent. */
const struct http_header *http_header_find(const struct http_header *headers, size_t n,
					  const char *name);

/* Does the comma-separated header value list contain `token` (case-insensitive)? */
int http_value_has_token(const char *value, size_t len, const char *token);

/* Is s[0..len) a token (RFC 9110 5.6.2: a method or field name), len >= 1? */
int http_is_token(const char *s, size_t len);

/* Incremental chunked-body decoder. Decodes in place: call with the bytes
 * received so far; it moves payload bytes to the front of `buf`, sets *out_len,
 * and returns the number of input bytes consumed (>= 0), or -1 on a malformed
 * body (*reason set). `done` becomes 1 after the last chunk and its trailers. */
/* A chunk size line longer than this is an attack, not a client: 16 hex digits
 * plus generous room for chunk extensions. */
#define HTTP_MAX_CHUNK_LINE 1024
struct http_chunked {
	int state;
	uint64_t remaining;
	size_t line_len;
	int done;
};
void http_chunked_init(struct http_chunked *c);
ssize_t http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *out_len,
			    const char **reason);

/* Standard reason phrase for a status code ("Not Found"), "Unknown" otherwise. */
const char *http_status_text(int status);

#endif
