/*
 * scale.c -- multi-thread scaling benchmark: N threads, each pinned to its
 * own CPU, each running the batch loop (get B objects, put them back) for
 * a fixed time; N = 1 .. number of allowed CPUs.  libpcache and the
 * process's malloc/free run side by side in the same process, on the same
 * workload, so their ratio is measured under the same conditions.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * usage: scale [seconds-per-point] [batch] [runs]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pcache.h"
#include "api.h"

#define OBJSIZE	64
#define MAXT	256

struct run {
	pcache_t *pc;		/* NULL: malloc/free */
	unsigned cpu;
	unsigned batch;
	double secs;
	uint64_t ops;
	atomic_int *go;
};

/* now: monotonic time in seconds. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One thread's loop: batches of gets then puts until its time is up. */
static void *
loop(void *p)
{
	struct run *r = p;
	void **objs = calloc(r->batch, sizeof(void *));
	uint64_t ops = 0;

	pc_topo_bind_thread(r->cpu);
	while (!atomic_load(r->go))
		;
	double end = now() + r->secs;
	while (now() < end) {
		for (int rep = 0; rep < 16; rep++) {
			if (r->pc != NULL) {
				for (unsigned i = 0; i < r->batch; i++)
					objs[i] = pcache_get(r->pc, 0);
				for (unsigned i = 0; i < r->batch; i++)
					pcache_put(r->pc, objs[i]);
			} else {
				for (unsigned i = 0; i < r->batch; i++)
					objs[i] = malloc(OBJSIZE);
				for (unsigned i = 0; i < r->batch; i++)
					free(objs[i]);
			}
			ops += r->batch;
		}
	}
	r->ops = ops;
	free(objs);
	return NULL;
}

/* One point: n threads for `secs`; returns aggregate get+put pairs/s. */
static double
point(pcache_t *pc, const unsigned *cpus, unsigned n, unsigned batch, double secs)
{
	struct run r[MAXT];
	pthread_t t[MAXT];
	atomic_int go = 0;
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++) {
		r[i] = (struct run){ pc, cpus[i], batch, secs, 0, &go };
		pthread_create(&t[i], NULL, loop, &r[i]);
	}
	atomic_store(&go, 1);
	for (unsigned i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		total += r[i].ops;
	}
	return (double)total / secs;
}

/* cmp: qsort comparator for doubles, ascending. */
static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * main: print the table of medians for 1 .. all allowed CPUs; 0, or 1 when
 * the topology or the cache is missing or the cache does not empty.
 */
int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.3;
	unsigned batch = argc > 2 ? (unsigned)atoi(argv[2]) : 100;
	int runs = argc > 3 ? atoi(argv[3]) : 5;
	unsigned cpus[MAXT];
	int n = pc_topo_allowed_cpus(cpus, MAXT);
	struct pcache_config cfg = { .size = OBJSIZE };
	pcache_t *pc = pcache_create("scale", &cfg);

	if (n <= 0 || pc == NULL || runs < 1 || runs > 99) {
		fprintf(stderr, "scale: no topology or no cache\n");
		return 1;
	}
	if (n > MAXT)
		n = MAXT;
	printf("threads  pcache Mpairs/s  malloc Mpairs/s  pcache ns/pair/thread  malloc ns/pair/thread  pcache/malloc time\n");
	/* 1, 2, 3, 4, 8, 16 ... and always the full count. */
	for (unsigned k = 1;; k = k < 4 ? k + 1 : 2 * k) {
		if (k > (unsigned)n)
			k = (unsigned)n;
		double p[99], m[99];
		for (int i = 0; i < runs; i++) {
			p[i] = point(pc, cpus, k, batch, secs);
			m[i] = point(NULL, cpus, k, batch, secs);
		}
		qsort(p, (size_t)runs, sizeof(double), cmp);
		qsort(m, (size_t)runs, sizeof(double), cmp);
		double pm = p[runs / 2], mm = m[runs / 2];
		printf("%7u  %15.1f  %15.1f  %21.2f  %21.2f  %5.2f\n", k, pm / 1e6,
		    mm / 1e6, 1e9 * k / pm, 1e9 * k / mm, mm / pm);
		if (k == (unsigned)n)
			break;
	}
	struct pcache_stats st;
	pcache_get_stats(pc, &st);
	printf("cpu hit rate %.4f\n", (double)st.cpu_hits / (double)st.gets);
	return pcache_destroy(pc) == 0 ? 0 : 1;
}
