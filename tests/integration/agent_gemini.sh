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
agent_run gem GEMINI_API_KEY="$KEY" -p "run the command"
agent_checks gem "$HOST" x-goog-api-key "$KEY"
check_out "the tool's result went back to the model" '"functionResponse"' cat "$FAKE_LOG"

# GOOGLE_API_KEY alone: Gemini CLI reads only GEMINI_API_KEY, which the agent's
# definition sets to the placeholder; the proxy sends the caller's key.
rm -f "$WS/tool-ran"
: >"$FAKE_LOG"
KEY2=AIza-kennel-google-$RANDOM$RANDOM
agent_sandbox gemini gem2 || echo "FAIL create gem2"
agent_run gem2 GOOGLE_API_KEY="$KEY2" -p "run the command"
check "with GOOGLE_API_KEY alone the agent runs too" test "$AGENT_RC" -eq 0
check_out "... the tool ran" "^gem2 1000 $WS \$" sh -c "tr '\\n' ' ' <'$WS/tool-ran'"
check_out "... and the API got that key" "\"x-goog-api-key\": \"$KEY2\"" cat "$FAKE_LOG"
