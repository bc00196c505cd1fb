/* netns.h — a sandbox's network namespace: loopback, and the proxy's door.
 *
 * Contract: the namespace has a loopback interface and nothing else. Its init
 * (PID 1) holds the proxy's listening sockets — 127.0.0.1:KN_PROXY_PORT at fd
 * KN_INIT_FD_PROXY4 and [::1]:KN_PROXY_PORT at fd KN_INIT_FD_PROXY6 (absent when
 * the kernel has no IPv6) — for the sandbox's whole life, so they survive any
 * restart of kennel-proxy or kenneld: while no proxy accepts, connections wait
 * in the backlog (fail closed), and nothing in the sandbox can bind the port.
 * kn_netns_proxy_listeners fetches dups of them from a running init with
 * pidfd_getfd (the caller must be host root). Functions return 0 / -1 + err. */
#ifndef KENNEL_NETNS_H
#define KENNEL_NETNS_H

#include "common/error.h"

/* The port DESIGN.md names; what HTTP_PROXY points at inside the sandbox. */
#define KN_PROXY_PORT 3128
#define KN_INIT_FD_PROXY4 3
#define KN_INIT_FD_PROXY6 4

/* NAME=VALUE entries that point every common tool at the proxy (curl, wget,
 * git, npm, pip, Node >= 22 with NODE_USE_ENV_PROXY, Python, Java), and keep
 * the sandbox's own loopback direct. NULL-terminated. */
extern const char *const kn_proxy_env[];

/* In a new namespace (as host root): bring lo up and bind the proxy's
 * listeners, close-on-exec; *proxy6 is -1 when the kernel has no IPv6
 * loopback. 0, or -1 with err (and nothing left open). */
int kn_netns_setup(int *proxy4, int *proxy6, kn_error *err);
/* From the host: dups of init's listeners; fds[1] is -1 when there is no IPv6 one. */
int kn_netns_proxy_listeners(int init_pidfd, int fds[2], kn_error *err);

#endif
