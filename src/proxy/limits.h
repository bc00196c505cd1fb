/* limits.h — every number kennel-proxy bounds itself with, and why.
 *
 * Contract: constants only. Timeouts are defaults; the ones a test needs to
 * shorten have a command-line flag (kennel-proxy.8). The header size limits
 * come from common/http.h and are not repeated here. */
#ifndef KENNEL_PROXY_LIMITS_H
#define KENNEL_PROXY_LIMITS_H

/* ---- timeouts (milliseconds) ---- */

/* From accept (or the first byte of a later request) until the request head is
 * complete. A real client sends its head in one segment at once, over loopback
 * inside its sandbox; 10 s is generous for that and caps what a slowloris client
 * holds (one connection slot for 10 s per connection it opens). */
#define KP_HEADER_TIMEOUT_MS 10000

/* A kept-alive client connection with no request in progress. HTTP clients
 * keep idle connections for reuse for 15-120 s; 60 s serves them without
 * holding abandoned sockets for long. */
#define KP_KEEPALIVE_TIMEOUT_MS 60000

/* Name resolution plus TCP connect, after the decision. glibc's resolver alone
 * can use two attempts of 5 s; 30 s leaves room for that and for SYN
 * retransmissions (1 s, 3 s, 7 s) before the client gets 504. */
#define KP_CONNECT_TIMEOUT_MS 30000

/* One candidate address, while others remain, gets at most this long (or half
 * the connect timeout, if that is shorter) before the next one is tried: an
 * address silent through SYN retransmissions at 1 s and 3 s is most likely
 * unreachable (an IPv6 route that black-holes), and the next candidate should
 * get its chance before the overall deadline. */
#define KP_DIAL_ATTEMPT_TIMEOUT_MS 5000

/* A plain-HTTP upstream connection kept after its exchange (conn.h) is used
 * for the client's next request only if it has been idle for less than this;
 * an older one is closed and a fresh one dialled. Servers close idle
 * keep-alive connections on their own clock (Apache httpd and Node.js after
 * 5 s), and a request sent as that happens is lost: one that cannot be sent
 * again (a body, a method that is not idempotent) would get 502. 4 s stays
 * under the shortest common server timeout with a second to spare for the
 * round trip, and still covers the back-to-back requests reuse is for. */
#define KP_UPSTREAM_REUSE_IDLE_MS 4000

/* Idle plain-HTTP upstream connections a worker keeps for later client
 * connections (pool.h). Each holds a descriptor and a slot on its server for
 * up to KP_UPSTREAM_REUSE_IDLE_MS. A sandbox's parallel clients (a package
 * manager opens around 16 connections) each leave one behind; 64 covers a few
 * such sandboxes per worker, well under the servers' per-client limits
 * (hundreds) and a negligible share of the descriptor budget. */
#define KP_UPSTREAM_POOL_MAX 64

/* A tunnel or forwarded exchange with no byte moving either way. Long polls,
 * server-sent events and idle keep-alive pools inside TLS tunnels sit quiet for
 * minutes; 10 min is above the 5 min most servers use, so the server usually
 * closes first, and still frees abandoned tunnels. */
#define KP_IDLE_TIMEOUT_MS 600000

/* After a canned reply (400, 403, 5xx): our side is shut down and we read and
 * discard what the client still sends, so that closing does not turn its
 * unread bytes into a RST that destroys the reply in flight (nginx's lingering
 * close). 2 s and 64 KiB are plenty for a client to read a short reply. */
#define KP_LINGER_TIMEOUT_MS 2000
#define KP_LINGER_MAX_BYTES 65536

/* ---- connections and descriptors ---- */

/* Client connections one sandbox may hold across all workers; beyond it new
 * connections get 503. The issue asks for 10,000 idle tunnels per sandbox; a
 * little headroom above that, while two default workers (about 19,800
 * connections, see below) still have room for the other sandboxes. The check
 * is not atomic across workers: it can be passed by at most workers - 1. */
#define KP_MAX_CONNS_PER_SANDBOX 10240

/* Descriptors a worker keeps for itself besides connections, pipes and
 * listeners: stdio, epoll, eventfd, its two sockets to the master, the
 * resolver threads' sockets (one or two each) and headroom for libc (nss
 * files). */
#define KP_FD_RESERVE 64

/* Pipes (2 fds each) a worker can always create however many connections it
 * holds, so tunnels with data in flight keep moving while the worker is full
 * of idle ones. */
#define KP_PIPES_MIN 64

/* Empty pipes kept for reuse instead of closed: creating a pipe is two fds and
 * a 16-slot ring allocation; 32 covers bursts of active tunnels per worker. */
#define KP_PIPE_POOL_MAX 32

/* Pipe capacity asked for with F_SETPIPE_SZ, and the most one splice(2) moves
 * into it. Measured on loopback, 1 GiB through one tunnel: 64 KiB pipes (the
 * default) ~740 MiB/s, 256 KiB ~1000 MiB/s, 1 MiB ~1050 MiB/s. 256 KiB takes
 * most of the gain while bounding what a tunnel whose destination stalls can
 * hold in kernel memory. Pipes exist only while bytes are in flight, and past
 * the per-user pipe-user-pages-soft limit the kernel refuses the resize: the
 * pipe then keeps its default size, which only costs speed. */
#define KP_PIPE_SIZE (256 * 1024)

/* Read and write calls one direction of one connection makes per event, so
 * one busy connection cannot starve the others of the loop: 4 calls of up to
 * 256 KiB (tunnels) or 16 KiB (forwarded HTTP). Only calls that move bytes
 * count: framing what is already buffered does no I/O, and each framing step
 * of forward.c is followed by a call or ends the pump. */
#define KP_PUMP_ROUNDS 4

/* accept4() calls per listener readiness event, for the same fairness. */
#define KP_ACCEPT_BATCH 64

/* epoll_wait() batch. */
#define KP_EPOLL_BATCH 256
/* The loop's fd -> watch table starts this big and doubles: a worker's
 * first connections fit without growing it. */
#define KP_FD_TABLE_MIN 256

/* Buffer for forwarded plain-HTTP bodies (each direction), grown up to
 * HTTP_MAX_HEAD only while a head is being read. */
#define KP_IO_BUF 16384

/* ---- processes ---- */

/* The hard RLIMIT_NOFILE here is 20,000 and cannot be raised, and a tunnel is
 * two sockets: 10,000 tunnels need two processes. More workers than CPUs buy
 * nothing else, so the default is max(2, nproc) up to KP_DEFAULT_WORKERS_MAX. */
#define KP_DEFAULT_WORKERS_MIN 2
#define KP_DEFAULT_WORKERS_MAX 8
/* An upper bound for --workers: each is a process with its own fd table. */
#define KP_MAX_WORKERS 64

/* How long the master waits for a worker to acknowledge a control message
 * before it kills and replaces it. A worker applies a message in microseconds
 * between two bounded loop batches (tens of milliseconds at worst), so only a
 * stuck loop takes this long; it is half of kenneld's 2 s answer deadline
 * (KN_PROXY_REPLY_TIMEOUT_MS), so a replaced worker still lets the master
 * answer in time. */
#define KP_WORKER_REPLY_TIMEOUT_MS 1000

/* A worker that keeps dying is a bug, not bad luck: more than 5 deaths within
 * a minute and the master exits (kenneld then starts a fresh proxy). */
#define KP_RESPAWN_MAX 5
#define KP_RESPAWN_WINDOW_MS 60000

/* How long the master waits for workers to exit at shutdown before SIGKILL. */
#define KP_SHUTDOWN_GRACE_MS 2000

/* ---- resolver ---- */

/* getaddrinfo() blocks, so each worker runs it in this many threads: enough to
 * overlap a few slow lookups, few enough to stay a small cost per worker. */
#define KP_RESOLVER_THREADS 4
/* Lookups waiting for a thread; beyond it a request gets 503 at once rather
 * than waiting behind a resolver that is clearly not keeping up. */
#define KP_RESOLVER_QUEUE 1024
/* Addresses tried per name: more than any real name has for one family mix,
 * and a bound on how long a connect walks a list. */
#define KP_MAX_CANDIDATES 16

/* ---- control channel and sandboxes ---- */

/* docs/proxy-protocol.md: one JSON message is at most 64 KiB. */
#define KP_CONTROL_MSG_MAX 65536
/* Sandboxes one proxy serves; sizes the shared connection-count table
 * (workers x 1024 x 4 bytes). */
#define KP_MAX_SANDBOXES 1024
/* A sandbox name is a map key and a log field, not a path; kenneld's names
 * are far shorter. */
#define KP_SANDBOX_NAME_MAX 128

/* A CA certificate or key in PEM: kenneld's are EC P-256 (under 1 KiB); 16 KiB
 * leaves room for an RSA-4096 CA and still fits several in one control
 * message. */
#define KP_CA_PEM_MAX 16384

/* ---- decision log ---- */

/* FILE is rotated to FILE.1 (FILE.1 to FILE.2, ... up to FILE.KP_LOG_KEEP)
 * once it passes 10 MiB: about 40,000 decisions per file at ~250 bytes each,
 * 40 MiB of history at most on disk. */
#define KP_LOG_ROTATE_BYTES (10 * 1024 * 1024)
#define KP_LOG_KEEP 3
/* Lines a worker holds while the master is slow to take them; past it, lines
 * are dropped and the drop is reported on stderr. */
#define KP_LOG_QUEUE_MAX (1024 * 1024)
/* A worker gathers decision lines while it has events to handle and sends
 * them to the master as one message, of at most this many bytes (below
 * 64 KiB: the worker's queue keeps a 2-byte length per message): under load,
 * many requests' lines share one send, one wake-up of the master and one
 * write. */
#define KP_LOG_BATCH_MAX (60 * 1024)
/* The longest a line waits in a busy worker (one that never runs out of
 * events, such as one moving a bulk tunnel): a tail -f of the log stays
 * live. An idle worker sends at once. */
#define KP_LOG_DEFER_MS 50
/* One decision line: the longest fields are a host (253), a rule (384), a
 * sandbox name (128) and up to four secret names (128 each), all JSON-escaped
 * at most 6x. */
#define KP_LOG_LINE_MAX 8192

/* ---- hosts override file ---- */

/* An override file is hand-written or generated for a test, not a DNS zone. */
#define KP_HOSTS_MAX_BYTES (1024 * 1024)
#define KP_HOSTS_MAX_ENTRIES 65536

#endif
