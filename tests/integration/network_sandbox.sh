# The network path end to end, from inside a real sandbox: kenneld starts
# kennel-proxy, hands it the sandbox's listeners and policy, and every way out
# other than the proxy fails. Upstreams are test servers on 127.0.0.1 reached
# through the resolver override (kenneld --hosts), which is why the policy
# carves 127.0.0.0/8 out of the block list. HTTPS is intercepted: the sandbox
# trusts its own kennel CA (sandbox_ca.sh), and the proxy trusts the test
# server's CA through kenneld --upstream-ca.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/proxy_lib.sh"

upstream_start
tls_upstream_start
start_daemon --hosts "$T/hosts" --upstream-ca "$T/ca.pem" || exit 1
WS=$T/ws
mkdir -p "$WS"
cp "$T/ca.pem" "$WS/ca.pem"
"$KENNEL" create --name net shell "$WS" >/dev/null || { echo "FAIL create net"; exit 1; }
kx() { timeout 30 "$KENNEL" exec "$@"; }

# --- environment ----------------------------------------------------------------------
for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy NO_PROXY no_proxy npm_config_proxy \
	npm_config_https_proxy NODE_USE_ENV_PROXY JAVA_TOOL_OPTIONS GIT_CONFIG_VALUE_0; do
	check_out "env_$v" "^$v=" kx net sh -c "env | grep '^$v='"
done
check_out git_uses_proxy '^http://127.0.0.1:3128$' kx net git config --get http.proxy

# --- the default policy (allow, private ranges blocked) ---------------------------------
check_out default_blocks_loopback_upstream 'X-Kennel-Policy: block-cidr 127.0.0.0/8 \(default\)' \
	kx net curl -s -i -m 10 "http://allowed.test:$UP_PORT/"

check "policy_allow_loopback" "$KENNEL" network proxy net --allow-cidr 127.0.0.0/8 --block-host blocked.test

# --- allowed and blocked, plain HTTP and CONNECT ----------------------------------------
check_out http_allowed '^hello from upstream$' kx net curl -s -m 10 "http://allowed.test:$UP_PORT/"
check_out connect_allowed '^hello from upstream$' \
	kx net curl -s -m 10 "https://allowed.test:$TLS_PORT/"
check_out http_blocked_status '^HTTP/1.1 403' kx net curl -s -i -m 10 "http://blocked.test:$UP_PORT/"
check_out http_blocked_header '^X-Kennel-Policy: block-host blocked.test' \
	kx net curl -s -i -m 10 "http://blocked.test:$UP_PORT/"
check_out connect_blocked 'CONNECT tunnel failed, response 403|HTTP/1.1 403' \
	kx net curl -s -S -v -m 10 --cacert "$WS/ca.pem" "https://blocked.test:$TLS_PORT/"
check_out rebind_name_blocked 'X-Kennel-Policy: block-cidr 169.254.0.0/16 \(default\)' \
	kx net curl -s -i -m 10 "http://rebind.test/"
check_out private_name_blocked 'X-Kennel-Policy: block-cidr 10.0.0.0/8 \(default\)' \
	kx net curl -s -i -m 10 "http://private.test/"
# 2852039166 is 169.254.169.254 (the metadata address) as one decimal number.
check_out ip_literal_spelling_blocked 'X-Kennel-Policy: block-cidr 169.254.0.0/16 \(default\)' \
	kx net curl -s -i -m 10 "http://2852039166/"

# --- every way around the proxy fails ----------------------------------------------------
PY='import socket, errno, sys
def tcp(host, port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(3)
    try:
        s.connect((host, port)); print("connected")
    except OSError as e:
        print(errno.errorcode.get(e.errno, e))
'
check_out direct_tcp_host_loopback '^ECONNREFUSED$' kx net python3 -c "$PY
tcp('127.0.0.1', $UP_PORT)"
check_out direct_tcp_host_v6_loopback '^ECONNREFUSED$' kx net python3 -c "$PY
tcp('::1', $UP_PORT)"
check_out direct_tcp_other_address '^ENETUNREACH$' kx net python3 -c "$PY
tcp('192.0.2.1', 80)"
check_out direct_udp '^ENETUNREACH$' kx net python3 -c '
import socket, errno
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", ("192.0.2.1", 53)); print("sent")
except OSError as e:
    print(errno.errorcode.get(e.errno, e))'
check_out no_dns '^no answer$' kx net sh -c 'getent hosts allowed.test || echo "no answer"'
check_out no_icmp 'EPERM|EACCES' kx net python3 -c '
import socket, errno
for t in (socket.SOCK_RAW, socket.SOCK_DGRAM):
    try:
        socket.socket(socket.AF_INET, t, socket.IPPROTO_ICMP); print("icmp socket")
    except OSError as e:
        print(errno.errorcode.get(e.errno, e))'
check_out only_loopback_interface '^lo$' kx net sh -c 'ls /sys/class/net'

# --- malformed and smuggling-shaped requests get 400, straight from the sandbox -----------
RAW='import socket, sys
req = sys.argv[1].encode().decode("unicode_escape").encode("latin-1")
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(req)
print(s.recv(4096).split(b"\r\n")[0].decode(errors="replace"))'
bad_request() { # name, raw request with \r\n escapes
	check_out "malformed_$1" '^HTTP/1.1 400' kx net python3 -c "$RAW" "$2"
}
U="allowed.test:$UP_PORT"
bad_request cl_cl "POST http://$U/ HTTP/1.1\r\nHost: $U\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
bad_request cl_te "POST http://$U/ HTTP/1.1\r\nHost: $U\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
bad_request obs_fold "GET http://$U/ HTTP/1.1\r\nHost: $U\r\nX-A: 1\r\n  folded\r\n\r\n"
bad_request bare_lf "GET http://$U/ HTTP/1.1\nHost: $U\n\n"
bad_request nul_in_header "GET http://$U/ HTTP/1.1\r\nHost: $U\r\nX-A: a\x00b\r\n\r\n"
bad_request host_mismatch "GET http://$U/ HTTP/1.1\r\nHost: blocked.test\r\n\r\n"
bad_request bad_chunk_size "POST http://$U/echo HTTP/1.1\r\nHost: $U\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"
bad_request huge_header "GET http://$U/ HTTP/1.1\r\nHost: $U\r\nX-Big: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n"

# --- a policy change applies to the next connection --------------------------------------
check policy_block_allowed "$KENNEL" network proxy net --block-host allowed.test
check_out change_applies_at_once 'X-Kennel-Policy: block-host allowed.test' \
	kx net curl -s -i -m 10 "http://allowed.test:$UP_PORT/"
check policy_reset "$KENNEL" network proxy net --reset --policy allow --allow-cidr 127.0.0.0/8 \
	--block-host blocked.test
check_out reset_applies '^hello from upstream$' kx net curl -s -m 10 "http://allowed.test:$UP_PORT/"
check_out policy_file_in_force '"127.0.0.0/8"' cat "$KENNEL_STATE/sandboxes/net/proxy-config.json"

# --- the decision log ----------------------------------------------------------------------
out=$("$KENNEL" network log net --json --limit 1000)
for want in '"decision":"allow".*"host":"allowed.test"|"host":"allowed.test".*"decision":"allow"' \
	'"rule":"block-host blocked.test"' '"rule":"block-cidr 169.254.0.0/16 \(default\)"' \
	'"method":"CONNECT"'; do
	if grep -Eq "$want" <<<"$out"; then pass "log_has_$(tr -c 'a-z0-9' '_' <<<"${want:0:24}")"
	else fail "log_has_$(tr -c 'a-z0-9' '_' <<<"${want:0:24}")" "$out"; fi
done

# --- 10,000 concurrent idle tunnels from inside the sandbox ------------------------------
"$PROXY_FLOOD" serve "$T/echo.port" &
BG_PIDS+=($!)
wait_port_file "$T/echo.port"
cp "$PROXY_FLOOD" "$WS/proxy_flood"
# The echo server speaks no TLS: its tunnels must not be intercepted.
check policy_bypass_raw_tunnels "$KENNEL" network proxy net --bypass-host allowed.test
out=$(timeout 120 "$KENNEL" exec net ./proxy_flood connect 3128 "allowed.test:$(cat "$T/echo.port")" 10000 2>&1)
check_out tunnels_10000_established '^established 10000 in' echo "$out"
check_out tunnels_10000_carry_bytes '^echoed 10000$' echo "$out"
check_out tunnels_10000_closed '^closed$' echo "$out"
check_out proxy_alive_after_flood '^hello from upstream$' kx net curl -s -m 10 "http://allowed.test:$UP_PORT/"

# --- the proxy dies: fail closed, then back with the same listeners ----------------------
proxy_of_daemon() { pgrep -u kennel-proxy -P "$DAEMON_PID" -x kennel-proxy | head -1; }
# new_proxy OLD: the pid of the proxy that replaced OLD within 10 s, or nothing.
new_proxy() {
	local p
	for _ in $(seq 1 100); do
		p=$(proxy_of_daemon)
		[ -n "$p" ] && [ "$p" != "$1" ] && { echo "$p"; return; }
		sleep 0.1
	done
}
proxy_pid=$(proxy_of_daemon)
if [ -n "$proxy_pid" ]; then
	kill -9 "$proxy_pid"
	np=$(new_proxy "$proxy_pid")
	if [ -n "$np" ]; then pass proxy_restarted; else fail proxy_restarted; fi
	check_out works_after_proxy_restart '^hello from upstream$' \
		kx net curl -s -m 10 --retry 5 --retry-all-errors "http://allowed.test:$UP_PORT/"

	# A proxy that stops answering: kenneld answers a create without waiting
	# for the proxy to take the new sandbox (proxy_sup.h), then finds the
	# answer overdue and replaces the proxy, which gets every sandbox again.
	kill -STOP "$np"
	check create_answered_while_proxy_stopped timeout 10 "$KENNEL" create --name net2 shell "$WS"
	if [ -n "$(new_proxy "$np")" ]; then pass stopped_proxy_replaced; else fail stopped_proxy_replaced; fi
	check_fails stopped_proxy_killed kill -0 "$np"
	check_out daemon_says_why 'kennel-proxy did not answer within 2000 ms; restarting it' cat "$T/kenneld.log"
	check policy_net2_loopback "$KENNEL" network proxy net2 --allow-cidr 127.0.0.0/8
	check_out new_sandbox_served_by_replacement '^hello from upstream$' \
		kx net2 curl -s -m 10 --retry 5 --retry-all-errors "http://allowed.test:$UP_PORT/"
	check_out old_sandbox_served_by_replacement '^hello from upstream$' \
		kx net curl -s -m 10 --retry 5 --retry-all-errors "http://allowed.test:$UP_PORT/"
	"$KENNEL" rm -f net2 >/dev/null
else
	fail proxy_running_as_its_user "no kennel-proxy process of user kennel-proxy under kenneld"
fi

# --- the policy survives a daemon restart ------------------------------------------------
stop_daemon
start_daemon --hosts "$T/hosts" --upstream-ca "$T/ca.pem" || exit 1
check_out policy_survives_restart 'blocked.test' "$KENNEL" network proxy net --show
check_out blocked_after_restart 'X-Kennel-Policy: block-host blocked.test' \
	kx net curl -s -i -m 10 --retry 5 --retry-all-errors "http://blocked.test:$UP_PORT/"
