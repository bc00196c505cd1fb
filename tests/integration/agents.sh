#!/usr/bin/env bash
# agents.sh — agents are data (share/kennel/agents/*.json plus agents.d):
# kenneld loads them at start, refuses a bad file naming it, `kennel run`
# starts an agent's command with its environment, and when the command is
# missing says how to install it. (The real agents, Claude Code, Codex and
# Gemini CLI, are defined here; running them against fake APIs is tested
# by tests/integration/agent_*.sh.) An agent's hosts become allow-host rules of
# its new sandboxes, and its first-run files are seeded into the sandbox's
# home when missing, never through a link the sandbox planted.
. "$(dirname "$0")/../lib.sh"

AG=$T/agents.d
mkdir -p "$AG"
cat >"$AG/echoer.json" <<'JSON'
{"name": "echoer", "description": "a test agent", "command": ["/bin/sh", "-c", "echo \"echoer: $ECHOER_MODE $*\"", "echoer"],
 "env": {"ECHOER_MODE": "unattended"}, "hosts": ["API.Echoer.test.", "*.cdn.echoer.test:443"],
 "files": {".echoer/config.json": {"onboarded": true, "key": "proxy-managed"}, ".echoerrc": "mode=yolo\n"}}
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
out=$(timeout 120 "$KENNEL" run -e ECHOER_MODE=overridden -e EXTRA=1 echoer "$WS" -- x </dev/null 2>&1)
check_out "run -e replaces the agent's own setting" '^echoer: overridden x$' echo "$out"
check_out "run -e NAME without a value here is a usage error" 'ECHOER_UNSET is not set here' \
	sh -c "'$KENNEL' run -e ECHOER_UNSET echoer '$WS' 2>&1; echo rc=\$?"
check_out "... exit 2" 'rc=2$' sh -c "'$KENNEL' run -e ECHOER_UNSET echoer '$WS' 2>&1; echo rc=\$?"
# run asks for a start only when the sandbox is not running: a stopped one starts again.
"$KENNEL" stop echoer-ws >/dev/null
out=$(timeout 120 "$KENNEL" run echoer "$WS" -- again </dev/null 2>&1)
check_out "run starts a stopped sandbox again" '^echoer: unattended again$' echo "$out"
check_out "... which is running after" '"status": "running"' "$KENNEL" inspect echoer-ws

# --- hosts: allow-host rules of the agent's new sandboxes ---------------------------------
check_out "the agent's hosts are allow-host rules of its sandbox, canonical" \
	'Allow hosts: +api\.echoer\.test +\*\.cdn\.echoer\.test:443 +Block' \
	sh -c "'$KENNEL' network proxy echoer-ws | tr '\n' ' '"
check_fails "... not the default policy's" sh -c "'$KENNEL' network proxy --default | grep -q echoer"
"$KENNEL" network proxy --default --block-host api.echoer.test >/dev/null
"$KENNEL" create --name echo2 echoer "$WS" >/dev/null
check_out "a host the default policy blocks as it is stays blocked" \
	'^Block hosts: +api\.echoer\.test$' "$KENNEL" network proxy echo2
check_out "... and is not also allowed" '^Allow hosts: +\*\.cdn\.echoer\.test:443$' \
	"$KENNEL" network proxy echo2
"$KENNEL" network proxy --default --reset >/dev/null
"$KENNEL" rm -f echo2 >/dev/null

# --- files: the first-run files in the agent's home ------------------------------------------
kx() { timeout 60 "$KENNEL" exec "$@"; }
check_out "a JSON file is seeded as JSON" '"onboarded": true' kx echoer-ws cat /home/agent/.echoer/config.json
check_out "a string is seeded as it is" '^mode=yolo$' kx echoer-ws cat /home/agent/.echoerrc
check_out "the files are the agent's, 0600, in a 0700 directory" '^agent 600 agent 700$' \
	kx echoer-ws sh -c 'stat -c "%U %a" ~/.echoerrc | tr "\n" " "; stat -c "%U %a" ~/.echoer'
kx echoer-ws sh -c 'echo mine >~/.echoerrc; rm ~/.echoer/config.json'
"$KENNEL" stop echoer-ws >/dev/null
timeout 120 "$KENNEL" run echoer "$WS" </dev/null >/dev/null 2>&1
check_out "the sandbox's own copy survives a restart" '^mine$' kx echoer-ws cat /home/agent/.echoerrc
check_out "a file the sandbox deleted comes back" '"onboarded": true' kx echoer-ws cat /home/agent/.echoer/config.json
# Root inside replaces the directory with links to a host path: a daemon
# that followed them would write there on the next start.
BAIT=$T/bait
mkdir -p "$BAIT"
kx -u root echoer-ws sh -c "rm -rf /home/agent/.echoer /home/agent/.echoerrc; ln -s '$BAIT' /home/agent/.echoer; ln -s '$BAIT/rc' /home/agent/.echoerrc"
"$KENNEL" stop echoer-ws >/dev/null
timeout 120 "$KENNEL" run echoer "$WS" </dev/null >/dev/null 2>&1
check "a link the sandbox planted is not followed: nothing written on the host" \
	sh -c "[ -z \"\$(ls -A '$BAIT')\" ]"
check_out "... the directory is a directory again, seeded" '"onboarded": true' \
	kx echoer-ws cat /home/agent/.echoer/config.json
check_out "... a link in a file's place is kept as the sandbox's own" "-> $BAIT/rc" \
	kx echoer-ws ls -l /home/agent/.echoerrc
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

# A bad agent file stops the daemon, naming the file and the field. (First
# the sandboxes go: a stopped daemon leaves them running for the next one to
# adopt, and none comes here.)
for s in $("$KENNEL" ls -q); do "$KENNEL" rm -f "$s" >/dev/null; done
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
printf '{"name": "pathbad", "command": ["x"], "files": {"../etc/x": "y"}}\n' >"$AG/zz-bad.json"
check_out "a file path leaving the home is refused" 'zz-bad.json: files "../etc/x"' \
	sh -c "timeout 30 '$KENNELD' --socket '$T/bad.sock' --state-dir '$T/badstate' 2>&1"
printf '{"name": "hostbad", "command": ["x"], "hosts": ["a*b.test"]}\n' >"$AG/zz-bad.json"
check_out "a host that is not a pattern is refused" 'zz-bad.json: hosts\[0\]' \
	sh -c "timeout 30 '$KENNELD' --socket '$T/bad.sock' --state-dir '$T/badstate' 2>&1"
rm -f "$AG/zz-bad.json"
