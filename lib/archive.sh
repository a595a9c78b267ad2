#!/bin/sh
# archive.sh LD OBJCOPY AR READELF INPUT.a OUTPUT.a: the static library as
# one relocatable object whose hidden symbols are made local, so that
# libpcache.a exports pcache_* and nothing else, as libpcache.so does.
#
# Hidden symbols that name a COMDAT group stay global (and hidden): the
# compiler emits such helpers, as i386's __x86.get_pc_thunk.*, in every
# object that needs them, and the final link keeps one copy; a local
# symbol in a discarded copy would leave references to nothing.
set -eu
ld=$1 objcopy=$2 ar=$3 readelf=$4 in=$5 out=$6
tmp="$out.tmp.o"
"$ld" -r --whole-archive "$in" -o "$tmp"
keep=$("$readelf" -gW "$tmp" | sed -n 's/^COMDAT group section .*\[\(.*\)\] contains.*/--globalize-symbol=\1/p' | sort -u)
"$objcopy" --localize-hidden "$tmp"
if [ -n "$keep" ]; then
	# shellcheck disable=SC2086
	"$objcopy" $keep "$tmp"
fi
rm -f "$out"
"$ar" rcs "$out" "$tmp"
rm -f "$tmp"
