#define _GNU_SOURCE
#include "daemon/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "common/fsutil.h"
#include "common/http.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/api.h"
#include "daemon/manager.h"
#include "daemon/proxy_sup.h"

enum ev_kind { EV_LISTEN, EV_SIGNAL, EV_CONN, EV_EXEC };

struct ev {
	enum ev_kind kind;
	int fd;
};

struct conn {
	struct ev ev;
	char *buf;
	size_t len, cap;
	time_t started;
	size_t drained; /* refused: bytes read and dropped since (see server.h) */
	int refused;
	struct conn *prev, *next;
};

struct exec_sess {
	struct ev ev;        /* fd: the helper's pidfd, or init's session socket */
	int is_session;
	int client;          /* -1 when detached or gone */
	struct exec_sess *next;
};

struct server {
	int epfd;
	struct kn_store *st;
	struct conn *conns;
	size_t n_conns;
	struct exec_sess *execs;
	struct ev listen_ev, signal_ev;
	int stopping;
};

int kn_server_listen(const char *path, const char *group, kn_error *err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return kn_fail(err, "socket path too long: %s", path);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (kn_mkdir_p(dir, 0755, err) < 0)
			return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return kn_fail_errno(err, "socket AF_UNIX");
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		close(fd);
		return kn_fail(err, "another kenneld is already listening on %s", path);
	}
	unlink(path);
	/* Bind with a umask so the socket is never briefly open to everyone. */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc < 0) {
		kn_fail_errno(err, "bind %s", path);
		close(fd);
		return -1;
	}
	struct group *gr = getgrnam(group);
	gid_t gid = gr ? gr->gr_gid : 0;
	if (!gr)
		log_warn("group %s does not exist; %s is for root only", group, path);
	if (chown(path, 0, gid) < 0 || chmod(path, 0660) < 0) {
		kn_fail_errno(err, "chown/chmod %s", path);
		close(fd);
		return -1;
	}
	if (listen(fd, 128) < 0) {
		kn_fail_errno(err, "listen %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if (poll(&pfd, 1, KN_API_WRITE_TIMEOUT_MS) <= 0)
				return -1;
			continue;
		}
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void conn_close(struct server *s, struct conn *c)
{
	if (c->ev.fd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->ev.fd, NULL);
		close(c->ev.fd);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	/* A request may carry a secret (PUT /secrets): nothing of it outlives
	 * the connection. */
	kn_wipe_free(c->buf);
	free(c);
}

/* Detach the client fd from the connection record without closing it. */
static int conn_take_fd(struct server *s, struct conn *c)
{
	int fd = c->ev.fd;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
	c->ev.fd = -1;
	conn_close(s, c);
	return fd;
}

static void send_simple(int fd, int status, const char *body)
{
	char head[256];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, http_status_text(status), blen + 1);
	if (write_all(fd, head, (size_t)n) == 0 && body)
		if (write_all(fd, body, blen) == 0)
			write_all(fd, "\n", 1);
}

static void send_error(int fd, int status, const char *msg)
{
	_cleanup_free_ char *body = kn_api_error_body(msg);
	send_simple(fd, status, body);
}

static void start_exec_stream(struct server *s, int fd, struct kn_api_response *r)
{
	char msg[4096];
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/x-kennel-exec\r\n"
			 "Connection: close\r\n\r\n%s\n",
			 r->body);
	kn_error err;
	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    kn_send_fds(fd, msg, (size_t)n, r->fds, r->n_fds, &err) < 0) {
		log_warn("exec: could not hand the process to the client; it continues detached");
		close(fd);
		fd = -1;
	}
	for (size_t i = 0; i < r->n_fds; i++)
		close(r->fds[i]);
	struct exec_sess *e = calloc(1, sizeof(*e));
	if (!e) {
		log_error("out of memory tracking exec; the process runs unobserved");
		close(r->helper_pidfd);
		if (fd >= 0)
			close(fd);
		return;
	}
	e->ev.kind = EV_EXEC;
	e->ev.fd = r->helper_pidfd;
	e->is_session = r->is_session;
	e->client = fd;
	e->next = s->execs;
	s->execs = e;
	struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &e->ev};
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, e->ev.fd, &ee);
}

/* A detached process is an exec session without a client: only reaped. */
static void track_detached(struct server *s, int pidfd, int is_session)
{
	struct exec_sess *e = calloc(1, sizeof(*e));
	if (!e) {
		close(pidfd);
		return;
	}
	e->ev.kind = EV_EXEC;
	e->ev.fd = pidfd;
	e->is_session = is_session;
	e->client = -1;
	e->next = s->execs;
	s->execs = e;
	struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &e->ev};
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, pidfd, &ee);
}

static void exec_finished(struct server *s, struct exec_sess *e)
{
	int code = kn_exec_exit_code(e->ev.fd, e->is_session);
	if (e->client >= 0) {
		char line[64];
		int n = snprintf(line, sizeof(line), "{\"event\":\"exit\",\"exit_code\":%d}\n", code);
		write_all(e->client, line, (size_t)n);
		close(e->client);
	}
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, e->ev.fd, NULL);
	close(e->ev.fd);
	for (struct exec_sess **p = &s->execs; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			break;
		}
	free(e);
}

/* Init pidfds are registered with data.u64 = INIT_TAG | fd, the proxy's pidfd
 * with PROXY_TAG, its control socket with PROXY_CTL_TAG; everything else with
 * a pointer to a struct ev. User-space pointers never have bit 63 set. */
#define INIT_TAG (1ULL << 63)
#define PROXY_TAG ((1ULL << 63) | (1ULL << 62))
#define PROXY_CTL_TAG ((1ULL << 63) | (1ULL << 61))

static void watch_proxy(struct server *s)
{
	struct kn_proxy_sup *ps = s->st->proxy;
	if (!ps || ps->pidfd < 0)
		return;
	struct epoll_event ee = {.events = EPOLLIN, .data.u64 = PROXY_TAG | (uint64_t)ps->pidfd};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, ps->pidfd, &ee) < 0 && errno != EEXIST)
		log_warn("epoll_ctl kennel-proxy pidfd: %s", strerror(errno));
	/* Its answers to messages not waited for (proxy_sup.h). */
	ee.data.u64 = PROXY_CTL_TAG | (uint64_t)ps->ctl;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, ps->ctl, &ee) < 0 && errno != EEXIST)
		log_warn("epoll_ctl kennel-proxy control socket: %s", strerror(errno));
}

static void watch_inits(struct server *s)
{
	for (struct kn_sandbox *sb = s->st->list; sb; sb = sb->next) {
		if (sb->init_pidfd < 0)
			continue;
		struct epoll_event ee = {.events = EPOLLIN, .data.u64 = INIT_TAG | (uint64_t)sb->init_pidfd};
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, sb->init_pidfd, &ee) < 0 && errno != EEXIST)
			log_warn("epoll_ctl init pidfd of %s: %s", sb->name, strerror(errno));
	}
}

static void handle_request(struct server *s, struct conn *c, const struct http_request *req,
			   const char *body, size_t body_len)
{
	struct ucred cred = {.uid = (uid_t)-1, .gid = (gid_t)-1}; /* unknown = refused */
	socklen_t cl = sizeof(cred);
	getsockopt(c->ev.fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
	log_debug("api: uid %u %s %.*s", (unsigned)cred.uid, req->method, (int)req->target_len,
		  req->target);
	struct kn_api_response r;
	/* A sandbox's processes have host uids in kennel's ranges: should one ever
	 * reach the socket, it gets nothing. */
	if (cred.uid >= KN_UID_BASE_START || cred.gid >= KN_UID_BASE_START) {
		int fd = conn_take_fd(s, c);
		log_warn("api: refused a request from uid %u (a sandbox's uid range)", (unsigned)cred.uid);
		send_error(fd, 403, "requests from inside a sandbox are refused");
		close(fd);
		return;
	}
	kn_api_handle(s->st, req, body, body_len, &r);
	int fd = conn_take_fd(s, c);
	if (r.is_exec_stream) {
		start_exec_stream(s, fd, &r);
	} else {
		send_simple(fd, r.status, r.body);
		close(fd);
		if (r.reap_pidfd >= 0)
			track_detached(s, r.reap_pidfd, r.is_session);
	}
	free(r.body);
	watch_inits(s);
}

/* Answers a request that will not be read whole, then drains (server.h). */
static void conn_refuse(struct server *s, struct conn *c, int status, const char *msg)
{
	send_error(c->ev.fd, status, msg);
	if (shutdown(c->ev.fd, SHUT_WR) < 0) {
		conn_close(s, c);
		return;
	}
	c->refused = 1;
	kn_wipe_free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}

static void conn_drain(struct server *s, struct conn *c)
{
	char scratch[16384];
	for (;;) {
		ssize_t n = recv(c->ev.fd, scratch, sizeof(scratch), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		c->drained += n > 0 ? (size_t)n : 0;
		if (n <= 0 || c->drained > KN_API_DRAIN_MAX) {
			conn_close(s, c);
			return;
		}
	}
}

static void conn_readable(struct server *s, struct conn *c)
{
	if (c->refused) {
		conn_drain(s, c);
		return;
	}
	for (;;) {
		if (c->len == c->cap) {
			size_t limit = HTTP_MAX_HEAD + KN_API_MAX_BODY;
			if (c->cap >= limit) {
				conn_refuse(s, c, 413, "request too large");
				return;
			}
			size_t ncap = c->cap ? c->cap * 2 : 4096;
			if (ncap > limit)
				ncap = limit;
			/* Not realloc: the old block is wiped before it is freed. */
			char *nb = malloc(ncap);
			if (!nb) {
				conn_close(s, c);
				return;
			}
			if (c->len)
				memcpy(nb, c->buf, c->len);
			kn_wipe_free(c->buf);
			c->buf = nb;
			c->cap = ncap;
		}
		ssize_t n = recv(c->ev.fd, c->buf + c->len, c->cap - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_close(s, c);
			return;
		}
		c->len += (size_t)n;
	}
	struct http_request req;
	const char *reason = NULL;
	ssize_t head = http_parse_request_head(c->buf, c->len, &req, &reason);
	if (head < 0) {
		log_info("api: bad request: %s", reason);
		char msg[256];
		snprintf(msg, sizeof(msg), "bad request: %s", reason);
		conn_refuse(s, c, 400, msg);
		return;
	}
	if (head == 0)
		return;
	if (req.chunked) {
		conn_refuse(s, c, 411, "send the body with Content-Length");
		return;
	}
	size_t body_len = req.content_length > 0 ? (size_t)req.content_length : 0;
	if (body_len > KN_API_MAX_BODY) {
		conn_refuse(s, c, 413, "request body larger than 1 MiB");
		return;
	}
	if (c->len - (size_t)head < body_len)
		return;
	handle_request(s, c, &req, c->buf + head, body_len);
}

static void accept_all(struct server *s, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (s->n_conns >= KN_API_MAX_CONNS) {
			send_error(fd, 503, "too many connections");
			close(fd);
			continue;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->ev.kind = EV_CONN;
		c->ev.fd = fd;
		c->started = time(NULL);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->n_conns++;
		struct epoll_event ee = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &c->ev};
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ee);
	}
}

static void drop_slow_clients(struct server *s)
{
	time_t now = time(NULL);
	for (struct conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (now - c->started >= KN_API_READ_TIMEOUT_S) {
			if (!c->refused)
				send_error(c->ev.fd, 408, "request not received in time");
			conn_close(s, c);
		}
	}
}

static struct kn_sandbox *init_by_fd(struct server *s, int fd)
{
	for (struct kn_sandbox *sb = s->st->list; sb; sb = sb->next)
		if (sb->init_pidfd == fd)
			return sb;
	return NULL;
}

int kn_server_run(struct kn_store *st, int listen_fd, kn_error *err)
{
	struct server s = {.st = st};
	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s.epfd < 0)
		return kn_fail_errno(err, "epoll_create1");
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return kn_fail_errno(err, "signalfd");
	s.listen_ev = (struct ev){EV_LISTEN, listen_fd};
	s.signal_ev = (struct ev){EV_SIGNAL, sfd};
	struct epoll_event ee = {.events = EPOLLIN, .data.ptr = &s.listen_ev};
	epoll_ctl(s.epfd, EPOLL_CTL_ADD, listen_fd, &ee);
	ee.data.ptr = &s.signal_ev;
	epoll_ctl(s.epfd, EPOLL_CTL_ADD, sfd, &ee);
	watch_inits(&s);
	watch_proxy(&s);
	log_info("kenneld ready");
	int idling = 0; /* the last wake-up did a piece of idle work */
	while (!s.stopping) {
		struct epoll_event evs[64];
		/* Without idle work due the loop wakes only for the proxy's and
		 * the slow clients' timers. Once quiet, the pieces of idle work
		 * follow each other, each after a look for events. */
		int wait_ms = !kn_mgr_idle_due(st) ? 1000 : idling ? 0 : KN_IDLE_AFTER_MS;
		int n = epoll_wait(s.epfd, evs, 64, wait_ms);
		if (n < 0 && errno != EINTR)
			return kn_fail_errno(err, "epoll_wait");
		idling = n == 0;
		if (n == 0)
			kn_mgr_idle(st);
		for (int i = 0; i < n; i++) {
			if ((evs[i].data.u64 & PROXY_TAG) == PROXY_TAG) {
				int fd = (int)(evs[i].data.u64 & ~PROXY_TAG);
				epoll_ctl(s.epfd, EPOLL_CTL_DEL, fd, NULL);
				if (st->proxy && st->proxy->pidfd == fd)
					kn_proxy_on_exit(st->proxy);
				continue;
			}
			if ((evs[i].data.u64 & PROXY_CTL_TAG) == PROXY_CTL_TAG) {
				/* A stale event of a closed socket finds nothing owed. */
				if (st->proxy && st->proxy->ctl == (int)(evs[i].data.u64 & ~PROXY_CTL_TAG))
					kn_proxy_collect(st->proxy);
				continue;
			}
			if (evs[i].data.u64 & INIT_TAG) {
				int fd = (int)(evs[i].data.u64 & ~INIT_TAG);
				struct kn_sandbox *sb = init_by_fd(&s, fd);
				epoll_ctl(s.epfd, EPOLL_CTL_DEL, fd, NULL);
				if (sb)
					kn_mgr_on_init_exit(st, sb);
				continue;
			}
			struct ev *e = evs[i].data.ptr;
			switch (e->kind) {
			case EV_LISTEN:
				accept_all(&s, listen_fd);
				break;
			case EV_SIGNAL: {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == sizeof(si))
					if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
						s.stopping = 1;
				break;
			}
			case EV_CONN:
				conn_readable(&s, (struct conn *)e);
				break;
			case EV_EXEC:
				exec_finished(&s, (struct exec_sess *)e);
				break;
			}
		}
		drop_slow_clients(&s);
		/* The answers are out: the sandboxes they started go to the proxy. */
		kn_mgr_connect_pending(st);
		if (st->proxy) {
			kn_proxy_tick(st->proxy, st);
			watch_proxy(&s);
		}
	}
	log_info("kenneld stopping; sandboxes keep running and are adopted on restart");
	close(sfd);
	close(s.epfd);
	return 0;
}
