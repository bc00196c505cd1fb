#!/usr/bin/env bash
# badinput.sh — kenneld facing bad requests: malformed or wrong-shaped JSON,
# invalid names, workspaces and limits, a taken name, oversized bodies and
# header lines, bytes that are not HTTP, a CL+TE smuggling attempt, clients
# that connect and say nothing, and 200 garbage connections at once. Each one
# must get a JSON error with the fitting status, and afterwards the daemon
# must still answer /health and a sandbox created before must still be there,
# running the same init, and able to exec.
. "$(dirname "$0")/../lib.sh"

# refused NAME STATUS ERROR_ERE METHOD PATH [BODY] — the request gets STATUS and
# {"error": msg} with msg matching ERROR_ERE (case-insensitive); then the daemon
# must be unharmed.
refused() {
	local name=$1 want=$2
	ERE=$3
	shift 3
	api "$@"
	if [ "$code" = "$want" ] && [[ "$ctype" == application/json* ]] &&
		jtest "is_error(j) and re.search(os.environ['ERE'], j['error'], re.I)"; then
		pass "$name"
	else
		fail "$name" "status $code (want $want), Content-Type '$ctype', error must match /$ERE/" \
			"$body" "$(cat "$T/curl.err")"
	fi
	unharmed "$name"
}
export ERE

# unharmed NAME — /health answers and the keeper sandbox is running the same
# init and runs a command that finds a file in its writable layer. (Plain
# string tests: the daemon writes compact JSON, and this runs very often.)
unharmed() {
	local problems=() saved_body=$body saved_code=$code
	api GET /health
	[ "$code" = 200 ] && [ "$body" = '{"status":"ok"}' ] || problems+=("health: $code $body")
	api GET "/sandboxes/$KEEP"
	[ "$code" = 200 ] && [[ "$body" == *'"status":"running"'* && "$body" == *"\"pid\":$KEEP_PID,"* ]] ||
		problems+=("keeper: $code $body")
	api POST "/sandboxes/$KEEP/exec" '{"cmd":["test","-f","/usr/local/keeper-mark"],"user":"root"}'
	[ "$code" = 200 ] && [ "${body##*$'\n'}" = '{"event":"exit","exit_code":0}' ] ||
		problems+=("keeper exec: $code $body")
	if [ ${#problems[@]} -eq 0 ]; then pass "${1}_unharmed"; else fail "${1}_unharmed" "${problems[@]}"; fi
	body=$saved_body code=$saved_code
}

# raw.py — bytes that curl will not send, over the API socket.
cat >"$T/raw.py" <<'EOF'
import os, socket, sys, time

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.environ["KENNEL_SOCKET"])
    return s

def read_until_closed(s, timeout):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return data
            data += d
    except socket.timeout:
        return data + b"\n<still open>"
    except ConnectionResetError:
        return data + b"\n<reset>"

mode = sys.argv[1]
if mode == "send":          # stdin's bytes; print everything the daemon answers
    s = connect()
    try:
        s.sendall(sys.stdin.buffer.read())
    except (BrokenPipeError, ConnectionResetError):
        pass                # it may refuse before reading everything
    sys.stdout.buffer.write(read_until_closed(s, 15))
elif mode == "idle":        # send argv[2] (maybe nothing), create argv[3], report when dropped
    s = connect()
    s.sendall(sys.argv[2].encode())
    open(sys.argv[3], "w").close()
    t = time.monotonic()
    data = read_until_closed(s, 60)
    sys.stdout.buffer.write(b"%.1f\n" % (time.monotonic() - t) + data)
elif mode == "flood":       # argv[2] connections open at once, then garbage on each
    n = int(sys.argv[2])
    socks = [connect() for _ in range(n)]
    sys.stdout.write("open %d\n" % n)
    sys.stdout.flush()
    sys.stdin.readline()    # the caller checks the daemon while all are open
    for s in socks:
        s.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n")
    answers = {}
    for s in socks:
        first = read_until_closed(s, 15).split(b"\r\n")[0].decode(errors="replace")
        answers[first] = answers.get(first, 0) + 1
        s.close()
    for k, v in sorted(answers.items()):
        print("%d x %s" % (v, k))
EOF
raw() { "$PYTHON" "$T/raw.py" "$@"; }

# raw_refused NAME STATUS_ERE — stdin sent raw; exactly one HTTP answer, with a
# status matching STATUS_ERE and a JSON error body, then the connection closed.
raw_refused() {
	local name=$1 want=$2 out
	out=$(raw send | tr -d '\r')
	local status n
	status=$(sed -n '1s/^HTTP\/1\.1 \([0-9]*\) .*/\1/p' <<<"$out")
	n=$(grep -c '^HTTP/' <<<"$out")
	body=$(sed -n '/^$/,$p' <<<"$out" | sed '/^$/d')
	if [[ "$status" =~ ^($want)$ ]] && [ "$n" = 1 ] && jtest 'is_error(j)' &&
		! grep -q '<still open>' <<<"$out"; then
		pass "$name"
	else
		fail "$name" "want one $want answer with a JSON error, then close; got:" "$out"
	fi
	unharmed "$name"
}

start_daemon || exit 1
DAEMON_FDS0=$(daemon_fds_idle)
WS=$T/ws
mkdir -p "$WS"
KEEP=keeper-$$
api POST /sandboxes "{\"name\":\"$KEEP\",\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\"}]}"
KEEP_PID=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["pid"])' "$body" 2>/dev/null)
if [ "$code" != 201 ] || [ -z "$KEEP_PID" ]; then
	fail keeper_created "status $code" "$body"
	exit 1
fi
# A file in the keeper's writable layer: it must survive everything below.
api POST "/sandboxes/$KEEP/exec" '{"cmd":["touch","/usr/local/keeper-mark"],"user":"root"}'
KEEP_CONFIG=$(sha256sum "$KENNEL_STATE/sandboxes/$KEEP/config.json")
STATE_TOP=$(ls -A "$KENNEL_STATE" | tr '\n' ' ')

# Silent clients, started first so that their timeout runs while the rest of
# the script does: one sends nothing, one half a request line.
raw idle "" "$T/idle.sent" >"$T/idle.out" 2>&1 &
IDLE=$!
raw idle "GET /health HTTP/1.1" "$T/slow.sent" >"$T/slow.out" 2>&1 &
SLOW=$!
for _ in $(seq 1 200); do [ -e "$T/idle.sent" ] && [ -e "$T/slow.sent" ] && break; sleep 0.05; done
# Answered while both are still connected (each exits once the daemon drops it):
# the daemon does not wait on a silent client.
api GET /health
if [ "$code" = 200 ] && [ -e "$T/idle.sent" ] && [ -e "$T/slow.sent" ] &&
	kill -0 "$IDLE" 2>/dev/null && kill -0 "$SLOW" 2>/dev/null; then
	pass served_while_silent_clients_wait
else
	fail served_while_silent_clients_wait "status $code" "idle: $(cat "$T/idle.out")" "slow: $(cat "$T/slow.out")"
fi

CR() { # a create request body; extra JSON members in $1
	echo "{\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\"}]${1:+,$1}}"
}

# --- JSON shape -------------------------------------------------------------------
refused malformed_json 400 'json' POST /sandboxes '{"agent": "shell", "workspaces": ['
refused json_array 400 'object' POST /sandboxes '[{"agent":"shell"}]'
refused json_string 400 'object|expected' POST /sandboxes '"shell"'
refused json_number 400 'object|expected' POST /sandboxes '42'
refused json_null 400 'object|expected' POST /sandboxes 'null'
refused empty_body 400 'json' POST /sandboxes ''
refused trailing_garbage 400 'json' POST /sandboxes "$(CR) x"
refused duplicate_key 400 'json|duplicate' POST /sandboxes "$(CR '"name":"a","name":"b"')"
refused nul_in_string 400 'json|nul' POST /sandboxes "$(CR '"name":"a\u0000b"')"
refused unknown_field 400 'bogus' POST /sandboxes "$(CR '"bogus":1')"
refused unknown_workspace_field 400 'mode' POST /sandboxes \
	"{\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\",\"mode\":\"rw\"}]}"
refused missing_agent 400 'agent' POST /sandboxes "{\"workspaces\":[{\"path\":\"$WS\"}]}"
refused missing_workspaces 400 'workspaces' POST /sandboxes '{"agent":"shell"}'
refused empty_workspaces 400 'workspaces' POST /sandboxes '{"agent":"shell","workspaces":[]}'
refused workspaces_not_list 400 'workspaces' POST /sandboxes "{\"agent\":\"shell\",\"workspaces\":\"$WS\"}"
refused workspace_path_not_string 400 'path|string' POST /sandboxes '{"agent":"shell","workspaces":[{"path":7}]}'
refused agent_not_string 400 'agent' POST /sandboxes "{\"agent\":1,\"workspaces\":[{\"path\":\"$WS\"}]}"
refused unknown_agent 400 "unknown agent 'nosuchagent'" POST /sandboxes \
	"{\"agent\":\"nosuchagent\",\"workspaces\":[{\"path\":\"$WS\"}]}"

# --- names ---------------------------------------------------------------------------
N63=$(printf 'n%.0s' $(seq 63))
N64=$(printf 'n%.0s' $(seq 64))
refused name_with_slash 400 'name' POST /sandboxes "$(CR '"name":"a/b"')"
refused name_dotdot 400 'name' POST /sandboxes "$(CR '"name":".."')"
refused name_dot 400 'name' POST /sandboxes "$(CR '"name":"."')"
refused name_empty 400 'name' POST /sandboxes "$(CR '"name":""')"
refused name_64_chars 400 'name' POST /sandboxes "$(CR "\"name\":\"$N64\"")"
refused name_non_ascii 400 'name' POST /sandboxes "$(CR '"name":"s\u00e4ndbox"')"
refused name_utf8_bytes 400 'name' POST /sandboxes "$(CR '"name":"sändbox"')"
refused name_leading_dash 400 'name' POST /sandboxes "$(CR '"name":"-x"')"
refused name_leading_dot 400 'name' POST /sandboxes "$(CR '"name":".hidden"')"
refused name_traversal 400 'name' POST /sandboxes "$(CR '"name":"../../etc"')"
refused name_newline 400 'name' POST /sandboxes "$(CR '"name":"a\nb"')"
refused name_not_string 400 'name' POST /sandboxes "$(CR '"name":5')"
api POST /sandboxes "$(CR "\"name\":\"$N63\"")"
if [ "$code" = 201 ] && jtest "j['name'] == '$N63' and j['status'] == 'running'"; then pass name_63_chars_ok
else fail name_63_chars_ok "status $code" "$body"; fi
api DELETE "/sandboxes/$N63?force=1"
refused path_name_dotdot 400 'name' GET /sandboxes/..%2F..%2Fetc
refused path_name_64 400 'name|long' GET "/sandboxes/$N64"
refused path_name_bad_char 400 'name' DELETE '/sandboxes/a%20b?force=1'

# --- workspaces ---------------------------------------------------------------------
touch "$T/a-file"
ws_refused() { # NAME ERROR_ERE PATH
	refused "$1" 400 "$2" POST /sandboxes "{\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$3\"}]}"
}
ws_refused workspace_missing 'No such file|does not exist|exist' "$T/no-such-dir"
ws_refused workspace_relative 'absolute' "ws"
ws_refused workspace_dot_relative 'absolute' "./ws"
ws_refused workspace_is_file 'not a directory' "$T/a-file"
ws_refused workspace_proc '/proc' /proc
ws_refused workspace_in_proc '/proc' /proc/self
ws_refused workspace_sys '/sys' /sys
ws_refused workspace_dev '/dev' /dev
ws_refused workspace_root 'root' /
ws_refused workspace_not_canonical 'canonical' "$WS/../ws"
ws_refused workspace_is_state_dir 'state dir' "$KENNEL_STATE"
ws_refused workspace_contains_state_dir 'state dir' "$T"
ws_refused workspace_in_state_dir 'state dir' "$KENNEL_STATE/sandboxes"
refused image_missing 400 'image' POST /sandboxes "$(CR "\"image\":\"$T/no-such-image\"")"
refused image_relative 400 'image' POST /sandboxes "$(CR '"image":"rel"')"

# --- a taken name -------------------------------------------------------------------
refused duplicate_name 409 "$KEEP" POST /sandboxes "$(CR "\"name\":\"$KEEP\"")"
check duplicate_left_config_alone sh -c "sha256sum '$KENNEL_STATE/sandboxes/$KEEP/config.json' |
	grep -qx '$KEEP_CONFIG'"
# Also when the taken name is the one a default name would produce: it gets -2.
api POST /sandboxes "{\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\"}]}"
DEF=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])["name"])' "$body" 2>/dev/null)
api POST /sandboxes "{\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\"}]}"
if [ "$code" = 201 ] && [ "$DEF" = shell-ws ] && jtest "j['name'] == 'shell-ws-2'"; then
	pass default_name_taken_gets_suffix
else fail default_name_taken_gets_suffix "first $DEF, then $code" "$body"; fi
api DELETE /sandboxes/shell-ws?force=1
api DELETE /sandboxes/shell-ws-2?force=1

# --- limits ----------------------------------------------------------------------------
refused memory_negative 400 'memory' POST /sandboxes "$(CR '"memory":-1')"
refused pids_negative 400 'pids' POST /sandboxes "$(CR '"pids":-5')"
refused cpus_negative 400 'cpus' POST /sandboxes "$(CR '"cpus":-0.5')"
refused memory_tiny 400 'memory' POST /sandboxes "$(CR '"memory":4096')"
refused memory_beyond_int64 400 'json|memory|integer' POST /sandboxes "$(CR '"memory":99999999999999999999999')"
refused memory_float 400 'memory' POST /sandboxes "$(CR '"memory":1.5')"
refused pids_huge 400 'pids' POST /sandboxes "$(CR '"pids":1000000000000')"
refused pids_int64_max 400 'pids' POST /sandboxes "$(CR '"pids":9223372036854775807')"
refused cpus_huge 400 'cpus' POST /sandboxes "$(CR '"cpus":1e300')"
refused cpus_string 400 'cpus' POST /sandboxes "$(CR '"cpus":"2"')"
refused pids_too_few 400 'pids' POST /sandboxes "$(CR '"pids":1')"

# --- exec requests --------------------------------------------------------------------
X=/sandboxes/$KEEP/exec
refused exec_empty_cmd 400 'cmd' POST "$X" '{"cmd":[]}'
refused exec_cmd_string 400 'cmd' POST "$X" '{"cmd":"ls -l"}'
refused exec_cmd_not_strings 400 'cmd' POST "$X" '{"cmd":["ls",1]}'
refused exec_missing_cmd 400 'cmd' POST "$X" '{"env":[]}'
refused exec_unknown_field 400 'shell' POST "$X" '{"cmd":["true"],"shell":true}'
refused exec_env_no_equals 400 'env' POST "$X" '{"cmd":["true"],"env":["NOVALUE"]}'
refused exec_env_empty_name 400 'env' POST "$X" '{"cmd":["true"],"env":["=v"]}'
refused exec_relative_workdir 400 'workdir' POST "$X" '{"cmd":["true"],"workdir":"tmp"}'
refused exec_bad_user 400 'user' POST "$X" '{"cmd":["true"],"user":"nobody"}'
refused exec_user_65534 400 'user' POST "$X" '{"cmd":["true"],"user":"65534"}'
refused exec_negative_rows 400 'rows' POST "$X" '{"cmd":["true"],"tty":true,"rows":-1}'
refused exec_not_object 400 'object' POST "$X" '["true"]'

# --- sizes -----------------------------------------------------------------------------
# A valid create request padded with spaces to exactly 1 MiB is accepted; one
# byte more is 413, whether the body is sent or only announced.
"$PYTHON" -c '
import sys
req = sys.argv[1].encode()
sys.stdout.buffer.write(req + b" " * (int(sys.argv[2]) - len(req)))
' "$(CR '"name":"exactly-1mib"')" 1048576 >"$T/1mib.json"
api POST /sandboxes "@$T/1mib.json"
# (curl's --data-binary @file reads the file)
if [ "$code" = 201 ] && jtest "j['name'] == 'exactly-1mib'"; then pass body_exactly_1mib_accepted
else fail body_exactly_1mib_accepted "status $code" "$body"; fi
api DELETE /sandboxes/exactly-1mib?force=1
printf ' ' >>"$T/1mib.json"
refused body_1mib_plus_1 413 'large|1 MiB' POST /sandboxes "@$T/1mib.json"
head -c $((4 << 20)) /dev/zero | tr '\0' ' ' >"$T/4mib.json"
{ printf 'POST /sandboxes HTTP/1.1\r\nHost: kenneld\r\nContent-Type: application/json\r\n'
  printf 'Content-Length: %d\r\n\r\n' $((4 << 20)); cat "$T/4mib.json"; } >"$T/4mib.req"
raw_refused body_4mib_sent '413' <"$T/4mib.req"
printf 'POST /sandboxes HTTP/1.1\r\nHost: kenneld\r\nContent-Length: 1073741824\r\n\r\n{' |
	raw_refused body_1gib_announced '413'
"$PYTHON" -c 'import sys; sys.stdout.write("GET /health HTTP/1.1\r\nHost: kenneld\r\nX-Long: " + "a" * 9000 + "\r\n\r\n")' |
	raw_refused header_line_over_8k '400|431'
"$PYTHON" -c 'import sys; sys.stdout.write("GET /" + "a" * 9000 + " HTTP/1.1\r\nHost: kenneld\r\n\r\n")' |
	raw_refused request_line_over_8k '400|414'
"$PYTHON" -c '
import sys
sys.stdout.write("GET /health HTTP/1.1\r\nHost: kenneld\r\n" + "".join("X-H%d: v\r\n" % i for i in range(200)) + "\r\n")' |
	raw_refused too_many_headers '400|431'

# --- not HTTP, or HTTP meant to confuse -------------------------------------------------
# Pseudo-random but the same every run: a failure can be replayed.
"$PYTHON" -c 'import random, sys; random.seed(7); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range(4096)))' >"$T/random.bin"
raw_refused garbage_random_bytes '400' <"$T/random.bin"
printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n' | raw_refused garbage_tls_hello '400'
printf 'HELLO\r\n\r\n' | raw_refused garbage_line '400'
printf 'GET /health HTTP/9.9\r\nHost: kenneld\r\n\r\n' | raw_refused bad_http_version '400|505'
printf 'GET /health HTTP/1.1\r\n\r\n' | raw_refused http11_without_host '400'
printf 'GET /health HTTP/1.1\r\nHost: kenneld\r\nX: a\0b\r\n\r\n' | raw_refused nul_in_header '400'
printf 'GET /health HTTP/1.1\r\nHost: kenneld\r\n folded\r\n\r\n' | raw_refused obs_fold '400'
# CL+TE: a front end and the daemon could disagree on where the body ends and
# the tail would be a second, smuggled request. Refused outright, one answer.
printf 'POST /sandboxes HTTP/1.1\r\nHost: kenneld\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: kenneld\r\n\r\n' |
	raw_refused smuggling_cl_te '400'
printf 'POST /sandboxes HTTP/1.1\r\nHost: kenneld\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}' |
	raw_refused smuggling_two_content_lengths '400'
printf 'POST /sandboxes HTTP/1.1\r\nHost: kenneld\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' |
	raw_refused chunked_body_refused '400|411'
printf 'POST /sandboxes HTTP/1.1\r\nHost: kenneld\r\nContent-Length: +2\r\n\r\n{}' |
	raw_refused content_length_signed '400'

# --- many at once ------------------------------------------------------------------------
coproc FLOOD { raw flood 200 2>&1; }
read -r -t 30 opened <&"${FLOOD[0]}"
api GET /health
if [ "$opened" = "open 200" ] && [ "$code" = 200 ]; then pass served_while_200_connections_open
else fail served_while_200_connections_open "flood: '$opened', health: $code"; fi
echo go >&"${FLOOD[1]}"
flood_out=$(timeout 60 cat <&"${FLOOD[0]}")
if [ "$flood_out" = "200 x HTTP/1.1 400 Bad Request" ]; then pass flood_200_garbage_each_answered_400
else fail flood_200_garbage_each_answered_400 "$flood_out"; fi
unharmed flood_200_garbage

# --- the silent clients: dropped after the read timeout ------------------------------
wait "$IDLE" "$SLOW"
for c in idle slow; do
	secs=$(head -1 "$T/$c.out")
	if grep -q '^HTTP/1.1 408 ' "$T/$c.out" && ! grep -q '<still open>' "$T/$c.out" &&
		[ "${secs%.*}" -ge 5 ] && [ "${secs%.*}" -le 30 ]; then
		pass "silent_client_${c}_dropped_with_408"
	else fail "silent_client_${c}_dropped_with_408" "$(cat "$T/$c.out")"; fi
done

# --- nothing lost, nothing left over --------------------------------------------------------
unharmed at_end
check_out only_keeper_in_state_dir "^$KEEP \$" sh -c "ls -A '$KENNEL_STATE/sandboxes' | grep -vx .next | tr '\\n' ' '"
check trash_empty test -z "$(ls -A "$KENNEL_STATE/trash")"
check_out state_dir_top_level_unchanged "^$STATE_TOP\$" sh -c "ls -A '$KENNEL_STATE' | tr '\n' ' '"
api GET /sandboxes
if [ "$code" = 200 ] && jtest "[s['name'] for s in j['sandboxes']] == ['$KEEP']"; then pass only_keeper_listed
else fail only_keeper_listed "$body"; fi
fds=$(daemon_fds_idle)
# The keeper's init pidfd is the one fd more than at start.
if [ "$fds" -le $((DAEMON_FDS0 + 2)) ]; then pass daemon_fds_not_leaked
else fail daemon_fds_not_leaked "$DAEMON_FDS0 fds at start, $fds now" "$(ls -l "/proc/$DAEMON_PID/fd")"; fi
