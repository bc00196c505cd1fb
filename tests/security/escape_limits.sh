#!/usr/bin/env bash
# escape_limits.sh — resource exhaustion from inside an `ns` sandbox must stay
# inside its cgroup: a fork bomb stops at --pids, a memory bomb (anonymous
# memory or tmpfs pages) is OOM-killed at --memory, and through it all the
# daemon keeps its pid and answers, and the sandbox recovers once the bomb is
# gone. Every bomb is bounded in count and time.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/escape_lib.sh"

PIDS_LIMIT=64
MEMORY_LIMIT=64m
# Far above the memory limit, far below any test machine's RAM.
BOMB_MIB=512
# The fork bomb: at most this many children, for at most this many seconds.
BOMB_MAX_CHILDREN=500
BOMB_MAX_SECONDS=10
# How long the bomb holds its children once the kernel refuses a fork.
BOMB_HOLD_SECONDS=3

# daemon_unharmed NAME — same pid, alive, and it answers.
daemon_unharmed() {
	local out
	out=$("$KENNEL" ls 2>&1)
	if kill -0 "$DAEMON_PID" 2>/dev/null && [ "$(pgrep -o -f "kenneld --socket $KENNEL_SOCKET")" = "$DAEMON_PID" ] &&
		grep -q "^$2 " <<<"$out"; then
		pass "$1"
	else
		fail "$1" "daemon pid $DAEMON_PID alive: $(kill -0 "$DAEMON_PID" 2>&1 && echo yes)" "$out"
	fi
}

mkdir -p "$T/ws"
start_daemon || exit 1
"$KENNEL" create --name pidsb --pids "$PIDS_LIMIT" shell "$T/ws" >/dev/null || echo "FAIL create pidsb"
"$KENNEL" create --name memsb --memory "$MEMORY_LIMIT" shell "$T/ws" >/dev/null || echo "FAIL create memsb"

# --- fork bomb ---------------------------------------------------------------------------
require_daemon
BOMB="
import errno, os, signal, sys, time
kids, why, t0 = [], 'none', time.time()
while len(kids) < $BOMB_MAX_CHILDREN and time.time() - t0 < $BOMB_MAX_SECONDS:
    try:
        pid = os.fork()
    except OSError as e:
        why = errno.errorcode.get(e.errno, str(e.errno))
        break
    if pid == 0:
        time.sleep($BOMB_MAX_SECONDS + $BOMB_HOLD_SECONDS)
        os._exit(0)
    kids.append(pid)
print('forked=%d stopped_by=%s' % (len(kids), why), flush=True)
time.sleep($BOMB_HOLD_SECONDS)
for p in kids:
    os.kill(p, signal.SIGKILL)
for p in kids:
    os.waitpid(p, 0)
print('reaped', flush=True)
"
for u in agent root; do
	kx -u "$u" pidsb python3 -c "$BOMB" >"$T/bomb.$u" 2>&1 &
	bomb=$!
	for _ in $(seq 1 $((BOMB_MAX_SECONDS * 20 + 40))); do
		grep -q '^forked=' "$T/bomb.$u" && break
		sleep 0.05
	done
	# While the bomb holds every pid it could get, the host is unaffected.
	daemon_unharmed "daemon_answers_during_fork_bomb_$u" pidsb
	if bash -c 'true' 2>/dev/null; then pass "host_can_fork_during_fork_bomb_$u"
	else fail "host_can_fork_during_fork_bomb_$u"; fi
	wait "$bomb"
	line=$(grep -m1 '^forked=' "$T/bomb.$u")
	n=${line#forked=}
	n=${n%% *}
	if [[ "$line" == *stopped_by=EAGAIN ]] && [ "$n" -lt "$PIDS_LIMIT" ] && [ "$n" -gt 0 ]; then
		pass "fork_bomb_stopped_by_pids_limit_$u"
	else
		fail "fork_bomb_stopped_by_pids_limit_$u" "limit $PIDS_LIMIT" "$(cat "$T/bomb.$u")"
	fi
	check "exec_works_after_fork_bomb_$u" kx pidsb true
done
daemon_unharmed daemon_unharmed_after_fork_bombs pidsb

# --- memory bombs ------------------------------------------------------------------------
require_daemon
MEM_BOMB="
chunks = []
for _ in range($BOMB_MIB):
    chunks.append(bytearray(1 << 20))
print('ESCAPED: allocated $BOMB_MIB MiB')
"
for u in agent root; do
	out=$(kx -u "$u" memsb python3 -c "$MEM_BOMB" 2>&1)
	rc=$?
	if [ $rc -eq 137 ]; then pass "memory_bomb_oom_killed_$u"
	else fail "memory_bomb_oom_killed_$u" "exit $rc (want 137, SIGKILL from the OOM killer)" "$out"; fi
done
# tmpfs pages are charged to the writer's cgroup: filling /tmp is no way around it.
out=$(kx memsb sh -c "dd if=/dev/zero of=/tmp/fill bs=1M count=$BOMB_MIB 2>/dev/null; echo dd=\$?;
	stat -c size=%s /tmp/fill" 2>&1)
size=$(sed -n 's/^size=//p' <<<"$out")
if grep -q '^dd=137$' <<<"$out" && [ -n "$size" ] && [ "$size" -le $((2 * ${MEMORY_LIMIT%m} << 20)) ]; then
	pass tmpfs_bomb_held_by_memory_limit
else
	fail tmpfs_bomb_held_by_memory_limit "want dd killed (137) and /tmp/fill at most twice the limit" "$out"
fi
# /tmp is the sandbox's own tmpfs: a stop frees it (an rm inside may itself
# be OOM-killed while the file holds the whole limit, as under ASan).
"$KENNEL" stop memsb >/dev/null
check exec_works_after_memory_bombs kx memsb true
daemon_unharmed daemon_unharmed_after_memory_bombs memsb
