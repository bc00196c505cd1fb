#!/usr/bin/env bash
# proxy_malformed.sh — malformed and smuggling-shaped requests get 400 with a
# reason (and a decision line and a log line), never a crash; slowloris
# clients are dropped after the header timeout; random garbage does not take
# the proxy down.
. "$(dirname "$0")/../lib.sh"
. "$KENNEL_SRC/tests/helpers/proxy_lib.sh"

upstream_start
proxy_start --header-timeout-ms 1000
sandbox bad '{"default":"allow","allow_cidrs":["127.0.0.0/8"]}'
P=$SB_PORT
A="allowed.test:$UP_PORT"

# expect_400 NAME REQUEST — REQUEST is printf-formatted (\r\n, \x00 work).
expect_400() {
	local name=$1
	printf "$2" >"$T/req"
	check_out "$name: 400" '^HTTP/1.1 400 ' raw "$P" <"$T/req"
}

expect_400 "two Content-Length headers" "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
expect_400 "identical Content-Length headers" "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
expect_400 "Content-Length with Transfer-Encoding" "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
expect_400 "Transfer-Encoding other than chunked" "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
expect_400 "Content-Length not a plain number" "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nContent-Length: +5\r\n\r\nhello"
expect_400 "obs-fold" "GET http://$A/ HTTP/1.1\r\nHost: $A\r\nX-A: b\r\n  folded\r\n\r\n"
expect_400 "bare LF line endings" "GET http://$A/ HTTP/1.1\nHost: $A\n\n"
expect_400 "bare CR" "GET http://$A/ HTTP/1.1\r\nHost: $A\r\nX-A: a\rb\r\n\r\n"
expect_400 "NUL in a header" "GET http://$A/ HTTP/1.1\r\nHost: $A\r\nX-A: a\x00b\r\n\r\n"
expect_400 "absolute-form host differs from Host" "GET http://$A/ HTTP/1.1\r\nHost: other.test:$UP_PORT\r\n\r\n"
expect_400 "absolute-form port differs from Host" "GET http://$A/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n"
expect_400 "two Host headers" "GET http://$A/ HTTP/1.1\r\nHost: $A\r\nHost: $A\r\n\r\n"
expect_400 "HTTP/1.1 without Host" "GET http://$A/ HTTP/1.1\r\n\r\n"
expect_400 "space before colon" "GET http://$A/ HTTP/1.1\r\nHost : $A\r\n\r\n"
expect_400 "Connection naming Content-Length" "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello"
expect_400 "origin-form (not a proxy request)" "GET /hello HTTP/1.1\r\nHost: $A\r\n\r\n"
expect_400 "https:// in absolute-form" "GET https://$A/ HTTP/1.1\r\nHost: $A\r\n\r\n"
expect_400 "userinfo in the target" "GET http://user@$A/ HTTP/1.1\r\nHost: $A\r\n\r\n"
expect_400 "CONNECT without a port" "CONNECT allowed.test HTTP/1.1\r\nHost: allowed.test\r\n\r\n"
expect_400 "CONNECT with a body" "CONNECT $A HTTP/1.1\r\nHost: $A\r\nContent-Length: 3\r\n\r\nabc"
expect_400 "HTTP/2 request line" "GET http://$A/ HTTP/2.0\r\nHost: $A\r\n\r\n"
expect_400 "invalid chunk size in the body" "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
python3 -c 'import sys; sys.stdout.write("GET http://'"$A"'/ HTTP/1.1\r\nHost: '"$A"'\r\nX-Big: " + "a" * 70000 + "\r\n\r\n")' >"$T/big"
check_out "oversized header line: 400" '^HTTP/1.1 400 ' raw "$P" <"$T/big"
python3 -c 'import sys; sys.stdout.write("GET http://'"$A"'/ HTTP/1.1\r\nHost: '"$A"'\r\n" + "".join("X-H%d: %s\r\n" % (i, "b" * 1000) for i in range(80)) + "\r\n")' >"$T/big"
check_out "oversized head (many headers): 400" '^HTTP/1.1 400 ' raw "$P" <"$T/big"
check_out "the 400 body says why" 'kennel-proxy: both Transfer-Encoding and Content-Length' \
	sh -c "printf 'POST http://$A/ HTTP/1.1\r\nHost: $A\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n' | curl -sS --max-time 5 telnet://127.0.0.1:$P 2>/dev/null | tail -1"

# Smuggling shapes where the framing is valid: the hidden request is read as
# a request of its own and decided on its own.
printf "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nContent-Length: 0\r\n\r\nGET http://blocked.test:$UP_PORT/ HTTP/1.1\r\nHost: blocked.test:$UP_PORT\r\n\r\n" >"$T/req"
ctl policy bad '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["blocked.test"]}'
check_out "a request hidden after Content-Length: 0 is decided on its own" $'^HTTP/1.1 200 OK\nHTTP/1.1 403 Forbidden$' raw_all "$P" <"$T/req"
printf "POST http://$A/echo HTTP/1.1\r\nHost: $A\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET http://blocked.test:$UP_PORT/ HTTP/1.1\r\nHost: blocked.test:$UP_PORT\r\n\r\n" >"$T/req"
check_out "a request hidden after a chunked body is decided on its own" $'^HTTP/1.1 200 OK\nHTTP/1.1 403 Forbidden$' raw_all "$P" <"$T/req"

# Slowloris: one byte every 200 ms never completes a head; the proxy hangs up
# after --header-timeout-ms (1000 ms here).
check "a slow head is dropped after the header timeout" python3 - "$P" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
start = time.monotonic()
s.sendall(b"GET http://allowed.test/ HTTP/1.1\r\n")
s.settimeout(0.2)
closed = None
for i in range(50):
    try:
        s.sendall(b"X")
        if s.recv(1) == b"":
            closed = time.monotonic() - start
            break
    except socket.timeout:
        pass
    except (BrokenPipeError, ConnectionResetError):
        closed = time.monotonic() - start
        break
assert closed is not None, "still open after 10 s"
assert 0.9 <= closed <= 3.0, closed
print("closed after %.2f s" % closed)
EOF
check "a silent connection is dropped after the header timeout" python3 - "$P" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
start = time.monotonic()
assert s.recv(1) == b""
assert 0.9 <= time.monotonic() - start <= 3.0
EOF

# Garbage: no crash, and the proxy still serves afterwards.
check "random bytes are refused without a crash" python3 - "$P" <<'EOF'
import os, random, socket, sys
random.seed(7)
for i in range(200):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.settimeout(3)
    junk = os.urandom(random.randint(1, 3000))
    if i % 2:
        junk = b"GET http://allowed.test/ HTTP/1.1\r\n" + junk + b"\r\n\r\n"
    try:
        s.sendall(junk)
        s.recv(100)
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    s.close()
EOF
check_out "the proxy still serves after all that" '^hello from upstream$' \
	curl -sS --max-time 10 -x "http://127.0.0.1:$P" "http://$A/hello"
check_out "no worker died" '^2$' sh -c "pgrep -P $PROXY_PID | wc -l"

proxy_stop
check "every 400 is in the decision log as an error with its reason" python3 - "$T/decisions.log" <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
bad = [d for d in L if d["status"] == 400]
assert len(bad) >= 25, len(bad)

assert all(d["decision"] == "error" and d["error"] for d in bad), [d for d in bad if d["decision"] != "error" or not d["error"]][:3]
# Refused before any decision: no rule; refused body after the decision: its rule.
assert all(d["rule"] is None for d in bad if d["host"] is None)
assert any(d["rule"] == "default allow" and d["error"] == "malformed chunk size line" for d in bad)
reasons = {d["error"] for d in bad}
for want in ("duplicate Content-Length", "both Transfer-Encoding and Content-Length",
             "Host header does not match the request-target"):
    assert want in reasons, reasons
EOF
check_out "each 400 is also on stderr with its reason" 'sandbox bad: 400 duplicate Content-Length' cat "$T/proxy.err"
check_fails "no worker crashed or was replaced" grep -E 'replacing worker|died of signal' "$T/proxy.err"
