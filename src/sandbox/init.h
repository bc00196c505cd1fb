/* init.h — PID 1 of a sandbox.
 *
 * Contract: kn_init_run never returns. It reaps every zombie re-parented to it
 * and forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to every
 * other process of the sandbox (kill(-1, sig)), so a graceful stop reaches the
 * agent. When KN_INIT_FD_EXEC is open it is the listening socket of the
 * sandbox's exec sessions (init/ns_session.h): for each connection init forks
 * a process that runs serve_exec(connection, KN_INIT_FD_LANDLOCK or -1) with
 * every other fd closed. It runs our code only, and holds no fd to the host
 * but that listener, whose socket file lies in the sandbox's folder (out of
 * the sandbox's sight); it ends when the daemon kills the sandbox's cgroup.
 *
 * kn_init_run_spawn is the same PID 1 with a payload: it forks and executes
 * argv (a vm sandbox's QEMU) and serves as above until that process exits; then
 * it kills what is left in the sandbox and exits with the payload's status, so
 * the sandbox ends when its payload does. */
#ifndef KENNEL_INIT_H
#define KENNEL_INIT_H

/* The program (src/init/main.c, static) that kn_ns_start executes as PID 1;
 * it lives next to kenneld. */
#define KN_INIT_ARGV0 "kennel-init"

/* init's fds besides the proxy listeners (netns.h): the exec listener and the
 * Landlock ruleset of the sandbox's commands (absent without Landlock). */
#define KN_INIT_FD_EXEC 8
#define KN_INIT_FD_LANDLOCK 9

typedef void kn_init_exec_fn(int conn, int landlock_fd);
void kn_init_run(kn_init_exec_fn *serve_exec) __attribute__((noreturn));
void kn_init_run_spawn(char *const argv[]) __attribute__((noreturn));

#endif
