#!/bin/sh
# install_test.sh BUILDDIR SRCDIR: install into a scratch tree, then build
# and run a program written against the public contract with pkg-config.
set -eu
build=$1
src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" --quiet
pcdir=$(dirname "$(find "$dest" -name libpcache.pc | head -n 1)")
export PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$pcdir"
libdir=$(pkg-config --variable=libdir libpcache)
test -f "$libdir/libpcache.so.0" || { echo "no libpcache.so.0 installed"; exit 1; }
test -f "$(pkg-config --variable=includedir libpcache)/pcache.h" || { echo "no pcache.h"; exit 1; }
# Only pcache_* may be exported.
bad=$(nm -D --defined-only "$libdir/libpcache.so.0" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^pcache_' || true)
[ -z "$bad" ] || { echo "unexpected exported symbols: $bad"; exit 1; }
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$dest/contract" "$src/tests/contract/contract.c" \
    $(pkg-config --cflags --libs libpcache)
LD_LIBRARY_PATH="$libdir" "$dest/contract"
# The static archive: pcache_* is all it makes global, and a program
# links against it with the archive's own dependencies.
test -f "$libdir/libpcache.a" || { echo "no libpcache.a installed"; exit 1; }
bad=$(nm -g --defined-only "$libdir/libpcache.a" | awk 'NF == 3 {print $3}' | grep -v '^pcache_' || true)
[ -z "$bad" ] || { echo "libpcache.a makes global: $bad"; exit 1; }
n=$(nm -g --defined-only "$libdir/libpcache.a" | awk 'NF == 3 {print $3}' | grep -c '^pcache_')
[ "$n" -ge 15 ] || { echo "libpcache.a exports only $n pcache_* symbols"; exit 1; }
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$dest/contract-static" "$src/tests/contract/contract.c" \
    $(pkg-config --cflags libpcache) "$libdir/libpcache.a" -lhwloc -lurcu-memb -pthread
"$dest/contract-static"
