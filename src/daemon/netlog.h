/* netlog.h — reading kennel-proxy's decision log for GET /network/log.
 *
 * Contract: the log is JSON lines in <state>/proxy/decisions.log, rotated by the
 * proxy to decisions.log.1 .. .3. kn_netlog_read returns (as a JSON array, oldest
 * first) the last `limit` entries whose "sandbox" equals `sandbox` (NULL: all),
 * taken from the rotated files and the current one, plus a cursor
 * "<inode>:<offset>" naming the end of the current file. Given a cursor instead,
 * it returns the entries appended since then (from the start of the current file
 * when it was rotated meanwhile, which the inode tells). Lines that are not JSON
 * objects are skipped. Reads at most KN_NETLOG_MAX_READ bytes per call. */
#ifndef KENNEL_NETLOG_H
#define KENNEL_NETLOG_H

#include <jansson.h>

#include "common/error.h"

/* Enough for ~40,000 decisions per call; bounds the daemon's work per request. */
#define KN_NETLOG_MAX_READ (16u << 20)
/* The most entries one request returns. */
#define KN_NETLOG_MAX_LIMIT 10000

json_t *kn_netlog_read(const char *log_path, const char *sandbox, size_t limit, const char *cursor,
		       kn_error *err);

#endif
