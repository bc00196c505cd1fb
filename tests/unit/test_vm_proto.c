/* test_vm_proto.c — table-driven tests of the host/guest protocol of the `vm`
 * backend (sandbox/vm_proto.h): frame heads, the exec request, the boot config.
 *
 * Each table row prints its own PASS/FAIL line. Requests that encode are
 * decoded again field by field and re-encoded byte for byte; every prefix of
 * their payload is decoded from its own allocation (so ASan sees a read past
 * its end) and must be refused or re-encode to exactly those bytes. Refused
 * payloads are built from lists of fields and must name the field at fault. */
#include "sandbox/vm_proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define TOKEN "0123456789abcdef0123456789ABCDEF"

/* test.h counts one result per RUN; a table row reports itself through this. */
static void report(const char *group, const char *name, int failed_checks_before)
{
	if (test_failed_checks != failed_checks_before) {
		test_failed_tests++;
		printf("FAIL %s/%s\n", group, name);
	} else {
		printf("PASS %s/%s\n", group, name);
	}
	fflush(stdout);
}

#define CHECK_REASON(reason, want)                                                          \
	do {                                                                                \
		const char *r_ = (reason);                                                  \
		CHECK(r_ && strcmp(r_, (want)) == 0);                                       \
		if (!r_ || strcmp(r_, (want)) != 0)                                         \
			printf("  reason \"%s\", wanted \"%s\"\n", r_ ? r_ : "(null)", (want)); \
	} while (0)

/* A copy of len bytes in an allocation of exactly len + 1, the spare byte the
 * decoder NUL-terminates. */
static uint8_t *copy(const uint8_t *p, size_t len)
{
	uint8_t *b = malloc(len + 1);
	if (!b)
		abort();
	if (len)
		memcpy(b, p, len);
	return b;
}

/* ---------------------------------------------------------------- frame heads */

static void test_frame_head_round_trip(void)
{
	static const char types[] = {KN_VM_HELLO,  KN_VM_REQ,     KN_VM_STDIN,  KN_VM_STDIN_EOF,
				     KN_VM_RESIZE, KN_VM_SIGNAL,  KN_VM_STARTED, KN_VM_STDOUT,
				     KN_VM_STDERR, KN_VM_EXIT,    KN_VM_ERROR};
	static const uint32_t lens[] = {0, 1, 255, 256, 65536, 0x000abcde, KN_VM_FRAME_MAX};
	for (size_t t = 0; t < sizeof(types); t++)
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			uint8_t head[KN_VM_FRAME_HEAD];
			char type = 0;
			uint32_t len = 0;
			kn_vm_frame_head(head, types[t], lens[l]);
			CHECK(kn_vm_frame_parse_head(head, &type, &len) == 0);
			CHECK(type == types[t] && len == lens[l]);
		}
	/* The wire layout: the type, then the length big endian. */
	uint8_t head[KN_VM_FRAME_HEAD];
	kn_vm_frame_head(head, KN_VM_STDOUT, 0x000a0b0c);
	CHECK(memcmp(head, "O\x00\x0a\x0b\x0c", KN_VM_FRAME_HEAD) == 0);
}

struct head_case {
	const char *name;
	uint8_t head[KN_VM_FRAME_HEAD];
};

static const struct head_case bad_heads[] = {
	{"type NUL", {0, 0, 0, 0, 1}},
	{"type lower-case r", {'r', 0, 0, 0, 1}},
	{"type lower-case h", {'h', 0, 0, 0, 0}},
	{"type A", {'A', 0, 0, 0, 0}},
	{"type 0xff", {0xff, 0, 0, 0, 0}},
	{"length max+1", {'O', 0x00, 0x10, 0x00, 0x01}},
	{"length 2^24", {'O', 0x01, 0x00, 0x00, 0x00}},
	{"length 2^32-1", {'I', 0xff, 0xff, 0xff, 0xff}},
};

static void test_frame_head_refusals(void)
{
	for (size_t i = 0; i < sizeof(bad_heads) / sizeof(bad_heads[0]); i++) {
		int before = test_failed_checks;
		char type;
		uint32_t len;
		CHECK(kn_vm_frame_parse_head(bad_heads[i].head, &type, &len) == -1);
		report("frame_head_refused", bad_heads[i].name, before);
	}
}

/* ---------------------------------------------------------------- requests */

static void check_same_req(const struct kn_vm_req *a, const struct kn_vm_req *b)
{
	CHECK_STR_EQ(a->token, b->token);
	CHECK(a->uid == b->uid && a->gid == b->gid);
	CHECK_STR_EQ(a->workdir, b->workdir);
	CHECK(!!a->tty == !!b->tty && !!a->stdin_open == !!b->stdin_open);
	CHECK(a->rows == b->rows && a->cols == b->cols);
	CHECK(a->time_ms == b->time_ms);
	size_t i;
	for (i = 0; a->argv[i] && b->argv[i]; i++)
		CHECK_STR_EQ(a->argv[i], b->argv[i]);
	CHECK(!a->argv[i] && !b->argv[i]);
	for (i = 0; a->env && b->env && a->env[i] && b->env[i]; i++)
		CHECK_STR_EQ(a->env[i], b->env[i]);
	CHECK((!a->env || !a->env[i]) && (!b->env || !b->env[i]));
}

struct req_case {
	const char *name;
	uint32_t uid, gid;
	const char *workdir;
	int tty, stdin_open;
	uint16_t rows, cols;
	const char *argv[8]; /* NULL-terminated */
	const char *env[8];
};

static const struct req_case good_reqs[] = {
	{"root tty", 0, 0, "/", 1, 1, 24, 80,
	 {"/bin/sh", "-c", "echo hi", NULL},
	 {"PATH=/usr/bin:/bin", "HOME=/root", "TERM=xterm-256color", NULL}},
	{"user pipes", 1000, 1000, "/home/agent/src", 0, 1, 0, 0,
	 {"printf", "", "%s|%s\n", "", NULL},
	 {"HOME=/home/agent", "EMPTY=", "LANG=C.UTF-8", "A=b=c", NULL}},
	{"user no stdin no env", 1000, 100, "/tmp", 0, 0, 0, 0, {"true", NULL}, {NULL}},
	{"largest ids and window", 0xfffffffeu, 0xfffffffeu, "/a b/c", 1, 0, 65535, 65535,
	 {"x", "", "", NULL},
	 {"", NULL}},
	{"utf-8 and controls", 1, 2, "/d\xc3\xa9j\xc3\xa0", 0, 1, 0, 0,
	 {"echo", "\xe2\x9c\x93", "tab\there", "new\nline", NULL},
	 {"X=\x01\x7f", NULL}},
};

static struct kn_vm_req make_req(const struct req_case *c)
{
	struct kn_vm_req r;
	memset(&r, 0, sizeof(r));
	memcpy(r.token, TOKEN, sizeof(TOKEN));
	r.uid = c->uid;
	r.gid = c->gid;
	r.workdir = c->workdir;
	r.tty = c->tty;
	r.stdin_open = c->stdin_open;
	r.rows = c->rows;
	r.cols = c->cols;
	r.argv = (char **)c->argv;
	r.env = (char **)c->env;
	/* The host's clock in ms: today's 13 digits, and the extremes. */
	r.time_ms = c->uid == 0xfffffffeu ? UINT64_MAX : c->uid == 1 ? 0 : 1795000000123ULL;
	return r;
}

/* Every prefix of a valid payload: refused, or decoded to a request whose
 * encoding is exactly the prefix (plus the final NUL the prefix may lack). */
static void check_prefixes(const uint8_t *payload, size_t len)
{
	for (size_t k = 0; k < len; k++) {
		uint8_t *b = copy(payload, k);
		struct kn_vm_req r;
		const char *reason = NULL;
		if (kn_vm_req_decode(b, k, &r, &reason) < 0) {
			CHECK(reason != NULL);
		} else {
			CHECK(r.argv && r.argv[0] && r.workdir && r.workdir[0] == '/');
			size_t n = 0;
			uint8_t *again = kn_vm_req_encode(&r, &n);
			int ends_nul = k > 0 && payload[k - 1] == '\0';
			CHECK(again != NULL);
			CHECK(again && n == k + !ends_nul && memcmp(again, payload, k) == 0 &&
			      again[n - 1] == '\0');
			free(again);
			kn_vm_req_free(&r);
		}
		free(b);
	}
}

static void test_req_round_trip(void)
{
	for (size_t i = 0; i < sizeof(good_reqs) / sizeof(good_reqs[0]); i++) {
		int before = test_failed_checks;
		struct kn_vm_req in = make_req(&good_reqs[i]), out;
		size_t len = 0;
		uint8_t *payload = kn_vm_req_encode(&in, &len);
		CHECK(payload != NULL);
		if (payload) {
			uint8_t *b = copy(payload, len);
			const char *reason = NULL;
			CHECK(kn_vm_req_decode(b, len, &out, &reason) == 0);
			if (reason)
				printf("  refused: %s\n", reason);
			if (!reason) {
				check_same_req(&in, &out);
				size_t len2 = 0;
				uint8_t *again = kn_vm_req_encode(&out, &len2);
				CHECK(again && len2 == len && memcmp(again, payload, len) == 0);
				free(again);
				kn_vm_req_free(&out);
				CHECK(out.argv == NULL && out.env == NULL);
			}
			free(b);
			check_prefixes(payload, len);
		}
		free(payload);
		report("req_round_trip", good_reqs[i].name, before);
	}
}

/* The payload's layout as vm_proto.h documents it, pinned byte for byte. */
static void test_req_wire_layout(void)
{
	static const char want[] = TOKEN "\0"
					 "1000\0"
					 "1001\0"
					 "/w\0"
					 "1\0"
					 "0\0"
					 "24\0"
					 "80\0"
					 "2\0"
					 "ls\0"
					 "\0"
					 "1\0"
					 "A=1\0"
					 "1795000000123";
	const char *argv[] = {"ls", "", NULL}, *env[] = {"A=1", NULL};
	struct kn_vm_req r = {.uid = 1000, .gid = 1001, .workdir = "/w", .tty = 7,
			      .stdin_open = 0, .rows = 24, .cols = 80,
			      .argv = (char **)argv, .env = (char **)env, .time_ms = 1795000000123ULL};
	memcpy(r.token, TOKEN, sizeof(TOKEN));
	size_t len = 0;
	uint8_t *p = kn_vm_req_encode(&r, &len);
	CHECK(p && len == sizeof(want) && memcmp(p, want, sizeof(want)) == 0);
	free(p);
}

/* A refused payload: its fields, each sent with a NUL after it. */
#define MAX_FIELDS 20
struct bad_req_case {
	const char *name;
	const char *fields[MAX_FIELDS]; /* NULL-terminated */
	const char *reason;
};

#define IDS "1000", "1000"
#define TIME_OK "1795000000123"
#define REST_OK "/", "0", "0", "0", "0", "1", "sh", "0", TIME_OK

static const struct bad_req_case bad_reqs[] = {
	{"empty payload", {NULL}, "token"},
	{"token short", {"0123456789abcdef", IDS, REST_OK, NULL}, "token"},
	{"token long", {TOKEN "0", IDS, REST_OK, NULL}, "token"},
	{"token non-hex", {"0123456789abcdef0123456789abcdeg", IDS, REST_OK, NULL}, "token"},
	{"token empty", {"", IDS, REST_OK, NULL}, "token"},
	{"uid missing", {TOKEN, NULL}, "uid or gid"},
	{"uid empty", {TOKEN, "", "0", REST_OK, NULL}, "uid or gid"},
	{"uid plus sign", {TOKEN, "+1", "0", REST_OK, NULL}, "uid or gid"},
	{"uid minus sign", {TOKEN, "-1", "0", REST_OK, NULL}, "uid or gid"},
	{"uid leading zero", {TOKEN, "01000", "0", REST_OK, NULL}, "uid or gid"},
	{"uid double zero", {TOKEN, "00", "0", REST_OK, NULL}, "uid or gid"},
	{"uid leading space", {TOKEN, " 1", "0", REST_OK, NULL}, "uid or gid"},
	{"uid hex", {TOKEN, "0x10", "0", REST_OK, NULL}, "uid or gid"},
	{"uid 2^32-1 (overflowuid)", {TOKEN, "4294967295", "0", REST_OK, NULL}, "uid or gid"},
	{"uid 2^32", {TOKEN, "4294967296", "0", REST_OK, NULL}, "uid or gid"},
	{"uid 11 digits", {TOKEN, "10000000000", "0", REST_OK, NULL}, "uid or gid"},
	{"uid 20 digits", {TOKEN, "18446744073709551617", "0", REST_OK, NULL}, "uid or gid"},
	{"gid non-digit", {TOKEN, "0", "staff", REST_OK, NULL}, "uid or gid"},
	{"workdir relative", {TOKEN, IDS, "home/agent", "0", "0", "0", "0", "1", "sh", "0", NULL},
	 "workdir"},
	{"workdir empty", {TOKEN, IDS, "", "0", "0", "0", "0", "1", "sh", "0", NULL}, "workdir"},
	{"workdir missing", {TOKEN, IDS, NULL}, "workdir"},
	{"tty 2", {TOKEN, IDS, "/", "2", "0", "0", "0", "1", "sh", "0", NULL}, "tty or stdin"},
	{"tty empty", {TOKEN, IDS, "/", "", "0", "0", "0", "1", "sh", "0", NULL}, "tty or stdin"},
	{"stdin 2", {TOKEN, IDS, "/", "0", "2", "0", "0", "1", "sh", "0", NULL}, "tty or stdin"},
	{"rows 65536", {TOKEN, IDS, "/", "1", "1", "65536", "80", "1", "sh", "0", NULL},
	 "window size"},
	{"cols signed", {TOKEN, IDS, "/", "1", "1", "24", "-80", "1", "sh", "0", NULL},
	 "window size"},
	{"argc 0", {TOKEN, IDS, "/", "0", "0", "0", "0", "0", "0", NULL}, "argv"},
	{"argc missing", {TOKEN, IDS, "/", "0", "0", "0", "0", NULL}, "argv"},
	{"argc leading zero", {TOKEN, IDS, "/", "0", "0", "0", "0", "01", "sh", "0", NULL}, "argv"},
	{"argc over the bytes left", {TOKEN, IDS, "/", "0", "0", "0", "0", "5", "a", "b", NULL},
	 "argv"},
	{"argc over the limit", {TOKEN, IDS, "/", "0", "0", "0", "0", "4097", "sh", "0", NULL},
	 "argv"},
	{"argc huge", {TOKEN, IDS, "/", "0", "0", "0", "0", "4294967295", "sh", "0", NULL}, "argv"},
	{"argv short by one", {TOKEN, IDS, "/", "0", "0", "0", "0", "3", "a", "b", NULL}, "argv"},
	{"envc missing", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", NULL}, "env"},
	{"envc over the bytes left", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "9", "A=1",
				      NULL}, "env"},
	{"envc over the limit", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "4097", NULL},
	 "env"},
	{"trailing field", {TOKEN, IDS, REST_OK, "extra", NULL}, "trailing data"},
	{"trailing empty field", {TOKEN, IDS, REST_OK, "", NULL}, "trailing data"},
	{"an env entry past envc, read as the time", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh",
						      "1", "A=1", "B=2", NULL}, "time"},
	{"trailing env entry", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "1", "A=1", TIME_OK,
				"B=2", NULL}, "trailing data"},
	{"time missing", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "0", NULL}, "time"},
	{"time empty", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "0", "", NULL}, "time"},
	{"time leading zero", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "0", "01", NULL}, "time"},
	{"time negative", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "0", "-1", NULL}, "time"},
	{"time 2^64", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "0", "18446744073709551616",
		       NULL}, "time"},
	{"time 21 digits", {TOKEN, IDS, "/", "0", "0", "0", "0", "1", "sh", "0",
			    "100000000000000000000", NULL}, "time"},
};

/* The payload of a row: each field followed by its NUL. */
static uint8_t *build(const char *const *fields, size_t *len)
{
	size_t n = 0;
	for (size_t i = 0; fields[i]; i++)
		n += strlen(fields[i]) + 1;
	uint8_t *b = malloc(n + 1), *p = b;
	if (!b)
		abort();
	for (size_t i = 0; fields[i]; i++) {
		size_t l = strlen(fields[i]) + 1;
		memcpy(p, fields[i], l);
		p += l;
	}
	*len = n;
	return b;
}

static void test_req_decode_refusals(void)
{
	/* The rows start from a valid request: make sure it is one. */
	static const char *const ok[] = {TOKEN, IDS, REST_OK, NULL};
	size_t len;
	uint8_t *b = build(ok, &len);
	struct kn_vm_req r;
	const char *reason = NULL;
	CHECK(kn_vm_req_decode(b, len, &r, &reason) == 0);
	kn_vm_req_free(&r);
	free(b);

	for (size_t i = 0; i < sizeof(bad_reqs) / sizeof(bad_reqs[0]); i++) {
		int before = test_failed_checks;
		b = build(bad_reqs[i].fields, &len);
		reason = NULL;
		CHECK(kn_vm_req_decode(b, len, &r, &reason) == -1);
		CHECK_REASON(reason, bad_reqs[i].reason);
		CHECK(r.argv == NULL && r.env == NULL);
		free(b);
		report("req_refused", bad_reqs[i].name, before);
	}
}

/* argc exactly at KN_VM_REQ_MAX_ARGS decodes; the encoder refuses one more. */
static void test_req_arg_limits(void)
{
	char **argv = calloc(KN_VM_REQ_MAX_ARGS + 2, sizeof(char *));
	char **env = calloc(KN_VM_REQ_MAX_ENV + 2, sizeof(char *));
	if (!argv || !env)
		abort();
	for (size_t i = 0; i < KN_VM_REQ_MAX_ARGS; i++)
		argv[i] = "a";
	for (size_t i = 0; i < KN_VM_REQ_MAX_ENV; i++)
		env[i] = "E=1";
	struct kn_vm_req r = {.workdir = "/", .argv = argv, .env = env}, out;
	memcpy(r.token, TOKEN, sizeof(TOKEN));
	size_t len = 0;
	uint8_t *p = kn_vm_req_encode(&r, &len);
	CHECK(p != NULL);
	if (p) {
		const char *reason = NULL;
		uint8_t *b = copy(p, len);
		CHECK(kn_vm_req_decode(b, len, &out, &reason) == 0);
		if (!reason) {
			check_same_req(&r, &out);
			kn_vm_req_free(&out);
		}
		free(b);
	}
	free(p);
	argv[KN_VM_REQ_MAX_ARGS] = "a";
	CHECK(kn_vm_req_encode(&r, &len) == NULL);
	argv[KN_VM_REQ_MAX_ARGS] = NULL;
	env[KN_VM_REQ_MAX_ENV] = "E=1";
	CHECK(kn_vm_req_encode(&r, &len) == NULL);
	free(argv);
	free(env);
}

struct enc_case {
	const char *name;
	const char *token;
	const char *workdir;
	const char *const *argv;
};

static const char *const argv_sh[] = {"sh", NULL};
static const char *const argv_none[] = {NULL};

static const struct enc_case bad_encodes[] = {
	{"workdir relative", TOKEN, "tmp", argv_sh},
	{"workdir empty", TOKEN, "", argv_sh},
	{"workdir NULL", TOKEN, NULL, argv_sh},
	{"argv NULL", TOKEN, "/", NULL},
	{"argv empty", TOKEN, "/", argv_none},
	{"token empty", "", "/", argv_sh},
	{"token short", "0123456789abcdef", "/", argv_sh},
	{"token non-hex", "0123456789abcdef0123456789abcdeZ", "/", argv_sh},
};

static void test_req_encode_refusals(void)
{
	for (size_t i = 0; i < sizeof(bad_encodes) / sizeof(bad_encodes[0]); i++) {
		int before = test_failed_checks;
		const struct enc_case *c = &bad_encodes[i];
		struct kn_vm_req r = {.workdir = c->workdir, .argv = (char **)c->argv};
		snprintf(r.token, sizeof(r.token), "%s", c->token);
		size_t len = 12345;
		CHECK(kn_vm_req_encode(&r, &len) == NULL);
		report("req_encode_refused", c->name, before);
	}
}

/* ---------------------------------------------------------------- boot config */

static void test_config_round_trip(void)
{
	static const char *const hostnames[] = {"kennel", "my-box_1.example", "a",
		"123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof(hostnames) / sizeof(hostnames[0]); i++) {
		struct kn_vm_config c = {TOKEN, ""}, back;
		snprintf(c.hostname, sizeof(c.hostname), "%s", hostnames[i]);
		char buf[256];
		int n = kn_vm_config_format(&c, buf, sizeof(buf));
		CHECK(n > 0 && (size_t)n == strlen(buf));
		const char *reason = NULL;
		CHECK(kn_vm_config_parse(buf, (size_t)n, &back, &reason) == 0);
		CHECK_STR_EQ(back.token, c.token);
		CHECK_STR_EQ(back.hostname, c.hostname);
		/* Exactly the room it needs, and one byte less. */
		CHECK(kn_vm_config_format(&c, buf, (size_t)n + 1) == n);
		CHECK(kn_vm_config_format(&c, buf, (size_t)n) == -1);
	}
}

struct config_case {
	const char *name;
	const char *text;
	size_t len; /* sizeof the literal, so a NUL inside counts */
	const char *reason; /* NULL: parses */
	const char *hostname;
};

#define TEXT(s) s, sizeof(s) - 1

static const struct config_case configs[] = {
	{"token and hostname", TEXT("token=" TOKEN "\nhostname=box\n"), NULL, "box"},
	{"no final newline", TEXT("hostname=box\ntoken=" TOKEN), NULL, "box"},
	{"blank lines", TEXT("\n\ntoken=" TOKEN "\n\nhostname=b\n\n"), NULL, "b"},
	{"token only", TEXT("token=" TOKEN "\n"), NULL, ""},
	{"empty", TEXT(""), "no token", NULL},
	{"hostname only", TEXT("hostname=box\n"), "no token", NULL},
	{"unknown key", TEXT("token=" TOKEN "\ncolour=red\n"), "unknown key", NULL},
	{"key with a space", TEXT("token =" TOKEN "\n"), "unknown key", NULL},
	{"key upper case", TEXT("TOKEN=" TOKEN "\n"), "unknown key", NULL},
	{"line without =", TEXT("token=" TOKEN "\nhostname\n"), "a line without '='", NULL},
	{"text without =", TEXT("garbage"), "a line without '='", NULL},
	{"token short", TEXT("token=0123\n"), "token", NULL},
	{"token long", TEXT("token=" TOKEN "0\n"), "token", NULL},
	{"token non-hex", TEXT("token=0123456789abcdef0123456789abcdeg\n"), "token", NULL},
	{"token with CR", TEXT("token=" TOKEN "\r\n"), "token", NULL},
	{"token with NUL", TEXT("token=0123456789abcdef\0" "123456789abcde\n"), "token", NULL},
	{"hostname empty", TEXT("token=" TOKEN "\nhostname=\n"), "hostname", NULL},
	{"hostname with space", TEXT("token=" TOKEN "\nhostname=my box\n"), "hostname", NULL},
	{"hostname with slash", TEXT("token=" TOKEN "\nhostname=a/b\n"), "hostname", NULL},
	{"hostname with NUL", TEXT("token=" TOKEN "\nhostname=a\0b\n"), "hostname", NULL},
	{"hostname 64 bytes",
	 TEXT("token=" TOKEN "\nhostname=1234567890123456789012345678901234567890123456789012345678901234\n"),
	 "hostname", NULL},
};

static void test_config_parse_table(void)
{
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		int before = test_failed_checks;
		const struct config_case *c = &configs[i];
		struct kn_vm_config cfg;
		const char *reason = NULL;
		int rc = kn_vm_config_parse(c->text, c->len, &cfg, &reason);
		if (c->reason) {
			CHECK(rc == -1);
			CHECK_REASON(reason, c->reason);
		} else {
			CHECK(rc == 0);
			if (rc < 0)
				printf("  refused: %s\n", reason ? reason : "(null)");
			CHECK_STR_EQ(cfg.token, TOKEN);
			CHECK_STR_EQ(cfg.hostname, c->hostname);
		}
		report("config_parse", c->name, before);
	}
}

int main(void)
{
	RUN(test_frame_head_round_trip);
	test_frame_head_refusals();
	test_req_round_trip();
	RUN(test_req_wire_layout);
	test_req_decode_refusals();
	RUN(test_req_arg_limits);
	test_req_encode_refusals();
	RUN(test_config_round_trip);
	test_config_parse_table();
	return test_summary();
}
