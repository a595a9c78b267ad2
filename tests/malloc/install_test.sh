#!/bin/sh
# install_test.sh BUILDDIR SRCDIR LIB: install into a scratch tree, check
# that libpcache-malloc.so.0 installed is LIB, the one built, that it is
# self-contained (no libpcache.so needed) and exports the malloc API and
# nothing else, then use it both ways: preloaded into a program of the
# system, and linked into a program built against it.
# CC and NM name the compiler and nm.
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
set -eu
build=$1
src=$2
built=$3
cc=${CC:-cc}
nm=${NM:-nm}
readelf=${READELF:-readelf}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" --quiet
so=$(find "$dest" -name libpcache-malloc.so.0 | head -n 1)
[ -n "$so" ] || { echo "no libpcache-malloc.so.0 installed"; exit 1; }
libdir=$(dirname "$so")
cmp -s "$so" "$built" || { echo "installed library is not $built"; exit 1; }
test -e "$libdir/libpcache-malloc.so" || { echo "no libpcache-malloc.so link for -lpcache-malloc"; exit 1; }
if $readelf -d "$so" | grep NEEDED | grep -q 'libpcache\.so'; then
	echo "libpcache-malloc.so.0 needs libpcache.so"; exit 1
fi
want="aligned_alloc calloc free malloc malloc_trim malloc_usable_size memalign posix_memalign pvalloc realloc reallocarray valloc"
got=$($nm -D --defined-only "$so" | awk '$2 ~ /[TDBRWVi]/ {print $3}' | sort | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$want" ] || { echo "exports: $got"; echo "wanted:  $want"; exit 1; }
# Preloaded into a system program.
out=$(LD_PRELOAD="$so" sh -c 'echo preloaded')
[ "$out" = preloaded ] || { echo "sh under LD_PRELOAD printed: $out"; exit 1; }
# Linked: a 100-byte request gets the 112-byte class (glibc gives 104).
cat >"$dest/linked.c" <<'C'
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
int
main(void)
{
	void *p = malloc(100);
	size_t n = malloc_usable_size(p);
	free(p);
	printf("%zu\n", n);
	return n == 112 ? 0 : 1;
}
C
$cc -std=c11 -Wall -Wextra -Werror -o "$dest/linked" "$dest/linked.c" -L"$libdir" -lpcache-malloc
out=$(LD_LIBRARY_PATH="$libdir" "$dest/linked") || { echo "linked program: $out"; exit 1; }
echo "libpcache-malloc: installed, exports the malloc API only, works preloaded and linked"
