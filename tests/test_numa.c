/*
 * test_numa.c -- NUMA domains on a synthetic two-node topology: slabs of
 * a node's CPUs come from that node's slab lists (and are bound to its
 * memory where the machine has the node), a CPU refills from its node's
 * depot first, another node's cached objects are used before the slab
 * layer grows, and invalidation, the hard limit and the figures see every
 * depot.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * main() describes the machine's CPUs to hwloc as two NUMA nodes
 * (HWLOC_SYNTHETIC, with HWLOC_THISSYSTEM so that binding still binds)
 * before any cache exists.  CPUs 0 and 1 must be allowed.
 */
#include "testutil.h"

#define K	40	/* objects each CPU takes; more than a NOCPU magazine */

static unsigned cpu_a, cpu_b;	/* one CPU of each domain */

/* nocpu_cache: every get and put through the depot of the caller's node. */
static pcache_t *
nocpu_cache(const char *name, struct tcounts *tc)
{
	struct pcache_config cfg = tobj_config(64, tc);

	cfg.flags = PCACHE_NOCPU;
	pcache_t *pc = pcache_create(name, &cfg);
	ck_assert_ptr_nonnull(pc);
	return pc;
}

/* take: n gets on CPU cpu into objs[]. */
static void
take(pcache_t *pc, unsigned cpu, void **objs, size_t n)
{
	bind_to(cpu);
	for (size_t i = 0; i < n; i++)
		ck_assert_ptr_nonnull(objs[i] = pcache_get(pc, PCACHE_NOWAIT));
}

/* give: n puts on CPU cpu. */
static void
give(pcache_t *pc, unsigned cpu, void **objs, size_t n)
{
	bind_to(cpu);
	for (size_t i = 0; i < n; i++)
		pcache_put(pc, objs[i]);
}

/* The topology's two domains are the cache's, and the figures say so. */
START_TEST(two_domains)
{
	struct tcounts tc = { 0 };
	pcache_t *pc = nocpu_cache("numa-two", &tc);
	struct pcache_stats st;

	ck_assert_uint_eq(pc_topo_ndomain(), 2);
	ck_assert_uint_ne(pc_topo_cpu_domain(cpu_a), pc_topo_cpu_domain(cpu_b));
	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	ck_assert_uint_eq(st.numa_domains, 2);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * A CPU's new objects come from slabs of its own domain, and binding them
 * there succeeds exactly where the machine has that node.
 */
START_TEST(slabs_of_the_callers_domain)
{
	struct tcounts tc = { 0 };
	pcache_t *pc = nocpu_cache("numa-slabs", &tc);
	void *a[K], *b[K];
	struct pcache_stats st;

	take(pc, cpu_a, a, K);
	take(pc, cpu_b, b, K);
	for (int i = 0; i < K; i++) {
		ck_assert_uint_eq(pc_obj_domain(pc, a[i]), pc_topo_cpu_domain(cpu_a));
		ck_assert_uint_eq(pc_obj_domain(pc, b[i]), pc_topo_cpu_domain(cpu_b));
	}
	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	bool second_node = access("/sys/devices/system/node/node1", F_OK) == 0;
	ck_assert_uint_eq((st.degraded & PCACHE_DEGRADED_NO_MEMBIND) != 0,
	    !second_node);
	give(pc, cpu_a, a, K);
	give(pc, cpu_b, b, K);
	check_balance(pc, &tc);
	destroy_balanced(pc, &tc);
}
END_TEST

/*
 * Local first: with both depots stocked, a CPU gets its own node's objects
 * until its depot is empty; then another node's, before any new object is
 * built.  Invalidation empties both depots.
 */
START_TEST(local_depot_first_then_remote)
{
	struct tcounts tc = { 0 };
	pcache_t *pc = nocpu_cache("numa-local", &tc);
	void *a[K], *b[K], *c[K];
	unsigned da = pc_topo_cpu_domain(cpu_a), db = pc_topo_cpu_domain(cpu_b);

	take(pc, cpu_a, a, K);
	take(pc, cpu_b, b, K);
	give(pc, cpu_a, a, K);
	give(pc, cpu_b, b, K);
	uint64_t built = atomic_load(&tc.ctor);
	ck_assert_uint_eq(built, 2 * K);

	take(pc, cpu_b, c, K);
	for (int i = 0; i < K; i++)
		ck_assert_uint_eq(pc_obj_domain(pc, c[i]), db);
	void *more[K];
	take(pc, cpu_b, more, K);	/* depot b is empty: a's objects */
	for (int i = 0; i < K; i++)
		ck_assert_uint_eq(pc_obj_domain(pc, more[i]), da);
	ck_assert_uint_eq(atomic_load(&tc.ctor), built);	/* none new */
	give(pc, cpu_b, c, K);
	give(pc, cpu_a, more, K);
	check_balance(pc, &tc);

	pcache_invalidate(pc);
	struct pcache_stats st;
	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	ck_assert_uint_eq(st.cached_depot + st.cached_cpu, 0);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 2 * K);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * At the hard limit every object sits in one node's depot, and a CPU of
 * the other node still gets them all; with the per-CPU layer too.
 */
START_TEST(hard_limit_sees_every_depot)
{
	for (int nocpu = 0; nocpu < 2; nocpu++) {
		struct tcounts tc = { 0 };
		struct pcache_config cfg = tobj_config(64, &tc);
		cfg.flags = nocpu ? PCACHE_NOCPU : 0;
		pcache_t *pc = pcache_create("numa-limit", &cfg);
		void *o[2 * K];

		ck_assert_ptr_nonnull(pc);
		ck_assert_int_eq(pcache_set_hardlimit(pc, 2 * K), 0);
		take(pc, cpu_a, o, 2 * K);
		ck_assert_ptr_null(pcache_get(pc, PCACHE_NOWAIT));
		give(pc, cpu_a, o, 2 * K);
		take(pc, cpu_b, o, 2 * K);
		ck_assert_uint_eq(atomic_load(&tc.ctor), 2 * K);
		give(pc, cpu_b, o, 2 * K);
		check_balance(pc, &tc);
		pcache_invalidate(pc);
		destroy_balanced(pc, &tc);
	}
}
END_TEST

static Suite *
numa_suite(void)
{
	Suite *s = suite_create("numa");
	TCase *tc = tcase_create("numa");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, two_domains);
	tcase_add_test(tc, slabs_of_the_callers_domain);
	tcase_add_test(tc, local_depot_first_then_remote);
	tcase_add_test(tc, hard_limit_sees_every_depot);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * main: describe the machine's CPUs as two NUMA nodes (the first half and
 * the second), then run the suite.  77 (skipped) without an even number
 * of CPUs to split.
 */
int
main(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	char desc[64];

	if (n < 2 || n % 2 != 0)
		return 77;
	snprintf(desc, sizeof(desc), "numa:2 core:%ld pu:1", n / 2);
	setenv("HWLOC_SYNTHETIC", desc, 1);
	setenv("HWLOC_THISSYSTEM", "1", 1);
	cpu_a = 0;
	cpu_b = (unsigned)(n / 2);
	return run_suite(numa_suite());
}
