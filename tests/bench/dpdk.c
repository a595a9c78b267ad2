/*
 * dpdk.c -- the pair, batch and bulk workloads on DPDK's rte_mempool with
 * a per-lcore cache, the fastest object pool the suite compares against.
 * Built only where libdpdk is found; run by run_bench.py.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * usage: bench_dpdk [-t seconds] workload...   (pair, batch, bulk)
 *
 * The EAL starts without hugepages or PCI, on one lcore: the first CPU
 * this process may use, which is also where bench_alloc runs its
 * single-thread workloads.  Exit status 77 when the EAL cannot start
 * (for instance without the privileges it needs).
 */
#include <sched.h>
#include <stdbool.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>

#include "bench.h"

#define CHUNK		10000		/* pair iterations per timed chunk */
#define POOL_OBJS	16384		/* objects in the pool */
#define POOL_CACHE	512		/* per-lcore cache: RTE_MEMPOOL_CACHE_MAX_SIZE */

struct ctx {
	struct rte_mempool *mp;
	void **objs;
};

/* die: report a failure and exit. */
static void __attribute__((noreturn, noinline))
die(const char *what)
{
	fprintf(stderr, "bench_dpdk: %s: %s\n", what, rte_strerror(rte_errno));
	exit(1);
}

/* pair_chunk: CHUNK get/put pairs of one object, each written once. */
static uint64_t
pair_chunk(void *p)
{
	struct ctx *c = p;
	struct rte_mempool *mp = c->mp;

	for (unsigned i = 0; i < CHUNK; i++) {
		void *o;
		if (rte_mempool_get(mp, &o) != 0)
			die("rte_mempool_get");
		((uint64_t *)o)[0] = i;
		bench_escape(o);
		rte_mempool_put(mp, o);
	}
	return CHUNK;
}

/* batch_chunk: get BENCH_BATCH objects one by one, then put them back one by one. */
static uint64_t
batch_chunk(void *p)
{
	struct ctx *c = p;
	void **objs = c->objs;

	for (unsigned i = 0; i < BENCH_BATCH; i++) {
		if (rte_mempool_get(c->mp, &objs[i]) != 0)
			die("rte_mempool_get");
		((uint64_t *)objs[i])[0] = i;
	}
	bench_escape(objs);
	for (unsigned i = 0; i < BENCH_BATCH; i++)
		rte_mempool_put(c->mp, objs[i]);
	return BENCH_BATCH;
}

/* bulk_chunk: the batch workload with rte_mempool_get_bulk()/put_bulk(). */
static uint64_t
bulk_chunk(void *p)
{
	struct ctx *c = p;
	void **objs = c->objs;

	if (rte_mempool_get_bulk(c->mp, objs, BENCH_BATCH) != 0)
		die("rte_mempool_get_bulk");
	for (unsigned i = 0; i < BENCH_BATCH; i++)
		((uint64_t *)objs[i])[0] = i;
	bench_escape(objs);
	rte_mempool_put_bulk(c->mp, objs, BENCH_BATCH);
	return BENCH_BATCH;
}

/* first_cpu: the lowest-numbered CPU this process may run on (0 if unknown). */
static int
first_cpu(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				return c;
	}
	return 0;
}

/*
 * main: start the EAL, make a pool with a per-lcore cache and run the
 * named workloads on it; 0, 77 when the EAL cannot start, else non-zero.
 */
int
main(int argc, char **argv)
{
	double secs = 0.1;
	int opt;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't') {
			fprintf(stderr, "usage: bench_dpdk [-t seconds] pair|batch|bulk...\n");
			return 2;
		}
		secs = bench_seconds(optarg, secs);
	}

	char lcore[16];
	snprintf(lcore, sizeof(lcore), "%d", first_cpu());
	char *eal[] = { argv[0], "-l", lcore, "--no-huge", "--no-pci", "-m", "128",
	    "--no-shconf", "--no-telemetry", "--log-level=*:error", NULL };
	int neal = (int)(sizeof(eal) / sizeof(eal[0])) - 1;
	if (rte_eal_init(neal, eal) < 0) {
		fprintf(stderr, "bench_dpdk: EAL did not start: %s\n", rte_strerror(rte_errno));
		return 77;
	}

	struct ctx c = { NULL, calloc(BENCH_BATCH, sizeof(void *)) };
	c.mp = rte_mempool_create("bench", POOL_OBJS, BENCH_OBJSIZE, POOL_CACHE, 0,
	    NULL, NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	if (c.mp == NULL || c.objs == NULL)
		die("rte_mempool_create");

	int status = 0;
	for (int i = optind; i < argc; i++) {
		bench_chunk_fn f = strcmp(argv[i], "pair") == 0 ? pair_chunk :
		    strcmp(argv[i], "batch") == 0 ? batch_chunk :
		    strcmp(argv[i], "bulk") == 0 ? bulk_chunk : NULL;
		if (f == NULL) {
			fprintf(stderr, "bench_dpdk: unknown workload '%s'\n", argv[i]);
			status = 2;
			break;
		}
		bench_result(argv[i], "ns", bench_timed(f, &c, secs));
	}
	rte_mempool_free(c.mp);
	free(c.objs);
	rte_eal_cleanup();
	return status;
}
