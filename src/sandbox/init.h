/* init.h — PID 1 of a sandbox.
 *
 * Contract: kn_init_run never returns. It reaps every zombie re-parented to it
 * and forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to every
 * other process of the sandbox (kill(-1, sig)), so a graceful stop reaches the
 * agent. It holds no fd to the host and runs our code only; it ends when the
 * daemon kills the sandbox's cgroup.
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

void kn_init_run(void) __attribute__((noreturn));
void kn_init_run_spawn(char *const argv[]) __attribute__((noreturn));

#endif
