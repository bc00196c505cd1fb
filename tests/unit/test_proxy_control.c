/* test_proxy_control.c — the control channel's messages (src/proxy/control.h)
 * as kenneld sends them and as the master fans them out, the listener check
 * on real sockets, and the command line (options.h). */
#include "proxy/control.h"
#include "proxy/options.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

static int parse(const char *json, size_t n_fds, bool from_master, struct kp_command *cmd,
		 kn_error *err)
{
	return kp_command_parse(json, strlen(json), n_fds, from_master, cmd, err);
}

static void test_valid_messages(void)
{
	struct kp_command cmd;
	kn_error err;

	CHECK(parse("{\"op\":\"sandbox\",\"name\":\"dev-1\",\"policy\":{\"default\":\"deny\","
		    "\"allow_hosts\":[\"*.example.com\"]}}",
		    1, false, &cmd, &err) == 0);
	CHECK(cmd.op == KP_OP_SANDBOX && cmd.has_policy && cmd.slot == -1);
	CHECK_STR_EQ(cmd.name, "dev-1");
	CHECK(cmd.policy.def == KN_DEFAULT_DENY && cmd.policy.nrules == 1);

	/* What the master sends on: canonical policy plus the slot, parsed back. */
	char *text = kp_command_for_worker(&cmd, 7);
	kp_command_free(&cmd);
	CHECK(text != NULL);
	CHECK(parse(text, 2, true, &cmd, &err) == 0);
	CHECK(cmd.slot == 7 && cmd.policy.nrules == 1);
	kp_command_free(&cmd);
	free(text);

	CHECK(parse("{\"op\":\"policy\",\"name\":\"x\",\"policy\":{\"default\":\"allow\"}}", 0, false,
		    &cmd, &err) == 0);
	kp_command_free(&cmd);
	CHECK(parse("{\"op\":\"remove\",\"name\":\"x\"}", 0, false, &cmd, &err) == 0);
	CHECK(cmd.op == KP_OP_REMOVE && !cmd.has_policy);
}

static void test_refused_messages(void)
{
	static const struct {
		const char *json;
		size_t fds;
		bool from_master;
		const char *want;
	} bad[] = {
		{ "{\"op\":\"sandbox\"", 1, false, "invalid JSON" },
		{ "[1,2]", 0, false, "not a JSON object" },
		{ "{\"op\":\"reboot\",\"name\":\"x\"}", 0, false, "unknown op" },
		{ "{\"op\":7,\"name\":\"x\"}", 0, false, "\"op\" must be a string" },
		{ "{\"op\":\"remove\"}", 0, false, "\"name\" must be a string" },
		{ "{\"op\":\"remove\",\"name\":\"\"}", 0, false, "1 to 128 bytes" },
		{ "{\"op\":\"remove\",\"name\":\"a\\nb\"}", 0, false, "printable ASCII" },
		{ "{\"op\":\"remove\",\"name\":\"x\",\"policy\":{}}", 0, false, "unexpected key \"policy\"" },
		{ "{\"op\":\"remove\",\"name\":\"x\",\"slot\":1}", 0, false, "unexpected key \"slot\"" },
		{ "{\"op\":\"remove\",\"name\":\"x\",\"name\":\"y\"}", 0, false, "invalid JSON" },
		{ "{\"op\":\"remove\",\"name\":\"x\"}", 1, false, "takes no fds" },
		{ "{\"op\":\"sandbox\",\"name\":\"x\",\"policy\":{\"default\":\"allow\"}}", 0, false, "1 or 2" },
		{ "{\"op\":\"sandbox\",\"name\":\"x\",\"policy\":{\"default\":\"allow\"}}", 3, false, "1 or 2" },
		{ "{\"op\":\"policy\",\"name\":\"x\"}", 0, false, "needs \"policy\"" },
		{ "{\"op\":\"policy\",\"name\":\"x\",\"policy\":{\"default\":\"maybe\"}}", 0, false, "policy" },
		{ "{\"op\":\"policy\",\"name\":\"x\",\"policy\":{\"default\":\"deny\",\"block_cidrs\":[\"10/8\"]}}", 0, false, "block_cidrs[0]" },
		{ "{\"op\":\"remove\",\"name\":\"x\"}", 0, true, "\"slot\"" },
		{ "{\"op\":\"remove\",\"name\":\"x\",\"slot\":1024}", 0, true, "\"slot\"" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kp_command cmd;
		kn_error err;
		int rc = parse(bad[i].json, bad[i].fds, bad[i].from_master, &cmd, &err);
		CHECK(rc < 0);
		if (rc == 0 || !strstr(err.msg, bad[i].want))
			printf("  case %zu: %s -> \"%s\"\n", i, bad[i].json, rc ? err.msg : "accepted");
		CHECK(rc == 0 || strstr(err.msg, bad[i].want) != NULL);
	}
	char big[KP_CONTROL_MSG_MAX + 2];
	memset(big, ' ', sizeof(big));
	struct kp_command cmd;
	kn_error err;
	CHECK(kp_command_parse(big, sizeof(big), 0, false, &cmd, &err) < 0);
	CHECK(strstr(err.msg, "larger than") != NULL);
}

static void test_replies(void)
{
	char *ok = kp_reply_text(true, NULL), *no = kp_reply_text(false, "no \"such\" sandbox");
	CHECK_STR_EQ(ok, "{\"ok\":true}");
	CHECK_STR_EQ(no, "{\"ok\":false,\"error\":\"no \\\"such\\\" sandbox\"}");
	free(ok);
	free(no);
	CHECK_STR_EQ(kp_ready_message, "{\"op\":\"ready\"}");
}

static void test_check_listener(void)
{
	kn_error err;
	int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
	int sp[2];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
	CHECK(bind(tcp, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHECK(kp_check_listener(tcp, &err) < 0 && strstr(err.msg, "not listening"));
	CHECK(listen(tcp, 1) == 0);
	CHECK(kp_check_listener(tcp, &err) == 0);
	CHECK(kp_check_listener(udp, &err) < 0 && strstr(err.msg, "stream"));
	CHECK(kp_check_listener(sp[0], &err) < 0 && strstr(err.msg, "IPv4 or IPv6"));
	CHECK(kp_check_listener(-1, &err) < 0);
	close(tcp);
	close(udp);
	close(sp[0]);
	close(sp[1]);
}

static int opts(struct kp_options *o, kn_error *err, ...)
{
	char *argv[32] = { "kennel-proxy" };
	int argc = 1;
	va_list ap;
	va_start(ap, err);
	for (char *a; argc < 31 && (a = va_arg(ap, char *)); )
		argv[argc++] = a;
	va_end(ap);
	return kp_options_parse(o, argc, argv, err);
}

static void test_options(void)
{
	struct kp_options o;
	kn_error err;

	CHECK(opts(&o, &err, "--control-fd", "3", "--log", "/l", NULL) == 0);
	CHECK(o.control_fd == 3 && strcmp(o.log_path, "/l") == 0 && !o.hosts_path);
	CHECK(o.workers >= KP_DEFAULT_WORKERS_MIN && o.workers <= KP_DEFAULT_WORKERS_MAX);
	CHECK(o.header_timeout_ms == KP_HEADER_TIMEOUT_MS && o.log_max_bytes == KP_LOG_ROTATE_BYTES);
	CHECK(o.max_conns_per_sandbox == KP_MAX_CONNS_PER_SANDBOX);
	CHECK(opts(&o, &err, "--control-fd", "3", "--log", "/l", "--hosts", "/h", "--workers", "4",
		   "--header-timeout-ms", "250", "--idle-timeout-ms", "5000",
		   "--max-conns-per-sandbox", "9", "--log-max-bytes", "4096", "--debug", NULL) == 0);
	CHECK(o.workers == 4 && o.header_timeout_ms == 250 && o.idle_timeout_ms == 5000);
	CHECK(o.max_conns_per_sandbox == 9 && o.log_max_bytes == 4096 && o.debug);

	CHECK(opts(&o, &err, "--log", "/l", NULL) < 0 && strstr(err.msg, "--control-fd"));
	CHECK(opts(&o, &err, "--control-fd", "3", NULL) < 0 && strstr(err.msg, "--log"));
	CHECK(opts(&o, &err, "--control-fd", "3x", "--log", "/l", NULL) < 0);
	CHECK(opts(&o, &err, "--control-fd", "3", "--log", "/l", "--workers", "0", NULL) < 0);
	CHECK(opts(&o, &err, "--control-fd", "3", "--log", "/l", "--workers", "65", NULL) < 0);
	CHECK(opts(&o, &err, "--control-fd", "3", "--log", "/l", "--header-timeout-ms", "-1",
		   NULL) < 0);
	CHECK(opts(&o, &err, "--control-fd", "3", "--log", "/l", "--frobnicate", NULL) < 0);
	CHECK(opts(&o, &err, "--control-fd", "3", "--log", "/l", "extra", NULL) < 0);
}

int main(void)
{
	RUN(test_valid_messages);
	RUN(test_refused_messages);
	RUN(test_replies);
	RUN(test_check_listener);
	RUN(test_options);
	return test_summary();
}
