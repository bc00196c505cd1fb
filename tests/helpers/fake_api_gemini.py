#!/usr/bin/env python3
"""fake_api_gemini.py — a fake Gemini API (generativelanguage host, v1beta
REST) for driving Gemini CLI end to end. Tried with @google/gemini-cli 0.61.0.

What Gemini CLI sends (API key in the x-goog-api-key header):
  POST /v1beta/models/MODEL:streamGenerateContent?alt=sse
        the agent's turns; body {contents, tools:[{functionDeclarations}],
        systemInstruction, generationConfig}. Answered as server-sent events,
        each `data: GenerateContentResponse` (no event names).
  POST /v1beta/models/MODEL:generateContent
        side calls without tools, answered as one JSON object. The model
        router's classifier (seen once per prompt in 0.61) and the
        next-speaker check ask for JSON (generationConfig.responseJsonSchema
        or responseSchema); others (summaries, titles) want text.
  POST /v1beta/models/MODEL:countTokens     {"totalTokens": N}
  GET  /v1beta/models                       an empty model list
Bodies come uncompressed; no websocket. A -p run of 0.61 makes three calls:
classifier, the turn that gets the tool call, the turn with its result.

The first turn that declares a shell tool is answered with one functionCall of
that tool running --command; once the conversation holds that tool's
functionResponse, the answer is the text --done. The shell tool is the
declared function with a "command" parameter (run_shell_command in 0.61),
so a renamed tool still works.
"""
import json
import re
import time

from fake_api_common import CONFIG, sample, serve

ROUTE = re.compile(r"^/v1(?:beta|alpha)?/models/([^/:]+):(\w+)$")


def declarations(body):
    for tool in (body or {}).get("tools") or []:
        for decl in tool.get("functionDeclarations") or []:
            yield decl


def params(decl):
    return decl.get("parametersJsonSchema") or decl.get("parameters") or {}


def shell_tool(body):
    """The declared function that takes a shell command, or None."""
    found = [d for d in declarations(body) if "command" in (params(d).get("properties") or {})]
    found.sort(key=lambda d: "shell" not in d.get("name", ""))
    return found[0]["name"] if found else None


def has_result(body, name):
    for content in (body or {}).get("contents") or []:
        for part in content.get("parts") or []:
            if (part.get("functionResponse") or {}).get("name") == name:
                return True
    return False


def response(model, parts):
    return {
        "candidates": [{"content": {"role": "model", "parts": parts},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                          "totalTokenCount": 15},
        "modelVersion": model,
        "responseId": "fake-%d" % time.monotonic_ns(),
    }


def answer_parts(body):
    """The parts of the model's answer to a generate request."""
    tool = shell_tool(body)
    if tool and not has_result(body, tool):
        return [{"functionCall": {"name": tool, "args": {"command": CONFIG.command}}}]
    if not tool and any(declarations(body)):
        # Gemini CLI leaves its shell tool out unless run with --approval-mode
        # yolo (or --yolo) in -p mode: say so instead of finishing quietly.
        names = ", ".join(d.get("name", "?") for d in declarations(body))
        return [{"text": "fake API: no shell tool among the declared tools: " + names}]
    gen = (body or {}).get("generationConfig") or {}
    schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
    if schema:
        return [{"text": json.dumps(sample(schema))}]
    return [{"text": CONFIG.done}]


def handle(req):
    if req.method == "GET" and re.match(r"^/v1(beta|alpha)?/models/?$", req.url_path):
        return req.reply_json(200, {"models": []})
    m = ROUTE.match(req.url_path)
    if req.method != "POST" or not m:
        return req.reply_status(404, "not found")
    model, action = m.groups()
    if req.raw_body and req.json is None:
        return req.reply_status(415, "request body not JSON")
    if action == "countTokens":
        return req.reply_json(200, {"totalTokens": 10})
    if action == "streamGenerateContent":
        return req.reply_sse([(None, response(model, answer_parts(req.json)))])
    if action == "generateContent":
        return req.reply_json(200, response(model, answer_parts(req.json)))
    return req.reply_status(404, "unknown method " + action)


if __name__ == "__main__":
    serve(handle, "fake Gemini API (v1beta generateContent) for Gemini CLI")
