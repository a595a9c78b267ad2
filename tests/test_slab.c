/*
 * test_slab.c -- the slab layer and the page map, through their internal
 * interfaces: layout, on- and off-slab headers, colouring, the fullness
 * buckets, the hard limit at the slab boundary, the address map.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* get_raw: a raw object straight from the slab layer. */
static void *
get_raw(pcache_t *pc)
{
	int error = 0;
	void *obj = pc_slab_get(pc, 0, &error);

	ck_assert_msg(obj != NULL, "pc_slab_get failed: %d", error);
	return obj;
}

/* Every object of every slab lies past the header and inside its slab. */
static void
check_layout(pcache_t *pc, size_t nslabs)
{
	size_t n = nslabs * pc->slab_nobj;
	char **objs = calloc(n, sizeof(*objs));

	for (size_t i = 0; i < n; i++) {
		objs[i] = get_raw(pc);
		struct pc_slab *sl = pc_pagemap_lookup(objs[i]);
		ck_assert_ptr_nonnull(sl);
		ck_assert_ptr_eq(sl->pc, pc);
		ck_assert_uint_eq((uintptr_t)sl->base % pc->slabsize, 0);
		ck_assert_uint_eq((uintptr_t)objs[i] % pc->align, 0);
		ck_assert(objs[i] + pc->objsize <= sl->base + pc->slabsize);
		if (!pc->offslab) {
			ck_assert_ptr_eq(sl, (struct pc_slab *)sl->base);
			ck_assert(objs[i] >= sl->base + pc->slab_hdrsize);
		} else
			ck_assert(objs[i] >= sl->base);
		pc_obj_check(pc, objs[i]);	/* accepted: would abort */
		memset(objs[i], 0xa5, pc->objsize);
	}
	/* The writes above never hit a header: every slab still reads right. */
	for (size_t i = 0; i < n; i++)
		ck_assert_ptr_eq(pc_pagemap_lookup(objs[i])->pc, pc);
	ck_assert_uint_eq(pc->nout, n);
	pc_slab_put_many(pc, (void *const *)objs, n);
	ck_assert_uint_eq(pc->nout, 0);
	ck_assert_uint_eq(pc->nfree, pc->nslabs * pc->slab_nobj);
	free(objs);
}

START_TEST(small_objects_on_slab)
{
	struct pcache_config cfg = { .size = 64 };
	pcache_t *pc = pcache_create("small", &cfg);

	ck_assert(!pc->offslab);
	ck_assert_uint_eq(pc->slabsize, 4096);
	ck_assert_uint_ge(pc->slab_nobj, 60);
	check_layout(pc, 5);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(page_sized_objects_off_slab)
{
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 4096);
	struct pcache_config cfg = { .size = 4096, .allocator = &a };
	pcache_t *pc = pcache_create("ptp", &cfg);

	ck_assert(pc->offslab);
	ck_assert_uint_eq(pc->slab_nobj, 1);
	void *o = get_raw(pc);
	ck_assert_ptr_eq(o, pc_pagemap_lookup(o)->base);	/* the whole page */
	pc_slab_put(pc, o);
	check_layout(pc, 6);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));

	/* The built-in allocator picks a slab of eight page-sized objects. */
	cfg.allocator = NULL;
	pc = pcache_create("ptp-builtin", &cfg);
	ck_assert(pc->offslab);
	ck_assert_uint_eq(pc->slabsize, 32768);
	ck_assert_uint_eq(pc->slab_nobj, 8);
	check_layout(pc, 3);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(layouts_across_sizes_and_alignments)
{
	static const size_t sizes[] = { 1, 7, 16, 56, 200, 511, 513, 2000, 5000, 70000 };
	static const size_t aligns[] = { 0, 16, 128, 1024 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t j = 0; j < sizeof(aligns) / sizeof(aligns[0]); j++) {
			struct pcache_config cfg = { .size = sizes[i], .align = aligns[j] };
			pcache_t *pc = pcache_create("layout", &cfg);
			ck_assert_ptr_nonnull(pc);
			ck_assert_uint_ge(pc->objsize, sizes[i]);
			ck_assert_uint_eq(pc->offslab, pc->objsize >= pc->slabsize / 8);
			check_layout(pc, 3);
			ck_assert_int_eq(pcache_destroy(pc), 0);
		}
	}
}
END_TEST

/*
 * Colouring, where the slabs come from a user allocator (the built-in one
 * carves them from a region at fixed offsets: see region_slabs_are_uncoloured).
 */
START_TEST(slabs_are_coloured)
{
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 4096);
	struct pcache_config cfg = { .size = 100, .allocator = &a };
	pcache_t *pc = pcache_create("colour", &cfg);
	size_t seen[8];
	int distinct = 0;
	void **all = calloc(8 * (size_t)pc->slab_nobj, sizeof(void *));
	size_t nall = 0;

	ck_assert_uint_gt(pc->colour_max, 0);
	for (int s = 0; s < 8; s++) {
		for (unsigned i = 0; i < pc->slab_nobj; i++)
			all[nall++] = get_raw(pc);
		struct pc_slab *sl = pc_pagemap_lookup(all[nall - 1]);
		seen[s] = (size_t)(sl->objbase - sl->base);
		ck_assert_uint_le(seen[s], pc->slab_first + pc->colour_max);
		int fresh = 1;
		for (int k = 0; k < s; k++)
			fresh &= seen[k] != seen[s];
		distinct += fresh;
	}
	ck_assert_int_ge(distinct, 2);
	pc_slab_put_many(pc, all, nall);
	free(all);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * Allocation prefers the fullest partial slab, so lightly used slabs drain
 * and can be given back.
 */
START_TEST(fullest_partial_slab_first)
{
	struct pcache_config cfg = { .size = 256 };
	pcache_t *pc = pcache_create("buckets", &cfg);
	unsigned n = pc->slab_nobj;
	char **a = calloc(n, sizeof(*a)), **b = calloc(n, sizeof(*b));

	for (unsigned i = 0; i < n; i++)
		a[i] = get_raw(pc);
	for (unsigned i = 0; i < n; i++)
		b[i] = get_raw(pc);
	struct pc_slab *sa = pc_pagemap_lookup(a[0]), *sb = pc_pagemap_lookup(b[0]);
	ck_assert_ptr_ne(sa, sb);
	/* Slab A keeps one object, slab B keeps all but one. */
	pc_slab_put_many(pc, (void *const *)(a + 1), n - 1);
	pc_slab_put(pc, b[0]);
	ck_assert_uint_eq(sa->nfree, n - 1);
	ck_assert_uint_eq(sb->nfree, 1);
	ck_assert_uint_lt(sb->list, sa->list);
	char *o = get_raw(pc);
	ck_assert_ptr_eq(pc_pagemap_lookup(o), sb);
	ck_assert_uint_eq(sb->list, PC_LIST_FULL);
	pc_slab_put(pc, o);
	pc_slab_put(pc, a[0]);
	pc_slab_put_many(pc, (void *const *)(b + 1), n - 1);
	ck_assert_uint_eq(sa->list, PC_LIST_EMPTY);
	ck_assert_uint_eq(sb->list, PC_LIST_EMPTY);
	free(a);
	free(b);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(hard_limit_at_slab_boundary)
{
	struct pcache_config cfg = { .size = 32 };
	pcache_t *pc = pcache_create("limit", &cfg);
	int error = 0;

	pcache_set_hardlimit(pc, 2);
	void *x = get_raw(pc), *y = get_raw(pc);
	ck_assert_ptr_null(pc_slab_get(pc, 0, &error));
	ck_assert_int_eq(error, PC_EHARDLIMIT);
	pc_slab_put(pc, x);
	x = get_raw(pc);
	pc_slab_put(pc, x);
	pc_slab_put(pc, y);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(pagemap_forgets_freed_slabs)
{
	struct pcache_config cfg = { .size = 64 };
	pcache_t *pc = pcache_create("map", &cfg);
	int on_stack = 0;
	char *o = get_raw(pc);
	struct pc_slab *sl = pc_pagemap_lookup(o);

	ck_assert_ptr_eq(pc_pagemap_lookup(sl->base), sl);
	ck_assert_ptr_eq(pc_pagemap_lookup(sl->base + pc->slabsize - 1), sl);
	ck_assert_ptr_ne(pc_pagemap_lookup(sl->base + pc->slabsize), sl);
	ck_assert_ptr_null(pc_pagemap_lookup(&on_stack));
	ck_assert_ptr_null(pc_pagemap_lookup(NULL));
	ck_assert_ptr_null(pc_pagemap_lookup((void *)UINTPTR_MAX));
	pc_slab_put(pc, o);
	ck_assert_uint_eq(pcache_reclaim(pc), pc->slabsize);
	ck_assert_ptr_null(pc_pagemap_lookup(o));
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

static void *
misaligned_alloc(void *ctx, size_t size, int flags)
{
	(void)ctx;
	(void)flags;
	char *p = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p + 256;
}

static void
misaligned_free(void *ctx, void *mem, size_t size)
{
	(void)ctx;
	munmap((char *)mem - 256, 2 * size);
}

static void
do_get(void *pc)
{
	(void)pcache_get(pc, 0);
}

/* An allocator that breaks its alignment promise is named, not trusted. */
START_TEST(misaligned_allocator_aborts)
{
	struct pcache_allocator a = { misaligned_alloc, misaligned_free, 4096, NULL };
	struct pcache_config cfg = { .size = 64, .allocator = &a };
	pcache_t *pc = pcache_create("crooked", &cfg);

	ck_assert_ptr_nonnull(pc);
	const char *want[] = { "crooked", "not aligned", NULL };
	expect_abort_output(do_get, pc, want);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * The built-in allocator's region: slabs are carved from it, every object
 * at the same offset in its slab, a released slab's place is reused and
 * its bit cleared.
 */
START_TEST(region_slabs_are_uncoloured)
{
	struct pcache_config cfg = { .size = 100 };
	pcache_t *pc = pcache_create("region", &cfg);
	const char *env = getenv("PCACHE_REGION");

	ck_assert_ptr_nonnull(pc);
	/* None when turned off, and never in a 32-bit address space. */
	if ((env != NULL && strcmp(env, "0") == 0) || sizeof(void *) < 8) {
		ck_assert_uint_eq(pc->region.len, 0);
		ck_assert_int_eq(pcache_destroy(pc), 0);
		return;
	}
	ck_assert_uint_gt(pc->region.len, 0);
	ck_assert_uint_eq(pc->colour_max, 0);
	size_t n = 4 * (size_t)pc->slab_nobj;
	void **all = calloc(n, sizeof(void *));
	for (size_t i = 0; i < n; i++) {
		all[i] = get_raw(pc);
		uintptr_t off = (uintptr_t)all[i] - pc->region.base;
		ck_assert_uint_lt(off, pc->region.len);
		ck_assert(pc_region_live(&pc->region, off));
		ck_assert_uint_eq(((off & (pc->slabsize - 1)) - pc->slab_first) %
		    pc->objsize, 0);
	}
	uintptr_t first = (uintptr_t)all[0];
	pc_slab_put_many(pc, all, n);
	ck_assert_uint_gt(pcache_reclaim(pc), 0);
	ck_assert(!pc_region_live(&pc->region, first - pc->region.base));
	ck_assert_uint_gt(pc->region.nspare, 0);
	void *again = get_raw(pc);	/* a released place, reused first */
	ck_assert(pc_region_live(&pc->region, (uintptr_t)again - pc->region.base));
	ck_assert_uint_lt((uintptr_t)again - pc->region.base,
	    (uintptr_t)pc->region.next[0] << pc->region.shift);
	pc_slab_put_many(pc, &again, 1);
	free(all);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/* resident_kib: the process's resident set, from /proc (0 if unknown). */
static long
resident_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Memory of slabs released from the region goes back to the system. */
START_TEST(region_returns_memory)
{
	struct pcache_config cfg = { .size = 256 };
	pcache_t *pc = pcache_create("region-rss", &cfg);
	size_t n = 64 * 1024;		/* 16 MiB of objects */
	void **all = calloc(n, sizeof(void *));

	ck_assert_ptr_nonnull(pc);
	long before = resident_kib();
	for (size_t i = 0; i < n; i++) {
		all[i] = get_raw(pc);
		memset(all[i], 1, 256);
	}
	long full = resident_kib();
	pc_slab_put_many(pc, all, n);
	pcache_reclaim(pc);
	long after = resident_kib();
	printf("region rss: %ld KiB before, %ld KiB full, %ld KiB after reclaim\n",
	    before, full, after);
	/* ASan keeps shadow memory for what the library gave back. */
	if (before > 0 && !PC_MEMCHECK) {
		ck_assert_int_ge(full - before, 12 * 1024);
		ck_assert_int_lt(after - before, 4 * 1024);
	}
	free(all);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

static Suite *
slab_suite(void)
{
	Suite *s = suite_create("slab");
	TCase *tc = tcase_create("slab");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, small_objects_on_slab);
	tcase_add_test(tc, page_sized_objects_off_slab);
	tcase_add_test(tc, layouts_across_sizes_and_alignments);
	tcase_add_test(tc, slabs_are_coloured);
	tcase_add_test(tc, region_slabs_are_uncoloured);
	tcase_add_test(tc, region_returns_memory);
	tcase_add_test(tc, fullest_partial_slab_first);
	tcase_add_test(tc, hard_limit_at_slab_boundary);
	tcase_add_test(tc, pagemap_forgets_freed_slabs);
	tcase_add_test(tc, misaligned_allocator_aborts);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(slab_suite());
}
