#!/usr/bin/env bash
# proxy_secrets.sh — credential injection in kennel-proxy, driven standalone:
# the {"op":"secrets"} table, headers set only on intercepted requests to
# bound hosts after the allow decision and the verified upstream handshake,
# most specific binding first, sandbox-bound secrets for their sandbox only;
# never in clear, never through a bypass tunnel, never to an unverified
# upstream; names in the decision log, values nowhere.
. "$(dirname "$0")/../lib.sh"
. "$KENNEL_SRC/tests/helpers/proxy_lib.sh"

make_ca sandbox-ca
make_ca upstream-ca
make_leaf upstream-ca good "DNS:allowed.test,DNS:other.test,DNS:v6.test,IP:127.0.0.1"
make_leaf upstream-ca wrong-name "DNS:elsewhere.test"
tls_server_start good; GOOD=$TLS_PORT
tls_server_start wrong-name; WRONG=$TLS_PORT
upstream_start

VALUE=sk-kennel-test-$RANDOM$RANDOM$RANDOM
OTHER=sk-other-$RANDOM$RANDOM
proxy_start --upstream-ca "$T/upstream-ca.crt"
POLICY='{"default":"allow","allow_cidrs":["127.0.0.0/8"],"bypass_hosts":["other.test"]}'
sandbox_ca one sandbox-ca "$POLICY"; ONE=$SB_PORT
sandbox_ca two sandbox-ca "$POLICY"; TWO=$SB_PORT

secrets() { ctl raw "$(printf '{"op":"secrets","secrets":[%s]}' "$1" | tr -d '\n')"; }
secrets "{\"name\":\"api\",\"hosts\":[\"allowed.test\"],\"header\":\"x-api-key\",\"value\":\"$VALUE\"},
{\"name\":\"wide\",\"hosts\":[\"*.test\",\"127.0.0.1\"],\"header\":\"x-api-key\",\"value\":\"$OTHER\"},
{\"name\":\"bearer\",\"hosts\":[\"allowed.test\"],\"header\":\"Authorization\",\"format\":\"Bearer {}\",\"value\":\"$VALUE\"},
{\"name\":\"only-two\",\"hosts\":[\"allowed.test\"],\"header\":\"x-two\",\"value\":\"$VALUE\",\"sandbox\":\"two\"}"
check_out "the secrets table is accepted" '^\{"ok": ?true\}$' echo "$ANSWER"

get() { # PORT URL [curl args]: the upstream's /values answer
	local port=$1 url=$2; shift 2
	curl -sS --max-time 30 -x "http://127.0.0.1:$port" --cacert "$T/sandbox-ca.crt" "$@" "$url"
}
A="https://allowed.test:$GOOD/values"
get "$ONE" "$A" -H 'x-api-key: proxy-managed' -H 'Authorization: Bearer proxy-managed' >"$T/one"
check_out "the placeholder is replaced by the value" "^x-api-key: $VALUE\$" cat "$T/one"
check_out "... exactly once" '^1$' grep -c '^x-api-key:' "$T/one"
check_fails "... and the placeholder does not reach the upstream" grep -q proxy-managed "$T/one"
check_out "a format puts the value in place" "^authorization: Bearer $VALUE\$" cat "$T/one"
get "$ONE" "$A" >"$T/added"
check_out "a header the client did not send is added" "^x-api-key: $VALUE\$" cat "$T/added"
check_fails "a secret bound to sandbox two is not used for sandbox one" grep -q '^x-two:' "$T/one"
check_out "... and is used for sandbox two" "^x-two: $VALUE\$" get "$TWO" "$A"
check_out "the most specific binding wins (allowed.test over *.test)" "^x-api-key: $VALUE\$" get "$ONE" "$A"
check_out "the wider binding serves other hosts (v6.test... via 127.0.0.1)" "^x-api-key: $OTHER\$" \
	get "$ONE" "https://127.0.0.1:$GOOD/values"

check_out "plain HTTP to a bound host: nothing injected" '^x-api-key: proxy-managed$' \
	curl -sS --max-time 30 -x "http://127.0.0.1:$ONE" -H 'x-api-key: proxy-managed' "http://allowed.test:$UP_PORT/values"
check_out "a bypass tunnel: nothing injected (the client talks TLS to the upstream)" '^x-api-key: proxy-managed$' \
	curl -sS --max-time 30 -x "http://127.0.0.1:$ONE" --cacert "$T/upstream-ca.crt" -H 'x-api-key: proxy-managed' \
	"https://other.test:$GOOD/values"
out=$(get "$ONE" "https://allowed.test:$WRONG/values" -H 'x-api-key: proxy-managed' -w '%{http_code}' 2>&1)
check_out "an upstream that does not verify gets no request at all (502 to the CONNECT)" 'CONNECT tunnel failed, response 502' echo "$out"

# A websocket upgrade inside the tunnel: 101 relayed, the secret injected
# into the upgrade request, then bytes both ways until the client closes.
cat >"$T/ws.py" <<'PY'
import hashlib, os, sys
from tunnel import tls_tunnel
port, up, cafile = sys.argv[1], sys.argv[2], sys.argv[3]
t = tls_tunnel(port, "allowed.test", up, cafile)
t.sendall(b"GET /ws HTTP/1.1\r\nHost: allowed.test:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          b"x-api-key: proxy-managed\r\n\r\n" % up.encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += t.recv(4096)
head, rest = buf.split(b"\r\n\r\n", 1)
print(head.split(b"\r\n")[0].decode())
print("upgrade:", b"upgrade: websocket" in head.lower(), "accept:", b"s3pplmbitxaq9kygzzhzrbk+xoo=" in head.lower())
while b"\n" not in rest:
    rest += t.recv(4096)
print(rest.split(b"\n")[0].decode())
payload = os.urandom(300000)
t.sendall(payload)
got = rest.split(b"\n", 1)[1]
while len(got) < len(payload):
    got += t.recv(65536)
print("echo", hashlib.sha256(got).hexdigest() == hashlib.sha256(payload).hexdigest())
t.close()
PY
python3 "$T/ws.py" "$ONE" "$GOOD" "$T/sandbox-ca.crt" >"$T/ws.out" 2>&1
check_out "websocket: the 101 reaches the client" '^HTTP/1.1 101' cat "$T/ws.out"
check_out "websocket: Upgrade and Sec-WebSocket-Accept are relayed" '^upgrade: True accept: True$' cat "$T/ws.out"
check_out "websocket: the secret is injected into the upgrade request" "^x-api-key: $VALUE\$" cat "$T/ws.out"
check_out "websocket: 300 kB echoed through the switched connection" '^echo True$' cat "$T/ws.out"
cat >"$T/ws-quiet.py" <<'PY'
import sys
from tunnel import tls_tunnel
port, up, cafile = sys.argv[1], sys.argv[2], sys.argv[3]
t = tls_tunnel(port, "allowed.test", up, cafile)
t.sendall(b"GET /ws-quiet HTTP/1.1\r\nHost: allowed.test:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % up.encode())
buf = b""
while b"\r\n\r\n" not in buf:
    buf += t.recv(4096)
t.settimeout(10)
t.sendall(b"client first\n")
got = buf.split(b"\r\n\r\n", 1)[1]
try:
    while b"\n" not in got:
        got += t.recv(4096)
except OSError as e:
    got += b"no echo: " + str(e).encode() + b"\n"
print(got.split(b"\n")[0].decode())
PY
check_out "websocket: an upstream that waits for the client first gets the client's bytes" '^client first$' \
	sh -c "cd '$T' && python3 ws-quiet.py '$ONE' '$GOOD' '$T/sandbox-ca.crt' 2>&1"
check_out "websocket: the upgrade without it gets a plain answer" '^not an upgrade$' get "$ONE" "https://allowed.test:$GOOD/ws"

ctl policy one '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["allowed.test"]}'
check_out "a blocked host gets 403, no tunnel and no injection" 'CONNECT tunnel failed, response 403' \
	get "$ONE" "$A" -o /dev/null 2>&1
ctl policy one "$POLICY"

# A worker replaced by the master gets the table again.
W=$(worker_pids | head -n 1)
kill -9 "$W"
for _ in $(seq 1 100); do
	[ "$(worker_pids | wc -l)" -ge 2 ] && ! worker_pids | grep -qx "$W" && break
	sleep 0.05
done
ok=0
for _ in 1 2 3 4 5 6; do get "$ONE" "$A" | grep -q "^x-api-key: $VALUE\$" && ok=$((ok + 1)); done
check_out "after a worker is replaced every request still gets the secret" '^6$' echo "$ok"

secrets ""
check_out "an empty table is accepted" '^\{"ok": ?true\}$' echo "$ANSWER"
check_out "... and nothing is injected any more" '^x-api-key: proxy-managed$' get "$ONE" "$A" -H 'x-api-key: proxy-managed'

# Refused tables: each names the problem, never the value, and changes nothing.
secrets "{\"name\":\"api\",\"hosts\":[\"allowed.test\"],\"header\":\"x-api-key\",\"value\":\"$VALUE\"}"
bad() { # NAME ERE JSON
	secrets "$3"
	check_out "refused: $1" "\"ok\": ?false.*$2" echo "$ANSWER"
	check_fails "refused: $1: the error does not quote the value" grep -q "$VALUE" <<<"$ANSWER"
}
bad "a Host header" 'header' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"Host\",\"value\":\"$VALUE\"}"
bad "a Proxy- header" 'header' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"Proxy-Authorization\",\"value\":\"$VALUE\"}"
bad "Content-Length" 'header' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"content-length\",\"value\":\"$VALUE\"}"
bad "a header that is not a token" 'header' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"x y\",\"value\":\"$VALUE\"}"
bad "a format without {}" 'format' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"x-k\",\"format\":\"Bearer\",\"value\":\"$VALUE\"}"
bad "a format with two {}" 'format' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"x-k\",\"format\":\"{}{}\",\"value\":\"$VALUE\"}"
bad "a value with CR LF" 'value' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"x-k\",\"value\":\"$VALUE\\r\\nX-Evil: 1\"}"
bad "an empty value" 'value' '{"name":"x","hosts":["a.test"],"header":"x-k","value":""}'
bad "a bad host pattern" 'hosts' "{\"name\":\"x\",\"hosts\":[\"a.*.test\"],\"header\":\"x-k\",\"value\":\"$VALUE\"}"
bad "no hosts" 'hosts' "{\"name\":\"x\",\"hosts\":[],\"header\":\"x-k\",\"value\":\"$VALUE\"}"
bad "a bad name" 'name' "{\"name\":\"a/b\",\"hosts\":[\"a.test\"],\"header\":\"x-k\",\"value\":\"$VALUE\"}"
bad "an unknown key" 'unexpected key' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"x-k\",\"value\":\"$VALUE\",\"extra\":1}"
bad "a name twice" 'twice' "{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"x-k\",\"value\":\"$VALUE\"},{\"name\":\"x\",\"hosts\":[\"a.test\"],\"header\":\"x-k\",\"value\":\"$VALUE\"}"
check_out "after the refusals the last good table still applies" "^x-api-key: $VALUE\$" get "$ONE" "$A"

proxy_stop
check_out "the proxy exits cleanly" '^exit 0$' echo "$ANSWER"
check_out "the decision log names the secrets injected" '"secrets":\["api","bearer"\]' cat "$T/decisions.log"
check_out "the websocket exchange is logged with status 101" '"method":"GET".*"status":101' cat "$T/decisions.log"
check_fails "the value is in no decision line" grep -q "$VALUE" "$T/decisions.log"
check_fails "the value is not in the proxy's stderr" grep -q "$VALUE" "$T/proxy.err"
