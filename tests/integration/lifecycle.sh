#!/usr/bin/env bash
# lifecycle.sh — a sandbox's life through the CLI, checked on the host:
# create starts it; the agent's files land in the workspace owned by the
# workspace's owner; :ro workspaces are read-only inside; the writable layer
# survives stop/start and never touches the host; the hostname is the name;
# stop kills every process (detached, backgrounded, setsid'd); rm leaves no
# state folder, cgroup, mount or process; default names are made unique.
. "$(dirname "$0")/../lib.sh"

# Leftovers of sandbox NAME on the host, one per line (nothing = none), besides
# its cgroups (cg_dirs). The names used here are unique to this run, so any
# match is ours. (Host uids are no guide: every daemon, including other tests'
# running now, hands out the same uid_base ranges.)
procs_in_cgroup_of() { grep -lE "/$1(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3; }
mounts_of() { grep -F "$KENNEL_STATE/sandboxes/$1" /proc/self/mountinfo; }

# Under a umask that would make mount points root's alone inside (kenneld
# sets its own): the agent must still reach its workspace.
umask 077
start_daemon || exit 1
umask 022
SB=lc-$$ # unique on this host: other test daemons may run at the same time

# --- create, workspace ownership ----------------------------------------------------
PROJ=$T/work/proj
RO=$T/ro
mkdir -p "$PROJ" "$RO"
echo host-data >"$PROJ/host-made.txt"
chown -R 1234:1234 "$PROJ"
echo read-only-data >"$RO/data"
check_out create_prints_name "^$SB\$" "$KENNEL" create --name "$SB" shell "$PROJ" "$RO:ro"
check_out ls_shows_running "^$SB +shell +running " "$KENNEL" ls
INIT=$(field "$SB" pid)
UID_BASE=$(field "$SB" uid_base)
check create_init_alive kill -0 "$INIT"
check_out agent_is_uid_1000 '^uid=1000\(agent\) gid=1000\(agent\)' "$KENNEL" exec "$SB" id
check_out host_file_owned_by_agent_inside '^1000 agent$' "$KENNEL" exec "$SB" stat -c '%u %U' host-made.txt
check_out host_file_readable_inside '^host-data$' "$KENNEL" exec "$SB" cat host-made.txt
check agent_writes_workspace "$KENNEL" exec "$SB" sh -c 'echo from-agent > agent-made.txt && mkdir sub && echo x > sub/f'
check_out agent_file_is_1000_inside '^1000 1000$' "$KENNEL" exec "$SB" stat -c '%u %g' agent-made.txt
check_out agent_file_on_host_owned_by_workspace_owner '^1234 from-agent$' \
	sh -c "echo \$(stat -c %u '$PROJ/agent-made.txt') \$(cat '$PROJ/agent-made.txt')"
check_out agent_dir_on_host_owned_by_workspace_owner '^1234 1234$' stat -c '%u %u' "$PROJ/sub/f"

# --- :ro workspace ----------------------------------------------------------------------
check_out ro_workspace_readable '^read-only-data$' "$KENNEL" exec "$SB" cat "$RO/data"
check_fails ro_workspace_agent_cannot_write "$KENNEL" exec "$SB" touch "$RO/new"
check_fails ro_workspace_root_cannot_write "$KENNEL" exec -u root "$SB" touch "$RO/new"
check_fails ro_workspace_root_cannot_remount "$KENNEL" exec -u root "$SB" mount -o remount,rw "$RO"
check_out ro_workspace_mounted_ro "^[^ ]+ $RO [^ ]+ ro," "$KENNEL" exec "$SB" cat /proc/mounts
check ro_workspace_host_unchanged sh -c "[ \"\$(ls -A '$RO')\" = data ]"

# --- hostname -------------------------------------------------------------------------------
check_out hostname_is_name "^$SB\$" "$KENNEL" exec "$SB" hostname
check_out uname_n_is_name "^$SB\$" "$KENNEL" exec "$SB" uname -n

# --- namespaces: each sandbox's own, the network and IPC ones made ahead --------------
# kenneld makes the next start's network and IPC namespaces while idle
# (sandbox/spare.h): the one it holds must go to exactly one sandbox.
ns_of() { "$KENNEL" exec "$1" readlink "/proc/self/ns/$2"; }
daemon_ns() { for f in /proc/"$DAEMON_PID"/fd/*; do readlink "$f"; done 2>/dev/null | grep "^$1:" | sort -u; }
spare=
for _ in $(seq 1 50); do
	spare=$(daemon_ns net)
	[ -n "$spare" ] && break
	sleep 0.1
done
check_out daemon_holds_a_spare_net_ns '^net:\[' echo "$spare"
spare_user=$(daemon_ns user)
SB2=$SB-b SB3=$SB-c
check create_second "$KENNEL" create --name "$SB2" shell "$PROJ"
# Right after: no spare is made yet, so the clone makes the namespaces.
check create_third_at_once "$KENNEL" create --name "$SB3" shell "$PROJ"
for ns in net ipc uts mnt pid cgroup user; do
	a=$(ns_of "$SB" $ns) b=$(ns_of "$SB2" $ns) c=$(ns_of "$SB3" $ns) h=$(readlink /proc/self/ns/$ns)
	if [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] &&
		[ "$(printf '%s\n' "$a" "$b" "$c" "$h" | sort -u | wc -l)" = 4 ]; then pass "own_${ns}_ns"
	else fail "own_${ns}_ns" "$SB: $a, $SB2: $b, $SB3: $c, host: $h"; fi
done
check_out second_got_the_spare_net_ns "^$(sed 's/[][]/\\&/g' <<<"$spare")\$" ns_of "$SB2" net
check_out spare_ipc_ns_went_with_it "^ipc:" ns_of "$SB2" ipc
# The user namespace made ahead maps the uid base the second sandbox got.
check_out spare_user_ns_went_with_it "^$(sed 's/[][]/\\&/g' <<<"$spare_user")\$" ns_of "$SB2" user
next=
for _ in $(seq 1 50); do
	next=$(daemon_ns net)
	[ -n "$next" ] && [ "$next" != "$spare" ] && break
	sleep 0.1
done
if [ -n "$next" ] && [ "$next" != "$spare" ] && [ "$next" != "$(ns_of "$SB" net)" ]; then
	pass next_spare_is_new
else
	fail next_spare_is_new "daemon holds: ${next:-nothing}; given away: $spare"
fi
check_out spare_net_ns_has_only_lo '^lo$' "$KENNEL" exec "$SB2" sh -c 'ls /sys/class/net'
check_out own_net_ns_has_only_lo '^lo$' "$KENNEL" exec "$SB3" sh -c 'ls /sys/class/net'
check rm_second_and_third "$KENNEL" rm -f "$SB2" "$SB3"

# --- the next sandbox's folder, made ahead (daemon/ahead.h) -----------------------------
# While idle, kenneld makes the folders, kennel CA and trust store of the next
# sandbox in sandboxes/.next, for the uid base it will get; a create takes it.
NEXT=$KENNEL_STATE/sandboxes/.next
# Waits until .next holds a CA other than the file $1 and its root layer
# belongs to uid $2 (any uid when empty); copies the CA to $T/next.crt.
wait_next() {
	for _ in $(seq 1 100); do
		if [ -f "$NEXT/ca.crt" ] && ! cmp -s "$NEXT/ca.crt" "$1" &&
			{ [ -z "$2" ] || [ "$(stat -c %u "$NEXT/upper/root" 2>/dev/null)" = "$2" ]; }; then
			sleep 0.1 # the trust store follows the CA
			cp "$NEXT/ca.crt" "$T/next.crt"
			return 0
		fi
		sleep 0.1
	done
	return 1
}
: >"$T/none.crt"
check next_folder_made_while_idle wait_next "$T/none.crt" ""
check_out next_folder_root_only '^700 root$' stat -c '%a %U' "$NEXT"
check_out next_ca_key_is_the_proxys '^400 kennel-proxy$' stat -c '%a %U' "$NEXT/ca.key"
NEXT_BASE=$(stat -c %u "$NEXT/upper/root")
cp "$T/next.crt" "$T/taken.crt"
SB4=$SB-d
check create_takes_next "$KENNEL" create --name "$SB4" shell "$PROJ"
check created_with_the_ca_made_ahead cmp "$T/taken.crt" "$KENNEL_STATE/sandboxes/$SB4/ca.crt"
check_out created_with_the_uid_base_made_ahead "^$NEXT_BASE\$" field "$SB4" uid_base
check_out taken_hostname "^$SB4\$" "$KENNEL" exec "$SB4" cat /etc/hostname
check_out taken_hosts_names_it "^127\\.0\\.0\\.1[[:space:]]+localhost $SB4\$" "$KENNEL" exec "$SB4" cat /etc/hosts
check_out taken_bundle_trusts_its_ca ': OK$' "$KENNEL" exec "$SB4" \
	openssl verify -CAfile /etc/ssl/certs/ca-certificates.crt /usr/local/share/ca-certificates/kennel-ca.crt
check_out taken_home_is_the_agents '^750 agent$' "$KENNEL" exec "$SB4" stat -c '%a %U' /home/agent
check_out taken_root_writable_by_root '^ok$' "$KENNEL" exec -u root "$SB4" sh -c 'touch /etc/x && echo ok'
# Its overlays were mounted ahead (detached, in no mount namespace): what root
# installs lands in the sandbox's own layers and survives a restart.
check_out taken_root_is_an_overlay '^overlayfs$' "$KENNEL" exec "$SB4" stat -f -c %T /
check_out taken_usr_is_an_overlay '^overlayfs$' "$KENNEL" exec "$SB4" stat -f -c %T /usr
check taken_root_installs "$KENNEL" exec -u root "$SB4" sh -c "echo kept >/usr/local/lc-ahead-$$"
check taken_install_in_its_layer grep -qx kept "$KENNEL_STATE/sandboxes/$SB4/upper/usr/local/lc-ahead-$$"
check stop_taken "$KENNEL" stop "$SB4"
check_out taken_install_survives_restart '^kept$' "$KENNEL" exec "$SB4" cat "/usr/local/lc-ahead-$$"
check taken_mount_table_names_no_host_path none sh -c "'$KENNEL' exec '$SB4' cat /proc/self/mountinfo | grep -F '$KENNEL_STATE'"
check next_overlays_not_in_host_mounts none grep -F "$KENNEL_STATE" /proc/self/mountinfo
check next_folder_made_again wait_next "$T/taken.crt" ""
check_fails next_ca_is_new cmp -s "$T/next.crt" "$T/taken.crt"
# Removing a sandbox leaves the folder made ahead as it is: the next create
# gets its uid base, kept free for it, not the one just freed.
NEXT_BASE=$(stat -c %u "$NEXT/upper/root")
cp "$T/next.crt" "$T/taken.crt"
check rm_taken "$KENNEL" rm -f "$SB4"
sleep 0.3
check next_folder_kept_after_rm cmp "$T/taken.crt" "$NEXT/ca.crt"
check create_after_rm_takes_next "$KENNEL" create --name "$SB4" shell "$PROJ"
check created_after_rm_with_the_ca_made_ahead cmp "$T/taken.crt" "$KENNEL_STATE/sandboxes/$SB4/ca.crt"
check_out created_after_rm_with_its_base "^$NEXT_BASE\$" field "$SB4" uid_base
check rm_taken_again "$KENNEL" rm -f "$SB4"

# --- commands come from init's exec sessions (init/ns_session.h) ------------------------
EXEC_SOCK=$KENNEL_STATE/sandboxes/$SB/exec.sock
check_out exec_socket_root_only '^600 root socket$' stat -c '%a %U %F' "$EXEC_SOCK"
check_out command_parent_is_a_session '^kennel-init$' \
	"$KENNEL" exec "$SB" sh -c 'cat /proc/$PPID/comm'
check_out session_exit_code '^rc=7$' sh -c "'$KENNEL' exec '$SB' sh -c 'exit 7'; echo rc=\$?"
# A sandbox whose init serves no sessions (as one started by an older kenneld):
# kenneld falls back to a helper that joins the sandbox from outside.
rm -f "$EXEC_SOCK"
check_out exec_without_sessions '^uid=1000\(agent\)' "$KENNEL" exec "$SB" id
check_out helper_exit_code '^rc=7$' sh -c "'$KENNEL' exec '$SB' sh -c 'exit 7'; echo rc=\$?"

# --- the writable layer persists across stop/start ------------------------------------
TOOL=kennel-lc-tool-$$
check install_tool_as_root "$KENNEL" exec -u root "$SB" sh -c \
	"printf '#!/bin/sh\necho persisted\n' > /usr/local/bin/$TOOL && chmod 755 /usr/local/bin/$TOOL"
check_out tool_runs_by_name '^persisted$' "$KENNEL" exec "$SB" "$TOOL"
check tool_not_on_host test ! -e "/usr/local/bin/$TOOL"
check stop_cli "$KENNEL" stop "$SB"
check_out ls_shows_stopped "^$SB +shell +stopped " "$KENNEL" ls
check_out inspect_stopped_pid_null '^null$' field "$SB" pid
check stop_init_gone sh -c "! kill -0 $INIT 2>/dev/null"
check_out tool_persists_after_stop '^persisted$' "$KENNEL" exec "$SB" "$TOOL"
check_out exec_started_it_again "^$SB +shell +running " "$KENNEL" ls
check_out restart_serves_sessions_again '^kennel-init$' \
	"$KENNEL" exec "$SB" sh -c 'cat /proc/$PPID/comm'
check exec_socket_back test -S "$EXEC_SOCK"
check tool_still_not_on_host test ! -e "/usr/local/bin/$TOOL"
check workspace_files_persist test -f "$PROJ/agent-made.txt"

# --- stop kills every process ------------------------------------------------------------
M="\\.$$\$" # the sleeps below carry this run's pid as a fraction: unique argv
check exec_detached "$KENNEL" exec -d "$SB" sleep "1000.$$"
check exec_detached_spawner "$KENNEL" exec -d "$SB" sh -c \
	"sleep 1001.$$ & setsid sleep 1002.$$ & nohup sleep 1003.$$ >/dev/null 2>&1 & sleep 1004.$$"
for _ in $(seq 50); do [ "$(pgrep -f "^sleep 100[0-4]$M" | wc -l)" = 5 ] && break; sleep 0.1; done
check_out five_sleeps_on_host '^5$' sh -c "pgrep -f '^sleep 100[0-4]$M' | wc -l"
check_out sleeps_in_sandbox_cgroup '^5$' sh -c "for p in \$(pgrep -f '^sleep 100[0-4]$M'); do
	grep -lE '/$SB(/|\$)' /proc/\$p/cgroup; done | wc -l"
check_out sleeps_run_as_sandbox_agent "^$((UID_BASE + 1000))\$" sh -c \
	"ps -o uid= -p \$(pgrep -d, -f '^sleep 100[0-4]$M') | sort -u | tr -d ' '"
INIT=$(field "$SB" pid)
check stop_with_processes "$KENNEL" stop "$SB"
check stop_killed_every_sleep none pgrep -f "^sleep 100[0-4]$M"
check stop_left_no_process_in_cgroup none procs_in_cgroup_of "$SB"
check stop_killed_init sh -c "! kill -0 $INIT 2>/dev/null"

# --- rm ------------------------------------------------------------------------------------
check_out exec_restarts_for_rm '^ok$' "$KENNEL" exec "$SB" echo ok
check exec_detached_before_rm "$KENNEL" exec -d "$SB" sleep "1000.$$"
check_fails rm_running_refused "$KENNEL" rm "$SB"
check_out rm_refused_left_it_running "^$SB +shell +running " "$KENNEL" ls
check_out rm_force "^$SB\$" "$KENNEL" rm -f "$SB"
check rm_state_folder_gone test ! -e "$KENNEL_STATE/sandboxes/$SB"
check rm_trash_empty none ls -A "$KENNEL_STATE/trash"
check rm_no_cgroup_left none cg_dirs "$SB"
check rm_no_process_in_cgroup none procs_in_cgroup_of "$SB"
check rm_killed_detached none pgrep -f "^sleep 1000$M"
check rm_no_mount_left none mounts_of "$SB"
check_fails rm_inspect_fails "$KENNEL" inspect "$SB"
check rm_not_listed none sh -c "'$KENNEL' ls -q | grep -x '$SB'"
check rm_workspace_kept test -f "$PROJ/agent-made.txt" -a -f "$PROJ/host-made.txt"

# rm of a stopped sandbox needs no -f.
SB2=lc2-$$
check create_second "$KENNEL" create --name "$SB2" shell "$PROJ"
check stop_second "$KENNEL" stop "$SB2"
check_out rm_stopped_without_force "^$SB2\$" "$KENNEL" rm "$SB2"
check rm_stopped_state_folder_gone test ! -e "$KENNEL_STATE/sandboxes/$SB2"
check rm_stopped_no_cgroup_left none cg_dirs "$SB2"

# --- default names -------------------------------------------------------------------------
mkdir -p "$T/a/proj" "$T/b/proj" "$T/c/proj" "$T/My Proj!"
check_out default_name '^shell-proj$' "$KENNEL" create shell "$PROJ"
check_out default_name_unique_2 '^shell-proj-2$' "$KENNEL" create shell "$T/a/proj"
check_out default_name_unique_3 '^shell-proj-3$' "$KENNEL" create shell "$T/b/proj"
check_out default_names_listed '^shell-proj shell-proj-2 shell-proj-3 $' \
	sh -c "'$KENNEL' ls -q | tr '\n' ' '"
check_out default_name_sandbox_workspace "^$T/b/proj\$" sh -c \
	"'$KENNEL' inspect shell-proj-3 | $PYTHON -c 'import json,sys; print(json.load(sys.stdin)[0][\"workspaces\"][0][\"path\"])'"
check_out default_name_hostname '^shell-proj-2$' "$KENNEL" exec shell-proj-2 hostname
check_out default_name_sanitised '^shell-[A-Za-z0-9_.-]+$' "$KENNEL" create shell "$T/My Proj!"
for s in $("$KENNEL" ls -q); do "$KENNEL" rm -f "$s" >/dev/null; done
check_out all_removed '^$' "$KENNEL" ls -q
# Nothing but the next sandbox's folder, made ahead.
check state_sandboxes_empty none sh -c "ls -A '$KENNEL_STATE/sandboxes' | grep -vx .next"

# --- the folder made ahead goes with the daemon ----------------------------------------
wait_next "$T/none.crt" "" >/dev/null
check next_folder_there_while_running test -d "$NEXT"
stop_daemon
check next_folder_gone_with_the_daemon test ! -e "$NEXT"
# One a crashed daemon left (its CA unknown to the next) is removed at start.
mkdir -p "$NEXT/upper"
echo stale >"$NEXT/ca.crt"
start_daemon || exit 1
check next_folder_left_by_a_crash_removed sh -c "! grep -qx stale '$NEXT/ca.crt' 2>/dev/null"
check next_folder_made_after_restart wait_next "$T/none.crt" ""
check_fails next_made_after_restart_is_not_the_stale grep -qx stale "$NEXT/ca.crt"
