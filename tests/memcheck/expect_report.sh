#!/bin/sh
# expect_report.sh PATTERN CMD...: run CMD; pass when it fails and its
# output holds PATTERN (the memory checker's report of the use after put).
set -u
pattern=$1
shift
out=$("$@" 2>&1)
status=$?
if [ "$status" -ne 0 ] && printf '%s\n' "$out" | grep -q "$pattern"; then
	printf '%s\n' "$out" | grep -m 3 "$pattern"
	echo "PASS: reported"
	exit 0
fi
printf '%s\n' "$out"
echo "FAIL: status $status, no '$pattern' in the output"
exit 1
