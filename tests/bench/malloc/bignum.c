/*
 * bignum.c -- allocation in the manner of cfrac (continued-fraction
 * factoring, one of the classic malloc benchmarks): multi-precision
 * arithmetic where every operation allocates its result and frees its
 * temporaries, so that nearly all blocks are small (8 to a few hundred
 * bytes) and short-lived, freed in roughly the reverse order of their
 * allocation; a few results (the "relations" a factoring program keeps)
 * live on in a table that is replaced piecewise.  Single-threaded, as
 * cfrac is.  Not cfrac's algorithm: a Pollard-rho style sequence
 * x <- x^2 + c modulo 2^(32 L), with sums and products of its terms.
 *
 *   bignum [SECONDS [LIMBS]]   (1 6)
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include "mbench.h"

#define KEEP	512			/* relations kept */

struct num {
	size_t n;			/* limbs in use */
	uint32_t limb[];		/* least significant first */
};

/* num_new: a number of n zero limbs (freshly allocated, as cfrac's pnew). */
static struct num *
num_new(size_t n)
{
	struct num *x = calloc(1, sizeof(*x) + n * sizeof(uint32_t));

	if (x == NULL)
		abort();
	x->n = n;
	return x;
}

/* num_trim: x without leading zero limbs, reallocated to fit. */
static struct num *
num_trim(struct num *x)
{
	size_t n = x->n;

	while (n > 1 && x->limb[n - 1] == 0)
		n--;
	if (n == x->n)
		return x;
	struct num *y = realloc(x, sizeof(*y) + n * sizeof(uint32_t));
	if (y == NULL)
		abort();
	y->n = n;
	return y;
}

/* num_add: a + b, a new number. */
static struct num *
num_add(const struct num *a, const struct num *b)
{
	size_t n = (a->n > b->n ? a->n : b->n) + 1;
	struct num *r = num_new(n);
	uint64_t carry = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = carry + (i < a->n ? a->limb[i] : 0) +
		    (i < b->n ? b->limb[i] : 0);
		r->limb[i] = (uint32_t)s;
		carry = s >> 32;
	}
	return num_trim(r);
}

/* num_mul: a * b truncated to at most `cap` limbs, a new number. */
static struct num *
num_mul(const struct num *a, const struct num *b, size_t cap)
{
	size_t n = a->n + b->n < cap ? a->n + b->n : cap;
	struct num *r = num_new(n);

	for (size_t i = 0; i < a->n && i < n; i++) {
		uint64_t carry = 0;
		for (size_t j = 0; j < b->n && i + j < n; j++) {
			uint64_t t = (uint64_t)a->limb[i] * b->limb[j] +
			    r->limb[i + j] + carry;
			r->limb[i + j] = (uint32_t)t;
			carry = t >> 32;
		}
		if (i + b->n < n)
			r->limb[i + b->n] = (uint32_t)carry;
	}
	return num_trim(r);
}

/* num_small: a number holding v. */
static struct num *
num_small(uint32_t v)
{
	struct num *x = num_new(1);

	x->limb[0] = v;
	return x;
}

int
main(int argc, char **argv)
{
	double secs = mb_arg(argc, argv, 1, 1);
	size_t limbs = (size_t)mb_arg(argc, argv, 2, 6);
	struct num *keep[KEEP] = { 0 };
	uint64_t ops = 0, rng = 99;
	unsigned long sum = 0;

	if (limbs < 2)
		return 2;
	struct num *x = num_small(2), *c = num_small(7);
	double t0 = mb_now(), deadline = t0 + secs;
	while (mb_now() < deadline) {
		for (int i = 0; i < 2000; i++) {
			struct num *sq = num_mul(x, x, limbs);
			struct num *nx = num_add(sq, c);
			free(sq);
			free(x);
			x = nx;
			/* A product of two kept relations, looked at and dropped. */
			size_t k = mb_rand(&rng) % KEEP, l = mb_rand(&rng) % KEEP;
			if (keep[k] != NULL && keep[l] != NULL) {
				struct num *p = num_mul(keep[k], keep[l], limbs);
				sum += p->limb[0];
				free(p);
			}
			/* Some terms become relations, replacing older ones. */
			if ((x->limb[0] & 7) == 0) {
				free(keep[k]);
				keep[k] = num_add(x, c);
			}
			ops += 3;
		}
	}
	double t1 = mb_now();
	mb_report("bignum", 1, ops, t1 - t0);
	for (int k = 0; k < KEEP; k++)
		free(keep[k]);
	free(x);
	free(c);
	return sum == 1 ? 3 : 0;	/* keeps the products computed */
}
