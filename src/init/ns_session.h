/* ns_session.h — one `kennel exec` in an ns sandbox, served from inside it.
 *
 * kenneld used to fork a helper of itself per command that joined the
 * sandbox's cgroups and namespaces, built the Landlock ruleset and loaded the
 * seccomp filter again before forking the command: ~0.4 ms of every exec.
 * The sandbox's init is in all of them already and holds both the filter and
 * (made once, at the start) the ruleset, so commands are forked from inside.
 *
 * Protocol. The sandbox's first process binds a listening Unix stream socket
 * at KN_NS_EXEC_SOCKET in the sandbox's folder (root's alone, and out of the
 * sandbox's sight) and hands it to init as KN_INIT_FD_EXEC; init forks one
 * session process per connection (init.h), which runs kn_ns_session. kenneld
 * connects and sends one KN_VM_REQ frame (vm_proto.h: the token field is not
 * checked here, the socket's place is the authentication; time_ms and
 * stdin_open are ignored), with the command's stdin, stdout and stderr
 * attached as SCM_RIGHTS to it, or none with a tty. The session answers
 * KN_VM_STARTED (the command's pid in the sandbox; with a tty the pty master
 * attached) or KN_VM_ERROR (why not) and closes; after STARTED, KN_VM_EXIT
 * (exit code, 128+signal when killed) once the command has exited, and
 * closes. The session waits for its request at most KN_NS_SESSION_REQ_MS.
 *
 * Contract: kn_ns_session never returns. The command starts as
 * kn_command_exec says (command.h), restricted by `landlock_fd` (-1: no
 * Landlock on this kernel); its parent is the session process, which has
 * every signal blocked (init's forwarded ones go to the command, not to it). */
#ifndef KENNEL_INIT_NS_SESSION_H
#define KENNEL_INIT_NS_SESSION_H

#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

/* kenneld writes the request right after connecting: this only bounds a
 * session whose peer went away. */
#define KN_NS_SESSION_REQ_MS 5000
/* In the sandbox's folder in the state dir. */
#define KN_NS_EXEC_SOCKET "exec.sock"

/* The socket's address for binding (the sandbox's first process) and
 * connecting (kenneld), given an fd of the sandbox's folder: by a
 * /proc/self/fd path, as a folder's path may be longer than sun_path. */
static inline struct sockaddr_un kn_ns_exec_addr(int dir_fd)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "/proc/self/fd/%d/%s", dir_fd, KN_NS_EXEC_SOCKET);
	return a;
}

void kn_ns_session(int sock, int landlock_fd) __attribute__((noreturn));

#endif
