#!/usr/bin/env bash
# escape_host.sh — reaching host processes, the daemon and host network
# services from inside an `ns` sandbox. Host-side canaries prove each target
# exists: a `sleep` process, the daemon and its socket, a Unix socket in /run,
# an abstract Unix socket, TCP and UDP listeners on the host's 127.0.0.1 (which
# log anything that reaches them). Inside, host pids must be invisible and
# unsignalable (ESRCH), sockets absent (ENOENT) or refused (ECONNREFUSED), the
# only interface the sandbox's own loopback, the host's address unreachable
# (ENETUNREACH). Also: another sandbox's processes, and a daemon socket that
# lies inside a workspace.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/escape_lib.sh"

# Lifetime of the host-side canaries, should cleanup never run.
CANARY_LIFETIME=120
CANARY_NAME=kennel-canary-$$
RUN_SOCK=/run/kennel-canary-$$.sock
CANARY_PID='' LISTENER_PID=''

remove_canaries() {
	[ -n "$CANARY_PID" ] && kill "$CANARY_PID" 2>/dev/null
	[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null
	rm -f "$RUN_SOCK"
}
trap 'remove_canaries; cleanup' EXIT

# --- host-side canaries ---------------------------------------------------------------
bash -c "exec -a $CANARY_NAME sleep $CANARY_LIFETIME" &
CANARY_PID=$!
# Listeners that record every connection or datagram they get in $T/reached.
python3 -c '
import os, select, socket, sys, time
ready, reached, abstract, path, lifetime = sys.argv[1:6]
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen(16)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
ab = socket.socket(socket.AF_UNIX); ab.bind("\0" + abstract); ab.listen(16)
ps = socket.socket(socket.AF_UNIX); ps.bind(path); ps.listen(16)
open(ready + ".tmp", "w").write("%d %d\n" % (tcp.getsockname()[1], udp.getsockname()[1]))
os.rename(ready + ".tmp", ready)
end = time.time() + float(lifetime)
while time.time() < end:
    r, _, _ = select.select([tcp, udp, ab, ps], [], [], 1)
    for s in r:
        if s is udp:
            data, peer = s.recvfrom(100)
            what = "udp from %r" % (peer,)
        else:
            c, _ = s.accept(); c.close()
            what = "connection on %r" % (s.getsockname(),)
        with open(reached, "a") as f:
            f.write(what + "\n")
' "$T/ports" "$T/reached" "$CANARY_NAME" "$RUN_SOCK" "$CANARY_LIFETIME" &
LISTENER_PID=$!
for _ in $(seq 1 100); do [ -s "$T/ports" ] && break; sleep 0.05; done
read -r TCP_PORT UDP_PORT <"$T/ports"
HOST_IP=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)

# The daemon socket lives in its own directory so that a workspace can hold it.
mkdir -p "$T/sockdir"
KENNEL_SOCKET=$T/sockdir/kenneld.sock
mkdir -p "$T/ws" "$T/ws_b"
start_daemon || exit 1
SB=host
"$KENNEL" create --name "$SB" shell "$T/ws" >/dev/null || { echo "FAIL create $SB"; exit 1; }
"$KENNEL" create --name other shell "$T/ws_b" >/dev/null || { echo "FAIL create other"; exit 1; }

if kill -0 "$CANARY_PID" && kill -0 "$DAEMON_PID" && [ -S "$KENNEL_SOCKET" ] && [ -S "$RUN_SOCK" ] &&
	[ -n "$TCP_PORT" ] && grep -q "@$CANARY_NAME" /proc/net/unix; then
	pass host_targets_exist
else
	fail host_targets_exist "a host-side target is missing; the checks below would prove nothing"
fi

# --- host processes --------------------------------------------------------------------
require_daemon
# The pattern is bracketed so that the searching command's own argv never matches.
for u in agent root; do
	out=$(kx -u "$u" "$SB" sh -c "grep -ls -e 'kennel-canar[y]-$$' -e 'kennel[d]' /proc/[0-9]*/cmdline; true" 2>&1)
	if [ -z "$out" ]; then pass "host_processes_invisible_$u"
	else fail "host_processes_invisible_$u" "visible inside:" "$out"; fi
done
check_out init_is_sandbox_init '^kennel-init$' kx "$SB" sh -c "tr '\\0' '\\n' </proc/1/cmdline"
deny_both kill_0_host_canary 'No such process' kill -0 "$CANARY_PID"
deny_both kill_9_host_canary 'No such process' kill -9 "$CANARY_PID"
deny_both kill_9_daemon 'No such process' kill -9 "$DAEMON_PID"
py_both os_kill_host_canary ESRCH "op(os.kill, $CANARY_PID, 9)"
py_both pidfd_open_host_canary ESRCH "sc(434, $CANARY_PID, 0)"
py_both ptrace_host_canary ESRCH "sc(101, 16, $CANARY_PID, 0, 0)"
deny_both proc_of_host_canary 'No such file or directory' cat "/proc/$CANARY_PID/cmdline"
# Root inside signals everything it can: the host must not notice.
# Guarded: kill(-1) is only sent from a pid namespace whose init is kennel's.
kx -u root "$SB" python3 -c '
import os, signal
if open("/proc/1/cmdline", "rb").read().split(b"\0")[0] == b"kennel-init" and os.getpid() < 1000:
    os.kill(-1, signal.SIGKILL)' >/dev/null 2>&1
if kill -0 "$CANARY_PID" 2>/dev/null && kill -0 "$DAEMON_PID" 2>/dev/null; then
	pass kill_all_from_root_spares_host
else
	fail kill_all_from_root_spares_host "host canary or daemon died after kill(-1, SIGKILL) inside"
fi
# Another sandbox's processes are out of sight too.
check exec_detached_in_other kx -d other bash -c 'exec -a kennel-other-proc sleep 60'
for u in agent root; do
	out=$(kx -u "$u" "$SB" sh -c "grep -ls 'kennel-other-pro[c]' /proc/[0-9]*/cmdline; true" 2>&1)
	if [ -z "$out" ]; then pass "other_sandbox_processes_invisible_$u"
	else fail "other_sandbox_processes_invisible_$u" "visible inside:" "$out"; fi
done

# --- the daemon and other host sockets -------------------------------------------------
require_daemon
py_both daemon_socket "ENOENT" "connect(socket.AF_UNIX, '$KENNEL_SOCKET')"
py_both default_daemon_socket "ENOENT" "connect(socket.AF_UNIX, '/run/kennel/kenneld.sock')"
for s in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock \
	/run/podman/podman.sock /run/dbus/system_bus_socket; do
	py_both "host_socket$(tr '/.' '__' <<<"$s")" ENOENT "connect(socket.AF_UNIX, '$s')"
done
py_both host_run_canary_socket ENOENT "connect(socket.AF_UNIX, '$RUN_SOCK')"
py_both host_abstract_socket ECONNREFUSED "connect(socket.AF_UNIX, '\\0$CANARY_NAME')"
deny_both daemon_state_dir 'No such file or directory' ls "$KENNEL_STATE"

# A workspace that holds the daemon's socket is refused at create.
check_out daemon_socket_workspace_refused "contains kenneld's API socket" \
	"$KENNEL" create --name sockws shell "$T/sockdir"
check_fails daemon_socket_workspace_not_created "$KENNEL" inspect sockws
# Should a sandbox process ever reach the socket anyway, the daemon refuses
# every uid of kennel's sandbox ranges. Simulated from the host: a process with
# an agent's host uid, the socket opened to everyone for the moment.
sock_mode=$(stat -c %a "$KENNEL_SOCKET")
chmod 666 "$KENNEL_SOCKET"
agent_host_uid=$(( $("$KENNEL" inspect "$SB" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["uid_base"])') + 1000 ))
out=$(setpriv --reuid="$agent_host_uid" --regid="$agent_host_uid" --clear-groups \
	curl -s -w '\n%{http_code}' --unix-socket "$KENNEL_SOCKET" http://kenneld/sandboxes 2>&1)
chmod "$sock_mode" "$KENNEL_SOCKET"
if grep -q '^403$' <<<"$out" && grep -q 'inside a sandbox' <<<"$out"; then
	pass daemon_refuses_sandbox_uids
else
	fail daemon_refuses_sandbox_uids "a sandbox uid got an answer:" "$out"
fi

# --- what a command inherits from the host ---------------------------------------------
require_daemon
# Only its three stdio fds (no daemon listener, state dir or other client's fd),
# none of the caller's environment, and never the caller's terminal: without
# -t, even a client on a tty gives the command no controlling terminal.
FD_PY='import errno, os
fds = {}
for x in os.listdir("/proc/self/fd"):
    try:
        fds[int(x)] = os.readlink("/proc/self/fd/" + x)
    except OSError:
        pass  # the directory fd listdir used, closed by now
print("extra=%r" % {k: v for k, v in fds.items() if k > 2})
try:
    os.open("/dev/tty", os.O_RDWR)
    print("devtty=opened")
except OSError as e:
    print("devtty=errno=" + errno.errorcode.get(e.errno, str(e.errno)))'
for u in agent root; do
	out=$(KENNEL_CANARY_ENV=$CANARY_NAME in_pty \
		"$KENNEL" exec -u "$u" "$SB" python3 -c "$FD_PY" </dev/null 2>&1 | tr -d '\r')
	if grep -q '^extra={}$' <<<"$out"; then pass "no_inherited_fds_$u"
	else fail "no_inherited_fds_$u" "$out"; fi
	if grep -q '^devtty=errno=ENXIO$' <<<"$out"; then pass "caller_terminal_unreachable_$u"
	else fail "caller_terminal_unreachable_$u" "$out"; fi
	out=$(KENNEL_CANARY_ENV=$CANARY_NAME kx -u "$u" "$SB" env 2>&1)
	if [ $? -eq 0 ] && ! grep -Eq "$CANARY_NAME|^KENNEL_(SOCKET|BUILD|SRC)=" <<<"$out"; then
		pass "caller_environment_not_inherited_$u"
	else
		fail "caller_environment_not_inherited_$u" "$out"
	fi
done

# --- network ---------------------------------------------------------------------------
require_daemon
for u in agent root; do
	out=$(kx -u "$u" "$SB" sh -c "ip -o link | awk -F': ' '{print \$2}'" 2>&1)
	if [ "$out" = lo ]; then pass "only_loopback_link_$u"; else fail "only_loopback_link_$u" "$out"; fi
done
out=$(kx "$SB" sh -c "tail -n +3 /proc/net/dev | awk -F: '{gsub(/ /, \"\", \$1); print \$1}'" 2>&1)
if [ "$out" = lo ]; then pass only_loopback_proc_net_dev; else fail only_loopback_proc_net_dev "$out"; fi
out=$(kx "$SB" ip -4 route show 2>&1)
if [ -z "$out" ]; then pass no_ipv4_routes; else fail no_ipv4_routes "$out"; fi
py_both tcp_host_loopback_port ECONNREFUSED "connect(socket.AF_INET, ('127.0.0.1', $TCP_PORT))"
py_both tcp_host_loopback_port_v6 ECONNREFUSED "connect(socket.AF_INET6, ('::1', $TCP_PORT))"
if [ -n "$HOST_IP" ]; then
	py_both tcp_host_address ENETUNREACH "connect(socket.AF_INET, ('$HOST_IP', $TCP_PORT))"
	py_both udp_host_address ENETUNREACH \
		"op(socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto, b'x', ('$HOST_IP', $UDP_PORT))"
fi
# A datagram to 127.0.0.1 is sent (to the sandbox's own loopback, where nobody
# listens); the host's listener on the same port must not get it.
check udp_send_to_own_loopback kx "$SB" python3 -c "
import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', $UDP_PORT))"
sleep 0.2
if [ ! -s "$T/reached" ]; then pass host_listeners_never_reached
else fail host_listeners_never_reached "the host's listeners got:" "$(cat "$T/reached")"; fi

# --- init's exec sessions (init/ns_session.h) ------------------------------------------
# Commands come from init, which holds the listening socket kenneld connects to
# (a file in the sandbox's folder on the host) and the Landlock ruleset. Neither
# may be reachable from inside: not as a file, not through init's fds.
require_daemon
for u in agent root; do
	out=$(kx -u "$u" "$SB" sh -c 'find / -xdev -name exec.sock 2>/dev/null; ls /proc/self/fd' 2>&1)
	if [ "$(echo $out)" = "0 1 2 3" ]; then pass "command_has_only_stdio_$u"
	else fail "command_has_only_stdio_$u" "$out"; fi
done
py_both init_exec_listener_by_proc '(EACCES|ENXIO|EPERM|ENOENT)' \
	"op(os.open, '/proc/1/fd/8', os.O_RDWR)"
# pidfd_getfd (438) of init's listener and ruleset: Landlock keeps a fenced
# process from reaching into init, which is outside its domain.
py_both init_exec_listener_by_pidfd_getfd 'EPERM' \
	"pfd = os.pidfd_open(1); op(sc, 438, pfd, 8, 0)"
py_both init_landlock_ruleset_by_pidfd_getfd 'EPERM' \
	"pfd = os.pidfd_open(1); op(sc, 438, pfd, 9, 0)"
