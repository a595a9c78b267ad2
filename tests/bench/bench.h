/*
 * bench.h -- helpers shared by the benchmark programs: a clock, a timed
 * loop, a compiler barrier that keeps an object alive, and the one output
 * format the driver (run_bench.py) reads.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Every figure is printed as one line
 *
 *	RESULT <workload> <unit> <value>
 *
 * and anything else a program prints is commentary.
 */
#ifndef PCACHE_BENCH_H
#define PCACHE_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Objects of the pair, batch and bulk workloads. */
#define BENCH_OBJSIZE	64
/* Objects per batch: get this many, then put them all back. */
#define BENCH_BATCH	1000
#define BENCH_BIG	3000	/* bigbatch: three times a CPU's initial share */

/* bench_now: monotonic time in seconds. */
static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * bench_escape: make the compiler believe `p` is read and memory changed,
 * so that an allocation and its free cannot be merged or dropped.  Emits
 * no instruction.
 */
static inline void
bench_escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/*
 * bench_cpu_now: CPU time of the calling thread in seconds.  Time the
 * thread spends preempted by other processes does not count, which keeps
 * single-thread figures steady on a shared machine.  A system call: read
 * it only around a timed phase.
 */
static inline double
bench_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * bench_rq_wait: seconds the calling thread has spent runnable but not
 * running (preempted, or woken and not yet scheduled), from
 * /proc/thread-self/schedstat; 0 where the kernel does not say.  Wall time
 * less this is the time the thread ran or waited of its own accord (on a
 * lock, say), without what other processes took from it.
 */
static inline double
bench_rq_wait(void)
{
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	unsigned long long run = 0, wait = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &wait) != 2)
		wait = 0;
	fclose(f);
	return (double)wait / 1e9;
}

/* One chunk of a workload: does some operations, returns how many. */
typedef uint64_t (*bench_chunk_fn)(void *ctx);

/*
 * bench_timed: run `chunk` over and over, first for a fifth of `secs` to
 * warm up, then for `secs`; returns the calling thread's CPU nanoseconds
 * per operation over the second phase.  The warm-up also sizes the groups
 * of chunks run between two clock reads (about 0.1 ms), so that reading
 * the clock costs nothing measurable even for short chunks.
 */
static inline double
bench_timed(bench_chunk_fn chunk, void *ctx, double secs)
{
	double start = bench_now(), t;
	uint64_t n = 0, ops = 0;

	do {
		chunk(ctx);
		n++;
		t = bench_now();
	} while (t < start + secs / 5);
	uint64_t every = (uint64_t)((double)n * 1e-4 / (t - start));
	if (every < 1)
		every = 1;
	double end = bench_now() + secs;
	double c0 = bench_cpu_now();
	do {
		for (uint64_t k = 0; k < every; k++)
			ops += chunk(ctx);
	} while (bench_now() < end);
	double c1 = bench_cpu_now();
	return ops == 0 ? 0 : (c1 - c0) * 1e9 / (double)ops;
}

/* bench_result: print one figure in the driver's format. */
static inline void
bench_result(const char *workload, const char *unit, double value)
{
	printf("RESULT %s %s %.4f\n", workload, unit, value);
	fflush(stdout);
}

/* bench_cmp_double: qsort comparator, ascending. */
static inline int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* bench_median: the median of v[0..n-1] (sorts v); n > 0. */
static inline double
bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(double), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* bench_seconds: the -t argument, or the default, clamped to something sane. */
static inline double
bench_seconds(const char *arg, double dflt)
{
	double s = arg != NULL ? atof(arg) : dflt;

	return s > 0.001 && s < 60 ? s : dflt;
}

#endif /* PCACHE_BENCH_H */
