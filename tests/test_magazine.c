/*
 * test_magazine.c -- magazines and the depot through their internal
 * interfaces: capacity policy, list bookkeeping, the loose magazine, the
 * working-set trim, and detach/recycle as invalidation uses them.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include "testutil.h"

/* full_mag: a magazine filled with freshly constructed objects. */
static pc_mag_t *
full_mag(pcache_t *pc)
{
	pc_mag_t *m = pc_mag_alloc(pc);
	int error = 0;

	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->cap, pc->magsize);
	while (m->n < m->cap) {
		m->objs[m->n] = pc_obj_create(pc, 0, &error);
		ck_assert_ptr_nonnull(m->objs[m->n]);
		m->n++;
	}
	return m;
}

START_TEST(capacity_shrinks_with_object_size)
{
	unsigned prev = pc_mag_capacity(1);

	for (size_t size = 2; size <= (1u << 20); size *= 2) {
		unsigned c = pc_mag_capacity(size);
		ck_assert_uint_ge(c, 1);
		ck_assert_uint_le(c, prev);
		prev = c;
	}
	ck_assert_uint_gt(pc_mag_capacity(64), pc_mag_capacity(4096));
}
END_TEST

START_TEST(depot_lists_and_working_set_trim)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	cfg.flags = PCACHE_NOCPU;
	pcache_t *pc = pcache_create("depot", &cfg);
	pc_depot_t *d = pc->depot;

	for (int i = 0; i < 4; i++) {
		pc_mag_t *m = full_mag(pc);
		pthread_mutex_lock(&d->lock);
		pc_depot_give_full(d, m);
		pthread_mutex_unlock(&d->lock);
	}
	ck_assert_uint_eq(d->nfull, 4);
	ck_assert_uint_eq(d->nfull_min, 0);
	pc_depot_trim(pc);			/* opens the window: none idle yet */
	ck_assert_uint_eq(d->nfull, 4);
	ck_assert_uint_eq(d->nfull_min, 4);

	/* One magazine is used and comes back: three sat idle throughout. */
	pthread_mutex_lock(&d->lock);
	pc_mag_t *m = pc_depot_take_full(d);
	ck_assert_uint_eq(d->nfull_min, 3);
	pc_depot_give_full(d, m);
	pthread_mutex_unlock(&d->lock);
	uint64_t dtor = atomic_load(&tc.dtor);
	pc_depot_trim(pc);
	ck_assert_uint_eq(d->nfull, 1);
	ck_assert_uint_eq(atomic_load(&tc.dtor) - dtor, 3 * pc->magsize);
	check_balance(pc, &tc);
	pcache_invalidate(pc);
	check_balance(pc, &tc);
	ck_assert_uint_eq(atomic_load(&tc.ctor), atomic_load(&tc.dtor));
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(loose_magazine_is_lifo_and_spills_whole)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	cfg.flags = PCACHE_NOCPU;
	pcache_t *pc = pcache_create("loose", &cfg);
	pc_depot_t *d = pc->depot;
	unsigned m = pc->magsize;
	void **objs = calloc(2 * m + 1, sizeof(void *));

	ck_assert_ptr_eq(d->loose, &pc_mag_none);
	ck_assert_ptr_null(pc_depot_get(pc));
	for (unsigned i = 0; i < 2 * m + 1; i++) {
		int error = 0;
		objs[i] = pc_obj_create(pc, 0, &error);
		pc_depot_put(pc, objs[i]);
	}
	/* Two magazines filled and spilled to the full list, one object loose. */
	ck_assert_uint_eq(d->nfull, 2);
	ck_assert_uint_eq(d->loose->n, 1);
	ck_assert_ptr_eq(pc_depot_get(pc), objs[2 * m]);
	ck_assert_ptr_eq(pc_depot_get(pc), objs[2 * m - 1]);	/* refilled from full */
	ck_assert_uint_eq(d->nfull, 1);
	ck_assert_uint_eq(d->nempty, 1);
	pc_depot_put(pc, objs[2 * m - 1]);
	pc_depot_put(pc, objs[2 * m]);
	pc_depot_lock(pc);
	uint64_t cached = pc_depot_cached_locked(d);
	pc_depot_unlock(pc);
	ck_assert_uint_eq(cached, 2 * m + 1);

	pthread_mutex_lock(&d->lock);
	pc_mag_t *chain = pc_depot_detach_locked(d);
	pthread_mutex_unlock(&d->lock);
	ck_assert_uint_eq(d->nfull, 0);
	ck_assert_ptr_eq(d->loose, &pc_mag_none);
	size_t n = 0, nmags = 0;
	for (pc_mag_t *c = chain; c != NULL; c = c->next) {
		n += c->n;
		nmags++;
	}
	ck_assert_uint_eq(nmags, 3);		/* two full, and the loose one */
	ck_assert_uint_eq(n, 2 * m + 1);
	for (pc_mag_t *c = chain; c != NULL; c = c->next)
		pc_obj_destroy_many(pc, c->objs, c->n);
	size_t empties = d->nempty;
	pc_depot_recycle(pc, chain);
	ck_assert_uint_eq(d->nempty, empties + nmags);	/* the magazines are reused */
	ck_assert_uint_eq(pc_mag_none.n, 0);
	ck_assert_uint_eq(pc_mag_none.cap, 0);
	free(objs);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&tc.ctor), 2 * m + 1);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 2 * m + 1);
}
END_TEST

#ifdef PCACHE_ASSERTS
/* give_full_unlocked: a depot list changed without the depot lock. */
static void
give_full_unlocked(void *arg)
{
	pcache_t *pc = arg;

	pc_depot_give_full(pc->depot, full_mag(pc));
}

/* give_full_empty: an empty magazine given to the full list. */
static void
give_full_empty(void *arg)
{
	pcache_t *pc = arg;
	pc_mag_t *m = pc_mag_alloc(pc);

	pc_depot_lock(pc);
	pc_depot_give_full(pc->depot, m);
}
#endif

/*
 * Assertions (in builds with PCACHE_ASSERTS): a depot list changed without
 * the lock, or a magazine on the wrong list, aborts naming the check.
 */
START_TEST(assertions_catch_misuse)
{
#ifdef PCACHE_ASSERTS
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	cfg.flags = PCACHE_NOCPU;
	pcache_t *pc = pcache_create("asserts", &cfg);
	const char *want_lock[] = { "assertion failed", "pc_mutex_held", NULL };
	const char *want_n[] = { "assertion failed", "m->n > 0", NULL };

	ck_assert_ptr_nonnull(pc);
	expect_abort_output(give_full_unlocked, pc, want_lock);
	expect_abort_output(give_full_empty, pc, want_n);
	ck_assert_int_eq(pcache_destroy(pc), 0);
#else
	printf("assertions not compiled in; nothing to check\n");
#endif
}
END_TEST

static Suite *
magazine_suite(void)
{
	Suite *s = suite_create("magazine");
	TCase *tc = tcase_create("magazine");

	tcase_add_test(tc, capacity_shrinks_with_object_size);
	tcase_add_test(tc, depot_lists_and_working_set_trim);
	tcase_add_test(tc, loose_magazine_is_lifo_and_spills_whole);
	tcase_add_test(tc, assertions_catch_misuse);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(magazine_suite());
}
