/*
 * rcu.c -- deferred frees: pcache_get() + pcache_put_rcu() against
 * malloc() + call_rcu(free) per object and malloc() + defer_rcu(free),
 * liburcu's own two ways, in one process, interleaved rounds, medians.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * usage: bench_rcu [seconds-per-round [rounds]]   (default 0.3 5)
 * Prints, per way, objects per second (one allocation and one deferred
 * free each) and the memory held at the end of a round: the cache's
 * slabs, or the growth of the C library's heap (mallinfo2), while the
 * deferred frees are still pending.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu.h>
#include <urcu/urcu-memb.h>

#include "pcache.h"

#define OBJSIZE	64
#define MAXROUNDS 15

struct obj {
	struct rcu_head head;
	char pad[OBJSIZE - sizeof(struct rcu_head)];
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void
free_head(struct rcu_head *h)
{
	free(caa_container_of(h, struct obj, head));
}

/* One way, for `secs`: objects per second into *rate, bytes held into *held. */
static void
run(int way, pcache_t *pc, double secs, double *rate, double *held)
{
	size_t base = heap_bytes();
	struct pcache_stats st;
	double t0 = now(), t;
	uint64_t n = 0;

	do {
		for (int i = 0; i < 1000; i++) {
			if (way == 0) {
				void *o = pcache_get(pc, PCACHE_WAITOK);
				pcache_put_rcu(pc, o);
			} else if (way == 1) {
				struct obj *o = malloc(sizeof(*o));
				call_rcu(&o->head, free_head);
			} else {
				void *o = malloc(sizeof(struct obj));
				defer_rcu(free, o);
			}
		}
		n += 1000;
	} while ((t = now()) - t0 < secs);
	*rate = (double)n / (t - t0);
	if (way == 0) {
		pcache_get_stats(pc, &st);
		*held = (double)st.bytes;
	} else
		*held = (double)(heap_bytes() - base);
	/* Drain before the next way, so that each starts clean. */
	if (way == 0)
		pcache_rcu_barrier(pc);
	else if (way == 1)
		rcu_barrier();
	else
		rcu_defer_barrier();
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp);
	return v[n / 2];
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.3;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	const char *names[3] = { "pcache_get + pcache_put_rcu",
	    "malloc + call_rcu(free)", "malloc + defer_rcu(free)" };
	double rate[3][MAXROUNDS], held[3][MAXROUNDS];
	struct pcache_config cfg = { .size = OBJSIZE };

	if (rounds < 1 || rounds > MAXROUNDS || secs <= 0)
		return 2;
	rcu_register_thread();
	rcu_defer_register_thread();
	pcache_t *pc = pcache_create("bench-rcu", &cfg);
	if (pc == NULL)
		return 1;
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 3; k++) {
			int way = (k + r) % 3;	/* rotate the order */
			run(way, pc, secs, &rate[way][r], &held[way][r]);
		}
	}
	printf("| way | objects/s (median of %d) | memory held at the end of a "
	    "round |\n|---|---|---|\n", rounds);
	for (int w = 0; w < 3; w++)
		printf("| %s | %.2f M | %.1f MiB |\n", names[w],
		    median(rate[w], rounds) / 1e6,
		    median(held[w], rounds) / (1024.0 * 1024.0));
	int ok = pcache_destroy(pc) == 0;
	rcu_defer_unregister_thread();
	rcu_unregister_thread();
	return ok ? 0 : 1;
}
