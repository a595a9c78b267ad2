/*
 * test_debug.c -- checked mode (PCACHE_DEBUG): each misuse, made as a user
 * would make it, must end in an abort whose message names the cache and
 * the pointer; correct use must keep every invariant.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <stdio.h>

#include "testutil.h"

static pcache_t *
checked(const char *name, size_t size, bool with_ctor, struct tcounts *tc)
{
	struct pcache_config cfg = tobj_config(size, tc);

	if (!with_ctor) {
		cfg.ctor = NULL;
		cfg.dtor = NULL;
	}
	cfg.flags = PCACHE_DEBUG;
	pcache_t *pc = pcache_create(name, &cfg);
	ck_assert_ptr_nonnull(pc);
	return pc;
}

static char ptrbuf[32];

static const char *
ptrstr(const void *p)
{
	snprintf(ptrbuf, sizeof(ptrbuf), "%p", p);
	return ptrbuf;
}

struct misuse {
	pcache_t *pc;
	char *obj;
	pcache_t *other;
};

static void
do_double_put(void *p)
{
	struct misuse *m = p;
	pcache_put(m->pc, m->obj);
	pcache_put(m->pc, m->obj);
}

START_TEST(double_put_aborts)
{
	struct tcounts tc = { 0 };
	struct misuse m = { checked("dbl", 64, true, &tc), NULL, NULL };

	m.obj = pcache_get(m.pc, 0);
	const char *want[] = { "dbl", ptrstr(m.obj), "double put", "last", NULL };
	expect_abort_output(do_double_put, &m, want);
	pcache_put(m.pc, m.obj);
	ck_assert_int_eq(pcache_destroy(m.pc), 0);
}
END_TEST

static void
do_put_interior(void *p)
{
	struct misuse *m = p;
	pcache_put(m->pc, m->obj + 8);
}

static void
do_put_foreign(void *p)
{
	struct misuse *m = p;
	pcache_put(m->other, m->obj);
}

START_TEST(interior_and_foreign_pointers_abort)
{
	struct tcounts tc = { 0 };
	struct misuse m = { checked("mine", 64, true, &tc), NULL,
	    checked("yours", 64, true, &tc) };

	m.obj = pcache_get(m.pc, 0);
	const char *w1[] = { "mine", ptrstr(m.obj + 8), "not the start", NULL };
	expect_abort_output(do_put_interior, &m, w1);
	const char *w2[] = { "yours", ptrstr(m.obj), "belongs to cache 'mine'", NULL };
	expect_abort_output(do_put_foreign, &m, w2);
	pcache_put(m.pc, m.obj);
	ck_assert_int_eq(pcache_destroy(m.pc), 0);
	ck_assert_int_eq(pcache_destroy(m.other), 0);
}
END_TEST

static void
do_write_after_put_then_get(void *p)
{
	struct misuse *m = p;
	pcache_put(m->pc, m->obj);
	m->obj[5] = 'x';			/* through a stale pointer */
	(void)pcache_get(m->pc, 0);		/* the same object comes back */
}

START_TEST(write_after_put_poison)
{
	struct tcounts tc = { 0 };
	struct misuse m = { checked("poison", 40, false, &tc), NULL, NULL };

	m.obj = pcache_get(m.pc, 0);
	memset(m.obj, 0, 40);
	const char *want[] = { "poison", ptrstr(m.obj), "write after put at offset 5",
	    NULL };
	expect_abort_output(do_write_after_put_then_get, &m, want);
	pcache_put(m.pc, m.obj);
	ck_assert_int_eq(pcache_destroy(m.pc), 0);
}
END_TEST

START_TEST(write_after_put_checksum)
{
	struct tcounts tc = { 0 };
	struct misuse m = { checked("sum", 64, true, &tc), NULL, NULL };

	m.obj = pcache_get(m.pc, 0);
	const char *want[] = { "sum", ptrstr(m.obj), "write after put", NULL };
	expect_abort_output(do_write_after_put_then_get, &m, want);
	pcache_put(m.pc, m.obj);
	ck_assert_int_eq(pcache_destroy(m.pc), 0);
}
END_TEST

static void
do_write_after_put_then_invalidate(void *p)
{
	struct misuse *m = p;
	pcache_put(m->pc, m->obj);
	m->obj[20] ^= 1;
	pcache_invalidate(m->pc);
}

START_TEST(write_after_put_seen_by_invalidate)
{
	struct tcounts tc = { 0 };
	struct misuse m = { checked("inval", 64, true, &tc), NULL, NULL };

	m.obj = pcache_get(m.pc, 0);
	const char *want[] = { "inval", ptrstr(m.obj), "write after put", NULL };
	expect_abort_output(do_write_after_put_then_invalidate, &m, want);
	pcache_put(m.pc, m.obj);
	ck_assert_int_eq(pcache_destroy(m.pc), 0);
}
END_TEST

static void
do_overrun_then_put(void *p)
{
	struct misuse *m = p;
	m->obj[48] = 1;				/* one past a 48-byte object */
	pcache_put(m->pc, m->obj);
}

START_TEST(redzone_overrun_aborts)
{
	struct tcounts tc = { 0 };
	struct misuse m = { checked("rz", 48, false, &tc), NULL, NULL };

	m.obj = pcache_get(m.pc, 0);
	const char *want[] = { "rz", ptrstr(m.obj), "redzone overwritten at offset 48",
	    NULL };
	expect_abort_output(do_overrun_then_put, &m, want);
	pcache_put(m.pc, m.obj);
	ck_assert_int_eq(pcache_destroy(m.pc), 0);
}
END_TEST

static void
do_env_double_put(void *p)
{
	(void)p;
	struct pcache_config cfg = { .size = 32 };

	setenv("PCACHE_DEBUG", "1", 1);
	pcache_t *pc = pcache_create("envdbg", &cfg);
	void *o = pcache_get(pc, 0);
	pcache_put(pc, o);
	pcache_put(pc, o);
}

START_TEST(environment_turns_it_on)
{
	const char *want[] = { "envdbg", "double put", NULL };

	expect_abort_output(do_env_double_put, NULL, want);
}
END_TEST

/* Correct use under checked mode keeps the invariants and frees all. */
START_TEST(correct_use_keeps_invariants)
{
	struct tcounts tc = { 0 }, tcp = { 0 };
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 4096);
	struct pcache_config cfg = tobj_config(4096, &tcp);
	void *o[300];
	struct pcache_stats st;

	cfg.allocator = &a;
	cfg.flags = PCACHE_DEBUG;
	pcache_t *page = pcache_create("ptp-checked", &cfg);
	ck_assert_ptr_nonnull(page);	/* no room for a redzone: none */
	pcache_t *pc = checked("fine", 100, true, &tc);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.fastpath, PCACHE_FASTPATH_NONE);
	for (int round = 0; round < 3; round++) {
		ck_assert_int_eq(pcache_get_bulk(pc, o, 300, 0), 0);
		for (int i = 0; i < 300; i++)
			memset((char *)o[i] + sizeof(struct tobj), round, 100 - sizeof(struct tobj));
		pcache_put_bulk(pc, o, 300);
		check_balance(pc, &tc);
		void *p = pcache_get(page, 0);
		pcache_put(page, p);
		pcache_invalidate_local(pc);
		pcache_reclaim(pc);
	}
	pcache_invalidate(pc);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_int_eq(pcache_destroy(page), 0);
	ck_assert_uint_eq(atomic_load(&tc.ctor), atomic_load(&tc.dtor));
	ck_assert_uint_eq(atomic_load(&tcp.ctor), atomic_load(&tcp.dtor));
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));

	/* A cache without the flag keeps its per-CPU layer. */
	struct pcache_config plain = { .size = 100 };
	pc = pcache_create("plain", &plain);
	pcache_get_stats(pc, &st);
	ck_assert_uint_ne(st.fastpath, PCACHE_FASTPATH_NONE);
	ck_assert_ptr_null(pc->dbg);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

static Suite *
debug_suite(void)
{
	Suite *s = suite_create("debug");
	TCase *tc = tcase_create("debug");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, double_put_aborts);
	tcase_add_test(tc, interior_and_foreign_pointers_abort);
	tcase_add_test(tc, write_after_put_poison);
	tcase_add_test(tc, write_after_put_checksum);
	tcase_add_test(tc, write_after_put_seen_by_invalidate);
	tcase_add_test(tc, redzone_overrun_aborts);
	tcase_add_test(tc, environment_turns_it_on);
	tcase_add_test(tc, correct_use_keeps_invariants);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(debug_suite());
}
