#!/usr/bin/env bash
# proxy_process.sh — kennel-proxy as a process: hardening (unprivileged user,
# undumpable, no core, no_new_privs, seccomp, NOFILE raised), workers replaced
# when they die, workers gone with the master, the descriptor budget spread
# over workers, timeouts (idle tunnel), the per-sandbox connection cap, a
# policy change on a kept-alive connection, and decision log rotation.
. "$(dirname "$0")/../lib.sh"
. "$KENNEL_SRC/tests/helpers/proxy_lib.sh"

upstream_start

# --- as an unprivileged user, the way kenneld starts it ---
mkdir -m 0777 "$T/nobody"
PROXY_WRAP=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
PROXY_LOG=$T/nobody/decisions.log
proxy_start --idle-timeout-ms 1000 --max-conns-per-sandbox 3 --log-max-bytes 2000
sandbox h '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["blocked.test"]}'
P=$SB_PORT
W=$(worker_pids | head -1)
check_out "the master runs as the unprivileged user" $'^Uid:\t65534' grep '^Uid:' "/proc/$PROXY_PID/status"
for p in $PROXY_PID $(worker_pids); do
	check_out "pid $p: no_new_privs" $'^NoNewPrivs:\t1$' grep '^NoNewPrivs:' "/proc/$p/status"
	check_out "pid $p: seccomp filter" $'^Seccomp:\t2$' grep '^Seccomp:' "/proc/$p/status"
	check_out "pid $p: no core dumps" '^Max core file size +0 +0 ' grep '^Max core file size' "/proc/$p/limits"
	check "pid $p: undumpable (its /proc files belong to root)" test "$(stat -c %u "/proc/$p/fd")" = 0
done
hard=$(awk '/^Max open files/ {print $5}' "/proc/$W/limits")
check_out "soft NOFILE raised to the hard limit ($hard)" "^Max open files +$hard +$hard " grep '^Max open files' "/proc/$W/limits"
check_fails "the same uid cannot read a worker's memory" setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	dd if="/proc/$W/mem" bs=1 count=1 skip=4096 status=none
check_fails "the same uid cannot read a worker's environment" setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	cat "/proc/$W/environ"
check_out "it serves as that user" '^hello from upstream$' curl -sS --max-time 10 -x "http://127.0.0.1:$P" "http://allowed.test:$UP_PORT/hello"

# --- a policy change applies to the next request on a kept-alive connection ---
check "a kept-alive connection sees a policy change at its next request" python3 - "$P" "$UP_PORT" <<'EOF'
import socket, subprocess, sys
port, up = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
def get():
    s.sendall(("GET http://other.test:%s/hello HTTP/1.1\r\nHost: other.test:%s\r\n\r\n" % (up, up)).encode())
    status = f.readline()
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""): break
        if line.lower().startswith(b"content-length:"): length = int(line.split(b":")[1])
    f.read(length)
    return status
assert get().startswith(b"HTTP/1.1 200"), "first request"
print("ready", flush=True)
sys.stdin.readline()                      # the script changes the policy now
assert get().startswith(b"HTTP/1.1 403"), "second request on the same connection"
EOF
) 2>&1
