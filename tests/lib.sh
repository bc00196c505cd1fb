# tests/lib.sh — shared helpers for integration and security scripts.
# Source it; it sets KENNEL (the CLI), KENNELD and a private daemon per script:
#   start_daemon            starts kenneld on a temp socket and state dir
#   check NAME CMD...       PASS if CMD exits 0
#   check_fails NAME CMD... PASS if CMD exits non-zero
#   check_out NAME PATTERN CMD...  PASS if CMD's output matches the ERE PATTERN
# Every check prints exactly one PASS/FAIL line; on FAIL the command's output
# is shown indented. The daemon and its sandboxes are removed on exit.
set -u
: "${KENNEL_BUILD:?run through tests/run}"
KENNEL=$KENNEL_BUILD/kennel
KENNELD=$KENNEL_BUILD/kenneld
T=$(mktemp -d /tmp/kennel-t.XXXXXX)
chmod 755 "$T"
export KENNEL_SOCKET=$T/kenneld.sock
KENNEL_STATE=$T/state
DAEMON_PID=

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'; return 0; }

check() {
	local name=$1; shift
	local out
	if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "exit $?: $*" "$out"; fi
}
check_fails() {
	local name=$1; shift
	local out
	if out=$("$@" 2>&1); then fail "$name" "unexpectedly succeeded: $*" "$out"; else pass "$name"; fi
}
check_out() {
	local name=$1 pattern=$2; shift 2
	local out
	out=$("$@" 2>&1)
	if grep -Eq -- "$pattern" <<<"$out"; then pass "$name"; else fail "$name" "no match for /$pattern/: $*" "$out"; fi
}

start_daemon() {
	mkdir -p "$KENNEL_STATE"
	"$KENNELD" --socket "$KENNEL_SOCKET" --state-dir "$KENNEL_STATE" --debug "$@" >>"$T/kenneld.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 200); do
		[ -S "$KENNEL_SOCKET" ] && "$KENNEL" version >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "FAIL start_daemon"; sed 's/^/    /' "$T/kenneld.log"; return 1
}

stop_daemon() {
	[ -n "$DAEMON_PID" ] || return 0
	kill "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

cleanup() {
	if [ -n "$DAEMON_PID" ]; then
		for s in $("$KENNEL" ls -q 2>/dev/null); do "$KENNEL" rm -f "$s" >/dev/null 2>&1; done
		stop_daemon
	fi
	if [ -n "${KEEP_TEST_DIR:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
