/* http.c — strict HTTP/1.1 head parser and chunked decoder (contract: http.h).
 *
 * How the limits are counted (so "exactly at the limit" means one thing):
 *   - HTTP_MAX_REQUEST_LINE / HTTP_MAX_HEADER_LINE: bytes of the line without
 *     its CRLF; the status line of a response uses HTTP_MAX_REQUEST_LINE.
 *   - HTTP_MAX_HEAD: bytes of the whole head including the blank line, i.e. the
 *     largest value the parsers can return.
 *   - HTTP_MAX_METHOD: bytes of the method.
 *   - HTTP_MAX_HEADERS: header lines; the one after the hundredth is refused.
 *   - HTTP_MAX_CHUNK_LINE: bytes of a chunk-size line (size and extensions)
 *     without its CRLF. Each trailer line is held to HTTP_MAX_HEADER_LINE and
 *     the whole trailer section to HTTP_MAX_HEAD.
 *
 * The head parsers are stateless: each call scans from the start, one line at a
 * time, and refuses a bad line as soon as it is complete (or a byte that can
 * never be valid, such as NUL or a bare LF, as soon as it is seen), so a hostile
 * peer is turned away without waiting for the blank line. A head can only
 * become complete when a LF arrives, so a caller that re-parses only when new
 * bytes contain a LF does at most HTTP_MAX_HEADERS + 2 passes over at most
 * HTTP_MAX_HEAD bytes per message.
 *
 * Strictness beyond the list in http.h, chosen because each case is either an
 * ambiguity a smuggling attack can use or something no real client sends:
 *   - exactly one SP between request-line elements; no empty line before the
 *     request line; request-targets are printable ASCII only;
 *   - the request-target form must fit the method: CONNECT takes authority-form
 *     (host:port, port 1..65535, no userinfo, no '%'), "*" only with OPTIONS,
 *     everything else origin-form ("/...") or absolute-form, which must be
 *     "scheme://authority..." so it can never be confused with authority-form;
 *   - Host must be empty or host[:port] in the same syntax;
 *   - even identical duplicate Content-Length headers are refused;
 *   - Transfer-Encoding in an HTTP/1.0 message is refused (RFC 9112 6.1 says
 *     its framing is faulty), as is more than one Transfer-Encoding line.
 * Responses get two allowances real servers need, neither of which touches
 * framing: the SP after the status code may be missing when the reason phrase
 * is empty, and Transfer-Encoding may be a list whose last (and only chunked)
 * coding is chunked. A response Transfer-Encoding without a final chunked
 * (a close-delimited body) is refused.
 *
 * keep_alive is derived from the version and the Connection header(s) only:
 * 1.1 is persistent unless "close" is listed, 1.0 only if "keep-alive" is listed
 * and "close" is not. Whether a response body is close-delimited (no
 * Content-Length, not chunked, not 1xx/204/304, not a reply to HEAD) is for the
 * caller, who knows the request.
 *
 * The chunked decoder is a byte-at-a-time state machine: it consumes every byte
 * it is given until the body ends, so the only bytes a caller must keep are
 * those after the body (consumed < len only once done is set). While in the
 * trailer section it reuses `remaining` to count trailer bytes. After an error
 * every later call fails again. */
#include "common/http.h"

#include <string.h>

enum {
	CH_SIZE_FIRST,   /* first hex digit of a chunk size */
	CH_SIZE,         /* further hex digits */
	CH_EXT_BWS,      /* whitespace seen; only ';' or more whitespace may follow */
	CH_EXT_NAME_BWS, /* after ';', before the extension name */
	CH_EXT_NAME,
	CH_EXT_NAME_END, /* whitespace after the name: '=' or ';' may follow */
	CH_EXT_VAL_BWS,  /* after '=' */
	CH_EXT_TOKEN,
	CH_EXT_QUOTED,
	CH_EXT_QUOTED_ESC,
	CH_EXT_QUOTED_END, /* after the closing quote */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START, /* start of a trailer line, or the final CRLF */
	CH_TRAILER_NAME,
	CH_TRAILER_VALUE,
	CH_TRAILER_LF,
	CH_FINAL_LF,
	CH_DONE,
	CH_FAILED,
};

/* ---- character classes (RFC 9110 5.6.2, 5.5; RFC 3986 2.2, 2.3) ---- */

/* tchar: the bytes of a token (methods, field names, codings). A table because
 * this is the inner loop of every head. */
static const unsigned char tchar_table[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
	['~'] = 1,
};

static int is_tchar(unsigned char c) { return tchar_table[c]; }

static int is_vchar(unsigned char c) { return c >= 0x21 && c <= 0x7e; }

int http_is_token(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

/* field-vchar, SP or HTAB: everything a header value may hold. */
static int is_field_char(unsigned char c)
{
	return c == ' ' || c == '\t' || is_vchar(c) || c >= 0x80;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* reg-name / IPv4 characters we accept: unreserved and sub-delims. '%' (pct-
 * encoding) is left out on purpose: no real host name needs it and it is a
 * classic way to disguise one. */
static int is_host_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return 1;
	return c != 0 && strchr("-._~!$&'()*+,;=", c) != NULL;
}

static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static int ascii_case_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (a_len != b_len)
		return 0;
	for (size_t i = 0; i < a_len; i++)
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int equals_nocase(const char *s, size_t len, const char *lit)
{
	return ascii_case_equal(s, len, lit, strlen(lit));
}

static int fail(const char **reason, const char *why)
{
	if (reason)
		*reason = why;
	return -1;
}

/* ---- lines ---- */

/* Find the end of the line starting at `start`. Returns 1 with *line_len set
 * (the CRLF is at start + *line_len), 0 when the line is incomplete but could
 * still be valid, -1 on a byte no line may hold or when the line or the head
 * passes its limit. */
static int find_line(const char *buf, size_t len, size_t start, size_t limit, size_t *line_len,
		     const char *too_long, const char **reason)
{
	size_t end = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;

	for (size_t i = start; i < end; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '\r') {
			/* The LF would be byte HTTP_MAX_HEAD + 1 of the head. */
			if (i + 1 >= HTTP_MAX_HEAD)
				return fail(reason, "message head too large");
			if (i + 1 == len)
				return 0;
			if (buf[i + 1] != '\n')
				return fail(reason, "bare CR in message head");
			*line_len = i - start;
			return 1;
		}
		if (i - start >= limit)
			return fail(reason, too_long);
		if (c == '\n')
			return fail(reason, "bare LF in message head (CRLF required)");
		if (c == '\0')
			return fail(reason, "NUL byte in message head");
	}
	if (len >= HTTP_MAX_HEAD)
		return fail(reason, "message head too large");
	return 0;
}

/* ---- request line pieces ---- */

static int parse_version(const char *p, size_t n, int *minor, const char **reason)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || !is_digit((unsigned char)p[5]) ||
	    p[6] != '.' || !is_digit((unsigned char)p[7]))
		return fail(reason, "malformed HTTP version");
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return fail(reason, "unsupported HTTP version (only 1.0 and 1.1)");
	*minor = p[7] - '0';
	return 0;
}

/* host [":" port] with host a reg-name/IPv4 or a bracketed IPv6 literal and
 * port 1..65535. Used for CONNECT targets (port required) and Host values. */
static int valid_authority(const char *p, size_t n, int port_required)
{
	size_t i = 0;

	if (n > 0 && p[0] == '[') {
		for (i = 1; i < n && p[i] != ']'; i++)
			if (hex_value((unsigned char)p[i]) < 0 && p[i] != ':' && p[i] != '.')
				return 0;
		if (i == n || i == 1)
			return 0;
		i++; /* past ']' */
	} else {
		while (i < n && is_host_char((unsigned char)p[i]))
			i++;
		if (i == 0)
			return 0;
	}
	if (i == n)
		return !port_required;
	if (p[i] != ':')
		return 0;
	i++;
	size_t digits = n - i;
	if (digits == 0 || digits > 5)
		return 0;
	unsigned port = 0;
	for (; i < n; i++) {
		if (!is_digit((unsigned char)p[i]))
			return 0;
		port = port * 10 + (unsigned)(p[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
static int is_scheme_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
}

/* scheme "://" followed by a non-empty authority; the rest is printable ASCII,
 * which the caller has already checked. */
static int valid_absolute_form(const char *p, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_alpha((unsigned char)p[0]))
		return 0;
	while (i < n && is_scheme_char((unsigned char)p[i]))
		i++;
	if (n - i < 4 || memcmp(p + i, "://", 3) != 0)
		return 0;
	i += 3;
	return p[i] != '/' && p[i] != '?' && p[i] != '#';
}

static int check_target(const char *method, const char *t, size_t n, const char **reason)
{
	for (size_t i = 0; i < n; i++)
		if (!is_vchar((unsigned char)t[i]))
			return fail(reason, "invalid character in request-target");
	if (strcmp(method, "CONNECT") == 0) {
		if (!valid_authority(t, n, 1))
			return fail(reason, "CONNECT needs an authority-form target (host:port)");
		return 0;
	}
	if (n == 1 && t[0] == '*') {
		if (strcmp(method, "OPTIONS") != 0)
			return fail(reason, "asterisk-form target is only for OPTIONS");
		return 0;
	}
	if (t[0] == '/')
		return 0;
	if (!valid_absolute_form(t, n))
		return fail(reason, "request-target is neither origin-form nor absolute-form");
	return 0;
}

static int parse_request_line(const char *line, size_t n, struct http_request *req,
			      const char **reason)
{
	size_t i = 0;

	while (i < n && is_tchar((unsigned char)line[i]))
		i++;
	if (i == 0)
		return fail(reason, "method is not a token");
	if (i == n || line[i] != ' ')
		return fail(reason, i == n ? "malformed request line" : "method is not a token");
	if (i > HTTP_MAX_METHOD)
		return fail(reason, "method too long");
	memcpy(req->method, line, i);
	req->method[i] = '\0';

	const char *target = line + i + 1;
	const char *sp = memchr(target, ' ', n - i - 1);
	if (!sp)
		return fail(reason, "malformed request line");
	size_t target_len = (size_t)(sp - target);
	if (target_len == 0)
		return fail(reason, "empty request-target");
	const char *version = sp + 1;
	size_t version_len = (size_t)(line + n - version);
	/* A second SP lands either in the version (malformed) or here. */
	if (check_target(req->method, target, target_len, reason) < 0)
		return -1;
	if (parse_version(version, version_len, &req->version_minor, reason) < 0)
		return -1;
	req->target = target;
	req->target_len = target_len;
	return 0;
}

/* ---- header lines ---- */

static int parse_header_line(const char *line, size_t n, struct http_header *h,
			     const char **reason)
{
	size_t i = 0;

	if (line[0] == ' ' || line[0] == '\t')
		return fail(reason, "obsolete line folding (header line starts with whitespace)");
	while (i < n && is_tchar((unsigned char)line[i]))
		i++;
	if (i == n)
		return fail(reason, "header line without colon");
	if (line[i] != ':') {
		if (i > 0 && (line[i] == ' ' || line[i] == '\t'))
			return fail(reason, "whitespace before colon in header");
		return fail(reason, "header name is not a token");
	}
	if (i == 0)
		return fail(reason, "empty header name");
	h->name = line;
	h->name_len = i;

	size_t v = i + 1, end = n;
	for (size_t j = v; j < n; j++)
		if (!is_field_char((unsigned char)line[j]))
			return fail(reason, "control character in header value");
	while (v < end && (line[v] == ' ' || line[v] == '\t'))
		v++;
	while (end > v && (line[end - 1] == ' ' || line[end - 1] == '\t'))
		end--;
	h->value = line + v;
	h->value_len = end - v;
	return 0;
}

static int parse_content_length(const char *p, size_t n, int64_t *out, const char **reason)
{
	int64_t v = 0;

	if (n == 0)
		return fail(reason, "Content-Length is not a plain decimal");
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)p[i]))
			return fail(reason, "Content-Length is not a plain decimal");
		int d = p[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return fail(reason, "Content-Length too large");
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Response Transfer-Encoding: a list of codings whose last one, and only that
 * one, is chunked. */
static int response_te_is_chunked(const char *p, size_t n)
{
	int chunked_seen = 0, last_is_chunked = 0;
	size_t i = 0;

	while (i <= n) {
		size_t start = i;
		while (i < n && p[i] != ',')
			i++;
		size_t a = start, b = i;
		while (a < b && (p[a] == ' ' || p[a] == '\t'))
			a++;
		while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
			b--;
		if (a < b) {
			size_t name_end = a;
			while (name_end < b && is_tchar((unsigned char)p[name_end]))
				name_end++;
			if (name_end == a)
				return 0;
			last_is_chunked = equals_nocase(p + a, b - a, "chunked");
			chunked_seen += last_is_chunked;
		}
		i++; /* past ',' or past the end */
	}
	return chunked_seen == 1 && last_is_chunked;
}

/* What the header loop collects for the framing and connection rules. */
struct head_facts {
	int minor;
	int is_request;
	int has_cl, has_te, has_host;
	int conn_close, conn_keep_alive;
	int chunked;
	int64_t content_length;
	const char *host;
	size_t host_len;
};

static int note_header(const struct http_header *h, struct head_facts *f, const char **reason)
{
	if (equals_nocase(h->name, h->name_len, "Content-Length")) {
		if (f->has_cl)
			return fail(reason, "duplicate Content-Length");
		f->has_cl = 1;
		return parse_content_length(h->value, h->value_len, &f->content_length, reason);
	}
	if (equals_nocase(h->name, h->name_len, "Transfer-Encoding")) {
		if (f->has_te)
			return fail(reason, "duplicate Transfer-Encoding");
		f->has_te = 1;
		if (f->is_request) {
			if (!equals_nocase(h->value, h->value_len, "chunked"))
				return fail(reason, "Transfer-Encoding other than chunked");
		} else if (!response_te_is_chunked(h->value, h->value_len)) {
			return fail(reason, "Transfer-Encoding does not end in a single chunked");
		}
		f->chunked = 1;
		return 0;
	}
	if (equals_nocase(h->name, h->name_len, "Connection")) {
		if (http_value_has_token(h->value, h->value_len, "close"))
			f->conn_close = 1;
		if (http_value_has_token(h->value, h->value_len, "keep-alive"))
			f->conn_keep_alive = 1;
		return 0;
	}
	if (f->is_request && equals_nocase(h->name, h->name_len, "Host")) {
		if (f->has_host)
			return fail(reason, "more than one Host header");
		f->has_host = 1;
		if (h->value_len > 0 && !valid_authority(h->value, h->value_len, 0))
			return fail(reason, "Host is not host[:port]");
		f->host = h->value;
		f->host_len = h->value_len;
	}
	return 0;
}

static int check_framing(const struct head_facts *f, const char **reason)
{
	if (f->has_te && f->has_cl)
		return fail(reason, "both Transfer-Encoding and Content-Length");
	if (f->has_te && f->minor == 0)
		return fail(reason, "Transfer-Encoding in an HTTP/1.0 message");
	if (f->is_request && f->minor == 1 && !f->has_host)
		return fail(reason, "HTTP/1.1 request without Host");
	return 0;
}

static int derive_keep_alive(const struct head_facts *f)
{
	if (f->conn_close)
		return 0;
	return f->minor == 1 || f->conn_keep_alive;
}

/* Parse the header lines starting at `pos` until the blank line. Returns the
 * head length, 0 if incomplete, -1 on error. */
static ssize_t parse_headers(const char *buf, size_t len, size_t pos, struct http_header *headers,
			     size_t *n_headers, struct head_facts *f, const char **reason)
{
	for (;;) {
		size_t line_len;
		int r = find_line(buf, len, pos, HTTP_MAX_HEADER_LINE, &line_len,
				  "header line too long", reason);
		if (r <= 0)
			return r;
		if (line_len == 0)
			return check_framing(f, reason) < 0 ? -1 : (ssize_t)(pos + 2);
		if (*n_headers == HTTP_MAX_HEADERS)
			return fail(reason, "too many headers");
		struct http_header *h = &headers[*n_headers];
		if (parse_header_line(buf + pos, line_len, h, reason) < 0)
			return -1;
		(*n_headers)++;
		if (note_header(h, f, reason) < 0)
			return -1;
		pos += line_len + 2;
	}
}

ssize_t http_parse_request_head(const char *buf, size_t len, struct http_request *req,
				const char **reason)
{
	struct head_facts f = { .is_request = 1, .content_length = -1 };
	size_t line_len;

	req->method[0] = '\0';
	req->target = NULL;
	req->target_len = 0;
	req->version_minor = 0;
	req->n_headers = 0;
	req->content_length = -1;
	req->chunked = 0;
	req->keep_alive = 0;
	req->host = NULL;
	req->host_len = 0;

	int r = find_line(buf, len, 0, HTTP_MAX_REQUEST_LINE, &line_len, "request line too long",
			  reason);
	if (r <= 0)
		return r;
	if (line_len == 0)
		return fail(reason, "empty line before request line");
	if (parse_request_line(buf, line_len, req, reason) < 0)
		return -1;
	f.minor = req->version_minor;

	ssize_t n = parse_headers(buf, len, line_len + 2, req->headers, &req->n_headers, &f, reason);
	if (n <= 0)
		return n;
	req->content_length = f.content_length;
	req->chunked = f.chunked;
	req->keep_alive = derive_keep_alive(&f);
	req->host = f.host;
	req->host_len = f.host_len;
	return n;
}

static int parse_status_line(const char *line, size_t n, struct http_response *resp,
			     const char **reason)
{
	if (n < 8)
		return fail(reason, "malformed status line");
	if (parse_version(line, 8, &resp->version_minor, reason) < 0)
		return -1;
	if (n < 12 || line[8] != ' ')
		return fail(reason, "malformed status line");
	if (!is_digit((unsigned char)line[9]) || !is_digit((unsigned char)line[10]) ||
	    !is_digit((unsigned char)line[11]) || (n > 12 && line[12] != ' '))
		return fail(reason, "status code is not three digits");
	int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	if (status < 100)
		return fail(reason, "status code below 100");
	/* "HTTP/1.1 200\r\n" (no SP, empty reason) is accepted; see the top. */
	size_t reason_start = n > 12 ? 13 : 12;
	for (size_t i = reason_start; i < n; i++)
		if (!is_field_char((unsigned char)line[i]))
			return fail(reason, "control character in reason phrase");
	resp->status = status;
	resp->reason = line + reason_start;
	resp->reason_len = n - reason_start;
	return 0;
}

ssize_t http_parse_response_head(const char *buf, size_t len, struct http_response *resp,
				 const char **reason)
{
	struct head_facts f = { .is_request = 0, .content_length = -1 };
	size_t line_len;

	resp->version_minor = 0;
	resp->status = 0;
	resp->reason = NULL;
	resp->reason_len = 0;
	resp->n_headers = 0;
	resp->content_length = -1;
	resp->chunked = 0;
	resp->keep_alive = 0;

	int r = find_line(buf, len, 0, HTTP_MAX_REQUEST_LINE, &line_len, "status line too long",
			  reason);
	if (r <= 0)
		return r;
	if (parse_status_line(buf, line_len, resp, reason) < 0)
		return -1;
	f.minor = resp->version_minor;

	ssize_t n = parse_headers(buf, len, line_len + 2, resp->headers, &resp->n_headers, &f,
				  reason);
	if (n <= 0)
		return n;
	resp->content_length = f.content_length;
	resp->chunked = f.chunked;
	resp->keep_alive = derive_keep_alive(&f);
	return n;
}

const struct http_header *http_header_find(const struct http_header *headers, size_t n,
					  const char *name)
{
	size_t name_len = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (ascii_case_equal(headers[i].name, headers[i].name_len, name, name_len))
			return &headers[i];
	return NULL;
}

int http_value_has_token(const char *value, size_t len, const char *token)
{
	size_t token_len = strlen(token);
	size_t i = 0;

	while (i <= len) {
		size_t start = i;
		while (i < len && value[i] != ',')
			i++;
		size_t a = start, b = i;
		while (a < b && (value[a] == ' ' || value[a] == '\t'))
			a++;
		while (b > a && (value[b - 1] == ' ' || value[b - 1] == '\t'))
			b--;
		if (ascii_case_equal(value + a, b - a, token, token_len))
			return 1;
		i++;
	}
	return 0;
}

/* ---- chunked bodies ---- */

void http_chunked_init(struct http_chunked *c)
{
	c->state = CH_SIZE_FIRST;
	c->remaining = 0;
	c->line_len = 0;
	c->done = 0;
}

static ssize_t chunked_fail(struct http_chunked *c, const char **reason, const char *why)
{
	c->state = CH_FAILED;
	if (reason)
		*reason = why;
	return -1;
}

/* Is c allowed inside a quoted-string (qdtext)? */
static int is_qdtext(unsigned char c)
{
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	       (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

/* One byte of a chunk-size line (size, extensions, CR). Returns the next state
 * or -1 when the byte is not allowed here. */
static int chunk_line_step(int state, unsigned char ch, uint64_t *size, const char **why)
{
	int ws = ch == ' ' || ch == '\t';

	switch (state) {
	case CH_SIZE_FIRST:
	case CH_SIZE: {
		int d = hex_value(ch);
		if (d >= 0) {
			/* Sizes must fit in int64_t so callers can add them to offsets. */
			if (*size > (uint64_t)INT64_MAX >> 4) {
				*why = "chunk size too large";
				return -1;
			}
			*size = *size << 4 | (uint64_t)d;
			return CH_SIZE;
		}
		if (state == CH_SIZE_FIRST)
			break;
		if (ch == '\r')
			return CH_SIZE_LF;
		if (ch == ';')
			return CH_EXT_NAME_BWS;
		if (ws)
			return CH_EXT_BWS;
		break;
	}
	case CH_EXT_BWS:
		if (ws)
			return CH_EXT_BWS;
		if (ch == ';')
			return CH_EXT_NAME_BWS;
		break;
	case CH_EXT_NAME_BWS:
		if (ws)
			return CH_EXT_NAME_BWS;
		if (is_tchar(ch))
			return CH_EXT_NAME;
		break;
	case CH_EXT_NAME:
	case CH_EXT_NAME_END:
		if (state == CH_EXT_NAME && is_tchar(ch))
			return CH_EXT_NAME;
		if (ws)
			return CH_EXT_NAME_END;
		if (ch == '=')
			return CH_EXT_VAL_BWS;
		if (ch == ';')
			return CH_EXT_NAME_BWS;
		if (ch == '\r' && state == CH_EXT_NAME)
			return CH_SIZE_LF;
		break;
	case CH_EXT_VAL_BWS:
		if (ws)
			return CH_EXT_VAL_BWS;
		if (ch == '"')
			return CH_EXT_QUOTED;
		if (is_tchar(ch))
			return CH_EXT_TOKEN;
		break;
	case CH_EXT_TOKEN:
	case CH_EXT_QUOTED_END:
		if (state == CH_EXT_TOKEN && is_tchar(ch))
			return CH_EXT_TOKEN;
		if (ws)
			return CH_EXT_BWS;
		if (ch == ';')
			return CH_EXT_NAME_BWS;
		if (ch == '\r')
			return CH_SIZE_LF;
		break;
	case CH_EXT_QUOTED:
		if (ch == '"')
			return CH_EXT_QUOTED_END;
		if (ch == '\\')
			return CH_EXT_QUOTED_ESC;
		if (is_qdtext(ch))
			return CH_EXT_QUOTED;
		break;
	case CH_EXT_QUOTED_ESC:
		if (ch == '\t' || ch == ' ' || is_vchar(ch) || ch >= 0x80)
			return CH_EXT_QUOTED;
		break;
	}
	if (ch == '\n')
		*why = "bare LF in chunk size line (CRLF required)";
	else if (ch == '\0')
		*why = "NUL byte in chunk size line";
	else
		*why = "malformed chunk size line";
	return -1;
}

ssize_t http_chunked_decode(struct http_chunked *c, char *buf, size_t len, size_t *out_len,
			    const char **reason)
{
	size_t in = 0, out = 0;
	const char *why = NULL;

	*out_len = 0;
	if (c->state == CH_FAILED)
		return chunked_fail(c, reason, "chunked body already failed");

	while (in < len && c->state != CH_DONE) {
		unsigned char ch = (unsigned char)buf[in];

		switch (c->state) {
		case CH_DATA: {
			size_t avail = len - in;
			size_t n = c->remaining < avail ? (size_t)c->remaining : avail;
			memmove(buf + out, buf + in, n);
			out += n;
			in += n;
			c->remaining -= n;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return chunked_fail(c, reason, "missing CRLF after chunk data");
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return chunked_fail(c, reason, "missing CRLF after chunk data");
			c->state = CH_SIZE_FIRST;
			c->line_len = 0;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return chunked_fail(c, reason, "bare CR in chunk size line");
			c->line_len = 0;
			if (c->remaining == 0) {
				c->state = CH_TRAILER_START; /* remaining now counts trailer bytes */
			} else {
				c->state = CH_DATA;
			}
			break;
		case CH_TRAILER_START:
			if (ch == '\r') {
				c->state = CH_FINAL_LF;
				break;
			}
			if (ch == ' ' || ch == '\t')
				return chunked_fail(c, reason, "obsolete line folding in trailer");
			if (ch == '\n')
				return chunked_fail(c, reason, "bare LF in trailer section");
			if (!is_tchar(ch))
				return chunked_fail(c, reason, "trailer name is not a token");
			c->state = CH_TRAILER_NAME;
			c->line_len = 1;
			break;
		case CH_TRAILER_NAME:
			if (ch == ':')
				c->state = CH_TRAILER_VALUE;
			else if (!is_tchar(ch))
				return chunked_fail(c, reason, "malformed trailer field");
			c->line_len++;
			break;
		case CH_TRAILER_VALUE:
			if (ch == '\r') {
				c->state = CH_TRAILER_LF;
				break;
			}
			if (ch == '\n')
				return chunked_fail(c, reason, "bare LF in trailer section");
			if (!is_field_char(ch))
				return chunked_fail(c, reason, "control character in trailer");
			c->line_len++;
			break;
		case CH_TRAILER_LF:
		case CH_FINAL_LF:
			if (ch != '\n')
				return chunked_fail(c, reason, "bare CR in trailer section");
			if (c->state == CH_FINAL_LF) {
				c->state = CH_DONE;
				c->done = 1;
			} else {
				c->state = CH_TRAILER_START;
				c->line_len = 0;
			}
			break;
		default: { /* a chunk-size line */
			int next = chunk_line_step(c->state, ch, &c->remaining, &why);
			if (next < 0)
				return chunked_fail(c, reason, why);
			if (next != CH_SIZE_LF && ++c->line_len > HTTP_MAX_CHUNK_LINE)
				return chunked_fail(c, reason, "chunk size line too long");
			c->state = next;
			break;
		}
		}
		if (c->state >= CH_TRAILER_START && c->state <= CH_FINAL_LF) {
			if (c->line_len > HTTP_MAX_HEADER_LINE)
				return chunked_fail(c, reason, "trailer line too long");
			if (++c->remaining > HTTP_MAX_HEAD)
				return chunked_fail(c, reason, "trailer section too large");
		}
		in++;
	}
	*out_len = out;
	return (ssize_t)in;
}

/* ---- status text ---- */

struct status_text {
	int status;
	const char *text;
};

/* RFC 9110 section 15, plus the ones tools meet in practice (429, 431, 451...). */
static const struct status_text status_texts[] = {
	{ 100, "Continue" },
	{ 101, "Switching Protocols" },
	{ 102, "Processing" },
	{ 103, "Early Hints" },
	{ 200, "OK" },
	{ 201, "Created" },
	{ 202, "Accepted" },
	{ 203, "Non-Authoritative Information" },
	{ 204, "No Content" },
	{ 205, "Reset Content" },
	{ 206, "Partial Content" },
	{ 207, "Multi-Status" },
	{ 208, "Already Reported" },
	{ 226, "IM Used" },
	{ 300, "Multiple Choices" },
	{ 301, "Moved Permanently" },
	{ 302, "Found" },
	{ 303, "See Other" },
	{ 304, "Not Modified" },
	{ 305, "Use Proxy" },
	{ 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 402, "Payment Required" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 407, "Proxy Authentication Required" },
	{ 408, "Request Timeout" },
	{ 409, "Conflict" },
	{ 410, "Gone" },
	{ 411, "Length Required" },
	{ 412, "Precondition Failed" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 416, "Range Not Satisfiable" },
	{ 417, "Expectation Failed" },
	{ 418, "I'm a teapot" },
	{ 421, "Misdirected Request" },
	{ 422, "Unprocessable Content" },
	{ 423, "Locked" },
	{ 424, "Failed Dependency" },
	{ 425, "Too Early" },
	{ 426, "Upgrade Required" },
	{ 428, "Precondition Required" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 451, "Unavailable For Legal Reasons" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 505, "HTTP Version Not Supported" },
	{ 506, "Variant Also Negotiates" },
	{ 507, "Insufficient Storage" },
	{ 508, "Loop Detected" },
	{ 510, "Not Extended" },
	{ 511, "Network Authentication Required" },
};

const char *http_status_text(int status)
{
	for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++)
		if (status_texts[i].status == status)
			return status_texts[i].text;
	return "Unknown";
}
