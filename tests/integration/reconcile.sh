#!/usr/bin/env bash
# reconcile.sh — kenneld killed with SIGKILL and started again on the same
# socket and state dir: running sandboxes are adopted (same init, exec works,
# their processes untouched); a sandbox whose init died meanwhile shows
# stopped, has nothing left, and starts again; a half-created sandbox folder
# and a stray cgroup are removed. Then the daemon is killed at random moments
# during a create loop, and after every restart the state must be coherent:
# every listed sandbox works, no folder without config.json, no cgroup,
# process or mount of a sandbox that is not listed.
. "$(dirname "$0")/../lib.sh"

# Processes are checked with alive (lib.sh), not kill -0: after a crash the
# inits are no longer kenneld's children, and processes an exec helper started
# are orphans of the host's PID 1 (the helper is outside the sandbox's pid
# namespace), so zombies, and inits waiting in exit for them, are expected here.
live_only() { # filter "PID NAME" lines to live processes
	local pid rest
	while read -r pid rest; do alive "$pid" && echo "$pid $rest"; done
}
crash_daemon() { # SIGKILL: no chance to clean anything up
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

# Below, CG_PARENTS and CG_ROOT are what cg_discover (lib.sh) found.
# sandbox names that have a cgroup (in any hierarchy), one per line
cg_names() { local p; for p in "${CG_PARENTS[@]}"; do ls "$p" 2>/dev/null | while read -r n; do [ -d "$p/$n" ] && echo "$n"; done; done | sort -u; }
cgroups_of() { local p; for p in "${CG_PARENTS[@]}"; do [ -d "$p/$1" ] && echo "$p/$1"; done; }
# "PID NAME" for every process in one of this daemon's sandbox cgroups
cg_procs() {
	grep -oE "/$CG_ROOT/[^/]+" /proc/[0-9]*/cgroup 2>/dev/null |
		sed -E "s|^/proc/([0-9]+)/cgroup:/$CG_ROOT/|\\1 |" | sort -u
}
# "PID NAME" for every process in the mount namespace of a sandbox of this
# test (a sandbox init and everything it started), whatever its cgroup: its
# mount table holds a workspace of this test ($T/...; the overlays name no
# host path, rootfs.h), and the sandbox's name is its UTS hostname, which
# kenneld sets and root inside cannot change.
mnt_procs() {
	local f pid name
	for f in $(grep -lF " $T/" /proc/[0-9]*/mountinfo 2>/dev/null); do
		pid=${f#/proc/}
		pid=${pid%/mountinfo}
		name=$(nsenter --target "$pid" --uts hostname 2>/dev/null) && echo "$pid $name"
	done | sort -u
}
procs_of() { # NAME — the live processes of sandbox NAME, described
	local pids
	pids=$({ cg_procs; mnt_procs; } | live_only | awk -v n="$1" '$2 == n {print $1}' | sort -u)
	[ -z "$pids" ] || ps -o pid=,ppid=,stat=,args= -p "$(echo $pids | tr ' ' ,)"
}

start_daemon || exit 1
WS=$T/ws
mkdir -p "$WS"
R=rc-$$ # unique on this host: other test daemons may run at the same time
for s in a b c d; do "$KENNEL" create --name "$R-$s" shell "$WS" >/dev/null; done
"$KENNEL" stop "$R-d" >/dev/null
cg_discover "$R-a"
A_INIT=$(field "$R-a" pid)
B_INIT=$(field "$R-b" pid)
C_INIT=$(field "$R-c" pid)
check exec_detached_before_crash "$KENNEL" exec -d "$R-a" sleep "1000.$$"
for _ in $(seq 50); do SLEEP=$(pgrep -f "^sleep 1000\\.$$\$") && break; sleep 0.1; done
"$KENNEL" exec "$R-b" sh -c 'echo before-crash > ~/mark'

# --- 1: SIGKILL the daemon, start it again ------------------------------------------
crash_daemon
check crash_left_sandboxes_running alive "$A_INIT" "$B_INIT" "$C_INIT" "$SLEEP"
t0=$(date +%s%N)
start_daemon || exit 1
note_ms=$((($(date +%s%N) - t0) / 1000000))
echo "note: restart after SIGKILL ready in ${note_ms} ms (4 sandboxes)"
check_out restart_ls_running "^$R-a running $R-b running $R-c running $R-d stopped \$" sh -c \
	"'$KENNEL' ls | awk 'NR > 1 {printf \"%s %s \", \$1, \$3}'"
check_out restart_adopted_same_init_a "^$A_INIT\$" field "$R-a" pid
check_out restart_adopted_same_init_b "^$B_INIT\$" field "$R-b" pid
check restart_detached_process_untouched alive "$SLEEP"
check_out restart_exec_a '^ok$' "$KENNEL" exec "$R-a" echo ok
check_out restart_exec_b_sees_its_files '^before-crash$' "$KENNEL" exec "$R-b" sh -c 'cat ~/mark'
check_out restart_exec_joins_same_sandbox "^sleep 1000\\.$$\$" "$KENNEL" exec "$R-a" ps -e -o args=
check_out restart_stopped_stays_stopped '^null$' field "$R-d" pid
check_out restart_exit_codes '^exit=42$' sh -c "'$KENNEL' exec '$R-a' sh -c 'exit 42'; echo exit=\$?"
# An adopted init is not the new daemon's child: stop must still end it.
check restart_stop_adopted "$KENNEL" stop "$R-b"
check_fails restart_stop_adopted_init_gone alive "$B_INIT"
check restart_stop_adopted_no_process none procs_of "$R-b"
check_out restart_start_again '^ok$' "$KENNEL" exec "$R-b" echo ok

# --- 2: SIGKILL the daemon and one init; leave debris; start again -------------------
C_DIR=$KENNEL_STATE/sandboxes/$R-c
crash_daemon
kill -9 "$C_INIT"
mkdir -p "$KENNEL_STATE/sandboxes/halfmade/upper"
echo junk >"$KENNEL_STATE/sandboxes/halfmade/upper/file"
STRAY=stray-$$
for p in "${CG_PARENTS[@]}"; do mkdir "$p/$STRAY"; done
# A second stray cgroup holds a process, as a sandbox whose folder vanished
# while its processes ran would.
STRAY_BUSY=straybusy-$$
sleep "1005.$$" &
STRAY_PID=$!
disown "$STRAY_PID" # no "Killed" job notice from bash when the daemon ends it
for p in "${CG_PARENTS[@]}"; do mkdir "$p/$STRAY_BUSY" && echo "$STRAY_PID" >"$p/$STRAY_BUSY/cgroup.procs"; done
start_daemon || exit 1
check_out dead_init_shows_stopped "^$R-c +shell +stopped " "$KENNEL" ls
check_out dead_init_pid_null '^null$' field "$R-c" pid
check dead_init_no_cgroup_left none cgroups_of "$R-c"
check dead_init_no_process_left none procs_of "$R-c"
check dead_init_runtime_cleared test ! -e "$C_DIR/runtime.json"
check dead_init_config_kept test -f "$C_DIR/config.json"
check_out dead_init_starts_on_exec '^ok$' "$KENNEL" exec "$R-c" echo ok
check_out dead_init_running_again "^$R-c +shell +running " "$KENNEL" ls
check halfmade_removed test ! -e "$KENNEL_STATE/sandboxes/halfmade"
check halfmade_not_listed none sh -c "'$KENNEL' ls -q | grep -x halfmade"
check trash_empty none ls -A "$KENNEL_STATE/trash"
check stray_cgroup_removed none cgroups_of "$STRAY"
check stray_busy_cgroup_removed none cgroups_of "$STRAY_BUSY"
check_fails stray_busy_cgroup_process_killed alive "$STRAY_PID"
check_out others_still_adopted "^$A_INIT\$" field "$R-a" pid
check detached_process_survived_second_crash alive "$SLEEP"

# rm -f of an adopted sandbox leaves nothing.
check rm_adopted "$KENNEL" rm -f "$R-a"
check rm_adopted_no_process none procs_of "$R-a"
check_fails rm_adopted_detached_gone alive "$SLEEP"
check rm_adopted_no_cgroup none cgroups_of "$R-a"
check rm_adopted_folder_gone test ! -e "$KENNEL_STATE/sandboxes/$R-a"
for s in b c d; do "$KENNEL" rm -f "$R-$s" >/dev/null; done

# --- 3: SIGKILL at random moments during a create loop ---------------------------------
# invariant — what must hold after any crash and restart; prints what is wrong.
invariant() {
	local listed n dir problems=()
	listed=$("$KENNEL" ls -q) || { echo "ls failed"; return 1; }
	for n in $listed; do
		"$KENNEL" exec "$n" true >/dev/null 2>&1 || problems+=("listed $n: exec true failed")
	done
	for dir in "$KENNEL_STATE"/sandboxes/*; do
		[ -e "$dir" ] || continue
		n=$(basename "$dir")
		[ -f "$dir/config.json" ] || problems+=("folder $n has no config.json")
		grep -qx -- "$n" <<<"$listed" || problems+=("folder $n is not listed")
	done
	[ -z "$(ls -A "$KENNEL_STATE/trash")" ] || problems+=("trash not empty: $(ls -A "$KENNEL_STATE/trash")")
	for n in $(cg_names); do
		grep -qx -- "$n" <<<"$listed" || problems+=("cgroup of unlisted $n: $(cgroups_of "$n")")
	done
	while read -r pid n; do
		[ -n "$pid" ] || continue
		grep -qx -- "$n" <<<"$listed" ||
			problems+=("process of unlisted $n: $(ps -o pid=,ppid=,stat=,args= -p "$pid")")
	done < <({ cg_procs; mnt_procs; } | sort -u | live_only)
	grep -qF "$KENNEL_STATE" /proc/self/mountinfo && problems+=("host mounts: $(grep -F "$KENNEL_STATE" /proc/self/mountinfo)")
	# Nothing of a killed daemon lives on (its helpers are clones of it, with
	# its command line and a copy of its descriptors, the API socket too).
	local strays
	for _ in $(seq 1 20); do
		strays=$(pgrep -f -- "^$KENNELD --socket $KENNEL_SOCKET " | grep -vx "$DAEMON_PID")
		[ -z "$strays" ] && break
		sleep 0.1
	done
	[ -z "$strays" ] || problems+=("processes of a former daemon: $(ps -o pid=,ppid=,stat=,args= -p "$(echo $strays | tr ' ' ,)")")
	[ ${#problems[@]} -eq 0 ] || { printf '%s\n' "${problems[@]}"; return 1; }
}

ROUNDS=10
created_total=0
for round in $(seq 1 $ROUNDS); do
	(
		i=0
		while :; do
			"$KENNEL" create --name "rl-$round-$i" shell "$WS" >/dev/null 2>&1
			i=$((i + 1))
		done
	) &
	loop=$!
	sleep "0.$(printf '%03d' $((RANDOM % 300)))"
	crash_daemon
	kill "$loop"
	wait "$loop" 2>/dev/null
	start_daemon || exit 1
	n=$("$KENNEL" ls -q | wc -l)
	created_total=$((created_total + n))
	check "invariant_after_crash_$round" invariant
	for s in $("$KENNEL" ls -q); do "$KENNEL" rm -f "$s" >/dev/null; done
done
echo "note: $ROUNDS crashes during create loops; $created_total sandboxes survived them"
check invariant_at_end invariant
check_out nothing_listed_at_end '^$' "$KENNEL" ls -q
