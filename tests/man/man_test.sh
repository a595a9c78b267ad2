#!/bin/sh
# man_test.sh SRCDIR: check the manual pages in docs/man against the public
# header, then lint and render them.
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
#
# Checks that every function declared with PCACHE_API has a page or is named
# in a page's NAME section, that every name a page lists is a real function
# with a man3 link installed for it, that every flag and statistics field is
# mentioned, that cross-references resolve, that `mandoc -T lint` reports no
# warning or error, and that man(1) renders each page.
set -eu
src=$1
mandir=$src/docs/man
hdr=$src/include/pcache.h
fail=0

bad() {
	echo "man-pages: $*" >&2
	fail=1
}

if ! command -v mandoc >/dev/null 2>&1; then
	echo "man-pages: mandoc is not installed; it is needed to lint the" \
	    "manual pages (Debian: apt-get install mandoc)" >&2
	exit 1
fi

# The pages, as the positional parameters.
set -- "$mandir"/*.3
[ -f "$1" ] || { echo "man-pages: no pages in $mandir" >&2; exit 1; }

# The names listed by .Nm in one page's NAME section.
nm_names() {
	awk '/^\.Sh / { insec = ($2 == "NAME") } insec && /^\.Nm / { print $2 }' "$1"
}

# Functions declared with PCACHE_API, declarations joined onto one line.
funcs=$(grep -v '^[[:space:]]*#' "$hdr" | tr '\n' ' ' |
    grep -o 'PCACHE_API[^;(]*(' |
    sed 's/.*[^A-Za-z0-9_]\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*($/\1/' | sort -u)
[ -n "$funcs" ] || { echo "man-pages: found no PCACHE_API function in $hdr" >&2; exit 1; }

documented=$(for p in "$@"; do nm_names "$p"; done | sort -u)

# (a) Every public function has a page or is named in one.
for f in $funcs; do
	if [ ! -f "$mandir/$f.3" ] && ! echo "$documented" | grep -qx "$f"; then
		bad "$f is declared in pcache.h but no page documents it"
	fi
done

# Every name a page lists is a public function (pcache.3 names the
# library), and names other than the page's own get a link in man3.
for p in "$@"; do
	page=$(basename "$p" .3)
	for n in $(nm_names "$p"); do
		[ "$n" = pcache ] && [ "$page" = pcache ] && continue
		# pcache_malloc.3 names libpcache-malloc (checked below).
		[ "$n" = pcache_malloc ] && [ "$page" = pcache_malloc ] && continue
		echo "$funcs" | grep -qx "$n" ||
		    bad "$page.3 documents $n, which pcache.h does not declare"
		[ "$n" = "$page" ] && continue
		grep -q "'$n'" "$mandir/meson.build" ||
		    bad "$page.3 documents $n, but docs/man/meson.build installs no link for it"
	done
done

# pcache_malloc.3 documents every call libpcache-malloc exports (the
# FE_EXPORT declarations of lib/malloc.c), each in a .Fn line.
mpage=$mandir/pcache_malloc.3
mcalls=$(sed -n 's/^FE_EXPORT[^(]*[^A-Za-z0-9_]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' \
    "$src/lib/malloc.c")
[ -n "$mcalls" ] || bad "found no FE_EXPORT call in lib/malloc.c"
for f in $mcalls; do
	[ -f "$mpage" ] && grep -q "^\.Fn $f[ ]" "$mpage" ||
	    bad "libpcache-malloc exports $f, but pcache_malloc.3 does not document it"
done

# Every flag and every statistics field is mentioned.
flags=$(sed -n 's/^#define[[:space:]]\{1,\}\(PCACHE_[A-Z_]*\)[[:space:]].*/\1/p' "$hdr" |
    grep -Evx 'PCACHE_H|PCACHE_API' || true)
for fl in $flags; do
	grep -Eq "(^|[ ])Dv $fl( |$)" "$@" ||
	    grep -q "^\.Fd #define $fl " "$@" ||
	    bad "flag $fl is not documented"
done
# shellcheck disable=SC2020
fields=$(awk '/^struct pcache_stats \{/ { on = 1; next } on && /^\};/ { on = 0 } on' "$hdr" |
    sed 's|/\*.*\*/||; s/^[[:space:]]*[A-Za-z0-9_]*[[:space:]]*//' | tr ',;' '\n\n' |
    tr -d ' \t' | grep . || true)
[ -n "$fields" ] || bad "found no field of struct pcache_stats in $hdr"
for fld in $fields; do
	grep -Eq "Va $fld( |$)" "$mandir/pcache_get_stats.3" ||
	    bad "struct pcache_stats field $fld is not documented in pcache_get_stats.3"
done

# Cross-references to pcache pages resolve to a page or a documented name.
xrefs=$(sed -n 's/^\.Xr \(pcache[A-Za-z0-9_]*\) 3.*/\1/p' "$@" | sort -u)
for x in $xrefs; do
	[ -f "$mandir/$x.3" ] || echo "$documented" | grep -qx "$x" ||
	    bad "reference to $x(3), which no page documents"
done

# (b) mandoc: no message at warning level or above.  Style notes are shown
# but do not fail the test; unresolved references are expected before the
# pages are installed and are checked above instead.
for p in "$@"; do
	if ! out=$(mandoc -T lint -W warning "$p" 2>&1) || [ -n "$out" ]; then
		bad "mandoc lint of $(basename "$p"):"
		printf '%s\n' "$out" >&2
	fi
	notes=$(mandoc -T lint -W style "$p" 2>/dev/null | grep ': STYLE: ' |
	    grep -v 'referenced manual not found' || true)
	[ -z "$notes" ] || printf 'man-pages: note: %s\n' "$notes"
done

# (c) man(1) renders every page, if man is installed.
if command -v man >/dev/null 2>&1; then
	errf=$(mktemp)
	trap 'rm -f "$errf"' EXIT
	for p in "$@"; do
		if ! out=$(LC_ALL=C MANWIDTH=80 man -l -P cat "$p" 2>"$errf"); then
			bad "man -l failed on $(basename "$p")"
		elif ! printf '%s\n' "$out" | grep -q '^NAME'; then
			bad "man -l rendered no NAME section for $(basename "$p")"
		fi
		if grep -Eqi 'warning|error' "$errf"; then
			bad "man -l complained about $(basename "$p"):"
			cat "$errf" >&2
		fi
	done
else
	echo "man-pages: man(1) not installed; rendering check skipped"
fi

[ "$fail" -eq 0 ] || exit 1
echo "man-pages: $# pages, $(echo "$funcs" | wc -l) functions: ok"
