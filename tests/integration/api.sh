#!/usr/bin/env bash
# api.sh — kenneld's HTTP API spoken directly with curl over the Unix socket
# (docs/api.md): /health, /version, the sandbox object returned by create,
# list and get, exec's JSON-lines stream and its exit codes, stop, start,
# DELETE with and without force, and the 404/405 answers. Every answer is
# checked for its status, its Content-Type and the fields it must carry.
. "$(dirname "$0")/../lib.sh"

# expect NAME STATUS [EXPR] — the last answer had STATUS, a JSON Content-Type
# (or the exec stream's) and EXPR holds.
expect() {
	local name=$1 want=$2 expr=${3:-True}
	if [ "$code" = "$want" ] && [[ "$ctype" == application/json* || "$ctype" == application/x-kennel-exec* ]] &&
		jtest "$expr"; then
		pass "$name"
	else
		fail "$name" "status $code (want $want), Content-Type '$ctype', want: $expr" "$body" \
			"$(cat "$T/curl.err")"
	fi
}

start_daemon || exit 1
WS=$T/ws
mkdir -p "$WS"
VERSION=$(cat "$KENNEL_SRC/VERSION")
# Limits left out get defaults: memory half the host's RAM, pids 4096.
HALF_RAM=$("$PYTHON" -c 'import os; print(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2)')
SB=api-$$ # unique: other test daemons may run on this host at the same time

# --- health and version ---------------------------------------------------------
api GET /health
expect health 200 'j == {"status": "ok"}'
api GET /version
expect version 200 "j['version'] == '$VERSION' and j['api'] == 1 and isinstance(j['git'], str) and len(j) == 3"

# --- create -----------------------------------------------------------------------
api POST /sandboxes "{\"name\":\"$SB\",\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\"}]}"
create_body=$body
expect create_201_object 201 "
set(j) >= {'name','agent','isolation','status','created','workspaces','image','limits','command','pid','uid_base'}
and j['name'] == '$SB' and j['agent'] == 'shell' and j['isolation'] == 'ns'
and j['status'] == 'running' and j['workspaces'] == [{'path': '$WS', 'readonly': False}]
and j['image'] is None and j['limits'] == {'cpus': None, 'memory': $HALF_RAM, 'pids': 4096}
and isinstance(j['command'], list) and len(j['command']) > 0 and all(isinstance(c, str) for c in j['command'])
and isinstance(j['pid'], int) and j['pid'] > 1 and isinstance(j['uid_base'], int) and j['uid_base'] > 0"
body=$create_body
check create_created_is_rfc3339_utc jtest "
__import__('re').fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', j['created']) and
abs(__import__('calendar').timegm(__import__('time').strptime(j['created'], '%Y-%m-%dT%H:%M:%SZ'))
    - __import__('time').time()) < 120"
INIT_PID=$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["pid"])' <<<"$create_body")
UID_BASE=$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["uid_base"])' <<<"$create_body")
# The init is a real host process, running as the host uid that is root inside.
check_out create_pid_is_init_as_uid_base "^Uid:[[:space:]]+${UID_BASE}[[:space:]]" cat "/proc/$INIT_PID/status"

LIM=$SB-lim
api POST /sandboxes "{\"name\":\"$LIM\",\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\",\"readonly\":true}],\"cpus\":1.5,\"memory\":536870912,\"pids\":512}"
expect create_with_limits 201 "j['limits'] == {'cpus': 1.5, 'memory': 536870912, 'pids': 512}
and j['workspaces'] == [{'path': '$WS', 'readonly': True}] and j['status'] == 'running'"
# The limits are really in the cgroups (v1 or v2 file names).
cg_value() { # NAME FILE... — the first of FILEs found in a cgroup dir named NAME
	local d f
	for d in $(cg_dirs "$1"); do
		for f in "${@:2}"; do [ -f "$d/$f" ] && { cat "$d/$f"; return 0; }; done
	done
	return 1
}
check_out limits_memory_in_cgroup '^536870912$' cg_value "$LIM" memory.max memory.limit_in_bytes
check_out limits_pids_in_cgroup '^512$' cg_value "$LIM" pids.max
check_out limits_cpu_in_cgroup '^(150000 100000|150000)$' cg_value "$LIM" cpu.max cpu.cfs_quota_us
ZERO=$SB-zero
api POST /sandboxes "{\"name\":\"$ZERO\",\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\"}],\"memory\":0,\"pids\":0,\"cpus\":0}"
expect create_zero_limits_mean_none 201 "j['limits'] == {'cpus': None, 'memory': None, 'pids': None}"
# No limit: either no pids cgroup at all (kenneld joins only the v1
# hierarchies a limit needs) or one whose pids.max is "max".
zero_pids() { cg_value "$ZERO" pids.max || echo max; }
check_out zero_pids_unlimited_in_cgroup '^max$' zero_pids
api DELETE "/sandboxes/$ZERO?force=1"
expect delete_zero_limits 200 "j == {'removed': '$ZERO'}"

# --- list and get ---------------------------------------------------------------
api GET /sandboxes
expect list_has_both 200 "list(j) == ['sandboxes'] and
sorted(s['name'] for s in j['sandboxes']) == sorted(['$SB', '$LIM']) and
all(s['status'] == 'running' and s['isolation'] == 'ns' for s in j['sandboxes'])"
api GET "/sandboxes/$SB"
expect get_one 200 "j['name'] == '$SB' and j['status'] == 'running' and j['pid'] == $INIT_PID"

# --- exec -------------------------------------------------------------------------
# exec_code CMD_JSON — the exit_code of an exec run with curl (no output read).
exec_is() { # NAME CMD_JSON EXIT_CODE
	api POST "/sandboxes/$SB/exec" "{\"cmd\":$2}"
	expect "$1" 200 "len(L) == 2 and L[0]['event'] == 'started' and isinstance(L[0]['pid'], int)
and L[0]['pid'] > 1 and L[0]['fds'] == ['stdout', 'stderr'] and L[1] == {'event': 'exit', 'exit_code': $3}"
}
exec_is exec_true '["true"]' 0
check exec_stream_content_type test "$ctype" = application/x-kennel-exec
exec_is exec_false_is_1 '["false"]' 1
exec_is exec_exit_42 '["sh","-c","exit 42"]' 42
exec_is exec_signal_is_128_plus_9 '["sh","-c","kill -9 $$"]' 137
# curl takes no fds, so the command's stdout and stderr have no reader; the
# exit code must still be the command's (127), not a SIGPIPE from kennel's own
# "exec ...: No such file" message.
exec_is exec_not_found_is_127 '["no-such-command-kennel"]' 127
exec_is exec_not_found_path_is_127 '["/no/such/command"]' 127
# Through the CLI, which reads the command's stderr (curl cannot: see above).
"$KENNEL" exec "$SB" no-such-command-kennel >/dev/null 2>"$T/err"
rc=$?
if [ $rc = 127 ] && grep -q 'no-such-command-kennel' "$T/err"; then pass cli_exec_not_found_is_127
else fail cli_exec_not_found_is_127 "exit $rc" "$(cat "$T/err")"; fi
exec_is exec_default_user_is_agent '["sh","-c","test $(id -un) = agent && test $(id -u) = 1000"]' 0
exec_is exec_default_workdir_is_workspace "[\"sh\",\"-c\",\"test \$(pwd) = $WS\"]" 0
api POST "/sandboxes/$SB/exec" '{"cmd":["sh","-c","test $(id -u) = 0 && test $(pwd) = /tmp && test \"$K\" = v"],"user":"root","workdir":"/tmp","env":["K=v"]}'
expect exec_user_workdir_env 200 "L[-1] == {'event': 'exit', 'exit_code': 0}"
api POST "/sandboxes/$SB/exec" '{"cmd":["sleep","1000.'$$'"],"detach":true}'
expect exec_detach 200 "list(j) == ['pid'] and isinstance(j['pid'], int) and j['pid'] > 1"
for _ in $(seq 50); do pgrep -f "^sleep 1000\\.$$\$" >/dev/null && break; sleep 0.1; done
# Its host uid is the sandbox's agent: uid_base + 1000.
check_out exec_detached_runs_as_sandbox_agent "^ *$((UID_BASE + 1000)) sleep 1000\\.$$\$" \
	ps -C sleep -o uid=,args=

# --- stop and start ---------------------------------------------------------------
api POST "/sandboxes/$SB/stop"
expect stop 200 "j['name'] == '$SB' and j['status'] == 'stopped' and j['pid'] is None"
check stop_init_gone bash -c "! kill -0 $INIT_PID 2>/dev/null"
check stop_detached_gone bash -c "! pgrep -f '^sleep 1000\\.$$'"
api GET "/sandboxes/$SB"
expect get_stopped 200 "j['status'] == 'stopped' and j['pid'] is None"
api POST "/sandboxes/$SB/stop"
expect stop_again_is_noop 200 "j['status'] == 'stopped'"
api POST "/sandboxes/$SB/start"
expect start 200 "j['status'] == 'running' and isinstance(j['pid'], int) and j['pid'] != $INIT_PID"
NEW_PID=$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["pid"])' <"$T/body")
api POST "/sandboxes/$SB/start"
expect start_again_is_noop 200 "j['status'] == 'running' and j['pid'] == $NEW_PID"
exec_is exec_after_restart '["true"]' 0

# --- DELETE -------------------------------------------------------------------------
api DELETE "/sandboxes/$SB"
expect delete_running_409 409 "is_error(j) and '$SB' in j['error']"
api GET "/sandboxes/$SB"
expect delete_409_left_it_running 200 "j['status'] == 'running' and j['pid'] == $NEW_PID"
api DELETE "/sandboxes/$SB?force=1"
expect delete_force 200 "j == {'removed': '$SB'}"
check delete_force_killed_init bash -c "! kill -0 $NEW_PID 2>/dev/null"
check delete_removed_state_dir test ! -e "$KENNEL_STATE/sandboxes/$SB"
api GET "/sandboxes/$SB"
expect get_deleted_404 404 "is_error(j) and '$SB' in j['error']"
api POST "/sandboxes/$LIM/stop"
api DELETE "/sandboxes/$LIM"
expect delete_stopped_without_force 200 "j == {'removed': '$LIM'}"
api GET /sandboxes
expect list_empty_after_delete 200 "j == {'sandboxes': []}"

# --- 404 and 405 -------------------------------------------------------------------
status_error() { # NAME STATUS METHOD PATH [BODY]
	local name=$1 want=$2
	shift 2
	api "$@"
	expect "$name" "$want" 'is_error(j)'
}
status_error unknown_sandbox_get 404 GET /sandboxes/nosuch
status_error unknown_sandbox_exec 404 POST /sandboxes/nosuch/exec '{"cmd":["true"]}'
status_error unknown_sandbox_stop 404 POST /sandboxes/nosuch/stop
status_error unknown_sandbox_start 404 POST /sandboxes/nosuch/start
status_error unknown_sandbox_delete 404 DELETE /sandboxes/nosuch
status_error unknown_endpoint 404 GET /nosuch
status_error unknown_root 404 GET /
status_error unknown_nested_endpoint 404 GET /health/x
api POST /sandboxes "{\"name\":\"$SB\",\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\"}]}"
status_error unknown_action 404 POST "/sandboxes/$SB/frobnicate"
status_error wrong_method_health 405 POST /health
status_error wrong_method_version 405 DELETE /version
status_error wrong_method_sandboxes 405 PUT /sandboxes
status_error wrong_method_delete_list 405 DELETE /sandboxes
status_error wrong_method_sandbox 405 POST "/sandboxes/$SB"
status_error wrong_method_exec 405 GET "/sandboxes/$SB/exec"
status_error wrong_method_stop 405 GET "/sandboxes/$SB/stop"
status_error wrong_method_start 405 DELETE "/sandboxes/$SB/start"
api GET "/sandboxes/$SB"
expect wrong_methods_changed_nothing 200 "j['status'] == 'running'"
api GET /health
expect health_at_end 200 'j == {"status": "ok"}'
