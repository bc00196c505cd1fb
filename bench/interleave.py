#!/usr/bin/env python3
"""bench/interleave.py SPEC.json — time commands in interleaved rounds; print a Markdown table.

Contract: SPEC is {"reference": NAME, "reference_label": str, "benchmarks": [B, ...]}
(NAME: the benchmark the ratio column divides by; the label heads that column) and B is
{"name": str, "runs": int, "warmup": int, "timed": [ARGV, ...], "after": [ARGV, ...],
"timed_names": [str, ...] (optional), "after_name": str (optional)}. One run of B spawns
each ARGV of "timed" in turn and waits for it (the run's time is from the first spawn to
the last exit, read with clock_gettime(CLOCK_MONOTONIC) through time.perf_counter_ns),
then runs "after" untimed (cleanup, e.g. `kennel rm -f`). When "timed_names" is set,
each timed command's own time is reported as a row right below the benchmark's; when
"after_name" is set, the "after" durations are too, for information. Every command must
exit 0, else the whole benchmark stops with the command's stderr: a failed run is not a
measurement.

Why interleaved: the machine is shared and noisy; running every benchmark once per
round, in a fresh random order each round, spreads the noise over all rows alike,
where back-to-back blocks would let one busy minute land on one row. Benchmarks with
fewer runs take part in evenly spaced rounds. Warmup runs are interleaved the same way
and discarded.

Commands are started with posix_spawn (no shell), stdin and stdout on /dev/null and
stderr in a scratch file, so every row carries the same small spawn cost; the /bin/true
row shows how big it is. The table gives mean, median, p90 (nearest rank), min and the
median's ratio to the reference row's median. With --json FILE the raw times (ms) are
written there too.
"""
import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time


def resolve(argv):
    path = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if not path:
        sys.exit(f"interleave: command not found: {argv[0]}")
    return [path] + list(argv[1:])


def run_one(argv, errpath):
    """Spawn argv, wait, return its wall time in ns; stop everything if it fails."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, errpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
    ]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    t1 = time.perf_counter_ns()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        with open(errpath, errors="replace") as f:
            err = f.read().strip()
        sys.exit(f"interleave: `{' '.join(argv)}` exited {code}: {err or '(no stderr)'}")
    return t1 - t0


def run_bench(b, errpath):
    parts = [run_one(a, errpath) for a in b["timed"]]
    after = sum(run_one(a, errpath) for a in b["after"])
    return parts, after


def schedule(n, rounds):
    """The rounds (0..rounds-1) in which a benchmark with n runs takes part, evenly spaced."""
    return {r for r in range(rounds) if (r + 1) * n // rounds > r * n // rounds}


def run_rounds(benches, key, errpath, record):
    rounds = max(b[key] for b in benches)
    plan = [schedule(b[key], rounds) for b in benches]
    for r in range(rounds):
        order = [i for i, p in enumerate(plan) if r in p]
        random.shuffle(order)
        for i in order:
            parts, after = run_bench(benches[i], errpath)
            if record:
                b = benches[i]
                b["times"].append(sum(parts) / 1e6)
                for j, t in enumerate(parts):
                    b["part_times"][j].append(t / 1e6)
                b["after_times"].append(after / 1e6)


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spec")
    ap.add_argument("--json", help="write the raw times (ms) to this file")
    args = ap.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    benches = spec["benchmarks"]
    for b in benches:
        b["timed"] = [resolve(a) for a in b["timed"]]
        b["after"] = [resolve(a) for a in b.get("after", [])]
        b["times"], b["after_times"] = [], []
        b["part_times"] = [[] for _ in b["timed"]]
    fd, errpath = tempfile.mkstemp(prefix="kennel-bench-stderr.")
    os.close(fd)
    try:
        run_rounds(benches, "warmup", errpath, record=False)
        run_rounds(benches, "runs", errpath, record=True)
    finally:
        os.unlink(errpath)

    rows = []
    for b in benches:
        rows.append((b["name"], b["times"]))
        rows += list(zip(b.get("timed_names", []), b["part_times"]))
    rows += [(b["after_name"], b["after_times"]) for b in benches if b.get("after_name")]
    ref = dict(rows).get(spec.get("reference"))
    ref_median = statistics.median(ref) if ref else None
    label = spec.get("reference_label", "the reference")
    print(f"| what | runs | mean ms | median ms | p90 ms | min ms | median vs {label} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, xs in rows:
        med = statistics.median(xs)
        ratio = f"{med / ref_median:.2f}x" if ref_median else "–"
        print(f"| {name} | {len(xs)} | {statistics.fmean(xs):.2f} | {med:.2f} | "
              f"{p90(xs):.2f} | {min(xs):.2f} | {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({name: xs for name, xs in rows}, f, indent=1)


if __name__ == "__main__":
    main()
