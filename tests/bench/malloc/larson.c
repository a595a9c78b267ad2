/*
 * larson.c -- a server in the manner of Larson and Krishnan's benchmark:
 * each thread owns a set of slots and, again and again, frees a random
 * slot's block and allocates a block of random size in its place.  Every
 * round the sets pass to the next thread, so most blocks are freed by a
 * thread other than the one that allocated them, as when requests move
 * between the threads of a server.
 *
 *   larson [SECONDS [THREADS [SLOTS [MIN [MAX]]]]]   (1 2 1000 16 512)
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <limits.h>

#include "mbench.h"

#define ROUND_OPS	20000

struct set {
	void **slot;
	size_t n;
};

static unsigned nthreads;
static size_t nslots, min_size, max_size;
static double deadline;
static struct set *sets;		/* nthreads of them */
static pthread_barrier_t round_barrier;
static atomic_uint_fast64_t total_ops;
/*
 * The round after which every thread stops, set by thread 0: a round
 * number rather than a flag, because a thread that reads it late after
 * one barrier must not see what thread 0 set in the next round.
 */
static atomic_uint stop_round = UINT_MAX;

/* churn: ROUND_OPS replacements in one set. */
static void
churn(struct set *s, uint64_t *rng)
{
	for (int i = 0; i < ROUND_OPS; i++) {
		size_t k = mb_rand(rng) % s->n;
		size_t n = min_size + mb_rand(rng) % (max_size - min_size + 1);
		free(s->slot[k]);
		s->slot[k] = malloc(n);
		mb_touch(s->slot[k], n);
	}
}

/* worker: rounds until the deadline, taking the next thread's set each round. */
static void *
worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	uint64_t rng = 0x9e3779b97f4a7c15u * (id + 1);
	uint64_t ops = 0;

	for (unsigned r = 0;; r++) {
		churn(&sets[(id + r) % nthreads], &rng);
		ops += ROUND_OPS;
		if (id == 0 && mb_now() >= deadline)
			atomic_store(&stop_round, r);
		pthread_barrier_wait(&round_barrier);
		if (atomic_load(&stop_round) <= r)
			break;
	}
	atomic_fetch_add(&total_ops, ops);
	return NULL;
}

int
main(int argc, char **argv)
{
	double secs = mb_arg(argc, argv, 1, 1);
	nthreads = (unsigned)mb_arg(argc, argv, 2, 2);
	nslots = (size_t)mb_arg(argc, argv, 3, 1000);
	min_size = (size_t)mb_arg(argc, argv, 4, 16);
	max_size = (size_t)mb_arg(argc, argv, 5, 512);
	if (nthreads == 0 || nslots == 0 || max_size < min_size)
		return 2;
	sets = calloc(nthreads, sizeof(*sets));
	uint64_t rng = 42;
	for (unsigned t = 0; t < nthreads; t++) {
		sets[t].n = nslots;
		sets[t].slot = calloc(nslots, sizeof(void *));
		for (size_t k = 0; k < nslots; k++) {
			size_t n = min_size + mb_rand(&rng) % (max_size - min_size + 1);
			sets[t].slot[k] = malloc(n);
			mb_touch(sets[t].slot[k], n);
		}
	}
	pthread_barrier_init(&round_barrier, NULL, nthreads);
	double wall = mb_run(nthreads, worker, secs, &deadline);
	mb_report("larson", nthreads, atomic_load(&total_ops), wall);
	for (unsigned t = 0; t < nthreads; t++) {
		for (size_t k = 0; k < nslots; k++)
			free(sets[t].slot[k]);
		free(sets[t].slot);
	}
	free(sets);
	return 0;
}
