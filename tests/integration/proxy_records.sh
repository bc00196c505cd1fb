#!/usr/bin/env bash
# proxy_records.sh — TLS record boundaries in kennel-proxy's intercepted
# tunnels: the proxy reads ahead (one read() takes what the socket has), so
# records it holds decrypted or buffered are invisible to epoll. Requests in
# 2-byte records, pipelined in one write, sent with the last handshake
# message, split mid-record, chunked bodies in tiny records, close_notify:
# each must be answered whole, and half a record waiting must not spin the
# worker. (tests/helpers/tls_records*.py: record-level TLS client and server.)
. "$(dirname "$0")/../lib.sh"
. "$KENNEL_SRC/tests/helpers/proxy_lib.sh"

make_ca sandbox-ca
make_ca upstream-ca
make_leaf upstream-ca good "DNS:allowed.test,IP:127.0.0.1"
python3 "$KENNEL_SRC/tests/helpers/tls_records.py" serve "$T/rec.port" "$T/good.crt" "$T/good.key" 2>>"$T/rec.err" &
BG_PIDS+=($!)
wait_port_file "$T/rec.port"
REC=$(cat "$T/rec.port")
proxy_start --upstream-ca "$T/upstream-ca.crt" --workers 1
sandbox_ca mitm sandbox-ca '{"default":"allow","allow_cidrs":["127.0.0.0/8"]}'
W=$(worker_pids | paste -sd,)
for s in plain tiny-head pipelined early split-head tiny chunked-tiny close-notify split; do
	timeout 30 python3 "$KENNEL_SRC/tests/helpers/tls_records_client.py" "$SB_PORT" "$REC" \
		"$T/sandbox-ca.crt" "$s" "$W" >"$T/$s.out" 2>&1
	check_out "record edge case '$s': answered whole" "^$s ok" cat "$T/$s.out"
done
check_out "close_notify from the client ends the exchange" '^ended' cat "$T/close-notify.out"
# Half a record waited 1.5 s: a worker that spun would use ~150 ticks.
for s in split split-head; do
	check_out "half a record waiting does not spin the worker ($s)" '^ok$' python3 -c '
import re, sys
m = re.search(r"ticks while half a record waited: (\d+)", open(sys.argv[1]).read())
print("ok" if m and int(m.group(1)) < 75 else "ticks: %s" % (m and m.group(1)))' "$T/$s.out"
done
