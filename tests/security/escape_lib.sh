# tests/security/escape_lib.sh — helpers shared by the escape_*.sh scripts.
# Source it after tests/lib.sh. The script sets SB, the sandbox most attempts
# run in, and may set TOKEN, a host-only secret that must never be seen inside.
#   EXEC_TIMEOUT            seconds one kx may take
#   kx ARGS...              `kennel exec ARGS`, killed after EXEC_TIMEOUT
#   require_daemon          stops the script (FAIL daemon_alive) if kenneld died
#   deny NAME ERE CMD...    PASS when CMD fails, its output matches ERE (the
#                           expected refusal) and does not show $TOKEN
#   deny_both NAME ERE CMD...       deny of CMD in $SB as the agent (NAME_agent)
#                                   and as root inside (NAME_root)
#   deny_both_in SANDBOX NAME ERE CMD...  the same in SANDBOX
#   py_both NAME ERRNO PYTHON       deny_both of the probe PYTHON (after the
#                                   prelude $PY): refused with ERRNO (an ERE)
#   PY                      the probes' Python prelude (below)
# tests/run runs every security/*.sh, this one too: alone it defines all this
# and exits 0 with no PASS or FAIL, so it counts for nothing.

# Bound on one `kennel exec`: a hung sandbox must not hang the suite.
EXEC_TIMEOUT=30

kx() { timeout "$EXEC_TIMEOUT" "$KENNEL" exec "$@"; }

# require_daemon — stop here (one FAIL, not a cascade) if kenneld died under us.
require_daemon() {
	kill -0 "$DAEMON_PID" 2>/dev/null && return 0
	echo "FAIL daemon_alive (kenneld $DAEMON_PID is gone; the remaining checks would prove nothing)"
	tail -n 5 "$T/kenneld.log" | sed 's/^/    /'
	exit 1
}

deny() {
	local name=$1 pattern=$2; shift 2
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ -n "${TOKEN:-}" ] && grep -Fq -- "$TOKEN" <<<"$out"; then
		fail "$name" "host secret leaked: $*" "$out"
	elif [ "$rc" -ne 0 ] && grep -Eq -- "$pattern" <<<"$out"; then
		pass "$name"
	else
		fail "$name" "exit $rc, wanted a failure matching /$pattern/: $*" "$out"
	fi
}
deny_both_in() {
	local sb=$1 name=$2 pattern=$3; shift 3
	deny "${name}_agent" "$pattern" kx "$sb" "$@"
	deny "${name}_root" "$pattern" kx -u root "$sb" "$@"
}
deny_both() { deny_both_in "$SB" "$@"; }
py_both() { deny_both "$1" "^errno=$2\$" python3 -c "$PY
$3"; }

# Python probes: op(f, *a) makes an os-level call, sc(nr, *a) a raw syscall,
# connect(family, addr[, kind]) a connection (5 s timeout). Each prints
# "errno=NAME" and exits 1 when refused, "ESCAPED ..." and exits 0 when not.
PY='import ctypes, errno, os, socket, sys
def op(f, *a):
    try:
        r = f(*a)
    except OSError as e:
        print("errno=" + errno.errorcode.get(e.errno, str(e.errno))); sys.exit(1)
    print("ESCAPED: returned %r" % (r,)); sys.exit(0)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *a):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(x) for x in a])
    if r < 0:
        print("errno=" + errno.errorcode[ctypes.get_errno()]); sys.exit(1)
    print("ESCAPED: syscall %d returned %d" % (nr, r)); sys.exit(0)
def connect(family, addr, kind=socket.SOCK_STREAM):
    s = socket.socket(family, kind)
    s.settimeout(5)
    op(s.connect, addr)
'
