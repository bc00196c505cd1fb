# secrets.sh — the credential store (issue 4, part 2): `kennel secret
# set|ls|rm` and PUT/GET/DELETE /secrets. Values go in through standard input
# or the caller's environment, are kept in STATE/secrets.json (0600, root) and
# in kennel-proxy, and come out nowhere else: not in listings, answers, error
# messages, logs, argv, or anything a sandbox can read. Every value here is a
# random canary so that a leak anywhere is found by grepping for it. At the
# end, the whole path: a request from inside a sandbox reaches the (TLS test)
# server with the secret's header, which the sandbox never had.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/proxy_lib.sh"

canary() { echo "kennel-secret-$1-$$-$RANDOM$RANDOM"; }
V1=$(canary one)
V2=$(canary two)
V3=$(canary three)
FILE=$KENNEL_STATE/secrets.json
mkdir -p "$T/ws"
tls_upstream_start
start_daemon --hosts "$T/hosts" --upstream-ca "$T/ca.pem" || exit 1
"$KENNEL" create --name sec shell "$T/ws" >/dev/null || echo "FAIL create sec"
kx() { timeout 60 "$KENNEL" exec "$@"; }

# --- set, from standard input and from the environment -----------------------------------
check_out set_from_stdin '^anthropic$' sh -c "echo '$V1' | '$KENNEL' secret set --host api.anthropic.com \
	--host '*.anthropic.com' --header x-api-key anthropic"
check_out set_from_env '^gh$' env "GH_TOKEN_FOR_TEST=$V2" "$KENNEL" secret set --from-env GH_TOKEN_FOR_TEST \
	--host 'github.com:443' --host 'API.GitHub.com.' --header Authorization --format 'Bearer {}' --sandbox sec gh
check_out set_from_env_unset 'not set' "$KENNEL" secret set --from-env NO_SUCH_VAR_$$ --host x.test --header h x
check_out value_never_an_argument 'never from the command line' "$KENNEL" secret set --host x.test \
	--header h x "$V3"
check_out set_needs_host 'at least one --host' sh -c "echo v | '$KENNEL' secret set --header h x"
check_out set_needs_header '--header is required' sh -c "echo v | '$KENNEL' secret set --host x.test x"
check_out set_empty_stdin 'no value on standard input' sh -c "'$KENNEL' secret set --host x.test --header h x </dev/null"

# --- what ls and the API show: everything but the value -------------------------------------
"$KENNEL" secret ls >"$T/ls.txt" 2>&1
check_out ls_header '^NAME +HOSTS +HEADER +FORMAT +SANDBOX$' head -n 1 "$T/ls.txt"
check_out ls_anthropic '^anthropic +api\.anthropic\.com,\*\.anthropic\.com +x-api-key +\{\} +-$' cat "$T/ls.txt"
check_out ls_gh_canonical_hosts '^gh +github\.com:443,api\.github\.com +Authorization +Bearer \{\} +sec$' cat "$T/ls.txt"
"$KENNEL" secret ls --json >"$T/ls.json"
check ls_json jtest "[s['name'] for s in j] == ['anthropic', 'gh'] and all('value' not in s for s in j) \
	and j[1]['sandbox'] == 'sec' and j[0]['sandbox'] is None" "$(cat "$T/ls.json")"
api GET /secrets
check api_list jtest "[s['name'] for s in j['secrets']] == ['anthropic', 'gh'] and \
	all(set(s) == {'name', 'hosts', 'header', 'format', 'sandbox'} for s in j['secrets'])"
api GET /secrets/gh
check api_get_one jtest "j == {'name': 'gh', 'hosts': ['github.com:443', 'api.github.com'], \
	'header': 'Authorization', 'format': 'Bearer {}', 'sandbox': 'sec'}"
api GET /secrets/nope
check_out api_get_unknown '^404$' echo "$code"

# --- the API: PUT creates (201) and replaces (200) ----------------------------------------------
api PUT /secrets/openai "{\"value\":\"$V3\",\"hosts\":[\"api.openai.com\"],\"header\":\"Authorization\",\"format\":\"Bearer {}\"}"
check_out api_put_created '^201$' echo "$code"
check api_put_answer_has_no_value jtest "'value' not in j and j['name'] == 'openai'"
api PUT /secrets/openai "{\"value\":\"$V3\",\"hosts\":[\"*.openai.com\"],\"header\":\"Authorization\"}"
check_out api_put_replaced '^200$' echo "$code"
check api_put_replaced_hosts jtest "j['hosts'] == ['*.openai.com'] and j['format'] == '{}'"
api DELETE /secrets
check_out api_delete_collection_405 '^405$' echo "$code"

# --- refusals: a sentence naming the field, never the value --------------------------------------
refused() { # NAME BODY [PATH]
	api PUT "${3:-/secrets/bad}" "$2"
	if [ "$code" = 400 ] && jtest 'is_error(j)' && ! grep -qF "$V3" <<<"$body"; then pass "refuse_$1"
	else fail "refuse_$1" "$code $body"; fi
}
ok_fields="\"hosts\":[\"x.test\"],\"header\":\"x-key\""
refused value_newline "{\"value\":\"a\\n$V3\",$ok_fields}"
refused value_cr "{\"value\":\"$V3\\r\",$ok_fields}"
refused value_nul "{\"value\":\"$V3\\u0000\",$ok_fields}"
refused value_non_ascii "{\"value\":\"$V3\\u00e9\",$ok_fields}"
refused value_empty "{\"value\":\"\",$ok_fields}"
refused value_too_long "{\"value\":\"$(head -c 8193 /dev/zero | tr '\0' a)\",$ok_fields}"
refused value_missing "{$ok_fields}"
refused value_not_string "{\"value\":42,$ok_fields}"
for h in Host Content-Length Transfer-Encoding connection Upgrade TE Trailer Keep-Alive Expect \
	Proxy-Authorization; do
	refused "header_$h" "{\"value\":\"$V3\",\"hosts\":[\"x.test\"],\"header\":\"$h\"}"
done
refused header_not_token "{\"value\":\"$V3\",\"hosts\":[\"x.test\"],\"header\":\"x key\"}"
refused header_crlf "{\"value\":\"$V3\",\"hosts\":[\"x.test\"],\"header\":\"x\\r\\nHost: evil\"}"
refused header_too_long "{\"value\":\"$V3\",\"hosts\":[\"x.test\"],\"header\":\"$(head -c 65 /dev/zero | tr '\0' h)\"}"
refused format_without_slot "{\"value\":\"$V3\",$ok_fields,\"format\":\"Bearer\"}"
refused format_two_slots "{\"value\":\"$V3\",$ok_fields,\"format\":\"{} {}\"}"
refused format_crlf "{\"value\":\"$V3\",$ok_fields,\"format\":\"{}\\r\\nX: y\"}"
refused hosts_empty "{\"value\":\"$V3\",\"hosts\":[],\"header\":\"x\"}"
refused hosts_bad_pattern "{\"value\":\"$V3\",\"hosts\":[\"a.*.test\"],\"header\":\"x\"}"
refused hosts_too_many "{\"value\":\"$V3\",\"hosts\":[$(for i in $(seq 1 33); do printf '"h%d.test",' "$i"; done)\"x.test\"],\"header\":\"x\"}"
refused sandbox_bad_name "{\"value\":\"$V3\",$ok_fields,\"sandbox\":\"../x\"}"
refused unknown_field "{\"value\":\"$V3\",$ok_fields,\"values\":\"x\"}"
refused bad_json "{\"value\":\"$V3\", oops}"
refused name_bad "{\"value\":\"$V3\",$ok_fields}" "/secrets/a%20b"
refused name_too_long "{\"value\":\"$V3\",$ok_fields}" "/secrets/$(head -c 129 /dev/zero | tr '\0' n)"
check_out cli_bad_name "invalid secret name" sh -c "echo v | '$KENNEL' secret set --host x.test --header h 'a/b'"
check_out cli_refusal_exit_1 '^1$' sh -c "printf 'a\\001b\\n' | '$KENNEL' secret set --host x.test --header h x >/dev/null 2>&1; echo \$?"
check_out refusals_changed_nothing '^anthropic gh openai $' sh -c "'$KENNEL' secret ls --json | \
	python3 -c 'import json,sys; print(\" \".join(s[\"name\"] for s in json.load(sys.stdin)), end=\" \")'"

# --- the file --------------------------------------------------------------------------------------
check_out file_mode_owner '^600 root root$' stat -c '%a %U %G' "$FILE"
check file_holds_the_values sh -c "grep -qF '$V1' '$FILE' && grep -qF '$V2' '$FILE' && grep -qF '$V3' '$FILE'"
check_fails no_temp_files_left sh -c "ls -A '$KENNEL_STATE' | grep -q 'secrets.json.tmp'"

# --- the table must fit one proxy control message ----------------------------------------------------
BIG=$(head -c 8192 /dev/zero | tr '\0' b)
for i in 1 2 3 4 5 6 7; do
	api PUT "/secrets/big$i" "{\"value\":\"$BIG\",\"hosts\":[\"big.test\"],\"header\":\"x\"}"
	[ "$code" = 201 ] || { fail "big_secret_$i" "$code $body"; break; }
done
api PUT /secrets/big8 "{\"value\":\"$BIG\",\"hosts\":[\"big.test\"],\"header\":\"x\"}"
check_out table_over_budget_413 '^413 .*control message' echo "$code $body"
for i in 1 2 3 4 5 6 7; do api DELETE "/secrets/big$i"; done
check_out big_ones_removed '^200$' echo "$code"

# --- persistence ------------------------------------------------------------------------------------
stop_daemon
start_daemon --hosts "$T/hosts" --upstream-ca "$T/ca.pem" || exit 1
check_out survive_restart '^anthropic gh openai $' sh -c "'$KENNEL' secret ls --json | \
	python3 -c 'import json,sys; print(\" \".join(s[\"name\"] for s in json.load(sys.stdin)), end=\" \")'"

# --- rm ---------------------------------------------------------------------------------------------
check_out rm_prints_name '^openai$' "$KENNEL" secret rm openai
check_out rm_unknown_fails 'no such secret: openai' "$KENNEL" secret rm openai
check_fails rm_gone_from_file grep -qF "$V3" "$FILE"
api DELETE /secrets/openai
check_out api_delete_unknown_404 '^404$' echo "$code"

# --- nowhere else ------------------------------------------------------------------------------------
# The canaries go to grep in a file, so that no searching command's argv holds them.
printf '%s\n' "$V1" "$V2" "$V3" >"$T/canaries"
leaks() { grep -lsF -f "$T/canaries" "$@"; }  # prints the files that hold a value
check ls_never_shows_values none leaks "$T/ls.txt" "$T/ls.json"
check daemon_log_clean none leaks "$T/kenneld.log"
check decision_log_clean none leaks "$KENNEL_STATE/proxy/decisions.log"
"$KENNEL" inspect sec >"$T/inspect.json" 2>&1
check inspect_clean none leaks "$T/inspect.json"
check state_dir_only_secrets_json none sh -c "grep -rlsF -f '$T/canaries' '$KENNEL_STATE' | grep -vx '$FILE'"
# argv and environment of every process on the host, kennel's and the proxy's
# included (this script holds the canaries in shell variables, not exported).
check no_argv_holds_a_value none sh -c "grep -lsF -f '$T/canaries' /proc/[0-9]*/cmdline; true"
proxy_pid=$(pgrep -u kennel-proxy -P "$DAEMON_PID" -x kennel-proxy | head -1)
check_out proxy_running '^[0-9]+$' echo "${proxy_pid:-none}"
check proxy_environ_clean none leaks "/proc/${proxy_pid:-0}/environ" "/proc/${proxy_pid:-0}/cmdline"
check daemon_environ_clean none leaks "/proc/$DAEMON_PID/environ" "/proc/$DAEMON_PID/cmdline"
# Inside a sandbox, as the agent and as root: not in files, its environment or
# its init's; the state file is not there at all. The canaries come in on stdin.
for u in agent root; do
	check "sandbox_cannot_see_values_$u" none sh -c "timeout 60 '$KENNEL' exec -i -u $u sec sh -c \
		'grep -rlsF -f - /etc /home /root /tmp /run /proc/1/environ /proc/self/environ; true' \
		<'$T/canaries'"
	check_out "sandbox_no_secrets_file_$u" '^absent$' kx -u "$u" sec sh -c \
		"test -e '$FILE' && echo present || echo absent"
done
# The proxy takes the table (op "secrets"; proxy-protocol.md): no refusal logged.
check_fails proxy_took_the_secrets grep -q 'did not take them\|proxy: secrets:' "$T/kenneld.log"

# --- a damaged store stops the daemon, naming the file, not the value ---------------------------------
stop_daemon
cp "$FILE" "$T/secrets.good"
"$PYTHON" - "$FILE" "$V1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["secrets"][0]["value"] = sys.argv[2] + "\n"
json.dump(d, open(sys.argv[1], "w"))
EOF
out=$(timeout 20 "$KENNELD" --socket "$T/kenneld.sock" --state-dir "$KENNEL_STATE" 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && grep -q "secrets.json: secret 1: the value must be" <<<"$out" && ! grep -qF "$V1" <<<"$out"; then
	pass damaged_store_stops_daemon
else
	fail damaged_store_stops_daemon "exit $rc" "$(sed "s/$V1/<VALUE>/g" <<<"$out")"
fi
cp "$T/secrets.good" "$FILE"
start_daemon --hosts "$T/hosts" --upstream-ca "$T/ca.pem" || exit 1
check_out good_store_loads_again '^gh$' sh -c "'$KENNEL' secret ls --json | python3 -c \
	'import json,sys; print(json.load(sys.stdin)[1][\"name\"])'"

# --- the whole path: injected on the way out, never seen inside ------------------------------
check allow_test_server "$KENNEL" network proxy sec --allow-cidr 127.0.0.0/8
check_out set_for_test_server '^tsecret$' sh -c "echo '$V1' | '$KENNEL' secret set --host allowed.test \
	--header x-kennel-test --format 'Bearer {}' --sandbox sec tsecret"
check_out injected_header_reaches_server '^x-kennel-test$' \
	kx sec curl -s -S -m 20 "https://allowed.test:$TLS_PORT/headers"
check_out not_for_another_sandbox '^gone$' sh -c "'$KENNEL' create --name sec2 shell '$T/ws' >/dev/null &&
	'$KENNEL' network proxy sec2 --allow-cidr 127.0.0.0/8 >/dev/null &&
	timeout 60 '$KENNEL' exec sec2 curl -s -m 20 'https://allowed.test:$TLS_PORT/headers' | grep -q x-kennel-test &&
	echo present || echo gone"
check_out decision_log_names_the_secret '"tsecret"' cat "$KENNEL_STATE/proxy/decisions.log"
check decision_log_still_clean none leaks "$KENNEL_STATE/proxy/decisions.log"
