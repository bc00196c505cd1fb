/* rewrite.c — hop-by-hop stripping for forwarded heads (contract: rewrite.h). */
#include "proxy/rewrite.h"

#include <stdio.h>
#include <string.h>

static int fail(const char **reason, const char *why)
{
	if (reason)
		*reason = why;
	return -1;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

static bool equal_nocase(const char *a, size_t a_len, const char *lit)
{
	size_t n = strlen(lit);
	if (a_len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lit[i])
			return false;
	return true;
}

/* Like equal_nocase, for a name of any case. */
static bool equal_nocase_str(const char *a, size_t a_len, const char *b)
{
	if (a_len != strlen(b))
		return false;
	for (size_t i = 0; i < a_len; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* Does a Connection header list `name`? */
static bool connection_names(const char *name, size_t name_len, const struct http_header *headers,
			     size_t n)
{
	char token[HTTP_MAX_HEADER_LINE];

	if (name_len >= sizeof(token))
		return false;
	memcpy(token, name, name_len);
	token[name_len] = '\0';
	for (size_t i = 0; i < n; i++)
		if (equal_nocase(headers[i].name, headers[i].name_len, "connection") &&
		    http_value_has_token(headers[i].value, headers[i].value_len, token))
			return true;
	return false;
}

bool kp_is_hop_by_hop(const char *name, size_t name_len, const struct http_header *headers,
		      size_t n_headers)
{
	static const char *const fixed[] = {
		"connection", "keep-alive", "te", "trailer", "upgrade",
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (equal_nocase(name, name_len, fixed[i]))
			return true;
	if (name_len >= 6 && equal_nocase(name, 6, "proxy-"))
		return true;
	return connection_names(name, name_len, headers, n_headers);
}

/* Connection may not name a header that frames the message or says where it
 * goes. */
static int check_connection(const struct http_header *headers, size_t n, const char **reason)
{
	static const char *const framing[] = { "content-length", "transfer-encoding", "host" };

	for (size_t i = 0; i < n; i++) {
		if (!equal_nocase(headers[i].name, headers[i].name_len, "connection"))
			continue;
		for (size_t j = 0; j < sizeof(framing) / sizeof(framing[0]); j++)
			if (http_value_has_token(headers[i].value, headers[i].value_len, framing[j]))
				return fail(reason, "Connection header names a framing header");
	}
	return 0;
}

struct out {
	char *buf;
	size_t cap, len;
	size_t headers;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void put_header(struct out *o, const struct http_header *h)
{
	o->headers++;
	put(o, h->name, h->name_len);
	put(o, ": ", 2);
	put(o, h->value, h->value_len);
	put(o, "\r\n", 2);
}

static int finish(struct out *o, size_t *out_len, const char **reason)
{
	if (o->overflow || o->len > HTTP_MAX_HEAD)
		return fail(reason, "message head too large after rewriting");
	if (o->headers > HTTP_MAX_HEADERS)
		return fail(reason, "too many headers after rewriting");
	*out_len = o->len;
	return 0;
}

int kp_rewrite_request(const struct http_request *req, const struct kp_target *t,
		       const struct kp_rewrite_opts *opts, char *out, size_t outsz, size_t *out_len,
		       const char **reason)
{
	static const struct kp_rewrite_opts plain = { 0 };
	struct out o = { .buf = out, .cap = outsz };

	if (!opts)
		opts = &plain;
	if (check_connection(req->headers, req->n_headers, reason) < 0)
		return -1;
	puts_(&o, req->method);
	put(&o, " ", 1);
	if (t->path_len == 0 || t->path[0] == '?')
		put(&o, "/", 1);
	put(&o, t->path, t->path_len);
	puts_(&o, req->version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
	puts_(&o, "Host: ");
	put(&o, t->authority, t->authority_len);
	put(&o, "\r\n", 2);
	o.headers++;
	for (size_t k = 0; k < opts->n_set; k++) {
		puts_(&o, opts->set[k].name);
		put(&o, ": ", 2);
		puts_(&o, opts->set[k].value);
		put(&o, "\r\n", 2);
		o.headers++;
	}
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		bool replaced = false;
		for (size_t k = 0; k < opts->n_set && !replaced; k++)
			replaced = equal_nocase_str(h->name, h->name_len, opts->set[k].name);
		if (replaced || equal_nocase(h->name, h->name_len, "host") ||
		    kp_is_hop_by_hop(h->name, h->name_len, req->headers, req->n_headers))
			continue;
		put_header(&o, h);
	}
	if (opts->websocket) {
		puts_(&o, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
		o.headers += 2;
	} else if (!opts->persistent || (!req->keep_alive && !opts->outlives_client)) {
		puts_(&o, "Connection: close\r\n");
		o.headers++;
	}
	put(&o, "\r\n", 2);
	return finish(&o, out_len, reason);
}

bool kp_wants_websocket(const struct http_request *req)
{
	const struct http_header *up = http_header_find(req->headers, req->n_headers, "upgrade");
	bool conn_upgrade = false;
	for (size_t i = 0; i < req->n_headers; i++)
		if (equal_nocase(req->headers[i].name, req->headers[i].name_len, "connection") &&
		    http_value_has_token(req->headers[i].value, req->headers[i].value_len, "upgrade"))
			conn_upgrade = true;
	return up && conn_upgrade && http_value_has_token(up->value, up->value_len, "websocket");
}

static int rewrite_response(const struct http_response *resp, bool client_keep_alive,
			    bool websocket, char *out, size_t outsz, size_t *out_len,
			    const char **reason);

int kp_rewrite_response(const struct http_response *resp, bool client_keep_alive, char *out,
			size_t outsz, size_t *out_len, const char **reason)
{
	return rewrite_response(resp, client_keep_alive, false, out, outsz, out_len, reason);
}

int kp_rewrite_switch(const struct http_response *resp, char *out, size_t outsz, size_t *out_len,
		      const char **reason)
{
	const struct http_header *up = http_header_find(resp->headers, resp->n_headers, "upgrade");
	if (resp->status != 101 || !up ||
	    !http_value_has_token(up->value, up->value_len, "websocket"))
		return fail(reason, "upstream switched to a protocol other than websocket");
	return rewrite_response(resp, true, true, out, outsz, out_len, reason);
}

static int rewrite_response(const struct http_response *resp, bool client_keep_alive,
			    bool websocket, char *out, size_t outsz, size_t *out_len,
			    const char **reason)
{
	struct out o = { .buf = out, .cap = outsz };
	char status[24];

	if (check_connection(resp->headers, resp->n_headers, reason) < 0)
		return -1;
	int n = snprintf(status, sizeof(status), "HTTP/1.1 %03d ", resp->status);
	put(&o, status, (size_t)n);
	put(&o, resp->reason, resp->reason_len);
	put(&o, "\r\n", 2);
	for (size_t i = 0; i < resp->n_headers; i++) {
		const struct http_header *h = &resp->headers[i];
		if (kp_is_hop_by_hop(h->name, h->name_len, resp->headers, resp->n_headers))
			continue;
		put_header(&o, h);
	}
	if (websocket) {
		puts_(&o, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
		o.headers += 2;
	} else if (!client_keep_alive) {
		puts_(&o, "Connection: close\r\n");
		o.headers++;
	}
	put(&o, "\r\n", 2);
	return finish(&o, out_len, reason);
}
