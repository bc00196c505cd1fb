#!/usr/bin/env bash
# cycles.sh — many create/exec/rm cycles against one daemon, then nothing may
# be left: no host mount of the state dir, no cgroup, no process, empty
# sandboxes/ and trash/, the daemon's fd count as before (±2) and its RSS
# grown by at most a few MiB. N is 1000 when that fits in about three minutes
# here, else as many as fit in about two, but at least 200 (KENNEL_CYCLES=N
# forces a number).
. "$(dirname "$0")/../lib.sh"

# Reading one small state over many cycles: at most 4 MiB of RSS growth (a
# leak of even 1 KiB per cycle shows over 1000 cycles), at most 2 fds.
RSS_SLACK_KB=4096
# Under AddressSanitizer freed memory sits in a quarantine of up to 256 MiB
# before it is reused: there only growth beyond it counts.
sanitized_build && RSS_SLACK_KB=$((256 * 1024 + 4096))
FD_SLACK=2
BUDGET_FULL_S=180 # 1000 cycles if they fit in this
BUDGET_S=120      # else as many as fit in this
MIN_CYCLES=200

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }

start_daemon || exit 1
WS=$T/ws
mkdir -p "$WS"
P=cy-$$ # unique on this host: other test daemons may run at the same time

# one_cycle I — create, run a command, remove; prints nothing when all worked.
one_cycle() {
	local n=$P-$1 out
	out=$("$KENNEL" create --name "$n" shell "$WS" 2>&1) || { echo "create $n: $out"; return 1; }
	out=$("$KENNEL" exec "$n" true 2>&1) || echo "exec in $n: $out"
	out=$("$KENNEL" rm -f "$n" 2>&1) || { echo "rm $n: $out"; return 1; }
}

# Warm up (the first create builds the shared base), then find this daemon's
# cgroup parents from a sandbox's cgroup directories.
"$KENNEL" create --name "$P-probe" shell "$WS" >/dev/null
cg_discover "$P-probe"
"$KENNEL" rm -f "$P-probe" >/dev/null
for i in 1 2 3 4 5; do one_cycle "w$i" >/dev/null; done
FD0=$(daemon_fds_idle)
RSS0=$(rss_kb)

# Up to 1000 cycles; past two minutes, stop as soon as 1000 no longer fit in
# three (but not before 200). The rate seen so far decides, so a slow start
# (another test suite running alongside) does not fix N early.
failures=0
errors=$T/cycle-errors
: >"$errors"
MAX=${KENNEL_CYCLES:-1000}
t0=$(date +%s%N)
N=0
while [ "$N" -lt "$MAX" ]; do
	N=$((N + 1))
	one_cycle "$N" >>"$errors" || failures=$((failures + 1))
	[ -n "${KENNEL_CYCLES:-}" ] && continue
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ "$N" -ge $MIN_CYCLES ] && [ "$ms" -gt $((BUDGET_S * 1000)) ] &&
		[ $((ms * 1000 / N)) -gt $((BUDGET_FULL_S * 1000)) ]; then
		break
	fi
done
total_ms=$((($(date +%s%N) - t0) / 1000000))
FD1=$(daemon_fds_idle) # once the daemon has closed what the last request used
RSS1=$(rss_kb)
echo "note: $N create/exec/rm cycles in $((total_ms / 1000)).$((total_ms % 1000 / 100)) s" \
	"($((total_ms / N)) ms each, $((N * 60000 / total_ms)) per minute);" \
	"daemon fds $FD0 -> $FD1, RSS $RSS0 -> $RSS1 KiB"

if [ "$failures" -eq 0 ] && [ ! -s "$errors" ]; then pass all_cycles_succeeded
else fail all_cycles_succeeded "$failures of $N cycles failed" "$(head -20 "$errors")"; fi
check no_host_mounts_of_state_dir none grep -F "$KENNEL_STATE" /proc/self/mountinfo
check no_cgroups_left none sh -c "for p in ${CG_PARENTS[*]}; do find \"\$p\" -mindepth 1 -type d; done"
check no_cgroup_named_after_a_cycle none sh -c "find /sys/fs/cgroup -type d -name '$P-*'"
# Any live process in one of this daemon's sandbox cgroups, or in the mount
# namespace of one of its sandboxes (every sandbox has the workspace $WS
# mounted; the overlays name no host path, rootfs.h).
procs_left() {
	local f p
	for f in $(grep -lE "/$CG_ROOT/" /proc/[0-9]*/cgroup 2>/dev/null) \
		$(grep -lF " $WS " /proc/[0-9]*/mountinfo 2>/dev/null); do
		p=$(echo "$f" | cut -d/ -f3)
		alive "$p" && ps -o pid=,ppid=,stat=,args= -p "$p"
	done | sort -u
}
check no_processes_left none procs_left
check sandboxes_dir_empty none sh -c "ls -A '$KENNEL_STATE/sandboxes' | grep -vx .next"
check trash_dir_empty none ls -A "$KENNEL_STATE/trash"
check_out nothing_listed '^$' "$KENNEL" ls -q
if [ $((FD1 - FD0)) -le $FD_SLACK ] && [ $((FD0 - FD1)) -le $FD_SLACK ]; then pass daemon_fds_stable
else fail daemon_fds_stable "$FD0 fds before, $FD1 after $N cycles" "$(ls -l "/proc/$DAEMON_PID/fd")"; fi
if [ $((RSS1 - RSS0)) -le $RSS_SLACK_KB ]; then pass daemon_rss_stable
else fail daemon_rss_stable "RSS $RSS0 KiB before, $RSS1 KiB after $N cycles"; fi
check_out daemon_still_healthy '"status":"ok"' \
	curl -sS --max-time 10 --unix-socket "$KENNEL_SOCKET" http://kenneld/health
# A daemon that stops with no sandbox running takes its cgroup root with it:
# test daemons (one per state dir) left one per hierarchy behind, every run.
stop_daemon
check cgroup_root_gone_after_stop sh -c "for p in ${CG_PARENTS[*]}; do [ ! -e \"\$p\" ] || exit 1; done"
