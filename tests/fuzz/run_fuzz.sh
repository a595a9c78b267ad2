#!/bin/sh
# Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
#
# run_fuzz.sh FUZZER SEED-CORPUS WORKDIR
#
# Runs a libFuzzer binary in two bounded passes: a reproducible smoke pass
# (the seeds, then mutations from a fixed seed, 2000 runs in all), then a
# timed pass of PCACHE_FUZZ_SECONDS (default 60; 0 skips it).  New inputs
# go to WORKDIR/corpus and failing ones to WORKDIR (crash-*, leak-*,
# timeout-*), which the failure message names; the seed corpus is only
# read.  Exits non-zero if either pass finds a crash, a leak or a hang.
set -eu

fuzzer=$1
seeds=$2
work=$3
secs=${PCACHE_FUZZ_SECONDS:-60}

rm -rf "$work"
mkdir -p "$work/corpus"

run() {
	if ! "$fuzzer" -max_len=4096 -timeout=20 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix="$work/" "$@" \
	    "$work/corpus" "$seeds"; then
		echo "run_fuzz.sh: $fuzzer found a failure; inputs in $work:" >&2
		ls "$work" >&2
		echo "reproduce with: $fuzzer $work/<crash, leak or timeout file>" >&2
		exit 1
	fi
}

run -runs=2000 -seed=1
if [ "$secs" -gt 0 ]; then
	run -max_total_time="$secs"
fi
