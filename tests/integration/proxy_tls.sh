#!/usr/bin/env bash
# proxy_tls.sh — TLS interception in kennel-proxy, driven standalone: a
# sandbox with a CA gets leaves minted for the CONNECT host, the proxy dials a
# verified TLS connection upstream (--upstream-ca), and requests inside the
# tunnel are forwarded with the same framing as plain HTTP, decided against
# the current policy each time. Refused: a ClientHello naming another host
# (domain fronting), a Host naming another host, absolute-form and CONNECT
# inside the tunnel, an upstream certificate that does not verify (502 with
# the reason, never a fallback). bypass-host and sandboxes without a CA get
# plain tunnels.
. "$(dirname "$0")/../lib.sh"
. "$KENNEL_SRC/tests/helpers/proxy_lib.sh"

make_ca sandbox-ca
make_ca upstream-ca
make_ca stranger-ca
make_leaf upstream-ca good "DNS:allowed.test,DNS:other.test,IP:127.0.0.1"
make_leaf upstream-ca wrong-name "DNS:elsewhere.test"
make_leaf stranger-ca unknown-ca "DNS:allowed.test"
tls_server_start good; GOOD=$TLS_PORT
tls_server_start wrong-name; WRONG=$TLS_PORT
tls_server_start unknown-ca; UNKNOWN=$TLS_PORT
upstream_start

proxy_start --upstream-ca "$T/upstream-ca.crt"
sandbox_ca mitm sandbox-ca '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"bypass_hosts":["other.test"]}'
check_out "a sandbox message with a CA is acknowledged" '^\{"ok": ?true\}$' echo "$ANSWER"
P=$SB_PORT
sandbox plain '{"default":"allow","allow_cidrs":["127.0.0.0/8"]}'
PLAIN=$SB_PORT
pc() { curl -sS --max-time 30 -x "http://127.0.0.1:$P" --cacert "$T/sandbox-ca.crt" "$@"; }
A="https://allowed.test:$GOOD"

# --- the leaf and the exchange ------------------------------------------------
pc -v -o "$T/out" "$A/hello" 2>"$T/v"
check_out "intercepted GET is answered by the upstream" '^hello from upstream$' cat "$T/out"
check_out "the client sees a leaf issued by the sandbox CA" 'issuer: CN=kennel test sandbox-ca' cat "$T/v"
check_out "the leaf names the CONNECT host" 'subjectAltName: host "allowed.test" matched' cat "$T/v"
check_out "ALPN http/1.1 is selected" 'ALPN: server accepted http/1.1' cat "$T/v"
check_out "the leaf verifies with the sandbox CA alone" 'Verify return code: 0' \
	sh -c "openssl s_client -proxy 127.0.0.1:$P -connect allowed.test:$GOOD -servername allowed.test \
	       -CAfile $T/sandbox-ca.crt -verify_return_error </dev/null 2>&1"
openssl s_client -proxy "127.0.0.1:$P" -connect "allowed.test:$GOOD" -servername allowed.test \
	-CAfile "$T/sandbox-ca.crt" </dev/null 2>/dev/null | openssl x509 -noout -text >"$T/leaf.txt" 2>&1
check_out "leaf: EC P-256 key" 'prime256v1|P-256' cat "$T/leaf.txt"
check_out "leaf: not a CA" 'CA:FALSE' cat "$T/leaf.txt"
check_out "leaf: for TLS servers" 'TLS Web Server Authentication' cat "$T/leaf.txt"
check_out "an IP-literal CONNECT gets a leaf with that IP" 'subjectAltName: host "127.0.0.1" matched' \
	sh -c "curl -sS -v --max-time 30 -x http://127.0.0.1:$P --cacert $T/sandbox-ca.crt -o /dev/null https://127.0.0.1:$GOOD/hello 2>&1"
check_out "an h2-only client gets no ALPN and speaks HTTP/1.1" '^hello from upstream$' pc --http2 "$A/hello"

check_out "a chunked response is relayed" '^hello chunked world$' pc "$A/chunked"
check_out "a close-delimited response is relayed" '^until close$' pc "$A/close"
check_out "HEAD gets no body" '^Content-Length: 20' sh -c "curl -sS --max-time 30 -x http://127.0.0.1:$P --cacert $T/sandbox-ca.crt -I $A/hello | tr -d '\r'"
head -c 4000000 /dev/urandom >"$T/big"
want=$(sha256sum <"$T/big" | cut -d' ' -f1)
check_out "4 MB each way, Content-Length" "^$want" \
	sh -c "curl -sS --max-time 60 -x http://127.0.0.1:$P --cacert $T/sandbox-ca.crt --data-binary @$T/big $A/echo | sha256sum"
check_out "4 MB each way, chunked upload" "^$want" \
	sh -c "curl -sS --max-time 60 -x http://127.0.0.1:$P --cacert $T/sandbox-ca.crt -H 'Transfer-Encoding: chunked' --data-binary @$T/big $A/echo | sha256sum"
pc -v -o /dev/null -o /dev/null -o /dev/null "$A/hello" "$A/chunked" "$A/hello" 2>"$T/v"
check_out "keep-alive: three requests over one tunnel" '^2$' grep -c 'Re-using existing connection' "$T/v"
pc -o "$T/hdrs" -H 'Proxy-Authorization: Basic Zm9vOmJhcg==' -H 'Connection: keep-alive, X-Hop' \
	-H 'X-Hop: 1' -H 'X-End-To-End: kept' "$A/headers"
check_out "end-to-end headers reach the upstream" '^x-end-to-end$' cat "$T/hdrs"
for h in proxy-authorization x-hop; do
	check_fails "hop-by-hop header $h is removed inside the tunnel" grep -qx "$h" "$T/hdrs"
done

# --- refusals inside and around the tunnel ---------------------------------------
out=$(curl -sS --max-time 30 -x "http://127.0.0.1:$P" --cacert "$T/sandbox-ca.crt" \
	--connect-to "other.test:$GOOD:allowed.test:$GOOD" "https://other.test:$GOOD/hello" 2>&1)
check_out "a ClientHello naming another host is refused (domain fronting)" 'unrecognized name' echo "$out"
check_out "a Host naming another host gets 421" '^421$' \
	pc -o /dev/null -w '%{http_code}' -H "Host: other.test:$GOOD" "$A/hello"
check_out "a Host with another port gets 421" '^421$' \
	pc -o /dev/null -w '%{http_code}' -H "Host: allowed.test:1" "$A/hello"
cat >"$T/inner.py" <<'PY'
import ssl, sys
from tunnel import tls_tunnel
port, host, up, cafile, payload = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
t = tls_tunnel(port, host, up, cafile)
t.sendall(payload.encode().decode("unicode_escape").encode())
data = b""
try:
    while True:
        b = t.recv(65536)
        if not b: break
        data += b
except (ssl.SSLError, OSError):
    pass
print(data.split(b"\r\n")[0].decode())
PY
inner() { python3 "$T/inner.py" "$P" allowed.test "$GOOD" "$T/sandbox-ca.crt" "$1"; }
check_out "absolute-form inside the tunnel is refused" '^HTTP/1.1 400' \
	inner "GET https://allowed.test:$GOOD/hello HTTP/1.1\r\nHost: allowed.test:$GOOD\r\n\r\n"
check_out "CONNECT inside the tunnel is refused" '^HTTP/1.1 400' \
	inner "CONNECT allowed.test:$GOOD HTTP/1.1\r\nHost: allowed.test:$GOOD\r\n\r\n"
check_out "a malformed head inside the tunnel gets 400" '^HTTP/1.1 400' \
	inner "GET /hello HTTP/1.1\r\nHost: allowed.test:$GOOD\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
check_out "HTTP/1.0 without Host inside the tunnel is served" '^HTTP/1.1 200' \
	inner "GET /hello HTTP/1.0\r\n\r\n"
printf 'CONNECT allowed.test:%s HTTP/1.1\r\nHost: allowed.test:%s\r\n\r\n\x16\x03\x01early' "$GOOD" "$GOOD" |
	raw_all "$P" >/dev/null # refused: see the decision log below

# --- the upstream must verify -------------------------------------------------
# connect_reply HOSTPORT: the proxy's whole answer to a CONNECT.
connect_reply() {
	printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$1" "$1" | python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).decode(errors="replace"))' "$P"
}
out=$(connect_reply "allowed.test:$WRONG")
check_out "an upstream certificate for another name: 502" '^HTTP/1.1 502' echo "$out"
check_out "... naming the verification error" 'hostname mismatch' echo "$out"
out=$(connect_reply "allowed.test:$UNKNOWN")
check_out "an upstream certificate from an unknown CA: 502" '^HTTP/1.1 502' echo "$out"
check_out "... naming the verification error" 'unable to get local issuer certificate' echo "$out"
out=$(connect_reply "allowed.test:$UP_PORT")
check_out "an upstream that does not speak TLS: 502, no plain-text fallback" '^HTTP/1.1 502' echo "$out"

# --- plain tunnels --------------------------------------------------------------
check_out "bypass-host: a plain tunnel, the upstream's own certificate" 'issuer: CN=kennel test upstream-ca' \
	sh -c "curl -sS -v --max-time 30 -x http://127.0.0.1:$P --cacert $T/upstream-ca.crt -o /dev/null https://other.test:$GOOD/hello 2>&1"
check_out "a sandbox without a CA: a plain tunnel" 'issuer: CN=kennel test upstream-ca' \
	sh -c "curl -sS -v --max-time 30 -x http://127.0.0.1:$PLAIN --cacert $T/upstream-ca.crt -o /dev/null $A/hello 2>&1"

# --- the policy in force decides every request in a kept tunnel --------------------
cat >"$T/keep.py" <<'PY'
import http.client, ssl, sys, time
port, up, cafile, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
c.set_tunnel("allowed.test", up)
c.request("GET", "/hello"); r = c.getresponse(); r.read(); print("first", r.status)
open(flag, "w").close()
for _ in range(100):
    time.sleep(0.05)
    try:
        open(flag + ".done").close(); break
    except OSError:
        pass
c.request("GET", "/hello"); r = c.getresponse(); print("second", r.status, r.getheader("X-Kennel-Policy"))
PY
rm -f "$T/flag" "$T/flag.done"
python3 "$T/keep.py" "$P" "$GOOD" "$T/sandbox-ca.crt" "$T/flag" >"$T/keep.out" 2>&1 &
KEEP=$!
for _ in $(seq 1 100); do [ -e "$T/flag" ] && break; sleep 0.05; done
ctl policy mitm '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["allowed.test"]}'
touch "$T/flag.done"
wait "$KEEP"
check_out "first request in the tunnel allowed" '^first 200$' cat "$T/keep.out"
check_out "after a policy change the next request in the same tunnel is blocked" \
	'^second 403 block-host allowed.test$' cat "$T/keep.out"

# --- an upstream that closes a kept connection closes the tunnel ---------------------
ctl policy mitm '{"default":"allow","allow_cidrs":["127.0.0.0/8"]}'
cat >"$T/idle.py" <<'PY'
import socket, ssl, sys, threading, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
open(sys.argv[1], "w").write("%d\n" % srv.getsockname()[1])
def serve(conn):
    try:
        t = ctx.wrap_socket(conn, server_side=True)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += t.recv(4096)
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        time.sleep(0.5)   # then close the kept-alive connection, as servers do
        t.close()
    except OSError:
        pass
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$T/idle.py" "$T/idle.port" "$T/good.crt" "$T/good.key" 2>>"$T/upstream.err" &
BG_PIDS+=($!)
wait_port_file "$T/idle.port"
cat >"$T/idle_client.py" <<'PY'
import ssl, sys, time
from tunnel import tls_tunnel
port, up, cafile = sys.argv[1], sys.argv[2], sys.argv[3]
t = tls_tunnel(port, "allowed.test", up, cafile)
t.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test:%s\r\n\r\n" % up.encode())
resp = b""
while not resp.endswith(b"ok\n"):
    resp += t.recv(4096)
print(resp.split(b"\r\n")[0].decode())
t.settimeout(5)
start = time.time()
try:
    rest = t.recv(4096)
except (ssl.SSLError, OSError) as e:
    rest = b""
print("closed" if rest == b"" else "data %r" % rest, "within 2 s" if time.time() - start < 2 else "late")
PY
check_out "an upstream closing a kept connection closes the idle tunnel" $'^HTTP/1.1 200 OK\nclosed within 2 s$' \
	python3 "$T/idle_client.py" "$P" "$(cat "$T/idle.port")" "$T/sandbox-ca.crt"

# --- bad CAs never reach the workers ---------------------------------------------
ctl policy mitm '{"default":"allow","allow_cidrs":["127.0.0.0/8"]}'
printf 'not a certificate\n' >"$T/junk.crt"
echo "sandboxca junk 0 $T/junk.crt $T/sandbox-ca.key {\"default\":\"allow\"}" >&"${CTL[1]}"
read -t 20 -r _ <&"${CTL[0]}"; read -t 20 -r ANSWER <&"${CTL[0]}"
check_out "a CA that is not PEM is refused" '"ok": ?false.*ca' echo "$ANSWER"
echo "sandboxca mixed 0 $T/sandbox-ca.crt $T/upstream-ca.key {\"default\":\"allow\"}" >&"${CTL[1]}"
read -t 20 -r _ <&"${CTL[0]}"; read -t 20 -r ANSWER <&"${CTL[0]}"
check_out "a key that does not match the CA is refused" '"ok": ?false.*does not match' echo "$ANSWER"
echo "sandboxca leafca 0 $T/good.crt $T/good.key {\"default\":\"allow\"}" >&"${CTL[1]}"
read -t 20 -r _ <&"${CTL[0]}"; read -t 20 -r ANSWER <&"${CTL[0]}"
check_out "a certificate that is not a CA is refused" '"ok": ?false.*not a CA' echo "$ANSWER"
check_out "the proxy still serves after the refusals" '^hello from upstream$' pc "$A/hello"

proxy_stop
check_out "the proxy exits cleanly" '^exit 0$' echo "$ANSWER"
check "the decision log marks intercepted CONNECTs and requests" python3 - "$T/decisions.log" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
conn = [l for l in lines if l["method"] == "CONNECT" and l.get("tls") == "intercepted" and l["status"] == 200]
gets = [l for l in lines if l["method"] == "GET" and l.get("tls") == "intercepted" and l["status"] == 200]
fronting = [l for l in lines if l.get("error") == "TLS server name differs from the CONNECT host"]
verify = [l for l in lines if l.get("error") == "upstream certificate not verified" and l["status"] == 502]
early = [l for l in lines if l.get("error") == "client sent bytes before the tunnel was established"]
bypass = [l for l in lines if l["method"] == "CONNECT" and l["host"] == "other.test" and "tls" not in l and l["status"] == 200]
assert conn and gets and fronting and len(verify) >= 2 and bypass and early, \
    (len(conn), len(gets), len(fronting), len(verify), len(bypass), len(early))
assert all(l["bytes_up"] > 0 for l in gets)
PY
check_fails "no private key material in the proxy's stderr" grep -q 'PRIVATE KEY' "$T/proxy.err"
