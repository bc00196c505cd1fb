#!/usr/bin/env bash
# escape_fs.sh — filesystem escapes from an `ns` sandbox. Every attempt runs
# inside the sandbox (as the agent and, where it means something, as root of
# the sandbox) against a target that provably exists on the host: host-only
# canary files in /root and /home, /etc/shadow, a canary in /usr. A check
# PASSes when the escape fails for the expected reason (the errno text is
# asserted) and no host secret shows up in the output; it FAILs when it
# succeeds. Areas: secret files, host homes, writes outside the workspace,
# read-only workspaces, symlinks and hardlinks out of the workspace, /proc/*/root
# and chroot tricks, device nodes, foreign uids, setuid files, another
# sandbox's files, and a nested workspace swapped for a symlink.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/escape_lib.sh"

TOKEN=kennel-canary-$$-$RANDOM$RANDOM      # host-only secret: never to be read inside (deny FAILs on it)
USR_TOKEN=kennel-usr-canary-$$-$RANDOM     # visible in /usr by design; must never change
HOST_ROOT_CANARY=/root/.kennel-canary-$$
HOST_HOME=/home/kennel-canary-$$
HOST_USR_CANARY=/usr/local/share/kennel-canary-$$

# Files that exist on the host only if an escape worked; named with our pid, so
# removing them can never touch anything else.
ESCAPE_DEBRIS=(/usr/bin/kennel-escape-$$ /etc/kennel-escape-$$ /var/lib/dpkg/kennel-escape-$$
	/usr/local/bin/suid-id-$$ /tmp/suid-id-$$ /kennel-escape-$$)
remove_canaries() {
	rm -f "$HOST_ROOT_CANARY" "$HOST_USR_CANARY" "${ESCAPE_DEBRIS[@]}"
	rm -rf "$HOST_HOME"
}
trap 'remove_canaries; cleanup' EXIT

# host_same NAME FILE EXPECTED — the host file still holds exactly EXPECTED.
host_same() {
	local got
	got=$(cat "$2" 2>&1)
	if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "host $2 changed" "$got"; fi
}

# --- host-side canaries ---------------------------------------------------------
echo "$TOKEN" >"$HOST_ROOT_CANARY" && chmod 644 "$HOST_ROOT_CANARY"
mkdir -m 755 "$HOST_HOME" && echo "$TOKEN" >"$HOST_HOME/secret" && chmod 644 "$HOST_HOME/secret"
echo "$USR_TOKEN" >"$HOST_USR_CANARY" && chmod 644 "$HOST_USR_CANARY"
if [ -s /etc/shadow ] && grep -qx "$TOKEN" "$HOST_ROOT_CANARY" "$HOST_HOME/secret" &&
	[ -f /var/lib/dpkg/status ]; then
	pass host_targets_exist
else
	fail host_targets_exist "a host-side target is missing; the checks below would prove nothing"
fi

WS=$T/ws RO=$T/ro OTHER_WS=$T/ws_other
mkdir -p "$WS" "$RO" "$OTHER_WS"
echo original >"$RO/readme"
echo agent-data >"$WS/file"
start_daemon || exit 1
SB=fs
"$KENNEL" create --name "$SB" shell "$WS" "$RO:ro" >/dev/null || { echo "FAIL create $SB"; exit 1; }
"$KENNEL" create --name other shell "$OTHER_WS" >/dev/null || { echo "FAIL create other"; exit 1; }

# --- secret files and host homes -----------------------------------------------
require_daemon
deny_both read_etc_shadow 'No such file or directory' cat /etc/shadow
deny_both read_etc_gshadow 'No such file or directory' cat /etc/gshadow
# The sandbox's own /root is 0700 root: the agent is refused, root finds nothing.
deny read_host_root_canary_agent 'Permission denied' kx "$SB" cat "$HOST_ROOT_CANARY"
deny read_host_root_canary_root 'No such file or directory' kx -u root "$SB" cat "$HOST_ROOT_CANARY"
deny_both read_host_home_canary 'No such file or directory' cat "$HOST_HOME/secret"
for u in agent root; do
	out=$(kx -u "$u" "$SB" ls -A /home 2>&1)
	if [ "$out" = agent ]; then pass "home_holds_only_agent_$u"
	else fail "home_holds_only_agent_$u" "ls -A /home inside:" "$out"; fi
done
n=0
for h in /home/*; do
	[ -d "$h" ] && [ "$h" != /home/agent ] && [ "$h" != "$HOST_HOME" ] || continue
	n=$((n + 1))
	[ $n -le 3 ] || break
	deny "host_home_$(basename "$h")_absent" 'No such file or directory' kx "$SB" ls -d "$h"
done
out=$(kx -u root "$SB" ls -A /root 2>&1)
if [ $? -eq 0 ] && ! grep -q kennel-canary <<<"$out"; then pass host_root_home_not_listed_root
else fail host_root_home_not_listed_root "ls -A /root inside:" "$out"; fi
# Sweep every writable-looking tree for the token (/usr is the host's by design).
out=$(kx -u root "$SB" grep -rlsF -e "$TOKEN" /root /home /etc /var /run /tmp /opt /srv /mnt \
	/media /dev/shm 2>&1)
rc=$?
if [ $rc -eq 1 ] && [ -z "$out" ]; then pass host_secret_nowhere_inside
else fail host_secret_nowhere_inside "grep exit $rc (1 = not found)" "$out"; fi

# --- /proc/*/root, /proc/self/root, chroot ----------------------------------------
require_daemon
deny_both proc1_root_listing 'Permission denied' ls /proc/1/root/
deny_both proc1_root_canary 'Permission denied|No such file or directory' \
	cat "/proc/1/root$HOST_ROOT_CANARY"
check_out proc_self_root_is_slash '^/$' kx -u root "$SB" readlink /proc/self/root
deny proc_self_root_canary_root 'No such file or directory' kx -u root "$SB" \
	cat "/proc/self/root$HOST_ROOT_CANARY"
deny_both state_dir_not_visible 'No such file or directory' ls "$KENNEL_STATE"
# Every process the sandbox can see: none has the host as its root.
out=$(kx -u root "$SB" sh -c "for p in /proc/[0-9]*; do cat \$p/root$HOST_ROOT_CANARY 2>/dev/null; done; true" 2>&1)
if ! grep -Fq "$TOKEN" <<<"$out"; then pass no_proc_pid_root_reaches_host
else fail no_proc_pid_root_reaches_host "$out"; fi
deny chroot_agent '^errno=EPERM$' kx "$SB" python3 -c "$PY
op(os.chroot, '/tmp')"
# The classic chroot breakout: chroot into a subdirectory, walk up past it, chroot
# there. The old root was detached at pivot_root, so the top is the sandbox's /.
out=$(kx -u root "$SB" python3 -c "
import os
os.makedirs('/tmp/jail', exist_ok=True)
fd = os.open('/', os.O_RDONLY)
os.chroot('/tmp/jail'); os.fchdir(fd)
for _ in range(64):
    os.chdir('..')
os.chroot('.')
print('host canary visible:', os.path.exists('$HOST_ROOT_CANARY'),
      'state dir visible:', os.path.exists('$KENNEL_STATE'))
" 2>&1)
if grep -q '^host canary visible: False state dir visible: False$' <<<"$out"; then
	pass chroot_breakout_root
else fail chroot_breakout_root "$out"; fi

# --- writes outside the workspace ------------------------------------------------
require_daemon
deny write_usr_agent 'Permission denied' kx "$SB" touch /usr/bin/kennel-escape-$$
deny write_etc_agent 'Permission denied' kx "$SB" touch /etc/kennel-escape-$$
deny write_rootdir_agent 'Permission denied' kx "$SB" touch /kennel-escape-$$
deny overwrite_usr_file_agent 'Permission denied' kx "$SB" sh -c "echo x >>$HOST_USR_CANARY"
deny write_dpkg_dir_agent 'Permission denied' kx "$SB" touch /var/lib/dpkg/kennel-escape-$$
deny_both ro_workspace_create 'Read-only file system' touch "$RO/new"
deny_both ro_workspace_append 'Read-only file system' sh -c "echo x >>$RO/readme"
deny_both ro_workspace_unlink 'Read-only file system' rm -f "$RO/readme"
deny_both ro_workspace_chmod 'Read-only file system' chmod 777 "$RO/readme"
deny_both ro_workspace_symlink 'Read-only file system' ln -s /etc/passwd "$RO/link"
host_same ro_workspace_unchanged_on_host "$RO/readme" original
# Root inside owns its layer: its writes succeed there and never reach the host.
check_out root_overwrites_usr_in_layer '^sandbox-write$' \
	kx -u root "$SB" sh -c "echo sandbox-write >$HOST_USR_CANARY && cat $HOST_USR_CANARY"
host_same root_usr_write_not_on_host "$HOST_USR_CANARY" "$USR_TOKEN"
check root_deletes_usr_file_in_layer kx -u root "$SB" rm "$HOST_USR_CANARY"
host_same root_usr_delete_not_on_host "$HOST_USR_CANARY" "$USR_TOKEN"
check root_creates_usr_file_in_layer kx -u root "$SB" touch /usr/bin/kennel-escape-$$
check root_creates_etc_file_in_layer kx -u root "$SB" touch /etc/kennel-escape-$$
if [ ! -e /usr/bin/kennel-escape-$$ ] && [ ! -e /etc/kennel-escape-$$ ]; then
	pass root_created_files_not_on_host
else
	fail root_created_files_not_on_host "a file created inside appeared on the host"
fi
check root_creates_dpkg_file_in_layer kx -u root "$SB" touch /var/lib/dpkg/kennel-escape-$$
if [ ! -e /var/lib/dpkg/kennel-escape-$$ ]; then pass root_dpkg_write_not_on_host
else fail root_dpkg_write_not_on_host "/var/lib/dpkg/kennel-escape-$$ appeared on the host"; fi

# --- symlinks out of the workspace -----------------------------------------------
require_daemon
# Links are made by the agent in its workspace; inside they resolve in the
# sandbox's root, never the host's.
check make_escape_links kx "$SB" sh -c "cd $WS && ln -s $HOST_ROOT_CANARY l_root &&
	ln -s /etc/shadow l_shadow && ln -s $HOST_HOME/secret l_home && ln -s /root l_rootdir &&
	ln -s ../../../../../../../../../..$HOST_ROOT_CANARY l_rel &&
	ln -s /proc/1/root$HOST_ROOT_CANARY l_proc"
deny symlink_to_host_root_canary_agent 'Permission denied' kx "$SB" cat "$WS/l_root"
deny symlink_to_host_root_canary_root 'No such file or directory' kx -u root "$SB" cat "$WS/l_root"
deny_both symlink_to_shadow 'No such file or directory' cat "$WS/l_shadow"
deny_both symlink_to_host_home 'No such file or directory' cat "$WS/l_home"
deny symlink_relative_dotdot_agent 'Permission denied' kx "$SB" cat "$WS/l_rel"
deny symlink_relative_dotdot_root 'No such file or directory' kx -u root "$SB" cat "$WS/l_rel"
deny_both symlink_via_proc_root 'Permission denied|No such file or directory' cat "$WS/l_proc"
out=$(kx -u root "$SB" ls -A "$WS/l_rootdir/" 2>&1)
if [ $? -eq 0 ] && ! grep -q kennel-canary <<<"$out"; then pass symlink_to_root_dir_is_sandbox_root
else fail symlink_to_root_dir_is_sandbox_root "ls inside:" "$out"; fi
deny write_through_symlink_agent 'Permission denied' kx "$SB" sh -c "echo pwned >$WS/l_root"
# Root writes through the link: lands in the sandbox's /root, not the host's.
check_out write_through_symlink_root_stays_inside '^pwned$' \
	kx -u root "$SB" sh -c "echo pwned >$WS/l_root && cat $HOST_ROOT_CANARY"
host_same write_through_symlink_host_unchanged "$HOST_ROOT_CANARY" "$TOKEN"

# --- hardlinks out of the workspace ----------------------------------------------
require_daemon
deny_both hardlink_etc_passwd 'Invalid cross-device link' ln /etc/passwd "$WS/h_passwd"
deny_both hardlink_setuid_su 'Invalid cross-device link' ln /usr/bin/su "$WS/h_su"
py_both hardlink_usr_file_python EXDEV "op(os.link, '/usr/bin/env', '$WS/h_env')"
deny_both hardlink_ro_workspace_file 'Invalid cross-device link|Read-only file system' \
	ln "$RO/readme" "$WS/h_ro"

# --- device nodes, foreign uids ----------------------------------------------------
require_daemon
py_both mknod_mem_char '(EPERM|EACCES)' "import stat
op(os.mknod, '/tmp/mem', stat.S_IFCHR | 0o666, os.makedev(1, 1))"
py_both mknod_disk_block '(EPERM|EACCES)' "import stat
op(os.mknod, '$WS/sda', stat.S_IFBLK | 0o666, os.makedev(8, 0))"
deny mknod_in_dev_root 'Permission denied|Operation not permitted' kx -u root "$SB" \
	mknod /dev/kmsg-escape c 1 11
deny_both host_disk_absent 'No such file or directory' sh -c \
	'for d in /dev/vda /dev/sda /dev/nvme0n1 /dev/mem /dev/kmem /dev/port; do [ -e $d ] && { echo "present: $d"; exit 0; }; done; cat /dev/mem'
# The workspace maps only its owner: other host uids are not representable.
deny chown_ws_file_unmapped_agent '^errno=(EOVERFLOW|EPERM|EINVAL)$' kx "$SB" python3 -c "$PY
op(os.chown, '$WS/file', 12345, -1)"
deny chown_ws_file_unmapped_root '^errno=(EOVERFLOW|EPERM|EINVAL)$' kx -u root "$SB" python3 -c "$PY
op(os.chown, '$WS/file', 0, -1)"
deny chown_beyond_id_range_root '^errno=EINVAL$' kx -u root "$SB" python3 -c "$PY
open('/tmp/c', 'w').close()
op(os.chown, '/tmp/c', 70000, -1)"
if [ "$(stat -c %u:%g "$WS/file")" = 0:0 ]; then pass ws_file_owner_unchanged_on_host
else fail ws_file_owner_unchanged_on_host "$(stat -c %u:%g "$WS/file")"; fi

# --- setuid files ---------------------------------------------------------------------
require_daemon
# No set-id bit can be set anywhere (seccomp): root inside cannot plant a
# setuid program in its layer or /tmp, the agent none in its workspace.
for where in /usr/local/bin /tmp; do
	check_out "setuid_chmod_refused_root$(tr '/' '_' <<<"$where")" 'Operation not permitted' \
		kx -u root "$SB" sh -c "cp /usr/bin/id $where/suid-id-$$ && chmod 4755 $where/suid-id-$$"
	check_out "setuid_bit_absent$(tr '/' '_' <<<"$where")" '^755$' kx "$SB" stat -c %a "$where/suid-id-$$"
done
deny setgid_chmod_refused_agent '^errno=EPERM$' kx "$SB" python3 -c "$PY
import shutil; shutil.copy('/usr/bin/id', '$WS/sgid-id'); op(os.chmod, '$WS/sgid-id', 0o2755)"
deny setuid_create_refused_agent '^errno=EPERM$' kx "$SB" python3 -c "$PY
op(os.open, '$WS/suid-new', os.O_WRONLY | os.O_CREAT, 0o4755)"
deny setuid_mknod_refused_agent '^errno=EPERM$' kx "$SB" python3 -c "$PY
import stat; op(os.mknod, '$WS/suid-node', stat.S_IFREG | 0o4755)"
# The agent's files in a workspace land on the host owned by the workspace's
# owner. Here that owner is root, so a setuid bit the agent sets gives any host
# user who runs the file host root: a planted host escalation.
kx "$SB" sh -c "cp /usr/bin/id $WS/suid-id && chmod 4755 $WS/suid-id" >/dev/null 2>&1
own=$(stat -c '%u %a' "$WS/suid-id" 2>&1)
if [ "$own" = "0 4755" ]; then
	demo=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$WS/suid-id" -u 2>&1)
	fail "workspace_setuid_not_host_root (KNOWN ESCAPE)" \
		"the agent made $WS/suid-id setuid root on the host (owner uid, mode: $own);" \
		"run on the host as uid 65534 it reports euid $demo"
	rm -f "$WS/suid-id"
else
	pass workspace_setuid_not_host_root
fi

# --- another sandbox's files ----------------------------------------------------------
require_daemon
check write_private_files kx "$SB" sh -c \
	"echo $TOKEN >/tmp/a-secret && echo $TOKEN >\$HOME/a-secret && echo $TOKEN >/dev/shm/a-secret && echo $TOKEN >/var/tmp/a-secret"
deny_both_in other other_sandbox_tmp 'No such file or directory' cat /tmp/a-secret
deny_both_in other other_sandbox_home 'No such file or directory' cat /home/agent/a-secret
deny_both_in other other_sandbox_shm 'No such file or directory' cat /dev/shm/a-secret
deny_both_in other other_sandbox_var_tmp 'No such file or directory' cat /var/tmp/a-secret
deny_both_in other other_sandbox_workspace 'No such file or directory' ls "$WS"
out=$(kx -u root other grep -rlsF -e "$TOKEN" /root /home /etc /var /tmp /dev/shm 2>&1)
rc=$?
if [ $rc -eq 1 ] && [ -z "$out" ]; then pass other_sandbox_sees_nothing_of_first
else fail other_sandbox_sees_nothing_of_first "grep exit $rc" "$out"; fi

# --- Landlock, the second fence: root inside may write where the sandbox is meant to,
# not elsewhere in its own writable root layer (the mount and the file modes allow it)
require_daemon
check landlock_control_root_writes_opt kx -u root "$SB" mkdir -p "/opt/landlock-control-$$"
deny_both landlock_top_level_dir 'Permission denied' mkdir "/landlock-probe-$$"
deny_both landlock_top_level_file 'Permission denied' sh -c "echo x > /landlock-probe-$$"
# The same from kenneld's helper, which serves a sandbox without init's exec
# sessions (init/ns_session.h): its commands make the ruleset themselves.
mv "$KENNEL_STATE/sandboxes/$SB/exec.sock" "$T/exec.sock.away"
deny_both landlock_top_level_dir_helper 'Permission denied' mkdir "/landlock-probe-$$"
mv "$T/exec.sock.away" "$KENNEL_STATE/sandboxes/$SB/exec.sock"

# --- a nested workspace swapped for a symlink ------------------------------------------
require_daemon
# The outer workspace is the agent's, so it can replace the path of an inner
# workspace with a symlink to /root. On the next start the daemon must not mount
# what the link points to.
mkdir -p "$T/outer/sub/inner"
"$KENNEL" create --name nested shell "$T/outer" "$T/outer/sub/inner" >/dev/null ||
	echo "FAIL create nested"
check nested_swap_to_symlink kx nested sh -c \
	"cd $T/outer && mv sub old && mkdir sub && ln -s /root sub/inner"
"$KENNEL" stop nested >/dev/null 2>&1
out=$(kx -u root nested ls -A "$T/outer/sub/inner/" 2>&1)
if ! grep -q kennel-canary <<<"$out"; then pass nested_workspace_symlink_not_followed
else fail "nested_workspace_symlink_not_followed (KNOWN ESCAPE)" "host /root mounted inside:" "$out"; fi
host_same nested_swap_host_canary_unchanged "$HOST_ROOT_CANARY" "$TOKEN"
