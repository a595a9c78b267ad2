#!/bin/sh
# archive.sh LD OBJCOPY AR INPUT.a OUTPUT.a: the static library as one
# relocatable object whose hidden symbols are made local, so that
# libpcache.a exports pcache_* and nothing else, as libpcache.so does.
set -eu
ld=$1 objcopy=$2 ar=$3 in=$4 out=$5
tmp="$out.tmp.o"
"$ld" -r --whole-archive "$in" -o "$tmp"
"$objcopy" --localize-hidden "$tmp"
rm -f "$out"
"$ar" rcs "$out" "$tmp"
rm -f "$tmp"
