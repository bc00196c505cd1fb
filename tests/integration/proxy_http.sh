#!/usr/bin/env bash
# proxy_http.sh — plain-HTTP forwarding through kennel-proxy: hop-by-hop
# headers removed, request bodies (Content-Length, chunked, 100-continue)
# and responses (Content-Length, chunked, until close, HEAD) relayed intact,
# keep-alive and pipelining on the client side with the policy applied to
# every request, and the byte counts in the decision log.
. "$(dirname "$0")/../lib.sh"
. "$KENNEL_SRC/tests/helpers/proxy_lib.sh"

upstream_start
proxy_start
sandbox web '{"default":"allow","allow_cidrs":["127.0.0.0/8"],"block_hosts":["blocked.test"]}'
P=$SB_PORT
U="http://allowed.test:$UP_PORT"
pc() { curl -sS --max-time 30 -x "http://127.0.0.1:$P" "$@"; }

pc -o "$T/hdrs" \
	-H 'Connection: keep-alive, X-Hop-Named' -H 'X-Hop-Named: secret' -H 'Keep-Alive: timeout=5' \
	-H 'TE: trailers' -H 'Trailer: X-T' -H 'Upgrade: websocket' -H 'Proxy-Authorization: Basic Zm9vOmJhcg==' \
	-H 'Proxy-Anything: 1' -H 'X-End-To-End: kept' "$U/headers"
check_out "end-to-end headers reach the upstream" '^x-end-to-end$' cat "$T/hdrs"
check_out "Host reaches the upstream" '^host$' cat "$T/hdrs"
for h in x-hop-named keep-alive te trailer upgrade proxy-authorization proxy-anything proxy-connection; do
	check_fails "hop-by-hop header $h is removed" grep -qx "$h" "$T/hdrs"
done
check_out "the upstream gets exactly one Connection header (ours)" '^1$' grep -cx connection "$T/hdrs"

head -c 300000 /dev/urandom >"$T/body"
want=$(sha256sum <"$T/body" | cut -d' ' -f1)
check_out "POST body with Content-Length arrives intact" "^$want" \
	sh -c "curl -sS --max-time 30 -x http://127.0.0.1:$P --data-binary @$T/body -H 'Expect:' $U/echo | sha256sum"
check_out "chunked request body arrives intact" "^$want" \
	sh -c "curl -sS --max-time 30 -x http://127.0.0.1:$P --data-binary @$T/body -H 'Transfer-Encoding: chunked' $U/echo | sha256sum"
check_out "Expect: 100-continue is relayed" "^$want" \
	sh -c "curl -sS --max-time 30 -x http://127.0.0.1:$P --data-binary @$T/body -H 'Expect: 100-continue' $U/echo | sha256sum"
check_out "a chunked response is relayed" '^hello chunked world$' pc "$U/chunked"
check_out "a response delimited by close is relayed" '^until close$' pc "$U/close"
check_out "HEAD gets the head without a body" '^Content-Length: 20' sh -c "curl -sS --max-time 30 -x http://127.0.0.1:$P -I $U/hello | tr -d '\r'"
check_out "an HTTP/1.0 client is served" '^hello from upstream$' pc -0 "$U/hello"

pc -v -o /dev/null -o /dev/null "$U/hello" "$U/chunked" 2>"$T/v"
check_out "keep-alive: the client connection is reused" 'Re-using existing connection' cat "$T/v"
check_out "keep-alive: both requests answered 200" '^2$' grep -c '< HTTP/1.1 200' "$T/v"

# Pipelined requests on one connection: each one gets its own decision, so a
# blocked request cannot hide behind an allowed one.
printf 'GET %s/hello HTTP/1.1\r\nHost: allowed.test:%s\r\n\r\nGET http://blocked.test:%s/hello HTTP/1.1\r\nHost: blocked.test:%s\r\n\r\n' \
	"$U" "$UP_PORT" "$UP_PORT" "$UP_PORT" >"$T/pipelined"
check_out "pipelined: allowed then blocked" $'^HTTP/1.1 200 OK\nHTTP/1.1 403 Forbidden$' raw_all "$P" <"$T/pipelined"
printf 'POST %s/echo HTTP/1.1\r\nHost: allowed.test:%s\r\nContent-Length: 5\r\n\r\nhelloGET http://blocked.test:%s/ HTTP/1.1\r\nHost: blocked.test:%s\r\n\r\n' \
	"$U" "$UP_PORT" "$UP_PORT" "$UP_PORT" >"$T/pipelined2"
check_out "a request after a body is a new request, not body" $'^HTTP/1.1 200 OK\nHTTP/1.1 403 Forbidden$' raw_all "$P" <"$T/pipelined2"

head -c 4000000 /dev/urandom >"$T/big"
want=$(sha256sum <"$T/big" | cut -d' ' -f1)
check_out "4 MB each way through one exchange" "^$want" \
	sh -c "curl -sS --max-time 60 -x http://127.0.0.1:$P --data-binary @$T/big $U/echo | sha256sum"

proxy_stop
check "byte counts are logged for forwarded requests" python3 - "$T/decisions.log" <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
big = [d for d in L if d["method"] == "POST" and d["bytes_up"] > 4000000]
assert big and big[0]["bytes_down"] > 4000000 and big[0]["status"] == 200, L
heads = [d for d in L if d["method"] == "HEAD"]
assert heads and heads[0]["status"] == 200, heads
blocked = [d for d in L if d["host"] == "blocked.test"]
assert len(blocked) == 2 and all(d["status"] == 403 for d in blocked), blocked
EOF
