#define _GNU_SOURCE
#include "cli/exec.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/relay.h"
#include "cli/term.h"
#include "common/error.h"
#include "common/util.h"

static json_t *string_array(const char *const *items, size_t n)
{
	json_t *array = json_array();
	for (size_t i = 0; array && i < n; i++)
		if (json_array_append_new(array, json_string(items[i])) < 0) {
			json_decref(array);
			return NULL;
		}
	return array;
}

static json_t *build_request(const struct cli_exec_options *opt)
{
	json_t *req = json_object();
	if (!req)
		return NULL;
	int bad = json_object_set_new(req, "cmd", string_array(opt->cmd, opt->n_cmd));
	if (opt->n_env)
		bad |= json_object_set_new(req, "env", string_array(opt->env, opt->n_env));
	if (opt->user)
		bad |= json_object_set_new(req, "user", json_string(opt->user));
	if (opt->workdir)
		bad |= json_object_set_new(req, "workdir", json_string(opt->workdir));
	bad |= json_object_set_new(req, "tty", json_boolean(opt->tty));
	bad |= json_object_set_new(req, "interactive", json_boolean(opt->interactive));
	bad |= json_object_set_new(req, "detach", json_boolean(opt->detach));
	unsigned short rows, cols;
	int term = cli_term_find();
	if (opt->tty && term >= 0 && cli_term_size(term, &rows, &cols) == 0) {
		bad |= json_object_set_new(req, "rows", json_integer(rows));
		bad |= json_object_set_new(req, "cols", json_integer(cols));
	}
	if (bad) {
		json_decref(req);
		return NULL;
	}
	return req;
}

/* Hand the fds named by the "started" event to `r`, checking they are the ones
 * this request asked for. */
static int assign_fds(const json_t *names, const int *fds, size_t n,
		      const struct cli_exec_options *opt, struct cli_relay *r, kn_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = json_string_value(json_array_get(names, i));
		int *slot = NULL;
		if (!name)
			return kn_fail(err, "started event from kenneld names a non-string fd");
		if (strcmp(name, "pty") == 0)
			slot = &r->pty;
		else if (strcmp(name, "stdin") == 0)
			slot = &r->stdin_w;
		else if (strcmp(name, "stdout") == 0)
			slot = &r->stdout_r;
		else if (strcmp(name, "stderr") == 0)
			slot = &r->stderr_r;
		else
			return kn_fail(err, "started event from kenneld names an unknown fd '%s'", name);
		if (*slot >= 0)
			return kn_fail(err, "started event from kenneld names fd '%s' twice", name);
		*slot = fds[i];
	}
	bool ok = opt->tty ? r->pty >= 0 && r->stdin_w < 0 && r->stdout_r < 0 && r->stderr_r < 0
			   : r->pty < 0 && r->stdout_r >= 0 && r->stderr_r >= 0 &&
				     (r->stdin_w >= 0) == opt->interactive;
	if (!ok)
		return kn_fail(err, "kenneld sent fds that do not match the request (tty %s, "
				    "interactive %s)", opt->tty ? "on" : "off",
			       opt->interactive ? "on" : "off");
	return 0;
}

static void close_relay_fds(struct cli_relay *r)
{
	int *fds[] = {&r->pty, &r->stdin_w, &r->stdout_r, &r->stderr_r};
	for (size_t i = 0; i < KN_ARRAY_SIZE(fds); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int take_started(struct cli_conn *conn, const struct cli_exec_options *opt,
			struct cli_relay *r, kn_error *err)
{
	json_t *event = NULL;
	int got = cli_conn_next_event(conn, &event, err);
	if (got < 0)
		return -1;
	if (got == 0)
		return kn_fail(err, "kenneld closed the connection before the command started");
	int rc = -1;
	const char *name = json_string_value(json_object_get(event, "event"));
	const json_t *names = json_object_get(event, "fds");
	size_t n = json_array_size(names);
	int fds[CLI_MAX_RECEIVED_FDS];
	if (!name || strcmp(name, "started") != 0)
		kn_fail(err, "kenneld sent event '%s' before 'started'", name ? name : "(none)");
	else if (!json_is_array(names) || n > CLI_MAX_RECEIVED_FDS)
		kn_fail(err, "started event from kenneld has no valid fds list");
	else if (cli_conn_take_fds(conn, fds, n, err) == 0) {
		rc = assign_fds(names, fds, n, opt, r, err);
		if (rc < 0) {
			for (size_t i = 0; i < n; i++)
				close(fds[i]);
			r->pty = r->stdin_w = r->stdout_r = r->stderr_r = -1;
		}
	}
	json_decref(event);
	return rc;
}

static int print_detached_pid(struct cli_conn *conn, kn_error *err)
{
	_cleanup_free_ char *body = NULL;
	size_t len;
	if (cli_conn_read_body(conn, &body, &len, err) < 0)
		return -1;
	json_t *answer = json_loadb(body, len, 0, NULL);
	json_t *pid = json_object_get(answer, "pid");
	int rc = 0;
	if (json_is_integer(pid))
		printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(pid));
	else
		rc = kn_fail(err, "kenneld's answer to a detached exec has no pid");
	json_decref(answer);
	return rc;
}

int cli_exec_session(const char *socket_path, const char *sandbox,
		     const struct cli_exec_options *opt)
{
	kn_error err = {0};
	struct cli_conn conn;
	char path[128];
	snprintf(path, sizeof(path), "/sandboxes/%s/exec", sandbox);
	/* A closed stdout must end one stream, not kill kennel (relay.h). */
	signal(SIGPIPE, SIG_IGN);
	json_t *req = build_request(opt);
	if (!req) {
		fprintf(stderr, "kennel: out of memory building the exec request\n");
		return 1;
	}
	int rc = cli_conn_open(&conn, socket_path, &err);
	/* Bounded until the stream starts; the command itself may run for days. */
	if (rc == 0)
		rc = cli_conn_set_timeout(&conn, true, &err);
	if (rc == 0)
		rc = cli_conn_send(&conn, "POST", path, req, &err);
	json_decref(req);
	if (rc == 0)
		rc = cli_conn_read_head(&conn, &err);
	if (rc == 0 && conn.status >= 200 && conn.status <= 299)
		rc = cli_conn_set_timeout(&conn, false, &err);
	if (rc == 0 && (conn.status < 200 || conn.status > 299)) {
		_cleanup_free_ char *body = NULL;
		size_t len;
		if (cli_conn_read_body(&conn, &body, &len, &err) == 0)
			cli_error_from_body(conn.status, body, len, &err);
		rc = -1;
	}
	if (rc < 0) {
		fprintf(stderr, "kennel: %s\n", err.msg);
		cli_conn_close(&conn);
		return 1;
	}

	int status = CLI_EXIT_TOOL_FAILED;
	if (opt->detach) {
		if (print_detached_pid(&conn, &err) == 0)
			status = 0;
		else
			fprintf(stderr, "kennel: %s\n", err.msg);
		cli_conn_close(&conn);
		return status;
	}

	struct cli_relay relay = {
		.conn = &conn,
		.in_fd = opt->interactive ? STDIN_FILENO : -1,
		.pty = -1,
		.stdin_w = -1,
		.stdout_r = -1,
		.stderr_r = -1,
		.term_fd = opt->tty ? cli_term_find() : -1,
	};
	if (strncmp(conn.content_type, "application/x-kennel-exec", 25) != 0)
		rc = kn_fail(&err, "kenneld answered the exec with '%s', not an exec stream",
			     conn.content_type);
	else
		rc = take_started(&conn, opt, &relay, &err);
	if (rc == 0 && opt->tty && opt->interactive && isatty(STDIN_FILENO))
		rc = cli_term_make_raw(STDIN_FILENO, &err);
	if (rc == 0)
		rc = cli_relay_run(&relay, &status, &err);
	else
		close_relay_fds(&relay);
	cli_term_restore();
	if (rc < 0) {
		fprintf(stderr, "kennel: %s\n", err.msg);
		status = CLI_EXIT_TOOL_FAILED;
	}
	cli_conn_close(&conn);
	return status;
}
