/* mitm_client.c — the load generator of bench/mitm: keep-alive HTTPS GETs,
 * direct or through an HTTP proxy's CONNECT, timed per request.
 *
 * Usage: mitm_client ADDR:PORT HOST:PORT CAFILE CONNS REQUESTS [options]
 *   ADDR:PORT   the TCP address to connect to (an IPv4 literal): the proxy,
 *               or the server itself for a direct connection
 *   HOST:PORT   the origin: the CONNECT authority through a proxy, the TLS
 *               server name (SNI unless HOST is an IP literal) and the name
 *               the certificate is checked against, and the Host header
 *   CAFILE      the only CA trusted for the TLS session
 *   CONNS       client connections, one thread each
 *   REQUESTS    timed requests in all, split evenly over the connections
 * options:
 *   --proxy           ADDR:PORT is an HTTP proxy: send CONNECT HOST:PORT first
 *   --path P          the request path (default /small)
 *   --header "N: V"   one more request header (e.g. the key on a direct row)
 *   --warmup N        untimed requests per connection after the handshake
 *                     (default 20): first-use costs out of the timed part
 *   --expect-key      every response must say "x-bench-key: ok" (the upstream
 *                     saw the right x-api-key): exit 1 otherwise
 *   --sync            once every connection is ready, print "ready" and wait
 *                     for a line on stdin before starting the clock (the
 *                     caller samples other processes' CPU time there)
 * Each thread connects, CONNECTs once, handshakes once, runs its warm-up
 * requests, then waits at a barrier; the clock starts when all are there (and
 * --sync's line came), so set-up is not in the rate. Requests are sequential on each connection (the
 * next is sent once the previous response is complete), bodies are read by
 * Content-Length. Prints one JSON line:
 *   {"conns","requests","seconds","rps","lat_us":{"p50","p90","p99","max"},
 *    "setup_ms_max","key_ok","cpu_s"}
 * with seconds from the barrier to the last thread's last response, per
 * request latency from the first byte written to the last byte read, and
 * cpu_s the client's own user+system time (getrusage) from the start of the
 * clock until every connection is closed.
 * With --latencies FILE every timed latency (microseconds) is written there,
 * one per line. Exits 1 on any error, naming it: a failed run is not a
 * measurement. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Response heads from the bench's server or a proxy are a few hundred bytes. */
#define HEAD_MAX 16384
/* Bodies are read through this buffer and discarded. */
#define READ_BUF 65536
/* More threads than this on a 2-64 CPU machine measure the scheduler. */
#define CONNS_MAX 256
#define REQ_MAX 1024

struct opts {
	struct sockaddr_in addr;
	char host[256];
	char authority[300];
	const char *cafile;
	const char *path;
	const char *extra_header;
	const char *latencies;
	bool proxy, expect_key, host_is_ip, sync;
	int conns;
	long requests;
	long warmup;
};

struct worker {
	pthread_t thread;
	const struct opts *o;
	long n;           /* timed requests */
	uint32_t *lat_us; /* n latencies */
	double setup_ms;
	double end_s;     /* when its last response completed (monotonic) */
	long key_ok;
	char error[512];
};

static SSL_CTX *ctx;
/* Every connection set up; then the start of the timed part. */
static pthread_barrier_t ready, go;
static double start_s;
/* --sync got no start line: the connections skip their timed requests. */
static atomic_bool cancelled;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's user + system time so far, all threads. */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(void)
{
	fprintf(stderr, "usage: mitm_client ADDR:PORT HOST:PORT CAFILE CONNS REQUESTS [--proxy] "
			"[--path P] [--header 'N: V'] [--warmup N] [--expect-key] [--sync] "
			"[--latencies FILE]\n");
	exit(2);
}

static void fail(struct worker *w, const char *what)
{
	unsigned long e = ERR_get_error();
	char ssl_reason[256] = "";
	if (e)
		ERR_error_string_n(e, ssl_reason, sizeof(ssl_reason));
	snprintf(w->error, sizeof(w->error), "%s%s%s%s%s", what, errno ? ": " : "",
		 errno ? strerror(errno) : "", e ? ": " : "", ssl_reason);
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* CONNECT and its answer, read byte by byte so that nothing of the TLS
 * session is taken from the socket (the server speaks second anyway). */
static int connect_through(struct worker *w, int fd)
{
	char req[700], head[HEAD_MAX];
	int n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n",
			 w->o->authority, w->o->authority);
	if (send_all(fd, req, (size_t)n) < 0) {
		fail(w, "sending CONNECT");
		return -1;
	}
	size_t have = 0;
	while (have < 4 || memcmp(head + have - 4, "\r\n\r\n", 4) != 0) {
		if (have == sizeof(head) - 1) {
			errno = 0;
			fail(w, "CONNECT answer too long");
			return -1;
		}
		ssize_t r = recv(fd, head + have, 1, 0);
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			fail(w, "reading the CONNECT answer");
			return -1;
		}
		have++;
	}
	head[have] = 0;
	if (strncmp(head, "HTTP/1.1 200", 12) != 0 && strncmp(head, "HTTP/1.0 200", 12) != 0) {
		errno = 0;
		char *eol = strstr(head, "\r\n");
		if (eol)
			*eol = 0;
		snprintf(w->error, sizeof(w->error), "CONNECT refused: %.200s", head);
		return -1;
	}
	return 0;
}

/* One request and its whole response; 0, or -1 with w->error set. */
static int exchange(struct worker *w, SSL *ssl, const char *req, size_t req_len, char *buf,
		    bool *key_ok)
{
	int r;
	ERR_clear_error();
	if ((r = SSL_write(ssl, req, (int)req_len)) != (int)req_len) {
		errno = 0;
		fail(w, "SSL_write");
		return -1;
	}
	size_t have = 0;
	char *end;
	for (;;) {
		if (have && (end = memmem(buf, have, "\r\n\r\n", 4)))
			break;
		if (have == HEAD_MAX) {
			errno = 0;
			fail(w, "response head too long");
			return -1;
		}
		r = SSL_read(ssl, buf + have, (int)(HEAD_MAX - have));
		if (r <= 0) {
			errno = 0;
			fail(w, "connection closed before a response head");
			return -1;
		}
		have += (size_t)r;
	}
	size_t head_len = (size_t)(end - buf) + 4;
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0) {
		char *eol = memchr(buf, '\r', head_len);
		snprintf(w->error, sizeof(w->error), "response: %.*s",
			 (int)(eol ? eol - buf : 60), buf);
		return -1;
	}
	long clen = -1;
	*key_ok = false;
	for (char *p = strstr(buf, "\r\n") + 2; p < end; p = strstr(p, "\r\n") + 2) {
		if (strncasecmp(p, "content-length:", 15) == 0)
			clen = strtol(p + 15, NULL, 10);
		else if (strncasecmp(p, "x-bench-key: ok\r", 16) == 0)
			*key_ok = true;
		else if (strncasecmp(p, "connection: close\r", 18) == 0) {
			snprintf(w->error, sizeof(w->error), "the server closes the connection");
			return -1;
		}
	}
	if (clen < 0) {
		snprintf(w->error, sizeof(w->error), "response without Content-Length");
		return -1;
	}
	size_t body = have - head_len;
	if (body > (size_t)clen) {
		snprintf(w->error, sizeof(w->error), "more bytes than Content-Length");
		return -1;
	}
	while (body < (size_t)clen) {
		size_t want = (size_t)clen - body;
		r = SSL_read(ssl, buf, (int)(want < READ_BUF ? want : READ_BUF));
		if (r <= 0) {
			errno = 0;
			fail(w, "connection closed inside a body");
			return -1;
		}
		body += (size_t)r;
	}
	return 0;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	int fd = -1;
	SSL *ssl = NULL;
	char req[REQ_MAX];
	char *buf = malloc(READ_BUF > HEAD_MAX ? READ_BUF : HEAD_MAX);
	bool arrived = false;

	int req_len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mitm_client\r\nAccept: */*\r\n%s%s\r\n",
			       o->path, o->authority, o->extra_header ? o->extra_header : "",
			       o->extra_header ? "\r\n" : "");
	if (!buf || req_len >= (int)sizeof(req)) {
		snprintf(w->error, sizeof(w->error), "request too long");
		goto out;
	}

	double t0 = now_s();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&o->addr, sizeof(o->addr)) < 0) {
		fail(w, "connect");
		goto out;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (o->proxy && connect_through(w, fd) < 0)
		goto out;
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd)) {
		fail(w, "SSL_new");
		goto out;
	}
	if (!o->host_is_ip)
		SSL_set_tlsext_host_name(ssl, o->host);
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	if ((o->host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, o->host)
			   : X509_VERIFY_PARAM_set1_host(vp, o->host, 0)) != 1) {
		fail(w, "setting the name to verify");
		goto out;
	}
	errno = 0;
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK)
			snprintf(w->error, sizeof(w->error), "TLS handshake: certificate: %s",
				 X509_verify_cert_error_string(v));
		else
			fail(w, "TLS handshake");
		goto out;
	}
	bool key_ok;
	for (long i = 0; i < o->warmup; i++)
		if (exchange(w, ssl, req, (size_t)req_len, buf, &key_ok) < 0)
			goto out;
	w->setup_ms = (now_s() - t0) * 1e3;

	arrived = true;
	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&go);
	for (long i = 0; i < w->n && !cancelled; i++) {
		double a = now_s();
		if (exchange(w, ssl, req, (size_t)req_len, buf, &key_ok) < 0)
			goto out;
		double b = now_s();
		w->lat_us[i] = (uint32_t)((b - a) * 1e6 + 0.5);
		w->key_ok += key_ok;
	}
	w->end_s = now_s();
out:
	if (!arrived) { /* do not leave the others waiting */
		pthread_barrier_wait(&ready);
		pthread_barrier_wait(&go);
	}
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank. */
static uint32_t pct(const uint32_t *s, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.999999);
	return s[k ? k - 1 : 0];
}

/* The latencies file and the JSON line; 0 or 1. */
static int report(const struct opts *o, uint32_t *lat, double secs, double cpu, double setup_max,
		  long key_ok)
{
	if (o->latencies) {
		FILE *f = fopen(o->latencies, "w");
		if (!f) {
			perror(o->latencies);
			return 1;
		}
		for (long i = 0; i < o->requests; i++)
			fprintf(f, "%u\n", lat[i]);
		if (fclose(f) != 0) {
			perror(o->latencies);
			return 1;
		}
	}
	qsort(lat, (size_t)o->requests, sizeof(*lat), cmp_u32);
	printf("{\"conns\":%d,\"requests\":%ld,\"seconds\":%.6f,\"rps\":%.1f,"
	       "\"lat_us\":{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"max\":%u},"
	       "\"setup_ms_max\":%.3f,\"key_ok\":%ld,\"cpu_s\":%.4f}\n",
	       o->conns, o->requests, secs, (double)o->requests / secs, pct(lat, (size_t)o->requests, 0.5),
	       pct(lat, (size_t)o->requests, 0.9), pct(lat, (size_t)o->requests, 0.99),
	       lat[o->requests - 1], setup_max, key_ok, cpu);
	return 0;
}

static void parse_addr(const char *arg, char *host, size_t host_sz, unsigned *port)
{
	const char *colon = strrchr(arg, ':');
	char *end;
	if (!colon || (size_t)(colon - arg) >= host_sz)
		usage();
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || !p || p > 65535)
		usage();
	*port = (unsigned)p;
}

int main(int argc, char **argv)
{
	struct opts o = { .path = "/small", .warmup = 20 };
	char addr_host[64];
	unsigned port;

	if (argc < 6)
		usage();
	parse_addr(argv[1], addr_host, sizeof(addr_host), &port);
	o.addr.sin_family = AF_INET;
	o.addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr_host, &o.addr.sin_addr) != 1)
		usage();
	parse_addr(argv[2], o.host, sizeof(o.host), &port);
	snprintf(o.authority, sizeof(o.authority), "%s:%u", o.host, port);
	struct in_addr ip;
	o.host_is_ip = inet_pton(AF_INET, o.host, &ip) == 1;
	o.cafile = argv[3];
	o.conns = atoi(argv[4]);
	o.requests = atol(argv[5]);
	if (o.conns < 1 || o.conns > CONNS_MAX || o.requests < o.conns)
		usage();
	for (int i = 6; i < argc; i++) {
		if (strcmp(argv[i], "--proxy") == 0)
			o.proxy = true;
		else if (strcmp(argv[i], "--expect-key") == 0)
			o.expect_key = true;
		else if (strcmp(argv[i], "--sync") == 0)
			o.sync = true;
		else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
			o.path = argv[++i];
		else if (strcmp(argv[i], "--header") == 0 && i + 1 < argc)
			o.extra_header = argv[++i];
		else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
			o.warmup = atol(argv[++i]);
		else if (strcmp(argv[i], "--latencies") == 0 && i + 1 < argc)
			o.latencies = argv[++i];
		else
			usage();
	}
	signal(SIGPIPE, SIG_IGN);

	ctx = SSL_CTX_new(TLS_client_method());
	static const unsigned char alpn[] = "\x08http/1.1";
	if (!ctx || SSL_CTX_load_verify_locations(ctx, o.cafile, NULL) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
		fprintf(stderr, "mitm_client: loading %s: ", o.cafile);
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(ctx);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

	struct worker *ws = calloc((size_t)o.conns, sizeof(*ws));
	uint32_t *lat = calloc((size_t)o.requests, sizeof(*lat));
	if (!ws || !lat) {
		fprintf(stderr, "mitm_client: out of memory\n");
		return 1;
	}
	pthread_barrier_init(&ready, NULL, (unsigned)o.conns + 1);
	pthread_barrier_init(&go, NULL, (unsigned)o.conns + 1);
	long off = 0;
	for (int i = 0; i < o.conns; i++) {
		ws[i].o = &o;
		ws[i].n = o.requests / o.conns + (i < o.requests % o.conns);
		ws[i].lat_us = lat + off;
		off += ws[i].n;
		if (pthread_create(&ws[i].thread, NULL, run, &ws[i]) != 0) {
			fprintf(stderr, "mitm_client: pthread_create failed\n");
			exit(1); /* the others wait at the barrier for ever */
		}
	}
	pthread_barrier_wait(&ready);
	int rc = 0;
	if (o.sync) {
		char line[16];
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin)) {
			fprintf(stderr, "mitm_client: --sync: no start line on stdin\n");
			cancelled = true;
			rc = 1;
		}
	}
	double cpu0 = cpu_s();
	start_s = now_s();
	pthread_barrier_wait(&go);
	double end = start_s, setup_max = 0;
	long key_ok = 0;
	for (int i = 0; i < o.conns; i++) {
		pthread_join(ws[i].thread, NULL);
		if (ws[i].error[0]) {
			fprintf(stderr, "mitm_client: connection %d: %s\n", i, ws[i].error);
			rc = 1;
		}
		if (ws[i].end_s > end)
			end = ws[i].end_s;
		if (ws[i].setup_ms > setup_max)
			setup_max = ws[i].setup_ms;
		key_ok += ws[i].key_ok;
	}
	if (!rc && o.expect_key && key_ok != o.requests) {
		fprintf(stderr, "mitm_client: %ld of %ld responses say the upstream got the right x-api-key\n",
			key_ok, o.requests);
		rc = 1;
	}
	if (!rc)
		rc = report(&o, lat, end - start_s, cpu_s() - cpu0, setup_max, key_ok);
	free(lat);
	free(ws);
	SSL_CTX_free(ctx);
	return rc;
}
