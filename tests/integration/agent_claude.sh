#!/usr/bin/env bash
# agent_claude.sh — Claude Code, installed from npm, run with `kennel run` in a
# sandbox against a fake Anthropic API (tests/helpers/fake_api_anthropic.py)
# that kennel-proxy reaches as api.anthropic.com: the shipped agent definition
# (share/kennel/agents/claude.json) is enough for it to run unattended, both
# with -p and in its terminal UI; its tool call runs inside the sandbox, the
# API gets the caller's ANTHROPIC_API_KEY injected, and nothing else leaves.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/agents_lib.sh"

HOST=api.anthropic.com
KEY=sk-ant-kennel-test-$RANDOM$RANDOM$RANDOM
agents_install @anthropic-ai/claude-code@2.1.197 || { echo "FAIL install claude-code from npm"; exit 1; }
fake_api_start anthropic "$HOST" || exit 1
agent_sandbox claude cl || { echo "FAIL create"; exit 1; }
agent_run cl ANTHROPIC_API_KEY="$KEY" -p "run the command"
agent_checks cl "$HOST" x-api-key "$KEY"
check_out "the tool's result went back to the model" '"tool_result"' cat "$FAKE_LOG"

# The terminal UI: no onboarding, key approval, trust or bypass-mode question
# stands between `kennel run claude` and the prompt.
rm -f "$WS/tool-ran"
: >"$FAKE_LOG"
tui_py='import os, pty, select, subprocess, sys, time
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
seen, typed, deadline = b"", 0, time.time() + 240
def wait_for(needle, t):
    global seen
    end = min(deadline, time.time() + t)
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            seen += data
        if needle in seen:
            return True
    return False
ok = wait_for(b"\xe2\x9d\xaf", 90)  # the prompt sign
print("prompt" if ok else "no prompt")
if ok:
    time.sleep(1)
    os.write(fd, b"run the command")
    time.sleep(0.5)
    os.write(fd, b"\r")
    print("done" if wait_for(b"KENNEL-AGENT-DONE", 120) else "no answer")
    os.write(fd, b"/exit")
    time.sleep(0.5)
    os.write(fd, b"\r")
    wait_for(b"\x00never", 15)
os.kill(pid, 9) if os.waitpid(pid, os.WNOHANG)[0] == 0 else None
text = seen.decode("utf-8", "replace")
for word in ("trust this folder", "Detected a custom API key", "Bypass Permissions mode", "theme"):
    if word in text:
        print("asked:", word)'
env ANTHROPIC_API_KEY="$KEY" python3 -c "$tui_py" "$KENNEL" run \
	-e PATH="$AGENTS_BIN:/usr/local/bin:/usr/bin:/bin" cl >"$T/tui.out" 2>&1
check_out "the terminal UI starts straight at its prompt" '^prompt$' cat "$T/tui.out"
check_fails "... asking nothing first" grep -q '^asked:' "$T/tui.out"
check_out "a prompt typed there runs the tool in the sandbox" '^done$' cat "$T/tui.out"
check_out "... which wrote the workspace" "^cl 1000 $WS \$" sh -c "tr '\\n' ' ' <'$WS/tool-ran'"
check_out "... with the key injected" "$KEY" cat "$FAKE_LOG"
