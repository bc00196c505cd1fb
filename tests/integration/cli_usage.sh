#!/usr/bin/env bash
# cli_usage.sh — what the kennel CLI does without a daemon: help, usage errors
# (one line naming the problem, then the usage, on stderr, exit 2), argument
# values refused before anything is sent, and the message when no kenneld
# listens (exit 1, saying how to start one). No daemon is started here, so
# $KENNEL_SOCKET (set by lib.sh) names a socket nobody listens on.
. "$(dirname "$0")/../lib.sh"

COMMANDS="create run exec ls inspect stop rm version daemon network secret"
VERSION=$(cat "${KENNEL_SRC:-$(dirname "$0")/../..}/VERSION")

# run_split CMD... — run with stdout, stderr and the exit status kept apart.
# usage_error NAME CMD PROBLEM_ERE ARGS... — exit 2, nothing on stdout, stderr's
# first line "kennel CMD: <problem>" and a second line "Usage: kennel CMD".
usage_error() {
	local name=$1 cmd=$2 problem=$3; shift 3
	run_split "$KENNEL" "$@"
	local first second
	first=$(sed -n 1p "$T/err")
	second=$(sed -n 2p "$T/err")
	if [ "$rc" -eq 2 ] && [ -z "$out" ] && grep -Eq -- "^kennel $cmd: $problem" <<<"$first" &&
		[[ "$second" == "Usage: kennel $cmd"* ]]; then
		pass "$name"
	else
		fail "$name" "exit $rc: kennel $*" "stdout: $out" "stderr: $err"
	fi
}

# --- help --------------------------------------------------------------------
for c in $COMMANDS; do
	check_out "help_$c" "^Usage: kennel $c" "$KENNEL" "$c" --help
	run_split "$KENNEL" "$c" -h
	if [ "$rc" -eq 0 ] && [[ "$out" == "Usage: kennel $c"* ]] && [ -z "$err" ]; then
		pass "help_short_$c"
	else
		fail "help_short_$c" "exit $rc" "$out" "$err"
	fi
done
run_split "$KENNEL" --help
ok=1
[ "$rc" -eq 0 ] || ok=0
for c in $COMMANDS; do grep -Eq "^  $c " <<<"$out" || ok=0; done
if [ $ok = 1 ]; then pass help_lists_commands; else fail help_lists_commands "exit $rc" "$out"; fi
check_out help_exec_options '-e, --env K=V' "$KENNEL" exec --help
check_out help_daemon_flags '--state-dir DIR' "$KENNEL" daemon --help
check_out help_create_limits '--memory SIZE' "$KENNEL" create --help
check_out client_version "^kennel version $VERSION " "$KENNEL" --version

# --- usage errors ------------------------------------------------------------
for c in $COMMANDS; do
	[ "$c" = daemon ] && continue # kenneld parses its own flags
	usage_error "unknown_long_flag_$c" "$c" "unknown option '--no-such-flag'" "$c" --no-such-flag
done
usage_error unknown_short_flag exec "unknown option '-z'" exec -z sb true
usage_error unknown_flag_in_cluster exec "unknown option '-q'" exec -itq sb true
usage_error flag_takes_no_value ls "option '--json' takes no argument" ls --json=yes
usage_error missing_option_value create "option '--cpus' needs an argument" create --cpus
usage_error missing_short_value exec "option '-e' needs an argument" exec -e
usage_error create_no_args create "missing AGENT and WORKSPACE" create
usage_error create_no_workspace create "missing WORKSPACE" create shell
usage_error run_no_args run "missing SANDBOX or AGENT" run
usage_error run_extra_arg run "unexpected argument 'c'" run shell . c
usage_error exec_no_args exec "missing SANDBOX and CMD" exec
usage_error exec_no_cmd exec "missing CMD" exec sb
usage_error exec_only_options exec "missing SANDBOX and CMD" exec -i -t
usage_error inspect_no_args inspect "missing SANDBOX" inspect
usage_error stop_no_args stop "missing SANDBOX" stop
usage_error rm_no_args rm "missing SANDBOX" rm
usage_error rm_only_force rm "missing SANDBOX" rm -f
usage_error ls_extra_arg ls "unexpected argument 'x'" ls x
usage_error secret_no_command secret "missing COMMAND \\(set, ls or rm\\)" secret
usage_error secret_unknown_command secret "unknown command 'get'" secret get x
usage_error secret_set_no_name "secret set" "missing NAME" secret set --host a.test --header h
usage_error secret_set_value_in_argv "secret set" "unexpected argument after NAME \\(the value is read from standard input" \
	secret set --host a.test --header h name sk-x
check_fails secret_set_value_in_argv_not_echoed grep -q sk-x "$T/err"
usage_error secret_set_no_host "secret set" "at least one --host is required" secret set --header h name
usage_error secret_set_bad_name "secret set" "invalid secret name 'a/b'" secret set --host a.test --header h a/b
usage_error secret_ls_extra_arg "secret ls" "unexpected argument 'x'" secret ls x
usage_error secret_rm_no_args "secret rm" "missing NAME" secret rm
usage_error version_extra_arg version "unexpected argument 'x'" version x
usage_error bad_memory create "--memory: invalid size '12x'" create --memory 12x shell .
usage_error negative_memory create "--memory: invalid size '-1g'" create --memory -1g shell .
usage_error overflow_memory create "--memory: invalid size '99999999999t'" \
	create --memory 99999999999t shell .
usage_error zero_cpus create "--cpus: invalid CPU count '0'" create --cpus 0 shell .
usage_error junk_cpus create "--cpus: invalid CPU count 'lots'" create --cpus lots shell .
usage_error bad_pids run "--pids: invalid process limit '-1'" run --pids -1 shell
usage_error bad_name_option create "invalid sandbox name '../x'" create --name ../x shell .
usage_error bad_name_exec exec "invalid sandbox name 'a/b'" exec a/b true
usage_error bad_name_rm rm "invalid sandbox name '.'" rm ok-name .
usage_error bad_env exec "-e '=v': the variable name is empty" exec -e =v sb true

# Options stop at the first positional: "-x" after SANDBOX is CMD's, so this
# is not a usage error (it fails to connect instead).
run_split "$KENNEL" exec sb ls -x
if [ "$rc" -eq 1 ] && grep -q "cannot connect" <<<"$err"; then pass exec_options_stop_at_positional
else fail exec_options_stop_at_positional "exit $rc" "$err"; fi

run_split "$KENNEL" --no-such-global ls
if [ "$rc" -eq 2 ] && grep -q "^kennel: unknown option '--no-such-global'" <<<"$err"; then
	pass unknown_global_flag
else fail unknown_global_flag "exit $rc" "$err"; fi
run_split "$KENNEL" frobnicate
if [ "$rc" -eq 2 ] && grep -q "^kennel: unknown command 'frobnicate'" <<<"$err" &&
	grep -q "^Usage: kennel" <<<"$err"; then
	pass unknown_command
else fail unknown_command "exit $rc" "$err"; fi
run_split "$KENNEL"
if [ "$rc" -eq 2 ] && grep -q "^kennel: missing COMMAND" <<<"$err"; then pass no_command
else fail no_command "exit $rc" "$err"; fi

# --- checked before anything is sent ------------------------------------------
run_split "$KENNEL" create shell "$T/no-such-dir"
if [ "$rc" -eq 1 ] && grep -q "^kennel: workspace '$T/no-such-dir': No such file or directory" \
	<<<"$err"; then
	pass missing_workspace_named
else fail missing_workspace_named "exit $rc" "$err"; fi
touch "$T/a-file"
run_split "$KENNEL" create shell "$T/a-file:ro"
if [ "$rc" -eq 1 ] && grep -q "workspace '$T/a-file': not a directory" <<<"$err"; then
	pass workspace_not_a_directory
else fail workspace_not_a_directory "exit $rc" "$err"; fi

# --- no daemon -----------------------------------------------------------------
no_daemon() { # NAME SOCKET ARGS...
	local name=$1 sock=$2; shift 2
	run_split "$KENNEL" "$@"
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ] &&
		grep -Fq "kennel: cannot connect to kenneld at $sock: " <<<"$err" &&
		grep -Fq "Is it running? Start it with 'kennel daemon' (as root) or 'make run'." \
			<<<"$err"; then
		pass "$name"
	else
		fail "$name" "exit $rc: kennel $*" "$err"
	fi
}
mkdir -p "$T/ws"
no_daemon no_daemon_ls "$KENNEL_SOCKET" ls
no_daemon no_daemon_inspect "$KENNEL_SOCKET" inspect sb
no_daemon no_daemon_create "$KENNEL_SOCKET" create shell "$T/ws"
no_daemon no_daemon_exec "$KENNEL_SOCKET" exec sb true
no_daemon no_daemon_run "$KENNEL_SOCKET" run shell "$T/ws"
no_daemon no_daemon_rm "$KENNEL_SOCKET" rm -f sb
no_daemon socket_flag_wins "$T/other.sock" --socket "$T/other.sock" ls
# An empty $KENNEL_SOCKET means the default (unless a real kenneld runs there).
if [ ! -S /run/kennel/kenneld.sock ]; then
	KENNEL_SOCKET= no_daemon default_socket_when_env_empty /run/kennel/kenneld.sock ls
fi

# --- a daemon that never answers ------------------------------------------------
# A listening socket nobody accepts on (a stopped or wedged kenneld): every
# command gives up after KENNEL_TIMEOUT seconds with a message, exec too
# (before its stream starts), instead of hanging.
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
print("up", flush=True)
time.sleep(60)' "$T/mute.sock" >"$T/mute.out" &
mute=$!
for _ in $(seq 1 100); do [ -s "$T/mute.out" ] && break; sleep 0.05; done
for cmd in "ls" "exec sb true" "exec -d sb true" "create shell $T/ws"; do
	# shellcheck disable=SC2086 # the words of $cmd are its arguments
	KENNEL_TIMEOUT=1 run_split timeout 20 "$KENNEL" --socket "$T/mute.sock" $cmd
	name=mute_daemon_$(tr -c 'a-z\n' _ <<<"${cmd%% $T*}")
	if [ "$rc" -eq 1 ] && grep -Fq "no answer from kenneld at $T/mute.sock within 1 s" <<<"$err"; then
		pass "$name"
	else
		fail "$name" "exit $rc: kennel $cmd" "$err"
	fi
done
kill "$mute" 2>/dev/null
wait "$mute" 2>/dev/null
i=0
for v in 0 -3 abc 86401 1.5; do
	i=$((i + 1))
	KENNEL_TIMEOUT=$v run_split "$KENNEL" ls
	if [ "$rc" -eq 2 ] && grep -Fq "KENNEL_TIMEOUT must be a whole number of seconds from 1 to 86400, not '$v'" <<<"$err"; then
		pass "timeout_refused_$i"
	else
		fail "timeout_refused_$i" "exit $rc: KENNEL_TIMEOUT=$v" "$err"
	fi
done

# kennel version: the client's part always, then the daemon is unreachable.
run_split "$KENNEL" version
if [ "$rc" -eq 1 ] && grep -q "Version: *$VERSION" <<<"$out" &&
	grep -q "cannot connect to kenneld at $KENNEL_SOCKET" <<<"$err"; then
	pass version_without_daemon
else fail version_without_daemon "exit $rc" "$out" "$err"; fi
