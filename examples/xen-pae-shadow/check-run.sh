#!/bin/sh
# check-run.sh -- run xen-pae-shadow once and check its exit status and closing lines.
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
#
# usage: check-run.sh PROGRAM STATUS OUTCOME [ARGS...]
#   STATUS   the exit status expected
#   OUTCOME  accepted: ends "save: accepted", "restore: ok", "frames leaked: 0", "type errors: 0"
#            refused:  ends "save: refused (K frames)" with K > 0, then the two teardown lines
#            stale:    the hypervisor caught stale kernel slots; teardown lines clean
#            usage:    a usage message on stderr
set -u
prog=$1 want_status=$2 outcome=$3
shift 3

dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT

# A cross build runs it through its wrapper (qemu-user), which Meson names.
# shellcheck disable=SC2086
${MESON_EXE_WRAPPER:-} "$prog" "$@" >"$dir/out" 2>"$dir/err"
status=$?

fail() {
	echo "FAIL: $*"
	echo "--- stdout"; cat "$dir/out"
	echo "--- stderr"; cat "$dir/err"
	exit 1
}

[ "$status" -eq "$want_status" ] || fail "exit status $status, expected $want_status"

teardown_ok() {
	tail -n 2 "$dir/out" >"$dir/tail2"
	printf 'frames leaked: 0\ntype errors: 0\n' | cmp -s - "$dir/tail2"
}

case $outcome in
accepted)
	printf 'save: accepted\nrestore: ok\nframes leaked: 0\ntype errors: 0\n' >"$dir/want"
	tail -n 4 "$dir/out" | cmp -s - "$dir/want" || fail "closing lines differ"
	;;
refused)
	tail -n 3 "$dir/out" | head -n 1 | grep -Eq '^save: refused \([1-9][0-9]* frames\)$' ||
		fail "no refusal line"
	teardown_ok || fail "teardown lines differ"
	grep -q 'frames:' "$dir/out" || fail "the refused frames are not named"
	;;
stale)
	grep -q 'kernel slots stale' "$dir/err" || fail "stale kernel slots not caught"
	teardown_ok || fail "teardown lines differ"
	;;
usage)
	grep -q '^usage:' "$dir/err" || fail "no usage message"
	;;
*)
	fail "unknown outcome $outcome"
	;;
esac
tail -n 4 "$dir/out"
echo "PASS"
