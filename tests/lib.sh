# tests/lib.sh — shared helpers for integration and security scripts.
# Source it; it sets KENNEL (the CLI), KENNELD and a private daemon per script:
#   start_daemon            starts kenneld on a temp socket and state dir
#   check NAME CMD...       PASS if CMD exits 0
#   check_fails NAME CMD... PASS if CMD exits non-zero
#   check_out NAME PATTERN CMD...  PASS if CMD's output matches the ERE PATTERN
# Every check prints exactly one PASS/FAIL line; on FAIL the command's output
# is shown indented. The daemon and its sandboxes are removed on exit.
# Helpers that checks are made of:
#   PYTHON                  the host's python3 (Debian's, which starts fastest)
#   none CMD...             succeeds when CMD prints nothing (else shows it)
#   alive PID...            succeeds when every PID is live, with an address space
#   run_split CMD...        runs CMD; sets $out, $err (also in $T/out, $T/err), $rc
#   api METHOD PATH [BODY]  one request to the daemon's API; sets $code, $ctype, $body
#   jtest EXPR [TEXT]       succeeds when the Python EXPR holds of TEXT ($body):
#                           j its JSON value, L its JSON lines, is_error(v)
#   field SANDBOX KEY       one field of `kennel inspect SANDBOX`
#   cg_dirs SANDBOX         SANDBOX's cgroup directories, in any hierarchy
#   cg_discover SANDBOX     sets CG_PARENTS and CG_ROOT from SANDBOX's cgroups
#                           (one check: cgroups_found_in_N_hierarchies)
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

# Debian's python3 starts in 30 ms; a pyenv shim first in PATH takes 500.
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3

none() {
	local out
	out=$("$@" 2>&1)
	[ -z "$out" ] || { echo "$out"; return 1; }
}

# alive, not kill -0: a zombie has no address space, nor has a task in the last
# steps of exit (such as a sandbox init waiting for the host's PID 1 to reap an
# exec helper's orphans, which it may do only every few seconds). Neither runs
# code.
alive() {
	local p
	for p in "$@"; do grep -qs '^VmSize' "/proc/$p/status" || return 1; done
}

run_split() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

# api: with curl over $KENNEL_SOCKET; the body is also left in $T/body and
# curl's complaints in $T/curl.err.
api() {
	local method=$1 path=$2 out
	shift 2
	local args=(-sS --max-time 30 --unix-socket "$KENNEL_SOCKET" -X "$method" -o "$T/body"
		-w '%{http_code} %{content_type}')
	[ $# -gt 0 ] && args+=(-H 'Content-Type: application/json' --data-binary "$1")
	rm -f "$T/body"
	out=$(curl "${args[@]}" "http://kenneld$path" 2>"$T/curl.err")
	code=${out%% *}
	ctype=${out#* }
	body=$(cat "$T/body" 2>/dev/null)
}

# jtest: j is None when TEXT is not one JSON value, L is [] when it is not JSON
# lines; is_error(v) says v is exactly {"error": "<a sentence>"}. json, os, re
# and sys are imported.
jtest() {
	"$PYTHON" - "$1" "${2-$body}" <<'EOF'
import json, os, re, sys
expr, text = sys.argv[1], sys.argv[2]
try:
    j = json.loads(text)
except ValueError:
    j = None
try:
    L = [json.loads(x) for x in text.splitlines() if x.strip()]
except ValueError:
    L = []
def is_error(v):
    return isinstance(v, dict) and list(v) == ["error"] and isinstance(v["error"], str) \
        and len(v["error"]) >= 8
sys.exit(0 if eval("(" + expr + "\n)") else 1)
EOF
}

# field: "null" for a JSON null.
field() {
	"$KENNEL" inspect "$1" 2>/dev/null |
		"$PYTHON" -c 'import json,sys; v=json.load(sys.stdin)[0][sys.argv[1]]; print("null" if v is None else v)' "$2"
}

cg_dirs() { find /sys/fs/cgroup -type d -name "$1" 2>/dev/null; }

# cg_discover: CG_PARENTS is where this daemon keeps sandbox cgroups, the
# parent of SANDBOX's cgroup directory in every hierarchy (its name derives
# from the state dir); CG_ROOT is that name.
cg_discover() {
	local d
	CG_PARENTS=()
	for d in $(cg_dirs "$1"); do CG_PARENTS+=("$(dirname "$d")"); done
	CG_ROOT=$(basename "${CG_PARENTS[0]:-none}")
	if [ ${#CG_PARENTS[@]} -gt 0 ]; then pass "cgroups_found_in_${#CG_PARENTS[@]}_hierarchies"
	else fail cgroups_found "no cgroup directory named $1 under /sys/fs/cgroup"; fi
}

# The daemon's fd count once its idle work is done: it holds the next
# start's namespaces (sandbox/spare.h) and the next sandbox's overlays
# (daemon/ahead.h) from its first idle moments on. Waits for both (the
# folder made ahead, then a count that holds for 0.2 s), at most ~5 s.
daemon_fds_idle() {
	local n m
	for _ in $(seq 1 25); do
		n=$(ls "/proc/$DAEMON_PID/fd" 2>/dev/null | wc -l)
		sleep 0.2
		m=$(ls "/proc/$DAEMON_PID/fd" 2>/dev/null | wc -l)
		[ "$n" = "$m" ] && [ -f "$KENNEL_STATE/sandboxes/.next/ca.crt" ] &&
			ls -l "/proc/$DAEMON_PID/fd" 2>/dev/null | grep -q 'net:\[' && break
	done
	echo "$m"
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

# Is this an AddressSanitizer build? (memory figures mean little there:
# redzones and the 256 MiB quarantine dominate.)
# in_pty CMD [ARG...]: CMD on a fresh pseudo-terminal (util-linux script), killed
# after EXEC_TIMEOUT seconds. script runs the line with "$SHELL -c" and printf %q
# quotes for bash; CI may have SHELL unset or /bin/sh, which took $'..' literally.
in_pty() {
	SHELL=/bin/bash timeout "${EXEC_TIMEOUT:-60}" script -qec "$(printf '%q ' "$@")" /dev/null
}

sanitized_build() { ldd "$KENNELD" 2>/dev/null | grep -q libasan; }

cleanup() {
	if [ -n "$DAEMON_PID" ]; then
		for s in $("$KENNEL" ls -q 2>/dev/null); do "$KENNEL" rm -f "$s" >/dev/null 2>&1; done
		stop_daemon
	fi
	if [ -n "${KEEP_TEST_DIR:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
