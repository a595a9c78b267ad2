/*
 * test_debug.c -- checked mode (PCACHE_DEBUG): each misuse, made as a user
 * would make it, must end in an abort whose message names the cache and
 * the pointer; correct use must keep every invariant.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <stdio.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#define QSIZE 4		/* the quarantine of the caches made by checked() */
#define QSIZE_ENV "quarantine=4"

static pcache_t *
checked(const char *name, size_t size, bool with_ctor, struct tcounts *tc)
{
	struct pcache_config cfg = tobj_config(size, tc);

	if (!with_ctor) {
		cfg.ctor = NULL;
		cfg.dtor = NULL;
	}
	cfg.flags = PCACHE_DEBUG;
	/* Read at creation; each test runs in a child of its own. */
	setenv("PCACHE_DEBUG", QSIZE_ENV, 1);
	pcache_t *pc = pcache_create(name, &cfg);
	ck_assert_ptr_nonnull(pc);
	return pc;
}

/*
 * cycle_others: QSIZE + 1 gets of other objects, all put back: enough to
 * push every object put before out of this CPU's quarantine.
 */
static void
cycle_others(pcache_t *pc)
{
	void *o[QSIZE + 1];

	for (int i = 0; i <= QSIZE; i++)
		o[i] = pcache_get(pc, 0);
	for (int i = 0; i <= QSIZE; i++)
		pcache_put(pc, o[i]);
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
	const char *want[] = { "dbl", ptrstr(m.obj), "double put", "history of",
	    "allocated by", "freed by", "last", NULL };
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

#ifdef TEST_ASAN
/* died: the sanitizer stopped the child (exit status, or abort_on_error). */
static bool
died(int status)
{
	return (WIFEXITED(status) && WEXITSTATUS(status) != 0) ||
	    WIFSIGNALED(status);
}
#endif

/*
 * expect_use_after_put: fn(m) uses an object after putting it.  In an
 * AddressSanitizer build the sanitizer stops it at the use (the object is
 * poisoned for it while cached); otherwise checked mode aborts later,
 * printing want[].
 */
static void
expect_use_after_put(void (*fn)(void *), struct misuse *m, const char *const *want)
{
#ifdef TEST_ASAN
	int status;
	const char *out = child_output(fn, m, false, &status);

	(void)want;
	ck_assert_msg(died(status) &&
	    strstr(out, "AddressSanitizer: use-after-poison") != NULL,
	    "no report from AddressSanitizer: %s", out);
#else
	expect_abort_output(fn, m, want);
#endif
}

static void
do_write_after_put_then_get(void *p)
{
	struct misuse *m = p;
	pcache_put(m->pc, m->obj);
	m->obj[5] = 'x';			/* through a stale pointer */
	cycle_others(m->pc);			/* it leaves the quarantine */
}

START_TEST(write_after_put_poison)
{
	struct tcounts tc = { 0 };
	struct misuse m = { checked("poison", 40, false, &tc), NULL, NULL };

	m.obj = pcache_get(m.pc, 0);
	memset(m.obj, 0, 40);
	const char *want[] = { "poison", ptrstr(m.obj), "write after put at offset 5",
	    "allocated by", "freed by", NULL };
	expect_use_after_put(do_write_after_put_then_get, &m, want);
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
	expect_use_after_put(do_write_after_put_then_get, &m, want);
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
	expect_use_after_put(do_write_after_put_then_invalidate, &m, want);
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
	ck_assert_uint_eq(st.fastpath, PCACHE_FASTPATH_LOCK);	/* never rseq */
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
	destroy_balanced(page, &tc);
	ck_assert_uint_eq(atomic_load(&tcp.ctor), atomic_load(&tcp.dtor));
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));

	/* A cache without the flag keeps its per-CPU layer. */
	unsetenv("PCACHE_DEBUG");	/* checked() set it */
	struct pcache_config plain = { .size = 100 };
	pc = pcache_create("plain", &plain);
	pcache_get_stats(pc, &st);
	ck_assert_uint_ne(st.fastpath, PCACHE_FASTPATH_NONE);
	ck_assert_ptr_null(pc->dbg);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * A put object stays out of reach for QSIZE more puts on its CPU, counted
 * as cached there; then it is reused.  The figures stay exact throughout.
 */
START_TEST(quarantine_delays_reuse)
{
	struct tcounts tc = { 0 };
	pcache_t *pc = checked("q", 64, true, &tc);
	struct pcache_stats st;

	void *a = pcache_get(pc, 0);
	pcache_put(pc, a);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu, 1);
	ck_assert_uint_eq(st.in_use, 0);
	check_balance(pc, &tc);
	bool seen = false;
	for (int i = 0; i < 4 * QSIZE && !seen; i++) {
		void *b = pcache_get(pc, 0);
		seen = b == a;
		ck_assert_msg(!seen || i >= QSIZE - 1,
		    "reused after %d puts, quarantine %d", i, QSIZE);
		pcache_put(pc, b);
		check_balance(pc, &tc);
	}
	ck_assert(seen);
	destroy_balanced(pc, &tc);
}
END_TEST

/*
 * Quarantined objects are cached objects: invalidation (global, and local
 * on the CPU they were put on) destructs them, and pcache_destroy() counts
 * them as cached.
 */
START_TEST(quarantine_is_invalidated)
{
	struct tcounts tc = { 0 };
	pcache_t *pc = checked("qinval", 64, true, &tc);
	struct pcache_stats st;
	void *o[3];

	for (int i = 0; i < 3; i++)
		o[i] = pcache_get(pc, 0);
	for (int i = 0; i < 3; i++)
		pcache_put(pc, o[i]);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 0);
	pcache_invalidate(pc);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 3);
	check_balance(pc, &tc);

	/* Local: pinned, so that the ring drained is the one put to. */
	unsigned cpu;
	allowed_cpus(&cpu, 1);
	bind_to(cpu);
	{
		struct pcache_cpu_stats cs;
		for (int i = 0; i < 3; i++)
			o[i] = pcache_get(pc, 0);
		for (int i = 0; i < 3; i++)
			pcache_put(pc, o[i]);
		ck_assert_int_eq(pcache_get_cpu_stats(pc, cpu, &cs), 0);
		ck_assert_uint_eq(cs.cached, 3);
		pcache_invalidate_local(pc);
		ck_assert_int_eq(pcache_get_cpu_stats(pc, cpu, &cs), 0);
		ck_assert_uint_eq(cs.cached, 0);
		ck_assert_uint_eq(atomic_load(&tc.dtor), 6);
		check_balance(pc, &tc);
	}
	o[0] = pcache_get(pc, 0);
	pcache_put(pc, o[0]);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, 1);
	destroy_balanced(pc, &tc);
}
END_TEST

/*
 * At the hard limit, a get takes from the quarantine rather than fail or
 * sleep while the objects it needs wait there.
 */
START_TEST(quarantine_yields_at_limit)
{
	struct tcounts tc = { 0 };
	pcache_t *pc = checked("qlimit", 64, true, &tc);
	void *o[QSIZE];

	ck_assert_int_eq(pcache_set_hardlimit(pc, QSIZE), 0);
	for (int round = 0; round < 3; round++) {
		ck_assert_int_eq(pcache_get_bulk(pc, o, QSIZE, PCACHE_WAITOK), 0);
		pcache_put_bulk(pc, o, QSIZE);
		check_balance(pc, &tc);
	}
	for (int i = 0; i < QSIZE; i++)
		ck_assert_ptr_nonnull(o[i] = pcache_get(pc, PCACHE_NOWAIT));
	ck_assert_ptr_null(pcache_get(pc, PCACHE_NOWAIT));
	for (int i = 0; i < QSIZE; i++)
		pcache_put(pc, o[i]);
	destroy_balanced(pc, &tc);
}
END_TEST

struct stale_read {
	pcache_t *pc;
	unsigned char seen;
};

/* do_read_after_put: put, other gets and puts, then read the stale pointer. */
static void
do_read_after_put(void *p)
{
	struct stale_read *r = p;
	unsigned char *obj = pcache_get(r->pc, 0);

	memset(obj, 1, 40);
	pcache_put(r->pc, obj);
	for (int i = 0; i < QSIZE - 1; i++) {	/* short of pushing it out */
		void *other = pcache_get(r->pc, 0);
		ck_assert_ptr_ne(other, obj);
		pcache_put(r->pc, other);
	}
	r->seen = *(volatile unsigned char *)(obj + 7);
	fprintf(stderr, "read 0x%02x\n", r->seen);
}

/*
 * A read after put, with gets and puts in between: in an AddressSanitizer
 * build the sanitizer reports it; in any build the object still holds the
 * poison pattern (nobody else got it).
 */
START_TEST(read_after_put_seen)
{
	struct tcounts tc = { 0 };
	struct stale_read r = { checked("stale", 40, false, &tc), 0 };
	int status;
	const char *out = child_output(do_read_after_put, &r, false, &status);

#ifdef TEST_ASAN
	ck_assert_msg(died(status) &&
	    strstr(out, "AddressSanitizer: use-after-poison") != NULL &&
	    strstr(out, "do_read_after_put") != NULL,
	    "no report from AddressSanitizer: %s", out);
#else
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", out);
	ck_assert_msg(strstr(out, "read 0xa5") != NULL, "not poisoned: %s", out);
#endif
	ck_assert_int_eq(pcache_destroy(r.pc), 0);
}
END_TEST

/* PCACHE_DEBUG=quarantine=0: no quarantine; a put object is reused at once. */
START_TEST(quarantine_can_be_off)
{
	struct pcache_config cfg = { .size = 32 };

	setenv("PCACHE_DEBUG", "1,quarantine=0", 1);
	pcache_t *pc = pcache_create("noq", &cfg);
	void *a = pcache_get(pc, 0);
	pcache_put(pc, a);
	ck_assert_ptr_eq(pcache_get(pc, 0), a);
	pcache_put(pc, a);
	ck_assert_ptr_nonnull(pc->dbg);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

static Suite *
debug_suite(void)
{
	Suite *s = suite_create("debug");
	TCase *tc = tcase_create("debug");

	tcase_set_timeout(tc, 60);
	/* Pinned: the quarantine is per CPU, and the tests count puts on one. */
	tcase_add_checked_fixture(tc, pin_first_cpu, NULL);
	tcase_add_test(tc, double_put_aborts);
	tcase_add_test(tc, interior_and_foreign_pointers_abort);
	tcase_add_test(tc, write_after_put_poison);
	tcase_add_test(tc, write_after_put_checksum);
	tcase_add_test(tc, write_after_put_seen_by_invalidate);
	tcase_add_test(tc, redzone_overrun_aborts);
	tcase_add_test(tc, environment_turns_it_on);
	tcase_add_test(tc, correct_use_keeps_invariants);
	tcase_add_test(tc, quarantine_delays_reuse);
	tcase_add_test(tc, quarantine_is_invalidated);
	tcase_add_test(tc, quarantine_yields_at_limit);
	tcase_add_test(tc, read_after_put_seen);
	tcase_add_test(tc, quarantine_can_be_off);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(debug_suite());
}
