/* guest_exec.h — one exec session in the guest of a vm sandbox.
 *
 * Contract: kn_guest_exec runs in a process PID 1 forked for a connection
 * accepted on the exec port, speaks vm_proto.h on `sock`, and never returns.
 *  - It sends KN_VM_HELLO, then waits at most KN_GUEST_REQ_TIMEOUT_MS for the
 *    KN_VM_REQ frame, decodes it and compares its token with `token` in
 *    constant time; a late, bad or unauthenticated request gets the
 *    connection closed without another byte. Then it wipes both tokens from
 *    its memory (the command is forked later), and steps the guest's clock to
 *    the host's when the request shows it more than KN_VM_CLOCK_SLACK_MS off.
 *  - The command: with tty, a pty from /dev/ptmx is its controlling terminal
 *    (window size from the request, 24x80 when unset; slave owned by uid:tty);
 *    else pipes for stdout and stderr, and for stdin when stdin_open (else
 *    /dev/null). It runs in its own session and process group, as uid:gid
 *    (no supplementary groups but gid, none for root), in workdir, with
 *    exactly the request's environment (execvp searches its PATH). A failure
 *    before execve prints "kennel: <what> <object>: <reason>" on its stderr
 *    and exits 127 (not found) or 126, as in the ns backend.
 *  - KN_VM_STARTED carries its pid; if the pty, pipes or fork cannot be had,
 *    KN_VM_ERROR says why and KN_VM_EXIT 126 follows.
 *  - Host frames: KN_VM_STDIN feeds stdin (the pty with a tty); KN_VM_STDIN_EOF
 *    closes the stdin pipe once what came before is written (ignored with a
 *    tty); KN_VM_RESIZE sets the pty's size; KN_VM_SIGNAL sends 1..64 to the
 *    command's process group (other numbers are ignored). Any other frame,
 *    EOF or an error on the socket means the host is gone: the process group
 *    gets SIGKILL and the session ends. So the host keeps its write side open
 *    until it has read KN_VM_EXIT.
 *  - Output goes out as KN_VM_STDOUT / KN_VM_STDERR frames of at most
 *    KN_GUEST_CHUNK bytes. After the command exits, what it left is still
 *    sent (pipes: until EOF or nothing more is readable; pty: until the slave
 *    is closed or quiet for KN_GUEST_PTY_DRAIN_MS), then, once /usr's file
 *    system is synced (what the command wrote there is on the host),
 *    KN_VM_EXIT (exit code, or 128+signal), then the socket is closed.
 *  - Nothing blocks: bytes for the host wait in a buffer of at most
 *    KN_GUEST_OUT_MAX and stdin in one of KN_GUEST_IN_MAX, so a host that
 *    stops reading stalls the command's output (and a command that stops
 *    reading stalls the host's input) without stopping the session from
 *    seeing the exit or the host going away. */
#ifndef KENNEL_INIT_GUEST_EXEC_H
#define KENNEL_INIT_GUEST_EXEC_H

/* Time for the host to send its request once connected: the host writes it
 * right after connecting, so this only bounds a stray connection's stay. */
#define KN_GUEST_REQ_TIMEOUT_MS 10000
/* Output bytes per frame: one pipe buffer's worth per read. */
#define KN_GUEST_CHUNK 65536
/* Bytes held for the host: a few reads' worth keeps the socket busy while
 * bounding what a stalled host costs the guest. */
#define KN_GUEST_OUT_MAX (4 * (KN_GUEST_CHUNK + 5))
/* Stdin bytes held for a command that is not reading yet. */
#define KN_GUEST_IN_MAX 65536
/* After the exit, how long a pty may stay silent before a background job
 * that keeps its slave open stops us waiting for EIO; the exited command's
 * last output reaches the master well within this (cli/relay.h: the same). */
#define KN_GUEST_PTY_DRAIN_MS 250

void kn_guest_exec(int sock, char *token) __attribute__((noreturn));

#endif
