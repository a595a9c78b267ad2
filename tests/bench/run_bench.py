#!/usr/bin/env python3
# run_bench.py -- the benchmark suite's driver: runs every workload for
# libpcache (each per-CPU layer it has here) and for every peer found,
# prints a Markdown table of medians, writes results.md, results.dat and
# results.json, and draws bench.png with gnuplot when it is installed.
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
#
# Registered as `meson test -C build --benchmark --suite bench`; can also be
# run by hand:  python3 tests/bench/run_bench.py --alloc build/tests/bench/bench_alloc
#   [--dpdk build/tests/bench/bench_dpdk] [--src .] [--out docs/bench]
#
# Environment (each optional):
#   PCACHE_BENCH_RUNS       rounds; the figures are medians over them (default 7)
#   PCACHE_BENCH_SECS       seconds of each timed phase (default 0.1)
#   PCACHE_BENCH_OUT        where to write the results (default --out)
#   PCACHE_BENCH_LABEL      a note on the library variant, copied into results.md
#   PCACHE_BENCH_PEERS      comma-separated subset of glibc,jemalloc,tcmalloc,mimalloc,dpdk
#   PCACHE_BENCH_CALLGRIND  0 to skip the instruction counts
#   PCACHE_BENCH_JEMALLOC, PCACHE_BENCH_TCMALLOC, PCACHE_BENCH_MIMALLOC
#                           paths of the shared objects to preload
# libpcache is measured once per per-CPU layer: the default one and, when
# that is the rseq layer, the locked one as well (PCACHE_RSEQ=0).

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

# Malloc peers in table order: name, soname to preload (None: none needed).
MALLOCS = [
    ("glibc", None),
    ("jemalloc", "libjemalloc.so.2"),
    ("tcmalloc", "libtcmalloc_minimal.so.4"),
    ("mimalloc", "libmimalloc.so.2"),
]
DPDK = "dpdk"

# Workloads each program runs in one process per round.
PCACHE_WORKLOADS = ["pair", "batch", "bulk", "bigbatch", "page", "xcpu", "scale",
                    "wall2", "invalidate"]
MALLOC_WORKLOADS = ["pair", "batch", "bigbatch", "page", "xcpu", "scale", "wall2"]
DPDK_WORKLOADS = ["pair", "batch", "bulk"]

# Callgrind: instructions per pair from the difference of two fixed counts.
CG_PAIRS = (100000, 300000)


def describe(name):
    """Human label of a figure name as the programs print it."""
    fixed = {
        "pair": "pair: get+put one 64 B object",
        "batch": "batch: get 1000, put 1000 (64 B), per object",
        "bulk": "bulk: get_bulk 1000, put_bulk 1000, per object",
        "bigbatch": "batch of 3000 (3x a CPU's initial share), per object",
        "wall2": "2 threads x batch loop, not pinned, wall time per thread",
        "page": "page: 4 KiB page-table page (ctor vs malloc + init)",
        "xcpu": "xcpu: producer -> consumer, cross-CPU frees",
        "rss": "peak RSS: 1 M live 64 B objects",
    }
    if name in fixed:
        return fixed[name]
    m = re.fullmatch(r"scale-(\d+)", name)
    if m:
        return "scale: %s thread%s x batch loop, per thread" % (
            m.group(1), "" if m.group(1) == "1" else "s")
    m = re.fullmatch(r"inval-(\d+)", name)
    if m:
        return "pcache_invalidate, %s cached per CPU" % m.group(1)
    return name


def order_key(name):
    """Sort key putting figures in the order of the table."""
    base = ["pair", "batch", "bulk", "bigbatch", "page", "xcpu", "scale",
            "wall2", "rss", "inval"]
    head, _, tail = name.partition("-")
    rank = base.index(head) if head in base else len(base)
    return (rank, int(tail) if tail.isdigit() else 0, name)


def run(cmd, env_extra=None, timeout=300):
    """Run cmd; return (exit status, stdout, stderr); never raises on failure.

    The child gets this process's environment without LD_PRELOAD, plus
    env_extra.
    """
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if env_extra:
        env.update(env_extra)
    try:
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, "", str(e)


def parse_results(text):
    """The (name, unit, value) triples of the RESULT lines in text."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "RESULT":
            try:
                out.append((f[1], f[2], float(f[3])))
            except ValueError:
                pass
    return out


def parse_layer(text):
    """The per-CPU layer named by a LAYER line in text, or None."""
    m = re.search(r"^LAYER (\S+)$", text, re.M)
    return m.group(1) if m else None


def find_shared(soname):
    """Path of a shared object by soname via ldconfig -p, or None."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    rc, out, _ = run([ldconfig, "-p"])
    arch = "x86-64" if platform.machine() == "x86_64" else ""
    if rc == 0:
        for line in out.splitlines():
            f = line.strip().split(" => ")
            if len(f) != 2 or f[0].split()[0] != soname or arch not in f[0]:
                continue
            if os.path.exists(f[1]):
                return f[1]
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib"):
        p = os.path.join(d, soname)
        if os.path.exists(p):
            return p
    return None


def machine_info(src):
    """Facts about the machine and the source tree for the results header."""
    info = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "nproc": os.cpu_count(), "kernel": platform.release(),
            "cpu": "unknown", "glibc": "unknown", "commit": "unknown"}
    rc, out, _ = run(["nproc"])
    if rc == 0 and out.strip().isdigit():
        info["nproc"] = int(out.strip())
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["glibc"] = os.confstr("CS_GNU_LIBC_VERSION").replace("glibc ", "")
    except (ValueError, OSError, AttributeError):
        pass
    if src and shutil.which("git"):
        rc, out, _ = run(["git", "-C", src, "rev-parse", "--short", "HEAD"])
        if rc == 0:
            info["commit"] = out.strip()
            rc, out, _ = run(["git", "-C", src, "status", "--porcelain",
                              "--", "lib", "include"])
            if rc == 0 and out.strip():
                info["commit"] += " (lib/ or include/ modified)"
    return info


def build_info(binary):
    """Buildtype and compiler of the meson build holding binary, if found."""
    d = os.path.dirname(os.path.abspath(binary))
    while d != "/":
        opts = os.path.join(d, "meson-info", "intro-buildoptions.json")
        if os.path.exists(opts):
            res = {}
            try:
                with open(opts) as f:
                    for o in json.load(f):
                        if o.get("name") in ("buildtype", "optimization", "b_lto"):
                            res[o["name"]] = o.get("value")
                with open(os.path.join(d, "meson-info", "intro-compilers.json")) as f:
                    c = json.load(f).get("host", {}).get("c", {})
                    res["cc"] = "%s %s" % (c.get("id", "?"), c.get("version", "?"))
            except (OSError, ValueError):
                pass
            return res
        d = os.path.dirname(d)
    return {}


def fmt(v, unit):
    """A figure as printed in the tables."""
    if v is None:
        return "n/a"
    if unit == "MiB":
        return "%.1f" % v
    if v >= 100:
        return "%.0f" % v
    return "%.2f" % v


def pcache_variants(alloc, notes):
    """libpcache's columns: [(name, layer, extra environment)].

    The default layer always; the locked layer as well when the default is
    another one (PCACHE_RSEQ=0 selects it).
    """
    rc, out, err = run([alloc, "pcache", "probe"])
    layer = parse_layer(out)
    if rc != 0 or layer is None:
        notes.append("libpcache: probe failed: %s" % err.strip()[-300:])
        return [("libpcache", "unknown", None)]
    if layer == "lock":
        return [("libpcache", layer, None)]
    variants = [("libpcache-" + layer, layer, None)]
    rc, out, _ = run([alloc, "pcache", "probe"], {"PCACHE_RSEQ": "0"})
    other = parse_layer(out)
    if rc == 0 and other not in (None, layer):
        variants.append(("libpcache-" + other, other, {"PCACHE_RSEQ": "0"}))
    return variants


def cg_functions(outfile):
    """Instructions per function (function name -> count) from a callgrind output file."""
    rc, out, _ = run(["callgrind_annotate", "--threshold=100", outfile])
    funcs = {}
    if rc != 0:
        return funcs
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S+:\S+)", line)
        if m:
            name = m.group(2).rsplit(":", 1)[1]
            if name.startswith("0x"):
                name = "(no symbol)"
            funcs[name] = funcs.get(name, 0) + int(m.group(1).replace(",", ""))
    return funcs


def callgrind(alloc, pvariants, peers, tmpdir, notes):
    """Instructions per pair loop iteration for libpcache and each malloc peer.

    Returns {column: (total per pair, {function: per pair}, layer)}, from the
    difference of two runs of CG_PAIRS iterations, so set-up costs cancel.
    A libpcache layer that valgrind cannot run is left out with a note.
    """
    if shutil.which("valgrind") is None:
        notes.append("valgrind not installed: no instruction counts.")
        return {}
    jobs = [(n, "pcache", env, layer) for n, layer, env in pvariants]
    jobs += [(n, "malloc", {"LD_PRELOAD": p} if p else None, None) for n, p in peers]
    counts = {}
    for name, mode, env, layer in jobs:
        tot, funcs, got = [], [], None
        for n in CG_PAIRS:
            outfile = os.path.join(tmpdir, "callgrind.%s.%d" % (name, n))
            rc, out, err = run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outfile,
                                alloc, "-c", str(n), mode], env, timeout=600)
            m = re.search(r"Collected\s*:\s*(\d+)", err)
            if rc != 0 or not m:
                notes.append("callgrind failed for %s." % name)
                break
            got = parse_layer(out)
            tot.append(int(m.group(1)))
            funcs.append(cg_functions(outfile))
        if len(tot) != 2:
            continue
        if layer is not None and got != layer:
            notes.append("callgrind: %s left out: under valgrind a new cache gets the %s "
                         "layer (valgrind does not implement rseq)." % (name, got))
            continue
        d = CG_PAIRS[1] - CG_PAIRS[0]
        per = {f: (funcs[1].get(f, 0) - funcs[0].get(f, 0)) / d for f in funcs[1]}
        counts[name] = ((tot[1] - tot[0]) / d,
                        {f: v for f, v in per.items() if v >= 0.5}, got)
    return counts


def main():
    """Run the suite; exit status 0 unless a libpcache run failed."""
    ap = argparse.ArgumentParser(description="libpcache benchmark driver")
    ap.add_argument("--alloc", required=True, help="bench_alloc program")
    ap.add_argument("--dpdk", help="bench_dpdk program, if built")
    ap.add_argument("--src", help="source root (for the commit id and plot script)")
    ap.add_argument("--out", default="docs/bench", help="results directory")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("PCACHE_BENCH_RUNS", "7")))
    ap.add_argument("--secs", type=float, default=float(os.environ.get("PCACHE_BENCH_SECS", "0.1")))
    a = ap.parse_args()
    out_dir = os.environ.get("PCACHE_BENCH_OUT") or a.out
    runs = max(1, min(a.runs, 99))
    want = os.environ.get("PCACHE_BENCH_PEERS")
    want = set(w.strip() for w in want.split(",")) if want else None
    notes = []

    # libpcache's layers, then the peers: each preload probed so that a
    # column is never mislabelled.
    pvars = pcache_variants(a.alloc, notes)
    pnames = [n for n, _, _ in pvars]
    peers = []
    for name, soname in MALLOCS:
        if want is not None and name not in want:
            continue
        path = None
        if soname:
            path = os.environ.get("PCACHE_BENCH_" + name.upper()) or find_shared(soname)
            if path is None:
                notes.append("%s: %s not found, left out." % (name, soname))
                continue
        rc, out, err = run([a.alloc, "malloc", "probe"], {"LD_PRELOAD": path} if path else None)
        m = re.search(r"^MALLOC (.*)$", out, re.M)
        provider = m.group(1) if m else "?"
        expect = os.path.basename(path).split(".so")[0] if path else "libc"
        if rc != 0 or expect not in os.path.basename(provider):
            notes.append("%s: malloc came from %s, not %s; left out. %s"
                         % (name, provider, expect, err.strip()))
            continue
        peers.append((name, path))
    dpdk = a.dpdk if a.dpdk and (want is None or DPDK in want) else None
    if a.dpdk is None:
        notes.append("dpdk: bench_dpdk not built (libdpdk not found at configure time).")

    # Columns of the table, then the jobs of one round.
    impls = pnames + [n for n, _ in peers] + ([DPDK] if dpdk else [])
    secs = ["-t", "%g" % a.secs]
    jobs = []
    for name, _, env in pvars:
        jobs.append((name, [a.alloc] + secs + ["pcache"] + PCACHE_WORKLOADS, env))
        jobs.append((name, [a.alloc, "pcache", "rss"], env))
    for name, path in peers:
        env = {"LD_PRELOAD": path} if path else None
        jobs.append((name, [a.alloc] + secs + ["malloc"] + MALLOC_WORKLOADS, env))
        jobs.append((name, [a.alloc, "malloc", "rss"], env))
    if dpdk:
        jobs.append((DPDK, [dpdk] + secs + DPDK_WORKLOADS, None))

    data = {i: {} for i in impls}
    units = {}
    failed = set()
    print("libpcache benchmarks: %d rounds of %d processes, %g s per timed phase"
          % (runs, len(jobs), a.secs), flush=True)
    for r in range(runs):
        # Rotate the order each round so that no allocator always runs first.
        k = r % len(jobs)
        for name, cmd, env in jobs[k:] + jobs[:k]:
            if name in failed:
                continue
            rc, out, err = run(cmd, env)
            if rc != 0:
                failed.add(name)
                why = "EAL did not start" if rc == 77 else "exit status %d" % rc
                notes.append("%s: %s failed (%s); left out. %s"
                             % (name, os.path.basename(cmd[0]), why, err.strip()[-300:]))
                continue
            for fig, unit, v in parse_results(out):
                units[fig] = unit
                data[name].setdefault(fig, []).append(v)
        print("  round %d/%d done" % (r + 1, runs), flush=True)
    for name in failed:
        if name not in pnames and name in impls:
            impls.remove(name)
            data.pop(name, None)

    cg = {}
    if os.environ.get("PCACHE_BENCH_CALLGRIND", "1") != "0":
        with tempfile.TemporaryDirectory(prefix="pcache-bench-") as tmpdir:
            cg = callgrind(a.alloc, pvars, peers, tmpdir, notes)

    # Medians, best peer, ratios.
    figs = sorted(units, key=order_key)
    med = {i: {f: statistics.median(v) for f, v in data[i].items()} for i in impls}
    peer_cols = [i for i in impls if i not in pnames]
    rows = []
    for f in figs:
        peer_vals = [(med[i][f], i) for i in peer_cols if f in med[i]]
        best = min(peer_vals) if peer_vals else None
        ratios = []
        for p in pnames:
            pv = med[p].get(f)
            ratios.append(pv / best[0] if best and pv is not None and best[0] > 0 else None)
        rows.append((f, best, ratios))

    short = {n: n[len("libpcache-"):] if n.startswith("libpcache-") else "libpcache"
             for n in pnames}
    head = ["workload", "unit"] + impls + ["best peer"] + \
        ["%s / best" % short[p] for p in pnames]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f, best, ratios in rows:
        u = units[f]
        cells = [describe(f), u]
        for i in impls:
            s = fmt(med[i].get(f), u)
            if best and i == best[1]:
                s = "**" + s + "**"
            cells.append(s)
        cells.append(best[1] if best else "-")
        cells += ["%.2f" % r if r is not None else "-" for r in ratios]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines)

    spread = ["| workload | " + " | ".join(impls) + " |", "|" + "---|" * (len(impls) + 1)]
    for f in figs:
        cells = [f]
        for i in impls:
            v = data[i].get(f)
            cells.append("%s-%s" % (fmt(min(v), units[f]), fmt(max(v), units[f])) if v else "n/a")
        spread.append("| " + " | ".join(cells) + " |")

    print()
    print(table)
    if cg:
        print()
        print("Instructions per get+put pair (callgrind): " +
              ", ".join("%s %.1f" % (n, v[0]) for n, v in cg.items()))
    for n in notes:
        print("note: " + n)

    # Files: results.md, results.dat (gnuplot), results.json (every run).
    info = machine_info(a.src)
    binfo = build_info(a.alloc)
    os.makedirs(out_dir, exist_ok=True)
    pc_desc = ", ".join("%s (%s layer%s)" % (n, layer, ", PCACHE_RSEQ=0" if env else "")
                        for n, layer, env in pvars)
    peer_desc = ", ".join("%s (%s)" % (n, p or "libc.so.6, no preload") for n, p in peers)
    if dpdk:
        peer_desc += ", dpdk (rte_mempool, per-lcore cache of 512)"
    md = ["# libpcache benchmark results", "",
          "Written by `tests/bench/run_bench.py` (`meson test -C build --benchmark "
          "--suite bench`); rerun it rather than editing this file.", "",
          "- date: %s" % info["date"],
          "- machine: nproc %s, %s, kernel %s, glibc %s"
          % (info["nproc"], info["cpu"], info["kernel"], info["glibc"]),
          "- library: commit %s%s; %s" % (info["commit"],
                                         ", " + os.environ["PCACHE_BENCH_LABEL"]
                                         if os.environ.get("PCACHE_BENCH_LABEL") else "",
                                         pc_desc),
          "- build: %s" % (", ".join("%s %s" % (k, v) for k, v in binfo.items()) or "unknown"),
          "- peers: %s" % (peer_desc or "none"),
          "- method: median of %d rounds; each round runs every allocator in a fresh "
          "process (peers via LD_PRELOAD, libpcache under glibc malloc), the order "
          "rotating from round to round; each timed phase lasts %g s after a "
          "warm-up of a fifth of that. Single-thread workloads run pinned to the "
          "first allowed CPU, thread N of the threaded workloads to the N-th. "
          "Single-thread figures are the thread's CPU time, so that other processes "
          "on a shared machine do not inflate them; the threaded ones are "
          "corrected for preemption as described under Workloads." % (runs, a.secs),
          "", "## Results", "",
          "ns figures are per object (one get and one put); lower is better. "
          "The best peer's figure is in bold. The \"/ best\" columns divide each "
          "libpcache figure by the best peer's: above 1, libpcache is slower "
          "(or bigger) by that factor.", "",
          table, ""]
    if cg:
        md += ["## Instructions per get+put pair (callgrind)", "",
               "The pair loop under `valgrind --tool=callgrind`: the difference of %d and %d "
               "iterations, so set-up costs cancel; the loop itself is included. "
               "Valgrind does not implement rseq, so glibc registers none and "
               "`sched_getcpu()` takes its fallback path (natively it reads the rseq "
               "area in a few instructions), and libpcache's rseq layer cannot be "
               "counted this way." % CG_PAIRS, "",
               "| allocator | layer | instructions per pair | of which sched_getcpu |",
               "|---|---|---|---|"]
        md += ["| %s | %s | %.1f | %.1f |" % (n, v[2] or "-", v[0], v[1].get("sched_getcpu", 0))
               for n, v in cg.items()]
        md.append("")
        for n in pnames + ["glibc"]:
            if n in cg:
                md += ["%s, per function (instructions per pair):" % n, "",
                       "| function | instructions |", "|---|---|"]
                md += ["| `%s` | %.1f |" % (f, v) for f, v in
                       sorted(cg[n][1].items(), key=lambda kv: -kv[1])]
                md.append("")
    md += ["## Workloads", "",
           "- pair: get one 64 B object, write a word, put it; over and over.",
           "- batch: get 1000 objects one call at a time (writing a word into each), "
           "then put the 1000 back.",
           "- bulk: the batch workload through `pcache_get_bulk`/`pcache_put_bulk` "
           "(DPDK: `rte_mempool_get_bulk`/`rte_mempool_put_bulk`; 1000 is above its "
           "cache size, so DPDK goes to its ring). The mallocs have no bulk call.",
           "- page: 16 page-table pages of 4 KiB at a time. libpcache: a 4 KiB-aligned "
           "cache whose ctor zeroes the page, writes 4 kernel entries and the "
           "recursive slot; the caller maps one user entry and clears it before the "
           "put. malloc: `aligned_alloc(4096, 4096)` and the same initialisation on "
           "every allocation. ns per page.",
           "- xcpu: one thread gets objects on the first CPU and passes them through "
           "a single-producer ring (indices published every 32 objects) to a thread "
           "on the second CPU that puts them; CPU ns of both threads together per "
           "object, ring included, time either spends waiting for the other excluded.",
           "- scale-N: N threads, each pinned to its own CPU, each running the batch "
           "loop; ns per object per thread (equal to scale-1 under perfect scaling), "
           "from wall time less the time the thread sat runnable but preempted "
           "(`/proc/thread-self/schedstat`), so waits on locks count and other "
           "processes do not.",
           "- peak RSS: growth of VmHWM while 1 M objects of 64 B are live, each "
           "written in full; the pointer array exists before the baseline.",
           "- pcache_invalidate: every allowed CPU gets M objects and puts them back "
           "(so the CPU's magazines and the depot hold them), then one call is "
           "timed (wall clock); median of 5 inside each round. libpcache only.", "",
           "## Spread (min-max over the rounds)", ""] + spread + [""]
    if notes:
        md += ["## Notes", ""] + ["- " + n for n in notes] + [""]
    md += ["Plot: `bench.png` (drawn by `plot.gp` from `results.dat`).", ""]
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(md))

    ns_figs = [f for f in figs if units[f] == "ns"]
    mem_figs = [f for f in figs if units[f] == "MiB"]
    with open(os.path.join(out_dir, "results.dat"), "w") as f:
        f.write("# libpcache benchmarks, medians; block 0: ns per object, "
                "block 1: peak RSS in MiB; - is no figure\n")
        for block in (ns_figs, mem_figs):
            f.write("workload " + " ".join(impls) + "\n")
            for fig in block:
                f.write('"%s" ' % fig + " ".join(
                    "%.4f" % med[i][fig] if fig in med[i] else "-" for i in impls) + "\n")
            f.write("\n\n")
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"info": info, "build": binfo, "runs": runs, "secs": a.secs,
                   "pcache": {n: layer for n, layer, _ in pvars},
                   "peers": dict(peers), "units": units, "runs_data": data,
                   "medians": med, "callgrind": cg, "notes": notes}, f, indent=1)
        f.write("\n")

    plot = os.path.join(a.src or ".", "docs", "bench", "plot.gp")
    if shutil.which("gnuplot") and os.path.exists(plot):
        png = os.path.join(out_dir, "bench.png")
        sub = "%s, nproc %s, %s, commit %s" % (info["date"], info["nproc"], info["cpu"],
                                               info["commit"])
        rc, _, err = run(["gnuplot", "-e", "datafile='%s'; outfile='%s'; ncol=%d; subtitle='%s'"
                          % (os.path.join(out_dir, "results.dat"), png, len(impls) + 1,
                             sub.replace("'", "")), plot])
        print("plot: %s" % (png if rc == 0 else "gnuplot failed: " + err.strip()))
    else:
        print("plot: skipped (no gnuplot or no %s)" % plot)
    print("results: %s" % os.path.join(out_dir, "results.md"))
    return 1 if failed & set(pnames) else 0


if __name__ == "__main__":
    sys.exit(main())
