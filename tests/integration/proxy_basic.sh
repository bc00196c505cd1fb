#!/usr/bin/env bash
# proxy_basic.sh — kennel-proxy driven standalone through its control socket
# (tests/helpers/proxy_ctl): allowed and blocked CONNECT and plain HTTP with
# curl, the 403 body and X-Kennel-Policy header, names resolving into blocked
# ranges, IP-literal spellings, policy changes between connections, 502 and
# 504, removal, control-message errors, and one decision line per request.
. "$(dirname "$0")/../lib.sh"
. "$KENNEL_SRC/tests/helpers/proxy_lib.sh"

upstream_start
tls_upstream_start
proxy_start --connect-timeout-ms 1000

POLICY='{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["blocked.test"]}'
sandbox sb1 "$POLICY"
check_out "sandbox message is acknowledged" '^\{"ok": ?true\}$' echo "$ANSWER"
P=$SB_PORT

# curl through the proxy; prints "CODE" and keeps headers/body in $T/h, $T/b.
pcurl() { curl -sS --max-time 20 -x "http://127.0.0.1:$P" -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" 2>"$T/curl.err"; }
# The same for a CONNECT (-p): prints the CONNECT's status; the verbose trace
# (with the proxy's response headers) is in $T/v.
ccurl() { local port=$1; shift; curl -sS -v --max-time 20 -x "http://127.0.0.1:$port" -p -o /dev/null -w '%{http_connect}' "$@" 2>"$T/v"; }

check_out "plain HTTP to an allowed host" '^200$' pcurl "http://allowed.test:$UP_PORT/hello"
check_out "plain HTTP body arrives" 'hello from upstream' cat "$T/b"
check_out "CONNECT + TLS to an allowed host" '^200$' pcurl --cacert "$T/ca.pem" "https://allowed.test:$TLS_PORT/hello"
check_out "TLS body arrives through the tunnel" 'hello from upstream' cat "$T/b"
check_out "CONNECT tunnel for plain HTTP (-p)" '^200$' pcurl -p "http://allowed.test:$UP_PORT/hello"
# A name not in --hosts goes to getaddrinfo in a resolver thread (under the
# worker's seccomp filter); "localhost" comes from /etc/hosts, so no DNS
# traffic leaves the machine.
if grep -qE '^127\.0\.0\.1[[:space:]].*\blocalhost\b' /etc/hosts; then
	check_out "a name resolved by the resolver threads" '^200$' pcurl "http://localhost:$UP_PORT/hello"
fi

check_out "plain HTTP to a blocked host: 403" '^403$' pcurl "http://blocked.test:$UP_PORT/hello"
check_out "403 carries X-Kennel-Policy" '^X-Kennel-Policy: block-host blocked.test' tr -d '\r' <"$T/h"
check_out "403 body names the rule" 'blocked by policy: block-host blocked.test' cat "$T/b"
check_out "CONNECT to a blocked host: 403" '^403$' ccurl "$P" "http://blocked.test:$UP_PORT/"
check_out "CONNECT 403 names the rule in X-Kennel-Policy" '< X-Kennel-Policy: block-host blocked.test' cat "$T/v"

# Names whose addresses are blocked, even with an allow rule for the name.
sandbox sb2 '{"default":"deny","allow_hosts":["rebind.test","private.test","allowed.test"]}'
P2=$SB_PORT
p2curl() { curl -sS --max-time 20 -x "http://127.0.0.1:$P2" -D "$T/h" -o "$T/b" -w '%{http_code}' "$@" 2>"$T/curl.err"; }
check_out "allowed name resolving to 169.254.169.254 is blocked" '^403$' p2curl "http://rebind.test/"
check_out "... by the link-local range" 'X-Kennel-Policy: block-cidr 169.254.0.0/16 \(default\)' tr -d '\r' <"$T/h"
check_out "allowed name resolving to 10.0.0.1 is blocked (CONNECT)" '^403$' ccurl "$P2" "http://private.test:443/"
check_out "... by the private range" 'X-Kennel-Policy: block-cidr 10.0.0.0/8 \(default\)' cat "$T/v"
check_out "allowed name resolving to loopback is blocked without allow-cidr" '^403$' p2curl "http://allowed.test:$UP_PORT/"
check_out "... by the loopback range" 'block-cidr 127.0.0.0/8 \(default\)' cat "$T/b"
check_out "default deny blocks other names" 'default deny' sh -c "curl -sS --max-time 20 -x http://127.0.0.1:$P2 http://other.test/ 2>&1"

# IP literals in every inet_aton spelling are the same address.
sandbox sb3 '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["127.0.0.1"]}'
P3=$SB_PORT
for spelling in 127.1 2130706433 0x7f.0.0.1 0177.0.0.1 0x7f000001; do
	ccurl "$P3" "http://$spelling:$UP_PORT/" >/dev/null
	check_out "CONNECT to IP literal $spelling is canonicalised and blocked" \
		'< X-Kennel-Policy: block-host 127.0.0.1' cat "$T/v"
	check_out "GET of IP literal $spelling is canonicalised and blocked" 'block-host 127.0.0.1' \
		curl -sS --max-time 20 -x "http://127.0.0.1:$P3" "http://$spelling:$UP_PORT/"
done
# 127.0.0.2 is another address: allowed and dialled (nothing listens there).
check_out "127.0.0.2 is another address: allowed and dialled" 'cannot connect to 127.0.0.2' \
	curl -sS --max-time 20 -x "http://127.0.0.1:$P3" "http://127.0.0.2:$UP_PORT/hello"
ccurl "$P3" "http://[::1]:$UP_PORT/" >/dev/null
check_out "an IPv6 literal in a blocked range is blocked" 'X-Kennel-Policy: block-cidr ::1/128 \(default\)' cat "$T/v"
ccurl "$P3" "http://[::ffff:127.0.0.1]:$UP_PORT/" >/dev/null
check_out "an IPv4-mapped IPv6 literal is checked as IPv4" 'X-Kennel-Policy: block-host 127.0.0.1' cat "$T/v"

# A policy message applies to the next connection.
check_out "before the change: allowed" '^200$' pcurl "http://other.test:$UP_PORT/hello"
ctl policy sb1 '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["other.test"]}'
check_out "policy message is acknowledged" '"ok": ?true' echo "$ANSWER"
check_out "after the change: blocked" '^403$' pcurl "http://other.test:$UP_PORT/hello"
check_out "... by the new rule" 'block-host other.test' cat "$T/b"
check_out "after the change: the old block is gone" '^200$' pcurl "http://blocked.test:$UP_PORT/hello"

# Upstream failures.
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
check_out "connection refused: 502" '^502$' pcurl "http://allowed.test:$closed_port/"
check_out "502 body says why" 'Connection refused' cat "$T/b"
# A listener whose backlog is full drops SYNs: connect never completes.
python3 - "$T/full.port" <<'EOF' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False); c.connect_ex(s.getsockname()); fill.append(c)
time.sleep(0.2)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
time.sleep(120)
EOF
BG_PIDS+=($!)
wait_port_file "$T/full.port"
check_out "connect timeout: 504" '^504$' pcurl "http://allowed.test:$(cat "$T/full.port")/"
check_out "504 body says it timed out" 'timed out after 1000 ms' cat "$T/b"
# A silent first address does not use up the deadline: twice.test is
# 127.0.0.3 (SYNs dropped) then 127.0.0.4 (answers) on the same port; with
# --connect-timeout-ms 1000 the first attempt is given up after 500 ms.
python3 - "$T/twice.port" <<'EOF' &
import http.server, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.3", 0)); s.listen(0)
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False); c.connect_ex(s.getsockname()); fill.append(c)
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "7"); self.end_headers(); self.wfile.write(b"second\n")
srv = http.server.HTTPServer(("127.0.0.4", s.getsockname()[1]), H)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
srv.serve_forever()
EOF
BG_PIDS+=($!)
wait_port_file "$T/twice.port"
check_out "a silent first address is given up for the next one" '^second$' \
	curl -sS --max-time 10 -x "http://127.0.0.1:$P" "http://twice.test:$(cat "$T/twice.port")/"

# Two listeners (kenneld passes 127.0.0.1:3128 and [::1]:3128) and an IPv6 upstream.
ctl sandbox6 sb6 0 '{"default":"allow","allow_cidrs":["::1/128"]}'
P6=${ANSWER#port }
read -t 20 -r ANSWER <&"${CTL[0]}"
check_out "sandbox with two listeners is acknowledged" '"ok": ?true' echo "$ANSWER"
python3 - "$T/v6.port" <<'EOF' &
import http.server, socket, sys
class S(http.server.HTTPServer): address_family = socket.AF_INET6
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"v6\n")
srv = S(("::1", 0), H)
open(sys.argv[1], "w").write("%d\n" % srv.server_address[1])
srv.serve_forever()
EOF
BG_PIDS+=($!)
wait_port_file "$T/v6.port"
V6P=$(cat "$T/v6.port")
check_out "IPv6 listener to an IPv6 literal carved out by allow-cidr ::1/128" '^v6$' \
	curl -sS --max-time 20 -x "http://[::1]:$P6" "http://[::1]:$V6P/"
check_out "a name resolving to ::1 through --hosts" '^v6$' \
	curl -sS --max-time 20 -x "http://127.0.0.1:$P6" "http://v6.test:$V6P/"
check_out "the IPv4 loopback stays blocked for that sandbox" 'block-cidr 127.0.0.0/8' \
	curl -sS --max-time 20 -x "http://[::1]:$P6" "http://allowed.test:$UP_PORT/"

# Control-message errors are answered, in order, and change nothing.
ctl raw 'not json'
check_out "invalid JSON is refused" '"ok": ?false.*invalid JSON' echo "$ANSWER"
ctl raw '{"op":"frobnicate","name":"x"}'
check_out "unknown op is refused" 'unknown op' echo "$ANSWER"
ctl policy sb1 '{"default":"sometimes"}'
check_out "invalid policy is refused" '"ok": ?false.*policy' echo "$ANSWER"
ctl rawfd '{"op":"sandbox","name":"bad","policy":{"default":"allow"}}'
check_out "an fd that is not a listening socket is refused" '"ok": ?false.*(socket|stream)' echo "$ANSWER"
ctl raw '{"op":"sandbox","name":"nofd","policy":{"default":"allow"}}'
check_out "a sandbox message without fds is refused" '"ok": ?false.*1 or 2' echo "$ANSWER"
ctl remove nosuch
check_out "removing an unknown sandbox is refused" '"ok": ?false.*no sandbox' echo "$ANSWER"
check_out "the refused messages changed nothing" '^200$' pcurl "http://allowed.test:$UP_PORT/hello"

# Remove: listener closed, open connections closed.
exec 7<>/dev/tcp/127.0.0.1/$P3
ctl remove sb3
check_out "remove is acknowledged" '"ok": ?true' echo "$ANSWER"
check_out "an open connection of a removed sandbox is closed" '^$' timeout 5 cat <&7
exec 7<&-
check_fails "a removed sandbox's listener no longer answers" curl -sS --max-time 5 -x "http://127.0.0.1:$P3" "http://allowed.test:$UP_PORT/"

# The decision log: one line per decision, with the documented fields.
proxy_stop
check_out "the proxy exits 0 when the control socket closes" '^exit 0$' echo "$ANSWER"
check "every decision line is valid JSON with exactly the documented keys" python3 - "$T/decisions.log" <<'EOF'
import json, sys
keys = ["time","sandbox","method","host","port","addr","rule","decision","status","bytes_up","bytes_down","duration_ms"]
for line in open(sys.argv[1]):
    d = json.loads(line)
    k = [x for x in d if x != "error"]
    assert k == keys, (k, line)
    assert d["decision"] in ("allow", "block", "error"), line
    assert d["time"].endswith("Z") and "T" in d["time"], line
EOF
check "allowed plain HTTP is logged with its address and sizes" python3 - "$T/decisions.log" "$UP_PORT" <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
m = [d for d in L if d["method"] == "GET" and d["host"] == "allowed.test" and d["port"] == int(sys.argv[2]) and d["status"] == 200]
assert m, L
d = m[0]
assert d["sandbox"] == "sb1" and d["addr"] == "127.0.0.1" and d["decision"] == "allow", d
assert d["rule"] == "default allow" and d["bytes_up"] > 0 and d["bytes_down"] > 0, d
EOF
check "a blocked CONNECT is logged with its rule and no address" python3 - "$T/decisions.log" <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
m = [d for d in L if d["method"] == "CONNECT" and d["host"] == "blocked.test" and d["decision"] == "block"]
assert m and all(d["addr"] is None and d["status"] == 403 and d["rule"] == "block-host blocked.test" for d in m), m
m = [d for d in L if d["host"] == "rebind.test"]
assert m and m[0]["rule"] == "block-cidr 169.254.0.0/16 (default)" and m[0]["sandbox"] == "sb2", m
EOF
check "IP literals are logged in canonical form" python3 - "$T/decisions.log" <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1]) if '"sb3"' in l]
assert len(L) >= 10 and all(d["host"] in ("127.0.0.1", "127.0.0.2", "::1") for d in L), L
EOF
check "errors are logged as decision error with their status" python3 - "$T/decisions.log" <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
assert any(d["status"] == 502 and d["decision"] == "error" and d["error"] == "connect failed" for d in L)
assert any(d["status"] == 504 and d["decision"] == "error" and d["error"] == "connect timeout" for d in L)
EOF
# One line per request: count the requests this script made per sandbox.
check_out "one line per request (sb2: 4 requests)" '^4$' sh -c "grep -c '\"sandbox\":\"sb2\"' $T/decisions.log"
check_out "one line per request (sb3: 13 requests)" '^13$' sh -c "grep -c '\"sandbox\":\"sb3\"' $T/decisions.log"
