# --isolation vm end to end, under TCG where there is no usable KVM: a QEMU
# microVM with kennel's guest kernel (tools/vm-kernel.config; Debian's generic
# one is booted once too) and kennel-init as its init, inside the same
# namespaces and cgroup as an ns sandbox. A representative subset of the
# lifecycle, exec and proxy tests of the other scripts, run again in a guest
# (each guest boot costs ~1 s of emulated CPU here), and what only a VM must
# show: its own kernel, no way out but the proxy, the workspace shared both
# ways with host ownership, the host invisible, and nothing lost or left behind
# when QEMU or the daemon is killed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/proxy_lib.sh"

if [ ! -r "$KENNEL_BUILD/vm/vmlinux" ] || [ ! -x /usr/bin/qemu-system-x86_64 ]; then
	fail vm_assets "no $KENNEL_BUILD/vm/vmlinux or QEMU: run make vm (make check does)"
	exit 1
fi
# Names of this run alone: another run on the machine (another daemon) may have
# sandboxes, QEMUs and cgroups named like ours at the same moment.
VM1=vm1-$$ VM2=vm2-$$ NS2=ns2-$$
make_ca upstream-ca
make_leaf upstream-ca good "DNS:allowed.test,DNS:other.test"
tls_server_start good; GOOD=$TLS_PORT
upstream_start
start_daemon --hosts "$T/hosts" --upstream-ca "$T/upstream-ca.crt" || exit 1
WS=$T/ws
mkdir -p "$WS"
echo "from the host" >"$WS/host-file"
chown -R 4321:4321 "$WS"
# The first exec waits for the guest to boot: generous under TCG on a busy machine.
kx() { timeout 120 "$KENNEL" exec "$@"; }

run_split "$KENNEL" create --isolation xen shell "$WS"
check_out "--isolation xen: usage error, exit 2" '^2 .*--isolation: want ns or vm' echo "$rc $err"
api POST /sandboxes "{\"agent\":\"shell\",\"workspaces\":[{\"path\":\"$WS\"}],\"isolation\":\"xen\"}"
check_out "API: isolation xen is a 400 naming the field" '^400 .*isolation must be' echo "$code $body"
check_out "... and nothing was made" '^0$' sh -c "'$KENNEL' ls -q | wc -l"
check "create --isolation vm" "$KENNEL" create --isolation vm --name $VM1 --cpus 1 --memory 512m shell "$WS"
check_out "inspect: isolation vm" '"isolation": *"vm"' "$KENNEL" inspect $VM1
check_out "inspect: the guest's vCPUs and RAM from --cpus and --memory" \
	'"vcpus": *1,.*"ram_mib": *512|"ram_mib": *512.*"vcpus": *1' sh -c "'$KENNEL' inspect $VM1 | tr -d '\n'"
# QEMU's own process (PID 1, kennel-init --spawn, names it in its arguments too).
qemu_pid() { pgrep -f "^/usr/bin/qemu-system-x86_64 -name kennel-$1( |\$)" | head -1; }
for _ in $(seq 1 50); do QPID=$(qemu_pid $VM1); [ -n "$QPID" ] && break; sleep 0.1; done
if [ -n "$QPID" ]; then pass "QEMU runs"; else fail "QEMU runs" "$(cat "$KENNEL_STATE/sandboxes/$VM1/console.log")"; fi
check_out "QEMU runs as the sandbox's root, an unprivileged host uid" '^[0-9]{9,}$' \
	ps -o uid= -p "${QPID:-1}"
check_out "QEMU runs in the sandbox's cgroup" "/$VM1\$" sh -c "grep -m1 -E '^0::|memory' /proc/${QPID:-1}/cgroup"
check_out "QEMU has seccomp filters (kennel's and its own)" '^Seccomp:[[:space:]]*2' \
	grep '^Seccomp:' "/proc/${QPID:-1}/status"

# --- exec: the same contract as ns ---------------------------------------------------
host_kernel=$(uname -r)
out=$(kx $VM1 uname -r 2>&1)
if [ -n "$out" ] && [ "$out" != "$host_kernel" ] && grep -q '^6\.' <<<"$out"; then
	pass "the guest runs its own kernel ($out, host $host_kernel)"
else
	fail "the guest runs its own kernel" "guest: $out" "host: $host_kernel" \
		"$(tail -20 "$KENNEL_STATE/sandboxes/$VM1/console.log")"
fi
check_out "exec as the agent, uid 1000" '^uid=1000\(agent\) gid=1000\(agent\)' kx $VM1 id
check_out "exec -u root" '^0$' kx -u root $VM1 id -u
check_out "hostname is the sandbox name" "^$VM1\$" kx $VM1 hostname
check_out "the working directory is the workspace" "^$WS\$" kx $VM1 pwd
kx $VM1 sh -c 'echo out; echo err >&2; exit 7' >"$T/o" 2>"$T/e"
rc=$?
if [ "$rc" = 7 ] && [ "$(cat "$T/o")" = out ] && [ "$(cat "$T/e")" = err ]; then
	pass "exit status and stdout/stderr come back apart"
else
	fail "exit status and stdout/stderr come back apart" "rc=$rc out=$(cat "$T/o") err=$(cat "$T/e")"
fi
check_out "stdin with -i reaches the command, EOF ends it" '^hello vm$' \
	sh -c "echo 'hello vm' | timeout 120 '$KENNEL' exec -i $VM1 cat"
check_out "a missing command: 127" 'exit=127' sh -c "timeout 120 '$KENNEL' exec $VM1 no-such-cmd; echo exit=\$?"
check_out "a tty: the command has a terminal of the given size" '^/dev/pts/[0-9]+ 33 101' \
	in_pty sh -c "stty rows 33 cols 101; '$KENNEL' exec -t $VM1 sh -c 'echo \$(tty) \$(stty size)'"
# A client that hangs up its terminal: SIGHUP for the command, as on an ns pty.
(in_pty "$KENNEL" exec -t $VM1 sh -c 'trap "echo hup > /tmp/hup-seen; exit 1" HUP; sleep 600 & wait' \
	>/dev/null 2>&1 &)
for _ in $(seq 1 60); do kx $VM1 sh -c 'pgrep -x sleep' >/dev/null 2>&1 && break; sleep 0.5; done
pkill -f "exec -t $VM1 sh -c trap" 2>/dev/null
for _ in $(seq 1 20); do kx $VM1 test -e /tmp/hup-seen && break; sleep 0.5; done
check_out "a client that hangs up its terminal sends the command SIGHUP" '^hup$' kx $VM1 cat /tmp/hup-seen
check_out "the environment carries the proxy settings" '^HTTPS_PROXY=http://127.0.0.1:3128$' \
	kx $VM1 sh -c 'env | grep ^HTTPS_PROXY='
big=$(kx $VM1 sh -c 'head -c 3000000 /dev/zero | tr "\0" x' | wc -c)
if [ "$big" = 3000000 ]; then pass "3 MB of output arrive whole"; else fail "3 MB of output arrive whole" "got $big"; fi

# Every exec brings the host's time; the guest steps to it before the command.
before=$(date +%s.%N)
guest=$(kx $VM1 date +%s.%N)
after=$(date +%s.%N)
clock=$(python3 -c "
b, g, a = float('$before'), float('${guest:-0}'), float('$after')
print('ok' if b - 0.3 <= g <= a + 0.3 else 'guest %.3f, host between %.3f and %.3f' % (g, b, a))")
check_out "the guest's clock is the host's (within 0.3 s)" '^ok$' echo "$clock"
check_out "--cpus 1 is the guest's vCPU count" '^1$' kx $VM1 nproc
check_out "--memory 512m is the guest's RAM" '^(4[5-9][0-9]|5[01][0-9])$' kx $VM1 sh -c \
	"awk '/^MemTotal/ {print int(\$2 / 1024)}' /proc/meminfo"

# --- the exec port: only the daemon, with this boot's token ------------------------------
check_out "the boot configuration (the token) is gone from the guest" '^gone$' kx -u root $VM1 sh -c \
	'[ ! -e /kennel.conf ] && echo gone'
check_out "a request with a forged token, sent from inside, runs nothing and gets no answer but the greeting" '^closed, nothing ran$' \
	kx $VM1 python3 -c '
import socket, struct, os
fields = ["0" * 32, "1000", "1000", "/tmp", "0", "0", "24", "80", "2", "touch", "/tmp/forged", "1", "PATH=/usr/bin:/bin", "1"]
payload = b"".join(f.encode() + b"\0" for f in fields)
s = socket.create_connection(("10.0.2.15", 7022), timeout=10)
s.sendall(b"R" + struct.pack(">I", len(payload)) + payload)
data = b""
while True:
    chunk = s.recv(100)
    if not chunk: break
    data += chunk
import time; time.sleep(1)
# The guest greets every connection (vm_proto.h), then says nothing more.
# Its time field (1 ms after 1970) must not have moved the clock either.
print("closed, nothing ran" if data == b"H\0\0\0\0" and not os.path.exists("/tmp/forged") and time.time() > 1.7e9
      else "answered: %r, clock %f" % (data, time.time()))'

# --- the workspace, both ways, with host ownership ---------------------------------------
check_out "the guest reads the host's file" '^from the host$' kx $VM1 cat "$WS/host-file"
check "the guest writes into the workspace" kx $VM1 sh -c "echo 'from the guest' > '$WS/guest-file'"
check_out "... the host sees it" '^from the guest$' cat "$WS/guest-file"
check_out "... owned by the workspace's owner on the host" '^4321:4321$' stat -c '%u:%g' "$WS/guest-file"
check_out "the workspace owner's files are the agent's inside" '^agent$' kx $VM1 stat -c '%U' "$WS/host-file"
echo "changed on the host" >"$WS/host-file"
check_out "a change on the host shows at once" '^changed on the host$' kx $VM1 cat "$WS/host-file"
# /usr, which only the guest writes, is a share of its own that the guest caches; the
# root (workspaces, /etc) is not cached.
check_out "/usr is its own share, cached" '^kennelusr /usr 9p .*loose' kx $VM1 grep ' /usr ' /proc/mounts
check_out "... the root's is not" '^kennelroot / 9p .*mmap' kx $VM1 grep ' / 9p ' /proc/mounts
check "a write under /usr" kx -u root $VM1 sh -c 'head -c 300000 /dev/zero > /usr/local/vm-synced'
check_out "... is in the sandbox's layer on the host when exec returns" '^300000$' \
	stat -c %s "$KENNEL_STATE/sandboxes/$VM1/upper/usr/local/vm-synced"

# --- the host is invisible -----------------------------------------------------------------
check_out "the guest sees only its own processes" '^ok$' kx $VM1 sh -c \
	"[ ! -e /proc/$DAEMON_PID ] || ! grep -q kenneld /proc/$DAEMON_PID/cmdline 2>/dev/null; echo ok"
check_out "PID 1 is the guest's init" '^/init' kx $VM1 sh -c 'tr "\0" " " </proc/1/cmdline'
check_out "no host home, no /root of the host, no daemon socket" '^ok$' kx $VM1 sh -c \
	"[ ! -e '$KENNEL_SOCKET' ] && [ ! -e '$T/kenneld.log' ] && ! ls /root >/dev/null 2>&1; echo ok"
check_out "the guest's only interfaces are lo and eth0" '^eth0 lo$' kx $VM1 sh -c 'ls /sys/class/net | sort | tr "\n" " " | sed "s/ \$//"'
check_out "no default route" '^none$' kx $VM1 sh -c \
	"awk 'NR>1 && \$2==\"00000000\"' /proc/net/route | grep -q . && echo route || echo none"

# --- the network: the proxy and nothing else ---------------------------------------------
check "policy: allow the test upstreams" "$KENNEL" network proxy $VM1 --allow-cidr 127.0.0.0/8 --block-host blocked.test
check_out "HTTP through the proxy" '^hello from upstream$' kx $VM1 curl -s -m 30 "http://allowed.test:$UP_PORT/"
check_out "a blocked host gets 403 with the rule" 'X-Kennel-Policy: block-host blocked.test' \
	kx $VM1 curl -s -i -m 30 "http://blocked.test:$UP_PORT/"
VALUE=sk-vm-$RANDOM$RANDOM$RANDOM
printf '%s\n' "$VALUE" | check "secret set" "$KENNEL" secret set anthropic --host allowed.test --header x-api-key
check_out "HTTPS intercepted, verified with the sandbox's CA, the key injected" "^x-api-key: $VALUE\$" \
	kx $VM1 curl -sS -m 30 -H 'x-api-key: proxy-managed' "https://allowed.test:$GOOD/values"
check_fails "the key is nowhere in the guest's files" kx -u root $VM1 sh -c \
	"grep -rqs -- '$VALUE' /etc /tmp /root /home /run '$WS'"
PY='import socket, errno
def tcp(host, port):
    s = socket.socket(); s.settimeout(5)
    try:
        s.connect((host, port)); print("connected")
    except OSError as e:
        print(errno.errorcode.get(e.errno, "timeout" if isinstance(e, socket.timeout) else e))
'
check_out "no TCP to the host's loopback servers (the guest's 127.0.0.1 is its own)" '^ECONNREFUSED$' \
	kx $VM1 python3 -c "$PY
tcp('127.0.0.1', $UP_PORT)"
check_out "no TCP to QEMU's host address" '^(ECONNREFUSED|timeout|ECONNRESET)$' kx $VM1 python3 -c "$PY
tcp('10.0.2.2', $UP_PORT)"
check_out "no TCP to the proxy address on another port" '^(ECONNREFUSED|timeout|ECONNRESET)$' \
	kx $VM1 python3 -c "$PY
tcp('10.0.2.100', 80)"
check_out "no TCP to any other address" '^(ENETUNREACH|EHOSTUNREACH)$' kx $VM1 python3 -c "$PY
tcp('192.0.2.1', 80)"
check_out "no DNS: QEMU's resolver is off" '^no answer$' kx $VM1 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
try:
    s.sendto(q, ("10.0.2.3", 53)); s.recvfrom(512); print("answer")
except OSError:
    print("no answer")'
check_out "no name resolution" '^no answer$' kx $VM1 sh -c 'getent hosts allowed.test || echo "no answer"'
check_out "no ICMP out" '^(EPERM|EACCES|no reply)$' kx $VM1 python3 -c '
import socket, errno
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP); s.settimeout(3)
    s.sendto(b"\x08\x00\xf7\xff\x00\x00\x00\x00", ("10.0.2.2", 0)); s.recvfrom(64); print("reply")
except socket.timeout:
    print("no reply")
except OSError as e:
    print(errno.errorcode.get(e.errno, e))'
check_out "the decision log has the guest's requests" '"host":"blocked.test"' "$KENNEL" network log $VM1 --json

# --- state survives QEMU's death and the daemon's ---------------------------------------
check "a file in the writable layer" kx -u root $VM1 sh -c 'echo kept > /usr/local/vm-mark'
QPID=$(qemu_pid $VM1)
kill -9 "${QPID:-0}" 2>/dev/null
stopped=0
for _ in $(seq 1 100); do
	"$KENNEL" inspect $VM1 2>/dev/null | grep -q '"status": *"stopped"' && { stopped=1; break; }
	sleep 0.1
done
if [ $stopped = 1 ]; then pass "QEMU killed: the sandbox is stopped"; else fail "QEMU killed: the sandbox is stopped"; fi
check_out "... and starts again on exec, its layer kept" '^kept$' kx $VM1 cat /usr/local/vm-mark
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
start_daemon --hosts "$T/hosts" --upstream-ca "$T/upstream-ca.crt" || exit 1
check_out "daemon killed and restarted: the running guest is adopted" '"status": *"running"' "$KENNEL" inspect $VM1
check_out "... and exec still reaches it" '^kept$' kx $VM1 cat /usr/local/vm-mark
QPID_ADOPTED=$(qemu_pid $VM1)

check "stop" "$KENNEL" stop $VM1
check_out "... stopped" '"status": *"stopped"' "$KENNEL" inspect $VM1
check_fails "... QEMU is gone" alive "${QPID_ADOPTED:-999999999}"

# --- kenneld --isolation vm: the default for new sandboxes; kennel run on a terminal ------
stop_daemon
start_daemon --hosts "$T/hosts" --upstream-ca "$T/upstream-ca.crt" --isolation vm || exit 1
WS2=$T/ws2
mkdir -p "$WS2"
out=$(cd "$WS2" && printf 'uname -r; echo "sum=$((6*7))"; exit\n' | in_pty "$KENNEL" run --name $VM2 shell . 2>&1)
if grep -q 'sum=42' <<<"$out" && ! grep -q "$host_kernel" <<<"$out"; then
	pass "kennel run on a terminal gives a shell in a guest"
else
	fail "kennel run on a terminal gives a shell in a guest" "$out"
fi
check_out "... a vm, by the daemon's default" '"isolation": *"vm"' "$KENNEL" inspect $VM2
check_out "... and --isolation ns still makes an ns sandbox" '"isolation": *"ns"' sh -c \
	"'$KENNEL' create --isolation ns --name $NS2 shell '$WS2' >/dev/null && '$KENNEL' inspect $NS2"
check "rm the two" "$KENNEL" rm -f $VM2 $NS2

# --- Debian's generic kernel: tools/vm-assets --debian-kernel, modules in the initramfs ---
# (its linux-image package from vm-assets' cache, downloaded with apt when missing)
VM3=vm3-$$
if "$KENNEL_SRC/tools/vm-assets" --debian-kernel --init "$KENNEL_BUILD/kennel-init" --out "$T/debian-vm" \
	>"$T/debian-vm.log" 2>&1; then
	pass "vm-assets --debian-kernel builds the assets"
else
	fail "vm-assets --debian-kernel builds the assets" "$(tail -5 "$T/debian-vm.log")"
fi
stop_daemon
start_daemon --hosts "$T/hosts" --upstream-ca "$T/upstream-ca.crt" --vm-assets "$T/debian-vm" || exit 1
"$KENNEL" create --isolation vm --name $VM3 shell "$WS2" >/dev/null
# Its virtio and 9p drivers are modules: without them loaded, no root to run on.
check_out "a guest boots Debian's kernel, loads the modules and runs a command" \
	"^$(cat "$T/debian-vm/kernel-version") ok\$" kx $VM3 sh -c 'echo "$(uname -r) ok"'
check "rm it" "$KENNEL" rm -f $VM3
stop_daemon
start_daemon --hosts "$T/hosts" --upstream-ca "$T/upstream-ca.crt" || exit 1

# --- rm leaves nothing -------------------------------------------------------------------
check "start again" kx $VM1 true
QPID=$(qemu_pid $VM1)
check "rm -f" "$KENNEL" rm -f $VM1
check_fails "no QEMU left" alive "${QPID:-999999999}"
check_fails "no state folder left" test -e "$KENNEL_STATE/sandboxes/$VM1"
check_out "no cgroup left" '^0$' sh -c "find /sys/fs/cgroup -type d -name $VM1 2>/dev/null | wc -l"
check_out "no mount left" '^0$' sh -c "grep -c 'sandboxes/$VM1' /proc/self/mountinfo"
check_out "the workspace is intact" '^from the guest$' cat "$WS/guest-file"
