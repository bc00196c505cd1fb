#!/usr/bin/env python3
"""bench/phases.py TRACE DAEMON_PID — split kennel exec and create into timed phases.

Contract: TRACE is the text of an ftrace instance (bench/profile records it) holding
sched:sched_process_{fork,exec,exit}, sched:sched_switch, sched:sched_wakeup and the
syscall events named in TRACED_SYSCALLS, for kenneld (DAEMON_PID) and for the shell that
ran the kennel commands, both with options/event-fork, so every child is traced too. Prints Markdown:
for `kennel exec` and for `kennel create` the mean time between milestones that mark
the steps of the code path (docs in the tables), plus counts and sums that explain the
big steps (fsync, mounts, time spent runnable but waiting for a CPU).

Each `kennel` process in the trace is one client call. It is classed by what kenneld did
while it ran: a clone3 (new sandbox) makes it a create, a child that called setns makes
it an exec, anything else (rm, ls) is skipped. A call whose milestones are incomplete
(the trace buffer overflowed, say) is skipped and counted.
"""
import re
import statistics
import sys
from collections import defaultdict

# The syscalls whose entry and exit the analysis reads; bench/profile enables these
# only (`phases.py --syscalls` lists them), since tracing every syscall slows the
# very path being measured.
TRACED_SYSCALLS = ["connect", "setns", "landlock_create_ruleset", "seccomp", "clone3", "mkdir",
                   "pivot_root", "fsync", "mount", "open_tree", "move_mount", "mount_setattr",
                   "umount2", "fsopen", "fsconfig", "fsmount"]

EVENT = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+"
                   r"(?P<ts>\d+\.\d+):\s+(?P<name>[a-z_0-9]+)(?P<rest>.*)$")
FIELD = re.compile(r"(\w+)=(\S+)")


class Ev:
    __slots__ = ("ts", "pid", "cpu", "name", "rest", "ret", "end", "f")

    def __init__(self, ts, pid, cpu, name, rest):
        self.ts, self.pid, self.cpu, self.name, self.rest = ts, pid, cpu, name, rest
        self.ret = self.end = self.f = None

    def field(self, key):
        if self.f is None:
            self.f = dict(FIELD.findall(self.rest))
        return self.f.get(key)


def parse(path):
    """Events in time order; a syscall is one Ev at its entry with .ret and .end set."""
    evs, open_calls = [], {}
    with open(path, errors="replace") as f:
        for line in f:
            m = EVENT.match(line)
            if not m:
                continue
            ts, pid, cpu = float(m["ts"]) * 1000.0, int(m["pid"]), int(m["cpu"])
            name, rest = m["name"], m["rest"]
            if name.startswith("sys_"):
                if rest.startswith(" -> "):
                    e = open_calls.pop((pid, name), None)
                    if e:
                        e.ret = int(rest[4:], 16) if rest[4:].startswith("0x") else rest[4:]
                        e.end = ts
                    continue
                e = Ev(ts, pid, cpu, name[4:], rest)
                open_calls[(pid, name)] = e
                evs.append(e)
            else:
                evs.append(Ev(ts, pid, cpu, name, rest.lstrip(": ")))
    evs.sort(key=lambda e: e.ts)
    return evs


class Trace:
    def __init__(self, evs):
        self.evs = evs
        self.by_pid = defaultdict(list)
        self.children = defaultdict(list)   # pid -> [(ts, child pid)]
        self.parent = {}
        self.exec_ts, self.exit_ts, self.fork_ts = {}, {}, {}
        self.execs = []                     # (ts, pid, filename)
        # Traced processes: those with events of their own, and every child of one.
        # (sched_switch and sched_wakeup are logged in whatever task is running.)
        self.ours = {e.pid for e in evs if e.name not in ("sched_switch", "sched_wakeup")}
        self.ours.add(0)
        for e in evs:
            self.by_pid[e.pid].append(e)
            if e.name == "sched_process_fork":
                c = int(e.field("child_pid"))
                self.children[e.pid].append((e.ts, c))
                self.parent[c] = e.pid
                self.fork_ts[c] = e.ts
                self.ours.add(c)
            elif e.name == "sched_process_exec":
                self.exec_ts.setdefault(e.pid, e.ts)
                self.execs.append((e.ts, e.pid, e.field("filename")))
            elif e.name == "sched_process_exit":
                self.exit_ts[e.pid] = e.ts

    def calls(self, pid, name, t0, t1):
        return [e for e in self.by_pid[pid] if e.name == name and t0 <= e.ts <= t1]

    def first(self, pid, name, t0, t1, pred=lambda e: True):
        for e in self.by_pid[pid]:
            if e.name == name and t0 <= e.ts <= t1 and pred(e):
                return e.ts
        return None

    def forks(self, pid, t0, t1):
        return [c for ts, c in self.children[pid] if t0 <= ts <= t1]

    def syscall_time(self, pids, name, t0, t1):
        n, total = 0, 0.0
        for p in pids:
            for e in self.calls(p, name, t0, t1):
                if e.end is not None:
                    n += 1
                    total += e.end - e.ts
        return n, total

    def cpu_wait(self, pids, t0, t1):
        """(waiting, stolen) in ms within [t0, t1]: time at least one of pids was runnable
        but off-CPU, and the part of it while a CPU ran a process that is not traced
        (other users' work, kernel threads) rather than another of ours."""
        pids, ours = set(pids), self.ours
        ready, running = {}, {}
        waiting = stolen = 0.0
        last = t0
        for e in self.evs:
            if e.ts < t0:
                continue
            if e.ts > t1:
                break
            if ready:
                dt = e.ts - last
                waiting += dt
                if any(p and p not in ours for p in running.values()):
                    stolen += dt
            last = e.ts
            if e.name == "sched_wakeup":
                p = int(e.field("pid"))
                if p in pids:
                    ready.setdefault(p, e.ts)
            elif e.name == "sched_switch":
                prev, nxt = int(e.field("prev_pid")), int(e.field("next_pid"))
                running[e.cpu] = nxt
                if prev in pids and e.field("prev_state").startswith("R"):
                    ready[prev] = e.ts
                ready.pop(nxt, None)
        return waiting, stolen


def descendants(tr, pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for _, c in tr.children[p]:
            out.append(c)
            todo.append(c)
    return out


def exec_milestones(tr, daemon, client, t0, t1):
    helpers = [h for h in tr.forks(daemon, t0, t1) if tr.first(h, "setns", t0, t1)]
    if len(helpers) != 1:
        return None
    h = helpers[0]
    cmds = tr.forks(h, t0, t1)
    if not cmds:
        return None
    c = cmds[0]
    m = {
        "spawn": tr.fork_ts.get(client),
        "client_exec": tr.exec_ts.get(client),
        "connect": tr.first(client, "connect", t0, t1),
        "helper_fork": tr.fork_ts.get(h),
        "setns": tr.first(h, "setns", t0, t1),
        "cmd_fork": tr.fork_ts.get(c),
        "landlock": tr.first(c, "landlock_create_ruleset", t0, t1),
        "seccomp": tr.first(c, "seccomp", t0, t1),
        "cmd_exec": tr.exec_ts.get(c),
        "cmd_exit": tr.exit_ts.get(c),
        "helper_exit": tr.exit_ts.get(h),
        "client_exit": t1,
    }
    waiting, stolen = tr.cpu_wait([client, daemon, h, c], m["spawn"] or t0, t1)
    return m, {"cpu_wait": waiting, "cpu_stolen": stolen}


EXEC_PHASES = [
    ("spawn", "client_exec", "fork + execve of the `kennel` CLI (by the shell/harness)"),
    ("client_exec", "connect", "CLI start-up: dynamic loading, argument parsing, until connect()"),
    ("connect", "helper_fork", "kenneld: accept, read + parse HTTP/JSON, pipes, fork the exec helper"),
    ("helper_fork", "setns", "helper: close fds, join the sandbox cgroups (5 hierarchies), pidfd_open"),
    ("setns", "cmd_fork", "helper: setns (6 namespaces, then user ns), become root, fork the command"),
    ("cmd_fork", "landlock", "command: setsid, stdio, setgroups/setres[ug]id, chdir, env, rlimits"),
    ("landlock", "seccomp", "command: Landlock ruleset (13 writable paths + devices), restrict_self"),
    ("seccomp", "cmd_exec", "command: libseccomp feature probes, filter build + load, execvpe PATH walk"),
    ("cmd_exec", "cmd_exit", "`true` itself: execve, dynamic loading of libc, exit"),
    ("cmd_exit", "helper_exit", "helper: wait4 returns, helper exits"),
    ("helper_exit", "client_exit", "kenneld: pidfd event, send exit event; CLI reads it and exits"),
]


def create_milestones(tr, daemon, client, t0, t1):
    clones = [e for e in tr.calls(daemon, "clone3", t0, t1)]
    if not clones:
        return None
    sandbox = clones[0].ret if isinstance(clones[0].ret, int) else None
    if not sandbox:
        return None
    connect = tr.first(client, "connect", t0, t1)
    if connect is None:
        return None
    forks_before = [c for c in tr.forks(daemon, connect, clones[0].ts)]
    m = {
        "spawn": tr.fork_ts.get(client),
        "client_exec": tr.exec_ts.get(client),
        "connect": connect,
        "mkdir": tr.first(daemon, "mkdir", connect, t1),
        "userns_helpers": tr.fork_ts.get(forks_before[0]) if forks_before else None,
        "clone3": clones[0].ts,
        "pivot_root": tr.first(sandbox, "pivot_root", t0, t1),
        "init_exec": tr.exec_ts.get(sandbox),
        "client_exit": t1,
    }
    pids = [daemon, client, sandbox] + forks_before
    fs_n, fs_t = tr.syscall_time([daemon], "fsync", connect, t1)
    fs_before_helpers = tr.syscall_time([daemon], "fsync", connect, m["userns_helpers"] or t1)[1]
    mounts = 0
    mount_t = 0.0
    for name in ("mount", "open_tree", "move_mount", "mount_setattr", "umount2", "fsopen",
                 "fsconfig", "fsmount", "pivot_root"):
        n, t = tr.syscall_time([sandbox], name, t0, t1)
        mounts += n
        mount_t += t
    extra = {
        "fsync_n": fs_n, "fsync_ms": fs_t, "fsync_before_helpers": fs_before_helpers,
        "mount_n": mounts, "mount_ms": mount_t, "userns_helpers_n": len(forks_before),
    }
    extra["cpu_wait"], extra["cpu_stolen"] = tr.cpu_wait(pids, m["spawn"] or t0, t1)
    return m, extra


CREATE_PHASES = [
    ("spawn", "client_exec", "fork + execve of the `kennel` CLI"),
    ("client_exec", "connect", "CLI start-up until connect()"),
    ("connect", "mkdir", "kenneld: accept, parse, validate the request"),
    ("mkdir", "userns_helpers",
     "kenneld: state dir, base check, layer dirs, hostname/hosts/config.json (write+fsync), cgroups"),
    ("userns_helpers", "clone3", "kenneld: fork helpers that make the id-mapped user namespaces"),
    ("clone3", "pivot_root", "sandbox child: clone3 into new namespaces, overlays, /proc, /sys, /dev, "
                             "/tmp, workspace idmapped mount"),
    ("pivot_root", "init_exec", "sandbox child: pivot_root, user ns + id maps (daemon writes them), "
                                "rlimits, seccomp, re-exec kenneld as init"),
    ("init_exec", "client_exit", "kenneld: READY, runtime.json and proxy-config.json (write+fsync), "
                                 "hand the sandbox to kennel-proxy, answer; CLI prints, exits"),
]


def total_ms(rows):
    return statistics.fmean(r[0]["client_exit"] - r[0]["spawn"] for r in rows)


def table(title, rows, phases, notes):
    print(f"### {title} ({len(rows)} traced calls)\n")
    print("| step | mean ms | share |")
    print("|---|---:|---:|")
    total = total_ms(rows)
    for a, b, what in phases:
        d = statistics.fmean(r[0][b] - r[0][a] for r in rows)
        print(f"| {what} | {d:.2f} | {100 * d / total:.0f}% |")
    print(f"| **total, spawn to exit (traced)** | **{total:.2f}** | |")
    print()
    for key, fmt in notes:
        vals = [r[1][key] for r in rows]
        print(fmt.format(statistics.fmean(vals)))
    print()


def main():
    if sys.argv[1:] == ["--syscalls"]:
        print(" ".join(TRACED_SYSCALLS))
        return
    if len(sys.argv) != 3:
        sys.exit("usage: phases.py TRACE DAEMON_PID | phases.py --syscalls")
    tr = Trace(parse(sys.argv[1]))
    daemon = int(sys.argv[2])
    execs, first_execs, creates, skipped = [], [], [], 0
    previous = None
    for ts, pid, filename in tr.execs:
        if not filename or not filename.endswith("/kennel"):
            continue
        t1 = tr.exit_ts.get(pid)
        if t1 is None:
            skipped += 1
            continue
        if tr.calls(daemon, "clone3", ts, t1):
            r = create_milestones(tr, daemon, pid, ts, t1)
            kind, bucket = "create", creates
        elif any(tr.first(h, "setns", ts, t1) for h in tr.forks(daemon, ts, t1)):
            r = exec_milestones(tr, daemon, pid, ts, t1)
            # The first command in a sandbox the previous call created.
            kind, bucket = "exec", first_execs if previous == "create" else execs
        else:
            previous = "other"
            continue
        previous = kind
        if r is None or any(v is None for v in r[0].values()):
            skipped += 1
            continue
        bucket.append(r)
    if first_execs:
        print(f"({len(first_execs)} more `kennel exec` calls were each the first command in a "
              f"sandbox just created: {total_ms(first_execs):.2f} ms traced, spawn to exit; "
              "not in the exec table.)\n")
    if execs:
        table("`kennel exec SANDBOX true` into a running sandbox", execs, EXEC_PHASES, [
            ("cpu_wait", "Some of client, daemon, helper, command runnable but off-CPU: {:.2f} ms,"),
            ("cpu_stolen", "{:.2f} ms of it while a CPU ran other work (other users, kernel threads)."),
        ])
    if creates:
        table("`kennel create`", creates, CREATE_PHASES, [
            ("fsync_ms", "fsync in kenneld: {:.2f} ms in all,"),
            ("fsync_n", "in {:.0f} calls,"),
            ("fsync_before_helpers", "{:.2f} ms of them before the user-namespace helpers."),
            ("mount_n", "Mount syscalls in the sandbox child: {:.0f},"),
            ("mount_ms", "taking {:.2f} ms."),
            ("userns_helpers_n", "User-namespace helper processes: {:.0f}."),
            ("cpu_wait", "Some of client, daemon, children runnable but off-CPU: {:.2f} ms,"),
            ("cpu_stolen", "{:.2f} ms of it while a CPU ran other work (other users, kernel threads)."),
        ])
    if skipped:
        print(f"({skipped} calls skipped: incomplete in the trace)")
    if not execs and not creates and not first_execs:
        sys.exit("phases: no kennel exec or create calls found in the trace")


if __name__ == "__main__":
    main()
