/*
 * mbench.h -- what the malloc benchmarks share: a clock, a per-thread
 * random number generator, argument parsing, and the one result line
 * run_malloc_bench.py reads:
 *   bench=NAME threads=N ops=N seconds=S ops_per_s=X maxrss_kb=K
 * The programs call only the C allocation API, so that any malloc can be
 * put under them with LD_PRELOAD.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef MBENCH_H
#define MBENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* mb_now: seconds on the monotonic clock. */
static inline double
mb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* mb_rand: xorshift64*, one state per thread; never 0. */
static inline uint64_t
mb_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/*
 * mb_run: n threads running fn((void *)i), i < n, all joined; sets
 * *deadline to the start plus secs before the first starts.  Returns the
 * wall seconds from then to the last join.  Exits if a thread cannot be
 * started (the figures would mean nothing).
 */
static inline double
mb_run(unsigned n, void *(*fn)(void *), double secs, double *deadline)
{
	pthread_t *tid = calloc(n, sizeof(*tid));
	double t0 = mb_now();

	if (tid == NULL)
		exit(2);
	*deadline = t0 + secs;
	for (unsigned t = 0; t < n; t++) {
		if (pthread_create(&tid[t], NULL, fn, (void *)(uintptr_t)t) != 0)
			exit(2);
	}
	for (unsigned t = 0; t < n; t++)
		pthread_join(tid[t], NULL);
	free(tid);
	return mb_now() - t0;
}

/* mb_arg: argv[i] as a number, or dflt when absent. */
static inline double
mb_arg(int argc, char **argv, int i, double dflt)
{
	return argc > i ? atof(argv[i]) : dflt;
}

/* mb_touch: write the block, as a program would, so its pages are real. */
static inline void
mb_touch(void *p, size_t n)
{
	unsigned char *c = p;

	if (n > 0) {
		c[0] = (unsigned char)n;
		c[n - 1] = (unsigned char)n;
	}
}

/*
 * mb_maxrss_kb: this program's peak resident set: VmHWM from
 * /proc/self/status, which starts afresh at exec; elsewhere getrusage(),
 * whose figure Linux carries over from the parent across fork and exec.
 */
static inline long
mb_maxrss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f != NULL && kb < 0 && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = atol(line + 6);
	}
	if (f != NULL)
		fclose(f);
	if (kb < 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		kb = ru.ru_maxrss;
	}
	return kb;
}

/* mb_report: the result line, with the program's peak RSS. */
static inline void
mb_report(const char *bench, unsigned threads, uint64_t ops, double secs)
{
	long kb = mb_maxrss_kb();

	printf("bench=%s threads=%u ops=%llu seconds=%.3f ops_per_s=%.0f "
	    "maxrss_kb=%ld\n", bench, threads, (unsigned long long)ops, secs,
	    secs > 0 ? (double)ops / secs : 0.0, kb);
	fflush(stdout);
}

#endif /* MBENCH_H */
