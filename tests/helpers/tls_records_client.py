"""tls_records_client.py PROXY_PORT UPSTREAM_PORT CAFILE SCENARIO [WORKER_PIDS]
— one edge case of TLS record boundaries through an intercepted tunnel of
kennel-proxy (tls_records.py does the record-level TLS), against the record
server of tls_records.py. Prints "SCENARIO ok ..." when every response came
back whole; the split scenarios also print the worker's CPU ticks while half
a record waited (a busy loop shows as ~all of them)."""
import sys, time, os
sys.path.insert(0, os.path.dirname(__file__))
from tls_records import TLSClient
port, up, cafile, scenario = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
pids = sys.argv[5].split(",") if len(sys.argv) > 5 else []
H = "allowed.test"
def req(path):
    return b"GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (path.encode(), H.encode(), up)
def cpu():
    t = 0
    for p in pids:
        f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
        t += int(f[11]) + int(f[12])
    return t  # clock ticks (10 ms)
def done(n):
    return lambda d: d.count(b"ok\n") >= n and (scenario != "chunked-tiny" or d.endswith(b"0\r\n\r\n"))
t0 = time.time()
if scenario == "tiny-head":
    c = TLSClient(port, H, up, cafile)
    r = req("/plain")
    c.send_records([r[i:i+2] for i in range(0, len(r), 2)])
    d, end = c.read(done(1))
elif scenario == "pipelined":
    c = TLSClient(port, H, up, cafile)
    c.send_records([req("/plain"), req("/plain"), req("/plain")])
    d, end = c.read(done(3))
elif scenario == "early":
    c = TLSClient(port, H, up, cafile, early=req("/plain"))
    d, end = c.read(done(1))
elif scenario == "split-head":
    c = TLSClient(port, H, up, cafile)
    data = b""
    c.obj.write(req("/plain")); data = c.out.read()
    c.sock.sendall(data[:len(data)//2]); c0 = cpu(); time.sleep(1.5); c1 = cpu()
    c.sock.sendall(data[len(data)//2:])
    d, end = c.read(done(1))
    print("worker cpu ticks while half a record waited:", c1 - c0)
elif scenario in ("tiny", "chunked-tiny", "close-notify", "split", "plain"):
    c = TLSClient(port, H, up, cafile)
    c0 = cpu()
    c.send_records([req("/" + scenario)])
    d, end = c.read(done(1) if scenario != "close-notify" else (lambda d: False), timeout=5)
    c1 = cpu()
    if scenario == "split":
        print("worker cpu ticks while half a record waited:", c1 - c0)
    if scenario == "close-notify":
        print("ended" if end else "not ended", "after %.1f s" % (time.time() - t0))
good = d.endswith(b"0\r\n\r\n") if scenario == "chunked-tiny" else d.endswith(b"ok\n")
print(scenario, "ok" if good else "BAD %r" % d[-200:], "responses=%d" % d.count(b"ok\n"), "%.2fs" % (time.time() - t0))
