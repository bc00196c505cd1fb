/* mitm_server.c — the HTTPS upstream of bench/mitm: a small keep-alive
 * HTTP/1.1 server over TLS on 127.0.0.1, fast enough not to be what the
 * benchmark measures.
 *
 * Usage: mitm_server CERT KEY KEYFILE BODY_BYTES
 * Listens on 127.0.0.1 (a free port), prints "port N" on stdout once it
 * accepts. One thread per connection (the benchmark opens a handful), TLS
 * with CERT/KEY, then any number of requests on the connection until the
 * client closes or sends "Connection: close". Every request is answered 200
 * with BODY_BYTES bytes and Content-Length, except GET /stats, which answers
 * "ok N missing N wrong N\n": how many requests so far carried an x-api-key
 * header equal to the content of KEYFILE (a dummy value; trailing newline
 * dropped), none, or another value. Each answer also says which in an
 * "x-bench-key: ok|missing|wrong" header, so the client can check every
 * response that the proxy injected the header. Request bodies are not
 * expected (GET only) and a request that has one is refused with 400 and a
 * close. Exits on SIGTERM/SIGINT (default action). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A request head from the benchmark's client or a proxy is a few hundred
 * bytes; 16 KiB is the usual server limit. */
#define HEAD_MAX 16384
/* The response body is one buffer written with the head in one SSL_write. */
#define BODY_MAX (1024 * 1024)
#define KEY_MAX 1024

static SSL_CTX *ctx;
static char key_value[KEY_MAX];
static size_t key_len;
static char *body;
static size_t body_len;
static atomic_ulong n_ok, n_missing, n_wrong;

static void die(const char *what)
{
	fprintf(stderr, "mitm_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void die_ssl(const char *what)
{
	fprintf(stderr, "mitm_server: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
		      size_t *value_len)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = v;
	*value_len = (size_t)(end - v);
	return true;
}

enum key_state { KEY_OK, KEY_MISSING, KEY_WRONG };
static const char *const key_names[] = { "ok", "missing", "wrong" };

struct request {
	bool stats, close, has_body;
	enum key_state key;
};

/* Parses the head in buf[0..len) (ends with CRLF CRLF). */
static int parse_head(const char *buf, size_t len, struct request *r)
{
	*r = (struct request){ .key = KEY_MISSING };
	const char *p = buf, *end = buf + len;
	const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	if (!eol)
		return -1;
	/* "GET /stats HTTP/1.1" */
	const char *sp = memchr(p, ' ', (size_t)(eol - p));
	if (!sp)
		return -1;
	r->stats = (size_t)(eol - sp) > 7 && memcmp(sp, " /stats ", 8) == 0;
	bool http10 = (size_t)(eol - p) >= 8 && memcmp(eol - 8, "HTTP/1.0", 8) == 0;
	r->close = http10;
	int keys = 0;
	for (p = eol + 2; p < end; p = eol + 2) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol || eol == p)
			break;
		const char *v;
		size_t vlen;
		size_t llen = (size_t)(eol - p);
		if (header_is(p, llen, "x-api-key", &v, &vlen)) {
			keys++;
			r->key = vlen == key_len && memcmp(v, key_value, key_len) == 0 ? KEY_OK
											: KEY_WRONG;
		} else if (header_is(p, llen, "connection", &v, &vlen)) {
			if (vlen == 5 && strncasecmp(v, "close", 5) == 0)
				r->close = true;
			else if (vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0)
				r->close = false;
		} else if (header_is(p, llen, "content-length", &v, &vlen)) {
			r->has_body = !(vlen == 1 && v[0] == '0');
		} else if (header_is(p, llen, "transfer-encoding", &v, &vlen)) {
			r->has_body = true;
		}
	}
	if (keys > 1) /* injected on top of another copy: not what the benchmark wants */
		r->key = KEY_WRONG;
	return 0;
}

static int write_all(SSL *ssl, const char *p, size_t n)
{
	while (n) {
		int w = SSL_write(ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	SSL *ssl = SSL_new(ctx);
	char *out = malloc(512 + body_len);
	char in[HEAD_MAX];
	size_t have = 0;

	if (!ssl || !out || !SSL_set_fd(ssl, fd) || SSL_accept(ssl) != 1)
		goto done;
	for (;;) {
		char *end;
		while (!(end = memmem(in, have, "\r\n\r\n", 4))) {
			if (have == sizeof(in))
				goto done;
			int r = SSL_read(ssl, in + have, (int)(sizeof(in) - have));
			if (r <= 0)
				goto done;
			have += (size_t)r;
		}
		size_t head_len = (size_t)(end - in) + 4;
		struct request req;
		if (parse_head(in, head_len, &req) < 0 || req.has_body) {
			static const char bad[] =
				"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
			write_all(ssl, bad, sizeof(bad) - 1);
			goto done;
		}
		memmove(in, in + head_len, have - head_len);
		have -= head_len;

		int n;
		if (req.stats) {
			char text[128];
			int tn = snprintf(text, sizeof(text), "ok %lu missing %lu wrong %lu\n",
					  atomic_load(&n_ok), atomic_load(&n_missing),
					  atomic_load(&n_wrong));
			n = snprintf(out, 512 + body_len,
				     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				     "Content-Length: %d\r\n%s\r\n%s",
				     tn, req.close ? "Connection: close\r\n" : "", text);
		} else {
			atomic_fetch_add(req.key == KEY_OK	    ? &n_ok
					 : req.key == KEY_MISSING ? &n_missing
								  : &n_wrong,
					 1);
			n = snprintf(out, 512, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
					       "Content-Length: %zu\r\nx-bench-key: %s\r\n%s\r\n",
				     body_len, key_names[req.key],
				     req.close ? "Connection: close\r\n" : "");
			memcpy(out + n, body, body_len);
			n += (int)body_len;
		}
		if (write_all(ssl, out, (size_t)n) < 0 || req.close)
			goto done;
	}
done:
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	free(out);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: mitm_server CERT KEY KEYFILE BODY_BYTES\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	FILE *kf = fopen(argv[3], "r");
	if (!kf)
		die(argv[3]);
	key_len = fread(key_value, 1, sizeof(key_value) - 1, kf);
	fclose(kf);
	while (key_len && (key_value[key_len - 1] == '\n' || key_value[key_len - 1] == '\r'))
		key_len--;
	if (!key_len) {
		fprintf(stderr, "mitm_server: %s is empty\n", argv[3]);
		return 2;
	}

	char *endp;
	unsigned long bl = strtoul(argv[4], &endp, 10);
	if (*endp || bl > BODY_MAX) {
		fprintf(stderr, "mitm_server: BODY_BYTES must be 0..%d\n", BODY_MAX);
		return 2;
	}
	body_len = bl;
	body = malloc(body_len + 1);
	if (!body)
		die("malloc");
	for (size_t i = 0; i < body_len; i++)
		body[i] = (char)('a' + i % 26);

	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1)
		die_ssl("loading the certificate and key");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		die("socket");
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 128) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
		die("bind/listen 127.0.0.1");
	printf("port %u\n", ntohs(sa.sin_port));
	fflush(stdout);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_t t;
		if (pthread_create(&t, &attr, serve, (void *)(intptr_t)fd) != 0) {
			close(fd);
			fprintf(stderr, "mitm_server: pthread_create failed\n");
		}
	}
}
