/* client.h — the kennel CLI's HTTP/1.1 client for kenneld's Unix socket.
 *
 * Contract: one request per connection (api.md): cli_conn_open connects,
 * cli_conn_send writes the request with Content-Length and Connection: close,
 * cli_conn_read_head reads and checks the response head (http_parse_response_head).
 * Every read is a recvmsg(MSG_CMSG_CLOEXEC) that also collects SCM_RIGHTS file
 * descriptors from any message, in arrival order, because the kernel may split
 * or join the byte stream around them; cli_conn_take_fds hands them out.
 * After the head, the body is read whole (cli_conn_read_body: Content-Length,
 * chunked, or until EOF) or as JSON lines (the exec stream: cli_conn_recv reads
 * what one recvmsg gives, cli_conn_pop_event takes one complete line from what
 * has been received, so a poll loop never blocks on the daemon).
 * Sizes are bounded by the constants below; past them the answer is refused.
 *
 * cli_api_call wraps the whole exchange for ordinary JSON endpoints: it fails
 * (-1) on transport errors and on non-2xx answers, and then `err` holds exactly
 * the daemon's {"error": "..."} text, ready for "kennel: <text>".
 *
 * When no daemon listens, cli_conn_open's message says so and how to start one.
 * All functions return 0 on success (or as documented) and -1 with `err` set. */
#ifndef KENNEL_CLI_CLIENT_H
#define KENNEL_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Largest response body accepted: a listing of thousands of sandboxes (about
 * 1 KiB each) fits; beyond that the daemon is broken and memory is at stake. */
#define CLI_MAX_RESPONSE_BODY (16u * 1024 * 1024)
/* One exec event line: the real ones are under 100 bytes; 64 KiB leaves room
 * for any future field without letting a broken stream grow without bound. */
#define CLI_MAX_EVENT_LINE (64u * 1024)
/* File descriptors one response may carry: exec sends at most three (stdin,
 * stdout, stderr); room for a few more makes an unexpected extra fd an error
 * we can name instead of a silently truncated control message. */
#define CLI_MAX_RECEIVED_FDS 8
/* An ordinary API call, or an exec before its stream starts, that gets no
 * answer for this long has a stuck daemon: creating a sandbox takes seconds,
 * not minutes. KENNEL_TIMEOUT (seconds, 1 to CLI_TIMEOUT_MAX_SEC, a day)
 * overrides it. */
#define CLI_API_TIMEOUT_SEC 300
#define CLI_TIMEOUT_MAX_SEC 86400

struct cli_conn {
	int fd;
	char socket_path[108]; /* sizeof(sockaddr_un.sun_path), for messages */
	char *buf;             /* received bytes not yet consumed */
	size_t len, cap;
	int fds[CLI_MAX_RECEIVED_FDS]; /* received, not yet taken */
	size_t n_fds;
	bool eof;
	/* From the response head, once read. */
	int status;
	int64_t content_length; /* -1 when absent */
	bool chunked;
	char content_type[128];
};

/* Connect to kenneld; `conn` needs no prior initialisation. */
int cli_conn_open(struct cli_conn *conn, const char *socket_path, kn_error *err);
/* KENNEL_TIMEOUT's value (NULL or empty: the default) into *sec; -1 with
 * err naming the value when it is not a whole number in range. */
int cli_timeout_parse(const char *value, int *sec, kn_error *err);
/* The bound cli_conn_set_timeout uses from now on (main sets it). */
void cli_set_timeout(int sec);
/* `on`: bound each read by that many seconds (ordinary calls, and an exec
 * until its stream starts); off: no bound (the exec stream). */
int cli_conn_set_timeout(struct cli_conn *conn, bool on, kn_error *err);
/* `body` may be NULL (no body, Content-Length: 0). `path` is sent as is. */
int cli_conn_send(struct cli_conn *conn, const char *method, const char *path,
		  const json_t *body, kn_error *err);
int cli_conn_read_head(struct cli_conn *conn, kn_error *err);
/* The whole body, NUL-terminated, owned by the caller. */
int cli_conn_read_body(struct cli_conn *conn, char **body, size_t *len, kn_error *err);
/* One recvmsg: returns the number of bytes added (0 at EOF, which sets eof). */
ssize_t cli_conn_recv(struct cli_conn *conn, kn_error *err);
/* Take one complete JSON line from the received bytes: 1 with *event set (a
 * JSON object, caller decrefs), 0 when no complete line is buffered, -1 on a
 * line that is not a JSON object or is longer than CLI_MAX_EVENT_LINE. */
int cli_conn_pop_event(struct cli_conn *conn, json_t **event, kn_error *err);
/* Block until an event or EOF: 1 with *event, 0 at EOF, -1 on error. */
int cli_conn_next_event(struct cli_conn *conn, json_t **event, kn_error *err);
/* Move the first `n` received fds to out[]; fails if fewer have arrived. */
int cli_conn_take_fds(struct cli_conn *conn, int *out, size_t n, kn_error *err);
/* Close the socket and every fd not taken; safe to call twice. */
void cli_conn_close(struct cli_conn *conn);

/* The daemon's error text for a non-2xx body, or "kenneld answered STATUS"
 * when the body is not {"error": "..."}. */
void cli_error_from_body(int status, const char *body, size_t len, kn_error *err);

/* One request, one JSON answer. *status gets the HTTP status when an answer
 * arrived (else 0); *answer (may be NULL if unwanted) the parsed 2xx body. */
int cli_api_call(const char *socket_path, const char *method, const char *path,
		 const json_t *body, int *status, json_t **answer, kn_error *err);

#endif
