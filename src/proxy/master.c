/* master.c — control channel, workers and the decision log (contract:
 * master.h). The master is single-threaded and uses poll(2): it watches one
 * control socket and two sockets per worker, and blocks on purpose while a
 * message is fanned out, so that answers keep the order of the messages. */
#define _GNU_SOURCE
#include "proxy/master.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/fdpass.h"
#include "common/wipe.h"
#include "common/log.h"
#include "proxy/control.h"
#include "proxy/limits.h"
#include "proxy/loop.h"
#include "proxy/mint.h"
#include "proxy/tls.h"
#include "proxy/worker.h"

struct worker_proc {
	pid_t pid;
	int cmd_fd; /* master end: commands out, replies in */
	int log_fd; /* master end: decision lines in */
};

struct sandbox_entry {
	bool used;
	char name[KP_SANDBOX_NAME_MAX + 1];
	struct kn_policy policy;
	char *ca_cert, *ca_key; /* PEM or NULL (no interception) */
	int fds[2];
	size_t nfds;
};

struct master {
	const struct kp_options *opt;
	const struct kp_hosts *hosts;
	struct kp_tls *tls;
	struct kp_log *log;
	int control_fd;
	pid_t pid;
	int nworkers;
	struct worker_proc workers[KP_MAX_WORKERS];
	uint32_t *counts;
	struct sandbox_entry sandboxes[KP_MAX_SANDBOXES];
	struct kp_secrets *secrets; /* the credential table, or NULL */
	uint64_t respawns[KP_RESPAWN_MAX];
	size_t nrespawns;
};

static void fatal(const char *what) __attribute__((noreturn));
static void fatal(const char *what)
{
	log_error("%s: exiting", what);
	exit(1);
}

/* ---- decision lines ---- */

/* Up to `max_batches` messages of decision lines (KP_LOG_BATCH_MAX each,
 * sent by kp_worker_log_line) into the file. */
static void drain_log(struct master *m, int i, size_t max_batches)
{
	static char batch[KP_LOG_BATCH_MAX + 1];
	kn_error err;

	for (size_t n = 0; n < max_batches; n++) {
		ssize_t len = recv(m->workers[i].log_fd, batch, sizeof(batch), MSG_DONTWAIT);
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			return;
		if (kp_log_append(m->log, batch, (size_t)len, &err) < 0)
			log_error("decision lines from worker %d: %s", i, err.msg);
	}
}

/* ---- workers ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* In the new child: keep only what a worker needs. */
static void child_close_inherited(struct master *m, int self)
{
	close(m->control_fd);
	if (m->log->fd >= 0)
		close(m->log->fd);
	for (int j = 0; j < m->nworkers; j++) {
		if (j == self)
			continue;
		if (m->workers[j].cmd_fd >= 0)
			close(m->workers[j].cmd_fd);
		if (m->workers[j].log_fd >= 0)
			close(m->workers[j].log_fd);
	}
	for (size_t s = 0; s < KP_MAX_SANDBOXES; s++)
		for (size_t k = 0; m->sandboxes[s].used && k < m->sandboxes[s].nfds; k++)
			close(m->sandboxes[s].fds[k]);
}

static int spawn(struct master *m, int i, kn_error *err)
{
	int cmd[2], logp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cmd) < 0)
		return kn_fail_errno(err, "socketpair for worker %d", i);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, logp) < 0) {
		close(cmd[0]);
		close(cmd[1]);
		return kn_fail_errno(err, "socketpair for worker %d", i);
	}
	/* Room for bursts of decision lines while the master is busy. */
	int sndbuf = 4 * 1024 * 1024;
	setsockopt(logp[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		close(cmd[0]);
		close(cmd[1]);
		close(logp[0]);
		close(logp[1]);
		errno = saved;
		return kn_fail_errno(err, "fork worker %d", i);
	}
	if (pid == 0) {
		/* A worker must not outlive the master that answers for it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != m->pid)
			_exit(0);
		child_close_inherited(m, i);
		close(cmd[0]);
		close(logp[0]);
		kp_worker_main(m->opt, m->hosts, m->tls, i, m->nworkers, m->counts, cmd[1], logp[1]);
	}
	close(cmd[1]);
	close(logp[1]);
	m->workers[i] = (struct worker_proc){ .pid = pid, .cmd_fd = cmd[0], .log_fd = logp[0] };
	log_debug("worker %d started (pid %d)", i, (int)pid);
	return 0;
}

/* Wait for one worker's answer to the message just sent, until `deadline`
 * (kp_clock_ms): one deadline for all workers, so that stuck workers do not
 * add up their timeouts. */
static int wait_reply(struct master *m, int i, uint64_t deadline, kn_error *err)
{
	struct pollfd p = { .fd = m->workers[i].cmd_fd, .events = POLLIN };
	char buf[1024];
	uint64_t now = kp_clock_ms();

	int n = poll(&p, 1, deadline > now ? (int)(deadline - now) : 0);
	if (n < 0)
		return kn_fail_errno(err, "poll worker %d", i);
	if (n == 0)
		return kn_fail(err, "worker %d did not answer within %d ms", i,
			       KP_WORKER_REPLY_TIMEOUT_MS);
	ssize_t len = recv(p.fd, buf, sizeof(buf) - 1, 0);
	if (len < 0)
		return kn_fail_errno(err, "recv from worker %d", i);
	if (len == 0)
		return kn_fail(err, "worker %d went away", i);
	buf[len] = '\0';
	if (strcmp(buf, "{\"ok\": true}") != 0 && strcmp(buf, "{\"ok\":true}") != 0)
		return kn_fail(err, "worker %d refused: %s", i, buf);
	return 0;
}

static int send_command(struct master *m, int i, const struct kp_command *cmd, const int *fds,
			size_t nfds, kn_error *err)
{
	char *text = kp_command_for_worker(cmd, cmd->slot);
	if (!text)
		return kn_fail(err, "out of memory");
	size_t len = strlen(text);
	ssize_t n = kn_send_fds(m->workers[i].cmd_fd, text, len, fds, nfds, err);
	OPENSSL_cleanse(text, len); /* it may hold a CA key or secret values */
	free(text);
	return n < 0 ? kn_fail_prefix(err, "worker %d", i) : 0;
}

static int send_sandbox(struct master *m, int i, int slot, enum kp_op op, kn_error *err)
{
	struct kp_command cmd = { .op = op, .slot = slot };

	if (op == KP_OP_SECRETS) {
		cmd.secrets = m->secrets; /* borrowed */
		return send_command(m, i, &cmd, NULL, 0, err);
	}
	struct sandbox_entry *e = &m->sandboxes[slot];
	snprintf(cmd.name, sizeof(cmd.name), "%s", e->name);
	if (op != KP_OP_REMOVE) {
		cmd.has_policy = true;
		cmd.policy = e->policy; /* borrowed */
	}
	if (op == KP_OP_SANDBOX) {
		cmd.ca_cert = e->ca_cert; /* borrowed */
		cmd.ca_key = e->ca_key;
	}
	return send_command(m, i, &cmd, op == KP_OP_SANDBOX ? e->fds : NULL,
			    op == KP_OP_SANDBOX ? e->nfds : 0, err);
}

static int replay(struct master *m, int i, kn_error *err)
{
	for (int s = 0; s < KP_MAX_SANDBOXES; s++) {
		if (!m->sandboxes[s].used)
			continue;
		if (send_sandbox(m, i, s, KP_OP_SANDBOX, err) < 0 ||
		    wait_reply(m, i, kp_clock_ms() + KP_WORKER_REPLY_TIMEOUT_MS, err) < 0)
			return -1;
	}
	if (m->secrets && (send_sandbox(m, i, -1, KP_OP_SECRETS, err) < 0 ||
			   wait_reply(m, i, kp_clock_ms() + KP_WORKER_REPLY_TIMEOUT_MS, err) < 0))
		return -1;
	return 0;
}

static void reap(struct master *m, int i)
{
	struct worker_proc *wp = &m->workers[i];
	int status = 0;

	if (wp->pid > 0) {
		kill(wp->pid, SIGKILL);
		while (waitpid(wp->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
			log_error("worker %d (pid %d) died of signal %d", i, (int)wp->pid,
				  WTERMSIG(status));
		else if (WIFEXITED(status))
			log_error("worker %d (pid %d) exited with status %d", i, (int)wp->pid,
				  WEXITSTATUS(status));
	}
	drain_log(m, i, SIZE_MAX);
	close_fd(&wp->cmd_fd);
	close_fd(&wp->log_fd);
	wp->pid = 0;
	/* Its connections died with it. */
	for (size_t s = 0; s < KP_MAX_SANDBOXES; s++)
		__atomic_store_n(&m->counts[(size_t)i * KP_MAX_SANDBOXES + s], 0, __ATOMIC_RELAXED);
}

/* Replace worker i; exits the master when that cannot be done or happens
 * too often. */
static void respawn(struct master *m, int i, const char *why)
{
	uint64_t now = kp_clock_ms();
	kn_error err;

	log_error("replacing worker %d: %s", i, why);
	size_t recent = 0;
	for (size_t k = 0; k < m->nrespawns; k++)
		if (now - m->respawns[k] < KP_RESPAWN_WINDOW_MS)
			m->respawns[recent++] = m->respawns[k];
	m->nrespawns = recent;
	if (m->nrespawns == KP_RESPAWN_MAX)
		fatal("workers keep dying");
	m->respawns[m->nrespawns++] = now;

	reap(m, i);
	if (spawn(m, i, &err) < 0 || replay(m, i, &err) < 0) {
		log_error("%s", err.msg);
		fatal("cannot replace a worker");
	}
}

/* Send one message to every worker and collect the answers; a worker that
 * fails is replaced (and gets the master's table, which already holds the
 * change). */
static void fan_out(struct master *m, int slot, enum kp_op op)
{
	bool failed[KP_MAX_WORKERS] = { false };
	kn_error errs[KP_MAX_WORKERS];

	for (int i = 0; i < m->nworkers; i++)
		failed[i] = send_sandbox(m, i, slot, op, &errs[i]) < 0;
	uint64_t deadline = kp_clock_ms() + KP_WORKER_REPLY_TIMEOUT_MS;
	for (int i = 0; i < m->nworkers; i++)
		if (!failed[i])
			failed[i] = wait_reply(m, i, deadline, &errs[i]) < 0;
	for (int i = 0; i < m->nworkers; i++)
		if (failed[i])
			respawn(m, i, errs[i].msg);
}

/* ---- the master's sandbox table ---- */

static int find_slot(struct master *m, const char *name)
{
	for (int s = 0; s < KP_MAX_SANDBOXES; s++)
		if (m->sandboxes[s].used && strcmp(m->sandboxes[s].name, name) == 0)
			return s;
	return -1;
}

static int free_slot(struct master *m)
{
	for (int s = 0; s < KP_MAX_SANDBOXES; s++) {
		if (m->sandboxes[s].used)
			continue;
		bool busy = false;
		for (int i = 0; i < m->nworkers && !busy; i++)
			busy = __atomic_load_n(&m->counts[(size_t)i * KP_MAX_SANDBOXES + (size_t)s],
					       __ATOMIC_RELAXED) != 0;
		if (!busy)
			return s;
	}
	return -1;
}

static void entry_ca_free(struct sandbox_entry *e)
{
	free(e->ca_cert);
	kn_wipe_free(e->ca_key);
	e->ca_cert = e->ca_key = NULL;
}

static void entry_clear(struct sandbox_entry *e)
{
	for (size_t k = 0; k < e->nfds; k++)
		close(e->fds[k]);
	e->nfds = 0;
	kn_policy_free(&e->policy);
	entry_ca_free(e);
	e->used = false;
}

/* Apply a validated command to the table and the workers. Takes the fds
 * (sets them to -1). */
static int apply(struct master *m, struct kp_command *cmd, int *fds, size_t n_fds, kn_error *err)
{
	int slot = find_slot(m, cmd->name);

	switch (cmd->op) {
	case KP_OP_SANDBOX: {
		if (slot < 0) {
			slot = free_slot(m);
			if (slot < 0)
				return kn_fail(err, "too many sandboxes (at most %d)", KP_MAX_SANDBOXES);
			struct sandbox_entry *e = &m->sandboxes[slot];
			*e = (struct sandbox_entry){ .used = true };
			snprintf(e->name, sizeof(e->name), "%s", cmd->name);
		} else {
			struct sandbox_entry *e = &m->sandboxes[slot];
			for (size_t k = 0; k < e->nfds; k++)
				close(e->fds[k]);
			kn_policy_free(&e->policy);
			entry_ca_free(e);
		}
		struct sandbox_entry *e = &m->sandboxes[slot];
		e->policy = cmd->policy;
		cmd->has_policy = false;
		e->ca_cert = cmd->ca_cert;
		e->ca_key = cmd->ca_key;
		cmd->ca_cert = cmd->ca_key = NULL;
		e->nfds = n_fds;
		for (size_t k = 0; k < n_fds; k++) {
			e->fds[k] = fds[k];
			fds[k] = -1;
		}
		fan_out(m, slot, KP_OP_SANDBOX);
		return 0;
	}
	case KP_OP_POLICY: {
		if (slot < 0)
			return kn_fail(err, "no sandbox named \"%s\"", cmd->name);
		struct sandbox_entry *e = &m->sandboxes[slot];
		kn_policy_free(&e->policy);
		e->policy = cmd->policy;
		cmd->has_policy = false;
		fan_out(m, slot, KP_OP_POLICY);
		return 0;
	}
	case KP_OP_SECRETS:
		kp_secrets_free(m->secrets);
		m->secrets = cmd->secrets;
		cmd->secrets = NULL;
		fan_out(m, -1, KP_OP_SECRETS);
		return 0;
	case KP_OP_REMOVE:
		if (slot < 0)
			return kn_fail(err, "no sandbox named \"%s\"", cmd->name);
		/* The workers are told while the entry still exists (the message
		 * is built from it); a worker replaced meanwhile gets the table
		 * without it. */
		m->sandboxes[slot].used = false;
		fan_out(m, slot, KP_OP_REMOVE);
		m->sandboxes[slot].used = true;
		entry_clear(&m->sandboxes[slot]);
		return 0;
	}
	return kn_fail(err, "unknown op");
}

static int validate_fds(const int *fds, size_t n_fds, kn_error *err)
{
	for (size_t k = 0; k < n_fds; k++) {
		if (kp_check_listener(fds[k], err) < 0)
			return -1;
		int fl = fcntl(fds[k], F_GETFL);
		/* Workers share each listener; accept must never block. */
		if (fl < 0 || fcntl(fds[k], F_SETFL, fl | O_NONBLOCK) < 0)
			return kn_fail_errno(err, "fcntl O_NONBLOCK on a listening socket");
		/* Accepted connections inherit it: no setsockopt per connection.
		 * (Small requests and responses must not wait for Nagle.) */
		int one = 1;
		if (setsockopt(fds[k], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			return kn_fail_errno(err, "setsockopt TCP_NODELAY on a listening socket");
	}
	return 0;
}

/* A CA the workers would refuse must be refused here, where kenneld hears of
 * it: workers parse a CA only at its first interception (tls.h), where a bad
 * one could only fail connections. */
static int check_ca(const struct kp_command *cmd, kn_error *err)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	if (kp_ca_parse(cmd->ca_cert, strlen(cmd->ca_cert), cmd->ca_key, strlen(cmd->ca_key), &cert,
			&key, err) < 0)
		return kn_fail_prefix(err, "ca");
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}

static void answer(struct master *m, bool ok, const char *error)
{
	char *text = kp_reply_text(ok, error);
	if (!text)
		fatal("out of memory");
	if (send(m->control_fd, text, strlen(text), MSG_NOSIGNAL) < 0)
		log_error("answer kenneld: %s", strerror(errno));
	free(text);
}

/* One control message. Returns false when the control socket has closed. */
static bool handle_control(struct master *m)
{
	static char buf[KP_CONTROL_MSG_MAX + 1];
	int fds[KN_MAX_PASS_FDS];
	size_t n_fds = 0;
	kn_error err;

	ssize_t n = kn_recv_fds(m->control_fd, buf, sizeof(buf), fds, KN_MAX_PASS_FDS, &n_fds, &err);
	if (n == 0)
		return false;
	int rc = -1;
	struct kp_command cmd = { 0 };
	if (n < 0) {
		if (err.errnum != 0 && err.errnum != EINTR)
			fatal(err.msg);
	} else if ((size_t)n > KP_CONTROL_MSG_MAX) {
		kn_fail(&err, "message larger than %d bytes", KP_CONTROL_MSG_MAX);
	} else if (kp_command_parse(buf, (size_t)n, n_fds, false, &cmd, &err) == 0) {
		OPENSSL_cleanse(buf, (size_t)n); /* it may hold a CA key */
		rc = cmd.op == KP_OP_SANDBOX ? validate_fds(fds, n_fds, &err) : 0;
		if (rc == 0 && cmd.ca_cert)
			rc = check_ca(&cmd, &err);
		if (rc == 0)
			rc = apply(m, &cmd, fds, n_fds, &err);
		kp_command_free(&cmd);
	}
	for (size_t k = 0; k < n_fds; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	if (rc < 0)
		log_warn("control message refused: %s", err.msg);
	else
		log_debug("control: %s \"%s\" applied", kp_op_name(cmd.op), cmd.name);
	answer(m, rc == 0, rc == 0 ? NULL : err.msg);
	return true;
}

/* ---- shutdown ---- */

static void shutdown_workers(struct master *m)
{
	for (int i = 0; i < m->nworkers; i++)
		close_fd(&m->workers[i].cmd_fd);
	uint64_t deadline = kp_clock_ms() + KP_SHUTDOWN_GRACE_MS;
	for (int i = 0; i < m->nworkers; i++) {
		struct worker_proc *wp = &m->workers[i];
		/* Bounded by the deadline: 1 ms naps, then SIGKILL. */
		while (wp->pid > 0) {
			pid_t r = waitpid(wp->pid, NULL, WNOHANG);
			if (r == wp->pid || (r < 0 && errno != EINTR))
				break;
			if (kp_clock_ms() >= deadline) {
				kill(wp->pid, SIGKILL);
				waitpid(wp->pid, NULL, 0);
				break;
			}
			struct timespec nap = { 0, 1000000 };
			nanosleep(&nap, NULL);
		}
		wp->pid = 0;
		drain_log(m, i, SIZE_MAX);
		close_fd(&wp->log_fd);
	}
}

/* ---- main loop ---- */

int kp_master_run(const struct kp_options *opt, const struct kp_hosts *hosts, struct kp_tls *tls,
		  struct kp_log *log)
{
	static struct master master;
	struct master *m = &master;
	kn_error err;

	m->opt = opt;
	m->hosts = hosts;
	m->tls = tls;
	m->log = log;
	m->control_fd = opt->control_fd;
	m->pid = getpid();
	m->nworkers = opt->workers;
	for (int i = 0; i < KP_MAX_WORKERS; i++)
		m->workers[i] = (struct worker_proc){ .pid = 0, .cmd_fd = -1, .log_fd = -1 };

	size_t counts_size = (size_t)m->nworkers * KP_MAX_SANDBOXES * sizeof(uint32_t);
	m->counts = mmap(NULL, counts_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m->counts == MAP_FAILED) {
		log_error("mmap the connection-count table: %s", strerror(errno));
		return 1;
	}
	for (int i = 0; i < m->nworkers; i++) {
		if (spawn(m, i, &err) < 0) {
			log_error("%s", err.msg);
			shutdown_workers(m);
			return 1;
		}
	}
	if (send(m->control_fd, kp_ready_message, strlen(kp_ready_message), MSG_NOSIGNAL) < 0) {
		log_error("send ready to kenneld: %s", strerror(errno));
		shutdown_workers(m);
		return 1;
	}
	log_info("ready: %d workers", m->nworkers);

	for (;;) {
		struct pollfd p[1 + 2 * KP_MAX_WORKERS];
		int n = 0;
		p[n++] = (struct pollfd){ .fd = m->control_fd, .events = POLLIN };
		for (int i = 0; i < m->nworkers; i++) {
			p[n++] = (struct pollfd){ .fd = m->workers[i].cmd_fd, .events = POLLIN };
			p[n++] = (struct pollfd){ .fd = m->workers[i].log_fd, .events = POLLIN };
		}
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		/* Lines first: what a worker has sent was decided before
		 * anything that follows. */
		for (int i = 0; i < m->nworkers; i++)
			if (p[2 + 2 * i].revents)
				drain_log(m, i, 64);
		for (int i = 0; i < m->nworkers; i++) {
			if (!p[1 + 2 * i].revents)
				continue;
			/* Workers speak only when spoken to: anything here is
			 * their death (EOF) or a protocol error. */
			char junk[256];
			ssize_t r = recv(m->workers[i].cmd_fd, junk, sizeof(junk), MSG_DONTWAIT);
			respawn(m, i, r == 0 ? "it exited" : "unexpected message");
		}
		if (p[0].revents && !handle_control(m)) {
			log_info("control socket closed: shutting down");
			break;
		}
	}
	shutdown_workers(m);
	return 0;
}
