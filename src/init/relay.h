/* relay.h — moving a connection's bytes both ways, for kennel-init.
 *
 * Contract.
 *  - kn_relay_fds pumps a_in -> b and b -> a_out with poll(2) until both
 *    directions have ended, keeping each end's half-close: EOF on a_in becomes
 *    shutdown(b, SHUT_WR); EOF on b becomes shutdown(a_out, SHUT_WR) when a_out
 *    is a socket, or closes a_out when it is another kind of fd distinct from
 *    a_in. a_in and a_out may be the same socket. A direction also ends when
 *    its write side fails (the reader went away): its input is then dropped.
 *    All three fds are made non-blocking, so a peer that stops reading stalls
 *    only its own direction, never the other. Returns 0 when both directions
 *    reached EOF, -1 when one ended by an I/O error. The fds stay open (but for
 *    the a_out case above). SIGPIPE must be ignored by the caller. One relay
 *    per process: its buffers are static.
 *  - kn_relay_main is `kennel-init --relay`, which QEMU's guestfwd runs per
 *    guest connection to KN_VM_PROXY_ADDR:KN_VM_PROXY_PORT, in the sandbox's
 *    network namespace: fds 0 and 1 are that connection; it connects to
 *    127.0.0.1:KN_VM_PROXY_PORT (the proxy listener the sandbox's PID 1 holds)
 *    and relays. Returns the exit status: 0, or 1 when the connect fails,
 *    after a message on stderr unless stderr is the connection itself (as
 *    QEMU sets it up: the guest's client would read the message as the
 *    proxy's answer; it sees the connection closed instead). */
#ifndef KENNEL_INIT_RELAY_H
#define KENNEL_INIT_RELAY_H

/* Bytes moved per read and held per direction: one pipe buffer's worth, so a
 * relay costs two of these however fast either side is. */
#define KN_RELAY_CHUNK 65536

int kn_relay_fds(int a_in, int a_out, int b);
int kn_relay_main(void);

#endif
