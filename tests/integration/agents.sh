#!/usr/bin/env bash
# agents.sh — agents are data (share/kennel/agents/*.json plus agents.d):
# kenneld loads them at start, refuses a bad file naming it, `kennel run`
# starts an agent's command with its environment, and when the command is
# missing says how to install it. (The real agents, Claude Code, Codex and
# Gemini CLI, are defined here; running them against fake APIs is tested
# where they are installed: not yet, see issue 4.)
. "$(dirname "$0")/../lib.sh"

AG=$T/agents.d
mkdir -p "$AG"
cat >"$AG/echoer.json" <<'JSON'
{"name": "echoer", "description": "a test agent", "command": ["/bin/sh", "-c", "echo \"echoer: $ECHOER_MODE $*\"", "echoer"],
 "env": {"ECHOER_MODE": "unattended"}}
JSON
cat >"$AG/missing.json" <<'JSON'
{"name": "missing", "command": ["kennel-no-such-agent-binary"], "install": "npm install -g kennel-no-such-agent"}
JSON
export KENNEL_AGENTS_DIR=$AG
start_daemon || exit 1
WS=$T/ws
mkdir -p "$WS"

check_out "the built-in agents and the agents.d ones are known" \
	'agents: claude, codex, echoer, gemini, missing, shell' cat "$T/kenneld.log"
out=$(timeout 120 "$KENNEL" run echoer "$WS" -- one two </dev/null 2>&1)
check_out "run starts the agent's command with its env and ARGS" '^echoer: unattended one two$' echo "$out"
# inspect SANDBOX: its command and the command's environment, a line each.
cmdline() {
	"$KENNEL" inspect "$1" | python3 -c 'import json, sys
a = json.load(sys.stdin)[0]
print(" ".join(a["command"])); print(" ".join(a["command_env"]))'
}
check_out "inspect shows the agent's command" '^/bin/sh -c ' cmdline echoer-ws
out=$(timeout 120 "$KENNEL" run missing "$WS" </dev/null 2>&1)
rc=$?
check "a missing agent command exits 127" test "$rc" -eq 127
check_out "... and says how to install it" \
	'kennel-no-such-agent-binary was not found in the sandbox.*npm install -g kennel-no-such-agent' echo "$out"
check_out "an unknown agent lists the known ones" "unknown agent 'nosuch' \\(known: claude, codex, echoer, gemini, missing, shell\\)" \
	"$KENNEL" create nosuch "$WS"
"$KENNEL" create --name cl claude "$WS" >/dev/null
check_out "claude's definition: the unattended flag" '^claude --dangerously-skip-permissions$' cmdline cl
check_out "... and IS_SANDBOX" '(^| )IS_SANDBOX=1( |$)' cmdline cl
"$KENNEL" rm -f cl >/dev/null 2>&1

# A bad agent file stops the daemon, naming the file and the field.
stop_daemon
printf '{"name": "Bad Name", "command": ["x"]}\n' >"$AG/zz-bad.json"
out=$(timeout 30 "$KENNELD" --socket "$T/bad.sock" --state-dir "$T/badstate" 2>&1)
rc=$?
check "kenneld refuses to start with a bad agent file" test "$rc" -ne 0
check_out "... naming the file and the field" 'zz-bad.json: "name"' echo "$out"
printf '{"name": "nocmd"}\n' >"$AG/zz-bad.json"
check_out "an agent without a command is refused" 'zz-bad.json: "command"' \
	sh -c "timeout 30 '$KENNELD' --socket '$T/bad.sock' --state-dir '$T/badstate' 2>&1"
printf '{"name": "envbad", "command": ["x"], "env": {"A B": "1"}}\n' >"$AG/zz-bad.json"
check_out "an env name that is not a variable is refused" 'zz-bad.json: env A B' \
	sh -c "timeout 30 '$KENNELD' --socket '$T/bad.sock' --state-dir '$T/badstate' 2>&1"
rm -f "$AG/zz-bad.json"
