/* test_proxy_decide.c — the proxy's policy questions and what it answers with:
 * the hosts override file (src/proxy/hosts.h), the host-then-addresses
 * decision (decide.h) and the canned replies (reply.h). The cases are the ones
 * the issue names: an allowed name whose address is blocked, IP literals in
 * every spelling, IPv4-mapped IPv6, and a 403 that names its rule. */
#include "proxy/decide.h"
#include "proxy/hosts.h"
#include "proxy/reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/http.h"
#include "policy/policy.h"
#include "test.h"

static struct kn_addr addr(const char *s)
{
	struct kn_addr a;
	if (kn_addr_parse(s, strlen(s), &a, NULL) < 0)
		abort();
	return a;
}

static int parse_hosts(struct kp_hosts *h, const char *text, kn_error *err)
{
	return kp_hosts_parse(h, text, strlen(text), err);
}

static void test_hosts_parse(void)
{
	struct kp_hosts h = { 0 };
	kn_error err;
	struct kn_addr out[4];

	CHECK(parse_hosts(&h,
			  "# comment\n"
			  "127.0.0.1  Allowed.Test. other.test   # trailing comment\n"
			  "\n"
			  "\t::1\tv6.test\r\n"
			  "10.0.0.1 allowed.test\n"
			  "::ffff:10.1.2.3 mapped.test",
			  &err) == 0);
	CHECK(kp_hosts_lookup(&h, "allowed.test", out, 4) == 2);
	struct kn_addr a = addr("127.0.0.1"), b = addr("10.0.0.1");
	CHECK(kn_addr_equal(&out[0], &a) && kn_addr_equal(&out[1], &b));
	CHECK(kp_hosts_lookup(&h, "allowed.test", out, 1) == 1);
	CHECK(kp_hosts_lookup(&h, "v6.test", out, 4) == 1 && out[0].family == AF_INET6);
	CHECK(kp_hosts_lookup(&h, "mapped.test", out, 4) == 1 && out[0].family == AF_INET);
	CHECK(kp_hosts_lookup(&h, "Allowed.Test.", out, 4) == 0); /* callers pass canonical names */
	CHECK(kp_hosts_lookup(&h, "nothere.test", out, 4) == 0);
	kp_hosts_free(&h);
}

static void test_hosts_refusals(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "127.1 short.test\n", "line 1: address" },
		{ "1.2.3.4\n", "line 1: address without a name" },
		{ "# ok\n1.2.3.4 a.test\nfe80::1%eth0 zone.test\n", "line 3" },
		{ "1.2.3.4 bad_name!\n", "line 1: name" },
		{ "1.2.3.4 127.0.0.2\n", "is an address, not a name" },
		{ "1.2.3.4 2130706433\n", "is an address, not a name" },
		{ "1.2.3.4 a.test\n1.2.3.4 b\r.test\n", "line 2" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kp_hosts h = { 0 };
		kn_error err;
		CHECK(parse_hosts(&h, bad[i].text, &err) < 0);
		if (!strstr(err.msg, bad[i].want))
			printf("  case %zu: \"%s\" lacks \"%s\"\n", i, err.msg, bad[i].want);
		CHECK(strstr(err.msg, bad[i].want) != NULL);
		CHECK(h.n == 0);
	}
	/* A NUL byte inside the text. */
	struct kp_hosts h = { 0 };
	kn_error err;
	CHECK(kp_hosts_parse(&h, "1.2.3.4 a\0b.test\n", 17, &err) < 0);
}

static void test_hosts_load(void)
{
	char path[] = "/tmp/kennel-test-hosts.XXXXXX";
	int fd = mkstemp(path);
	struct kp_hosts h = { 0 };
	kn_error err;
	struct kn_addr out[2];

	CHECK(fd >= 0);
	CHECK(write(fd, "127.0.0.1 file.test\n", 20) == 20);
	close(fd);
	CHECK(kp_hosts_load(&h, path, &err) == 0);
	CHECK(kp_hosts_lookup(&h, "file.test", out, 2) == 1);
	kp_hosts_free(&h);
	unlink(path);
	CHECK(kp_hosts_load(&h, path, &err) < 0);
	CHECK(strstr(err.msg, path) != NULL);
	CHECK(kp_hosts_load(&h, "/tmp", &err) < 0);
}

static void policy(struct kn_policy *p, enum kn_default def, const char *const *rules)
{
	kn_policy_init_default(p, def);
	for (; rules && rules[0]; rules += 2) {
		enum kn_rule_kind kind;
		if (kn_rule_kind_from_name(rules[0], &kind) < 0 ||
		    kn_policy_add_rule(p, kind, rules[1], NULL) < 0)
			abort();
	}
}

static void test_decide_host(void)
{
	static const char *const rules[] = { "block-host", "evil.test", "block-host", "127.0.0.1",
					     NULL };
	struct kn_policy p;
	struct kn_decision d;
	char canon[KN_HOST_BUFSZ];

	policy(&p, KN_DEFAULT_ALLOW, rules);
	CHECK(kp_decide_host(&p, "Good.Test.", 10, 443, canon, &d));
	CHECK_STR_EQ(canon, "good.test");
	CHECK_STR_EQ(d.rule, "default allow");
	CHECK(!kp_decide_host(&p, "EVIL.test", 9, 80, canon, &d));
	CHECK_STR_EQ(d.rule, "block-host evil.test");
	static const char *const spellings[] = { "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1",
						 "0x7f000001", "::ffff:127.0.0.1" };
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		CHECK(!kp_decide_host(&p, spellings[i], strlen(spellings[i]), 80, canon, &d));
		CHECK_STR_EQ(canon, "127.0.0.1");
		CHECK_STR_EQ(d.rule, "block-host 127.0.0.1");
	}
	CHECK(!kp_decide_host(&p, "a\0b", 3, 80, canon, &d));
	CHECK_STR_EQ(canon, "");
	CHECK(strncmp(d.rule, "invalid host: ", 14) == 0);
	CHECK(!kp_decide_host(&p, "1.2.3.4.5", 9, 80, canon, &d));
	kn_policy_free(&p);
}

static void test_candidates(void)
{
	static const char *const rules[] = { "allow-cidr", "10.1.0.0/16", NULL };
	struct kn_policy p;
	struct kp_candidates in = { 0 }, allowed;
	struct kn_decision block;

	policy(&p, KN_DEFAULT_ALLOW, rules);
	/* An allowed name that resolves to the metadata address is blocked. */
	struct kn_addr meta = addr("169.254.169.254");
	kp_candidates_add(&in, &meta);
	CHECK(kp_filter_candidates(&p, &in, &allowed, &block) == 0);
	CHECK_STR_EQ(block.rule, "block-cidr 169.254.0.0/16 (default)");

	/* Mixed: the blocked ones are dropped, order kept. */
	struct kn_addr pub = addr("93.184.216.34"), lo = addr("127.0.0.1"), carved = addr("10.1.2.3");
	struct kn_addr mapped = addr("::ffff:10.0.0.9"), pub2 = addr("2606:2800:220:1::1");
	kp_candidates_add(&in, &pub);
	kp_candidates_add(&in, &lo);
	kp_candidates_add(&in, &carved);
	kp_candidates_add(&in, &mapped);
	kp_candidates_add(&in, &pub2);
	kp_candidates_add(&in, &pub); /* duplicate: ignored */
	CHECK(in.n == 6);
	CHECK(kp_filter_candidates(&p, &in, &allowed, &block) == 3);
	CHECK(kn_addr_equal(&allowed.addr[0], &pub) && kn_addr_equal(&allowed.addr[1], &carved));
	CHECK(kn_addr_equal(&allowed.addr[2], &pub2));
	CHECK_STR_EQ(block.rule, "block-cidr 169.254.0.0/16 (default)"); /* the first blocked */

	struct kp_candidates none = { 0 };
	CHECK(kp_filter_candidates(&p, &none, &allowed, &block) == 0);
	CHECK(block.verdict == KN_VERDICT_BLOCK);

	/* The list is bounded. */
	struct kp_candidates full = { 0 };
	for (int i = 0; i < KP_MAX_CANDIDATES + 5; i++) {
		struct kn_addr a;
		kn_addr_v4(&a, 0x5db8d800u + (uint32_t)i);
		kp_candidates_add(&full, &a);
	}
	CHECK(full.n == KP_MAX_CANDIDATES);
	kn_policy_free(&p);
}

static void test_literal_candidates(void)
{
	struct kp_candidates c;

	CHECK(kp_literal_candidates("127.0.0.1", &c) && c.n == 1 && c.addr[0].family == AF_INET);
	CHECK(kp_literal_candidates("::1", &c) && c.n == 1 && c.addr[0].family == AF_INET6);
	CHECK(!kp_literal_candidates("example.com", &c) && c.n == 0);
}

static void test_reply(void)
{
	char buf[KP_REPLY_MAX];
	struct http_response r;
	const char *reason = NULL;

	size_t n = kp_reply_format(buf, sizeof(buf), 403, "blocked by policy",
				   "block-host evil.test");
	CHECK(n > 0 && n < sizeof(buf));
	ssize_t head = http_parse_response_head(buf, n, &r, &reason);
	CHECK(head > 0 && r.status == 403 && r.keep_alive == 0);
	const struct http_header *h = http_header_find(r.headers, r.n_headers, KP_POLICY_HEADER);
	CHECK(h && h->value_len == 20 && memcmp(h->value, "block-host evil.test", 20) == 0);
	CHECK((size_t)r.content_length == n - (size_t)head);
	CHECK(strstr(buf + head, "kennel-proxy: blocked by policy: block-host evil.test\n") != NULL);

	/* Bytes a client chose cannot break the head. */
	n = kp_reply_format(buf, sizeof(buf), 400, "bad\r\nX-Injected: 1", "rule\r\nX-Evil: 1");
	head = http_parse_response_head(buf, n, &r, &reason);
	CHECK(head > 0 && r.status == 400);
	CHECK(http_header_find(r.headers, r.n_headers, "X-Injected") == NULL);
	CHECK(http_header_find(r.headers, r.n_headers, "X-Evil") == NULL);

	/* Without a rule: no policy header. Over-long text is cut, never overflows. */
	char text[KP_REPLY_TEXT_MAX * 2];
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	n = kp_reply_format(buf, sizeof(buf), 502, text, NULL);
	head = http_parse_response_head(buf, n, &r, &reason);
	CHECK(head > 0 && r.status == 502);
	CHECK(http_header_find(r.headers, r.n_headers, KP_POLICY_HEADER) == NULL);
	CHECK((size_t)r.content_length == n - (size_t)head);
	CHECK(strncmp(kp_reply_connect_ok, "HTTP/1.1 200 ", 13) == 0);
}

int main(void)
{
	RUN(test_hosts_parse);
	RUN(test_hosts_refusals);
	RUN(test_hosts_load);
	RUN(test_decide_host);
	RUN(test_candidates);
	RUN(test_literal_candidates);
	RUN(test_reply);
	return test_summary();
}
