/*
 * objstate.h -- objects that carry their own state word, for the tests in
 * which many threads share a cache.  The constructor, the destructor and
 * the test's own get and put steps move the word with atomic operations
 * and report every move the library should never cause: a handout of an
 * object already handed out, a destructor on an object in use, a
 * constructor on a constructed object.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef PCACHE_OBJSTATE_H
#define PCACHE_OBJSTATE_H

#include <stdatomic.h>
#include <stdio.h>

enum { ST_RAW = 0, ST_CACHED = 1, ST_INUSE = 2, ST_DEAD = 3 };

/* The counts of one test; the objects' first member is `atomic_uint state`. */
struct ostate {
	const char *who;		/* prefix of the reports */
	atomic_uint_fast64_t ctor, dtor;
	atomic_int errors;
};

/* ostate_report: count an error, printing the first few. */
static inline void
ostate_report(struct ostate *s, const char *what, const void *obj)
{
	if (atomic_fetch_add(&s->errors, 1) < 10)
		fprintf(stderr, "%s: %s (object %p)\n", s->who, what, obj);
}

/* ostate_ctor, ostate_dtor: a cache's ctor/dtor with arg = struct ostate *. */
static inline int
ostate_ctor(void *arg, void *obj, int flags)
{
	struct ostate *s = arg;
	atomic_uint *state = obj;
	unsigned was = atomic_load(state);

	(void)flags;
	if (was == ST_CACHED || was == ST_INUSE)
		ostate_report(s, "ctor on a constructed object", obj);
	atomic_store(state, ST_CACHED);
	atomic_fetch_add(&s->ctor, 1);
	return 0;
}

static inline void
ostate_dtor(void *arg, void *obj)
{
	struct ostate *s = arg;
	unsigned was = atomic_exchange((atomic_uint *)obj, ST_DEAD);

	if (was == ST_INUSE)
		ostate_report(s, "dtor on an object in use", obj);
	else if (was != ST_CACHED)
		ostate_report(s, "dtor on an object not constructed", obj);
	atomic_fetch_add(&s->dtor, 1);
}

/* ostate_took: the object just came from the cache: cached -> in use. */
static inline void
ostate_took(struct ostate *s, void *obj)
{
	unsigned want = ST_CACHED;

	if (!atomic_compare_exchange_strong((atomic_uint *)obj, &want, ST_INUSE))
		ostate_report(s, want == ST_INUSE ? "object handed out twice" :
		    "object handed out not constructed", obj);
}

/* ostate_giving: the object is about to go back: in use -> cached. */
static inline void
ostate_giving(struct ostate *s, void *obj)
{
	unsigned want = ST_INUSE;

	if (!atomic_compare_exchange_strong((atomic_uint *)obj, &want, ST_CACHED))
		ostate_report(s, "object lost its in-use state", obj);
}

#endif /* PCACHE_OBJSTATE_H */
