#!/usr/bin/env bash
# agent_gemini.sh — Gemini CLI, installed from npm, run with `kennel run` in a
# sandbox against a fake Gemini API (tests/helpers/fake_api_gemini.py) that
# kennel-proxy reaches as generativelanguage.googleapis.com: the shipped agent
# definition (share/kennel/agents/gemini.json) is enough for it to run
# unattended, its one tool call runs inside the sandbox, the API gets the
# caller's GEMINI_API_KEY injected, and nothing else leaves the sandbox.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/agents_lib.sh"

HOST=generativelanguage.googleapis.com
KEY=AIza-kennel-test-$RANDOM$RANDOM$RANDOM
agents_install @google/gemini-cli@0.61.0 || { echo "FAIL install gemini-cli from npm"; exit 1; }
fake_api_start gemini "$HOST" || exit 1
agent_sandbox gemini gem || { echo "FAIL create"; exit 1; }
check_out "the sandbox's policy allows the agent's API host and denies the rest" \
	"Default: +deny Allow hosts: +$HOST Block" sh -c "'$KENNEL' network proxy gem | tr '\\n' ' ' | tr -s ' '"
agent_run gem GEMINI_API_KEY="$KEY" -p "run the command"
agent_checks gem "$HOST" x-goog-api-key "$KEY"
check_out "the tool's result went back to the model" '"functionResponse"' cat "$FAKE_LOG"
