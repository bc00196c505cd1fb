/* harden.h — what kennel-proxy does to itself before it touches any input.
 *
 * Contract: kp_harden makes the process undumpable (no core dumps, no ptrace
 * attach or /proc/PID/mem by the same uid: the proxy will hold credentials),
 * sets RLIMIT_CORE to 0, sets no_new_privs, and raises the soft RLIMIT_NOFILE
 * to the hard limit (tunnels are two sockets each). It needs no privilege.
 * Returns 0 and the resulting soft limit in *nofile, or -1 with `err` set. */
#ifndef KENNEL_PROXY_HARDEN_H
#define KENNEL_PROXY_HARDEN_H

#include <stddef.h>

#include "common/error.h"

int kp_harden(size_t *nofile, kn_error *err);

#endif
