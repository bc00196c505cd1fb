/* test_policy.c — the policy engine (src/policy) against tables of cases: host
 * canonicalisation and refusal, host patterns, precedence, CIDR parsing and
 * carving, bypass, and JSON round trips. Every table row prints its own PASS/FAIL
 * line so a failure names the exact case. */
#include "policy/cidr.h"
#include "policy/hostname.h"
#include "policy/hostpattern.h"
#include "policy/policy.h"
#include "policy/policy_json.h"

#include "common/util.h"

#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>

/* ---- one PASS/FAIL line per table row ---- */

static void printable(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 6 < bufsz; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c > 0x20 && c < 0x7f)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, bufsz - o, "\\x%02x", c);
	}
	if (len > 40 && o > 40)
		snprintf(buf + 37, bufsz - 37, "...(%zu bytes)", len);
	else
		buf[o] = '\0';
}

static void report(const char *group, size_t idx, const char *what, size_t what_len, bool ok,
		   const char *detail)
{
	char label[128];
	printable(what, what_len, label, sizeof(label));
	printf("%s %s[%zu] %s\n", ok ? "PASS" : "FAIL", group, idx, label);
	if (!ok) {
		printf("  %s\n", detail);
		test_failed_checks++; /* fails the enclosing RUN too */
	}
	fflush(stdout);
}

static bool contains(const char *haystack, const char *needle)
{
	return haystack && needle && strstr(haystack, needle) != NULL;
}

/* ---- host canonicalisation ---- */

static char long_label_63[64], long_label_64[65];
static char name_253[254], name_254[255], name_253_dot[255];

static void make_long_names(void)
{
	memset(long_label_63, 'a', 63);
	memset(long_label_64, 'a', 64);
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	snprintf(name_253, sizeof(name_253), "%s.%s.%s.%.61s", long_label_63, long_label_63,
		 long_label_63, long_label_63);
	snprintf(name_254, sizeof(name_254), "%s.%s.%s.%.62s", long_label_63, long_label_63,
		 long_label_63, long_label_63);
	snprintf(name_253_dot, sizeof(name_253_dot), "%s.", name_253);
}

struct canon_case {
	const char *in;
	size_t len;         /* 0: strlen(in) */
	const char *out;    /* expected canonical form, or NULL when refused */
	const char *reason; /* substring of the refusal reason */
};

static void test_host_canon_table(void)
{
	make_long_names();
	const struct canon_case cases[] = {
		{ "example.com", 0, "example.com", NULL },
		{ "EXAMPLE.COM.", 0, "example.com", NULL },
		{ "Example.Com", 0, "example.com", NULL },
		{ "exa_mple-1.com", 0, "exa_mple-1.com", NULL },
		{ "xn--bcher-kva.example", 0, "xn--bcher-kva.example", NULL },
		{ "localhost", 0, "localhost", NULL },
		{ "123.foo", 0, "123.foo", NULL },
		{ "1e3", 0, "1e3", NULL },
		{ "0x7g.com", 0, "0x7g.com", NULL },
		{ "127.0.0.1", 0, "127.0.0.1", NULL },
		{ "127.1", 0, "127.0.0.1", NULL },
		{ "127.0.1", 0, "127.0.0.1", NULL },
		{ "2130706433", 0, "127.0.0.1", NULL },
		{ "0x7f.0.0.1", 0, "127.0.0.1", NULL },
		{ "0177.0.0.1", 0, "127.0.0.1", NULL },
		{ "0x7f000001", 0, "127.0.0.1", NULL },
		{ "0X7F000001", 0, "127.0.0.1", NULL },
		{ "017700000001", 0, "127.0.0.1", NULL },
		{ "127.0.0.1.", 0, "127.0.0.1", NULL },
		{ "10.1.65535", 0, "10.1.255.255", NULL },
		{ "4294967295", 0, "255.255.255.255", NULL },
		{ "0", 0, "0.0.0.0", NULL },
		{ "169.254.43518", 0, "169.254.169.254", NULL },
		{ "0xa9.0xfe.0xa9.0xfe", 0, "169.254.169.254", NULL },
		{ "[::1]", 0, "::1", NULL },
		{ "::1", 0, "::1", NULL },
		{ "[0:0:0:0:0:0:0:1]", 0, "::1", NULL },
		{ "[::ffff:127.0.0.1]", 0, "127.0.0.1", NULL },
		{ "[::ffff:7f00:1]", 0, "127.0.0.1", NULL },
		{ "[::FFFF:7F00:1]", 0, "127.0.0.1", NULL },
		{ "::ffff:169.254.169.254", 0, "169.254.169.254", NULL },
		{ "[2001:DB8:0:0::1]", 0, "2001:db8::1", NULL },
		{ "[::]", 0, "::", NULL },
		{ name_253, 0, name_253, NULL },
		{ name_253_dot, 0, name_253, NULL },
		{ long_label_63, 0, long_label_63, NULL },
		/* refused */
		{ "", 0, NULL, "empty host name" },
		{ ".", 0, NULL, "empty host name" },
		{ "example.com..", 0, NULL, "empty label" },
		{ ".example.com", 0, NULL, "empty label" },
		{ "a..b", 0, NULL, "empty label" },
		{ "a\0b", 3, NULL, "NUL" },
		{ "example.com\0.evil.com", 21, NULL, "NUL" },
		{ "a\rb", 0, NULL, "CR or LF" },
		{ "a\nb", 0, NULL, "CR or LF" },
		{ "example.com\r\n", 0, NULL, "CR or LF" },
		{ "a%2eb", 0, NULL, "'%'" },
		{ "[fe80::1%eth0]", 0, NULL, "'%'" },
		{ "a b", 0, NULL, "space" },
		{ "a\tb", 0, NULL, "space" },
		{ " example.com", 0, NULL, "space" },
		{ "ex!ample.com", 0, NULL, "character not allowed" },
		{ "*.example.com", 0, NULL, "character not allowed" },
		{ "ex/ample.com", 0, NULL, "character not allowed" },
		{ "b\xc3\xbc" "cher.de", 0, NULL, "character not allowed" },
		{ long_label_64, 0, NULL, "label longer than 63" },
		{ name_254, 0, NULL, "longer than 253" },
		{ "1.2.3.4.5", 0, NULL, "ends in a number" },
		{ "256.1.1.1", 0, NULL, "ends in a number" },
		{ "1.2.3.256", 0, NULL, "ends in a number" },
		{ "4294967296", 0, NULL, "ends in a number" },
		{ "08.0.0.1", 0, NULL, "ends in a number" },
		{ "0x", 0, NULL, "ends in a number" },
		{ "1.2.3.0x", 0, NULL, "ends in a number" },
		{ "foo.123", 0, NULL, "ends in a number" },
		{ "[::1", 0, NULL, "unbalanced" },
		{ "::1]", 0, NULL, "unbalanced" },
		{ "[[::1]]", 0, NULL, "unbalanced" },
		{ "[]", 0, NULL, "invalid IPv6" },
		{ "[example.com]", 0, NULL, "invalid IPv6" },
		{ "example.com:443", 0, NULL, "invalid IPv6" },
		{ "1:2:3:4:5:6:7:8:9", 0, NULL, "invalid IPv6" },
	};
	for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
		const struct canon_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		char out[KN_HOST_BUFSZ], again[KN_HOST_BUFSZ], detail[512];
		const char *reason = NULL;
		int rc = kn_host_canon(c->in, len, out, sizeof(out), &reason);
		bool ok;
		if (c->out) {
			ok = rc == 0 && strcmp(out, c->out) == 0;
			/* Idempotent: the canonical form canonicalises to itself. */
			const char *r2 = NULL;
			ok = ok && kn_host_canon(out, strlen(out), again, sizeof(again), &r2) == 0 &&
			     strcmp(again, out) == 0;
			snprintf(detail, sizeof(detail), "rc=%d out=\"%s\" want \"%s\" (%s)", rc,
				 rc == 0 ? out : "", c->out, reason ? reason : "");
		} else {
			ok = rc == -1 && contains(reason, c->reason);
			snprintf(detail, sizeof(detail), "rc=%d reason=\"%s\" want \"%s\"", rc,
				 reason ? reason : "(none)", c->reason);
		}
		report("canon", i, c->in, len, ok, detail);
	}
}

/* Our inet_aton-spelling parser never reads an address differently from libc's
 * inet_aton (used here as an oracle only: it is pure). */
static void test_ipv4_parse_matches_inet_aton(void)
{
	const char *inputs[] = { "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "0x7f000001",
				 "1.2.3", "1.2.3.4", "0", "00", "0x0", "255.255.255.255",
				 "1.16777215", "1.2.65535", "0xffffffff", "037777777777" };
	for (size_t i = 0; i < KN_ARRAY_SIZE(inputs); i++) {
		uint32_t ours;
		struct in_addr theirs;
		CHECK(kn_ipv4_parse(inputs[i], strlen(inputs[i]), &ours));
		CHECK(inet_aton(inputs[i], &theirs) == 1);
		CHECK(ours == ntohl(theirs.s_addr));
	}
	uint32_t v;
	CHECK(!kn_ipv4_parse("1.2.3.4 ", 8, &v)); /* inet_aton accepts this; we do not */
	CHECK(!kn_ipv4_parse("", 0, &v));
	CHECK(!kn_ipv4_parse("1.", 2, &v));
	CHECK(!kn_ipv4_parse(".1", 2, &v));
	CHECK(!kn_ipv4_parse("0x100000000", 11, &v));
	CHECK(!kn_ipv4_parse("1.0x1000000", 11, &v));
	CHECK(kn_ipv4_parse("1.0xffffff", 10, &v) && v == 0x01ffffff);
}

/* The formatter agrees with inet_ntop for random addresses and the edges,
 * and cuts like snprintf when the buffer is short. */
static void test_ipv4_format(void)
{
	char ours[16], theirs[INET_ADDRSTRLEN];
	uint32_t edges[] = { 0, 0xffffffffu, 0x7f000001u, 0x0a00000au, 0x01020304u };

	srand(7);
	for (int i = 0; i < 2000; i++) {
		uint32_t a = i < (int)KN_ARRAY_SIZE(edges) ? edges[i]
							  : (uint32_t)rand() ^ ((uint32_t)rand() << 16);
		struct in_addr in = { .s_addr = htonl(a) };
		kn_ipv4_format(a, ours, sizeof(ours));
		CHECK(inet_ntop(AF_INET, &in, theirs, sizeof(theirs)) != NULL);
		CHECK(strcmp(ours, theirs) == 0);
	}
	char small[6];
	kn_ipv4_format(0xc0a80101u, small, sizeof(small));
	CHECK(strcmp(small, "192.1") == 0);
	char none[1] = { 'x' };
	kn_ipv4_format(0x7f000001u, none, sizeof(none));
	CHECK(none[0] == '\0');
	/* The helpers under it. */
	char buf[8];
	size_t n = kn_str_append(buf, sizeof(buf), 0, "default ");
	CHECK(n == 7 && strcmp(buf, "default") == 0);
	n = kn_str_append_uint(buf, sizeof(buf), kn_str_append(buf, sizeof(buf), 0, "/"), 128);
	CHECK(n == 4 && strcmp(buf, "/128") == 0);
	CHECK(kn_str_append_uint(buf, sizeof(buf), 0, 0) == 1 && strcmp(buf, "0") == 0);
	CHECK(kn_str_append_uint(buf, sizeof(buf), 0, 18446744073709551615ull) == 7 &&
	      strcmp(buf, "1844674") == 0);
}

static void test_host_kind(void)
{
	CHECK(kn_host_kind("example.com") == KN_HOST_NAME);
	CHECK(kn_host_kind("123.foo") == KN_HOST_NAME);
	CHECK(kn_host_kind("127.0.0.1") == KN_HOST_IPV4);
	CHECK(kn_host_kind("::1") == KN_HOST_IPV6);
	char small[4];
	const char *reason = NULL;
	CHECK(kn_host_canon("example.com", 11, small, sizeof(small), &reason) == -1);
	CHECK(contains(reason, "buffer too small"));
}

/* ---- host patterns ---- */

struct pattern_case {
	const char *in;
	const char *out;    /* canonical text, or NULL when refused */
	const char *reason; /* substring of the refusal reason */
};

static void test_host_pattern_table(void)
{
	const struct pattern_case cases[] = {
		{ "example.com", "example.com", NULL },
		{ "EXAMPLE.com.:443", "example.com:443", NULL },
		{ "*.Example.COM:8443", "*.example.com:8443", NULL },
		{ "*.example.com.", "*.example.com", NULL },
		{ "*", "*", NULL },
		{ "*:22", "*:22", NULL },
		{ "127.1", "127.0.0.1", NULL },
		{ "2130706433:80", "127.0.0.1:80", NULL },
		{ "[::1]", "[::1]", NULL },
		{ "::1", "[::1]", NULL },
		{ "[::1]:443", "[::1]:443", NULL },
		{ "[0::1]:65535", "[::1]:65535", NULL },
		{ "[::ffff:127.0.0.1]:80", "127.0.0.1:80", NULL },
		{ "foo*.com", NULL, "'*' is only allowed" },
		{ "*foo.com", NULL, "'*' is only allowed" },
		{ "a.*.com", NULL, "'*' is only allowed" },
		{ "**.com", NULL, "'*' is only allowed" },
		{ "*.*.com", NULL, "'*' is only allowed" },
		{ "*.", NULL, "empty host name" },
		{ "*.127.0.0.1", NULL, "not an IP address" },
		{ "*.[::1]", NULL, "not an IP address" },
		{ "example.com:44 3", NULL, "space" },
		{ "example.com:0", NULL, "port" },
		{ "example.com:65536", NULL, "port" },
		{ "example.com:", NULL, "port" },
		{ "example.com:08", NULL, "port" },
		{ "example.com:http", NULL, "port" },
		{ "*:", NULL, "port" },
		{ "[::1]:", NULL, "port" },
		{ "[::1]x", NULL, "only ':PORT'" },
		{ "", NULL, "empty host pattern" },
		{ "exa mple.com", NULL, "space" },
		{ "example.com\n", NULL, "CR or LF" },
		{ ":443", NULL, "empty host name" },
	};
	for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
		const struct pattern_case *c = &cases[i];
		struct kn_host_pattern p, back;
		char text[KN_HOST_PATTERN_STRLEN], detail[512];
		const char *reason = NULL;
		int rc = kn_host_pattern_parse(c->in, strlen(c->in), &p, &reason);
		bool ok;
		if (c->out) {
			kn_host_pattern_format(&p, text, sizeof(text));
			ok = rc == 0 && strcmp(text, c->out) == 0 &&
			     kn_host_pattern_parse(text, strlen(text), &back, NULL) == 0 &&
			     kn_host_pattern_equal(&p, &back);
			snprintf(detail, sizeof(detail), "rc=%d text=\"%s\" want \"%s\" (%s)", rc,
				 rc == 0 ? text : "", c->out, reason ? reason : "");
		} else {
			ok = rc == -1 && contains(reason, c->reason);
			snprintf(detail, sizeof(detail), "rc=%d reason=\"%s\" want \"%s\"", rc,
				 reason ? reason : "(none)", c->reason);
		}
		report("pattern", i, c->in, strlen(c->in), ok, detail);
	}
}

/* ---- host decisions ---- */

struct rule_spec {
	enum kn_rule_kind kind;
	const char *pattern;
};

struct host_case {
	const char *host;
	size_t len; /* 0: strlen */
	uint16_t port;
	enum kn_verdict verdict;
	const char *rule;
};

static void build(struct kn_policy *p, enum kn_default def, const struct rule_spec *rules,
		  size_t n)
{
	kn_policy_init_default(p, def);
	for (size_t i = 0; i < n; i++) {
		const char *reason = NULL;
		if (kn_policy_add_rule(p, rules[i].kind, rules[i].pattern, &reason) < 0) {
			printf("  cannot add %s %s: %s\n", kn_rule_kind_name(rules[i].kind),
			       rules[i].pattern, reason);
			test_failed_checks++;
		}
	}
}

static void run_host_cases(const char *group, const struct kn_policy *p,
			   const struct host_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct host_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->host);
		struct kn_decision d;
		char detail[512];
		int rc = kn_policy_check_host(p, c->host, len, c->port, &d);
		bool invalid = strncmp(c->rule, "invalid host", 12) == 0;
		bool ok = rc == (invalid ? -1 : 0) && d.verdict == c->verdict &&
			  strcmp(d.rule, c->rule) == 0;
		snprintf(detail, sizeof(detail), "rc=%d verdict=%s rule=\"%s\" want %s \"%s\"", rc,
			 d.verdict == KN_VERDICT_ALLOW ? "allow" : "block", d.rule,
			 c->verdict == KN_VERDICT_ALLOW ? "allow" : "block", c->rule);
		/* The host may hold NUL: label from the raw bytes plus the port. */
		char label[300];
		memcpy(label, c->host, len < 200 ? len : 200);
		size_t ll = len < 200 ? len : 200;
		ll += (size_t)snprintf(label + ll, sizeof(label) - ll, ":%u", c->port);
		report(group, i, label, ll, ok, detail);
	}
}

#define ALLOW KN_VERDICT_ALLOW
#define BLOCK KN_VERDICT_BLOCK

static void test_host_decisions_default_deny(void)
{
	const struct rule_spec rules[] = {
		{ KN_RULE_ALLOW_HOST, "example.com" },
		{ KN_RULE_ALLOW_HOST, "*.example.com" },
		{ KN_RULE_BLOCK_HOST, "bad.example.com" },
		{ KN_RULE_ALLOW_HOST, "*.api.example.com:443" },
		{ KN_RULE_BLOCK_HOST, "*.example.com:8443" },
		{ KN_RULE_ALLOW_HOST, "git.example.com:8443" },
		{ KN_RULE_ALLOW_HOST, "*:22" },
		{ KN_RULE_BLOCK_HOST, "jump.example.com:22" },
		{ KN_RULE_ALLOW_HOST, "10.0.0.5" },
	};
	const struct host_case cases[] = {
		{ "example.com", 0, 443, ALLOW, "allow-host example.com" },
		{ "EXAMPLE.COM.", 0, 443, ALLOW, "allow-host example.com" },
		{ "a.example.com", 0, 443, ALLOW, "allow-host *.example.com" },
		{ "a.b.c.example.com", 0, 80, ALLOW, "allow-host *.example.com" },
		{ "evilexample.com", 0, 443, BLOCK, "default deny" },
		{ "example.com.evil.com", 0, 443, BLOCK, "default deny" },
		{ "example.co", 0, 443, BLOCK, "default deny" },
		{ "xexample.com", 0, 443, BLOCK, "default deny" },
		{ "bad.example.com", 0, 443, BLOCK, "block-host bad.example.com" },
		{ "x.bad.example.com", 0, 443, ALLOW, "allow-host *.example.com" },
		{ "a.example.com", 0, 8443, BLOCK, "block-host *.example.com:8443" },
		{ "git.example.com", 0, 8443, ALLOW, "allow-host git.example.com:8443" },
		{ "example.com", 0, 8443, ALLOW, "allow-host example.com" },
		{ "x.api.example.com", 0, 443, ALLOW, "allow-host *.api.example.com:443" },
		{ "x.api.example.com", 0, 80, ALLOW, "allow-host *.example.com" },
		{ "other.org", 0, 22, ALLOW, "allow-host *:22" },
		{ "other.org", 0, 23, BLOCK, "default deny" },
		{ "other.org", 0, 0, BLOCK, "default deny" },
		{ "jump.example.com", 0, 22, BLOCK, "block-host jump.example.com:22" },
		{ "10.0.0.5", 0, 443, ALLOW, "allow-host 10.0.0.5" },
		{ "10.5", 0, 443, ALLOW, "allow-host 10.0.0.5" },
		{ "[::ffff:10.0.0.5]", 0, 443, ALLOW, "allow-host 10.0.0.5" },
		{ "10.0.0.6", 0, 443, BLOCK, "default deny" },
	};
	struct kn_policy p;
	build(&p, KN_DEFAULT_DENY, rules, KN_ARRAY_SIZE(rules));
	run_host_cases("deny", &p, cases, KN_ARRAY_SIZE(cases));
	kn_policy_free(&p);
}

static void test_host_decisions_default_allow(void)
{
	const struct rule_spec rules[] = {
		{ KN_RULE_BLOCK_HOST, "*.evil.com" },
		{ KN_RULE_ALLOW_HOST, "good.evil.com" },
		{ KN_RULE_ALLOW_HOST, "tracker.net" },
		{ KN_RULE_BLOCK_HOST, "tracker.net" },
		{ KN_RULE_ALLOW_HOST, "*.ads.net" },
		{ KN_RULE_BLOCK_HOST, "*.ads.net" },
		{ KN_RULE_ALLOW_HOST, "*.x.ads.net" },
		{ KN_RULE_BLOCK_HOST, "127.0.0.1" },
		{ KN_RULE_BLOCK_HOST, "[::1]:8080" },
		{ KN_RULE_ALLOW_HOST, "pay.shop.org:443" },
		{ KN_RULE_BLOCK_HOST, "pay.shop.org:443" },
	};
	const struct host_case cases[] = {
		{ "evil.com", 0, 443, ALLOW, "default allow" },
		{ "a.evil.com", 0, 443, BLOCK, "block-host *.evil.com" },
		{ "A.EVIL.COM.", 0, 443, BLOCK, "block-host *.evil.com" },
		{ "good.evil.com", 0, 443, ALLOW, "allow-host good.evil.com" },
		{ "x.good.evil.com", 0, 443, BLOCK, "block-host *.evil.com" },
		{ "tracker.net", 0, 443, BLOCK, "block-host tracker.net" },
		{ "a.ads.net", 0, 443, BLOCK, "block-host *.ads.net" },
		{ "x.ads.net", 0, 443, BLOCK, "block-host *.ads.net" },
		{ "b.x.ads.net", 0, 443, ALLOW, "allow-host *.x.ads.net" },
		{ "pay.shop.org", 0, 443, BLOCK, "block-host pay.shop.org:443" },
		{ "pay.shop.org", 0, 80, ALLOW, "default allow" },
		{ "127.1", 0, 80, BLOCK, "block-host 127.0.0.1" },
		{ "2130706433", 0, 80, BLOCK, "block-host 127.0.0.1" },
		{ "0x7f.0.0.1", 0, 80, BLOCK, "block-host 127.0.0.1" },
		{ "0177.0.0.1", 0, 80, BLOCK, "block-host 127.0.0.1" },
		{ "0x7f000001", 0, 80, BLOCK, "block-host 127.0.0.1" },
		{ "[::ffff:127.0.0.1]", 0, 80, BLOCK, "block-host 127.0.0.1" },
		{ "[::1]", 0, 8080, BLOCK, "block-host [::1]:8080" },
		{ "[0:0::1]", 0, 8080, BLOCK, "block-host [::1]:8080" },
		{ "[::1]", 0, 8081, ALLOW, "default allow" },
		{ "example.org", 0, 443, ALLOW, "default allow" },
		{ "bad\0host", 8, 443, BLOCK, "invalid host: NUL byte in host name" },
		{ "a.evil.com\r\nX: y", 0, 443, BLOCK, "invalid host: CR or LF in host name" },
		{ "a.evil.com%00", 0, 443, BLOCK,
		  "invalid host: '%' in host name (zone ids and percent-encoding are refused)" },
		{ "", 0, 443, BLOCK, "invalid host: empty host name" },
	};
	struct kn_policy p;
	build(&p, KN_DEFAULT_ALLOW, rules, KN_ARRAY_SIZE(rules));
	run_host_cases("allow", &p, cases, KN_ARRAY_SIZE(cases));
	kn_policy_free(&p);
}

static void test_host_decisions_catch_all(void)
{
	const struct rule_spec rules[] = {
		{ KN_RULE_BLOCK_HOST, "*" },
		{ KN_RULE_ALLOW_HOST, "*:443" },
		{ KN_RULE_BLOCK_HOST, "*.evil.com" },
		{ KN_RULE_ALLOW_HOST, "ok.org" },
	};
	const struct host_case cases[] = {
		{ "foo.org", 0, 80, BLOCK, "block-host *" },
		{ "foo.org", 0, 443, ALLOW, "allow-host *:443" },
		{ "a.evil.com", 0, 443, BLOCK, "block-host *.evil.com" },
		{ "ok.org", 0, 80, ALLOW, "allow-host ok.org" },
		{ "8.8.8.8", 0, 80, BLOCK, "block-host *" },
		{ "[2001:db8::1]", 0, 443, ALLOW, "allow-host *:443" },
	};
	struct kn_policy p;
	build(&p, KN_DEFAULT_ALLOW, rules, KN_ARRAY_SIZE(rules));
	run_host_cases("catchall", &p, cases, KN_ARRAY_SIZE(cases));
	kn_policy_free(&p);

	/* A tie at the catch-all: block wins whatever the order. */
	const struct rule_spec tie[] = { { KN_RULE_BLOCK_HOST, "*" }, { KN_RULE_ALLOW_HOST, "*" } };
	const struct host_case tie_cases[] = { { "foo.org", 0, 80, BLOCK, "block-host *" } };
	build(&p, KN_DEFAULT_ALLOW, tie, KN_ARRAY_SIZE(tie));
	run_host_cases("tie", &p, tie_cases, 1);
	kn_policy_free(&p);
	const struct rule_spec tie2[] = { { KN_RULE_ALLOW_HOST, "*" }, { KN_RULE_BLOCK_HOST, "*" } };
	build(&p, KN_DEFAULT_DENY, tie2, KN_ARRAY_SIZE(tie2));
	run_host_cases("tie-reversed", &p, tie_cases, 1);
	kn_policy_free(&p);
}

static void test_empty_policies(void)
{
	struct kn_policy p;
	struct kn_decision d;
	kn_policy_init_default(&p, KN_DEFAULT_ALLOW);
	CHECK(kn_policy_check_host(&p, "example.com", 11, 443, &d) == 0);
	CHECK(d.verdict == KN_VERDICT_ALLOW);
	CHECK_STR_EQ(d.rule, "default allow");
	kn_policy_free(&p);
	kn_policy_init_default(&p, KN_DEFAULT_DENY);
	CHECK(kn_policy_check_host(&p, "example.com", 11, 443, &d) == 0);
	CHECK(d.verdict == KN_VERDICT_BLOCK);
	CHECK_STR_EQ(d.rule, "default deny");
	CHECK(kn_policy_check_host(&p, NULL, 5, 443, &d) == -1);
	CHECK(d.verdict == KN_VERDICT_BLOCK);
	kn_policy_free(&p);
	kn_policy_free(&p); /* freeing twice is harmless */
}

/* ---- rule management ---- */

static void test_add_rule_refusal_changes_nothing(void)
{
	struct kn_policy p;
	const char *reason = NULL;
	kn_policy_init_default(&p, KN_DEFAULT_DENY);
	CHECK(kn_policy_add_rule(&p, KN_RULE_ALLOW_HOST, "example.com", &reason) == 0);
	CHECK(kn_policy_add_rule(&p, KN_RULE_ALLOW_HOST, "foo*.com", &reason) == -1);
	CHECK(contains(reason, "'*'"));
	CHECK(kn_policy_add_rule(&p, KN_RULE_BLOCK_CIDR, "10.0.0.0/33", &reason) == -1);
	CHECK(contains(reason, "over 32"));
	CHECK(kn_policy_add_rule(&p, KN_RULE_BYPASS_HOST, "a b", &reason) == -1);
	CHECK(kn_policy_add_rule(&p, (enum kn_rule_kind)99, "x.com", &reason) == -1);
	CHECK(contains(reason, "unknown rule kind"));
	CHECK(p.nrules == 1);
	/* Same canonical rule twice is one rule; same pattern, other kind, is another. */
	CHECK(kn_policy_add_rule(&p, KN_RULE_ALLOW_HOST, "EXAMPLE.COM.", &reason) == 0);
	CHECK(p.nrules == 1);
	CHECK(kn_policy_add_rule(&p, KN_RULE_BLOCK_HOST, "example.com", &reason) == 0);
	CHECK(p.nrules == 2);
	CHECK(kn_policy_add_rule(&p, KN_RULE_BLOCK_CIDR, "10.1.2.3/8", &reason) == 0);
	CHECK(kn_policy_add_rule(&p, KN_RULE_BLOCK_CIDR, "10.0.0.0/8", &reason) == 0);
	CHECK(p.nrules == 3);
	kn_policy_free(&p);
}

static void test_rule_limit(void)
{
	struct kn_policy p;
	const char *reason = NULL;
	char name[64];
	int failures = 0;
	kn_policy_init_default(&p, KN_DEFAULT_DENY);
	for (int i = 0; i < KN_POLICY_MAX_RULES; i++) {
		snprintf(name, sizeof(name), "h%d.example.com", i);
		if (kn_policy_add_rule(&p, KN_RULE_ALLOW_HOST, name, &reason) < 0)
			failures++;
	}
	CHECK(failures == 0);
	CHECK(p.nrules == KN_POLICY_MAX_RULES);
	CHECK(kn_policy_add_rule(&p, KN_RULE_ALLOW_HOST, "one.more.com", &reason) == -1);
	CHECK(contains(reason, "too many rules"));
	/* A duplicate is still accepted at the limit: it adds nothing. */
	CHECK(kn_policy_add_rule(&p, KN_RULE_ALLOW_HOST, "h7.example.com", &reason) == 0);
	CHECK(p.nrules == KN_POLICY_MAX_RULES);
	kn_policy_free(&p);
}

static void test_kind_names(void)
{
	for (unsigned i = 0; i < KN_RULE_KIND_COUNT; i++) {
		enum kn_rule_kind k;
		CHECK(kn_rule_kind_from_name(kn_rule_kind_name((enum kn_rule_kind)i), &k) == 0);
		CHECK(k == (enum kn_rule_kind)i);
	}
	enum kn_rule_kind k;
	CHECK(kn_rule_kind_from_name("allow", &k) == -1);
	enum kn_default d;
	CHECK(kn_default_from_name("deny", &d) == 0 && d == KN_DEFAULT_DENY);
	CHECK(kn_default_from_name("allow", &d) == 0 && d == KN_DEFAULT_ALLOW);
	CHECK(kn_default_from_name("Deny", &d) == -1);
}

/* ---- CIDR ---- */

static void test_cidr_parse_table(void)
{
	const struct pattern_case cases[] = {
		{ "10.0.0.0/8", "10.0.0.0/8", NULL },
		{ "10.1.2.3/8", "10.0.0.0/8", NULL },
		{ "192.168.1.255/23", "192.168.0.0/23", NULL },
		{ "1.2.3.4", "1.2.3.4/32", NULL },
		{ "0.0.0.0/0", "0.0.0.0/0", NULL },
		{ "fc00::/7", "fc00::/7", NULL },
		{ "FD12:3456::1/7", "fc00::/7", NULL },
		{ "::1", "::1/128", NULL },
		{ "::/0", "::/0", NULL },
		{ "2001:db8::/32", "2001:db8::/32", NULL },
		{ "::ffff:10.0.0.0/104", "10.0.0.0/8", NULL },
		{ "::ffff:7f00:1", "127.0.0.1/32", NULL },
		{ "::ffff:0:0/96", "0.0.0.0/0", NULL },
		{ "::ffff:0:0/95", "::fffe:0:0/95", NULL },
		{ "10.0.0.0/33", NULL, "over 32" },
		{ "fc00::/129", NULL, "over 128" },
		{ "10/8", NULL, "dotted quad" },
		{ "127.1", NULL, "dotted quad" },
		{ "010.0.0.0/8", NULL, "dotted quad" },
		{ "0x0a.0.0.0/8", NULL, "dotted quad" },
		{ "256.0.0.0/8", NULL, "dotted quad" },
		{ "1.2.3.4.5/8", NULL, "dotted quad" },
		{ "10.0.0.0/", NULL, "prefix length" },
		{ "10.0.0.0/08", NULL, "prefix length" },
		{ "10.0.0.0/-1", NULL, "prefix length" },
		{ "10.0.0.0/8/9", NULL, "prefix length" },
		{ "10.0.0.0/1000", NULL, "prefix length" },
		{ "10.0.0.0 /8", NULL, "dotted quad" },
		{ "garbage", NULL, "dotted quad" },
		{ "fe80::1%eth0/64", NULL, "invalid IPv6" },
		{ "[::1]/128", NULL, "invalid IPv6" },
		{ "", NULL, "empty address" },
		{ "/8", NULL, "empty address" },
	};
	for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
		const struct pattern_case *c = &cases[i];
		struct kn_cidr cidr, back;
		char text[KN_CIDR_STRLEN], detail[512];
		const char *reason = NULL;
		int rc = kn_cidr_parse(c->in, strlen(c->in), &cidr, &reason);
		bool ok;
		if (c->out) {
			kn_cidr_format(&cidr, text, sizeof(text));
			ok = rc == 0 && strcmp(text, c->out) == 0 &&
			     kn_cidr_parse(text, strlen(text), &back, NULL) == 0 &&
			     kn_cidr_equal(&cidr, &back);
			snprintf(detail, sizeof(detail), "rc=%d text=\"%s\" want \"%s\" (%s)", rc,
				 rc == 0 ? text : "", c->out, reason ? reason : "");
		} else {
			ok = rc == -1 && contains(reason, c->reason);
			snprintf(detail, sizeof(detail), "rc=%d reason=\"%s\" want \"%s\"", rc,
				 reason ? reason : "(none)", c->reason);
		}
		report("cidr", i, c->in, strlen(c->in), ok, detail);
	}
}

static struct kn_addr addr(const char *s)
{
	struct kn_addr a;
	const char *reason = NULL;
	if (kn_addr_parse(s, strlen(s), &a, &reason) < 0) {
		printf("  bad test address %s: %s\n", s, reason);
		test_failed_checks++;
	}
	return a;
}

static void test_cidr_contains(void)
{
	struct kn_cidr c;
	CHECK(kn_cidr_parse("10.0.0.0/8", 10, &c, NULL) == 0);
	struct kn_addr a = addr("10.255.255.255"), b = addr("11.0.0.0"), m = addr("::ffff:10.1.1.1");
	CHECK(kn_cidr_contains(&c, &a));
	CHECK(!kn_cidr_contains(&c, &b));
	CHECK(m.family == AF_INET); /* normalised at parse */
	CHECK(kn_cidr_contains(&c, &m));
	/* An IPv6 range over the mapped space contains IPv4 addresses. */
	CHECK(kn_cidr_parse("::/0", 4, &c, NULL) == 0);
	CHECK(kn_cidr_contains(&c, &b));
	CHECK(kn_cidr_parse("::ffff:0:0/95", 13, &c, NULL) == 0);
	CHECK(kn_cidr_contains(&c, &b));
	CHECK(kn_cidr_parse("0.0.0.0/0", 9, &c, NULL) == 0);
	struct kn_addr v6 = addr("2001:db8::1");
	CHECK(!kn_cidr_contains(&c, &v6));
	/* A hand-made, not normalised, mapped address is still seen as IPv4. */
	struct kn_addr raw = { .family = AF_INET6 };
	raw.bytes[10] = raw.bytes[11] = 0xff;
	raw.bytes[12] = 10;
	CHECK(kn_cidr_parse("10.0.0.0/8", 10, &c, NULL) == 0);
	CHECK(kn_cidr_contains(&c, &raw));
	char text[KN_ADDR_STRLEN];
	kn_addr_format(&raw, text, sizeof(text));
	CHECK_STR_EQ(text, "10.0.0.0");
	kn_addr_format(&v6, text, sizeof(text));
	CHECK_STR_EQ(text, "2001:db8::1");
	CHECK(kn_addr_equal(&raw, &(struct kn_addr){ .family = AF_INET, .bytes = { 10 } }));
}

static void test_addr_from_sockaddr(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct kn_addr a;
	const char *reason = NULL;
	char text[KN_ADDR_STRLEN];

	inet_pton(AF_INET, "169.254.169.254", &sin.sin_addr);
	CHECK(kn_addr_from_sockaddr((struct sockaddr *)&sin, sizeof(sin), &a, &reason) == 0);
	kn_addr_format(&a, text, sizeof(text));
	CHECK_STR_EQ(text, "169.254.169.254");

	inet_pton(AF_INET6, "::ffff:169.254.169.254", &sin6.sin6_addr);
	CHECK(kn_addr_from_sockaddr((struct sockaddr *)&sin6, sizeof(sin6), &a, &reason) == 0);
	CHECK(a.family == AF_INET);
	kn_addr_format(&a, text, sizeof(text));
	CHECK_STR_EQ(text, "169.254.169.254");

	CHECK(kn_addr_from_sockaddr((struct sockaddr *)&sin6, sizeof(sin), &a, &reason) == -1);
	struct sockaddr un = { .sa_family = AF_UNIX };
	CHECK(kn_addr_from_sockaddr(&un, sizeof(un), &a, &reason) == -1);
	CHECK(contains(reason, "not an IPv4 or IPv6"));
}

struct addr_case {
	const char *addr;
	enum kn_verdict verdict;
	const char *rule;
};

static void run_addr_cases(const char *group, const struct kn_policy *p,
			   const struct addr_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct kn_addr a = addr(cases[i].addr);
		struct kn_decision d;
		char detail[512];
		kn_policy_check_addr(p, &a, &d);
		bool ok = d.verdict == cases[i].verdict && strcmp(d.rule, cases[i].rule) == 0;
		snprintf(detail, sizeof(detail), "verdict=%s rule=\"%s\" want \"%s\"",
			 d.verdict == KN_VERDICT_ALLOW ? "allow" : "block", d.rule, cases[i].rule);
		report(group, i, cases[i].addr, strlen(cases[i].addr), ok, detail);
	}
}

static void test_addr_default_blocks(void)
{
	const struct addr_case cases[] = {
		{ "0.1.2.3", BLOCK, "block-cidr 0.0.0.0/8 (default)" },
		{ "0.0.0.0", BLOCK, "block-cidr 0.0.0.0/8 (default)" },
		{ "10.1.2.3", BLOCK, "block-cidr 10.0.0.0/8 (default)" },
		{ "100.64.0.1", BLOCK, "block-cidr 100.64.0.0/10 (default)" },
		{ "100.127.255.255", BLOCK, "block-cidr 100.64.0.0/10 (default)" },
		{ "100.128.0.1", ALLOW, "no block-cidr matches" },
		{ "127.0.0.1", BLOCK, "block-cidr 127.0.0.0/8 (default)" },
		{ "127.255.255.254", BLOCK, "block-cidr 127.0.0.0/8 (default)" },
		{ "169.254.169.254", BLOCK, "block-cidr 169.254.0.0/16 (default)" },
		{ "172.16.0.1", BLOCK, "block-cidr 172.16.0.0/12 (default)" },
		{ "172.31.255.255", BLOCK, "block-cidr 172.16.0.0/12 (default)" },
		{ "172.32.0.1", ALLOW, "no block-cidr matches" },
		{ "192.168.1.1", BLOCK, "block-cidr 192.168.0.0/16 (default)" },
		{ "8.8.8.8", ALLOW, "no block-cidr matches" },
		{ "::1", BLOCK, "block-cidr ::1/128 (default)" },
		{ "::", BLOCK, "block-cidr ::/128 (default)" },
		{ "fd00::1", BLOCK, "block-cidr fc00::/7 (default)" },
		{ "fc00::1", BLOCK, "block-cidr fc00::/7 (default)" },
		{ "fe80::1", BLOCK, "block-cidr fe80::/10 (default)" },
		{ "febf::1", BLOCK, "block-cidr fe80::/10 (default)" },
		{ "fec0::1", ALLOW, "no block-cidr matches" },
		{ "2001:db8::1", ALLOW, "no block-cidr matches" },
		{ "::ffff:127.0.0.1", BLOCK, "block-cidr 127.0.0.0/8 (default)" },
		{ "::ffff:a9fe:a9fe", BLOCK, "block-cidr 169.254.0.0/16 (default)" },
		{ "::ffff:10.0.0.1", BLOCK, "block-cidr 10.0.0.0/8 (default)" },
		{ "::ffff:0.0.0.0", BLOCK, "block-cidr 0.0.0.0/8 (default)" },
		{ "::ffff:8.8.8.8", ALLOW, "no block-cidr matches" },
	};
	struct kn_policy p;
	kn_policy_init_default(&p, KN_DEFAULT_ALLOW);
	run_addr_cases("addr-default", &p, cases, KN_ARRAY_SIZE(cases));
	kn_policy_free(&p);
}

static void test_addr_carving(void)
{
	const struct rule_spec rules[] = {
		{ KN_RULE_ALLOW_CIDR, "127.0.0.0/8" },
		{ KN_RULE_ALLOW_CIDR, "10.1.0.0/16" },
		{ KN_RULE_BLOCK_CIDR, "10.1.2.0/24" },
		{ KN_RULE_BLOCK_CIDR, "8.8.8.0/24" },
		{ KN_RULE_BLOCK_CIDR, "2001:db8::/32" },
		{ KN_RULE_BLOCK_CIDR, "10.9.0.0/16" },
		{ KN_RULE_ALLOW_CIDR, "203.0.113.0/24" },
		{ KN_RULE_BLOCK_CIDR, "::ffff:198.51.100.0/120" },
	};
	const struct addr_case cases[] = {
		{ "127.0.0.1", ALLOW, "allow-cidr 127.0.0.0/8" },
		{ "::ffff:127.0.0.1", ALLOW, "allow-cidr 127.0.0.0/8" },
		{ "::1", BLOCK, "block-cidr ::1/128 (default)" },
		{ "10.1.2.3", ALLOW, "allow-cidr 10.1.0.0/16" },
		{ "10.1.200.1", ALLOW, "allow-cidr 10.1.0.0/16" },
		{ "10.2.0.1", BLOCK, "block-cidr 10.0.0.0/8 (default)" },
		{ "10.9.0.1", BLOCK, "block-cidr 10.9.0.0/16" },
		{ "8.8.8.8", BLOCK, "block-cidr 8.8.8.0/24" },
		{ "::ffff:8.8.8.8", BLOCK, "block-cidr 8.8.8.0/24" },
		{ "8.8.4.4", ALLOW, "no block-cidr matches" },
		{ "2001:db8::5", BLOCK, "block-cidr 2001:db8::/32" },
		{ "2001:db9::5", ALLOW, "no block-cidr matches" },
		{ "203.0.113.9", ALLOW, "no block-cidr matches" },
		{ "198.51.100.7", BLOCK, "block-cidr 198.51.100.0/24" },
	};
	struct kn_policy p;
	build(&p, KN_DEFAULT_DENY, rules, KN_ARRAY_SIZE(rules));
	run_addr_cases("addr-carve", &p, cases, KN_ARRAY_SIZE(cases));
	kn_policy_free(&p);

	/* block-cidr ::/0 reaches IPv4 through the mapped form; allow-cidr 0.0.0.0/0
	 * then opens every IPv4 address but no IPv6 one. */
	const struct rule_spec all[] = { { KN_RULE_BLOCK_CIDR, "::/0" },
					 { KN_RULE_ALLOW_CIDR, "0.0.0.0/0" } };
	const struct addr_case all_cases[] = {
		{ "1.1.1.1", ALLOW, "allow-cidr 0.0.0.0/0" },
		{ "127.0.0.1", ALLOW, "allow-cidr 0.0.0.0/0" },
		{ "2606:4700::1111", BLOCK, "block-cidr ::/0" },
		{ "::1", BLOCK, "block-cidr ::1/128 (default)" },
	};
	build(&p, KN_DEFAULT_ALLOW, all, KN_ARRAY_SIZE(all));
	run_addr_cases("addr-all", &p, all_cases, KN_ARRAY_SIZE(all_cases));
	kn_policy_free(&p);

	struct kn_decision d;
	struct kn_addr bogus = { .family = AF_UNIX };
	kn_policy_init_default(&p, KN_DEFAULT_ALLOW);
	kn_policy_check_addr(&p, &bogus, &d);
	CHECK(d.verdict == KN_VERDICT_BLOCK);
	kn_policy_free(&p);
}

/* ---- bypass ---- */

static void test_bypass(void)
{
	const struct rule_spec rules[] = {
		{ KN_RULE_BYPASS_HOST, "*.bank.com" },
		{ KN_RULE_BYPASS_HOST, "pinned.org:443" },
		{ KN_RULE_BYPASS_CIDR, "203.0.113.0/24" },
		{ KN_RULE_ALLOW_HOST, "pinned.org" },
	};
	struct kn_policy p;
	build(&p, KN_DEFAULT_DENY, rules, KN_ARRAY_SIZE(rules));
	struct kn_addr in_range = addr("203.0.113.7"), out_range = addr("198.51.100.1");
	struct kn_addr mapped = addr("::ffff:203.0.113.8");
	struct {
		const char *host;
		uint16_t port;
		const struct kn_addr *addr;
		bool bypass;
	} cases[] = {
		{ "www.bank.com", 443, NULL, true },
		{ "WWW.Bank.Com.", 443, NULL, true },
		{ "a.b.bank.com", 8443, NULL, true },
		{ "bank.com", 443, NULL, false },
		{ "evilbank.com", 443, NULL, false },
		{ "pinned.org", 443, NULL, true },
		{ "pinned.org", 80, NULL, false },
		{ "other.com", 443, &in_range, true },
		{ "other.com", 443, &mapped, true },
		{ "other.com", 443, &out_range, false },
		{ NULL, 443, &in_range, true },
		{ NULL, 443, NULL, false },
		{ "www.bank.com\n", 443, &in_range, false },
	};
	for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
		const char *h = cases[i].host;
		bool got = kn_policy_is_bypass(&p, h, h ? strlen(h) : 0, cases[i].port,
					       cases[i].addr);
		char detail[64];
		snprintf(detail, sizeof(detail), "bypass=%d want %d", got, cases[i].bypass);
		report("bypass", i, h ? h : "(no host)", h ? strlen(h) : 9, got == cases[i].bypass,
		       detail);
	}
	/* Bypass allows nothing by itself: host rules still decide. */
	struct kn_decision d;
	CHECK(kn_policy_check_host(&p, "www.bank.com", 12, 443, &d) == 0);
	CHECK(d.verdict == KN_VERDICT_BLOCK);
	CHECK_STR_EQ(d.rule, "default deny");
	CHECK(kn_policy_check_host(&p, "pinned.org", 10, 443, &d) == 0);
	CHECK(d.verdict == KN_VERDICT_ALLOW);
	kn_policy_free(&p);
}

/* ---- JSON ---- */

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	if (!j) {
		printf("  bad test JSON: %s\n", jerr.text);
		test_failed_checks++;
	}
	return j;
}

static void test_json_round_trip_exact(void)
{
	const char *text =
		"{\"default\":\"deny\",\"allow_hosts\":[\"example.com\",\"*.example.com:443\","
		"\"*:22\",\"[::1]:8080\",\"127.0.0.1\"],\"block_hosts\":[\"*.evil.com\",\"*\"],"
		"\"allow_cidrs\":[\"127.0.0.0/8\",\"10.1.0.0/16\"],\"block_cidrs\":"
		"[\"169.254.0.0/16\",\"2001:db8::/32\",\"::/0\"],\"bypass_hosts\":[\"*.bank.com\"],"
		"\"bypass_cidrs\":[\"203.0.113.0/24\"]}";
	json_t *in = load(text);
	struct kn_policy p;
	kn_error err = { 0 };
	CHECK(in && kn_policy_from_json(in, &p, &err) == 0);
	json_t *out = kn_policy_to_json(&p);
	CHECK(out && json_equal(in, out));
	char *dumped = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	CHECK_STR_EQ(dumped, text);
	free(dumped);

	struct kn_decision d;
	CHECK(kn_policy_check_host(&p, "a.example.com", 13, 443, &d) == 0);
	CHECK_STR_EQ(d.rule, "allow-host *.example.com:443");
	json_decref(in);
	json_decref(out);
	kn_policy_free(&p);
}

static void test_json_canonicalises(void)
{
	json_t *in = load("{\"default\":\"allow\",\"block_hosts\":[\"EVIL.com.\",\"evil.com\","
			  "\"2130706433:80\"],\"block_cidrs\":[\"10.1.2.3/8\"]}");
	struct kn_policy p, q;
	kn_error err = { 0 };
	CHECK(in && kn_policy_from_json(in, &p, &err) == 0);
	json_t *out = kn_policy_to_json(&p);
	json_t *want = load("{\"default\":\"allow\",\"allow_hosts\":[],\"block_hosts\":"
			    "[\"evil.com\",\"127.0.0.1:80\"],\"allow_cidrs\":[],\"block_cidrs\":"
			    "[\"10.0.0.0/8\"],\"bypass_hosts\":[],\"bypass_cidrs\":[]}");
	CHECK(out && want && json_equal(out, want));
	/* to_json -> from_json -> to_json is a fixed point. */
	CHECK(kn_policy_from_json(out, &q, &err) == 0);
	json_t *again = kn_policy_to_json(&q);
	CHECK(again && json_equal(again, out));
	json_decref(in);
	json_decref(out);
	json_decref(want);
	json_decref(again);
	kn_policy_free(&p);
	kn_policy_free(&q);
}

static void test_json_refusals(void)
{
	struct {
		const char *text;
		const char *message;
	} cases[] = {
		{ "[]", "not a JSON object" },
		{ "{}", "\"default\" is missing" },
		{ "{\"default\":\"maybe\"}", "\"default\" must be" },
		{ "{\"default\":1}", "\"default\" must be" },
		{ "{\"default\":\"deny\",\"allow_host\":[]}", "unknown key \"allow_host\"" },
		{ "{\"default\":\"deny\",\"allow_hosts\":\"example.com\"}",
		  "\"allow_hosts\" must be a list of strings" },
		{ "{\"default\":\"deny\",\"allow_hosts\":[\"a.com\",7]}", "allow_hosts[1]: not a string" },
		{ "{\"default\":\"deny\",\"block_hosts\":[\"ok.com\",\"foo*.com\"]}",
		  "block_hosts[1] \"foo*.com\": '*' is only allowed" },
		{ "{\"default\":\"deny\",\"block_cidrs\":[\"10/8\"]}", "block_cidrs[0] \"10/8\": IPv4" },
		{ "{\"default\":\"deny\",\"allow_cidrs\":[\"10.0.0.0/33\"]}",
		  "allow_cidrs[0] \"10.0.0.0/33\": IPv4 prefix length over 32" },
		{ "{\"default\":\"deny\",\"bypass_hosts\":[\"a.com\\r\\nX-Evil: 1\"]}",
		  "bypass_hosts[0] \"a.com\\x0d\\x0aX-Evil: 1\": CR or LF" },
		{ "{\"default\":\"deny\",\"bypass_cidrs\":[\"fe80::1%eth0\"]}",
		  "bypass_cidrs[0] \"fe80::1%eth0\": invalid IPv6" },
	};
	for (size_t i = 0; i < KN_ARRAY_SIZE(cases); i++) {
		json_t *in = load(cases[i].text);
		struct kn_policy p;
		memset(&p, 0xa5, sizeof(p)); /* must stay untouched on failure */
		struct kn_policy sentinel = p;
		kn_error err = { 0 };
		int rc = in ? kn_policy_from_json(in, &p, &err) : 0;
		bool ok = rc == -1 && contains(err.msg, cases[i].message) &&
			  memcmp(&p, &sentinel, sizeof(p)) == 0;
		char detail[KN_ERR_MAX + 64];
		snprintf(detail, sizeof(detail), "rc=%d msg=\"%s\" want \"%s\"", rc, err.msg,
			 cases[i].message);
		report("json-refuse", i, cases[i].text, strlen(cases[i].text), ok, detail);
		json_decref(in);
	}

	/* A NUL inside a JSON string (jansson keeps it with json_stringn). */
	json_t *in = json_pack("{s:s,s:[o]}", "default", "deny", "allow_hosts",
			       json_stringn("a.com\0.evil.com", 15));
	struct kn_policy p;
	kn_error err = { 0 };
	CHECK(in && kn_policy_from_json(in, &p, &err) == -1);
	CHECK(contains(err.msg, "allow_hosts[0] \"a.com\\x00.evil.com\": NUL byte"));
	json_decref(in);

	/* A long entry is quoted only in part. */
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	in = json_pack("{s:s,s:[s]}", "default", "deny", "allow_hosts", big);
	CHECK(in && kn_policy_from_json(in, &p, &err) == -1);
	CHECK(contains(err.msg, "...\": host name longer than 253"));
	CHECK(strlen(err.msg) < 300);
	json_decref(in);
}

int main(void)
{
	RUN(test_host_canon_table);
	RUN(test_ipv4_parse_matches_inet_aton);
	RUN(test_ipv4_format);
	RUN(test_host_kind);
	RUN(test_host_pattern_table);
	RUN(test_host_decisions_default_deny);
	RUN(test_host_decisions_default_allow);
	RUN(test_host_decisions_catch_all);
	RUN(test_empty_policies);
	RUN(test_add_rule_refusal_changes_nothing);
	RUN(test_rule_limit);
	RUN(test_kind_names);
	RUN(test_cidr_parse_table);
	RUN(test_cidr_contains);
	RUN(test_addr_from_sockaddr);
	RUN(test_addr_default_blocks);
	RUN(test_addr_carving);
	RUN(test_bypass);
	RUN(test_json_round_trip_exact);
	RUN(test_json_canonicalises);
	RUN(test_json_refusals);
	return test_summary();
}
