#!/usr/bin/env bash
# agent_codex.sh — Codex CLI, installed from npm, run with `kennel run` in a
# sandbox against a fake OpenAI Responses API (tests/helpers/fake_api_openai.py)
# that kennel-proxy reaches as api.openai.com: the shipped agent definition
# (share/kennel/agents/codex.json) is enough for `codex exec` to run
# unattended; its tool call runs inside the sandbox, the API gets the caller's
# OPENAI_API_KEY injected (into the websocket upgrade Codex talks over, and
# into HTTP requests), and nothing else leaves the sandbox.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/agents_lib.sh"

HOST=api.openai.com
KEY=sk-proj-kennel-test-$RANDOM$RANDOM$RANDOM
agents_install @openai/codex@0.169.0 || { echo "FAIL install codex from npm"; exit 1; }
fake_api_start openai "$HOST" || exit 1
agent_sandbox codex cx || { echo "FAIL create"; exit 1; }
agent_run cx OPENAI_API_KEY="$KEY" exec --skip-git-repo-check "run the command"
agent_checks cx "$HOST" authorization "Bearer $KEY"
check_out "Codex talked over a websocket, upgraded through kennel-proxy" '"method": "WS"' cat "$FAKE_LOG"
check_out "the tool's result went back to the model" '_call_output"' cat "$FAKE_LOG"
