#define _GNU_SOURCE
#include "cli/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/http.h"
#include "common/util.h"
#include "cli/version.h"

/* Bytes asked of each recvmsg; the exec stream's lines are tiny, listings
 * arrive in a few reads. */
#define RECV_CHUNK 65536
/* Everything one connection may buffer: a head and the largest body. */
#define MAX_BUFFERED ((size_t)HTTP_MAX_HEAD + CLI_MAX_RESPONSE_BODY)

int cli_conn_open(struct cli_conn *conn, const char *socket_path, kn_error *err)
{
	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
	conn->content_length = -1;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return kn_fail(err, "socket path too long (at most %zu bytes): %s",
			       sizeof(addr.sun_path) - 1, socket_path);
	strcpy(addr.sun_path, socket_path);
	strcpy(conn->socket_path, socket_path);

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kn_fail_errno(err, "socket AF_UNIX for %s", socket_path);
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		if (e == EACCES || e == EPERM)
			return kn_fail(err, "cannot connect to kenneld at %s: %s. Run as root or as "
					    "a member of the daemon's group (kennel by default).",
				       socket_path, strerror(e));
		return kn_fail(err, "cannot connect to kenneld at %s: %s. Is it running? Start "
				    "it with 'kennel daemon' (as root) or 'make run'.",
			       socket_path, strerror(e));
	}
	conn->fd = steal_fd(&fd);
	return 0;
}

static int timeout_sec = CLI_API_TIMEOUT_SEC;

int cli_timeout_parse(const char *value, int *sec, kn_error *err)
{
	*sec = CLI_API_TIMEOUT_SEC;
	if (!value || !*value)
		return 0;
	char *end;
	errno = 0;
	long v = strtol(value, &end, 10);
	if (errno || *end || value[0] < '0' || value[0] > '9' || v < 1 || v > CLI_TIMEOUT_MAX_SEC)
		return kn_fail(err, "KENNEL_TIMEOUT must be a whole number of seconds from 1 to %d, not '%s'",
			       CLI_TIMEOUT_MAX_SEC, value);
	*sec = (int)v;
	return 0;
}

void cli_set_timeout(int sec) { timeout_sec = sec; }

int cli_conn_set_timeout(struct cli_conn *conn, bool on, kn_error *err)
{
	struct timeval tv = {.tv_sec = on ? timeout_sec : 0};
	if (setsockopt(conn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return kn_fail_errno(err, "setsockopt SO_RCVTIMEO on %s", conn->socket_path);
	return 0;
}

static int send_all(struct cli_conn *conn, const char *data, size_t len, kn_error *err)
{
	while (len > 0) {
		ssize_t n = send(conn->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kn_fail_errno(err, "send request to kenneld at %s", conn->socket_path);
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int cli_conn_send(struct cli_conn *conn, const char *method, const char *path,
		  const json_t *body, kn_error *err)
{
	/* Wiped when freed: a body may carry a secret (PUT /secrets). */
	_cleanup_wipe_free_ char *text = NULL;
	size_t body_len = 0;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return kn_fail(err, "encode the request body for %s %s", method, path);
		body_len = strlen(text);
	}
	char head[HTTP_MAX_REQUEST_LINE + 256];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\n"
			 "Host: localhost\r\n"
			 "User-Agent: kennel/" KENNEL_VERSION "\r\n"
			 "Connection: close\r\n"
			 "%s"
			 "Content-Length: %zu\r\n"
			 "\r\n",
			 method, path, body ? "Content-Type: application/json\r\n" : "", body_len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return kn_fail(err, "request line too long: %s %s", method, path);
	if (send_all(conn, head, (size_t)n, err) < 0)
		return -1;
	return text ? send_all(conn, text, body_len, err) : 0;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

/* Keep every fd of every SCM_RIGHTS message; fds beyond our room are closed at
 * once and make the read fail, so none leaks and none is silently dropped. */
static int collect_fds(struct cli_conn *conn, struct msghdr *msg, kn_error *err)
{
	bool overflow = false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[CLI_MAX_RECEIVED_FDS];
		if (n > KN_ARRAY_SIZE(fds))
			n = KN_ARRAY_SIZE(fds); /* cannot happen: the control buffer holds no more */
		memcpy(fds, CMSG_DATA(c), n * sizeof(int));
		for (size_t i = 0; i < n; i++) {
			if (conn->n_fds < CLI_MAX_RECEIVED_FDS)
				conn->fds[conn->n_fds++] = fds[i];
			else {
				close(fds[i]);
				overflow = true;
			}
		}
	}
	if (overflow || (msg->msg_flags & MSG_CTRUNC))
		return kn_fail(err, "kenneld at %s sent more than %d file descriptors",
			       conn->socket_path, CLI_MAX_RECEIVED_FDS);
	return 0;
}

ssize_t cli_conn_recv(struct cli_conn *conn, kn_error *err)
{
	if (conn->eof)
		return 0;
	if (conn->cap - conn->len < RECV_CHUNK) {
		if (conn->len >= MAX_BUFFERED)
			return kn_fail(err, "answer from kenneld at %s is larger than %zu bytes",
				       conn->socket_path, MAX_BUFFERED);
		/* Doubling keeps a large body to a few dozen reallocs. */
		size_t cap = conn->cap * 2 > conn->len + RECV_CHUNK ? conn->cap * 2
								    : conn->len + RECV_CHUNK;
		char *buf = realloc(conn->buf, cap + 1); /* +1: room for a NUL */
		if (!buf)
			return kn_fail_errno(err, "allocate %zu bytes", cap + 1);
		conn->buf = buf;
		conn->cap = cap;
	}
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int) * CLI_MAX_RECEIVED_FDS)];
	} control;
	struct iovec iov = {.iov_base = conn->buf + conn->len, .iov_len = conn->cap - conn->len};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.bytes,
		.msg_controllen = sizeof(control.bytes),
	};
	ssize_t n;
	do
		n = recvmsg(conn->fd, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return kn_fail(err, "no answer from kenneld at %s within %d s (KENNEL_TIMEOUT); is it "
				    "stopped or stuck?",
			       conn->socket_path, timeout_sec);
	if (n < 0)
		return kn_fail_errno(err, "recvmsg from kenneld at %s", conn->socket_path);
	if (collect_fds(conn, &msg, err) < 0)
		return -1;
	if (n == 0)
		conn->eof = true;
	conn->len += (size_t)n;
	conn->buf[conn->len] = '\0';
	return n;
}

static void consume(struct cli_conn *conn, size_t n)
{
	memmove(conn->buf, conn->buf + n, conn->len - n);
	conn->len -= n;
	conn->buf[conn->len] = '\0';
}

int cli_conn_read_head(struct cli_conn *conn, kn_error *err)
{
	for (;;) {
		struct http_response resp;
		const char *reason = NULL;
		ssize_t head_len = 0;
		if (conn->len > 0)
			head_len = http_parse_response_head(conn->buf, conn->len, &resp, &reason);
		if (head_len < 0)
			return kn_fail(err, "bad answer from kenneld at %s: %s", conn->socket_path,
				       reason);
		if (head_len > 0) {
			conn->status = resp.status;
			conn->content_length = resp.content_length;
			conn->chunked = resp.chunked;
			const struct http_header *ct =
				http_header_find(resp.headers, resp.n_headers, "Content-Type");
			if (ct) {
				size_t n = ct->value_len < sizeof(conn->content_type) - 1
						   ? ct->value_len
						   : sizeof(conn->content_type) - 1;
				memcpy(conn->content_type, ct->value, n);
				conn->content_type[n] = '\0';
			}
			consume(conn, (size_t)head_len);
			return 0;
		}
		if (conn->eof)
			return kn_fail(err, "kenneld at %s closed the connection before answering",
				       conn->socket_path);
		if (conn->len > HTTP_MAX_HEAD)
			return kn_fail(err, "answer head from kenneld at %s is too long",
				       conn->socket_path);
		if (cli_conn_recv(conn, err) < 0)
			return -1;
	}
}

static int decode_chunked(struct cli_conn *conn, kn_error *err)
{
	struct http_chunked dec;
	http_chunked_init(&dec);
	const char *reason = NULL;
	size_t out_len = 0;
	ssize_t used = http_chunked_decode(&dec, conn->buf, conn->len, &out_len, &reason);
	if (used < 0)
		return kn_fail(err, "bad chunked body from kenneld at %s: %s", conn->socket_path,
			       reason);
	if (!dec.done)
		return kn_fail(err, "kenneld at %s closed the connection in the middle of a "
				    "chunked body", conn->socket_path);
	conn->len = out_len;
	conn->buf[conn->len] = '\0';
	return 0;
}

int cli_conn_read_body(struct cli_conn *conn, char **body, size_t *len, kn_error *err)
{
	if (conn->content_length > (int64_t)CLI_MAX_RESPONSE_BODY)
		return kn_fail(err, "answer from kenneld at %s is larger than %u bytes",
			       conn->socket_path, CLI_MAX_RESPONSE_BODY);
	size_t want = conn->content_length >= 0 ? (size_t)conn->content_length : SIZE_MAX;
	while (conn->len < want && !conn->eof) {
		if (conn->len > CLI_MAX_RESPONSE_BODY)
			return kn_fail(err, "answer from kenneld at %s is larger than %u bytes",
				       conn->socket_path, CLI_MAX_RESPONSE_BODY);
		if (cli_conn_recv(conn, err) < 0)
			return -1;
	}
	if (conn->content_length >= 0 && conn->len < want)
		return kn_fail(err, "kenneld at %s closed the connection after %zu of %zu body bytes",
			       conn->socket_path, conn->len, want);
	if (conn->chunked && decode_chunked(conn, err) < 0)
		return -1;
	size_t n = conn->len < want ? conn->len : want;
	char *copy = malloc(n + 1);
	if (!copy)
		return kn_fail_errno(err, "allocate %zu bytes", n + 1);
	if (n > 0)
		memcpy(copy, conn->buf, n);
	copy[n] = '\0';
	consume(conn, n);
	*body = copy;
	*len = n;
	return 0;
}

int cli_conn_pop_event(struct cli_conn *conn, json_t **event, kn_error *err)
{
	char *nl = conn->len ? memchr(conn->buf, '\n', conn->len) : NULL;
	if (!nl) {
		if (conn->len > CLI_MAX_EVENT_LINE)
			return kn_fail(err, "exec event from kenneld at %s is longer than %u bytes",
				       conn->socket_path, CLI_MAX_EVENT_LINE);
		if (conn->eof && conn->len > 0)
			return kn_fail(err, "kenneld at %s ended the exec stream in the middle of "
					    "a line", conn->socket_path);
		return 0;
	}
	size_t line_len = (size_t)(nl - conn->buf);
	if (line_len > CLI_MAX_EVENT_LINE)
		return kn_fail(err, "exec event from kenneld at %s is longer than %u bytes",
			       conn->socket_path, CLI_MAX_EVENT_LINE);
	json_error_t jerr;
	json_t *value = json_loadb(conn->buf, line_len, 0, &jerr);
	consume(conn, line_len + 1);
	if (!value)
		return kn_fail(err, "bad exec event from kenneld at %s: %s", conn->socket_path,
			       jerr.text);
	if (!json_is_object(value)) {
		json_decref(value);
		return kn_fail(err, "bad exec event from kenneld at %s: not a JSON object",
			       conn->socket_path);
	}
	*event = value;
	return 1;
}

int cli_conn_next_event(struct cli_conn *conn, json_t **event, kn_error *err)
{
	for (;;) {
		int r = cli_conn_pop_event(conn, event, err);
		if (r != 0)
			return r;
		if (conn->eof)
			return 0;
		if (cli_conn_recv(conn, err) < 0)
			return -1;
	}
}

int cli_conn_take_fds(struct cli_conn *conn, int *out, size_t n, kn_error *err)
{
	if (conn->n_fds < n)
		return kn_fail(err, "kenneld at %s sent %zu file descriptors, expected %zu",
			       conn->socket_path, conn->n_fds, n);
	memcpy(out, conn->fds, n * sizeof(int));
	memmove(conn->fds, conn->fds + n, (conn->n_fds - n) * sizeof(int));
	conn->n_fds -= n;
	return 0;
}

void cli_conn_close(struct cli_conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
	close_fds(conn->fds, conn->n_fds);
	conn->n_fds = 0;
	free(conn->buf);
	conn->buf = NULL;
	conn->len = conn->cap = 0;
}

void cli_error_from_body(int status, const char *body, size_t len, kn_error *err)
{
	json_t *value = json_loadb(body, len, 0, NULL);
	const char *text = json_string_value(json_object_get(value, "error"));
	if (text && *text)
		kn_fail(err, "%s", text);
	else
		kn_fail(err, "kenneld answered %d %s", status, http_status_text(status));
	json_decref(value);
}

int cli_api_call(const char *socket_path, const char *method, const char *path,
		 const json_t *body, int *status, json_t **answer, kn_error *err)
{
	struct cli_conn conn;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int rc = -1;
	if (status)
		*status = 0;
	if (answer)
		*answer = NULL;
	if (cli_conn_open(&conn, socket_path, err) < 0)
		return -1;
	if (cli_conn_set_timeout(&conn, true, err) < 0 ||
	    cli_conn_send(&conn, method, path, body, err) < 0 ||
	    cli_conn_read_head(&conn, err) < 0 || cli_conn_read_body(&conn, &text, &len, err) < 0)
		goto out;
	if (status)
		*status = conn.status;
	if (conn.status < 200 || conn.status > 299) {
		cli_error_from_body(conn.status, text, len, err);
		goto out;
	}
	json_error_t jerr;
	json_t *value = json_loadb(text, len, 0, &jerr);
	if (!value) {
		kn_fail(err, "bad JSON from kenneld at %s for %s %s: %s", socket_path, method, path,
			jerr.text);
		goto out;
	}
	if (answer)
		*answer = value;
	else
		json_decref(value);
	rc = 0;
out:
	cli_conn_close(&conn);
	return rc;
}
