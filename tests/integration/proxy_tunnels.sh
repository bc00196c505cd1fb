#!/usr/bin/env bash
# proxy_tunnels.sh — scale and speed of CONNECT tunnels: 10,000 concurrent
# idle tunnels to a loopback echo server are held without error (each one
# carries a byte both ways), the proxy's memory per idle tunnel is measured
# and printed, all of them close cleanly; and 1 GiB through one tunnel is
# timed against the same transfer made directly.
# Set PROXY_TUNNELS (default 10000) to change the count.
. "$(dirname "$0")/../lib.sh"
. "$KENNEL_SRC/tests/helpers/proxy_lib.sh"

N=${PROXY_TUNNELS:-10000}

"$PROXY_FLOOD" serve "$T/echo.port" &
BG_PIDS+=($!)
wait_port_file "$T/echo.port"
ECHO_PORT=$(cat "$T/echo.port")

proxy_start
sandbox many '{"default":"deny","allow_hosts":["allowed.test"],"allow_cidrs":["127.0.0.0/8"]}'
P=$SB_PORT

# Resident memory of the master and all workers, in KiB.
proxy_rss() {
	local total=0 p
	for p in $PROXY_PID $(worker_pids); do
		total=$((total + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status")))
	done
	echo "$total"
}
# Warm up: first connections touch code and allocator pages that every later
# connection shares.
"$PROXY_FLOOD" connect "$P" "allowed.test:$ECHO_PORT" 200 <<<"" >/dev/null 2>&1
sleep 0.5
rss_before=$(proxy_rss)

# The client holds the tunnels until it reads a line from the FIFO.
mkfifo "$T/flood.in"
exec 8<>"$T/flood.in"
"$PROXY_FLOOD" connect "$P" "allowed.test:$ECHO_PORT" "$N" <&8 >"$T/flood.out" 2>&1 &
FLOOD_PID=$!
for _ in $(seq 1 2000); do
	grep -qx holding "$T/flood.out" && break
	kill -0 "$FLOOD_PID" 2>/dev/null || break
	sleep 0.1
done
out=$(cat "$T/flood.out")
echo "$out" | sed 's/^/    /'
check_out "$N concurrent CONNECT tunnels established" "^established $N in" echo "$out"
check_out "every tunnel carries bytes both ways" "^echoed $N\$" echo "$out"

rss_after=$(proxy_rss)
per=$(( (rss_after - rss_before) * 1024 / N ))
echo "    proxy RSS: $rss_before KiB before, $rss_after KiB with $N idle tunnels: $per bytes per tunnel"
for p in $(worker_pids); do
	echo "    worker $p: $(ls "/proc/$p/fd" | wc -l) fds, $(awk '/^VmRSS/ {print $2}' "/proc/$p/status") KiB"
done
# Under AddressSanitizer (make check-asan) redzones and quarantine dominate.
limit=2048
sanitized_build && limit=65536
check "idle tunnels cost under $limit bytes of proxy memory each" test "$per" -lt "$limit"
fds=0
for p in $(worker_pids); do fds=$((fds + $(ls "/proc/$p/fd" | wc -l))); done
check "the workers hold 2 sockets per tunnel and no pipes" test "$fds" -ge $((2 * N)) -a "$fds" -lt $((2 * N + 400))

echo >&8
wait "$FLOOD_PID"
rc=$?
exec 8>&-
check_out "all tunnels closed by the client" '^closed$' tail -1 "$T/flood.out"
check "the flood client saw no error" test "$rc" -eq 0
ok=
for _ in $(seq 1 100); do
	fds=0
	for p in $(worker_pids); do fds=$((fds + $(ls "/proc/$p/fd" | wc -l))); done
	[ "$fds" -lt 200 ] && ok=1 && break
	sleep 0.1
done
check "the proxy released every tunnel's sockets" test -n "$ok"
check "every tunnel got its decision line" wait_log_lines $((N + 200))
check_out "the tunnels were logged as allowed CONNECTs" "^$((N + 200))\$" \
	sh -c "grep -c '\"method\":\"CONNECT\".*\"decision\":\"allow\",\"status\":200' $T/decisions.log"

# Throughput: 1 GiB through one tunnel vs. the same transfer direct.
"$PROXY_FLOOD" sink "$T/sink.port" &
BG_PIDS+=($!)
wait_port_file "$T/sink.port"
SINK=$(cat "$T/sink.port")
GiB=$((1024 * 1024 * 1024))
direct=$("$PROXY_FLOOD" push "$SINK" "$GiB" 2>&1)
tunnel=$("$PROXY_FLOOD" push "$P" "$GiB" "allowed.test:$SINK" 2>&1)
echo "    direct:  $direct"
echo "    tunnel:  $tunnel"
check_out "1 GiB through a tunnel arrives complete" "^pushed $GiB bytes" echo "$tunnel"
check_out "1 GiB direct arrives complete" "^pushed $GiB bytes" echo "$direct"
check "the tunnel's decision line counts the GiB" python3 - "$T/decisions.log" "$GiB" <<'EOF'
import json, sys, time
for _ in range(50):
    L = [json.loads(l) for l in open(sys.argv[1])]
    if any(d["bytes_up"] == int(sys.argv[2]) for d in L):
        break
    time.sleep(0.1)
else:
    raise SystemExit("no line with bytes_up == 1 GiB")
EOF
