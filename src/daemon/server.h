/* server.h — kenneld's event loop: the API socket, its connections, running
 * exec sessions and sandbox inits, all on one epoll in one thread.
 *
 * Contract: kn_server_listen creates the Unix socket (parent directory made
 * 0755, socket 0660 owned by root:`group`, an existing stale socket replaced,
 * a live one refused). kn_server_run serves until SIGTERM/SIGINT, then
 * returns 0 leaving sandboxes running (a restart adopts them). Each connection
 * carries one request (Connection: close); a client that has not sent a whole
 * request within KN_API_READ_TIMEOUT_S is dropped; at most KN_API_MAX_CONNS
 * are open at once. A request refused before it was read whole (too large,
 * malformed) gets its error, then the connection is half-closed and what the
 * client still sends is read and dropped (at most KN_API_DRAIN_MAX bytes, within
 * the same timeout) before it is closed, so the client reads the answer and an
 * end of stream rather than a reset. After KN_IDLE_AFTER_MS without an event
 * the loop does the manager's idle work (kn_mgr_idle) when there is any, one
 * piece per call, with a look for events between pieces. */
#ifndef KENNEL_SERVER_H
#define KENNEL_SERVER_H

#include "common/error.h"
#include "daemon/store.h"

/* Generous for a local client; short enough that a stuck one is dropped fast. */
#define KN_API_READ_TIMEOUT_S 10
/* Local API clients are few; an exec session holds one while it runs. */
#define KN_API_MAX_CONNS 1024
/* The rest of a refused request read and dropped: a 1 MiB body limit refuses
 * typical mistakes (a file posted as a body) of a few MiB; beyond this the client
 * gets its reset. */
#define KN_API_DRAIN_MAX (16u << 20)
/* Quiet this long, the loop makes what the next create needs (manager.h):
 * the next request of a burst (a create's first exec comes ~1 ms after its
 * answer) is not kept waiting, and a create a few ms later finds it made.
 * The pieces take 0.5-1 ms each: 5 ms left creates 10 ms apart without
 * them (bench/start: create + first exec 2.06x bwrap, with 2 ms 1.56-1.75x). */
#define KN_IDLE_AFTER_MS 2
/* Writes to a client block at most this long (responses are small). */
#define KN_API_WRITE_TIMEOUT_MS 5000

int kn_server_listen(const char *path, const char *group, kn_error *err);
int kn_server_run(struct kn_store *st, int listen_fd, kn_error *err);

#endif
