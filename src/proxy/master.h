/* master.h — the kennel-proxy master process: the control channel to kenneld,
 * the workers, and the decision log file.
 *
 * Contract: kp_master_run forks `opt->workers` workers (worker.h), which
 * inherit the TLS contexts `tls` (tls.h) built before the fork, sends
 * {"op":"ready"} on the control socket, then serves until the control socket
 * closes, and returns the exit status for main (0 after an orderly shutdown).
 *
 * Control messages (control.h) are handled one at a time, in order: validated
 * (policy parsed, a CA parsed and checked the way workers will, fds checked
 * to be listening TCP sockets and made non-blocking), applied to the master's own table (which keeps the policy and
 * the listener fds of every sandbox), sent to every worker, and answered once
 * every worker has acknowledged, so an {"ok":true} means every new connection
 * and request from then on sees the change. Each sandbox gets a slot (its
 * column in the shared connection-count table), reused only once every worker
 * counts zero connections in it.
 *
 * A worker that dies, fails a message or does not answer within
 * KP_WORKER_REPLY_TIMEOUT_MS is killed and replaced; the new one is sent every
 * sandbox again. More than KP_RESPAWN_MAX replacements within
 * KP_RESPAWN_WINDOW_MS, or a replacement that fails, and the master exits 1
 * (kenneld starts a new proxy; sandboxes see refused connections meanwhile).
 *
 * Decision lines arrive from the workers one per datagram and are appended to
 * the log (decision_log.h), which the master alone opens and rotates: workers
 * cannot write files at all. On shutdown the master closes the workers'
 * command sockets, waits up to KP_SHUTDOWN_GRACE_MS for them to exit (SIGKILL
 * after), and writes the lines they sent before exiting. */
#ifndef KENNEL_PROXY_MASTER_H
#define KENNEL_PROXY_MASTER_H

#include "proxy/decision_log.h"
#include "proxy/hosts.h"
#include "proxy/options.h"
#include "proxy/tls.h"

int kp_master_run(const struct kp_options *opt, const struct kp_hosts *hosts, struct kp_tls *tls,
		  struct kp_log *log);

#endif
