#!/usr/bin/env python3
"""layering.py -- check that calls in lib/ run only downward.

Usage: layering.py LAYERS NM ARCHIVE [--plant FILE SYMBOL]

LAYERS is lib/layers.txt, NM the nm program, ARCHIVE the library's
internal static archive.  With --plant, the check runs on the archive's
symbols plus one made-up reference from FILE to SYMBOL, and passes only
if that reference is reported: a test of the test.

Every symbol an object of the library leaves
undefined and another object of the library defines must be defined by a
file that comes earlier in LAYERS.  Each offending reference is printed as
"FILE -> SYMBOL (defined in FILE)", and the exit status is 1.
"""
import re
import subprocess
import sys


def read_layers(path):
    order = []
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        _, files = line.split(":", 1)
        order.extend(files.split())
    return {name: i for i, name in enumerate(order)}


def member_source(member):
    """lib_slab.c.o (Meson's object name) -> slab.c"""
    m = re.search(r"([A-Za-z0-9_]+\.c)\.o(bj)?$", member)
    if not m:
        return None
    name = m.group(1)
    return name[4:] if name.startswith("lib_") else name


def parse(listing):
    defined, undefined = {}, []
    for line in listing.splitlines():
        # archive:member: [address] type name
        m = re.search(r"([^:/\s]+\.o(?:bj)?):\s*(?:[0-9a-fA-F]+)?\s+"
                      r"([A-Za-z?])\s+(\S+)\s*$", line)
        if not m:
            continue
        src = member_source(m.group(1))
        kind, sym = m.group(2), m.group(3)
        if src is None:
            continue
        if kind == "U":
            undefined.append((src, sym))
        elif kind.isupper():
            defined[sym] = src
    return defined, undefined


def check(order, listing):
    defined, undefined = parse(listing)
    bad = []
    unknown = sorted({src for src in defined.values() if src not in order} |
                     {src for src, _ in undefined if src not in order})
    for src in unknown:
        bad.append(f"{src} is not listed in layers.txt")
    for src, sym in undefined:
        home = defined.get(sym)
        if home is None or home == src or src not in order or home not in order:
            continue
        if order[home] > order[src]:
            bad.append(f"{src} -> {sym} (defined in {home}, a higher layer)")
    return bad


def main():
    order = read_layers(sys.argv[1])
    listing = subprocess.run([sys.argv[2], "-A", sys.argv[3]], check=True,
                             capture_output=True, text=True).stdout
    planted = None
    if len(sys.argv) == 7 and sys.argv[4] == "--plant":
        planted = f"{sys.argv[5]} -> {sys.argv[6]} "
        obj = "lib_" + sys.argv[5] + ".o"
        listing += f"\nplanted.a:{obj}:                 U {sys.argv[6]}\n"
    defined, undefined = parse(listing)
    if len(defined) < 20 or not undefined:
        print(f"too few symbols read ({len(defined)} defined): wrong input?")
        return 1
    bad = check(order, listing)
    if planted is not None:
        found = [line for line in bad if line.startswith(planted)]
        print("planted reference reported:" if found else
              "planted reference NOT reported:", planted.strip())
        return 0 if found and len(bad) == 1 else 1
    for line in bad:
        print("upward reference:" if "->" in line else "error:", line)
    if bad:
        return 1
    print(f"{len(order)} files, {len(defined)} symbols, "
          f"{len(undefined)} references: all downward")
    return 0


if __name__ == "__main__":
    sys.exit(main())
