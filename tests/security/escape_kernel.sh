#!/usr/bin/env bash
# escape_kernel.sh — escapes through the kernel's privileged interfaces, tried
# from inside an `ns` sandbox as the agent and as root of the sandbox's user
# namespace: module loading, bpf/io_uring/perf/keyrings/userfaultfd/file
# handles, mounting (old and new API), new namespaces, raw/packet/vsock/
# netfilter sockets, TIOCSTI on a real pty, ptrace of init, capabilities the
# host would honour (clock, hostname, network config, /proc/sys, /sys), kernel
# log and masked /proc files, other syscall ABIs, and privilege gain through
# setuid programs. Every check asserts the specific refusal (errno or the
# tool's message for it); it FAILs when the call goes through.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/escape_lib.sh"

# Exists on the host only if an escape worked; named with our pid.
trap 'rm -f /usr/local/bin/kn-suid-$$; cleanup' EXIT

# Probes: sc(nr, args...) makes a raw syscall, op(f, args...) an os-level call;
# either prints "errno=NAME" when refused, "ESCAPED ..." when not. Each probe is
# chosen to be harmless should it ever go through (bad magic, a target that
# does not exist, today's time, the current value), so that a broken sandbox
# fails these checks without damaging the host. Probes are queued with sys_both
# and run by run_probes in one python per user, each in its own forked child so
# that one attempt cannot disturb the next; each is still one named check.
PROBE_NAMES=() PROBE_ERRNOS=() PROBE_CODES=() PROBE_USERS=()
# sys_both NAME ERRNO PYTHON — queue a probe that must be refused with ERRNO,
# for the agent and for root; sys_agent: for the agent only.
sys_both() {
	PROBE_NAMES+=("$1")
	PROBE_ERRNOS+=("$2")
	PROBE_CODES+=("$3")
	PROBE_USERS+=("${4:-agent root}")
}
sys_agent() { sys_both "$1" "$2" "$3" agent; }
PROBE_RUNNER='import base64, ctypes, errno, os, socket, sys
# Safety net: the probes assume they are refused. Should this file ever run
# outside a sandbox (or in one whose pid or user namespace is gone), stop.
def _sandboxed():
    try:
        init = open("/proc/1/cmdline", "rb").read().split(b"\0")[0]
        uid_map = open("/proc/self/uid_map").read().split()
    except OSError:
        return False
    return init == b"kennel-init" and uid_map[:2] != ["0", "0"]
if not _sandboxed():
    print("refusing to run: not inside a kennel sandbox")
    sys.exit(2)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NAME = None
def _arg(x):
    return ctypes.c_long(x) if isinstance(x, int) else x
def _say(what):
    print("%s %s" % (NAME, what), flush=True)
    os._exit(0)
def sc(nr, *a):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *map(_arg, a))
    if r < 0:
        e = ctypes.get_errno()
        _say("errno=" + errno.errorcode.get(e, str(e)))
    _say("ESCAPED: syscall %d returned %d" % (nr, r))
def op(f, *a):
    try:
        r = f(*a)
    except OSError as e:
        _say("errno=" + errno.errorcode.get(e.errno, str(e.errno)))
    _say("ESCAPED: returned %r" % (r,))
for name, code in PROBES:
    pid = os.fork()
    if pid == 0:
        NAME = name
        buf = ctypes.create_string_buffer(4096)
        try:
            exec(base64.b64decode(code).decode(), globals(), {"buf": buf})
            _say("no call made")
        except Exception as e:
            _say("error %r" % (e,))
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        print("%s killed by signal %d" % (name, os.WTERMSIG(status)), flush=True)
'
run_probes() {
	local file=$T/ws/probes.py i u out line
	require_daemon
	for u in agent root; do
		{
			echo "PROBES = ["
			for i in "${!PROBE_NAMES[@]}"; do
				[[ " ${PROBE_USERS[$i]} " == *" $u "* ]] || continue
				printf '    ("%s", "%s"),\n' "${PROBE_NAMES[$i]}" \
					"$(printf '%s' "${PROBE_CODES[$i]}" | base64 -w0)"
			done
			echo "]"
			printf '%s\n' "$PROBE_RUNNER"
		} >"$file"
		chmod 644 "$file"
		out=$(kx -u "$u" "$SB" python3 "$file" 2>&1)
		for i in "${!PROBE_NAMES[@]}"; do
			[[ " ${PROBE_USERS[$i]} " == *" $u "* ]] || continue
			line=$(grep -m1 "^${PROBE_NAMES[$i]} " <<<"$out")
			if [ "$line" = "${PROBE_NAMES[$i]} errno=${PROBE_ERRNOS[$i]}" ]; then
				pass "${PROBE_NAMES[$i]}_$u"
			else
				fail "${PROBE_NAMES[$i]}_$u" "wanted errno=${PROBE_ERRNOS[$i]}" "${line:-$out}"
			fi
		done
	done
	PROBE_NAMES=() PROBE_ERRNOS=() PROBE_CODES=() PROBE_USERS=()
}

# x86_64 syscall numbers (the probes below are x86_64-only).
if [ "$(uname -m)" != x86_64 ]; then
	echo "PASS skipped_not_x86_64"
	exit 0
fi

mkdir -p "$T/ws"
echo data >"$T/ws/file"
start_daemon || exit 1
SB=kern
"$KENNEL" create --name "$SB" shell "$T/ws" >/dev/null || { echo "FAIL create $SB"; exit 1; }

# --- kernel code: modules, kexec ---------------------------------------------------
require_daemon
sys_both init_module EPERM 'sc(175, buf, 64, b"")'
sys_both finit_module EPERM 'fd = os.open("/usr/bin/true", os.O_RDONLY)
sc(313, fd, b"", 0)'
sys_both delete_module EPERM 'sc(176, b"kennel_no_such_module", 0)'
sys_both kexec_load EPERM 'sc(246, 0, 0, 0, 0)'
sys_both kexec_file_load EPERM 'sc(320, -1, -1, 0, b"", 4)'

run_probes

# --- kernel attack surface -----------------------------------------------------------
require_daemon
sys_both bpf_prog_load EPERM 'sc(321, 5, buf, 128)'
sys_both bpf_map_create EPERM 'sc(321, 0, buf, 128)'
sys_both io_uring_setup EPERM 'sc(425, 8, buf)'
sys_both io_uring_enter EPERM 'sc(426, 0, 0, 0, 0, 0, 0)'
sys_both perf_event_open EPERM 'sc(298, buf, 0, -1, -1, 0)'
sys_both keyctl_session_keyring EPERM 'sc(250, 0, -3, 0)'
sys_both add_key EPERM 'sc(248, b"kennel_no_such_type", b"kennel", b"x", 1, -3)'
sys_both request_key EPERM 'sc(249, b"kennel_no_such_type", b"kennel", 0, -3)'
sys_both userfaultfd EPERM 'sc(323, 0)'
sys_both name_to_handle_at EPERM 'sc(303, -100, b"/", buf, buf, 0)'
sys_both open_by_handle_at EPERM 'fd = os.open("/", os.O_RDONLY)
sc(304, fd, buf, 0)'
sys_both fanotify_init EPERM 'sc(300, 0, 0)'
sys_both syslog_read EPERM 'sc(103, 3, buf, 4096)'
sys_both iopl EPERM 'sc(172, 3)'
sys_both ioperm EPERM 'sc(173, 0x60, 8, 1)'
sys_both swapon EPERM 'sc(167, b"/tmp/kennel-no-such-swap", 0)'
# Wrong magic: the kernel checks CAP_SYS_BOOT first, then refuses the magic.
sys_both reboot EPERM 'sc(169, 0, 0, 0, 0)'
sys_both acct EPERM 'sc(163, b"/tmp/kennel-no-such-acct")'
sys_both personality_no_aslr EPERM 'sc(135, 0x0040000)'
sys_both process_madvise EPERM 'sc(440, 0, 0, 0, 0, 0)'

run_probes

# --- mounts (root inside owns no mount namespace capability that counts) ----------
require_daemon
# Targets are empty directories under the sandbox's /tmp.
MNT='os.makedirs("/tmp/kn-mnt", exist_ok=True); os.makedirs("/tmp/kn-src", exist_ok=True)
'
sys_both mount_tmpfs EPERM "$MNT"'sc(165, b"none", b"/tmp/kn-mnt", b"tmpfs", 0, 0)'
sys_both mount_bind EPERM "$MNT"'sc(165, b"/tmp/kn-src", b"/tmp/kn-mnt", 0, 4096, 0)'
sys_both mount_proc EPERM "$MNT"'sc(165, b"proc", b"/tmp/kn-mnt", b"proc", 0, 0)'
sys_both mount_cgroup EPERM "$MNT"'sc(165, b"cgroup", b"/tmp/kn-mnt", b"cgroup", 0, b"rdma")'
sys_both remount_usr_rw EPERM 'sc(165, 0, b"/usr", 0, 32 | 4096, 0)'
sys_both umount_masked_kallsyms EPERM 'sc(166, b"/proc/kallsyms", 2)'
sys_both umount_proc_sys EPERM 'sc(166, b"/proc/sys", 2)'
sys_both pivot_root EPERM 'sc(155, b"/tmp", b"/tmp")'
sys_both fsopen EPERM 'sc(430, b"tmpfs", 0)'
sys_both fspick EPERM 'sc(433, -100, b"/", 0)'
sys_both open_tree EPERM 'sc(428, -100, b"/", 1)'
sys_both move_mount EPERM "$MNT"'sc(429, -100, b"/tmp/kn-src", -100, b"/tmp/kn-mnt", 0)'
sys_both mount_setattr EPERM 'sc(442, -100, b"/usr", 0, buf, 32)'
deny mount_cli_tmpfs_root 'permission denied|Operation not permitted' \
	kx -u root "$SB" sh -c 'mkdir -p /tmp/kn-cli && mount -t tmpfs none /tmp/kn-cli'
deny mount_cli_bind_root 'permission denied|Operation not permitted' \
	kx -u root "$SB" sh -c 'mkdir -p /tmp/kn-cli /tmp/kn-cli-src && mount --bind /tmp/kn-cli-src /tmp/kn-cli'
deny umount_cli_proc_mask_root 'must be superuser|Operation not permitted|permission denied' \
	kx -u root "$SB" umount /proc/kallsyms

run_probes

# --- new namespaces ------------------------------------------------------------------
require_daemon
for f in U m n p i u C T; do
	deny_both "unshare_cli_-$f" 'unshare failed: Operation not permitted' unshare -"$f" true
done
deny_both unshare_cli_map_root 'unshare failed: Operation not permitted' unshare -r true
sys_both unshare_newuser EPERM 'sc(272, 0x10000000)'
sys_both unshare_newns EPERM 'sc(272, 0x00020000)'
sys_both unshare_newnet EPERM 'sc(272, 0x40000000)'
# clone(2) with CLONE_NEWUSER|SIGCHLD: refused before any child exists.
sys_both clone_newuser EPERM 'sc(56, 0x10000000 | 17, 0, 0, 0, 0)'
sys_both clone_newpid EPERM 'sc(56, 0x20000000 | 17, 0, 0, 0, 0)'
# clone3's flags are out of seccomp's sight, so clone3 must be unavailable.
sys_both clone3_unavailable ENOSYS 'ctypes.memset(buf, 0, 88)
ctypes.c_uint64.from_buffer(buf, 0).value = 0x10000000
ctypes.c_uint64.from_buffer(buf, 32).value = 17
sc(435, buf, 88)'
sys_both setns_own_userns EPERM 'fd = os.open("/proc/self/ns/user", os.O_RDONLY)
sc(308, fd, 0)'

run_probes

# --- sockets that bypass the network namespace -----------------------------------
require_daemon
sys_both socket_af_packet EPERM 'op(socket.socket, 17, socket.SOCK_RAW, 0x0300)'
sys_both socket_af_packet_dgram EPERM 'op(socket.socket, 17, socket.SOCK_DGRAM, 0x0300)'
sys_both socket_sock_packet EPERM 'op(socket.socket, socket.AF_INET, 10, 0x0300)'
sys_both socket_inet_raw EPERM 'op(socket.socket, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'
sys_both socket_inet6_raw EPERM 'op(socket.socket, socket.AF_INET6, socket.SOCK_RAW, 58)'
sys_both socket_inet_raw_nonblock EPERM \
	'op(socket.socket, socket.AF_INET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.IPPROTO_RAW)'
sys_both socket_vsock EPERM 'op(socket.socket, 40, socket.SOCK_STREAM, 0)'
sys_both socket_netlink_netfilter EPERM 'op(socket.socket, socket.AF_NETLINK, socket.SOCK_RAW, 12)'

run_probes

# --- TIOCSTI on a real pty ------------------------------------------------------------
require_daemon
# `script` gives kennel a terminal on the host, `-t` the command one inside;
# pushing bytes into it would type into whatever reads the terminal next.
TIOCSTI_PY='import errno, fcntl, os, sys, termios
print("tty=%s" % os.isatty(0))
def push(name, fd, req):
    try:
        fcntl.ioctl(fd, req, b"x")
        print(name, "ESCAPED")
    except OSError as e:
        print(name, "errno=" + errno.errorcode.get(e.errno, str(e.errno)))
push("fd0", 0, termios.TIOCSTI)
push("devtty", os.open("/dev/tty", os.O_RDWR), termios.TIOCSTI)
push("tioclinux", 0, 0x541C)'
for u in agent root; do
	out=$(in_pty "$KENNEL" exec -t -u "$u" "$SB" \
		python3 -c "$TIOCSTI_PY" </dev/null 2>&1 | tr -d '\r')
	if grep -q '^tty=True$' <<<"$out" && grep -q '^fd0 errno=EPERM$' <<<"$out" &&
		grep -q '^devtty errno=EPERM$' <<<"$out" && grep -q '^tioclinux errno=EPERM$' <<<"$out" &&
		! grep -q ESCAPED <<<"$out"; then
		pass "tiocsti_on_pty_$u"
	else
		fail "tiocsti_on_pty_$u" "$out"
	fi
done

# --- ptrace and other processes' memory ------------------------------------------------
require_daemon
# PTRACE_ATTACH stops its target; only the agent tries it. PTRACE_SEIZE
# attaches without stopping.
sys_agent ptrace_attach_init EPERM 'sc(101, 16, 1, 0, 0)'
sys_both ptrace_seize_init EPERM 'sc(101, 0x4206, 1, 0, 0)'
sys_both process_vm_readv_init EPERM 'iov = (ctypes.c_uint64 * 2)(ctypes.addressof(buf), 16)
riov = (ctypes.c_uint64 * 2)(0x400000, 16)
sc(310, 1, iov, 1, riov, 1, 0)'
deny_both read_init_mem 'Permission denied' dd if=/proc/1/mem of=/dev/null bs=1 count=1 skip=4194304
deny_both read_init_environ 'Permission denied' cat /proc/1/environ

run_probes

# --- capabilities: root inside holds them only over its own user namespace ------------
require_daemon
check_out root_is_unprivileged_on_host '^ *0 +[1-9][0-9]* +65536$' kx -u root "$SB" cat /proc/self/uid_map
check_out agent_has_no_capabilities '^CapEff:[[:space:]]+0000000000000000$' \
	kx "$SB" grep CapEff /proc/self/status
# Each attempt would change nothing if it went through: today's time, the
# current names, addresses and routes that exist, the values already set.
deny_both set_clock_date 'Operation not permitted' sh -c 'date -s "@$(date +%s)"'
sys_both clock_settime EPERM 'ts = (ctypes.c_long * 2)()
libc.clock_gettime(0, ts)
sc(227, 0, ts)'
sys_both settimeofday EPERM 'sc(164, 0, 0)'
sys_both adjtimex EPERM 'ctypes.memset(buf, 0, 208)
sc(159, buf)'
deny_both hostname_cli 'you must be root|Operation not permitted' sh -c 'hostname "$(hostname)"'
sys_both sethostname EPERM 'n = os.uname().nodename.encode()
sc(170, n, len(n))'
sys_both setdomainname EPERM 'd = open("/proc/sys/kernel/domainname", "rb").read().strip()
sc(171, d, len(d))'
deny_both ip_link_add 'Operation not permitted' ip link add name lo type dummy
deny_both ip_addr_add 'Operation not permitted' ip addr add 127.0.0.1/8 dev lo
deny_both ip_link_set 'Operation not permitted' ip link set lo up
deny_both ip_route_add 'Operation not permitted' ip route add local 127.0.0.0/8 dev lo table local
check_out hostname_unchanged "^$SB\$" kx -u root "$SB" hostname
for f in kernel/hostname kernel/core_pattern kernel/panic vm/overcommit_memory kernel/randomize_va_space; do
	deny_both "proc_sys_write_$(tr / _ <<<"$f")" 'Read-only file system' \
		sh -c "v=\$(cat /proc/sys/$f) && echo \"\$v\" >/proc/sys/$f"
done
deny_both sys_write_ksm 'Read-only file system' sh -c 'v=$(cat /sys/kernel/mm/ksm/run) && echo "$v" >/sys/kernel/mm/ksm/run'
deny_both sys_write_net_mtu 'Read-only file system' sh -c 'v=$(cat /sys/class/net/lo/mtu) && echo "$v" >/sys/class/net/lo/mtu'
deny_both sys_create_file 'Read-only file system' touch /sys/kennel-escape
out=$(kx -u root "$SB" ls -A /sys/fs/cgroup 2>&1)
if [ -z "$out" ]; then pass no_cgroupfs_inside; else fail no_cgroupfs_inside "$out"; fi

run_probes

# --- kernel log and masked /proc entries ----------------------------------------------
require_daemon
deny_both read_proc_kmsg 'Permission denied|Operation not permitted' cat /proc/kmsg
deny_both dmesg 'Operation not permitted' dmesg
for f in kallsyms keys timer_list; do
	out=$(kx -u root "$SB" sh -c "[ -e /proc/$f ] && wc -c </proc/$f || echo absent" 2>&1)
	if [ "$out" = 0 ] || [ "$out" = absent ]; then pass "proc_${f}_masked"
	else fail "proc_${f}_masked" "readable inside: $out bytes"; fi
done
# kcore and sysrq-trigger: either absent (this kernel may lack them) or masked
# with the null device.
for f in kcore sysrq-trigger; do
	out=$(kx -u root "$SB" sh -c "[ -e /proc/$f ] && stat -c '%F %t:%T' /proc/$f || echo absent" 2>&1)
	if [ "$out" = absent ] || [ "$out" = "character special file 1:3" ]; then
		pass "proc_${f}_masked_or_absent"
	else
		fail "proc_${f}_masked_or_absent" "$out"
	fi
done

# Core dumps would write the agent's memory wherever the host's core_pattern says.
check_out core_dumps_disabled_agent '^0 0$' kx "$SB" sh -c 'echo "$(ulimit -c) $(ulimit -Hc)"'
check_out core_dumps_disabled_root '^0 0$' kx -u root "$SB" sh -c 'echo "$(ulimit -c) $(ulimit -Hc)"'

# --- other syscall ABIs ----------------------------------------------------------------
require_daemon
# x32 numbers (bit 30 set) are not in the filter's architecture: the process dies
# with SIGSYS (exit 128+31) rather than reaching the kernel.
out=$(kx "$SB" python3 -c 'import ctypes; print("ESCAPED", ctypes.CDLL(None).syscall(0x40000000 | 39))' 2>&1)
rc=$?
if [ $rc -eq 159 ]; then pass x32_abi_killed; else fail x32_abi_killed "exit $rc (want 159)" "$out"; fi

# --- privilege gain ----------------------------------------------------------------------
require_daemon
check_out no_new_privs_agent '^NoNewPrivs:[[:space:]]+1$' kx "$SB" grep NoNewPrivs /proc/self/status
check_out no_new_privs_root '^NoNewPrivs:[[:space:]]+1$' kx -u root "$SB" grep NoNewPrivs /proc/self/status
check_out seccomp_filter_on '^Seccomp:[[:space:]]+2$' kx "$SB" grep Seccomp: /proc/self/status
deny su_to_root_agent 'Authentication failure|must be run from a terminal|cannot open session|Permission denied' \
	kx "$SB" su -c id root
deny sudo_agent 'not found|No such file|password is required|not allowed|no new privileges' \
	kx "$SB" sudo -n id
deny setresuid_root_agent '^errno=EPERM$' kx "$SB" python3 -c "$PY
op(os.setresuid, 0, 0, 0)"
deny setuid_unmapped_root '^errno=EINVAL$' kx -u root "$SB" python3 -c "$PY
op(os.setuid, 12345678)"
# Root inside cannot make a setuid copy at all (seccomp refuses set-id modes).
check_out setuid_copy_refused 'Operation not permitted' kx -u root "$SB" sh -c \
	"cp /usr/bin/id /usr/local/bin/kn-suid-$$ && chmod 4755 /usr/local/bin/kn-suid-$$"
