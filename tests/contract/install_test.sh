#!/bin/sh
# install_test.sh BUILDDIR SRCDIR LIB: install into a scratch tree, check
# that the library installed is LIB, the one built, then build and run a
# program written against the public contract with pkg-config.
# CC, NM and READELF name the (cross) compiler, nm and readelf; a cross build's test
# programs run through $MESON_EXE_WRAPPER (qemu-user), which Meson sets.
set -eu
build=$1
src=$2
built=$3
cc=${CC:-cc}
nm=${NM:-nm}
readelf=${READELF:-readelf}
run=${MESON_EXE_WRAPPER:-}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" --quiet
pcdir=$(dirname "$(find "$dest" -name libpcache.pc | head -n 1)")
export PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$pcdir"
libdir=$(pkg-config --variable=libdir libpcache)
test -f "$libdir/libpcache.so.0" || { echo "no libpcache.so.0 installed"; exit 1; }
cmp -s "$libdir/libpcache.so.0" "$built" || { echo "installed library is not $built"; exit 1; }
test -f "$(pkg-config --variable=includedir libpcache)/pcache.h" || { echo "no pcache.h"; exit 1; }
# Only pcache_* may be exported.
bad=$($nm -D --defined-only "$libdir/libpcache.so.0" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^pcache_' || true)
[ -z "$bad" ] || { echo "unexpected exported symbols: $bad"; exit 1; }
# shellcheck disable=SC2046,SC2086
$cc -std=c11 -Wall -Wextra -Werror -o "$dest/contract" "$src/tests/contract/contract.c" \
    $(pkg-config --cflags --libs libpcache)
# shellcheck disable=SC2086
LD_LIBRARY_PATH="$libdir" $run "$dest/contract"
# The static archive: pcache_* is all it makes global, and a program
# links against it with the line `pkg-config --static` gives (hwloc and
# liburcu as the shared libraries their -dev packages install).
test -f "$libdir/libpcache.a" || { echo "no libpcache.a installed"; exit 1; }
# Global with default visibility: what a program linking it can see
# (hidden globals are compiler helpers in COMDAT groups; lib/archive.sh).
visible() {
	$readelf -sW "$1" | awk '$5 == "GLOBAL" && $6 == "DEFAULT" && $7 != "UND" {print $8}'
}
bad=$(visible "$libdir/libpcache.a" | grep -v '^pcache_' || true)
[ -z "$bad" ] || { echo "libpcache.a makes global: $bad"; exit 1; }
n=$(visible "$libdir/libpcache.a" | grep -c '^pcache_')
[ "$n" -ge 15 ] || { echo "libpcache.a exports only $n pcache_* symbols"; exit 1; }
mkdir "$dest/static-only"
cp "$libdir/libpcache.a" "$dest/static-only/"
# shellcheck disable=SC2046,SC2086
$cc -std=c11 -Wall -Wextra -Werror -o "$dest/contract-static" "$src/tests/contract/contract.c" \
    $(pkg-config --cflags libpcache) -L"$dest/static-only" $(pkg-config --static --libs libpcache)
# shellcheck disable=SC2086
$run "$dest/contract-static"
if $nm -D "$dest/contract-static" 2>/dev/null | grep -q ' pcache_'; then
	echo "contract-static loads libpcache.so"; exit 1
fi
