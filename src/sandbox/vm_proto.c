#define _GNU_SOURCE
#include "sandbox/vm_proto.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kn_vm_frame_head(uint8_t head[KN_VM_FRAME_HEAD], char type, uint32_t len)
{
	head[0] = (uint8_t)type;
	kn_vm_put_u32(head + 1, len);
}

int kn_vm_frame_parse_head(const uint8_t head[KN_VM_FRAME_HEAD], char *type, uint32_t *len)
{
	static const char known[] = {KN_VM_HELLO, KN_VM_REQ,    KN_VM_STDIN,  KN_VM_STDIN_EOF, KN_VM_RESIZE,
				     KN_VM_SIGNAL, KN_VM_STARTED, KN_VM_STDOUT,   KN_VM_STDERR,
				     KN_VM_EXIT,   KN_VM_ERROR};
	uint32_t n = kn_vm_get_u32(head + 1);
	if (!memchr(known, head[0], sizeof(known)) || n > KN_VM_FRAME_MAX)
		return -1;
	*type = (char)head[0];
	*len = n;
	return 0;
}

static int token_ok(const char *t)
{
	if (strlen(t) != KN_VM_TOKEN_LEN)
		return 0;
	for (size_t i = 0; i < KN_VM_TOKEN_LEN; i++)
		if (!isxdigit((unsigned char)t[i]))
			return 0;
	return 1;
}

/* ---------- request ---------- */

struct out {
	uint8_t *buf;
	size_t len, cap;
	int failed;
};

static void put(struct out *o, const char *s)
{
	size_t n = strlen(s) + 1;
	if (o->failed)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n)
			cap *= 2;
		uint8_t *b = realloc(o->buf, cap);
		if (!b) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void put_u(struct out *o, unsigned long long v)
{
	char num[24];
	snprintf(num, sizeof(num), "%llu", v);
	put(o, num);
}

static size_t count(char **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

uint8_t *kn_vm_req_encode(const struct kn_vm_req *r, size_t *len)
{
	size_t argc = count(r->argv), envc = count(r->env);
	if (!token_ok(r->token) || !r->workdir || r->workdir[0] != '/' || argc == 0 ||
	    argc > KN_VM_REQ_MAX_ARGS || envc > KN_VM_REQ_MAX_ENV || r->uid == UINT32_MAX ||
	    r->gid == UINT32_MAX)
		return NULL;
	struct out o = {0};
	put(&o, r->token);
	put_u(&o, r->uid);
	put_u(&o, r->gid);
	put(&o, r->workdir);
	put_u(&o, (unsigned long)!!r->tty);
	put_u(&o, (unsigned long)!!r->stdin_open);
	put_u(&o, r->rows);
	put_u(&o, r->cols);
	put_u(&o, argc);
	for (size_t i = 0; i < argc; i++)
		put(&o, r->argv[i]);
	put_u(&o, envc);
	for (size_t i = 0; i < envc; i++)
		put(&o, r->env[i]);
	put_u(&o, r->time_ms);
	if (o.failed || o.len > KN_VM_FRAME_MAX) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}

struct in {
	char *p, *end;
};

/* The next NUL-terminated field, or NULL at the end of the payload. */
static char *field(struct in *in)
{
	if (in->p >= in->end)
		return NULL;
	char *f = in->p;
	/* *end is the NUL kn_vm_req_decode put there: always found. */
	char *nul = memchr(f, '\0', (size_t)(in->end - f) + 1);
	in->p = nul + 1;
	return f;
}

/* A decimal number up to max: no sign, no spaces, no leading zeros but "0". */
static int number64(struct in *in, unsigned long long max, unsigned long long *v)
{
	char *f = field(in);
	if (!f || !*f || strlen(f) > 20 || (f[0] == '0' && f[1]))
		return -1;
	unsigned long long n = 0;
	for (char *c = f; *c; c++) {
		unsigned d = (unsigned)(*c - '0');
		if (*c < '0' || *c > '9' || d > max || n > (max - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*v = n;
	return 0;
}

static int number(struct in *in, unsigned long max, unsigned long *v)
{
	unsigned long long n;
	if (number64(in, max, &n) < 0)
		return -1;
	*v = (unsigned long)n;
	return 0;
}

static int strings(struct in *in, unsigned long max, char ***out)
{
	unsigned long n;
	if (number(in, max, &n) < 0)
		return -1;
	/* Each entry takes at least its NUL: a count beyond the bytes left lies. */
	if (n > (unsigned long)(in->end - in->p))
		return -1;
	char **v = calloc(n + 1, sizeof(char *));
	if (!v)
		return -1;
	for (unsigned long i = 0; i < n; i++)
		if (!(v[i] = field(in))) {
			free(v);
			return -1;
		}
	*out = v;
	return 0;
}

int kn_vm_req_decode(uint8_t *buf, size_t len, struct kn_vm_req *r, const char **reason)
{
	memset(r, 0, sizeof(*r));
	buf[len] = '\0'; /* a last field without its NUL ends here */
	struct in in = {(char *)buf, (char *)buf + len};
	unsigned long uid, gid, tty, stdin_open, rows, cols;
	char *token = field(&in);
	if (!token || !token_ok(token))
		return *reason = "token", -1;
	memcpy(r->token, token, KN_VM_TOKEN_LEN + 1);
	if (number(&in, 0xfffffffeUL, &uid) < 0 || number(&in, 0xfffffffeUL, &gid) < 0)
		return *reason = "uid or gid", -1;
	r->uid = (uint32_t)uid;
	r->gid = (uint32_t)gid;
	r->workdir = field(&in);
	if (!r->workdir || r->workdir[0] != '/')
		return *reason = "workdir", -1;
	if (number(&in, 1, &tty) < 0 || number(&in, 1, &stdin_open) < 0)
		return *reason = "tty or stdin", -1;
	if (number(&in, 0xffff, &rows) < 0 || number(&in, 0xffff, &cols) < 0)
		return *reason = "window size", -1;
	r->tty = (int)tty;
	r->stdin_open = (int)stdin_open;
	r->rows = (uint16_t)rows;
	r->cols = (uint16_t)cols;
	if (strings(&in, KN_VM_REQ_MAX_ARGS, &r->argv) < 0 || !r->argv[0]) {
		kn_vm_req_free(r);
		return *reason = "argv", -1;
	}
	if (strings(&in, KN_VM_REQ_MAX_ENV, &r->env) < 0) {
		kn_vm_req_free(r);
		return *reason = "env", -1;
	}
	unsigned long long t;
	if (number64(&in, UINT64_MAX, &t) < 0) {
		kn_vm_req_free(r);
		return *reason = "time", -1;
	}
	r->time_ms = t;
	if (in.p < in.end) {
		kn_vm_req_free(r);
		return *reason = "trailing data", -1;
	}
	return 0;
}

void kn_vm_req_free(struct kn_vm_req *r)
{
	free(r->argv);
	free(r->env);
	r->argv = r->env = NULL;
}

/* ---------- boot configuration ---------- */

int kn_vm_config_format(const struct kn_vm_config *c, char *buf, size_t size)
{
	int n = c->hostname[0] ? snprintf(buf, size, "token=%s\nhostname=%s\n", c->token, c->hostname)
				: snprintf(buf, size, "token=%s\n", c->token);
	return n < 0 || (size_t)n >= size ? -1 : n;
}

static int hostname_ok(const char *h, size_t n)
{
	if (n == 0 || n > KN_VM_HOSTNAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' && h[i] != '_')
			return 0;
	return 1;
}

int kn_vm_config_parse(const char *text, size_t len, struct kn_vm_config *c, const char **reason)
{
	memset(c, 0, sizeof(*c));
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(eol - p));
		if (eol == p) {
			p = eol + 1;
			continue;
		}
		if (!eq)
			return *reason = "a line without '='", -1;
		size_t klen = (size_t)(eq - p), vlen = (size_t)(eol - eq - 1);
		const char *v = eq + 1;
		if (klen == 5 && !memcmp(p, "token", 5)) {
			if (vlen != KN_VM_TOKEN_LEN)
				return *reason = "token", -1;
			memcpy(c->token, v, vlen);
			c->token[vlen] = '\0';
			if (!token_ok(c->token))
				return *reason = "token", -1;
		} else if (klen == 8 && !memcmp(p, "hostname", 8)) {
			if (!hostname_ok(v, vlen))
				return *reason = "hostname", -1;
			memcpy(c->hostname, v, vlen);
			c->hostname[vlen] = '\0';
		} else {
			return *reason = "unknown key", -1;
		}
		p = eol + (nl ? 1 : 0);
	}
	if (!c->token[0])
		return *reason = "no token", -1;
	return 0;
}
