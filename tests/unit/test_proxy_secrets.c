/* test_proxy_secrets.c — the proxy's credential table (src/proxy/secrets.h):
 * what kp_secrets_parse accepts and refuses (and that no refusal carries the
 * value), which headers kp_secrets_match picks, the kp_secrets_to_json round
 * trip, and that formatted values live in mappings excluded from core dumps
 * (read back from /proc/self/smaps). */
#define _GNU_SOURCE
#include "proxy/secrets.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test.h"

/* Every value in this file contains this, so a message can be searched for it. */
#define VALUE "sk-TOPSECRET-0123456789"

/* One entry; `hosts` is comma-separated; NULL leaves a key out. */
static json_t *entry(const char *name, const char *hosts, const char *header, const char *format,
		     const char *value, const char *sandbox)
{
	json_t *o = json_object();
	if (name)
		json_object_set_new(o, "name", json_string(name));
	if (hosts) {
		json_t *arr = json_array();
		char *copy = strdup(hosts), *save = NULL;
		for (char *h = strtok_r(copy, ",", &save); h; h = strtok_r(NULL, ",", &save))
			json_array_append_new(arr, json_string(h));
		free(copy);
		json_object_set_new(o, "hosts", arr);
	}
	if (header)
		json_object_set_new(o, "header", json_string(header));
	if (format)
		json_object_set_new(o, "format", json_string(format));
	if (value)
		json_object_set_new(o, "value", json_string(value));
	if (sandbox)
		json_object_set_new(o, "sandbox", json_string(sandbox));
	return o;
}

static json_t *good(void)
{
	return entry("anthropic", "api.anthropic.com", "x-api-key", NULL, VALUE, NULL);
}

static json_t *array_of(json_t *o)
{
	json_t *a = json_array();
	json_array_append_new(a, o);
	return a;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- accepted tables ---- */

static void test_parse_good(void)
{
	kn_error err = {0};
	json_t *a = json_array();
	json_array_append_new(a, good());
	json_array_append_new(a, entry("openai", "api.openai.com,*.openai.com", "Authorization",
				       "Bearer {}", VALUE "-o", NULL));
	json_array_append_new(a, entry("dev.key_1", "*:8443,[2001:db8::1]:443,192.0.2.7",
				       "x-goog-api-key", "{}", VALUE "-g", "dev-1"));
	struct kp_secrets *t = kp_secrets_parse(a, &err);
	CHECK(t != NULL);
	if (t) {
		CHECK(t->n == 3);
		CHECK_STR_EQ(t->v[0].name, "anthropic");
		CHECK_STR_EQ(t->v[0].header, "x-api-key");
		CHECK_STR_EQ(t->v[0].format, "{}");
		CHECK_STR_EQ(t->v[0].value, VALUE);
		CHECK_STR_EQ(t->v[0].raw, VALUE);
		CHECK(t->v[0].sandbox[0] == '\0');
		CHECK(t->v[0].n_hosts == 1);
		CHECK_STR_EQ(t->v[1].format, "Bearer {}");
		CHECK_STR_EQ(t->v[1].value, "Bearer " VALUE "-o");
		CHECK_STR_EQ(t->v[1].raw, VALUE "-o");
		CHECK(t->v[1].n_hosts == 2);
		CHECK_STR_EQ(t->v[2].sandbox, "dev-1");
		CHECK(t->v[2].n_hosts == 3);
		CHECK(t->v[2].hosts[0].match == KN_MATCH_ANY && t->v[2].hosts[0].port == 8443);
		CHECK_STR_EQ(t->v[2].hosts[1].host, "2001:db8::1");
		CHECK(t->v[2].hosts[1].port == 443);
	}
	kp_secrets_free(t);
	json_decref(a);

	/* The format's text around {} is kept exactly, braces included. */
	a = array_of(entry("f", "h.example", "x-k", "{{}}", VALUE, NULL));
	t = kp_secrets_parse(a, &err);
	CHECK(t != NULL && strcmp(t->v[0].value, "{" VALUE "}") == 0);
	kp_secrets_free(t);
	json_decref(a);
	a = array_of(entry("f", "h.example", "x-k", "{}-suffix", VALUE, NULL));
	t = kp_secrets_parse(a, &err);
	CHECK(t != NULL && strcmp(t->v[0].value, VALUE "-suffix") == 0);
	kp_secrets_free(t);
	json_decref(a);

	/* An empty table is a table. */
	a = json_array();
	t = kp_secrets_parse(a, &err);
	CHECK(t != NULL && t->n == 0);
	struct kp_inject out[KP_INJECT_MAX];
	CHECK(kp_secrets_match(t, "dev", "api.anthropic.com", 443, out) == 0);
	kp_secrets_free(t);
	json_decref(a);
	CHECK(kp_secrets_match(NULL, "dev", "api.anthropic.com", 443, out) == 0);
	kp_secrets_free(NULL);
}

/* Every bound, exactly at its limit, is accepted. */
static void test_parse_limits(void)
{
	kn_error err = {0};
	char *name = repeat('n', KN_SECRET_NAME_MAX);
	char *header = repeat('h', KN_SECRET_HEADER_MAX);
	char *format = repeat('f', KN_SECRET_FORMAT_MAX);
	format[0] = '{';
	format[1] = '}';
	char *value = repeat('v', KN_SECRET_VALUE_MAX);
	char *sandbox = repeat('s', KP_SANDBOX_NAME_MAX);
	json_t *o = entry(name, "a.example", header, format, value, sandbox);
	json_t *hosts = json_array();
	for (int i = 0; i < KN_SECRET_MAX_HOSTS; i++) {
		char h[32];
		snprintf(h, sizeof(h), "h%d.example", i);
		json_array_append_new(hosts, json_string(h));
	}
	json_object_set_new(o, "hosts", hosts);
	json_t *a = array_of(o);
	struct kp_secrets *t = kp_secrets_parse(a, &err);
	CHECK(t != NULL);
	if (!t)
		printf("  %s\n", err.msg);
	if (t) {
		CHECK(t->v[0].n_hosts == KN_SECRET_MAX_HOSTS);
		CHECK(strlen(t->v[0].value) == KN_SECRET_VALUE_MAX + KN_SECRET_FORMAT_MAX - 2);
	}
	kp_secrets_free(t);
	json_decref(a);

	/* KP_SECRETS_MAX entries. */
	a = json_array();
	for (int i = 0; i < KP_SECRETS_MAX; i++) {
		char n[32];
		snprintf(n, sizeof(n), "s%d", i);
		json_array_append_new(a, entry(n, "*", "x-k", NULL, VALUE, NULL));
	}
	t = kp_secrets_parse(a, &err);
	CHECK(t != NULL && t->n == KP_SECRETS_MAX);
	kp_secrets_free(t);
	/* One more is refused. */
	json_array_append_new(a, entry("one-more", "*", "x-k", NULL, VALUE, NULL));
	t = kp_secrets_parse(a, &err);
	CHECK(t == NULL);
	CHECK(strstr(err.msg, "more than 256 secrets") != NULL);
	json_decref(a);

	free(name);
	free(header);
	free(format);
	free(value);
	free(sandbox);
}

/* ---- refused tables ---- */

/* Parse `array` (stolen), expect a refusal naming `want`, without `secret` in
 * the message. */
static void refused(json_t *array, const char *want, const char *secret, const char *what)
{
	kn_error err = {0};
	struct kp_secrets *t = kp_secrets_parse(array, &err);
	CHECK(t == NULL);
	kp_secrets_free(t);
	json_decref(array);
	if (!err.msg[0] || !strstr(err.msg, want)) {
		printf("  %s: message \"%s\" lacks \"%s\"\n", what, err.msg, want);
		test_failed_checks++;
	}
	if (strstr(err.msg, secret) || strstr(err.msg, "TOPSECRET")) {
		printf("  %s: message carries the value\n", what);
		test_failed_checks++;
	}
}

/* The good entry with `key` set to `v` (stolen; NULL deletes the key). */
static void refused_with(const char *key, json_t *v, const char *want, const char *what)
{
	json_t *o = good();
	if (v)
		json_object_set_new(o, key, v);
	else
		json_object_del(o, key);
	refused(array_of(o), want, VALUE, what);
}

static void test_refused_headers(void)
{
	static const char *const bad[] = {
		"Host", "host", "HOST", "Content-Length", "content-length", "Transfer-Encoding",
		"Connection", "Upgrade", "TE", "te", "Trailer", "Keep-Alive", "Expect",
		"Proxy-Authorization", "proxy-connection", "x y", "", "x-api-key:", "x-api-key\r\n",
		"x-api-key\n", "x\x01y", "x-\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused_with("header", json_string(bad[i]), "\"header\"", bad[i]);
	char *long_header = repeat('h', KN_SECRET_HEADER_MAX + 1);
	refused_with("header", json_string(long_header), "\"header\"", "long header");
	free(long_header);
	refused_with("header", json_stringn("x-k\0y", 5), "\"header\"", "header with NUL");
	refused_with("header", json_integer(1), "\"header\"", "header not a string");
	refused_with("header", NULL, "\"header\"", "no header");

	/* The predicate itself. */
	CHECK(kp_secret_header_refused("Host"));
	CHECK(kp_secret_header_refused("PROXY-anything"));
	CHECK(kp_secret_header_refused("keep-alive"));
	CHECK(!kp_secret_header_refused("x-api-key"));
	CHECK(!kp_secret_header_refused("Authorization"));
	CHECK(!kp_secret_header_refused("x-proxy-token"));
	CHECK(!kp_secret_header_refused("hosts"));
}

static void test_refused_formats(void)
{
	static const char *const bad[] = {
		"Bearer", "{} {}", "{}{}", "Bearer\x01{}", "Bearer {}\r\n", "\t{}", "{ }", "",
		"caf\xc3\xa9 {}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused_with("format", json_string(bad[i]), "\"format\"", bad[i]);
	char *long_format = repeat('f', KN_SECRET_FORMAT_MAX + 1);
	long_format[5] = '{';
	long_format[6] = '}';
	refused_with("format", json_string(long_format), "\"format\"", "long format");
	free(long_format);
	refused_with("format", json_stringn("{}\0x", 4), "\"format\"", "format with NUL");
	refused_with("format", json_null(), "\"format\"", "format null");
	refused_with("format", json_integer(7), "\"format\"", "format not a string");
}

static void test_refused_values(void)
{
	refused_with("value", json_string(""), "\"value\"", "empty value");
	refused_with("value", json_string(VALUE "\r\nX-Evil: 1"), "\"value\"", "value with CRLF");
	refused_with("value", json_string(VALUE "\n"), "\"value\"", "value with LF");
	refused_with("value", json_stringn(VALUE "\0tail", sizeof(VALUE) + 4), "\"value\"",
		     "value with NUL");
	refused_with("value", json_string(VALUE "\x7f"), "\"value\"", "value with DEL");
	refused_with("value", json_string(VALUE "\xc3\xa9"), "\"value\"", "value not ASCII");
	refused_with("value", json_integer(12345), "\"value\"", "value not a string");
	refused_with("value", NULL, "\"value\"", "no value");
	char *big = repeat('A', KN_SECRET_VALUE_MAX + 1);
	memcpy(big, VALUE, strlen(VALUE));
	refused_with("value", json_string(big), "\"value\"", "value too long");
	free(big);
}

static void test_refused_hosts(void)
{
	refused_with("hosts", json_array(), "hosts", "no hosts");
	refused_with("hosts", json_string("api.anthropic.com"), "hosts", "hosts a string");
	refused_with("hosts", NULL, "hosts", "hosts missing");
	json_t *many = json_array();
	for (int i = 0; i <= KN_SECRET_MAX_HOSTS; i++) {
		char h[32];
		snprintf(h, sizeof(h), "h%d.example", i);
		json_array_append_new(many, json_string(h));
	}
	refused_with("hosts", many, "hosts", "too many hosts");
	static const char *const bad[] = {
		"foo*.com", "a.*.com", "**.com", "", "a b.com", "a\r\nb.com", "%2e.com",
		"*.192.0.2.1", "host:0", "host:65536", "[::1", "ex\xc3\xa9.com",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused_with("hosts", json_pack("[s]", bad[i]), "hosts[0]", bad[i]);
	refused_with("hosts", json_pack("[s,s]", "ok.example", "bad*.example"), "hosts[1]",
		     "second host bad");
	refused_with("hosts", json_pack("[i]", 3), "hosts[0]", "host not a string");
	refused_with("hosts", json_pack("[s#]", "a\0b.com", (int)7), "hosts[0]", "host with NUL");
}

static void test_refused_names_and_shape(void)
{
	static const char *const bad_names[] = { "", "a b", "../x", ".", "..", "a/b", "é", "x\n" };
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		refused_with("name", json_string(bad_names[i]), "\"name\"", bad_names[i]);
	char *long_name = repeat('n', KN_SECRET_NAME_MAX + 1);
	refused_with("name", json_string(long_name), "\"name\"", "long name");
	free(long_name);
	refused_with("name", json_integer(1), "\"name\"", "name not a string");
	refused_with("name", NULL, "\"name\"", "no name");

	static const char *const bad_sandboxes[] = { "", "a\nb", "tab\there" };
	for (size_t i = 0; i < sizeof(bad_sandboxes) / sizeof(bad_sandboxes[0]); i++)
		refused_with("sandbox", json_string(bad_sandboxes[i]), "\"sandbox\"",
			     bad_sandboxes[i]);
	char *long_sb = repeat('s', KP_SANDBOX_NAME_MAX + 1);
	refused_with("sandbox", json_string(long_sb), "\"sandbox\"", "long sandbox");
	free(long_sb);
	refused_with("sandbox", json_true(), "\"sandbox\"", "sandbox not a string");

	refused_with("extra", json_integer(1), "unexpected key \"extra\"", "unknown key");
	refused_with("Value", json_string(VALUE), "unexpected key \"Value\"", "key case");

	/* A duplicate name, even with everything else different. */
	json_t *a = json_array();
	json_array_append_new(a, good());
	json_array_append_new(a, entry("anthropic", "other.example", "x-other", NULL, VALUE "2",
				       "dev"));
	refused(a, "appears twice", VALUE, "duplicate");

	/* A bad entry after good ones: the whole table is refused (and the
	 * half-built one freed: ASan watches). */
	a = json_array();
	json_array_append_new(a, good());
	json_array_append_new(a, entry("b", "b.example", "x-b", "B {}", VALUE, NULL));
	json_array_append_new(a, entry("c", "c.example", "Host", NULL, VALUE, NULL));
	refused(a, "secret c", VALUE, "third bad");
	a = json_array();
	json_array_append_new(a, good());
	json_array_append_new(a, entry("b", "b.example", "x-b", "B {}", "bad\r\n" VALUE, NULL));
	refused(a, "secret b", VALUE, "second value bad");

	refused(json_object(), "must be an array", VALUE, "object");
	refused(json_string(VALUE), "must be an array", VALUE, "string");
	refused(json_integer(3), "must be an array", VALUE, "number");
	refused(NULL, "must be an array", VALUE, "NULL");
	refused(json_pack("[i]", 1), "secrets[0] is not an object", VALUE, "array of numbers");
	a = json_array();
	json_array_append_new(a, good());
	json_array_append_new(a, json_string(VALUE));
	refused(a, "secrets[1] is not an object", VALUE, "array with a string");
}

/* ---- matching ---- */

/* The table most match tests use; `t` is freed by the caller. */
static struct kp_secrets *match_table(void)
{
	json_t *a = json_array();
	json_array_append_new(a, entry("wild", "*.anthropic.com", "x-api-key", NULL, "W1", NULL));
	json_array_append_new(a, entry("anthropic", "api.anthropic.com", "x-api-key", NULL, "A1",
				       NULL));
	json_array_append_new(a, entry("bound-dev", "api.anthropic.com", "x-api-key", NULL, "D1",
				       "dev"));
	json_array_append_new(a, entry("bound-other", "api.anthropic.com", "X-Api-Key", NULL,
				       "X1", "other"));
	json_array_append_new(a, entry("dev-wild", "*.anthropic.com", "x-api-key", NULL, "DW",
				       "dev"));
	json_array_append_new(a, entry("openai", "api.openai.com", "Authorization", "Bearer {}",
				       "O1", NULL));
	json_array_append_new(a, entry("git", "git.example.com:8443", "Authorization",
				       "token {}", "G1", NULL));
	json_array_append_new(a, entry("git-any", "git.example.com", "Authorization",
				       "basic {}", "G0", NULL));
	json_array_append_new(a, entry("dev-git", "git.example.com", "Authorization", "{}", "GD",
				       "dev"));
	json_array_append_new(a, entry("ip", "192.0.2.7,[2001:db8::1]:443", "x-ip", NULL, "I1",
				       NULL));
	json_array_append_new(a, entry("deep", "*.eu.example.net", "x-deep", NULL, "DEEP", NULL));
	json_array_append_new(a, entry("shallow", "*.example.net", "x-deep", NULL, "SHALLOW",
				       NULL));
	json_array_append_new(a, entry("all", "*", "x-all", NULL, "ALL", NULL));
	json_array_append_new(a, entry("all-port", "*:8080", "x-all", NULL, "ALL8080", NULL));
	kn_error err = {0};
	struct kp_secrets *t = kp_secrets_parse(a, &err);
	if (!t)
		printf("  match table: %s\n", err.msg);
	json_decref(a);
	return t;
}

/* The value injected under header `name` (case-insensitive), or NULL. */
static const struct kp_inject *find(const struct kp_inject *out, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(out[i].name, name) == 0)
			return &out[i];
	return NULL;
}

/* One request's injections, checked against "header=value/secret" specs;
 * headers not listed must be absent. */
static void expect(const struct kp_secrets *t, const char *sandbox, const char *host,
		   uint16_t port, size_t n_want, const char *const *want)
{
	struct kp_inject out[KP_INJECT_MAX];
	memset(out, 0, sizeof(out));
	size_t n = kp_secrets_match(t, sandbox, host, port, out);
	bool ok = n == n_want;
	for (size_t i = 0; ok && i < n_want; i++) {
		char spec[256];
		snprintf(spec, sizeof(spec), "%s", want[i]);
		char *eq = strchr(spec, '='), *slash = strrchr(spec, '/');
		*eq = '\0';
		*slash = '\0';
		const struct kp_inject *got = find(out, n, spec);
		ok = got && strcmp(got->value, eq + 1) == 0 && strcmp(got->secret, slash + 1) == 0;
	}
	/* Every header at most once. */
	for (size_t i = 0; ok && i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			ok = ok && strcasecmp(out[i].name, out[j].name) != 0;
	if (!ok) {
		printf("  %s %s:%u: got %zu:", sandbox, host, port, n);
		for (size_t i = 0; i < n; i++)
			printf(" %s=%s/%s", out[i].name, out[i].value, out[i].secret);
		printf("\n");
		test_failed_checks++;
	}
}

#define EXPECT(t, sb, host, port, ...)                                                    \
	do {                                                                              \
		static const char *const want_[] = { __VA_ARGS__ };                       \
		expect(t, sb, host, port, sizeof(want_) / sizeof(want_[0]), want_);        \
	} while (0)
#define EXPECT_ONLY_ALL(t, sb, host, port) EXPECT(t, sb, host, port, "x-all=ALL/all")

/* {basic:USER}: the header carries base64(USER ":" value), as git sends a
 * token over HTTPS; refused spellings name the problem. */
static void test_basic_format(void)
{
	json_t *a = json_array();
	json_array_append_new(a, entry("gh", "github.com", "Authorization",
				       "Basic {basic:x-access-token}", "tok", NULL));
	kn_error err = { 0 };
	struct kp_secrets *t = kp_secrets_parse(a, &err);
	CHECK(t != NULL);
	struct kp_inject inj[KP_INJECT_MAX];
	if (t) {
		CHECK(kp_secrets_match(t, "sb", "github.com", 443, inj) == 1);
		CHECK_STR_EQ(inj[0].value, "Basic eC1hY2Nlc3MtdG9rZW46dG9r");
		/* The table round-trips with the format as written. */
		json_t *back = kp_secrets_to_json(t);
		CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(back, 0), "format")),
			     "Basic {basic:x-access-token}");
		json_decref(back);
	}
	kp_secrets_free(t);
	json_decref(a);

	static const char *const bad[] = {
		"Basic {basic:}", "Basic {basic:a:b}", "Basic {basic:x", "{} {basic:u}",
		"{basic:u}{basic:u}", "Basic {basic:has space}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = json_array();
		json_array_append_new(a, entry("gh", "github.com", "Authorization", bad[i], "tok",
					       NULL));
		memset(&err, 0, sizeof(err));
		t = kp_secrets_parse(a, &err);
		CHECK(t == NULL);
		CHECK(strstr(err.msg, "format") != NULL);
		kp_secrets_free(t);
		json_decref(a);
	}
}

static void test_match(void)
{
	struct kp_secrets *t = match_table();
	CHECK(t != NULL);
	if (!t)
		return;
	/* Exact beats wildcard; a secret bound to another sandbox never applies. */
	EXPECT(t, "prod", "api.anthropic.com", 443, "x-api-key=A1/anthropic", "x-all=ALL/all");
	/* Bound to this sandbox beats global at equal specificity. */
	EXPECT(t, "dev", "api.anthropic.com", 443, "x-api-key=D1/bound-dev", "x-all=ALL/all");
	/* Header names compare case-insensitively: one x-api-key, the bound one. */
	EXPECT(t, "other", "api.anthropic.com", 443, "x-api-key=X1/bound-other", "x-all=ALL/all");
	/* A more specific global beats a less specific bound one. */
	EXPECT(t, "dev", "console.anthropic.com", 443, "x-api-key=DW/dev-wild", "x-all=ALL/all");
	EXPECT(t, "prod", "console.anthropic.com", 443, "x-api-key=W1/wild", "x-all=ALL/all");
	EXPECT(t, "prod", "a.b.anthropic.com", 443, "x-api-key=W1/wild", "x-all=ALL/all");
	/* A wildcard never covers the apex or a look-alike. */
	EXPECT_ONLY_ALL(t, "prod", "anthropic.com", 443);
	EXPECT_ONLY_ALL(t, "prod", "evilanthropic.com", 443);
	EXPECT_ONLY_ALL(t, "prod", "api.anthropic.com.evil.com", 443);
	/* The value comes formatted. */
	EXPECT(t, "prod", "api.openai.com", 443, "authorization=Bearer O1/openai",
	       "x-all=ALL/all");
	/* Port-limited patterns: only on that port, and preferred there. */
	EXPECT(t, "prod", "git.example.com", 8443, "Authorization=token G1/git", "x-all=ALL/all");
	EXPECT(t, "prod", "git.example.com", 443, "Authorization=basic G0/git-any",
	       "x-all=ALL/all");
	EXPECT(t, "prod", "git.example.com", 0, "Authorization=basic G0/git-any", "x-all=ALL/all");
	/* A port-limited global pattern is more specific than a bound one
	 * without a port; without the port the bound one wins. */
	EXPECT(t, "dev", "git.example.com", 8443, "Authorization=token G1/git", "x-all=ALL/all");
	EXPECT(t, "dev", "git.example.com", 443, "Authorization=GD/dev-git", "x-all=ALL/all");
	EXPECT(t, "prod", "other.example", 8080, "x-all=ALL8080/all-port");
	EXPECT_ONLY_ALL(t, "prod", "other.example", 0);
	/* IP literals, as canonical hosts. */
	EXPECT(t, "prod", "192.0.2.7", 443, "x-ip=I1/ip", "x-all=ALL/all");
	EXPECT(t, "prod", "2001:db8::1", 443, "x-ip=I1/ip", "x-all=ALL/all");
	EXPECT_ONLY_ALL(t, "prod", "2001:db8::1", 80);
	EXPECT_ONLY_ALL(t, "prod", "192.0.2.8", 443);
	/* The longer wildcard wins. */
	EXPECT(t, "prod", "api.eu.example.net", 443, "x-deep=DEEP/deep", "x-all=ALL/all");
	EXPECT(t, "prod", "api.us.example.net", 443, "x-deep=SHALLOW/shallow", "x-all=ALL/all");
	/* Unbound host: only the catch-all. */
	EXPECT_ONLY_ALL(t, "prod", "example.org", 443);
	kp_secrets_free(t);

	/* Without a catch-all, an unbound host gets nothing. */
	json_t *a = array_of(good());
	kn_error err = {0};
	t = kp_secrets_parse(a, &err);
	json_decref(a);
	struct kp_inject out[KP_INJECT_MAX];
	CHECK(t && kp_secrets_match(t, "dev", "example.org", 443, out) == 0);
	CHECK(t && kp_secrets_match(t, "dev", "api.anthropic.com", 443, out) == 1);
	kp_secrets_free(t);
}

/* At equal rank the lower name wins, in whatever order the table lists them. */
static void test_match_ties(void)
{
	for (int order = 0; order < 2; order++) {
		json_t *a = json_array();
		json_t *b_key = entry("b-key", "api.example.com", "x-k", NULL, "B", NULL);
		json_t *a_key = entry("a-key", "api.example.com", "X-K", NULL, "A", NULL);
		json_array_append_new(a, order ? a_key : b_key);
		json_array_append_new(a, order ? b_key : a_key);
		/* Two bound ones at equal rank too. */
		json_array_append_new(a, entry("z-dev", "*.example.com", "x-w", NULL, "Z", "dev"));
		json_array_append_new(a, entry("m-dev", "*.example.com", "x-w", NULL, "M", "dev"));
		kn_error err = {0};
		struct kp_secrets *t = kp_secrets_parse(a, &err);
		json_decref(a);
		CHECK(t != NULL);
		EXPECT(t, "dev", "api.example.com", 443, "x-k=A/a-key", "x-w=M/m-dev");
		EXPECT(t, "prod", "api.example.com", 443, "x-k=A/a-key");
		kp_secrets_free(t);
	}
}

/* At most KP_INJECT_MAX headers, each once. */
static void test_match_inject_max(void)
{
	json_t *a = json_array();
	for (int i = 0; i < KP_INJECT_MAX + 3; i++) {
		char name[16], header[16];
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(header, sizeof(header), "x-h%d", i);
		json_array_append_new(a, entry(name, "*.example.com", header, NULL, VALUE, NULL));
		/* A second secret for the same header must not take a slot. */
		snprintf(name, sizeof(name), "t%d", i);
		json_array_append_new(a, entry(name, "api.example.com", header, NULL, "T", NULL));
	}
	kn_error err = {0};
	struct kp_secrets *t = kp_secrets_parse(a, &err);
	json_decref(a);
	CHECK(t != NULL);
	struct kp_inject out[KP_INJECT_MAX + 1];
	memset(out, 0, sizeof(out));
	size_t n = kp_secrets_match(t, "dev", "api.example.com", 443, out);
	CHECK(n == KP_INJECT_MAX);
	CHECK(out[KP_INJECT_MAX].name == NULL); /* nothing written past the bound */
	for (size_t i = 0; i < n; i++) {
		CHECK_STR_EQ(out[i].value, "T");
		for (size_t j = i + 1; j < n; j++)
			CHECK(strcasecmp(out[i].name, out[j].name) != 0);
	}
	n = kp_secrets_match(t, "dev", "www.example.com", 443, out);
	CHECK(n == KP_INJECT_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK_STR_EQ(out[i].value, VALUE);
	kp_secrets_free(t);
}

/* ---- round trip and memory ---- */

static void same_matches(const struct kp_secrets *x, const struct kp_secrets *y)
{
	static const struct {
		const char *sandbox, *host;
		uint16_t port;
	} q[] = {
		{ "prod", "api.anthropic.com", 443 },  { "dev", "api.anthropic.com", 443 },
		{ "other", "api.anthropic.com", 443 }, { "dev", "console.anthropic.com", 443 },
		{ "prod", "api.openai.com", 443 },     { "prod", "git.example.com", 8443 },
		{ "prod", "git.example.com", 443 },    { "prod", "other.example", 8080 },
		{ "dev", "git.example.com", 8443 },    { "dev", "git.example.com", 443 },
		{ "prod", "192.0.2.7", 443 },          { "prod", "2001:db8::1", 443 },
		{ "prod", "2001:db8::1", 80 },         { "prod", "api.eu.example.net", 443 },
		{ "prod", "example.org", 443 },        { "prod", "anthropic.com", 443 },
	};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		struct kp_inject a[KP_INJECT_MAX], b[KP_INJECT_MAX];
		size_t na = kp_secrets_match(x, q[i].sandbox, q[i].host, q[i].port, a);
		size_t nb = kp_secrets_match(y, q[i].sandbox, q[i].host, q[i].port, b);
		CHECK(na == nb && na > 0);
		for (size_t k = 0; k < na && k < nb; k++) {
			CHECK_STR_EQ(a[k].name, b[k].name);
			CHECK_STR_EQ(a[k].value, b[k].value);
			CHECK_STR_EQ(a[k].secret, b[k].secret);
		}
	}
}

static void test_to_json_round_trip(void)
{
	struct kp_secrets *t = match_table();
	CHECK(t != NULL);
	if (!t)
		return;
	json_t *j = kp_secrets_to_json(t);
	CHECK(json_is_array(j) && json_array_size(j) == t->n);
	/* The raw value and the format travel, not the formatted value; the
	 * sandbox only when bound; patterns in canonical spelling. */
	json_t *openai = json_array_get(j, 5);
	CHECK_STR_EQ(json_string_value(json_object_get(openai, "value")), "O1");
	CHECK_STR_EQ(json_string_value(json_object_get(openai, "format")), "Bearer {}");
	CHECK(json_object_get(openai, "sandbox") == NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(j, 2), "sandbox")), "dev");
	json_t *ip_hosts = json_object_get(json_array_get(j, 9), "hosts");
	CHECK_STR_EQ(json_string_value(json_array_get(ip_hosts, 1)), "[2001:db8::1]:443");

	/* Through text, as the master sends it to workers. */
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	json_error_t jerr;
	json_t *back = json_loads(text, 0, &jerr);
	free(text);
	kn_error err = {0};
	struct kp_secrets *t2 = kp_secrets_parse(back, &err);
	json_decref(back);
	CHECK(t2 != NULL && t2->n == t->n);
	if (t2) {
		same_matches(t, t2);
		for (size_t i = 0; i < t->n; i++) {
			CHECK_STR_EQ(t->v[i].value, t2->v[i].value);
			CHECK(t->v[i].n_hosts == t2->v[i].n_hosts);
			for (size_t h = 0; h < t->v[i].n_hosts; h++)
				CHECK(kn_host_pattern_equal(&t->v[i].hosts[h], &t2->v[i].hosts[h]));
		}
		/* And again: a fixed point. */
		json_t *j1 = kp_secrets_to_json(t), *j2 = kp_secrets_to_json(t2);
		CHECK(json_equal(j1, j2));
		json_decref(j1);
		json_decref(j2);
	}
	kp_secrets_free(t2);
	kp_secrets_free(t);

	/* An empty table dumps as []. */
	json_t *empty = json_array();
	t = kp_secrets_parse(empty, &err);
	json_decref(empty);
	j = kp_secrets_to_json(t);
	CHECK(json_is_array(j) && json_array_size(j) == 0);
	json_decref(j);
	kp_secrets_free(t);
}

/* The smaps entry holding `p`: does its VmFlags line carry `flag`? */
static int mapping_has_flag(const void *p, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	char line[512];
	int in = 0, found = -1;
	uintptr_t a = (uintptr_t)p;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			char needle[8];
			snprintf(needle, sizeof(needle), " %s", flag);
			found = strstr(line + 8, needle) != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

static void test_values_not_dumpable(void)
{
	json_t *a = json_array();
	json_array_append_new(a, good());
	json_array_append_new(a, entry("b", "b.example", "Authorization", "Bearer {}", VALUE,
				       NULL));
	kn_error err = {0};
	struct kp_secrets *t = kp_secrets_parse(a, &err);
	json_decref(a);
	CHECK(t != NULL);
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		CHECK(mapping_has_flag(t->v[i].value, "dd") == 1);
		CHECK(mapping_has_flag(t->v[i].raw, "dd") == 1);
	}
	/* Contrast: ordinary heap memory is dumpable (the check sees a difference). */
	CHECK(mapping_has_flag(t->v, "dd") == 0);
	kp_secrets_free(t);
}

int main(void)
{
	RUN(test_parse_good);
	RUN(test_parse_limits);
	RUN(test_refused_headers);
	RUN(test_refused_formats);
	RUN(test_refused_values);
	RUN(test_refused_hosts);
	RUN(test_refused_names_and_shape);
	RUN(test_basic_format);
	RUN(test_match);
	RUN(test_match_ties);
	RUN(test_match_inject_max);
	RUN(test_to_json_round_trip);
	RUN(test_values_not_dumpable);
	return test_summary();
}
