/*
 * mixed.c -- a mix in the manner of rpmalloc's benchmark: each thread
 * keeps a working set of blocks whose sizes follow a skewed distribution
 * (mostly small, some medium, a few big), replaces random ones, grows
 * some with realloc, and hands a share of its blocks to the next thread
 * to free, every round.
 *
 *   mixed [SECONDS [THREADS [WORKSET]]]   (1 2 4000)
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include "mbench.h"

#define ROUND_OPS	10000
#define HANDOFF		256		/* blocks passed on per round */

static unsigned nthreads;
static size_t workset;
static double deadline;
static void ***inbox;			/* per thread: HANDOFF blocks to free */
static pthread_barrier_t round_barrier;
static atomic_uint_fast64_t total_ops;
static atomic_bool stop;

/* pick_size: 80% up to 128 bytes, 18% up to 4 KiB, 2% up to 256 KiB. */
static size_t
pick_size(uint64_t *rng)
{
	uint64_t r = mb_rand(rng);
	unsigned p = (unsigned)(r % 100);

	r >>= 8;
	if (p < 80)
		return 1 + r % 128;
	if (p < 98)
		return 129 + r % 4000;
	return 4097 + r % (256 * 1024);
}

/* worker: rounds of replacements, reallocs and hand-offs until the deadline. */
static void *
worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0xabcdef12345u * (id + 1), ops = 0;
	void **set = calloc(workset, sizeof(void *));
	size_t *len = calloc(workset, sizeof(size_t));

	for (size_t k = 0; k < workset; k++) {
		len[k] = pick_size(&rng);
		set[k] = malloc(len[k]);
		mb_touch(set[k], len[k]);
	}
	for (;;) {
		for (int i = 0; i < ROUND_OPS; i++) {
			size_t k = mb_rand(&rng) % workset;
			if (mb_rand(&rng) % 8 == 0) {
				len[k] += len[k] / 2 + 1;
				set[k] = realloc(set[k], len[k]);
			} else {
				free(set[k]);
				len[k] = pick_size(&rng);
				set[k] = malloc(len[k]);
			}
			mb_touch(set[k], len[k]);
		}
		ops += ROUND_OPS;
		/* Hand some blocks to the next thread; free what we were handed. */
		void **out = inbox[(id + 1) % nthreads];
		pthread_barrier_wait(&round_barrier);
		for (int i = 0; i < HANDOFF; i++) {
			size_t k = mb_rand(&rng) % workset;
			out[i] = set[k];
			len[k] = pick_size(&rng);
			set[k] = malloc(len[k]);
			mb_touch(set[k], len[k]);
		}
		pthread_barrier_wait(&round_barrier);
		for (int i = 0; i < HANDOFF; i++)
			free(inbox[id][i]);
		ops += 2 * HANDOFF;
		if (id == 0 && mb_now() >= deadline)
			atomic_store(&stop, true);
		pthread_barrier_wait(&round_barrier);
		if (atomic_load(&stop))
			break;
	}
	for (size_t k = 0; k < workset; k++)
		free(set[k]);
	free(set);
	free(len);
	atomic_fetch_add(&total_ops, ops);
	return NULL;
}

int
main(int argc, char **argv)
{
	double secs = mb_arg(argc, argv, 1, 1);
	nthreads = (unsigned)mb_arg(argc, argv, 2, 2);
	workset = (size_t)mb_arg(argc, argv, 3, 4000);
	if (nthreads == 0 || workset == 0)
		return 2;
	inbox = calloc(nthreads, sizeof(*inbox));
	for (unsigned t = 0; t < nthreads; t++)
		inbox[t] = calloc(HANDOFF, sizeof(void *));
	pthread_barrier_init(&round_barrier, NULL, nthreads);
	double wall = mb_run(nthreads, worker, secs, &deadline);
	mb_report("mixed", nthreads, atomic_load(&total_ops), wall);
	for (unsigned t = 0; t < nthreads; t++)
		free(inbox[t]);
	free(inbox);
	return 0;
}
