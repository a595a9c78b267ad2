/*
 * cubes.c -- allocation in the manner of espresso (two-level logic
 * minimisation, one of the classic malloc benchmarks): covers are arrays
 * of cubes (bit sets over the inputs) that grow by realloc as cubes are
 * added; every step intersects cubes pairwise into a new cover, drops the
 * empty and contained ones (each a freed block) and replaces the old
 * cover.  Blocks of a few tens of bytes (cubes) and of growing arrays of
 * pointers (covers), most freed within a step.  Single-threaded, as
 * espresso is.  Not espresso's algorithm: the shape of its memory use.
 *
 *   cubes [SECONDS [INPUTS]]   (1 96)
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include "mbench.h"

#define MAXCOVER	256		/* cubes a cover keeps at most */

struct cover {
	size_t n, cap;
	uint64_t **cube;
};

static size_t words;			/* 64-bit words a cube takes */
static uint64_t allocs;			/* blocks allocated: the operation count */

/* cube_new: a cube, random (dense) when rng is not NULL, else empty. */
static uint64_t *
cube_new(uint64_t *rng)
{
	uint64_t *c = malloc(words * sizeof(uint64_t));

	if (c == NULL)
		abort();
	allocs++;
	for (size_t i = 0; i < words; i++)
		c[i] = rng != NULL ? mb_rand(rng) | mb_rand(rng) : 0;
	return c;
}

/* cover_add: append cube c, growing the array by realloc. */
static void
cover_add(struct cover *f, uint64_t *c)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 4;
		f->cube = realloc(f->cube, f->cap * sizeof(*f->cube));
		if (f->cube == NULL)
			abort();
		allocs++;
	}
	f->cube[f->n++] = c;
}

/* cover_free: free a cover and its cubes. */
static void
cover_free(struct cover *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->cube[i]);
	free(f->cube);
	*f = (struct cover){ 0 };
}

/* contained: whether cube a lies within cube b. */
static bool
contained(const uint64_t *a, const uint64_t *b)
{
	for (size_t i = 0; i < words; i++) {
		if ((a[i] & ~b[i]) != 0)
			return false;
	}
	return true;
}

/*
 * step: the pairwise intersections of f's cubes with g's, the empty ones
 * and those contained in one of the last few kept dropped, at most MAXCOVER kept; topped up with
 * fresh random cubes so that the cover never dies out.
 */
static struct cover
step(const struct cover *f, const struct cover *g, uint64_t *rng)
{
	struct cover r = { 0 };

	for (size_t i = 0; i < f->n && r.n < MAXCOVER; i++) {
		for (size_t j = 0; j < g->n && r.n < MAXCOVER; j++) {
			uint64_t *c = cube_new(NULL);
			uint64_t any = 0;
			for (size_t w = 0; w < words; w++)
				any |= c[w] = f->cube[i][w] & g->cube[j][w];
			bool drop = any == 0;
			/* Against the latest few, as a cheap absorption. */
			for (size_t k = r.n > 8 ? r.n - 8 : 0; !drop && k < r.n; k++)
				drop = contained(c, r.cube[k]);
			if (drop)
				free(c);
			else
				cover_add(&r, c);
		}
	}
	while (r.n < MAXCOVER / 4)
		cover_add(&r, cube_new(rng));
	return r;
}

int
main(int argc, char **argv)
{
	double secs = mb_arg(argc, argv, 1, 1);
	size_t inputs = (size_t)mb_arg(argc, argv, 2, 96);
	uint64_t rng = 4242;

	if (inputs == 0)
		return 2;
	words = (2 * inputs + 63) / 64;		/* two bits per input */
	struct cover f = { 0 }, g = { 0 };
	for (int i = 0; i < 32; i++) {
		cover_add(&f, cube_new(&rng));
		cover_add(&g, cube_new(&rng));
	}
	double t0 = mb_now(), deadline = t0 + secs;
	while (mb_now() < deadline) {
		struct cover h = step(&f, &g, &rng);
		cover_free(&g);
		g = f;
		f = h;
	}
	double t1 = mb_now();
	mb_report("cubes", 1, allocs, t1 - t0);
	cover_free(&f);
	cover_free(&g);
	return 0;
}
