"""tls_records.py — record-level control of TLS for edge tests of kennel-proxy's
read-ahead: SSLObject + MemoryBIO, so a test decides which records go in which
write (`serve PORTFILE CERT KEY` runs the matching upstream)."""
import socket, ssl, sys, threading, time

def pump_handshake(sock, obj, inc, out):
    while True:
        try:
            obj.do_handshake()
            return
        except ssl.SSLWantReadError:
            data = out.read()
            if data:
                sock.sendall(data)
            b = sock.recv(65536)
            if not b:
                raise EOFError("closed in handshake")
            inc.write(b)

def records(obj, out, pieces):
    """Encrypt each piece as its own record; return the bytes of all."""
    for p in pieces:
        obj.write(p)
    return out.read()

def read_until(sock, obj, inc, pred, timeout=5):
    sock.settimeout(timeout)
    data = b""
    end = False
    deadline = time.time() + timeout
    while not pred(data) and time.time() < deadline:
        try:
            while True:
                chunk = obj.read(65536)
                if not chunk:
                    end = True
                    break
                data += chunk
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            end = True
        if end:
            break
        if pred(data):
            break
        try:
            b = sock.recv(65536)
        except socket.timeout:
            break
        if not b:
            end = True
            break
        inc.write(b)
    return data, end

class TLSClient:
    def __init__(self, port, host, up, cafile, early=b""):
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (host.encode(), up, host.encode(), up))
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert head.startswith(b"HTTP/1.1 200"), head
        ctx = ssl.create_default_context(cafile=cafile)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_hostname=host)
        self.sock = s
        # handshake, but hold back the client's last flight when `early` is
        # given, so that it goes out in one write with the first records
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                d = self.out.read()
                if d:
                    s.sendall(d)
                b = s.recv(65536)
                if not b:
                    raise EOFError
                self.inc.write(b)
        last = self.out.read()
        if early:
            last += records(self.obj, self.out, [early])
        if last:
            s.sendall(last)

    def send_records(self, pieces):
        self.sock.sendall(records(self.obj, self.out, pieces))

    def read(self, pred, timeout=5):
        return read_until(self.sock, self.obj, self.inc, pred, timeout)

def responses(n):
    def pred(d):
        return d.count(b"\r\n\r\nok\n") >= n or d.count(b"HTTP/1.1 ") >= n and d.endswith(b"ok\n") and d.count(b"ok\n") >= n
    return pred

# ---- an upstream whose writes are records of our choosing ----
def serve(portfile, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0)); srv.listen(16)
    open(portfile, "w").write("%d\n" % srv.getsockname()[1])
    def one(conn):
        try:
            inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(inc, out, server_side=True)
            pump_handshake(conn, obj, inc, out)
            d = out.read()
            if d:
                conn.sendall(d)
            while True:
                req, end = read_until(conn, obj, inc, lambda x: b"\r\n\r\n" in x, timeout=30)
                if b"\r\n\r\n" not in req:
                    return
                path = req.split(b" ")[1].decode()
                body = b"x" * 3000 + b"ok\n"
                head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                if path == "/tiny":       # head and body in 3-byte records, one write
                    resp = head + body
                    conn.sendall(records(obj, out, [resp[i:i+3] for i in range(0, len(resp), 3)]))
                elif path == "/chunked-tiny":
                    ch = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    for i in range(0, len(body), 500):
                        part = body[i:i+500]
                        ch += b"%x\r\n%s\r\n" % (len(part), part)
                    ch += b"0\r\n\r\n"
                    conn.sendall(records(obj, out, [ch[i:i+2] for i in range(0, len(ch), 2)]))
                elif path == "/close-notify":  # close-delimited, then close_notify, TCP kept open
                    resp = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body
                    data = records(obj, out, [resp])
                    try:
                        obj.unwrap()
                    except ssl.SSLWantReadError:
                        pass
                    conn.sendall(data + out.read())
                    time.sleep(20)
                    return
                elif path == "/split":     # half a record, a pause, the rest
                    data = records(obj, out, [head + body])
                    conn.sendall(data[:len(data)//2])
                    time.sleep(1.5)
                    conn.sendall(data[len(data)//2:])
                else:
                    conn.sendall(records(obj, out, [head + body]))
        except (OSError, EOFError, ssl.SSLError) as e:
            pass
        finally:
            conn.close()
    while True:
        c, _ = srv.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()

if __name__ == "__main__" and sys.argv[1] == "serve":
    serve(*sys.argv[2:5])
