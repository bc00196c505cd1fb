# sandbox_ca.sh — the per-sandbox kennel CA (TLS interception, issue 4), from
# the host and from inside real sandboxes: the pair in the state folder (modes,
# owner, a CA:TRUE P-256 certificate), the sandbox's trust store (the host's
# bundle plus the kennel CA, kennel-ca.crt alone, hash links) and environment,
# the key out of reach, writes that change only the sandbox's own copy, two
# sandboxes with two CAs, state older than CAs, adoption, removal, --image
# bases, kenneld --upstream-ca, and HTTPS from inside through kennel-proxy's
# interception to a test server whose private CA only --upstream-ca names.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/proxy_lib.sh"

HOST_BUNDLE=/etc/ssl/certs/ca-certificates.crt
BUNDLE=/etc/ssl/certs/ca-certificates.crt
CAFILE=/usr/local/share/ca-certificates/kennel-ca.crt
WS=$T/ws
mkdir -p "$WS" "$T/ws2"
kx() { timeout 60 "$KENNEL" exec "$@"; }
host_sum() { sha256sum <"$HOST_BUNDLE" 2>/dev/null; }
HOST_SUM=$(host_sum)
certs_in() { grep -c -- '-----BEGIN CERTIFICATE-----' "$@"; }
# The certificate's base64 body as one line: how the CA is looked for in text.
body_of() { sed '1d;$d' "$1" | tr -d '\n'; }
contains_ca() { # FILE CERT: FILE holds CERT's PEM
	local b
	b=$(body_of "$2")
	[ -n "$b" ] && sed '/-----/d' "$1" | tr -d '\n' | grep -qF -- "$b"
}

tls_upstream_start
start_daemon --hosts "$T/hosts" || exit 1
"$KENNEL" create --name ca1 shell "$WS" >/dev/null || { echo "FAIL create ca1"; exit 1; }
SD=$KENNEL_STATE/sandboxes/ca1

# --- the pair in the sandbox's state folder --------------------------------------------
check_out key_mode_and_owner '^400 kennel-proxy kennel-proxy$' stat -c '%a %U %G' "$SD/ca.key"
check_out cert_mode_and_owner '^644 root root$' stat -c '%a %U %G' "$SD/ca.crt"
check_out key_is_pkcs8_pem '^-----BEGIN PRIVATE KEY-----$' head -n 1 "$SD/ca.key"
openssl x509 -noout -text -in "$SD/ca.crt" >"$T/ca1.txt" 2>&1
check_out cert_ca_true_pathlen_0 'CA:TRUE, pathlen:0' cat "$T/ca1.txt"
check_out cert_basic_constraints_critical 'Basic Constraints: critical' cat "$T/ca1.txt"
check_out cert_key_usage 'Certificate Sign, CRL Sign' cat "$T/ca1.txt"
check_out cert_p256 'NIST CURVE: P-256' cat "$T/ca1.txt"
check_out cert_v3 'Version: 3 ' cat "$T/ca1.txt"
check_out cert_ski 'Subject Key Identifier' cat "$T/ca1.txt"
SERIAL=$(openssl x509 -noout -serial -in "$SD/ca.crt" | cut -d= -f2)
CN="kennel sandbox CA $(tr 'A-F' 'a-f' <<<"${SERIAL: -8}")"
check_out cert_subject "^subject=O = kennel, CN = $CN\$" \
	openssl x509 -noout -subject -in "$SD/ca.crt"
check_out cert_self_signed "^$SD/ca.crt: OK\$" openssl verify -CAfile "$SD/ca.crt" "$SD/ca.crt"
check_out cert_ten_years '20(3[6-7])' openssl x509 -noout -enddate -in "$SD/ca.crt"
check key_matches_cert cmp -s <(openssl pkey -in "$SD/ca.key" -pubout 2>/dev/null) \
	<(openssl x509 -in "$SD/ca.crt" -noout -pubkey)
FP=$(openssl x509 -noout -fingerprint -sha256 -in "$SD/ca.crt" | cut -d= -f2)
"$KENNEL" inspect ca1 >"$T/inspect.json"
check inspect_shows_ca jtest "j[0]['ca'] == {'cert': '$SD/ca.crt', 'sha256': '$FP'}" "$(cat "$T/inspect.json")"
check_out daemon_logs_new_ca "sandbox ca1: new kennel CA \\(SHA-256 $FP\\)" cat "$T/kenneld.log"

# --- the sandbox's trust store --------------------------------------------------------
kx ca1 cat "$CAFILE" >"$T/in-ca.crt"
check kennel_ca_file_is_the_state_cert cmp "$T/in-ca.crt" "$SD/ca.crt"
kx ca1 cat "$BUNDLE" >"$T/in-bundle.crt"
check bundle_holds_kennel_ca contains_ca "$T/in-bundle.crt" "$SD/ca.crt"
if [ -f "$HOST_BUNDLE" ]; then
	check bundle_starts_with_host_bundle cmp -n "$(stat -c %s "$HOST_BUNDLE")" "$HOST_BUNDLE" "$T/in-bundle.crt"
	check_out bundle_is_host_certs_plus_one "^$(($(certs_in "$HOST_BUNDLE") + 1))\$" certs_in "$T/in-bundle.crt"
else
	check_out bundle_is_kennel_ca_alone '^1$' certs_in "$T/in-bundle.crt"
fi
check_out bundle_mode_inside '^644 root root$' kx ca1 stat -c '%a %U %G' "$BUNDLE"
check_out kennel_ca_file_mode_inside '^644 root root$' kx ca1 stat -c '%a %U %G' "$CAFILE"
check_out openssl_cafile_verifies ': OK$' kx ca1 openssl verify -CAfile "$BUNDLE" "$CAFILE"
check_out openssl_capath_verifies ': OK$' kx ca1 openssl verify -CApath /etc/ssl/certs "$CAFILE"
check_out inside_text_ca_true 'CA:TRUE' kx ca1 openssl x509 -noout -text -in "$CAFILE"
check_out inside_text_p256 'NIST CURVE: P-256' kx ca1 openssl x509 -noout -text -in "$CAFILE"
check_out python_default_context_trusts_it '^True$' kx ca1 python3 -c '
import ssl
c = ssl.create_default_context()
print(any(("commonName", "'"$CN"'") in [a for rdn in x["subject"] for a in rdn] for x in c.get_ca_certs()))'

# --- the environment ---------------------------------------------------------------------
check_out env_NODE_EXTRA_CA_CERTS "^NODE_EXTRA_CA_CERTS=$CAFILE\$" kx ca1 sh -c 'env | grep ^NODE_EXTRA_CA_CERTS='
for v in SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE GIT_SSL_CAINFO CODEX_CA_CERTIFICATE; do
	check_out "env_$v" "^$v=$BUNDLE\$" kx ca1 sh -c "env | grep ^$v="
	check_out "env_${v}_root" "^$v=$BUNDLE\$" kx -u root ca1 sh -c "env | grep ^$v="
done
check_out env_caller_may_override '^SSL_CERT_FILE=/x$' kx -e SSL_CERT_FILE=/x ca1 sh -c 'env | grep ^SSL_CERT_FILE='

# --- the key is out of reach ------------------------------------------------------------
for u in agent root; do
	check_out "key_path_absent_$u" '^absent$' kx -u "$u" ca1 sh -c \
		"test -e '$SD/ca.key' || test -e '$SD' && echo present || echo absent"
	check "no_private_key_in_etc_and_env_$u" none kx -u "$u" ca1 sh -c \
		'grep -rlsF "PRIVATE KEY" /etc /usr/local/share/ca-certificates /proc/1/environ; env | grep -lF "PRIVATE KEY"; true'
done
# Everything root inside can read in the usual places, searched on the host for
# the key's bytes (the key itself never goes into the sandbox to search with).
kx -u root ca1 sh -c 'find /etc /usr/local/share /home /root /tmp /run /var/tmp /var/cache -xdev \
	-type f -size -4M -exec cat {} + 2>/dev/null; cat /proc/1/environ /proc/self/environ' >"$T/inside.dump" 2>/dev/null
sed '1d;$d' "$SD/ca.key" >"$T/key.lines"
if [ -s "$T/inside.dump" ] && [ -s "$T/key.lines" ] && ! grep -qF -f "$T/key.lines" "$T/inside.dump" &&
	! grep -qF -- 'PRIVATE KEY-----' "$T/inside.dump"; then
	pass key_bytes_nowhere_inside
else
	fail key_bytes_nowhere_inside "key material (or an empty dump: $(wc -c <"$T/inside.dump") bytes) found inside"
fi
rm -f "$T/key.lines"

# --- writes: only the sandbox's own copy changes ------------------------------------------
check_fails agent_cannot_write_bundle kx ca1 sh -c "echo x >>$BUNDLE"
check_fails agent_cannot_replace_bundle kx ca1 sh -c "cp /dev/null /etc/ssl/certs/x && mv /etc/ssl/certs/x $BUNDLE"
check_fails agent_cannot_write_kennel_ca kx ca1 sh -c "echo x >>$CAFILE"
check root_inside_writes_its_bundle kx -u root ca1 sh -c "echo '# root was here' >>$BUNDLE"
check root_inside_writes_its_kennel_ca kx -u root ca1 sh -c "echo '# root was here' >>$CAFILE"
check_out host_bundle_unchanged "^${HOST_SUM:-none}\$" sh -c "sha256sum <$HOST_BUNDLE 2>/dev/null || echo none"
check state_cert_unchanged cmp "$T/in-ca.crt" "$SD/ca.crt"
"$KENNEL" create --name ca2 shell "$T/ws2" >/dev/null || echo "FAIL create ca2"
SD2=$KENNEL_STATE/sandboxes/ca2
check_fails other_sandbox_bundle_untouched kx ca2 grep -q 'root was here' "$BUNDLE"
# A start rewrites kennel-ca.crt; the bundle, which still holds the CA, is the
# sandbox's own and stays.
check stop_ca1 "$KENNEL" stop ca1
kx ca1 cat "$CAFILE" >"$T/in-ca.crt"
check kennel_ca_file_restored_at_start cmp "$T/in-ca.crt" "$SD/ca.crt"
check_out own_bundle_kept_at_start 'root was here' kx ca1 tail -n 1 "$BUNDLE"
# A bundle without the CA is repaired at the next start.
check root_drops_ca_from_bundle kx -u root ca1 sh -c "echo '# no CA here' >$BUNDLE"
check stop_ca1_again "$KENNEL" stop ca1
kx ca1 cat "$BUNDLE" >"$T/in-bundle.crt"
check bundle_repaired_at_start contains_ca "$T/in-bundle.crt" "$SD/ca.crt"
if kx ca1 test -x /usr/sbin/update-ca-certificates; then
	check update_ca_certificates_inside kx -u root ca1 sh -c 'update-ca-certificates >/dev/null 2>&1'
	kx ca1 cat "$BUNDLE" >"$T/in-bundle.crt"
	check update_ca_certificates_keeps_kennel_ca contains_ca "$T/in-bundle.crt" "$SD/ca.crt"
fi
check_out host_bundle_still_unchanged "^${HOST_SUM:-none}\$" sh -c "sha256sum <$HOST_BUNDLE 2>/dev/null || echo none"

# --- two sandboxes, two CAs -------------------------------------------------------------
check_fails two_sandboxes_two_certs cmp -s "$SD/ca.crt" "$SD2/ca.crt"
check_fails two_sandboxes_two_keys cmp -s "$SD/ca.key" "$SD2/ca.key"
check_fails two_sandboxes_two_serials test "$(openssl x509 -noout -serial -in "$SD/ca.crt")" = \
	"$(openssl x509 -noout -serial -in "$SD2/ca.crt")"
kx ca2 cat "$BUNDLE" >"$T/in-bundle2.crt"
check ca2_trusts_its_ca contains_ca "$T/in-bundle2.crt" "$SD2/ca.crt"
check_fails ca2_does_not_trust_ca1 contains_ca "$T/in-bundle2.crt" "$SD/ca.crt"

# --- a daemon restart adopts a running sandbox with its CA ----------------------------------
stop_daemon
start_daemon --hosts "$T/hosts" || exit 1
check_out adopted_sandbox_keeps_ca "\"sha256\": \"$FP\"" "$KENNEL" inspect ca1
check_out adopted_sandbox_env '^SSL_CERT_FILE=' kx ca1 sh -c 'env | grep ^SSL_CERT_FILE='

# --- state older than CAs: the CA is made at the next start --------------------------------
check stop_ca2 "$KENNEL" stop ca2
rm -f "$SD2/ca.crt" "$SD2/ca.key"
stop_daemon
start_daemon --hosts "$T/hosts" || exit 1
check inspect_old_state_has_no_ca jtest "j[0]['ca'] is None" "$("$KENNEL" inspect ca2)"
check start_old_state kx ca2 true
check_out old_state_gets_ca_at_start '^400 kennel-proxy' stat -c '%a %U' "$SD2/ca.key"
kx ca2 cat "$CAFILE" >"$T/in-ca2.crt"
check old_state_trusts_new_ca cmp "$T/in-ca2.crt" "$SD2/ca.crt"
check_out old_state_env_set '^SSL_CERT_FILE=' kx ca2 sh -c 'env | grep ^SSL_CERT_FILE='

# --- rm removes them ------------------------------------------------------------------------
check rm_ca2 "$KENNEL" rm -f ca2
check_out rm_removes_ca_files '^gone$' sh -c "test -e '$SD2/ca.key' || test -e '$SD2/ca.crt' && echo left || echo gone"

# --- an --image base: its own bundle, resolved inside the image --------------------------------
TOKEN=kennel-ca-canary-$$-$RANDOM
mk_image() { # DIR
	mkdir -p "$1"/{bin,etc/ssl/certs,tmp,lib64} "$1/lib/x86_64-linux-gnu"
	for b in /bin/dash /bin/cat; do
		cp "$b" "$1/bin/"
		for lib in $(ldd "$b" | grep -o '/[^ ]*\.so[^ ]*'); do
			mkdir -p "$1$(dirname "$lib")"
			cp -n "$lib" "$1$lib"
		done
	done
	ln -s dash "$1/bin/sh"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$1/etc/passwd"
}
mk_image "$T/img1"
cp "$SD/ca.crt" "$T/img1$BUNDLE"        # an image bundle of one certificate
mk_image "$T/img2"
# A bundle that is an absolute symlink: inside the image it leads nowhere; on
# the host it would lead to a host file, which must not be read.
printf -- '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' "$TOKEN" >"$T/host-file.pem"
ln -s "$T/host-file.pem" "$T/img2$BUNDLE"
check create_image1 "$KENNEL" create --name img1 --image "$T/img1" shell "$T/ws2"
check create_image2 "$KENNEL" create --name img2 --image "$T/img2" shell "$T/ws2"
kx img1 cat "$BUNDLE" >"$T/img1-bundle.crt"
check_out image_bundle_plus_kennel_ca '^2$' certs_in "$T/img1-bundle.crt"
check image_bundle_holds_its_ca contains_ca "$T/img1-bundle.crt" "$KENNEL_STATE/sandboxes/img1/ca.crt"
check image_kennel_ca_file cmp <(kx img1 cat "$CAFILE") "$KENNEL_STATE/sandboxes/img1/ca.crt"
kx img2 cat "$BUNDLE" >"$T/img2-bundle.crt"
check_out image_symlink_not_followed_to_host '^1$' certs_in "$T/img2-bundle.crt"
check_fails image_host_file_not_read grep -qF "$TOKEN" "$T/img2-bundle.crt"
check_out image_env_set "^SSL_CERT_FILE=$BUNDLE\$" kx img2 sh -c 'echo SSL_CERT_FILE=$SSL_CERT_FILE'
# kenneld keeps the last base bundle it read: one changed in place (same
# file, same size even) must be read again, and a sandbox made before keeps
# what it got. The same size: the first certificate's own PEM with its
# base64 lines rotated (still one block, no longer that certificate).
cp "$T/img1$BUNDLE" "$T/img1-old.crt"
python3 - "$T/img1$BUNDLE" <<'EOF'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
body = [i for i, l in enumerate(lines) if l and not l.startswith("-----")]
a, b = body[0], body[1]
lines[a], lines[b] = lines[b], lines[a]
open(p, "r+").write("\n".join(lines))
EOF
check image_bundle_changed_in_place sh -c "! cmp -s '$T/img1-old.crt' '$T/img1$BUNDLE' && [ \$(stat -c %s '$T/img1-old.crt') = \$(stat -c %s '$T/img1$BUNDLE') ]"
check create_image3 "$KENNEL" create --name img3 --image "$T/img1" shell "$T/ws2"
check image_changed_bundle_read_again cmp -n "$(stat -c %s "$T/img1$BUNDLE")" "$T/img1$BUNDLE" <(kx img3 cat "$BUNDLE")
check image_earlier_sandbox_keeps_its_bundle cmp -n "$(stat -c %s "$T/img1-old.crt")" "$T/img1-old.crt" <(kx img1 cat "$BUNDLE")
check rm_image3 "$KENNEL" rm -f img3

# --- kenneld --upstream-ca ------------------------------------------------------------------
bad_upstream() { # NAME ERE FILE
	local out rc
	out=$(timeout 20 "$KENNELD" --socket "$T/u.sock" --state-dir "$T/u-state" --upstream-ca "$3" 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && grep -Eq -- "$2" <<<"$out" && [ ! -e "$T/u.sock" ]; then pass "$1"
	else fail "$1" "exit $rc, wanted 1 and /$2/" "$out"; fi
}
bad_upstream upstream_ca_missing 'error: --upstream-ca /nonexistent: open: No such file or directory' /nonexistent
bad_upstream upstream_ca_directory 'error: --upstream-ca /etc: not a regular file' /etc
echo 'no certificate here' >"$T/empty.pem"
bad_upstream upstream_ca_without_certificate "error: --upstream-ca $T/empty.pem: no PEM certificate" "$T/empty.pem"
{ cat "$SD/ca.crt"; sed 's/^M/!/' "$SD/ca.crt"; } >"$T/damaged.pem"
bad_upstream upstream_ca_damaged "error: --upstream-ca $T/damaged.pem: PEM block after certificate 1 does not parse" \
	"$T/damaged.pem"
# The TLS test server's CA (it signs allowed.test) and one more.
cat "$T/ca.pem" "$SD/ca.crt" >"$T/upstream.pem"
stop_daemon
start_daemon --hosts "$T/hosts" --upstream-ca "$T/upstream.pem" || exit 1
check_out upstream_ca_logged "upstream CAs: 2 certificates from $T/upstream.pem, for kennel-proxy as fd 4" \
	cat "$T/kenneld.log"
proxy_pid=
for _ in $(seq 1 50); do
	proxy_pid=$(pgrep -u kennel-proxy -P "$DAEMON_PID" -x kennel-proxy | head -1)
	[ -n "$proxy_pid" ] && break
	sleep 0.1
done
check_out proxy_gets_upstream_ca_fd ' --upstream-ca-fd 4( |$)' sh -c "tr '\\0' ' ' </proc/${proxy_pid:-0}/cmdline"

# --- HTTPS from inside, intercepted with the sandbox's CA, upstream checked
# against --upstream-ca: no --cacert anywhere, the environment does it.
check allow_loopback_upstream "$KENNEL" network proxy ca1 --allow-cidr 127.0.0.0/8
check_out https_through_interception '^hello from upstream$' \
	kx ca1 curl -s -S -m 20 "https://allowed.test:$TLS_PORT/"
check_out https_leaf_issued_by_sandbox_ca "issuer: O ?= ?kennel; CN ?= ?$CN\$" \
	kx ca1 curl -s -S -v -o /dev/null -m 20 "https://allowed.test:$TLS_PORT/"
check_out https_python_urllib '^200$' kx ca1 python3 -c "
import urllib.request
try:
    print(urllib.request.urlopen('https://allowed.test:$TLS_PORT/', timeout=20).status)
except Exception as e:
    print(e)"
