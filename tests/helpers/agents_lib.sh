# tests/helpers/agents_lib.sh — the shared half of tests/integration/agent_*.sh,
# which run a real agent CLI (installed from npm) in a kennel sandbox against a
# fake model API (tests/helpers/fake_api_*.py) that stands in for the vendor's
# host: source it after tests/lib.sh.
#
#   agents_install PKG@VERSION      npm-install the agent into a folder of its
#                       own under $AGENTS_CACHE (default
#                       /var/cache/kennel-tests/agents; kept between runs);
#                       sets AGENT_DIR and AGENTS_BIN. Fails, saying why,
#                       without npm or when the registry is unreachable.
#   fake_api_start VENDOR HOST      a test CA, a certificate for HOST, and
#                       fake_api_VENDOR.py listening on ADDR:443, ADDR a fresh
#                       127.x.y.z; kenneld started with --hosts (HOST -> ADDR)
#                       and --upstream-ca; the default policy of new sandboxes
#                       "deny" with 127.0.0.0/8 opened, so the agent's own
#                       hosts (agents.h) are its only way out. Sets FAKE_LOG.
#   agent_sandbox AGENT NAME        create sandbox NAME for AGENT in $WS with
#                       $AGENT_DIR as a read-only workspace
#   agent_run NAME VAR=KEY ARGS...  `kennel run -e PATH=... NAME -- ARGS` with
#                       the key in the caller's environment, as a user runs it;
#                       output in $T/agent.out, status in AGENT_RC
#   agent_checks NAME HOST HEADER KEY   the checks every agent must pass (below)
#
# The model asks the agent to run $TOOL_CMD, which writes $WS/tool-ran; the
# fake's final answer is $DONE.

AGENTS_CACHE=${AGENTS_CACHE:-/var/cache/kennel-tests/agents}
# The agents' API servers must not stall a test forever.
AGENT_TIMEOUT=${AGENT_TIMEOUT:-300}
DONE=KENNEL-AGENT-DONE
WS=$T/ws
mkdir -p "$WS"
# No $(...): Gemini CLI refuses command substitution in a tool call.
TOOL_CMD="hostname > $WS/tool-ran && id -u >> $WS/tool-ran && pwd >> $WS/tool-ran"

agents_install() {
	command -v npm >/dev/null || { echo "agents_install: npm is not installed (tools/install-deps)"; return 1; }
	AGENT_DIR=$AGENTS_CACHE/$(printf '%s' "$1" | tr -c 'a-zA-Z0-9._-' '_')
	AGENTS_BIN=$AGENT_DIR/node_modules/.bin
	[ -f "$AGENT_DIR/kennel-installed" ] && return 0
	rm -rf "$AGENT_DIR"
	mkdir -p "$AGENT_DIR"
	# --prefix: a project of its own, nothing of the host's global tree.
	if ! timeout 600 npm install --prefix "$AGENT_DIR" --no-audit --no-fund --loglevel=error \
		"$1" >"$T/npm.log" 2>&1; then
		echo "agents_install: npm install $1 failed:"
		tail -20 "$T/npm.log" | sed 's/^/    /'
		return 1
	fi
	touch "$AGENT_DIR/kennel-installed"
}

fake_api_start() {
	local vendor=$1 host=$2
	FAKE_ADDR=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
	FAKE_LOG=$T/fake-$vendor.jsonl
	: >"$FAKE_LOG"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$T/api-ca.key" -out "$T/api-ca.crt" -subj "/CN=kennel test API CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
		>/dev/null 2>&1 || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/api.key" \
		-out "$T/api.csr" -subj "/CN=$host" >/dev/null 2>&1 || return 1
	openssl x509 -req -in "$T/api.csr" -CA "$T/api-ca.crt" -CAkey "$T/api-ca.key" \
		-CAcreateserial -days 2 -out "$T/api.crt" \
		-extfile <(printf 'subjectAltName=DNS:%s\n' "$host") >/dev/null 2>&1 || return 1
	python3 "$KENNEL_SRC/tests/helpers/fake_api_$vendor.py" --listen "$FAKE_ADDR:443" \
		--cert "$T/api.crt" --key "$T/api.key" --log "$FAKE_LOG" --command "$TOOL_CMD" \
		--done "$DONE" >"$T/fake.out" 2>&1 &
	FAKE_PID=$!
	for _ in $(seq 1 100); do
		grep -q '^listening' "$T/fake.out" && break
		kill -0 "$FAKE_PID" 2>/dev/null || { echo "FAIL fake API:"; cat "$T/fake.out"; return 1; }
		sleep 0.1
	done
	printf '%s %s\n' "$FAKE_ADDR" "$host" >"$T/agent-hosts"
	start_daemon --hosts "$T/agent-hosts" --upstream-ca "$T/api-ca.crt" || return 1
	"$KENNEL" network proxy --default --policy deny --allow-cidr 127.0.0.0/8 >/dev/null
}

agent_sandbox() {
	"$KENNEL" create --name "$2" "$1" "$WS" "$AGENT_DIR:ro" >/dev/null
}

agent_run() {
	local name=$1 key=$2
	shift 2
	env "$key" timeout "$AGENT_TIMEOUT" "$KENNEL" run \
		-e PATH="$AGENTS_BIN:/usr/local/bin:/usr/bin:/bin" "$name" -- "$@" \
		</dev/null >"$T/agent.out" 2>&1
	AGENT_RC=$?
}

# What every agent run must show: its sandbox allows HOST and nothing else
# (the agent's "hosts" on a deny default); it finished with the model's answer; the
# tool ran inside the sandbox (hostname, agent uid, the workspace); the API
# got the real key in HEADER on every request and never the placeholder; no
# connection left the sandbox but to HOST; the key is nowhere the sandbox
# can read.
agent_checks() {
	local name=$1 host=$2 header=$3 key=$4
	check_out "the sandbox's policy allows the agent's API host and denies the rest" \
		"Default: +deny Allow hosts: +$host Block" \
		sh -c "'$KENNEL' network proxy '$name' | tr '\n' ' ' | tr -s ' '"
	check "the agent exits 0" test "$AGENT_RC" -eq 0 || sed 's/^/    /' "$T/agent.out" | tail -30
	check_out "... with the model's final answer" "$DONE" cat "$T/agent.out"
	check_out "the tool call ran inside the sandbox, as the agent, in the workspace" \
		"^$name 1000 $WS \$" sh -c "tr '\n' ' ' <'$WS/tool-ran'"
	check_out "the fake API got model requests" '^[1-9]' \
		python3 -c 'import json, sys; print(sum(1 for l in open(sys.argv[1])))' "$FAKE_LOG"
	check_out "every request carried the real key in $header, injected by kennel-proxy" '^ok$' \
		python3 - "$FAKE_LOG" "$header" "$key" <<'PY'
import json, sys
bad = [e["path"] + " " + str(e["headers"].get(sys.argv[2])) for e in map(json.loads, open(sys.argv[1]))
       if sys.argv[3] not in (e["headers"].get(sys.argv[2]) or "")]
print("ok" if not bad else "without the key: %s" % bad)
PY
	check_fails "... never the placeholder" grep -q proxy-managed "$FAKE_LOG"
	check_out "nothing else left the sandbox: every allowed connection went to $host" '^ok$' \
		sh -c "'$KENNEL' network log --json --limit 10000 '$name' | python3 -c '
import json, sys
seen = [json.loads(l) for l in sys.stdin]
out = [d for d in seen if d.get(\"decision\") == \"allow\" and d.get(\"host\") != \"$host\"]
print(\"ok\" if seen and not out else \"other: %s\" % (out or \"no decision logged\"))'"
	local rev
	rev=$(rev <<<"$key")
	check_out "the key is nowhere the agent can read in the sandbox" '^hits: \[\]$' \
		timeout 120 "$KENNEL" exec "$name" python3 -c "$(cat "$KENNEL_SRC/tests/helpers/find_value.py")" \
		"$rev" /proc /etc /tmp /home /root /run "$WS"
}

agents_cleanup() {
	[ -z "${FAKE_PID:-}" ] || { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }
	cleanup
}
trap agents_cleanup EXIT
