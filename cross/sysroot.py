#!/usr/bin/env python3
"""sysroot.py -- make a target root for a cross build from Debian packages.

    sysroot.py ARCH SUITE DEST PACKAGE...

Downloads PACKAGE... for Debian architecture ARCH from SUITE (bookworm,
or trixie where bookworm has no such architecture), with the libraries
they depend on, and unpacks them into DEST: the cross compiler finds the
headers, libraries and pkg-config files there, and qemu-user runs the
test programs with DEST as their root (`qemu-ARCH -L DEST`).

It reads the archive's package index itself and unpacks with dpkg-deb -x,
so the host's dpkg and apt configuration are left alone: no foreign
architecture is added, and no multiarch version lock-step with the
host's packages is needed.  Dependencies are followed (first alternative)
into library packages only; tools such as mawk are the host's business.
"""
import lzma
import os
import re
import subprocess
import sys
import urllib.request

MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SKIP = {"libc-bin", "libc-dev-bin", "libc-l10n", "libgcc-12-dev"}


def fetch(url, tries=4):
    """The bytes at url, retried: mirrors answer mid-sync now and then."""
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=120) as r:
                return r.read()
        except OSError as e:
            if attempt == tries - 1:
                raise
            print(f"sysroot: {url}: {e}; again", file=sys.stderr)


def index(arch, suite):
    """Package name -> its stanza (a dict), from SUITE's main index."""
    raw = fetch(f"{MIRROR}/dists/{suite}/main/binary-{arch}/Packages.xz")
    pkgs = {}
    for stanza in lzma.decompress(raw).decode().split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line
            elif ":" in line:
                key, _, val = line.partition(":")
                fields[key] = val.strip()
        if "Package" in fields:
            pkgs[fields["Package"]] = fields
    return pkgs


def deps(stanza):
    """The first alternative of each dependency, without version or arch."""
    out = []
    for field in ("Pre-Depends", "Depends"):
        for dep in stanza.get(field, "").split(","):
            name = re.split(r"[\s(:|]", dep.strip(), maxsplit=1)[0]
            if name:
                out.append(name)
    return out


def closure(pkgs, roots):
    """roots and the library packages they need, in a stable order."""
    want, todo = [], list(roots)
    while todo:
        name = todo.pop(0)
        if name in want or name in SKIP:
            continue
        if name not in pkgs:
            sys.exit(f"sysroot: no package {name}")
        want.append(name)
        todo += [d for d in deps(pkgs[name]) if d.startswith("lib")]
    return want


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    arch, suite, dest = sys.argv[1:4]
    pkgs = index(arch, suite)
    os.makedirs(dest, exist_ok=True)
    cache = os.path.join(dest, ".debs")
    os.makedirs(cache, exist_ok=True)
    for name in closure(pkgs, sys.argv[4:]):
        path = os.path.join(cache, os.path.basename(pkgs[name]["Filename"]))
        if not os.path.exists(path):
            with open(path + ".part", "wb") as f:
                f.write(fetch(f"{MIRROR}/{pkgs[name]['Filename']}"))
            os.rename(path + ".part", path)
        subprocess.run(["dpkg-deb", "-x", path, dest], check=True)
        print(f"sysroot: {name} {pkgs[name]['Version']}")
    # Merged /usr (trixie): base-files would make these links.
    for top in ("lib", "bin", "sbin"):
        if not os.path.lexists(os.path.join(dest, top)):
            os.symlink(os.path.join("usr", top), os.path.join(dest, top))


if __name__ == "__main__":
    main()
