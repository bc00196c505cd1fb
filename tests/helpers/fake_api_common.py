"""fake_api_common.py — the part the fake model APIs (fake_api_*.py) share: a
threaded HTTPS server on one loopback address, a JSON-lines log of every
request it gets, and the pieces of a streamed (server-sent events) answer.

A fake API stands in for a vendor's model endpoint so that a real agent CLI,
running in a kennel sandbox, can be driven end to end without the internet:
the agent asks the "model", the model answers with one call of the agent's
shell tool running TOOL_COMMAND, the agent runs it (inside the sandbox) and
sends the result back, the model answers with DONE_TEXT.

    serve(handle, description)   parses the command line and serves forever;
                                 handle(req) answers one request
    req.method, req.path, req.query, req.headers (lower-case names), req.json
    req.reply_json(status, obj), req.reply_sse(events), req.reply_status(n)
    sample(schema)               a minimal value that fits a JSON schema
    log(entry)                   one more line of the request log (what a
                                 fake answers outside HTTP, e.g. websocket
                                 messages)

Command line (every fake API):
    --listen ADDR:PORT   where to listen (a 127.0.0.0/8 address)
    --cert FILE --key FILE   the server's certificate (names the vendor host)
    --log FILE           one JSON object per request: host, method, path,
                         headers (all of them: the test checks what key the
                         proxy injected, and the keys in tests are dummies)
    --command CMD        the shell command the model asks the agent to run
    --done TEXT          the model's final answer
Only the test's own sandbox reaches it, through kennel-proxy.
"""
import argparse
import json
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A request body of an agent holds its whole conversation and tool
# descriptions: a few hundred KiB at most in these tests.
MAX_BODY = 16 << 20

CONFIG = argparse.Namespace()
_log_lock = threading.Lock()


def log(entry):
    with _log_lock, open(CONFIG.log, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Request(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    handle_fn = None

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too big")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    raise ValueError("body too big")
        return self.rfile.read(n) if n else b""

    def _dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        self.url_path = url.path
        self.query = urllib.parse.parse_qs(url.query)
        self.raw_body = self._read_body()
        if self.headers.get("Content-Encoding", "").lower() in ("gzip", "br", "zstd", "deflate"):
            self.json = None  # logged, not parsed: the handler answers 415
        else:
            try:
                self.json = json.loads(self.raw_body) if self.raw_body else None
            except ValueError:
                self.json = None
        self.hdrs = {k.lower(): v for k, v in self.headers.items()}
        self.answered = None
        try:
            type(self).handle_fn(self)
        finally:
            log({"host": self.hdrs.get("host"), "method": self.command, "path": self.url_path,
                  "query": url.query, "headers": self.hdrs, "body": self.json,
                  "status": self.answered})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

    @property
    def method(self):
        return self.command

    def _reply(self, status, content_type, body):
        self.answered = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_status(self, status, text=""):
        self._reply(status, "text/plain", text.encode())

    def reply_json(self, status, obj):
        self._reply(status, "application/json", json.dumps(obj).encode())

    def reply_sse(self, events):
        """events: (event name or None, JSON-able data) pairs, sent chunked
        one by one as a streaming API does."""
        self.answered = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for name, data in events:
            text = ("event: %s\n" % name if name else "") + "data: %s\n\n" % json.dumps(data)
            chunk = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def sample(schema):
    """A minimal value that fits a JSON schema (side calls that ask for JSON):
    the first enum value (Gemini's next-speaker check: "user"), the minimum or
    1 for numbers (Gemini's router wants a complexity_score of 1-100; 1 picks
    the flash model). Type names in either case (Gemini writes OBJECT)."""
    schema = schema or {}
    if "enum" in schema:
        return schema["enum"][0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: sample(props.get(k)) for k in schema.get("required") or props}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return "ok"


def serve(handle, description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--listen", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--done", default="KENNEL-AGENT-DONE")
    p.parse_args(namespace=CONFIG)
    addr, port = CONFIG.listen.rsplit(":", 1)
    Request.handle_fn = staticmethod(handle)
    server = ThreadingHTTPServer((addr, int(port)), Request)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CONFIG.cert, CONFIG.key)
    ctx.set_alpn_protocols(["http/1.1"])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("listening %s" % CONFIG.listen, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)
