/* decision_log.h — one JSON line per proxied request (a CONNECT, or one
 * plain-HTTP request), and the size-rotated file the lines go to.
 *
 * Contract, format (pure): kp_decision_format renders a record as one compact
 * JSON object without a newline, keys in this order:
 *   time        start of the request, UTC RFC 3339 with milliseconds
 *   sandbox     the sandbox's name
 *   method      "CONNECT", "GET", ... ("" when the request line was unreadable)
 *   host        canonical host, or the client's text with every byte outside
 *               printable ASCII replaced by '?' when it is not a valid name;
 *               null when there was none
 *   port        number, or null
 *   addr        the address dialled (canonical text), or null
 *   rule        the policy rule that decided, or null when the policy never
 *               decided (a malformed request)
 *   decision    "allow", "block" or "error"
 *   status      the status sent to the client (200 for an established tunnel,
 *               the upstream's status for forwarded requests), or null
 *   bytes_up    bytes sent to the upstream (heads included for plain HTTP)
 *   bytes_down  bytes sent to the client from upstream
 *   duration_ms from the request to the end of the tunnel or exchange
 *   tls         "intercepted" for an intercepted CONNECT and for each request
 *               read inside it (absent otherwise)
 *   secrets     the names of the secrets injected into the request, an array
 *               (absent when none): names only, never a value
 *   error       only when something went wrong: a short static reason
 * It never holds a body or any header value. Returns the length, or 0 when the
 * line does not fit in `bufsz` (KP_LOG_LINE_MAX always fits).
 *
 * Contract, file (used by the master only): kp_log_open opens FILE for
 * appending (creating it 0640). kp_log_append appends whole lines (a batch
 * of up to KP_LOG_BATCH_MAX bytes, each line ending in '\n') with one
 * write(2); once the file has passed `max_bytes` it is rotated: FILE.(K-1)
 * → FILE.K ... FILE → FILE.1 (K = KP_LOG_KEEP, the oldest dropped) and a new
 * FILE is opened (so a file ends at most one batch past `max_bytes`). A
 * failed write or rotation is reported in `err`; the writer stays usable. */
#ifndef KENNEL_PROXY_DECISION_LOG_H
#define KENNEL_PROXY_DECISION_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "policy/cidr.h"

enum kp_verdict_kind {
	KP_DECISION_ALLOW,
	KP_DECISION_BLOCK,
	KP_DECISION_ERROR,
};

struct kp_decision_record {
	int64_t time_ms;        /* CLOCK_REALTIME, milliseconds */
	const char *sandbox;
	const char *method;
	const char *host;       /* NULL: none */
	int port;               /* 0: none */
	const struct kn_addr *addr; /* NULL: none dialled */
	const char *rule;       /* NULL: none */
	enum kp_verdict_kind decision;
	int status;             /* 0: none sent */
	uint64_t bytes_up, bytes_down;
	uint64_t duration_ms;
	bool intercepted;
	const char *secrets;    /* comma-separated names, NULL: none */
	const char *error;      /* NULL: none */
};

size_t kp_decision_format(const struct kp_decision_record *r, char *buf, size_t bufsz);
const char *kp_decision_name(enum kp_verdict_kind d);

struct kp_log {
	int fd;
	char *path;
	off_t size;
	off_t max_bytes;
};

int kp_log_open(struct kp_log *log, const char *path, off_t max_bytes, kn_error *err);
int kp_log_append(struct kp_log *log, const char *lines, size_t len, kn_error *err);
void kp_log_close(struct kp_log *log);

#endif
