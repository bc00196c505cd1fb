#!/usr/bin/env bash
# cli_network.sh — `kennel network proxy` and `kennel network log` against a
# real kenneld: showing a policy, changing it with each flag (checked through
# the CLI, the daemon's own API and proxy-config.json), refused patterns that
# change nothing, --reset, --default for new sandboxes, persistence across a
# daemon restart; then the decision log (what kennel-proxy writes, here
# synthetic lines appended to the file) as a table, as JSON, with --limit, for
# one sandbox, and followed with -f until SIGINT.
. "$(dirname "$0")/../lib.sh"

# jcheck NAME EXPR TEXT — PASS if the Python expression EXPR holds, with j the
# JSON value TEXT and L its JSON lines (jtest).
jcheck() {
	local name=$1 expr=$2 text=$3
	if jtest "$expr" "$text"; then pass "$name"; else fail "$name" "want: $expr" "$text"; fi
}

# The daemon's view of a policy: NAME, or "" for the default.
api_config() {
	local q=""
	[ -n "$1" ] && q="?sandbox=$1"
	curl -sS --max-time 10 --unix-socket "$KENNEL_SOCKET" "http://k/network/proxyconfig$q"
}

# proxy_ok NAME EXPR ARGS... — `kennel network proxy ARGS` exits 0, and EXPR
# holds of the policy the daemon then serves (p) for sandbox net1.
proxy_ok() {
	local name=$1 expr=$2; shift 2
	run_split "$KENNEL" network proxy "$@"
	if [ "$rc" -ne 0 ]; then
		fail "$name" "exit $rc: kennel network proxy $*" "$out" "$err"
		return
	fi
	jcheck "$name" "(lambda p: $expr)(j['policy'])" "$(api_config net1)"
}

# refused NAME WHAT_ERE ARGS... — `kennel network proxy net1 ARGS` exits 1,
# says why on stderr, and the daemon's policy for net1 is what it was.
refused() {
	local name=$1 what=$2; shift 2
	local before after
	before=$(api_config net1)
	run_split "$KENNEL" network proxy net1 "$@"
	after=$(api_config net1)
	if [ "$rc" -eq 1 ] && [ -z "$out" ] && grep -Eq -- "^kennel: .*$what" <<<"$err" &&
		[ "$before" = "$after" ]; then
		pass "$name"
	else
		fail "$name" "exit $rc: kennel network proxy net1 $*" "stdout: $out" "stderr: $err" \
			"before: $before" "after: $after"
	fi
}

# usage_error NAME CMD_ERE PROBLEM_ERE ARGS... — exit 2, nothing on stdout,
# "kennel CMD: PROBLEM" then the usage on stderr.
usage_error() {
	local name=$1 cmd=$2 problem=$3; shift 3
	run_split "$KENNEL" "$@"
	if [ "$rc" -eq 2 ] && [ -z "$out" ] && grep -Eq -- "^kennel $cmd: $problem" <<<"$err" &&
		grep -Eq "^Usage: kennel $cmd" <<<"$err"; then
		pass "$name"
	else
		fail "$name" "exit $rc: kennel $*" "stdout: $out" "stderr: $err"
	fi
}

# --- help and usage (no daemon needed) ---------------------------------------
check_out help_lists_network '^  network ' "$KENNEL" --help
check_out help_network '^  proxy ' "$KENNEL" network --help
check_out help_network_lists_log '^  log ' "$KENNEL" network --help
check_out help_proxy '--bypass-cidr C' "$KENNEL" network proxy --help
check_out help_proxy_short '^Usage: kennel network proxy' "$KENNEL" network proxy -h
check_out help_log '-f, --follow' "$KENNEL" network log --help
usage_error network_no_command network "missing COMMAND" network
usage_error network_unknown_command network "unknown command 'bogus'" network bogus
usage_error network_unknown_flag network "unknown option '--no-such-flag'" network --no-such-flag
usage_error proxy_unknown_flag "network proxy" "unknown option '--no-such-flag'" network proxy net1 --no-such-flag
usage_error proxy_missing_value "network proxy" "option '--allow-host' needs an argument" network proxy net1 --allow-host
usage_error proxy_no_target "network proxy" "missing SANDBOX \(or --default" network proxy --allow-host x.example
usage_error proxy_both_targets "network proxy" "SANDBOX and --default exclude each other" network proxy net1 --default
usage_error proxy_both_targets_after "network proxy" "SANDBOX and --default exclude each other" network proxy --default -- net1
usage_error log_bad_name "network log" "invalid sandbox name '-f'" network log -- -f
usage_error proxy_bad_policy "network proxy" "--policy must be allow or deny, not 'maybe'" network proxy net1 --policy maybe
usage_error proxy_not_utf8 "network proxy" "--block-host: the pattern is not valid UTF-8" network proxy net1 --block-host $'bad\xff.example'
usage_error proxy_two_sandboxes "network proxy" "unexpected argument 'b'" network proxy a b
usage_error proxy_bad_name "network proxy" "invalid sandbox name '-x" network proxy -- -x
usage_error log_bad_limit "network log" "--limit must be a number from 1 to 10000, not '0'" network log --limit 0
usage_error log_limit_junk "network log" "--limit must be a number from 1 to 10000, not '5x'" network log --limit 5x
usage_error log_limit_high "network log" "--limit must be a number from 1 to 10000" network log --limit 10001
usage_error log_two_sandboxes "network log" "unexpected argument 'b'" network log a b
usage_error log_unknown_flag "network log" "unknown option '-z'" network log -z

# --- the policy of a sandbox ---------------------------------------------------
start_daemon || exit 1
mkdir -p "$T/ws" "$T/ws2"
check create_sandbox "$KENNEL" create --name net1 shell "$T/ws"

check_out show_default_allow '^Default: +allow$' "$KENNEL" network proxy net1
check_out show_names_sandbox '^Sandbox: +net1$' "$KENNEL" network proxy net1
check_out show_empty_lists '^Block CIDRs: +-$' "$KENNEL" network proxy net1 --show
jcheck show_json "j['sandbox'] == 'net1' and j['policy']['default'] == 'allow' and
	all(j['policy'][k] == [] for k in ('allow_hosts','block_hosts','allow_cidrs','block_cidrs','bypass_hosts','bypass_cidrs'))" \
	"$("$KENNEL" network proxy net1 --json)"
jcheck show_default_json "j['sandbox'] is None and j['policy']['default'] == 'allow'" \
	"$("$KENNEL" network proxy --default --json)"

proxy_ok allow_host "p['allow_hosts'] == ['api.example.com']" net1 --allow-host api.example.com
proxy_ok block_host "p['block_hosts'] == ['*.bad.example'] and p['allow_hosts'] == ['api.example.com']" \
	net1 --block-host '*.bad.example'
proxy_ok allow_cidr "p['allow_cidrs'] == ['10.1.0.0/16']" net1 --allow-cidr 10.1.0.0/16
proxy_ok block_cidr "p['block_cidrs'] == ['203.0.113.0/24']" net1 --block-cidr 203.0.113.0/24
proxy_ok bypass_host "p['bypass_hosts'] == ['pinned.example:443']" net1 --bypass-host pinned.example:443
proxy_ok bypass_cidr "p['bypass_cidrs'] == ['198.51.100.0/24']" net1 --bypass-cidr 198.51.100.0/24
proxy_ok policy_deny "p['default'] == 'deny' and p['allow_hosts'] == ['api.example.com']" net1 --policy deny
proxy_ok flags_before_sandbox "p['allow_hosts'] == ['api.example.com', 'a.example']" --allow-host a.example net1
proxy_ok repeated_flags "p['allow_hosts'] == ['api.example.com', 'a.example', 'b.example', '*.c.example:8443']" \
	net1 --allow-host b.example --allow-host '*.c.example:8443' --allow-host a.example
proxy_ok canonical_spelling "p['block_hosts'] == ['*.bad.example', 'upper.example']" net1 --block-host UPPER.Example.

EXPECTED="{'default': 'deny', 'allow_hosts': ['api.example.com', 'a.example', 'b.example', '*.c.example:8443'],
	'block_hosts': ['*.bad.example', 'upper.example'], 'allow_cidrs': ['10.1.0.0/16'],
	'block_cidrs': ['203.0.113.0/24'], 'bypass_hosts': ['pinned.example:443'], 'bypass_cidrs': ['198.51.100.0/24']}"
jcheck json_after_changes "j == {'sandbox': 'net1', 'policy': $EXPECTED}" "$("$KENNEL" network proxy net1 --json)"
jcheck api_after_changes "j['policy'] == $EXPECTED" "$(api_config net1)"
jcheck proxy_config_file "j == $EXPECTED" "$(cat "$KENNEL_STATE/sandboxes/net1/proxy-config.json")"
run_split "$KENNEL" network proxy net1 --show
want=$(printf '%s\n' \
	'Sandbox:       net1' \
	'Default:       deny' \
	'Allow hosts:   api.example.com' \
	'               a.example' \
	'               b.example' \
	'               *.c.example:8443' \
	'Block hosts:   *.bad.example' \
	'               upper.example' \
	'Allow CIDRs:   10.1.0.0/16' \
	'Block CIDRs:   203.0.113.0/24' \
	'Bypass hosts:  pinned.example:443' \
	'Bypass CIDRs:  198.51.100.0/24')
if [ "$rc" -eq 0 ] && [ "$out" = "$want" ] && [ -z "$err" ]; then pass show_after_changes; else
	fail show_after_changes "exit $rc" "$out" "$err"; fi
# A change prints the policy it made.
check_out change_prints_result '^Bypass CIDRs: +198.51.100.0/24$' "$KENNEL" network proxy net1 --policy deny

# Invalid patterns: the daemon's reason, exit 1, nothing changed.
refused wildcard_inside '"foo\*\.com"' --block-host 'foo*.com'
refused prefix_too_long '"10\.0\.0\.0/33"' --block-cidr 10.0.0.0/33
refused bad_allow_cidr 'allow_cidrs' --allow-cidr 300.1.2.3/8
refused valid_and_invalid_together '"10\.0\.0\.0/33"' --allow-host ok.example --block-cidr 10.0.0.0/33
run_split "$KENNEL" network proxy nosuch
if [ "$rc" -eq 1 ] && grep -q "^kennel: no such sandbox: nosuch" <<<"$err"; then pass show_unknown_sandbox; else
	fail show_unknown_sandbox "exit $rc" "$out" "$err"; fi
run_split "$KENNEL" network proxy nosuch --allow-host x.example
if [ "$rc" -eq 1 ] && grep -q "^kennel: no such sandbox: nosuch" <<<"$err"; then pass change_unknown_sandbox; else
	fail change_unknown_sandbox "exit $rc" "$out" "$err"; fi

# Both allowed and blocked: it works, and kennel says the allow has no effect.
run_split "$KENNEL" network proxy net1 --allow-host upper.example
if [ "$rc" -eq 0 ] && grep -q "warning: 'upper.example' is both allowed and blocked" <<<"$err"; then
	pass conflict_warning; else fail conflict_warning "exit $rc" "$out" "$err"; fi

# --reset drops every rule, keeps the default; then --policy and lists apply.
proxy_ok reset "p == {'default': 'deny', 'allow_hosts': [], 'block_hosts': [], 'allow_cidrs': [],
	'block_cidrs': [], 'bypass_hosts': [], 'bypass_cidrs': []}" net1 --reset
proxy_ok reset_then_changes "p['default'] == 'allow' and p['allow_hosts'] == [] and p['block_hosts'] == ['only.example']" \
	net1 --block-host only.example --reset --policy allow
jcheck proxy_config_after_reset "j['block_hosts'] == ['only.example'] and j['default'] == 'allow'" \
	"$(cat "$KENNEL_STATE/sandboxes/net1/proxy-config.json")"

# --- the default for new sandboxes ---------------------------------------------
NET1_BEFORE=$(api_config net1)
run_split "$KENNEL" network proxy --default --policy deny --allow-host '*.registry.example' --block-cidr 192.0.2.0/24
if [ "$rc" -eq 0 ] && grep -q '^Sandbox: *(default for new sandboxes)' <<<"$out"; then pass default_change; else
	fail default_change "exit $rc" "$out" "$err"; fi
jcheck default_api "j['sandbox'] is None and j['policy']['default'] == 'deny' and
	j['policy']['allow_hosts'] == ['*.registry.example'] and j['policy']['block_cidrs'] == ['192.0.2.0/24']" \
	"$(api_config "")"
if [ "$(api_config net1)" = "$NET1_BEFORE" ]; then pass default_leaves_existing; else
	fail default_leaves_existing "$(api_config net1)"; fi
check create_second_sandbox "$KENNEL" create --name net2 shell "$T/ws2"
jcheck new_sandbox_gets_default "j['policy']['default'] == 'deny' and j['policy']['allow_hosts'] == ['*.registry.example']
	and j['policy']['block_cidrs'] == ['192.0.2.0/24']" \
	"$(curl -sS --unix-socket "$KENNEL_SOCKET" "http://k/network/proxyconfig?sandbox=net2")"
refused_default() {
	run_split "$KENNEL" network proxy --default --block-host 'a*b.example'
	if [ "$rc" -eq 1 ] && grep -q 'a\*b.example' <<<"$err"; then pass default_refused; else
		fail default_refused "exit $rc" "$out" "$err"; fi
}
refused_default

# --- persistence -----------------------------------------------------------------
NET1=$(api_config net1)
DEFAULT=$(api_config "")
stop_daemon
start_daemon || exit 1
if [ "$(api_config net1)" = "$NET1" ]; then pass policy_survives_restart; else
	fail policy_survives_restart "before: $NET1" "after: $(api_config net1)"; fi
if [ "$(api_config "")" = "$DEFAULT" ]; then pass default_survives_restart; else
	fail default_survives_restart "before: $DEFAULT" "after: $(api_config "")"; fi
check_out show_after_restart '^Block hosts: +only.example$' "$KENNEL" network proxy net1

# --- the decision log ------------------------------------------------------------
LOG=$KENNEL_STATE/proxy/decisions.log
mkdir -p "$KENNEL_STATE/proxy"
cat >>"$LOG" <<'EOF'
{"time":"2026-01-29T10:15:23.120Z","sandbox":"net1","method":"CONNECT","host":"api.example.com","port":443,"addr":"93.184.216.34","rule":"allow_hosts api.example.com","decision":"allow","status":200,"bytes_up":1532,"bytes_down":123456,"duration_ms":1234}
{"time":"2026-01-29T10:15:24.000Z","sandbox":"net2","method":"GET","host":"blocked.example","port":80,"addr":null,"rule":"default deny","decision":"block","status":403,"bytes_up":0,"bytes_down":0,"duration_ms":2}
not a JSON line
{"time":"2026-01-29T10:15:25.500Z","sandbox":"net1","method":"","host":null,"port":null,"addr":null,"rule":null,"decision":"error","status":null,"bytes_up":10,"bytes_down":0,"duration_ms":3725000,"error":"bad request"}
{"time":"2026-01-29T10:15:26.000Z","sandbox":"net1","method":"CONNECT","host":"10.0.0.1","port":22,"addr":"10.0.0.1","rule":"block_cidrs 10.0.0.0/8 (default)","decision":"block","status":403,"bytes_up":0,"bytes_down":0,"duration_ms":1}
EOF

run_split "$KENNEL" network log
header=$(sed -n 1p "$T/out")
if [ "$rc" -eq 0 ] && grep -Eq '^TIME +SANDBOX +METHOD +HOST +PORT +DECISION +RULE +STATUS +UP +DOWN +DURATION$' <<<"$header" &&
	[ "$(wc -l <"$T/out")" -eq 5 ]; then pass log_table; else fail log_table "exit $rc" "$out" "$err"; fi
check_out log_row_allow '^2026-01-29T10:15:23Z +net1 +CONNECT +api\.example\.com +443 +allow +allow_hosts api\.example\.com +200 +1\.532kB +123\.5kB +1\.2s$' \
	"$KENNEL" network log
check_out log_row_missing_fields '^2026-01-29T10:15:25Z +net1 +- +- +- +error +- +- +10B +0B +1h2m$' "$KENNEL" network log
check_out log_row_other_sandbox '^2026-01-29T10:15:24Z +net2 +GET +blocked\.example +80 +block +default deny +403 ' \
	"$KENNEL" network log
# Columns line up: every row has its DECISION where the header has it.
if "$PYTHON" - "$out" <<'EOF'; then pass log_columns_aligned; else fail log_columns_aligned "$out"; fi
import sys
lines = sys.argv[1].splitlines()
col = lines[0].index("DECISION")
sys.exit(0 if all(l[col - 3:col] == "   " and l[col] != " " for l in lines[1:]) else 1)
EOF
! grep -q ' $' "$T/out" && pass log_no_trailing_spaces || fail log_no_trailing_spaces "$out"

run_split "$KENNEL" network log --json
jcheck log_json "len(L) == 4 and [e['sandbox'] for e in L] == ['net1', 'net2', 'net1', 'net1'] and
	L[0]['bytes_down'] == 123456 and L[0]['rule'] == 'allow_hosts api.example.com' and
	L[2]['error'] == 'bad request' and L[2]['host'] is None" "$out"
run_split "$KENNEL" network log --limit 2
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 3 ] && grep -q '10:15:25Z' <<<"$out" &&
	grep -q '10:15:26Z' <<<"$out" && ! grep -q '10:15:24Z' <<<"$out"; then pass log_limit; else
	fail log_limit "exit $rc" "$out" "$err"; fi
jcheck log_limit_json "[e['time'] for e in L] == ['2026-01-29T10:15:25.500Z', '2026-01-29T10:15:26.000Z']" \
	"$("$KENNEL" network log --json --limit 2)"
run_split "$KENNEL" network log net1
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 4 ] && ! grep -q 'net2' <<<"$out"; then pass log_sandbox_filter; else
	fail log_sandbox_filter "exit $rc" "$out" "$err"; fi
jcheck log_sandbox_filter_json "len(L) == 1 and L[0]['host'] == 'blocked.example'" "$("$KENNEL" network log --json net2)"
jcheck log_filter_and_limit "len(L) == 1 and L[0]['host'] == '10.0.0.1'" "$("$KENNEL" network log net1 --json --limit 1)"
run_split "$KENNEL" network log nosuch
if [ "$rc" -eq 1 ] && grep -q '^kennel: no such sandbox: nosuch' <<<"$err"; then pass log_unknown_sandbox; else
	fail log_unknown_sandbox "exit $rc" "$out" "$err"; fi

# -f: the history, then what is appended while it runs (for its sandbox only),
# until SIGINT, which ends it with status 0.
"$KENNEL" network log -f net1 >"$T/follow.out" 2>"$T/follow.err" &
FPID=$!
for _ in $(seq 1 100); do [ -s "$T/follow.out" ] && break; sleep 0.05; done
cat >>"$LOG" <<'EOF'
{"time":"2026-01-29T10:20:00.000Z","sandbox":"net2","method":"CONNECT","host":"not-mine.example","port":443,"addr":"192.0.2.9","rule":"default deny","decision":"block","status":403,"bytes_up":0,"bytes_down":0,"duration_ms":1}
{"time":"2026-01-29T10:20:01.000Z","sandbox":"net1","method":"CONNECT","host":"late.example","port":443,"addr":"192.0.2.10","rule":"default allow","decision":"allow","status":200,"bytes_up":2048,"bytes_down":4096,"duration_ms":61000}
EOF
for _ in $(seq 1 60); do grep -q 'late\.example' "$T/follow.out" && break; sleep 0.05; done
kill -INT "$FPID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$FPID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$FPID" 2>/dev/null; then
	kill -KILL "$FPID"
	fail follow_stops_on_sigint "still running 5 s after SIGINT"
fi
wait "$FPID"
frc=$?
fout=$(cat "$T/follow.out")
if [ "$frc" -eq 0 ] && [ ! -s "$T/follow.err" ]; then pass follow_sigint_exit_0; else
	fail follow_sigint_exit_0 "exit $frc" "$fout" "$(cat "$T/follow.err")"; fi
if grep -Eq '^2026-01-29T10:20:01Z +net1 +CONNECT +late\.example +443 +allow +default allow +200 +2\.048kB +4\.096kB +1m1s$' <<<"$fout"; then
	pass follow_prints_new_line; else fail follow_prints_new_line "$fout"; fi
if [ "$(grep -c '^TIME ' <<<"$fout")" -eq 1 ] && grep -q 'api\.example\.com' <<<"$fout" &&
	! grep -q 'not-mine' <<<"$fout" && [ "$(wc -l <<<"$fout")" -eq 5 ]; then
	pass follow_history_filter_one_header; else fail follow_history_filter_one_header "$fout"; fi

# -f --json: one object per line, the new one included.
"$KENNEL" network log -f --json --limit 1 >"$T/follow.out" 2>"$T/follow.err" &
FPID=$!
for _ in $(seq 1 100); do [ -s "$T/follow.out" ] && break; sleep 0.05; done
echo '{"time":"2026-01-29T10:21:00.000Z","sandbox":"net2","method":"GET","host":"json.example","port":80,"addr":null,"rule":"default deny","decision":"block","status":403,"bytes_up":0,"bytes_down":0,"duration_ms":0}' >>"$LOG"
for _ in $(seq 1 60); do grep -q 'json\.example' "$T/follow.out" && break; sleep 0.05; done
kill -INT "$FPID" 2>/dev/null
wait "$FPID"
frc=$?
jcheck follow_json "$frc == 0 and len(L) == 2 and L[0]['host'] == 'late.example' and L[1]['host'] == 'json.example'" \
	"$(cat "$T/follow.out")"
