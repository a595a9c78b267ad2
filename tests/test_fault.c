/*
 * test_fault.c -- allocation failures at every point of a scripted
 * workload, and constructor failures at every Nth construction.  Built
 * against the fault-injection build of the library.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * After each run: every get either succeeded or failed with ENOMEM (or the
 * constructor's error), nothing was lost (the statistics balance and
 * destroy returns 0), every page went back to the allocator and every
 * constructed object was destructed once.
 */
#include "testutil.h"

enum { HELD = 400 };

struct outcome {
	unsigned failed_gets;
	unsigned bad_errno;
};

/*
 * workload: a fixed script of gets, bulk gets, puts, invalidations and
 * reclaims; returns what the failures looked like.  Leaves nothing held.
 */
static struct outcome
workload(pcache_t *pc, int expect_errno)
{
	static void *held[HELD];
	unsigned n = 0;
	struct outcome out = { 0, 0 };

	for (int round = 0; round < 3; round++) {
		while (n < HELD) {
			if (n % 50 == 0 && n + 20 <= HELD) {
				if (pcache_get_bulk(pc, held + n, 20, PCACHE_NOWAIT) == 0) {
					n += 20;
					continue;
				}
			} else if ((held[n] = pcache_get(pc, PCACHE_NOWAIT)) != NULL) {
				n++;
				continue;
			}
			out.failed_gets++;
			if (errno != expect_errno)
				out.bad_errno++;
			break;		/* this round is cut short */
		}
		struct pcache_stats st;
		pcache_get_stats(pc, &st);
		ck_assert_uint_eq(st.in_use, n);
		pcache_put_bulk(pc, held + n / 2, n - n / 2);
		n /= 2;
		if (round == 1)
			pcache_invalidate(pc);
		pcache_reclaim(pc);
	}
	pcache_put_bulk(pc, held, n);
	return out;
}

/* run_with_fault: the whole script with allocation number nth failing. */
static unsigned
run_with_fault(unsigned flags, size_t size, long nth, long *calls)
{
	struct tcounts tc = { 0 };
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 8192);
	struct pcache_config cfg = tobj_config(size, &tc);

	cfg.flags = flags;
	cfg.allocator = &a;
	pcache_t *pc = pcache_create("fault", &cfg);
	ck_assert_ptr_nonnull(pc);
	pc_fault_arm(nth);
	struct outcome out = workload(pc, ENOMEM);
	*calls = pc_fault_calls();
	pc_fault_arm(0);
	ck_assert_uint_eq(out.bad_errno, 0);
	check_balance(pc, &tc);
	pcache_invalidate(pc);
	check_balance(pc, &tc);
	destroy_balanced(pc, &tc);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));
	return out.failed_gets;
}

/*
 * sweep: count the allocations the script makes, then fail each in turn.
 * A fault must change something at least once (else the hook is dead).
 */
static void
sweep(unsigned flags, size_t size)
{
	long total;
	unsigned runs_with_failures = 0;

	ck_assert_uint_eq(run_with_fault(flags, size, 0, &total), 0);
	ck_assert_int_gt(total, 3);
	for (long nth = 1; nth <= total; nth++) {
		long calls;
		if (run_with_fault(flags, size, nth, &calls) > 0)
			runs_with_failures++;
		ck_assert_int_ge(calls, nth);	/* the armed one was reached */
	}
	/* Slab allocations come first in the script: failing them fails gets. */
	ck_assert_uint_gt(runs_with_failures, 0);
}

START_TEST(allocation_failures_percpu)
{
	sweep(0, 64);
}
END_TEST

START_TEST(allocation_failures_nocpu)
{
	sweep(PCACHE_NOCPU, 64);
}
END_TEST

START_TEST(allocation_failures_offslab)
{
	sweep(0, 2048);			/* off-slab headers come from malloc */
}
END_TEST

START_TEST(allocation_failures_checked)
{
	sweep(PCACHE_DEBUG, 100);
}
END_TEST

/* ctor_every: a constructor that fails every nth call with EIO. */
struct ctor_fail {
	struct tcounts tc;
	unsigned calls, nth;
};

static int
failing_ctor(void *arg, void *obj, int flags)
{
	struct ctor_fail *cf = arg;

	if (cf->nth != 0 && ++cf->calls % cf->nth == 0)
		return EIO;
	return tobj_ctor(&cf->tc, obj, flags);
}

static void
failing_dtor(void *arg, void *obj)
{
	tobj_dtor(&((struct ctor_fail *)arg)->tc, obj);
}

START_TEST(constructor_failures)
{
	for (unsigned nth = 1; nth <= 40; nth++) {
		struct ctor_fail cf = { .nth = nth };
		struct pcache_config cfg = { .size = 64, .ctor = failing_ctor,
		    .dtor = failing_dtor, .arg = &cf };
		pcache_t *pc = pcache_create("ctorfail", &cfg);
		struct outcome out = workload(pc, EIO);
		ck_assert_uint_eq(out.bad_errno, 0);
		if (nth <= 20)
			ck_assert_uint_gt(out.failed_gets, 0);
		check_balance(pc, &cf.tc);
		pcache_invalidate(pc);
		destroy_balanced(pc, &cf.tc);
	}
}
END_TEST

static Suite *
fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("fault");

	tcase_set_timeout(tc, 120);
	/* Pinned: the sweep needs the same allocations in every run. */
	tcase_add_checked_fixture(tc, pin_first_cpu, NULL);
	tcase_add_test(tc, allocation_failures_percpu);
	tcase_add_test(tc, allocation_failures_nocpu);
	tcase_add_test(tc, allocation_failures_offslab);
	tcase_add_test(tc, allocation_failures_checked);
	tcase_add_test(tc, constructor_failures);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(fault_suite());
}
