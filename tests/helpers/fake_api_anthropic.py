#!/usr/bin/env python3
"""fake_api_anthropic.py — a fake Anthropic Messages API (api.anthropic.com)
for driving Claude Code end to end. Tried with @anthropic-ai/claude-code
2.1.197.

What Claude Code sends (API key in the x-api-key header):
  POST /v1/messages?beta=true
        every model call; body {model, messages, system, tools, stream, ...}.
        The agent's turns are streamed (stream: true) and answered as
        server-sent events: message_start, content_block_start,
        content_block_delta (text_delta or input_json_delta),
        content_block_stop, message_delta (stop_reason), message_stop.
        The session title is a side call without tools that asks for JSON
        (output_config.format.schema {title}).
  POST /v1/messages/count_tokens?beta=true   {"input_tokens": N}
  GET  /v1/models                            an empty model list
Everything else gets 404, which Claude Code shrugs off: GET
/api/claude_code/{policy_limits,settings} at start (also with
CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1); without that variable also
feature flags (POST /api/eval/sdk-*), /api/claude_cli/bootstrap, telemetry
(POST /api/event_logging/v2/batch, about 200 KiB of plain JSON), ... ; with
ANTHROPIC_BASE_URL set, a HEAD / warm-up instead. Request bodies came
uncompressed (Content-Length, plain JSON); no websocket.

The first turn that declares a shell tool is answered with one tool_use of
that tool running --command; once the conversation holds that call's
tool_result, the answer is the text --done. The shell tool is the declared
tool with a "command" property (Bash in 2.1), so a renamed tool still works.
Requests without tools get a short text ("ok", or a value that fits the
JSON schema they ask for).
"""
import json
import time

from fake_api_common import CONFIG, sample, serve


def shell_tool(body):
    """The declared tool that takes a shell command, or None."""
    found = [t for t in (body or {}).get("tools") or []
             if "command" in ((t.get("input_schema") or {}).get("properties") or {})]
    found.sort(key=lambda t: not any(w in t.get("name", "").lower() for w in ("bash", "shell")))
    return found[0]["name"] if found else None


def blocks(body, role):
    for msg in (body or {}).get("messages") or []:
        if msg.get("role") == role and isinstance(msg.get("content"), list):
            yield from msg["content"]


def has_result(body, name):
    """Whether the conversation holds the result of a call of tool name."""
    calls = {b.get("id") for b in blocks(body, "assistant")
             if b.get("type") == "tool_use" and b.get("name") == name}
    return any(b.get("type") == "tool_result" and b.get("tool_use_id") in calls
               for b in blocks(body, "user"))


def answer(body):
    """The content blocks of the model's answer, and its stop reason."""
    tool = shell_tool(body)
    if tool and not has_result(body, tool):
        call = {"type": "tool_use", "id": "toolu_fake%d" % time.monotonic_ns(),
                "name": tool, "input": {"command": CONFIG.command}}
        return [call], "tool_use"
    if not (body or {}).get("tools"):
        fmt = body.get("output_format") or body.get("output_config", {}).get("format") or {}
        text = json.dumps(sample(fmt["schema"])) if fmt.get("schema") else "ok"
        return [{"type": "text", "text": text}], "end_turn"
    return [{"type": "text", "text": CONFIG.done}], "end_turn"


def message(body, content, stop):
    return {"id": "msg_fake%d" % time.monotonic_ns(), "type": "message",
            "role": "assistant", "model": body.get("model", "claude"),
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5}}


def events(body, content, stop):
    """The server-sent events of a streamed message holding content."""
    start = message(body, [], None)
    start["usage"]["output_tokens"] = 1
    yield "message_start", {"type": "message_start", "message": start}
    for i, block in enumerate(content):
        if block["type"] == "tool_use":
            first, delta = dict(block, input={}), {
                "type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            first, delta = dict(block, text=""), {"type": "text_delta", "text": block["text"]}
        yield "content_block_start", {"type": "content_block_start", "index": i,
                                      "content_block": first}
        yield "content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}
        yield "content_block_stop", {"type": "content_block_stop", "index": i}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": stop, "stop_sequence": None},
                            "usage": {"output_tokens": 5}}
    yield "message_stop", {"type": "message_stop"}


def handle(req):
    if req.method == "GET" and req.url_path.rstrip("/") == "/v1/models":
        return req.reply_json(200, {"data": [], "has_more": False,
                                    "first_id": None, "last_id": None})
    if req.method != "POST" or req.url_path not in ("/v1/messages", "/v1/messages/count_tokens"):
        return req.reply_status(404, "not found")
    if req.json is None:
        return req.reply_status(415, "request body not JSON")
    if req.url_path == "/v1/messages/count_tokens":
        return req.reply_json(200, {"input_tokens": 10})
    content, stop = answer(req.json)
    if req.json.get("stream"):
        return req.reply_sse(list(events(req.json, content, stop)))
    return req.reply_json(200, message(req.json, content, stop))


if __name__ == "__main__":
    serve(handle, "fake Anthropic Messages API for Claude Code")
