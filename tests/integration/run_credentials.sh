#!/usr/bin/env bash
# run_credentials.sh — `kennel run` takes the caller's API keys for the known
# services (share/kennel/services.json, plus services.d files) and turns each
# into a secret bound to the sandbox: the agent sees VAR=proxy-managed, the
# service's hosts get the real key from kennel-proxy. The API hosts are
# mapped to a test server on 127.0.0.1 with kenneld --hosts; nothing leaves
# the machine.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/proxy_lib.sh"

NAMES="api.anthropic.com api.openai.com generativelanguage.googleapis.com api.github.com github.com acme.test"
echo "127.0.0.1 $NAMES" >>"$T/hosts"
make_ca upstream-ca
make_leaf upstream-ca services "$(printf 'DNS:%s,' $NAMES | sed 's/,$//')"
tls_server_start services; P=$TLS_PORT
start_daemon --hosts "$T/hosts" --upstream-ca "$T/upstream-ca.crt" || exit 1
"$KENNEL" network proxy --default --allow-cidr 127.0.0.0/8 >/dev/null
WS=$T/ws
mkdir -p "$WS"

K1=sk-ant-$RANDOM$RANDOM$RANDOM K2=sk-oai-$RANDOM$RANDOM K3=gem-$RANDOM$RANDOM K4=ghp_$RANDOM$RANDOM
SCRIPT='echo "vars $ANTHROPIC_API_KEY $OPENAI_API_KEY $GEMINI_API_KEY $GH_TOKEN"
for u in "x-api-key: $ANTHROPIC_API_KEY|https://api.anthropic.com:'$P'" \
         "Authorization: Bearer $OPENAI_API_KEY|https://api.openai.com:'$P'" \
         "x-goog-api-key: $GEMINI_API_KEY|https://generativelanguage.googleapis.com:'$P'" \
         "Authorization: Bearer $GH_TOKEN|https://api.github.com:'$P'"; do
	curl -sS -m 20 -H "${u%%|*}" "${u#*|}/values" | grep -E "^(x-api-key|authorization|x-goog-api-key):"
done'
out=$(ANTHROPIC_API_KEY=$K1 OPENAI_API_KEY=$K2 GEMINI_API_KEY=$K3 GH_TOKEN=$K4 \
	timeout 120 "$KENNEL" run --name runcred shell "$WS" -- -c "$SCRIPT" </dev/null 2>&1)
check_out "the agent sees placeholders, never the keys" \
	'^vars proxy-managed proxy-managed proxy-managed proxy-managed$' echo "$out"
check_out "Anthropic gets the key as x-api-key" "^x-api-key: $K1\$" echo "$out"
check_out "OpenAI gets it as a bearer token" "^authorization: Bearer $K2\$" echo "$out"
check_out "Gemini gets it as x-goog-api-key" "^x-goog-api-key: $K3\$" echo "$out"
check_out "GitHub's API gets GH_TOKEN as a bearer token" "^authorization: Bearer $K4\$" echo "$out"
B64=$(printf 'x-access-token:%s' "$K4" | base64 -w0)
check_out "github.com (git over HTTPS) gets it as Basic x-access-token credentials" "^authorization: Basic $B64\$" \
	timeout 60 "$KENNEL" exec runcred curl -sS -m 20 "https://github.com:$P/values"
check_out "a variable's second credential is SANDBOX.VAR.2" '^runcred\.GH_TOKEN\.2 +github\.com +Authorization +Basic \{basic:x-access-token\}' \
	"$KENNEL" secret ls
check_out "the keys are secrets bound to the sandbox" \
	'^runcred\.ANTHROPIC_API_KEY +api\.anthropic\.com +x-api-key +\{\} +runcred' "$KENNEL" secret ls
check_out "... one per credential whose variable was set" '^5$' sh -c "'$KENNEL' secret ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'"

# Another sandbox, run without keys, gets none of them.
out=$(timeout 120 "$KENNEL" run --name nokeys shell "$WS" -- -c \
	"echo \"var [\$ANTHROPIC_API_KEY]\"; curl -sS -m 20 -H 'x-api-key: mine' https://api.anthropic.com:$P/values" </dev/null 2>&1)
check_out "without the variable the agent sees none" '^var \[\]$' echo "$out"
check_out "... and another sandbox's key is never sent for it" '^x-api-key: mine$' echo "$out"

# A second run with a new key replaces the stored one.
K1B=sk-ant-new-$RANDOM$RANDOM
out=$(ANTHROPIC_API_KEY=$K1B timeout 120 "$KENNEL" run runcred -- -c \
	"curl -sS -m 20 -H 'x-api-key: proxy-managed' https://api.anthropic.com:$P/values" </dev/null 2>&1)
check_out "a later run with a new key replaces it" "^x-api-key: $K1B\$" echo "$out"

# Services are data: a services.d file adds one.
mkdir -p "$T/services.d"
cat >"$T/services.d/acme.json" <<'JSON'
{"services": [{"name": "acme", "hosts": ["acme.test"],
  "credentials": [{"env": "ACME_TOKEN", "header": "X-Acme-Token", "format": "token {}"}]}]}
JSON
out=$(KENNEL_SERVICES_DIR=$T/services.d ACME_TOKEN=acme-$RANDOM$RANDOM timeout 120 "$KENNEL" run runcred -- -c \
	"echo \"acme \$ACME_TOKEN\"; curl -sS -m 20 https://acme.test:$P/values" </dev/null 2>&1)
check_out "a service from services.d: placeholder inside" '^acme proxy-managed$' echo "$out"
check_out "... and its header injected with its format" '^x-acme-token: token acme-[0-9]+$' echo "$out"
echo '{"services": [{"name": "bad", "hosts": ["x.test"], "credentials": [{"env": "X", "header": "Host"}]}]}' \
	>"$T/services.d/zz-bad.json"
out=$(KENNEL_SERVICES_DIR=$T/services.d timeout 60 "$KENNEL" run runcred -- -c 'echo RAN' </dev/null 2>&1)
rc=$?
check_out "a bad services file stops run, naming the file and the field" 'zz-bad.json: service bad: "header"' echo "$out"
check_fails "... and nothing ran" grep -q RAN <<<"$out"
check "... with exit status 1" test "$rc" -eq 1

check "rm removes the sandbox" "$KENNEL" rm -f runcred
check_fails "... and its secrets" sh -c "'$KENNEL' secret ls | grep -q runcred"
"$KENNEL" rm -f nokeys >/dev/null
