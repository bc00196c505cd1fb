#!/usr/bin/env bash
# credentials_sandbox.sh — "you cannot steal what you never had", end to end
# from inside a real sandbox: kenneld's CA is trusted by the sandbox's tools
# without flags, HTTPS is intercepted by kennel-proxy, a secret stored with
# `kennel secret set` reaches the upstream in place of the placeholder, and
# the agent (root inside or not) finds the value nowhere: not in its
# environment, files, /proc, the decision log it can ask for, nor by talking
# to an upstream the secret is not bound to, in clear, or around the policy.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/proxy_lib.sh"

make_ca upstream-ca
make_leaf upstream-ca good "DNS:allowed.test,DNS:other.test"
make_leaf upstream-ca wrong "DNS:elsewhere.test"
tls_server_start good; GOOD=$TLS_PORT
tls_server_start wrong; WRONG=$TLS_PORT
upstream_start
start_daemon --hosts "$T/hosts" --upstream-ca "$T/upstream-ca.crt" || exit 1
WS=$T/ws
mkdir -p "$WS"
"$KENNEL" create --name cred shell "$WS" >/dev/null || { echo "FAIL create cred"; exit 1; }
"$KENNEL" network proxy cred --allow-cidr 127.0.0.0/8 >/dev/null || { echo "FAIL policy"; exit 1; }
kx() { timeout 60 "$KENNEL" exec "$@"; }

VALUE=sk-ant-e2e-$RANDOM$RANDOM$RANDOM$RANDOM
printf '%s\n' "$VALUE" | check "secret set reads the value from stdin" \
	"$KENNEL" secret set anthropic --host allowed.test --header x-api-key
check_out "secret ls shows the binding, never the value" '^anthropic .*allowed\.test.*x-api-key' \
	"$KENNEL" secret ls
check_fails "... the value is not in secret ls" sh -c "'$KENNEL' secret ls --json | grep -q '$VALUE'"

A="https://allowed.test:$GOOD/values"
# --- the sandbox's own tools trust the kennel CA without flags --------------------------
check_out "curl in the sandbox: intercepted and verified, the value injected" "^x-api-key: $VALUE\$" \
	kx cred curl -sS -m 20 -H 'x-api-key: proxy-managed' "$A"
check_out "... as root inside too" "^x-api-key: $VALUE\$" \
	kx -u root cred curl -sS -m 20 -H 'x-api-key: proxy-managed' "$A"
check_out "python urllib (SSL_CERT_FILE, HTTPS_PROXY): injected" "^x-api-key: $VALUE\$" \
	kx cred python3 -c "import urllib.request as u
r = u.Request('$A', headers={'x-api-key': 'proxy-managed'})
print(u.urlopen(r, timeout=20).read().decode(), end='')"
check_out "the leaf the sandbox sees is issued by its kennel CA" 'issuer: .*kennel' \
	kx cred sh -c "curl -sS -v -m 20 -o /dev/null '$A' 2>&1"

# --- where the value must not go -----------------------------------------------------------
check_out "a host the secret is not bound to: nothing injected" '^x-api-key: proxy-managed$' \
	kx cred curl -sS -m 20 -H 'x-api-key: proxy-managed' "https://other.test:$GOOD/values"
check_out "plain HTTP to the bound host: nothing injected" '^x-api-key: proxy-managed$' \
	kx cred curl -sS -m 20 -H 'x-api-key: proxy-managed' "http://allowed.test:$UP_PORT/values"
check_out "an upstream whose certificate does not verify: 502, nothing sent" '502' \
	kx cred sh -c "curl -sS -m 20 -o /dev/null -w '%{http_code}' -H 'x-api-key: proxy-managed' https://allowed.test:$WRONG/values 2>&1"
check_out "a Host naming another host inside the tunnel: 421, nothing sent" '^421$' \
	kx cred curl -sS -m 20 -o /dev/null -w '%{http_code}' -H "Host: other.test:$GOOD" "$A"
check_out "domain fronting (SNI other than CONNECT): refused" 'unrecognized name|alert' \
	kx cred sh -c "curl -sS -m 20 --connect-to other.test:$GOOD:allowed.test:$GOOD https://other.test:$GOOD/values 2>&1"
check_out "a redirect reaches the client: the proxy follows none" '^302$' \
	kx cred curl -sS -m 20 -o /dev/null -w '%{http_code}' "https://allowed.test:$GOOD/redirect?to=https://other.test:$GOOD/values"
check_out "... and following it to an unbound host carries no secret" '^x-api-key: proxy-managed$' \
	kx cred curl -sS -m 20 -L -H 'x-api-key: proxy-managed' "https://allowed.test:$GOOD/redirect?to=https://other.test:$GOOD/values"
FIND_PY=$(cat "$KENNEL_SRC/tests/helpers/find_value.py")
REV=$(rev <<<"$VALUE")
for u in agent root; do
	check_out "the value is nowhere the $u can read in the sandbox" '^hits: \[\]$' \
		kx -u "$u" cred python3 -c "$FIND_PY" "$REV" /proc /etc /usr/local /tmp /home /root /var /run "$WS"
done
check_fails "the sandbox cannot read the host's secrets file" kx -u root cred sh -c \
	"cat '$KENNEL_STATE/secrets.json' 2>/dev/null | grep -q -- '$VALUE'"

# --- the host side ----------------------------------------------------------------------
check_out "secrets.json is 0600 and root's" '^600 root$' stat -c '%a %U' "$KENNEL_STATE/secrets.json"
check_out "the decision log names the secret" '"secrets":\["anthropic"\]' "$KENNEL" network log cred --json
check_fails "the decision log never holds the value" sh -c "'$KENNEL' network log cred --json | grep -q -- '$VALUE'"
check_fails "kenneld's log never holds the value" grep -q -- "$VALUE" "$T/kenneld.log"
check_out "no process on the host has the value in its argv or environment" '^hits: \[\]$' \
	python3 -c "$FIND_PY" "$REV" /proc

check "secret rm" "$KENNEL" secret rm anthropic
check_out "after rm nothing is injected" '^x-api-key: proxy-managed$' \
	kx cred curl -sS -m 20 -H 'x-api-key: proxy-managed' "$A"
"$KENNEL" rm -f cred >/dev/null
