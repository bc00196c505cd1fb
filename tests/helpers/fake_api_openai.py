#!/usr/bin/env python3
"""fake_api_openai.py — a fake OpenAI Responses API (api.openai.com) for
driving Codex CLI end to end. Tried with @openai/codex 0.169.0 (`codex exec`).

What Codex sends (API key as "Authorization: Bearer KEY", every request):
  GET  /v1/responses  Upgrade: websocket
        the transport Codex tries first with its built-in openai provider
        (a config cannot turn it off). Each model call is one text frame
        {"type": "response.create", ...the request body...}; the answer is
        one text frame per event, the same JSON objects as the SSE data
        below, up to response.completed. The connection is reused: a later
        call may carry previous_response_id and only the new input items.
        A "prewarm" call has "generate": false and gets an empty response.
        {"type": "response.processed"} frames need no answer. No
        permessage-deflate (offered, not accepted). When the upgrade is
        refused, Codex falls back to the request below: at once on 426,
        after 7 upgrade attempts (~7 s) on 404.
  POST /v1/responses  (Accept: text/event-stream) the same body, answered as
        server-sent events: response.created, response.output_item.added,
        response.output_text.delta, response.output_item.done,
        response.completed.
  GET  /v1/models     an empty list (0.169 does not ask: its model-list
        refresh goes to chatgpt.com, turned off in kennel's config.toml)
Bodies come uncompressed. Codex 0.169's default model ("responses-lite")
sends no top-level "tools": they come as an input item
{"type": "additional_tools", "tools": [{"type": "namespace", "tools": [...]}]}
and the shell is reachable only through the custom (freeform) tool "exec",
which runs JavaScript that calls nested tools (`await tools.exec_command({cmd})`,
declared in exec's description). Other models/configs declare the shell as
a plain function tool (exec_command {cmd}, shell_command {command}, ...).

The first call that declares a shell tool is answered with one call of it
running --command: a function_call when a function tool takes "cmd" or
"command", else a custom_tool_call of "exec" whose JavaScript calls the
nested shell tool named in exec's description. Once the input holds the
output of that call (function_call_output / custom_tool_call_output with
our call_id), the answer is the text --done. Calls without tools get "ok".

Log: besides the common one line per HTTP request (the websocket's upgrade
GET is logged when the connection ends, status 101), one line per websocket
message: method "WS", the upgrade request's headers (the key travels only
there, not in the frames) and the message as body.
"""
import base64
import hashlib
import itertools
import json
import re
import struct

from fake_api_common import CONFIG, log, serve

CALL_PREFIX = "call_kennel_fake_"
_ids = itertools.count(1)


# --- what the request asks ----------------------------------------------

def declared_tools(body):
    """Every tool the request declares, top level or in an additional_tools
    input item, namespaces flattened."""
    def flat(tools):
        for tool in tools or []:
            if tool.get("type") == "namespace":
                yield from flat(tool.get("tools"))
            else:
                yield tool
    body = body or {}
    yield from flat(body.get("tools"))
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            yield from flat(item.get("tools"))


def shellish(name):
    return any(w in name.lower() for w in ("exec", "shell", "bash", "command"))


def shell_call(body):
    """The call item that runs --command with a declared tool, or None."""
    tools = list(declared_tools(body))
    funcs = [t for t in tools if t.get("type") == "function"
             and {"cmd", "command"} & set((t.get("parameters") or {}).get("properties") or {})]
    funcs.sort(key=lambda t: not shellish(t.get("name", "")))
    call_id = "%s%d" % (CALL_PREFIX, next(_ids))
    if funcs:
        tool = funcs[0]
        props = tool["parameters"]["properties"]
        if "cmd" in props:
            args = {"cmd": CONFIG.command}
        elif props["command"].get("type") == "array":
            args = {"command": ["bash", "-lc", CONFIG.command]}
        else:
            args = {"command": CONFIG.command}
        return {"type": "function_call", "call_id": call_id, "name": tool["name"],
                "arguments": json.dumps(args)}
    # Code mode: the freeform "exec" tool runs JavaScript; its description
    # declares the nested tools, e.g. `declare const tools: { exec_command(args: {
    # ... cmd: string; ...`.
    for tool in tools:
        if tool.get("type") != "custom":
            continue
        nested = re.findall(r"declare const tools: \{ (\w+)\(args: \{(.*?)\}\): Promise",
                            tool.get("description") or "", re.S)
        nested = [(n, "cmd" if re.search(r"^\s*cmd\??:", a, re.M) else "command")
                  for n, a in nested if re.search(r"^\s*(cmd|command)\??: string", a, re.M)]
        nested.sort(key=lambda n: not shellish(n[0]))
        if nested:
            name, arg = nested[0]
            js = "const r = await tools.%s({%s: %s});\ntext(r.output ?? r);\n" % (
                name, arg, json.dumps(CONFIG.command))
            return {"type": "custom_tool_call", "call_id": call_id, "name": tool["name"],
                    "input": js}
    return None


def has_result(body):
    """Whether the input holds the output of a call this fake made."""
    return any(isinstance(item, dict) and item.get("type", "").endswith("call_output")
               and str(item.get("call_id", "")).startswith(CALL_PREFIX)
               for item in (body or {}).get("input") or [])


# --- the answer -----------------------------------------------------------

def message(text):
    return {"type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def answer_events(body):
    """The stream of events (JSON objects with a "type") answering one
    response request."""
    body = body or {}
    rid = "resp_fake_%d" % next(_ids)
    if body.get("generate") is False:  # websocket prewarm
        items = []
    elif has_result(body):
        items = [message(CONFIG.done)]
    else:
        call = shell_call(body)
        if call:
            items = [call]
        elif any(True for _ in declared_tools(body)):
            names = ", ".join(t.get("name", "?") for t in declared_tools(body))
            items = [message("fake API: no shell tool among the declared tools: " + names)]
        else:
            items = [message("ok")]
    resp = {"id": rid, "object": "response", "status": "in_progress",
            "model": body.get("model", "fake"), "output": []}
    events = [{"type": "response.created", "response": resp}]
    for i, item in enumerate(items):
        item = dict(item, id="%s_item%d" % (rid, i))
        events.append({"type": "response.output_item.added", "output_index": i, "item": item})
        if item["type"] == "message":
            events.append({"type": "response.output_text.delta", "output_index": i,
                           "item_id": item["id"], "content_index": 0,
                           "delta": item["content"][0]["text"]})
        events.append({"type": "response.output_item.done", "output_index": i, "item": item})
        items[i] = item
    usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
             "total_tokens": 15}
    events.append({"type": "response.completed",
                   "response": dict(resp, status="completed", output=items, usage=usage)})
    return events


# --- websocket (RFC 6455, text frames only, no extensions) ---------------

def ws_recv(req):
    """One whole message: (opcode, payload bytes), or (None, b"") at EOF."""
    data, first_op = b"", None
    while True:
        head = req.rfile.read(2)
        if len(head) < 2:
            return None, b""
        op, n = head[0] & 0x0F, head[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", req.rfile.read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", req.rfile.read(8))[0]
        mask = req.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        if len(data) + n > 16 << 20:
            return None, b""
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(req.rfile.read(n)))
        if op >= 8:  # control frames come whole, maybe between fragments
            if op == 9:
                ws_send(req, payload, 0xA)
                continue
            if op == 0xA:
                continue
            return op, payload
        first_op = first_op or op
        data += payload
        if head[0] & 0x80:
            return first_op, data


def ws_send(req, payload, op=1):
    n = len(payload)
    head = bytes([0x80 | op])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    req.wfile.write(head + payload)
    req.wfile.flush()


def websocket(req):
    accept = base64.b64encode(hashlib.sha1(
        req.hdrs["sec-websocket-key"].encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    req.answered = 101
    req.close_connection = True
    req.send_response(101)
    req.send_header("Upgrade", "websocket")
    req.send_header("Connection", "Upgrade")
    req.send_header("Sec-WebSocket-Accept", accept.decode())
    req.end_headers()
    while True:
        op, payload = ws_recv(req)
        if op != 1:  # close, binary or EOF
            if op == 8:
                ws_send(req, payload[:2], 8)
            return
        try:
            msg = json.loads(payload)
        except ValueError:
            msg = None
        log({"host": req.hdrs.get("host"), "method": "WS", "path": req.url_path, "query": "",
              "headers": req.hdrs, "body": msg, "status": None})
        if isinstance(msg, dict) and msg.get("type") == "response.create":
            for event in answer_events(msg):
                ws_send(req, json.dumps(event).encode())


# --- routes -----------------------------------------------------------------

def handle(req):
    path = req.url_path.rstrip("/")
    if path == "/v1/responses" and req.method == "GET" \
            and req.hdrs.get("upgrade", "").lower() == "websocket":
        return websocket(req)
    if path == "/v1/responses" and req.method == "POST":
        if req.raw_body and req.json is None:
            return req.reply_status(415, "request body not JSON")
        return req.reply_sse([(e["type"], e) for e in answer_events(req.json)])
    if path == "/v1/models" and req.method == "GET":
        return req.reply_json(200, {"object": "list", "data": [], "models": []})
    return req.reply_status(404, "not found")


if __name__ == "__main__":
    serve(handle, "fake OpenAI Responses API (HTTP SSE and websocket) for Codex CLI")
