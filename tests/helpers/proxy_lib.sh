# tests/helpers/proxy_lib.sh — shared pieces of the tests/integration/proxy_*.sh
# scripts, which drive kennel-proxy standalone (no kenneld): source it after
# tests/lib.sh. Everything it starts listens on 127.0.0.1 / ::1 only and is
# stopped on exit.
#
#   proxy_start [ARGS...]     start kennel-proxy under tests/helpers/proxy_ctl
#                             (the kenneld side of the control protocol) with
#                             --log $PROXY_LOG --hosts $T/hosts ARGS..., run
#                             through the command prefix PROXY_WRAP (an array);
#                             sets PROXY_PID
#   ctl LINE                  send one proxy_ctl command, set $ANSWER to the
#                             answer line
#   sandbox NAME POLICY       add a sandbox listening on 127.0.0.1:any; sets
#                             $SB_PORT (and $ANSWER)
#   proxy_stop                close the control socket; sets $ANSWER to
#                             "exit STATUS"
#   upstream_start            the HTTP test server (upstream.py): sets $UP_PORT
#   tls_upstream_start        the same over TLS with a certificate for
#                             allowed.test ($T/ca.pem): sets $TLS_PORT
#   make_ca NAME, make_leaf CA NAME SAN, tls_server_start NAME
#                             test CAs, certificates and TLS servers (below)
#   sandbox_ca NAME CA POLICY a sandbox whose CONNECTs are intercepted with
#                             the CA $T/CA.crt
#   raw PORT                  send stdin to 127.0.0.1:PORT as it is, print the
#                             answer's status line (or "closed")
#   raw_all PORT              the same, every status line until the close
#   steps PORT STEP...        one client connection to 127.0.0.1:PORT, the
#                             steps in order (steps.py below)
#   log_lines                 the decision log's lines
#   worker_pids               the proxy's worker processes
# $T/hosts maps allowed.test, blocked.test and other.test to 127.0.0.1,
# v6.test to ::1, twice.test to 127.0.0.3 then 127.0.0.4, rebind.test to
# 169.254.169.254 and private.test to 10.0.0.1 (the last two are never
# dialled: the policy blocks them first).

PROXY_BIN=$KENNEL_BUILD/kennel-proxy
PROXY_CTL=$KENNEL_BUILD/tests/helpers/proxy_ctl
PROXY_FLOOD=$KENNEL_BUILD/tests/helpers/proxy_flood
PROXY_PID=
BG_PIDS=()

cat >"$T/hosts" <<'EOF'
# test names; the policy still checks every address
127.0.0.1   allowed.test blocked.test other.test
::1         v6.test
127.0.0.3   twice.test
127.0.0.4   twice.test
169.254.169.254 rebind.test
10.0.0.1    private.test
EOF

proxy_cleanup() {
	if [ -n "${CTL_RUNNING:-}" ]; then
		echo quit >&"${CTL[1]}" 2>/dev/null
		wait "$CTL_RUNNING" 2>/dev/null
	fi
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	cleanup
}
trap proxy_cleanup EXIT

PROXY_WRAP=()   # a command prefix for the proxy (prlimit, setpriv)
# LeakSanitizer stops the world with ptrace(2), which the proxy's own seccomp
# filter refuses: under make check-asan it would turn every clean exit into
# exit 1. Leaks are looked for by the unit tests instead.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
PROXY_LOG=$T/decisions.log
proxy_start() {
	coproc CTL { "$PROXY_CTL" ${PROXY_WRAP[@]+"${PROXY_WRAP[@]}"} "$PROXY_BIN" --log "$PROXY_LOG" --hosts "$T/hosts" "$@" 2>>"$T/proxy.err"; }
	# bash unsets CTL_PID when the coprocess ends; keep our own copy.
	CTL_RUNNING=$CTL_PID
	local line
	if ! read -t 10 -r line <&"${CTL[0]}" || [ "$line" != '{"op":"ready"}' ]; then
		echo "FAIL proxy_start: got '${line:-nothing}'"
		sed 's/^/    /' "$T/proxy.err"
		exit 1
	fi
	ctl pid
	PROXY_PID=$ANSWER
}

ctl() {
	ANSWER=
	echo "$*" >&"${CTL[1]}"
	read -t 20 -r ANSWER <&"${CTL[0]}"
}

sandbox() {
	local name=$1 policy=$2 line
	echo "sandbox $name 0 $policy" >&"${CTL[1]}"
	read -t 20 -r line <&"${CTL[0]}"
	SB_PORT=${line#port }
	read -t 20 -r ANSWER <&"${CTL[0]}"
}

proxy_stop() {
	ctl quit
	wait "$CTL_RUNNING" 2>/dev/null
	CTL_RUNNING=
}

worker_pids() { pgrep -P "$PROXY_PID"; }

log_lines() { cat "$T/decisions.log" 2>/dev/null; }

# Wait (up to 5 s) until the decision log has at least N lines.
wait_log_lines() {
	local n=$1
	for _ in $(seq 1 100); do
		[ "$(log_lines | wc -l)" -ge "$n" ] && return 0
		sleep 0.05
	done
	return 1
}

# A small HTTP/1.1 server: /hello, /headers (request header names, one per
# line), /values ("name: value" of every request header), /ws (a websocket
# upgrade: 101, then "x-api-key: VALUE\n" and an echo of every byte; /ws-quiet
# the same without the first line: the client speaks first),
# /redirect?to=URL (302 to URL), /echo (the request body back), /chunked, /close (close-delimited),
# /slow (answers after 3 s); HEAD and 100-continue work as http.server does.
# For connection reuse, each answering "PORT N\n": the client port of the
# connection it came on and its number on that connection (from 1):
# /peer; /say-close (Content-Length and "Connection: close", but the
# connection stays open); /unframed (no Content-Length, no Connection header:
# delimited by the close that follows); /idle-close (closes the connection
# 0.2 s after the answer); /drop-next (the next request on the connection is
# read and the connection closed without an answer); /peer-held?n=N (/peer
# once N such requests have come, over the server's life, and wait together:
# N client connections then surely hold N upstream connections; 20 s at
# most). /stats: "live PORT..." (the client ports of the connections open
# now); /close-others: every other connection is shut down (pool_flush).
cat >"$T/upstream.py" <<'EOF'
import http.server, socket, socketserver, ssl, sys, threading, time

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    live = set()
    socks = {}
    lock = threading.Lock()
    held = threading.Condition()
    nheld = 0
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        self.nreq, self.drop_next = 0, False
        with H.lock:
            H.live.add(self.client_address[1])
            H.socks[self.client_address[1]] = self.connection
    def finish(self):
        with H.lock:
            H.live.discard(self.client_address[1])
            H.socks.pop(self.client_address[1], None)
        super().finish()
    def peer(self):
        return ("%d %d\n" % (self.client_address[1], self.nreq)).encode()
    def send_body(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""): pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))
    def handle_one(self):
        p = self.path
        self.nreq += 1
        if self.drop_next:
            self.close_connection = True
            return
        if p.startswith("/peer-held"):
            want = int(p.partition("n=")[2] or "1")
            with H.held:
                H.nheld += 1
                H.held.notify_all()
                H.held.wait_for(lambda: H.nheld >= want, timeout=20)
            self.send_body(self.peer())
        elif p.startswith("/peer"):
            self.send_body(self.peer())
        elif p.startswith("/close-others"):
            with H.lock:
                others = [c for port, c in H.socks.items() if port != self.client_address[1]]
            for c in others:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.send_body(("closed %d\n" % len(others)).encode())
        elif p.startswith("/stats"):
            with H.lock:
                self.send_body(("live %s\n" % " ".join(str(x) for x in sorted(H.live))).encode())
        elif p.startswith("/say-close"):
            body = self.peer()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = False
        elif p.startswith("/unframed"):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.peer())
            self.close_connection = True
        elif p.startswith("/idle-close"):
            self.send_body(self.peer())
            self.wfile.flush()
            time.sleep(0.2)
            self.close_connection = True
        elif p.startswith("/drop-next"):
            self.send_body(self.peer())
            self.drop_next = True
        elif p.startswith("/ws"):
            if self.headers.get("Upgrade", "").lower() != "websocket":
                self.send_body(b"not an upgrade\n"); return
            import base64, hashlib
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.end_headers()
            self.wfile.flush()
            if p != "/ws-quiet":
                self.connection.sendall(("x-api-key: %s\n" % self.headers.get("x-api-key", "-")).encode())
            while True:
                data = self.connection.recv(65536)
                if not data: break
                self.connection.sendall(data)
            self.close_connection = True
        elif p.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", p[len("/redirect?to="):])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif p.startswith("/values"):
            self.send_body("".join("%s: %s\n" % (k.lower(), v) for k, v in self.headers.items()).encode())
        elif p.startswith("/headers"):
            self.send_body(("\n".join(k.lower() for k in self.headers.keys()) + "\n").encode())
        elif p.startswith("/echo"):
            self.send_body(self.read_body())
        elif p.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif p.startswith("/close"):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until close\n")
            self.close_connection = True
        elif p.startswith("/pause"):
            time.sleep(0.3)
            self.send_body(b"paused\n")
        elif p.startswith("/slow"):
            time.sleep(3)
            self.send_body(b"slow\n")
        else:
            self.send_body(b"hello from upstream\n")
    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = handle_one

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

srv = S(("127.0.0.1", 0), H)
if len(sys.argv) > 2:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % srv.server_address[1])
srv.serve_forever()
EOF

wait_port_file() {
	for _ in $(seq 1 100); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	echo "FAIL upstream did not start"; exit 1
}

upstream_start() {
	python3 "$T/upstream.py" "$T/up.port" 2>>"$T/upstream.err" &
	BG_PIDS+=($!)
	wait_port_file "$T/up.port"
	UP_PORT=$(cat "$T/up.port")
}

tls_upstream_start() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=allowed.test \
		-addext subjectAltName=DNS:allowed.test -keyout "$T/key.pem" -out "$T/ca.pem" \
		>/dev/null 2>&1 || { echo "FAIL openssl req"; exit 1; }
	python3 "$T/upstream.py" "$T/tls.port" "$T/ca.pem" "$T/key.pem" 2>>"$T/upstream.err" &
	BG_PIDS+=($!)
	wait_port_file "$T/tls.port"
	TLS_PORT=$(cat "$T/tls.port")
}

cat >"$T/raw.py" <<'EOF'
import re, socket, sys
data = sys.stdin.buffer.read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(data)
out = b""
want_all = len(sys.argv) > 2
try:
    while want_all or b"\r\n" not in out:
        chunk = s.recv(65536)
        if not chunk: break
        out += chunk
except (socket.timeout, ConnectionResetError):
    pass
if want_all:
    lines = [l.decode("latin-1") for l in re.findall(rb"HTTP/1\.1 \d{3}[^\r]*", out)]
    print("\n".join(lines) if lines else "closed")
else:
    line = out.split(b"\r\n")[0].decode("latin-1")
    print(line if line else "closed")
EOF

raw() { python3 "$T/raw.py" "$1"; }

# steps.py PORT STEP...: one client connection to the proxy on 127.0.0.1:PORT,
# the steps in order:
#   "METHOD URL [BODY]"  a request in absolute form (Host from URL; BODY with a
#                        Content-Length); prints "STATUS BODY" (the body's
#                        words joined by single spaces), or "closed" when the
#                        proxy closed instead of answering, which ends the steps
#   "last METHOD URL [BODY]"  the same with "Connection: close"
#   "sleep S"            wait S seconds
#   "pause FILE"         create FILE, then wait (20 s at most) until it is gone:
#                        the test does something meanwhile, then removes it
cat >"$T/steps.py" <<'EOF'
import os, socket, sys, time
from urllib.parse import urlsplit

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")

def response(head_only):
    while True:
        line = f.readline()
        if not line:
            return None
        status = int(line.split()[1])
        hdrs = {}
        while True:
            h = f.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if status < 200:
            continue
        if head_only or status in (204, 304):
            return status, b""
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(f.readline().split(b";")[0], 16)
                if size == 0:
                    while f.readline() not in (b"\r\n", b""):
                        pass
                    return status, body
                body += f.read(size)
                f.readline()
        if "content-length" in hdrs:
            return status, f.read(int(hdrs["content-length"]))
        return status, f.read()

for step in sys.argv[2:]:
    word, _, rest = step.partition(" ")
    if word == "sleep":
        time.sleep(float(rest))
        continue
    if word == "pause":
        open(rest, "w").close()
        for _ in range(400):
            if not os.path.exists(rest):
                break
            time.sleep(0.05)
        continue
    last = word == "last"
    if last:
        word, _, rest = rest.partition(" ")
    url, _, body = rest.partition(" ")
    req = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (word, url, urlsplit(url).netloc)
    if last:
        req += "Connection: close\r\n"
    if body:
        req += "Content-Length: %d\r\n" % len(body)
    try:
        s.sendall(req.encode() + b"\r\n" + body.encode())
        r = response(word == "HEAD")
    except (OSError, ValueError):
        r = None
    if r is None:
        print("closed", flush=True)
        break
    print(r[0], " ".join(r[1].decode("latin-1").split()), flush=True)
EOF
steps() { python3 "$T/steps.py" "$@"; }
# pool_flush [PORT]: the upstream on PORT (default $UP_PORT) shuts down every
# connection it holds, so that none is left in the proxy's pool (pool.h) and
# the next request dials afresh.
pool_flush() {
	curl -sS --max-time 5 "http://127.0.0.1:${1:-$UP_PORT}/close-others" >/dev/null
	sleep 0.1
}
# Every status line of everything the proxy sends until it closes (5 s at most).
raw_all() { python3 "$T/raw.py" "$1" all; }

# $T/tunnel.py: the test clients' way into an intercepted tunnel. Scripts in
# $T import it: tls_tunnel(PORT, HOST, UPPORT, CAFILE) sends CONNECT HOST:UPPORT
# to the proxy on 127.0.0.1:PORT, reads its answer, and returns the socket
# wrapped in TLS for HOST, trusting CAFILE only.
cat >"$T/tunnel.py" <<'PY'
import socket, ssl

def tls_tunnel(port, host, up, cafile):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    s.sendall(b"CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n"
              % (host.encode(), str(up).encode(), host.encode(), str(up).encode()))
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    return ssl.create_default_context(cafile=cafile).wrap_socket(s, server_hostname=host)
PY

# make_ca NAME: a P-256 CA in $T/NAME.crt and $T/NAME.key.
make_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=kennel test $1" -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-keyout "$T/$1.key" -out "$T/$1.crt" >/dev/null 2>&1 || { echo "FAIL make_ca $1"; exit 1; }
}

# make_leaf CA NAME SAN: a server certificate $T/NAME.crt (+ .key) signed by
# $T/CA.crt for the subjectAltName SAN ("DNS:a.test,IP:127.0.0.1").
make_leaf() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$T/$2.key" -out "$T/$2.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName=%s\n' "$3" >"$T/$2.ext" &&
	openssl x509 -req -in "$T/$2.csr" -CA "$T/$1.crt" -CAkey "$T/$1.key" -CAcreateserial \
		-days 2 -extfile "$T/$2.ext" -out "$T/$2.crt" >/dev/null 2>&1 ||
		{ echo "FAIL make_leaf $2"; exit 1; }
}

# tls_server_start NAME: upstream.py over TLS with $T/NAME.crt; sets $TLS_PORT.
tls_server_start() {
	rm -f "$T/$1.port"
	python3 "$T/upstream.py" "$T/$1.port" "$T/$1.crt" "$T/$1.key" 2>>"$T/upstream.err" &
	BG_PIDS+=($!)
	wait_port_file "$T/$1.port"
	TLS_PORT=$(cat "$T/$1.port")
}

# sandbox_ca NAME CA POLICY: like sandbox, with $T/CA.crt/.key as its CA.
sandbox_ca() {
	local name=$1 ca=$2 policy=$3 line
	echo "sandboxca $name 0 $T/$ca.crt $T/$ca.key $policy" >&"${CTL[1]}"
	read -t 20 -r line <&"${CTL[0]}"
	SB_PORT=${line#port }
	read -t 20 -r ANSWER <&"${CTL[0]}"
}
