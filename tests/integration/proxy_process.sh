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

# Small requests and responses must not wait for Nagle: an accepted connection
# has TCP_NODELAY (inherited from the listener, where the master sets it).
# Read from the worker's own socket (pidfd_getfd) while a client holds one open.
cat >"$T/nodelay.py" <<'EOF'
import ctypes, os, socket, sys, time
port, pids = int(sys.argv[1]), [int(p) for p in sys.argv[2:]]
c = socket.create_connection(("127.0.0.1", port), timeout=10)
c.sendall(b"GET http://allowed.test/ HTTP/1.1\r\n")  # a head not yet complete: it stays open
libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_getfd = 438
found = []
for _ in range(100):
    for pid in pids:
        pidfd = os.pidfd_open(pid)
        for name in os.listdir("/proc/%d/fd" % pid):
            try:
                if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:"):
                    continue
            except OSError:
                continue
            fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
            if fd < 0:
                continue
            s = socket.socket(fileno=fd)
            try:
                if (s.family in (socket.AF_INET, socket.AF_INET6) and s.type == socket.SOCK_STREAM
                        and not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                        and s.getsockname()[1] == port):
                    found.append(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            except OSError:
                pass
            finally:
                s.detach()
                os.close(fd)
        os.close(pidfd)
    if found:
        break
    time.sleep(0.05)
print("nodelay", found)
EOF
check_out "an accepted client connection has TCP_NODELAY" '^nodelay \[1\]$' python3 "$T/nodelay.py" "$P" $(worker_pids)

# --- a policy change applies to the next request on a kept-alive connection ---
cat >"$T/keepalive.py" <<'EOF'
import socket, sys
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
    return status.decode().strip()
print(get(), flush=True)
sys.stdin.readline()        # the policy changes meanwhile
print(get(), flush=True)
EOF
mkfifo "$T/ka.in"
exec 8<>"$T/ka.in"
python3 "$T/keepalive.py" "$P" "$UP_PORT" <&8 >"$T/ka.out" 2>&1 &
KA=$!
for _ in $(seq 1 100); do [ -s "$T/ka.out" ] && break; sleep 0.05; done
ctl policy h '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["other.test"]}'
echo >&8
wait "$KA"
exec 8>&-
check_out "kept-alive connection: first request allowed" '^HTTP/1.1 200' head -1 "$T/ka.out"
check_out "kept-alive connection: the next request sees the new policy" '^HTTP/1.1 403' sed -n 2p "$T/ka.out"

# --- idle tunnels are closed after --idle-timeout-ms (1000 here) ---
check "an idle tunnel is closed after the idle timeout" python3 - "$P" "$UP_PORT" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(("CONNECT allowed.test:%s HTTP/1.1\r\nHost: allowed.test:%s\r\n\r\n" % (sys.argv[2], sys.argv[2])).encode())
assert s.recv(100).startswith(b"HTTP/1.1 200")
start = time.monotonic()
assert s.recv(1) == b""
took = time.monotonic() - start
assert 0.9 <= took <= 3.0, took
EOF
check "... and logged with the reason" grep -q '"error":"idle timeout"' "$PROXY_LOG"

# --- the per-sandbox connection cap (--max-conns-per-sandbox 3) ---
check "the connection over the sandbox's cap gets 503, and a slot frees on close" python3 - "$P" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
answer = s.recv(200)
assert answer.startswith(b"HTTP/1.1 503"), answer
held.pop().close()
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"CONNECT other.test:1 HTTP/1.1\r\nHost: other.test:1\r\n\r\n")
answer = s.recv(200)
assert answer.startswith(b"HTTP/1.1 403"), answer
EOF

# --- decision log rotation (--log-max-bytes 2000) ---
for i in $(seq 1 40); do
	curl -sS --max-time 10 -x "http://127.0.0.1:$P" -o /dev/null "http://allowed.test:$UP_PORT/hello"
done
wait_log_lines 1
check "the log was rotated to .1, .2 and .3" test -s "$PROXY_LOG.1" -a -s "$PROXY_LOG.2" -a -s "$PROXY_LOG.3"
check_fails "no more than 3 old logs are kept" test -e "$PROXY_LOG.4"
check "rotated files stay near the limit" test "$(stat -c %s "$PROXY_LOG.1")" -lt 3000
check "every rotated line is whole JSON" python3 - "$PROXY_LOG" <<'EOF'
import json, sys
for suffix in ("", ".1", ".2", ".3"):
    for line in open(sys.argv[1] + suffix):
        json.loads(line)
EOF

# --- a worker that dies is replaced and the sandbox sent to it again ---
old=$(worker_pids | sort)
kill -9 "$W"
for _ in $(seq 1 100); do
	[ "$(worker_pids | wc -l)" = 2 ] && [ "$(worker_pids | sort)" != "$old" ] && break
	sleep 0.05
done
check_out "a killed worker is replaced" '^2$' sh -c "pgrep -P $PROXY_PID | wc -l"
check_out "the master says so" 'replacing worker' cat "$T/proxy.err"
ok=0
for i in $(seq 1 10); do
	code=$(curl -sS --max-time 10 -x "http://127.0.0.1:$P" -o /dev/null -w '%{http_code}' "http://allowed.test:$UP_PORT/hello")
	[ "$code" = 200 ] && ok=$((ok + 1))
done
check_out "both workers serve after the replacement" '^10$' echo "$ok"

# A stuck worker (SIGSTOP) is replaced when it does not acknowledge a message,
# and the answer still comes within kenneld's 2 s deadline.
stuck=$(worker_pids | head -1)
kill -STOP "$stuck"
start=$(date +%s%N)
ctl policy h '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["other.test"]}'
took=$(( ($(date +%s%N) - start) / 1000000 ))
check_out "a message is acknowledged despite a stuck worker" '"ok": ?true' echo "$ANSWER"
check "... within 2 s (took $took ms)" test "$took" -lt 2000
check_fails "the stuck worker was killed" kill -0 "$stuck"
check_out "and replaced" '^2$' sh -c "pgrep -P $PROXY_PID | wc -l"
check_out "the replacement got the sandbox and its policy" '^403$' \
	curl -sS --max-time 10 -x "http://127.0.0.1:$P" -o /dev/null -w '%{http_code}' "http://other.test:$UP_PORT/hello"

# --- the workers die with the master ---
workers=$(worker_pids)
kill -9 "$PROXY_PID"
gone=
for _ in $(seq 1 100); do
	alive=0
	for p in $workers; do kill -0 "$p" 2>/dev/null && alive=1; done
	[ "$alive" = 0 ] && gone=1 && break
	sleep 0.05
done
check "the workers exit when the master is killed" test -n "$gone"
proxy_stop
check_out "... and proxy_ctl saw it die of SIGKILL" '^exit 137$' echo "$ANSWER"

# --- the descriptor budget: workers stop accepting when full, others take over ---
PROXY_WRAP=(prlimit --nofile=300:300 --)
PROXY_LOG=$T/decisions2.log
proxy_start --workers 2
sandbox lim '{"default":"allow","allow_cidrs":["127.0.0.0/8"]}'
"$PROXY_FLOOD" serve "$T/echo.port" &
BG_PIDS+=($!)
wait_port_file "$T/echo.port"
# With 300 fds a worker's budget is 300 - 64 reserved - 1 listener = 235, of
# which 128 stay free for pipes: it pauses at its 53rd connection. 105 tunnels
# need both workers and leave at least one of them with 53 (105 = 53 + 52), so
# one is always full, however the kernel spreads the accepts.
out=$("$PROXY_FLOOD" connect "$SB_PORT" "allowed.test:$(cat "$T/echo.port")" 105 <<<"" 2>&1)
check_out "105 tunnels with 300 fds per worker: all established" '^established 105 ' echo "$out"
check_out "... and all carry bytes" '^echoed 105$' echo "$out"
check_out "a full worker left connections to the other" 'descriptor budget full' cat "$T/proxy.err"
proxy_stop
check_out "the proxy exits 0 when the control socket closes" '^exit 0$' echo "$ANSWER"
