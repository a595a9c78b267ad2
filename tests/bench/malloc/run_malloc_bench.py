#!/usr/bin/env python3
"""run_malloc_bench.py -- libpcache-malloc against the system's mallocs.

Runs the malloc benchmarks of this directory (larson, xmalloc, simple,
mixed, bignum and cubes in the manner of cfrac and espresso, peak) and real programs (python3 running the malloc suite's
workload.py, sort, gzip, gcc -O2 -c, timed by wall clock) under each
allocator in turn: glibc's (nothing preloaded),
jemalloc, tcmalloc, mimalloc (Debian's libjemalloc.so.2,
libtcmalloc_minimal.so.4, libmimalloc.so.2, through LD_PRELOAD) and
libpcache-malloc.  Rounds are interleaved -- every round runs every
benchmark under every allocator, in an order shuffled per round -- so
that a machine whose speed drifts affects all alike.  It prints, per
benchmark and allocator, the median throughput (ops/s; for peak, the
peak resident set, lower is better), the median over rounds of the
same-round ratio to glibc, and the median peak RSS.

Numbers are only worth reading from a quiet machine with the CPU
frequency fixed; --smoke runs one short round to check that everything
runs.

With --plot FILE.png it also draws every allocator's speed relative to
glibc's per workload (lower-is-better figures inverted, so that taller
is better everywhere) with gnuplot (docs/bench/malloc_plot.gp);
--replot JSON draws that from an earlier run's --json file instead of
running anything.

Usage: run_malloc_bench.py --bindir DIR --lib LIBPCACHE_MALLOC
           [--rounds N] [--seconds S] [--threads T] [--smoke] [--json FILE]
           [--plot FILE.png]
       run_malloc_bench.py --replot JSON --plot FILE.png

Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PROGRAMS = ["python3", "sort", "gzip", "gcc"]    # timed by wall clock
SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "..", ".."))

PEERS = {
    "jemalloc": "libjemalloc.so.2",
    "tcmalloc": "libtcmalloc_minimal.so.4",
    "mimalloc": "libmimalloc.so.2",
}


def find_shared(name):
    """The path of a shared library by soname, from ldconfig's cache."""
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True,
                             text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        parts = line.strip().split(" => ")
        if len(parts) == 2 and parts[0].split()[0] == name:
            return parts[1]
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return None


def benchmarks(secs, threads, smoke):
    """(name, program, args, metric, higher_is_better) for every benchmark."""
    s = str(secs)
    t = str(threads)
    half = str(max(1, threads // 2))
    return [
        ("larson", "malloc_larson", [s, t, "1000", "16", "512"], "ops_per_s", True),
        ("xmalloc", "malloc_xmalloc", [s, half, "64", "256"], "ops_per_s", True),
        ("simple-1t", "malloc_simple", [s, "1", "100"], "ops_per_s", True),
        ("simple-mt", "malloc_simple", [s, t, "100"], "ops_per_s", True),
        ("mixed", "malloc_mixed", [s, t, "4000"], "ops_per_s", True),
        ("bignum", "malloc_bignum", [s, "6"], "ops_per_s", True),
        ("cubes", "malloc_cubes", [s, "96"], "ops_per_s", True),
        ("peak", "malloc_peak", ["0.05" if smoke else "1"], "maxrss_kb", False),
    ]


def programs(tmp, smoke):
    """(name, argv, stdin file) for the real programs, those installed."""
    data = os.path.join(tmp, "data")
    n = 20000 if smoke else 400000
    x = 12345
    with open(data, "w", encoding="ascii") as fp:
        for i in range(n):
            x = (x * 1103515245 + 12345) % 2147483648
            fp.write(f"{x % 100003} {'abcdefghijklmnopqrstuvwxyz'[x % 26] * (1 + x % 9)}-{x:x} line {i}\n")
    progs = [
        ("python3", ["python3", os.path.join(SRC, "tests", "malloc", "workload.py"),
                     "0.2" if smoke else "1"], None),
        ("sort", ["sort", "-k2,2", data], None),
        ("gzip", ["gzip", "-6", "-c", data], None),
        ("gcc", ["gcc", "-O2", "-std=c11", "-D_GNU_SOURCE",
                 "-I" + os.path.join(SRC, "include"), "-I" + os.path.join(SRC, "lib"),
                 "-c", os.path.join(SRC, "lib", "slab.c"), "-o",
                 os.path.join(tmp, "slab.o")], None),
    ]
    return [p for p in progs if shutil.which(p[1][0])]


def run_program(argv, preload, timeout):
    """{"wall_s", "maxrss_kb"} of one run of argv, or None if it failed."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)
    try:
        _, status, _ = os.wait4(p.pid, 0)
    except ChildProcessError:
        return None
    p.returncode = status
    wall = time.perf_counter() - t0
    if status != 0 or wall > timeout:
        return None
    # No peak RSS: a child's ru_maxrss counts the forking parent's pages.
    return {"wall_s": wall}


def run_one(path, args, preload, timeout):
    """The key=value fields the program printed, or None if it failed."""
    if path is None:
        return run_program(args, preload, timeout)
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    try:
        p = subprocess.run([path] + args, capture_output=True, text=True,
                           env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        return None
    fields = {}
    for line in p.stdout.splitlines():
        for word in line.split():
            if "=" in word:
                k, v = word.split("=", 1)
                fields[k] = v
    return fields


def relative(results, name, alloc, higher):
    """The median over rounds of alloc's speed relative to glibc's."""
    ratios = []
    for x, b in zip(results[name][alloc], results[name]["glibc"]):
        if x is None or b is None or x[0] <= 0 or b[0] <= 0:
            continue
        ratios.append(x[0] / b[0] if higher else b[0] / x[0])
    return statistics.median(ratios) if ratios else None


def plot(results, allocs, higher_of, png):
    """Draw the relative speeds with gnuplot; False when it is missing."""
    gp = os.path.join(SRC, "docs", "bench", "malloc_plot.gp")
    if not shutil.which("gnuplot"):
        print("# gnuplot not installed: no plot")
        return False
    dat = os.path.splitext(png)[0] + ".dat"
    with open(dat, "w", encoding="utf-8") as fp:
        fp.write("workload " + " ".join(allocs) + "\n")
        for name in results:
            row = [relative(results, name, a, higher_of[name]) for a in allocs]
            fp.write(name + " " + " ".join(
                "-" if r is None else f"{r:.4f}" for r in row) + "\n")
    subprocess.run(["gnuplot", "-e", f"datafile='{dat}'; outfile='{png}'; "
                    f"ncol={len(allocs) + 1}", gp], check=False)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir")
    ap.add_argument("--lib", help="libpcache-malloc.so")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--smoke", action="store_true",
                    help="one round of 0.2 s runs: checks, not numbers")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--plot", help="draw the relative speeds here (PNG)")
    ap.add_argument("--replot", help="plot this earlier --json run; run nothing")
    a = ap.parse_args()
    if a.replot:
        with open(a.replot, encoding="utf-8") as fp:
            d = json.load(fp)
        wall = d.get("wall", PROGRAMS)
        higher_of = {n: n != "peak" and n not in wall for n in d["results"]}
        return 0 if a.plot and plot(d["results"], list(d["allocators"]),
                                    higher_of, a.plot) else 1
    if not a.bindir or not a.lib:
        ap.error("--bindir and --lib are needed to run")
    if a.smoke:
        a.rounds, a.seconds = 1, 0.2

    allocs = {"glibc": None}
    for name, soname in PEERS.items():
        path = find_shared(soname)
        if path:
            allocs[name] = path
        else:
            print(f"# {name}: {soname} not found, skipped "
                  f"(Debian: libjemalloc2, libtcmalloc-minimal4, libmimalloc2.0)")
    allocs["pcache"] = os.path.abspath(a.lib)
    benches = benchmarks(a.seconds, a.threads, a.smoke)
    tmp = tempfile.mkdtemp(prefix="mbench-")
    benches += [(name, None, argv, "wall_s", False)
                for name, argv, _ in programs(tmp, a.smoke)]
    rng = random.Random(20260101)
    # results[bench][alloc] = list of (metric, maxrss) per round
    results = {b[0]: {k: [] for k in allocs} for b in benches}
    for r in range(a.rounds):
        for name, prog, args, metric, _ in benches:
            order = list(allocs)
            rng.shuffle(order)
            for alloc in order:
                f = run_one(os.path.join(a.bindir, prog) if prog else None,
                            args, allocs[alloc], timeout=60 + 10 * a.seconds)
                if f is None or metric not in f:
                    print(f"# round {r}: {name} under {alloc} failed")
                    results[name][alloc].append(None)
                    continue
                results[name][alloc].append(
                    (float(f[metric]), float(f.get("maxrss_kb", 0))))
        print(f"# round {r + 1}/{a.rounds} done", flush=True)

    print(f"\n{a.rounds} rounds, {a.seconds} s per run, {a.threads} threads")
    for name, _, _, metric, higher in benches:
        unit = {"ops_per_s": "ops/s", "maxrss_kb": "peak RSS kB (lower is better)",
                "wall_s": "wall seconds (lower is better)"}[metric]
        print(f"\n{name}: {unit}")
        print(f"  {'allocator':10} {'median':>14} {'vs glibc':>9} {'peak RSS MB':>12}")
        base = results[name]["glibc"]
        for alloc in allocs:
            runs = results[name][alloc]
            ok = [x for x in runs if x is not None]
            if not ok:
                print(f"  {alloc:10} {'failed':>14}")
                continue
            med = statistics.median(x[0] for x in ok)
            rss = statistics.median(x[1] for x in ok) / 1024
            ratios = [x[0] / b[0] for x, b in zip(runs, base)
                      if x is not None and b is not None and b[0] > 0]
            ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
            val = f"{med:14.4f}" if metric == "wall_s" else f"{med:14.0f}"
            rss = f"{rss:12.1f}" if rss > 0 else f"{'-':>12}"
            print(f"  {alloc:10} {val} {ratio:>9} {rss}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fp:
            json.dump({"rounds": a.rounds, "seconds": a.seconds,
                       "threads": a.threads, "allocators": allocs,
                       "wall": [b[0] for b in benches if b[3] == "wall_s"],
                       "results": results}, fp, indent=1)
    if a.plot:
        plot(results, list(allocs), {b[0]: b[4] for b in benches}, a.plot)
    shutil.rmtree(tmp, ignore_errors=True)
    failed = sum(1 for b in results.values() for runs in b.values()
                 for x in runs if x is None)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
