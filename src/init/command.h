/* command.h — the last steps of a command that init starts: in a vm sandbox's
 * guest (guest_exec.h) and in an ns sandbox (ns_session.h).
 *
 * Contract: kn_command_exec runs in the freshly forked child and never
 * returns. It unblocks every signal, makes the child a session leader, gives
 * it its stdio (with `slave` >= 0 the pty slave becomes its controlling
 * terminal, owned by uid:tty, and all of 0, 1, 2; else stdio[0] (-1:
 * /dev/null), stdio[1], stdio[2]), switches to req->uid/gid (no supplementary
 * groups but gid, none for root), changes to req->workdir, restricts itself
 * with the Landlock ruleset `landlock_fd` (-1: none), closes every other fd
 * and executes req->argv with exactly req->env (execvp searches its PATH). A
 * failure prints "kennel: <what> <object>: <reason>" on its stderr and exits
 * 127 (not found) or 126. */
#ifndef KENNEL_INIT_COMMAND_H
#define KENNEL_INIT_COMMAND_H

#include "sandbox/vm_proto.h"

void kn_command_exec(const struct kn_vm_req *req, int slave, const int stdio[3], int landlock_fd)
	__attribute__((noreturn));

#endif
