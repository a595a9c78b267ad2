/*
 * simple.c -- the loop of glibc's bench-malloc-simple: each thread
 * allocates a run of blocks of one size, frees them all, and repeats, for
 * a list of sizes; an operation is one malloc and its free.
 *
 *   simple [SECONDS [THREADS [RUN]]]   (1 1 100)
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include "mbench.h"

static const size_t sizes[] = { 16, 32, 64, 128, 256, 512, 1024, 4096 };
#define NSIZES	(sizeof(sizes) / sizeof(sizes[0]))

static unsigned run_len;
static double deadline;
static atomic_uint_fast64_t total_ops;

/* worker: runs of allocations and frees over every size until the deadline. */
static void *
worker(void *arg)
{
	void **blk = malloc(run_len * sizeof(void *));
	uint64_t ops = 0;

	(void)arg;
	while (mb_now() < deadline) {
		for (size_t s = 0; s < NSIZES; s++) {
			for (int rep = 0; rep < 16; rep++) {
				for (unsigned i = 0; i < run_len; i++)
					blk[i] = malloc(sizes[s]);
				for (unsigned i = 0; i < run_len; i++)
					free(blk[i]);
				ops += run_len;
			}
		}
	}
	free(blk);
	atomic_fetch_add(&total_ops, ops);
	return NULL;
}

int
main(int argc, char **argv)
{
	double secs = mb_arg(argc, argv, 1, 1);
	unsigned nthreads = (unsigned)mb_arg(argc, argv, 2, 1);
	run_len = (unsigned)mb_arg(argc, argv, 3, 100);
	if (nthreads == 0 || run_len == 0)
		return 2;
	double wall = mb_run(nthreads, worker, secs, &deadline);
	mb_report("simple", nthreads, atomic_load(&total_ops), wall);
	return 0;
}
