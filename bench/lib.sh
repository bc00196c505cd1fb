# shellcheck shell=bash
# bench/lib.sh — sourced by bench/start and bench/profile: a private kenneld for one run.
#
# bench_daemon_start copies the built binaries (kennel*, from $KENNEL_BUILD or
# <repo>/build) into a fresh temporary directory, so that a rebuild during the run
# neither changes nor breaks them, starts that kenneld (as root) on a socket and
# state dir there and waits until it answers. It sets: bench_tmp (the temp dir),
# bench_bin (the copied binaries), bench_ws (an empty workspace), kennel (an array:
# the CLI with --socket), daemon_pid. It installs an EXIT trap that removes, in this
# order, the sandboxes named in bench_sandboxes (the caller lists every name it may
# create), the daemon, any process still in the daemon's cgroups (they can only be
# this run's sandboxes), those cgroups and the temp dir. A caller with cleanup of its
# own sets bench_extra_cleanup to a command, run first; bench_daemon_extra (an
# array) holds more kenneld options.

bench_die() { echo "bench: $*" >&2; exit 1; }

bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_build=$(cd "${KENNEL_BUILD:-$bench_here/../build}" && pwd)
bench_sandboxes=()
bench_extra_cleanup=
bench_daemon_extra=()
bench_tmp=
daemon_pid=
# kenneld answers within milliseconds; 10 s covers building its base on a busy machine.
bench_ready_tries=200
bench_ready_sleep=0.05

# kenneld names its cgroup root after a hash of its state dir when that is not the
# default (src/daemon/main.c); the same djb2 here, so cleanup removes ours only.
bench_cgroup_root_name() {
	python3 -c 'import os, sys
h = 5381
for c in os.path.realpath(sys.argv[1]).encode():
    h = (h * 33 + c) & 0xffffffffffffffff
print("kennel-%08x" % (h & 0xffffffff))' "$1"
}

# Starts kenneld on the run's socket and state dir; 0 once it answers.
bench_daemon_spawn() {
	local i
	# --group root: the default group (kennel) would be created on the host.
	"$bench_bin/kenneld" --socket "$bench_tmp/kenneld.sock" --state-dir "$bench_tmp/state" \
		--group root ${bench_daemon_extra[@]+"${bench_daemon_extra[@]}"} \
		>>"$bench_tmp/kenneld.log" 2>&1 </dev/null &
	daemon_pid=$!
	for ((i = 0; i < bench_ready_tries; i++)); do
		"${kennel[@]}" version >/dev/null 2>&1 && return 0
		kill -0 "$daemon_pid" 2>/dev/null || return 1
		sleep "$bench_ready_sleep"
	done
	return 1
}

# Processes left in this run's cgroup root (named after its own state dir, so
# nothing else's) are sandboxes `rm -f` could not remove: SIGKILL them by pid.
bench_kill_leftovers() {
	local pids p i
	for ((i = 0; i < 50; i++)); do
		pids=$(find /sys/fs/cgroup -maxdepth 7 -path "*/$1/*" -name cgroup.procs \
			-exec cat {} + 2>/dev/null | sort -u)
		[ -n "$pids" ] || return 0
		[ "$i" -gt 0 ] || echo "bench: killing processes left in cgroup $1: $(tr "\n" " " <<<"$pids")" >&2
		for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
		sleep 0.1
	done
	echo "bench: processes remain in cgroup $1" >&2
}

bench_cleanup() {
	local rc=$? n cg
	trap - EXIT INT TERM
	[ -z "$bench_extra_cleanup" ] || $bench_extra_cleanup || true
	[ -n "$bench_tmp" ] || exit "$rc"
	# A daemon that died (or was killed) left its sandboxes running: a new one
	# adopts them from the state dir, so that they can be removed.
	if [ -n "$daemon_pid" ] && ! kill -0 "$daemon_pid" 2>/dev/null; then
		echo "bench: kenneld $daemon_pid is gone; starting one to remove the sandboxes" >&2
		bench_daemon_spawn || echo "bench: could not restart kenneld (log: $bench_tmp/kenneld.log)" >&2
	fi
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		for n in "${bench_sandboxes[@]}"; do
			"${kennel[@]}" rm -f "$n" >/dev/null 2>&1 || true
		done
		kill "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	if [ -d "$bench_tmp/state" ]; then
		cg=$(bench_cgroup_root_name "$bench_tmp/state")
		bench_kill_leftovers "$cg"
		# Deepest first; rmdir removes only empty cgroups.
		find /sys/fs/cgroup -maxdepth 6 -depth -type d -path "*/$cg*" \
			-exec rmdir {} + 2>/dev/null ||
			echo "bench: some cgroups named $cg could not be removed" >&2
	fi
	if grep -q " $bench_tmp" /proc/self/mountinfo; then
		echo "bench: mounts remain under $bench_tmp; not removing it" >&2
	else
		rm -rf --one-file-system "$bench_tmp"
	fi
	exit "$rc"
}

bench_daemon_start() {
	local i
	[ "$(id -u)" -eq 0 ] || bench_die "run as root (kenneld needs namespaces, mounts and cgroups)"
	for i in "$bench_build/kennel" "$bench_build/kenneld"; do
		[ -x "$i" ] || bench_die "$i is missing; run make first"
	done
	command -v python3 >/dev/null || bench_die "python3 is not installed (tools/install-deps)"
	bench_tmp=$(mktemp -d /tmp/kennel-bench.XXXXXX)
	# kenneld runs kennel-proxy (copied along) as an unprivileged user, which
	# must reach its binary and the state dir: not mktemp's 0700.
	chmod 755 "$bench_tmp"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	bench_ws=$bench_tmp/ws
	bench_bin=$bench_tmp/bin
	mkdir "$bench_ws" "$bench_bin"
	for i in "$bench_build"/kennel*; do
		if [ -f "$i" ] && [ -x "$i" ]; then cp "$i" "$bench_bin/"; fi
	done
	kennel=("$bench_bin/kennel" --socket "$bench_tmp/kenneld.sock")
	bench_daemon_spawn && return 0
	kill "$daemon_pid" 2>/dev/null || true
	daemon_pid= # nothing to adopt: cleanup need not restart it
	cat "$bench_tmp/kenneld.log" >&2
	bench_die "kenneld did not start on $bench_tmp/kenneld.sock"
}
