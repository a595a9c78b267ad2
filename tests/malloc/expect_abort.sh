#!/bin/sh
# expect_abort.sh LIB PATTERN CMD...: run CMD with LIB preloaded; pass when
# it is killed by SIGABRT and its stderr holds PATTERN (the library's
# message for the misuse), and EXPECT_ALSO too when that is set.
#
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
set -u
lib=$1
pattern=$2
shift 2
out=$(LD_PRELOAD=$lib "$@" 2>&1)
status=$?
# 134: the shell's status for a death by SIGABRT (128 + 6).
also=${EXPECT_ALSO:-$pattern}
if [ "$status" -eq 134 ] && printf '%s\n' "$out" | grep -q "$pattern" &&
    printf '%s\n' "$out" | grep -q "$also"; then
	printf '%s\n' "$out" | grep -m 1 "$pattern"
	echo "PASS: aborted with the expected message"
	exit 0
fi
printf '%s\n' "$out"
echo "FAIL: status $status, no '$pattern' (and '$also') in the output"
exit 1
