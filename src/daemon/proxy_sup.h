/* proxy_sup.h — kenneld's side of kennel-proxy: start it as its own
 * unprivileged user, feed it every running sandbox (listeners + policy), and
 * restart it when it dies. Protocol: docs/proxy-protocol.md.
 *
 * Contract: single-threaded (the daemon's loop). The proxy answers each message
 * in order, within KN_PROXY_REPLY_TIMEOUT_MS, or is treated as dead (killed
 * and restarted). Messages are synchronous but one: the hand-over of a sandbox
 * just started (kn_proxy_add_sandbox without `wait`), whose answer the loop
 * reads when it comes (kn_proxy_collect, when the control socket is readable)
 * while it serves the next request; a refusal is logged, and any later
 * message first waits for every answer still owed. A proxy that owes one
 * longer than the timeout is dead (kn_proxy_tick). While no proxy runs, sandboxes' proxy
 * connections wait in their listeners' backlog: the network fails closed.
 * A missing kennel-proxy binary is reported once and leaves sandboxes without
 * network. Restarts back off exponentially up to KN_PROXY_MAX_BACKOFF_S.
 * The proxy gets its control socket as fd KN_PROXY_FD_CONTROL and, with
 * kenneld --upstream-ca, the CA file (opened and checked by
 * kn_proxy_open_upstream_ca at daemon start) as fd KN_PROXY_FD_UPSTREAM_CA,
 * read from its start (each proxy gets the same file, rewound). Each sandbox
 * message carries the sandbox's kennel CA (ca.h) when it has one; after the
 * sandboxes comes the secret table (secrets.h), again after every change.
 * Key and secret bytes are wiped from the daemon's memory once sent. */
#ifndef KENNEL_PROXY_SUP_H
#define KENNEL_PROXY_SUP_H

#include <jansson.h>
#include <limits.h>
#include <sys/types.h>
#include <time.h>

#include "common/error.h"
#include "daemon/store.h"

/* The proxy answers from memory; a second is an eternity. */
#define KN_PROXY_REPLY_TIMEOUT_MS 2000
/* A proxy that crashes in a loop is retried at most this rarely. */
#define KN_PROXY_MAX_BACKOFF_S 30
/* A proxy that has run this long is healthy again: restarts back off anew. */
#define KN_PROXY_STABLE_S 60
/* A control message: a policy of up to 4096 rules fits (proxy-protocol.md). */
#define KN_PROXY_MSG_MAX 65536
#define KN_PROXY_USER "kennel-proxy"
#define KN_PROXY_FD_CONTROL 3
#define KN_PROXY_FD_UPSTREAM_CA 4
/* A CA file: the Mozilla bundle is 220 KB; a private PKI's roots fit many
 * times over. Bounds what the daemon reads to check it. */
#define KN_UPSTREAM_CA_MAX (16 << 20)

struct kn_proxy_sup {
	char binary[PATH_MAX];
	char log_path[PATH_MAX];
	char hosts_path[PATH_MAX]; /* empty: no resolver override */
	int debug;
	int upstream_ca_fd; /* -1: none */
	uid_t uid;
	gid_t gid;
	pid_t pid;      /* 0 when not running */
	int pidfd;      /* -1 when not running */
	int ctl;        /* control socket, -1 when not running */
	int backoff_s;
	time_t next_start; /* when a dead proxy may be started again */
	time_t started;    /* when the running proxy started */
	unsigned owed;     /* answers to messages not waited for */
	long long owed_due_ms; /* kn_now_ms by which the next one is due */
};

/* Open kenneld --upstream-ca FILE for the proxies: a readable regular file
 * holding at least one PEM certificate and nothing unparsable. Returns the fd
 * (close-on-exec; given to each proxy as KN_PROXY_FD_UPSTREAM_CA), or -1 with
 * err naming the file. *n_certs gets the count. */
int kn_proxy_open_upstream_ca(const char *path, int *n_certs, kn_error *err);
/* Prepare: find the binary next to ours, make the user and the state/proxy
 * folder, copy the hosts file where the proxy can read it. `upstream_ca_fd`
 * (-1: none) is the supervisor's from now on. */
int kn_proxy_init(struct kn_proxy_sup *ps, const struct kn_store *st, const char *hosts_file,
		  int upstream_ca_fd, int debug, kn_error *err);
/* Start the proxy and send it every running sandbox. */
int kn_proxy_start(struct kn_proxy_sup *ps, struct kn_store *st, kn_error *err);
/* The proxy's pidfd became readable: reap it and schedule a restart. */
void kn_proxy_on_exit(struct kn_proxy_sup *ps);
/* Called from the loop's tick: restart when due. */
void kn_proxy_tick(struct kn_proxy_sup *ps, struct kn_store *st);
/* Hand a (newly started) sandbox's listeners and policy to the proxy; without
 * `wait` the answer is owed (see above). */
int kn_proxy_add_sandbox(struct kn_proxy_sup *ps, struct kn_sandbox *sb, int wait, kn_error *err);
/* The control socket is readable: read the owed answers that have come,
 * without waiting; anything else there means a dead or broken proxy. */
void kn_proxy_collect(struct kn_proxy_sup *ps);
int kn_proxy_set_policy(struct kn_proxy_sup *ps, struct kn_sandbox *sb, kn_error *err);
int kn_proxy_remove_sandbox(struct kn_proxy_sup *ps, struct kn_sandbox *sb, kn_error *err);
/* Replace the proxy's whole secret table (secrets.h) with `secrets`. */
int kn_proxy_send_secrets(struct kn_proxy_sup *ps, json_t *secrets, kn_error *err);
void kn_proxy_stop(struct kn_proxy_sup *ps);

#endif
