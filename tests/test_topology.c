/*
 * test_topology.c -- the hwloc layer: slot count, allowed CPUs, NUMA
 * nodes, binding, and the lazy one-time load under concurrent first use.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <pthread.h>

#include "testutil.h"

static void *
first_use(void *p)
{
	*(unsigned *)p = pc_topo_ncpu();
	return NULL;
}

/* Each test runs in a fresh process: these threads race the first load. */
START_TEST(lazy_load_is_once_and_consistent)
{
	pthread_t t[8];
	unsigned n[8];

	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, first_use, &n[i]);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(n[i], n[0]);
	ck_assert_uint_ge(n[0], 1);
	ck_assert_uint_eq(pcache_cpu_count(), n[0]);
}
END_TEST

START_TEST(allowed_cpus_have_slots_and_nodes)
{
	unsigned cpus[1024];
	unsigned n = allowed_cpus(cpus, 1024);

	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_lt(cpus[i], pc_topo_ncpu());
		if (i > 0)
			ck_assert_uint_gt(cpus[i], cpus[i - 1]);
		ck_assert_int_ge(pc_topo_cpu_node(cpus[i]), -1);
	}
	ck_assert_int_eq(pc_topo_cpu_node(pc_topo_ncpu()), -1);	/* no such CPU */
	/* The count is reported even when the buffer is smaller. */
	unsigned one;
	ck_assert_int_eq(pc_topo_allowed_cpus(&one, 1), (int)n);
	ck_assert_uint_eq(one, cpus[0]);
}
END_TEST

START_TEST(bind_and_unbind)
{
	unsigned cpus[1024];
	unsigned n = allowed_cpus(cpus, 1024);

	for (unsigned i = 0; i < n; i++) {
		bind_to(cpus[i]);		/* asserts sched_getcpu() too */
		ck_assert_uint_eq(pc_cpu_current(&(pcache_t){ .ncpu = pc_topo_ncpu() }),
		    cpus[i]);
	}
	ck_assert_int_eq(pc_topo_bind_thread(pc_topo_ncpu() + 5), EINVAL);
	ck_assert_int_eq(pc_topo_unbind_thread(), 0);
	cpu_set_t set;
	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	ck_assert_int_eq(CPU_COUNT(&set), (int)n);
}
END_TEST

static Suite *
topology_suite(void)
{
	Suite *s = suite_create("topology");
	TCase *tc = tcase_create("topology");

	tcase_add_test(tc, lazy_load_is_once_and_consistent);
	tcase_add_test(tc, allowed_cpus_have_slots_and_nodes);
	tcase_add_test(tc, bind_and_unbind);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(topology_suite());
}
