#!/bin/sh
# run_workload.sh LIB WORKLOAD SCALE SRCDIR: run a real program's workload
# twice, with the C library's malloc and with LIB (libpcache-malloc)
# preloaded, and pass when both produce the same output.  PCACHE_DEBUG in
# the environment (checked caches) applies to the preloaded run.
# WORKLOAD is one of:
#   python  python3 running workload.py SCALE (dicts, lists, strings, threads)
#   sort    sort(1) on generated lines, by text and by number
#   gzip    gzip -n then gunzip of generated data
#   git     git on a scratch repository: init, add, commit, log, gc, fsck
#   gcc     gcc -O2 -c of one of the project's sources
# PYTHON, GIT and GCC name the programs (defaults from PATH); exit status
# 77 (skipped) when the workload's program is missing.
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
set -eu
lib=$1
workload=$2
scale=$3
src=$4
python=${PYTHON:-python3}
git=${GIT:-git}
gcc=${GCC:-gcc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

need() {
	command -v "$1" >/dev/null 2>&1 || { echo "SKIP: $1 is not installed"; exit 77; }
}

# gen N: N deterministic lines of text and numbers, without the preload.
gen() {
	env -u LD_PRELOAD awk -v n="$1" 'BEGIN {
		x = 12345
		for (i = 0; i < n; i++) {
			x = (x * 1103515245 + 12345) % 2147483648
			printf "%d %s-%x line %d\n", x % 100003, substr("abcdefghijklmnopqrstuvwxyz", x % 26 + 1, 1 + x % 9), x, i
		}
	}'
}

# lines: the number of generated lines for this scale.
lines() {
	awk -v s="$scale" 'BEGIN { printf "%d\n", 120000 * s }'
}

# run_one DIR: the workload in DIR, its output on stdout.  Programs run
# with LD_PRELOAD as the caller set it.
run_one() {
	dir=$1
	mkdir -p "$dir"
	case $workload in
	python)
		"$python" "$here/workload.py" "$scale"
		;;
	sort)
		sort "$tmp/data" | cksum
		sort -n -k1,1 -s "$tmp/data" | cksum
		sort -u -k2,2 "$tmp/data" | cksum
		;;
	gzip)
		gzip -n -6 -c "$tmp/data" >"$dir/data.gz"
		cksum <"$dir/data.gz"
		gunzip -c "$dir/data.gz" | cksum
		;;
	git)
		(
		cd "$dir"
		export HOME="$dir" GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t \
		    GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
		    GIT_COMMITTER_EMAIL=t@example.org \
		    GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' \
		    GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'
		"$git" init -q -b main repo
		cd repo
		n=0
		for f in "$src"/lib/*.c "$src"/lib/*.h; do
			n=$((n + 1))
			cp "$f" .
			if [ $((n % 6)) -eq 0 ]; then
				"$git" add .
				"$git" commit -q -m "step $n"
			fi
		done
		"$git" add .
		"$git" commit -q -m "last"
		sed 's/the/THE/g' slab.c >slab.c.new && mv slab.c.new slab.c
		"$git" commit -q -a -m "edit"
		"$git" log --stat --format='%H %s'
		"$git" -c pack.threads=1 gc -q
		"$git" fsck --strict 2>&1
		"$git" count-objects -v | grep -v size
		"$git" log -p -1 | cksum
		)
		;;
	gcc)
		"$gcc" -O2 -std=c11 -D_GNU_SOURCE -I"$src/include" -I"$src/lib" \
		    -c "$src/lib/slab.c" -o "$dir/slab.o"
		cksum <"$dir/slab.o"
		;;
	*)
		echo "unknown workload $workload" >&2
		exit 2
		;;
	esac
}

case $workload in
python) need "$python" ;;
git) need "$git" ;;
gcc) need "$gcc" ;;
sort|gzip) need "$workload" ;;
esac
if [ "$workload" = sort ] || [ "$workload" = gzip ]; then
	gen "$(lines)" >"$tmp/data"
fi

# The preload really happens (where /proc says what a process mapped).
if [ -r /proc/self/maps ] && ! LD_PRELOAD=$lib cat /proc/self/maps | grep -q libpcache-malloc; then
	echo "FAIL: $lib is not mapped into a program run with it preloaded"
	exit 1
fi
(unset LD_PRELOAD; run_one "$tmp/ref") >"$tmp/ref.out" 2>&1 || {
	cat "$tmp/ref.out"; echo "FAIL: the run without the preload failed"; exit 1; }
start=$(date +%s)
(LD_PRELOAD=$lib; export LD_PRELOAD; run_one "$tmp/test") >"$tmp/test.out" 2>&1 || {
	cat "$tmp/test.out"; echo "FAIL: the run with $lib preloaded failed"; exit 1; }
end=$(date +%s)
if ! cmp -s "$tmp/ref.out" "$tmp/test.out"; then
	diff "$tmp/ref.out" "$tmp/test.out" | head -40
	echo "FAIL: output differs with $lib preloaded"
	exit 1
fi
echo "PASS: $workload (scale $scale, PCACHE_DEBUG=${PCACHE_DEBUG:-unset}): same output, $((end - start)) s preloaded"
