#!/usr/bin/env bash
# escape_ca.sh — going for the sandbox's kennel CA key, and turning the trust
# store kenneld writes into the sandbox's layer against the host.
#  - The key: its path in the state dir does not exist inside; kennel-proxy,
#    which holds it in memory, runs as another user outside the sandbox's pid
#    namespace: its pid cannot be signalled, ptraced, pidfd_open'ed or read
#    through /proc; neither can kenneld's.
#  - The trust store: root inside replaces the directories kenneld writes to
#    with symlinks to host directories, the bundle with a FIFO and with a
#    symlink to a host file, then the sandbox is restarted. kenneld must write
#    nothing on the host (the canaries stay empty, the host file and bundle
#    unchanged), must not hang on the FIFO, and the sandbox must trust its CA
#    again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/escape_lib.sh"

mkdir -p "$T/ws"
start_daemon || exit 1
SB=caesc
"$KENNEL" create --name "$SB" shell "$T/ws" >/dev/null || { echo "FAIL create $SB"; exit 1; }
SD=$KENNEL_STATE/sandboxes/$SB
BUNDLE=/etc/ssl/certs/ca-certificates.crt
CAFILE=/usr/local/share/ca-certificates/kennel-ca.crt
HOST_BUNDLE_SUM=$(sha256sum </etc/ssl/certs/ca-certificates.crt 2>/dev/null)

PROXY_PID=$(pgrep -u kennel-proxy -P "$DAEMON_PID" -x kennel-proxy | head -1)
if [ -f "$SD/ca.key" ] && [ -n "$PROXY_PID" ]; then
	pass ca_targets_exist
else
	fail ca_targets_exist "no $SD/ca.key or no kennel-proxy under kenneld; the checks below would prove nothing"
fi

# --- the key ---------------------------------------------------------------------------
require_daemon
py_both key_file_by_path ENOENT "op(os.open, '$SD/ca.key', os.O_RDONLY)"
py_both state_dir_by_path ENOENT "op(os.listdir, '$KENNEL_STATE/sandboxes')"
py_both proxy_proc_mem ENOENT "op(os.open, '/proc/${PROXY_PID:-0}/mem', os.O_RDONLY)"
py_both proxy_proc_environ ENOENT "op(os.open, '/proc/${PROXY_PID:-0}/environ', os.O_RDONLY)"
py_both proxy_kill ESRCH "op(os.kill, ${PROXY_PID:-0}, 0)"
py_both proxy_pidfd_open ESRCH "sc(434, ${PROXY_PID:-0}, 0)"
py_both proxy_ptrace_attach ESRCH "sc(101, 16, ${PROXY_PID:-0}, 0, 0)"
# process_vm_readv(pid, local iov, 1, remote iov, 1, 0): the pid is not there.
py_both proxy_process_vm_readv ESRCH "
buf = ctypes.create_string_buffer(16)
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
l = iovec(ctypes.addressof(buf), 16); r = iovec(0x400000, 16)
sc(310, ${PROXY_PID:-0}, ctypes.addressof(l), 1, ctypes.addressof(r), 1, 0)"
py_both daemon_proc_mem ENOENT "op(os.open, '/proc/$DAEMON_PID/mem', os.O_RDONLY)"
# No process inside runs as the proxy's user or holds the key open.
for u in agent root; do
	out=$(kx -u "$u" "$SB" sh -c 'for f in /proc/[0-9]*/fd/*; do readlink "$f"; done 2>/dev/null | grep -F ca.key; true' 2>&1)
	if [ -z "$out" ]; then pass "no_fd_on_key_inside_$u"; else fail "no_fd_on_key_inside_$u" "$out"; fi
done

# --- the trust store as a weapon ----------------------------------------------------------
require_daemon
CAN_DIR=$T/canary-dir
CAN_CA_DIR=$T/canary-ca-dir
CAN_FILE=$T/canary-file
mkdir -m 777 "$CAN_DIR" "$CAN_CA_DIR"
echo "host file, not the sandbox's" >"$CAN_FILE"
chmod 666 "$CAN_FILE"
CAN_FILE_SUM=$(sha256sum <"$CAN_FILE")
# Round 1: directories become symlinks to host directories.
check plant_dir_symlinks kx -u root "$SB" sh -c "rm -rf /etc/ssl/certs /usr/local/share/ca-certificates &&
	ln -s '$CAN_DIR' /etc/ssl/certs && ln -s '$CAN_CA_DIR' /usr/local/share/ca-certificates"
check restart_after_dir_symlinks "$KENNEL" stop "$SB"
check started_after_dir_symlinks kx "$SB" true
check host_canary_dirs_untouched none find "$CAN_DIR" "$CAN_CA_DIR" -mindepth 1
check_out certs_dir_real_again '^directory$' kx "$SB" stat -c %F /etc/ssl/certs
check trusted_again_after_dir_symlinks cmp <(kx "$SB" cat "$CAFILE") "$SD/ca.crt"
check_out bundle_has_ca_after_dir_symlinks ': OK$' kx "$SB" openssl verify -CAfile "$BUNDLE" "$CAFILE"
# Round 2: the files become a symlink to a host file, and a FIFO.
check plant_file_symlink_and_fifo kx -u root "$SB" sh -c "rm -f $BUNDLE $CAFILE &&
	ln -s '$CAN_FILE' $BUNDLE && mkfifo $CAFILE && ln -sfn '$CAN_FILE' /etc/ssl/certs/kennel-ca.pem"
check restart_after_file_symlinks "$KENNEL" stop "$SB"
check_out started_despite_fifo '^ok$' timeout 30 "$KENNEL" exec "$SB" echo ok
check_out host_canary_file_unchanged "^$CAN_FILE_SUM\$" sh -c "sha256sum <'$CAN_FILE'"
check_out bundle_regular_again '^regular file$' kx "$SB" stat -c %F "$BUNDLE"
check trusted_again_after_file_symlinks cmp <(kx "$SB" cat "$CAFILE") "$SD/ca.crt"
check_out ca_link_points_at_kennel_ca "^$CAFILE\$" kx "$SB" readlink /etc/ssl/certs/kennel-ca.pem
# Round 3: a directory where the bundle goes: the start goes on (the sandbox
# broke its own TLS), the host is untouched.
check plant_dir_for_bundle kx -u root "$SB" sh -c "rm -f $BUNDLE && mkdir $BUNDLE"
check restart_with_dir_for_bundle "$KENNEL" stop "$SB"
check_out started_with_dir_for_bundle '^ok$' timeout 30 "$KENNEL" exec "$SB" echo ok
check_out daemon_said_why 'kennel CA not installed in its trust store' cat "$T/kenneld.log"
check_out host_bundle_unchanged "^${HOST_BUNDLE_SUM:-none}\$" sh -c \
	'sha256sum </etc/ssl/certs/ca-certificates.crt 2>/dev/null || echo none'
require_daemon
