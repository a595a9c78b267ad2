#!/bin/sh
# build_test.sh SRCROOT BUILDROOT: build and run the consumer example the two
# ways an outside project gets libpcache.
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
#
#   (a) installed: BUILDROOT (already built) is installed into a scratch
#       tree and the consumer is built against it through pkg-config, with
#       Meson and with a plain cc line, then run;
#   (b) subproject: the consumer is built with a copy of SRCROOT's sources
#       as subprojects/libpcache, then run.
set -eu
src=$(cd "$1" && pwd -P)
build=$(cd "$2" && pwd -P)
consumer=$src/examples/consumer
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "consumer-build: $*" >&2
	exit 1
}

# copy_consumer DIR: the consumer project's own files, nothing built.
copy_consumer() {
	mkdir -p "$1"
	cp "$consumer/meson.build" "$consumer/main.c" "$1/"
}

# uses_lib_from BINARY DIR: the binary, as it would run now, loads
# libpcache from under DIR.
uses_lib_from() {
	ldd "$1" | grep 'libpcache\.so' | grep -q " $2/"
}

echo "consumer-build: (a) against an installed libpcache"
dest=$tmp/dest
meson install -C "$build" --no-rebuild --destdir "$dest" --quiet
pcfile=$(find "$dest" -name libpcache.pc | head -n 1)
[ -n "$pcfile" ] || fail "meson install put no libpcache.pc under $dest"
PKG_CONFIG_SYSROOT_DIR=$dest
PKG_CONFIG_PATH=$(dirname "$pcfile")
export PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir libpcache)
[ -f "$libdir/libpcache.so.0" ] || fail "no libpcache.so.0 in $libdir"

copy_consumer "$tmp/a"
# nofallback: the installed copy must be found; there is no subproject here.
meson setup "$tmp/a/build" "$tmp/a" --wrap-mode=nofallback -Dwerror=true \
    >"$tmp/a-setup.log" 2>&1 || { cat "$tmp/a-setup.log"; fail "meson setup (installed) failed"; }
meson compile -C "$tmp/a/build" >"$tmp/a-compile.log" 2>&1 ||
    { cat "$tmp/a-compile.log"; fail "build against the installed libpcache failed"; }
LD_LIBRARY_PATH=$libdir
export LD_LIBRARY_PATH
uses_lib_from "$tmp/a/build/consumer" "$dest" ||
    fail "the consumer does not load the installed libpcache: $(ldd "$tmp/a/build/consumer")"
"$tmp/a/build/consumer" || fail "the consumer built with Meson failed"

# The plain command line from README.md.
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/a/consumer-cc" "$consumer/main.c" \
    $(pkg-config --cflags --libs libpcache) || fail "cc with pkg-config failed"
"$tmp/a/consumer-cc" || fail "the consumer built with cc failed"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH LD_LIBRARY_PATH

echo "consumer-build: (b) with libpcache as a subproject"
sub=$tmp/b
copy_consumer "$sub"
mkdir -p "$sub/subprojects/libpcache"
# The source tree as a release would ship it: from git, the files it tracks
# or would track; otherwise everything but build directories (those holding
# meson-private/) and this consumer's own local state.
if [ "$(git -C "$src" rev-parse --show-toplevel 2>/dev/null)" = "$src" ]; then
	git -C "$src" ls-files -z -c -o --exclude-standard |
	    (cd "$src" && tar --null --ignore-failed-read -T - -cf -) |
	    tar -xf - -C "$sub/subprojects/libpcache"
else
	for e in "$src"/* "$src"/.[!.]*; do
		if [ ! -e "$e" ] || [ -d "$e/meson-private" ] ||
		    [ "$(cd "$e" 2>/dev/null && pwd -P)" = "$build" ]; then
			continue
		fi
		cp -R "$e" "$sub/subprojects/libpcache/"
	done
	rm -rf "$sub/subprojects/libpcache/examples/consumer/subprojects" \
	    "$sub/subprojects/libpcache/examples/consumer/build"*
fi
meson setup "$sub/build" "$sub" --force-fallback-for=libpcache \
    >"$tmp/b-setup.log" 2>&1 || { cat "$tmp/b-setup.log"; fail "meson setup (subproject) failed"; }
meson compile -C "$sub/build" consumer >"$tmp/b-compile.log" 2>&1 ||
    { cat "$tmp/b-compile.log"; fail "build with the libpcache subproject failed"; }
uses_lib_from "$sub/build/consumer" "$sub/build/subprojects/libpcache" ||
    fail "the consumer does not load the subproject's libpcache: $(ldd "$sub/build/consumer")"
"$sub/build/consumer" || fail "the consumer built with the subproject failed"

echo "consumer-build: ok"
