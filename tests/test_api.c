/*
 * test_api.c -- every row of the public contract, error paths included.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

#include "testutil.h"

/* ---- pcache_create ---------------------------------------------------- */

START_TEST(create_rejects_bad_config)
{
	struct pcache_config cfg = { .size = 32 };
	struct talloc ta = { 0 };
	struct pcache_allocator a;

	errno = 0;
	ck_assert_ptr_null(pcache_create("x", NULL));
	ck_assert_int_eq(errno, EINVAL);

	cfg.size = 0;
	errno = 0;
	ck_assert_ptr_null(pcache_create("x", &cfg));
	ck_assert_int_eq(errno, EINVAL);

	cfg.size = 32;
	cfg.align = 24;
	errno = 0;
	ck_assert_ptr_null(pcache_create("x", &cfg));
	ck_assert_int_eq(errno, EINVAL);

	cfg.align = 0;
	cfg.flags = 0x8000;			/* no such creation flag */
	errno = 0;
	ck_assert_ptr_null(pcache_create("x", &cfg));
	ck_assert_int_eq(errno, EINVAL);

	cfg.flags = PCACHE_NOWAIT;		/* a get flag, not a creation flag */
	errno = 0;
	ck_assert_ptr_null(pcache_create("x", &cfg));
	ck_assert_int_eq(errno, EINVAL);
	cfg.flags = 0;

	a = talloc_allocator(&ta, 4096);
	a.alloc = NULL;
	cfg.allocator = &a;
	errno = 0;
	ck_assert_ptr_null(pcache_create("x", &cfg));
	ck_assert_int_eq(errno, EINVAL);

	a = talloc_allocator(&ta, 3 * 4096);	/* not a power of two */
	errno = 0;
	ck_assert_ptr_null(pcache_create("x", &cfg));
	ck_assert_int_eq(errno, EINVAL);

	a = talloc_allocator(&ta, 2048);	/* below the page map's grain */
	errno = 0;
	ck_assert_ptr_null(pcache_create("x", &cfg));
	ck_assert_int_eq(errno, EINVAL);

	a = talloc_allocator(&ta, 4096);
	cfg.size = 8192;			/* does not fit a slab */
	errno = 0;
	ck_assert_ptr_null(pcache_create("x", &cfg));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(atomic_load(&ta.allocs), 0);
}
END_TEST

START_TEST(create_copies_name_and_accepts_defaults)
{
	char name[] = "copied-name";
	struct pcache_config cfg = { .size = 1 };
	pcache_t *pc = pcache_create(name, &cfg);

	ck_assert_ptr_nonnull(pc);
	memset(name, 'X', sizeof(name) - 1);
	ck_assert_str_eq(pc->name, "copied-name");
	void *o = pcache_get(pc, PCACHE_NOWAIT);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq((uintptr_t)o % sizeof(void *), 0);
	pcache_put(pc, o);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_ptr_nonnull(pc = pcache_create(NULL, &cfg));
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/* ---- pcache_destroy ------------------------------------------------- */

START_TEST(destroy_null_and_busy)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(48, &tc);

	ck_assert_int_eq(pcache_destroy(NULL), 0);
	pcache_t *pc = pcache_create("busy", &cfg);
	ck_assert_ptr_nonnull(pc);
	void *a = pcache_get(pc, 0), *b = pcache_get(pc, 0);
	pcache_put(pc, b);
	struct pcache_stats before, after;
	pcache_get_stats(pc, &before);
	ck_assert_int_eq(pcache_destroy(pc), EBUSY);
	pcache_get_stats(pc, &after);
	/* EBUSY changed nothing: the cached object is still cached. */
	ck_assert_uint_eq(before.cached_cpu + before.cached_depot, 1);
	ck_assert_uint_eq(after.cached_cpu + after.cached_depot, 1);
	ck_assert_uint_eq(after.dtor_calls, 0);
	/* ... and the cache is still usable. */
	void *c = pcache_get(pc, 0);
	ck_assert_ptr_eq(c, b);
	pcache_put(pc, c);
	pcache_put(pc, a);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&tc.ctor), 2);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 2);
}
END_TEST

START_TEST(destroy_returns_all_memory)
{
	struct tcounts tc = { 0 };
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 16384);
	struct pcache_config cfg = tobj_config(100, &tc);
	void *objs[3000];

	cfg.allocator = &a;
	pcache_t *pc = pcache_create("mem", &cfg);
	ck_assert_ptr_nonnull(pc);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 3000; i++)
			ck_assert_ptr_nonnull(objs[i] = pcache_get(pc, 0));
		for (int i = 0; i < 3000; i++)
			pcache_put(pc, objs[i]);
		check_balance(pc, &tc);
	}
	ck_assert_uint_gt(atomic_load(&ta.allocs), 0);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));
	ck_assert_uint_eq(atomic_load(&tc.ctor), 3000);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 3000);
}
END_TEST

/* ---- pcache_get ----------------------------------------------------- */

START_TEST(get_ctor_error_leaks_nothing)
{
	struct tcounts tc = { .fail_errno = EIO };
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 4096);
	struct pcache_config cfg = tobj_config(64, &tc);

	cfg.allocator = &a;
	pcache_t *pc = pcache_create("ctorfail", &cfg);
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, 0));
	ck_assert_int_eq(errno, EIO);
	struct pcache_stats st;
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.in_use, 0);
	ck_assert_uint_eq(st.gets, 0);
	ck_assert_uint_eq(st.ctor_calls, 0);
	ck_assert_uint_eq(pc->nout, 0);		/* the raw object went back */
	ck_assert_uint_eq(st.slab_free, st.slabs * pc->slab_nobj);
	tc.fail_errno = 0;
	void *o = pcache_get(pc, 0);
	ck_assert_ptr_nonnull(o);
	pcache_put(pc, o);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));
}
END_TEST

START_TEST(get_ctor_negative_error_is_einval)
{
	struct tcounts tc = { .fail_errno = -1 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("ctorneg", &cfg);

	/* Not mistaken for the hard limit: fails at once, WAITOK or not. */
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_WAITOK));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_NOWAIT));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(pc->nout, 0);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(get_allocator_failure_is_enomem)
{
	struct tcounts tc = { 0 };
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 4096);
	struct pcache_config cfg = tobj_config(4096, &tc);

	cfg.allocator = &a;
	pcache_t *pc = pcache_create("nomem", &cfg);
	void *o = pcache_get(pc, 0);
	ck_assert_ptr_nonnull(o);
	atomic_store(&ta.fail, 1);
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_NOWAIT));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_WAITOK));	/* no wait for memory */
	ck_assert_int_eq(errno, ENOMEM);
	/* A cached object is still served while the allocator is down. */
	pcache_put(pc, o);
	ck_assert_ptr_eq(pcache_get(pc, 0), o);
	pcache_put(pc, o);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));
}
END_TEST

START_TEST(objects_distinct_aligned_and_keep_data)
{
	static const size_t sizes[] = { 1, 8, 24, 40, 100, 512, 3000, 4096, 10000 };
	static const size_t aligns[] = { 0, 8, 64, 256, 4096 };
	enum { N = 2500 };
	static unsigned char *objs[N];
	static unsigned char want[10000];

	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		for (size_t ai = 0; ai < sizeof(aligns) / sizeof(aligns[0]); ai++) {
			struct pcache_config cfg = { .size = sizes[si], .align = aligns[ai] };
			pcache_t *pc = pcache_create("layout", &cfg);
			size_t n = sizes[si] > 1000 ? N / 10 : N;

			ck_assert_ptr_nonnull(pc);
			for (size_t i = 0; i < n; i++) {
				objs[i] = pcache_get(pc, 0);
				ck_assert_ptr_nonnull(objs[i]);
				if (aligns[ai] != 0)
					ck_assert_uint_eq((uintptr_t)objs[i] % aligns[ai], 0);
				memset(objs[i], (int)(i * 7 + 1), sizes[si]);
			}
			for (size_t i = 0; i < n; i++) {
				memset(want, (int)(i * 7 + 1), sizes[si]);
				ck_assert_msg(memcmp(objs[i], want, sizes[si]) == 0,
				    "object %zu of size %zu was overwritten", i, sizes[si]);
			}
			for (size_t i = 0; i < n; i++)
				pcache_put(pc, objs[i]);
			ck_assert_int_eq(pcache_destroy(pc), 0);
		}
	}
}
END_TEST

/* ---- hard limit ----------------------------------------------------- */

START_TEST(hardlimit_nowait_eagain)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("hl", &cfg);
	void *o[5];

	ck_assert_int_eq(pcache_set_hardlimit(pc, 5), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(o[i] = pcache_get(pc, PCACHE_NOWAIT));
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_NOWAIT));
	ck_assert_int_eq(errno, EAGAIN);
	/* Cached objects count: after a put the next get is the cached one. */
	pcache_put(pc, o[4]);
	ck_assert_ptr_eq(pcache_get(pc, PCACHE_NOWAIT), o[4]);
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_NOWAIT));
	ck_assert_int_eq(errno, EAGAIN);
	/* Lifting the limit lets gets through again. */
	ck_assert_int_eq(pcache_set_hardlimit(pc, 0), 0);
	void *extra = pcache_get(pc, PCACHE_NOWAIT);
	ck_assert_ptr_nonnull(extra);
	pcache_put(pc, extra);
	pcache_put_bulk(pc, o, 5);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

struct hl_arg {
	pcache_t *pc;
	void *obj;
	atomic_int started, done;
};

static void *
hl_waiter(void *p)
{
	struct hl_arg *a = p;

	atomic_store(&a->started, 1);
	a->obj = pcache_get(a->pc, PCACHE_WAITOK);
	atomic_store(&a->done, 1);
	return NULL;
}

START_TEST(hardlimit_waitok_sleeps_until_put)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("hlwait", &cfg);
	struct hl_arg a = { .pc = pc };
	void *o[3];
	pthread_t t;

	pcache_set_hardlimit(pc, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(o[i] = pcache_get(pc, 0));
	pthread_create(&t, NULL, hl_waiter, &a);
	while (!atomic_load(&a.started))
		sched_yield();
	usleep(100 * 1000);
	ck_assert_int_eq(atomic_load(&a.done), 0);	/* still asleep */
	pcache_put(pc, o[1]);
	pthread_join(t, NULL);
	ck_assert_int_eq(atomic_load(&a.done), 1);
	ck_assert_ptr_eq(a.obj, o[1]);
	pcache_put(pc, a.obj);
	pcache_put(pc, o[0]);
	pcache_put(pc, o[2]);
	struct pcache_stats st;
	pcache_get_stats(pc, &st);
	ck_assert_uint_ge(st.hardlimit_waits, 1);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

struct pinned_fill {
	pcache_t *pc;
	unsigned cpu;
	int n;
};

/* Get n objects on a pinned CPU and put them back: they stay cached there. */
static void *
pinned_fill(void *p)
{
	struct pinned_fill *f = p;
	void **objs = calloc((size_t)f->n, sizeof(void *));

	bind_to(f->cpu);
	for (int i = 0; i < f->n; i++)
		ck_assert_ptr_nonnull(objs[i] = pcache_get(f->pc, 0));
	for (int i = 0; i < f->n; i++)
		pcache_put(f->pc, objs[i]);
	free(objs);
	return NULL;
}

START_TEST(hardlimit_takes_back_from_other_cpus)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("hlsteal", &cfg);
	unsigned cpus[2];
	unsigned ncpu = allowed_cpus(cpus, 2);
	struct pinned_fill f = { pc, cpus[ncpu - 1], 20 };
	void *o[21];
	pthread_t t;

	pthread_create(&t, NULL, pinned_fill, &f);
	pthread_join(t, NULL);
	struct pcache_stats st;
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu, 20);
	pcache_set_hardlimit(pc, 20);
	bind_to(cpus[0]);
	/* All 20 cached objects are reachable, whichever CPU holds them. */
	for (int i = 0; i < 20; i++)
		ck_assert_ptr_nonnull(o[i] = pcache_get(pc, PCACHE_NOWAIT));
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_NOWAIT));
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_uint_eq(atomic_load(&tc.ctor), 20);	/* none built anew */
	pcache_put_bulk(pc, o, 20);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/* ---- pcache_put: foreign pointers abort ------------------------------ */

struct put_args {
	pcache_t *pc;
	void *p;
};

static void
do_put(void *arg)
{
	struct put_args *a = arg;
	pcache_put(a->pc, a->p);
}

/*
 * expect_abort: put(pc, p) must abort with a message naming the cache and
 * the pointer, and saying `want`.
 */
static void
expect_abort(pcache_t *pc, void *p, const char *want)
{
	char ptr[32];
	struct put_args a = { pc, p };

	snprintf(ptr, sizeof(ptr), "%p", p);
	const char *wants[] = { pc->name, ptr, want, NULL };
	expect_abort_output(do_put, &a, wants);
}

START_TEST(put_foreign_pointer_aborts)
{
	struct pcache_config cfg = { .size = 48 };
	pcache_t *pc = pcache_create("victim", &cfg);
	pcache_t *other = pcache_create("owner", &cfg);
	int on_stack;
	void *heap = malloc(48);
	char *mine = pcache_get(pc, 0);
	void *theirs = pcache_get(other, 0);

	expect_abort(pc, &on_stack, "not an object of this cache");
	expect_abort(pc, heap, "not an object of this cache");
	expect_abort(pc, theirs, "belongs to cache 'owner'");
	expect_abort(pc, mine + 8, "not the start of an object");
	expect_abort(pc, mine - 16, "not");	/* header or previous object's tail */

	pcache_put(pc, NULL);			/* a no-op */
	pcache_put(pc, mine);
	pcache_put(other, theirs);
	free(heap);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_int_eq(pcache_destroy(other), 0);
}
END_TEST

/*
 * The same refusals where the check needs no slab header (the built-in
 * allocator's region): a pointer into a slab given back, into a part of
 * the region never carved, into a slab's header, between objects, and
 * another cache's object.
 */
START_TEST(put_region_pointer_aborts)
{
	struct pcache_config cfg = { .size = 48 };
	pcache_t *pc = pcache_create("region-victim", &cfg);
	pcache_t *other = pcache_create("region-owner", &cfg);

	ck_assert_ptr_nonnull(pc);
	ck_assert_ptr_nonnull(other);
	char *gone = pcache_get(pc, 0);
	char *mine = pcache_get(pc, 0);
	void *theirs = pcache_get(other, 0);
	if (pc->region.len == 0) {		/* PCACHE_REGION=0: page map only */
		expect_abort(pc, theirs, "belongs to cache 'region-owner'");
		pcache_put(pc, gone);
		pcache_put(pc, mine);
		goto out;
	}
	/* Both back and destructed: their slab is wholly free and goes back. */
	pcache_put(pc, gone);
	pcache_invalidate(pc);
	pcache_put(pc, mine);
	pcache_invalidate(pc);
	ck_assert_uint_gt(pcache_reclaim(pc), 0);
	ck_assert(!pc_region_live(&pc->region, (uintptr_t)gone - pc->region.base));
	expect_abort(pc, gone, "not an object of this cache");
	char *never = (char *)pc->region.base +
	    ((pc->region.next[0] + 3) << pc->region.shift) + pc->slab_first;
	expect_abort(pc, never, "not an object of this cache");
	mine = pcache_get(pc, 0);
	ck_assert_uint_lt((uintptr_t)mine - pc->region.base, pc->region.len);
	char *slab = (char *)((uintptr_t)mine & ~(uintptr_t)(pc->slabsize - 1));
	if (pc->slab_first > 0)
		expect_abort(pc, slab, "not the start of an object");
	expect_abort(pc, mine + 8, "not the start of an object");
	expect_abort(pc, theirs, "belongs to cache 'region-owner'");
	pcache_put(pc, mine);
out:
	pcache_put(other, theirs);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_int_eq(pcache_destroy(other), 0);
}
END_TEST

/* ---- get flags, zeroed gets, size, destruct ------------------------- */

/*
 * Unknown get flags are refused on every path (hit or not, single or
 * bulk), as is a creation flag passed to a get.
 */
START_TEST(get_rejects_unknown_flags)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("flags", &cfg);
	void *objs[4];

	ck_assert_ptr_nonnull(pc);
	void *warm = pcache_get(pc, 0);
	pcache_put(pc, warm);			/* a hit is ready */
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, 0x7f00));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_NOCPU));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(pcache_get_bulk(pc, objs, 4, 0x40), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;			/* PCACHE_ZERO on a cache with a constructor */
	ck_assert_ptr_null(pcache_get(pc, PCACHE_ZERO));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(pcache_get_bulk(pc, objs, 4, PCACHE_ZERO), -1);
	ck_assert_int_eq(errno, EINVAL);
	check_balance(pc, &tc);
	pcache_invalidate(pc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/* PCACHE_ZERO hands out zero-filled objects, single and bulk. */
START_TEST(zeroed_gets)
{
	struct pcache_config cfg = { .size = 100 };
	pcache_t *pc = pcache_create("zero", &cfg);
	unsigned char *p[40];

	ck_assert_ptr_nonnull(pc);
	ck_assert_uint_eq(pcache_size(pc), 100);
	for (int i = 0; i < 40; i++) {		/* dirty them, then back */
		p[i] = pcache_get(pc, 0);
		memset(p[i], 0xee, 100);
	}
	for (int i = 0; i < 40; i++)
		pcache_put(pc, p[i]);
	for (int i = 0; i < 20; i++) {
		p[i] = pcache_get(pc, PCACHE_ZERO | PCACHE_NOWAIT);
		ck_assert_ptr_nonnull(p[i]);
		for (int k = 0; k < 100; k++)
			ck_assert_uint_eq(p[i][k], 0);
	}
	ck_assert_int_eq(pcache_get_bulk(pc, (void **)p + 20, 20, PCACHE_ZERO), 0);
	for (int i = 20; i < 40; i++) {
		for (int k = 0; k < 100; k++)
			ck_assert_uint_eq(p[i][k], 0);
	}
	pcache_put_bulk(pc, (void **)p, 40);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * pcache_destruct: the object is destructed at once and goes to its slab,
 * never to a magazine; the counts stay balanced.
 */
START_TEST(destruct_bypasses_magazines)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("destruct", &cfg);
	struct pcache_stats st;

	ck_assert_ptr_nonnull(pc);
	ck_assert_uint_eq(pcache_size(pc), 64);
	void *a = pcache_get(pc, 0), *b = pcache_get(pc, 0);
	pcache_destruct(pc, a);
	pcache_destruct(pc, NULL);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 1);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.in_use, 1);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, 0);
	check_balance(pc, &tc);
	pcache_put(pc, b);
	check_balance(pc, &tc);
	pcache_invalidate(pc);
	destroy_balanced(pc, &tc);
}
END_TEST

/* ---- lookup, walk, pcache_of ----------------------------------------- */

struct walk_count {
	int n, stop_at;
	pcache_t *want;
	int found;
};

static int
count_caches(pcache_t *pc, void *arg)
{
	struct walk_count *w = arg;
	struct pcache_stats st;

	/* Read-only calls are allowed from the callback. */
	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	w->found += pc == w->want;
	return ++w->n == w->stop_at ? 7 : 0;
}

START_TEST(lookup_walk_and_of)
{
	struct pcache_config cfg = { .size = 40 };
	pcache_t *a = pcache_create("lookup-alpha", &cfg);
	pcache_t *b = pcache_create("lookup-beta", &cfg);
	int on_stack;
	void *heap = malloc(40);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_eq(pcache_lookup("lookup-alpha"), a);
	ck_assert_ptr_eq(pcache_lookup("lookup-beta"), b);
	ck_assert_ptr_null(pcache_lookup("lookup-gamma"));
	ck_assert_ptr_null(pcache_lookup(NULL));

	struct walk_count w = { 0, 0, b, 0 };
	ck_assert_int_eq(pcache_walk(count_caches, &w), 0);
	ck_assert_int_ge(w.n, 2);
	ck_assert_int_eq(w.found, 1);
	struct walk_count w1 = { 0, 1, NULL, 0 };
	ck_assert_int_eq(pcache_walk(count_caches, &w1), 7);	/* stopped */
	ck_assert_int_eq(w1.n, 1);
	ck_assert_int_eq(pcache_walk(NULL, NULL), EINVAL);

	char *o = pcache_get(a, 0);
	ck_assert_ptr_eq(pcache_of(o), a);
	ck_assert_ptr_eq(pcache_of(o + 39), a);		/* anywhere inside */
	ck_assert_ptr_eq(pcache_of(pcache_get(b, 0)), b);
	ck_assert_ptr_null(pcache_of(&on_stack));
	ck_assert_ptr_null(pcache_of(heap));
	ck_assert_ptr_null(pcache_of(NULL));
	if (a->slab_first > 0) {			/* the slab's header */
		struct pc_slab *sl = pc_pagemap_lookup(o);
		ck_assert_ptr_null(pcache_of(sl->base));
	}
	pcache_put(a, o);
	pcache_invalidate(b);
	free(heap);
	ck_assert_int_eq(pcache_destroy(a), 0);
	ck_assert_ptr_null(pcache_lookup("lookup-alpha"));
	ck_assert_int_eq(pcache_destroy(b), EBUSY);	/* one of b's is out */
}
END_TEST

struct churn {
	atomic_int stop;
	atomic_uint_fast64_t walks, made;
};

static void *
churn_caches(void *p)
{
	struct churn *c = p;
	struct pcache_config cfg = { .size = 24 };

	while (!atomic_load(&c->stop)) {
		pcache_t *pc = pcache_create("churn", &cfg);
		ck_assert_ptr_nonnull(pc);
		void *o = pcache_get(pc, 0);
		pcache_put(pc, o);
		ck_assert_int_eq(pcache_destroy(pc), 0);
		atomic_fetch_add(&c->made, 1);
	}
	return NULL;
}

static int
look_each(pcache_t *pc, void *arg)
{
	(void)arg;
	/* The cache is registered while the walk runs: it is found by name. */
	return pcache_lookup(pc->name) == NULL;
}

/* Walks and lookups while another thread creates and destroys caches. */
START_TEST(walk_during_create_destroy)
{
	struct churn c = { 0 };
	pthread_t t;

	pthread_create(&t, NULL, churn_caches, &c);
	/* Until both sides have done plenty: creations are not starved. */
	for (int i = 0; i < 1000000 && (atomic_load(&c.walks) < 2000 ||
	    atomic_load(&c.made) < 200); i++) {
		ck_assert_int_eq(pcache_walk(look_each, NULL), 0);
		atomic_fetch_add(&c.walks, 1);
	}
	atomic_store(&c.stop, 1);
	pthread_join(t, NULL);
	printf("walks: %llu, caches made and destroyed meanwhile: %llu\n",
	    (unsigned long long)atomic_load(&c.walks),
	    (unsigned long long)atomic_load(&c.made));
	ck_assert_uint_ge(atomic_load(&c.made), 200);
}
END_TEST

/* ---- readable figures and warnings ----------------------------------- */

/*
 * child_stderr: run fn(arg) in a child (with PCACHE_STATS set if asked)
 * that then exits normally; return what it wrote on stderr.
 */
static const char *
child_stderr(void (*fn)(void *), void *arg, bool stats_env)
{
	int status;

	if (stats_env)
		setenv("PCACHE_STATS", "1", 1);
	const char *out = child_output(fn, arg, true, &status);
	unsetenv("PCACHE_STATS");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed; output: %s", out);
	return out;
}

static void
use_two_caches(void *arg)
{
	struct pcache_config cfg = { .size = 72 };
	pcache_t *a = pcache_create("dump-one", &cfg);
	pcache_t *b = pcache_create("dump-two", &cfg);
	void *o = pcache_get(a, 0);

	(void)arg;
	pcache_put(a, o);
	pcache_put(b, pcache_get(b, 0));
	pcache_dump(stderr, a);			/* explicitly, once */
}

/* pcache_dump names the cache and its figures; PCACHE_STATS=1 prints all. */
START_TEST(dump_and_stats_at_exit)
{
	const char *out = child_stderr(use_two_caches, NULL, false);
	ck_assert_msg(strstr(out, "cache 'dump-one': 72-byte objects") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "gets 1 (") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "cpu ") != NULL || strstr(out, "per-CPU layer none"), "%s", out);
	ck_assert_msg(strstr(out, "dump-two") == NULL, "%s", out);
	ck_assert_msg(strstr(out, "at exit") == NULL, "%s", out);

	out = child_stderr(use_two_caches, NULL, true);
	ck_assert_msg(strstr(out, "every cache at exit (PCACHE_STATS)") != NULL, "%s", out);
	const char *exit_part = strstr(out, "every cache at exit");
	ck_assert_msg(strstr(exit_part, "cache 'dump-one'") != NULL, "%s", out);
	ck_assert_msg(strstr(exit_part, "cache 'dump-two'") != NULL, "%s", out);
}
END_TEST

static void
meet_the_limit(void *arg)
{
	struct pcache_config cfg = { .size = 32 };
	pcache_t *pc = pcache_create("limited", &cfg);

	(void)arg;
	pcache_set_hardlimit(pc, 1);
	pcache_set_hardlimit_warning(pc, "out of page-table frames", 60000);
	void *o = pcache_get(pc, 0);
	for (int i = 0; i < 5; i++) {		/* five refusals, one message */
		if (pcache_get(pc, PCACHE_NOWAIT) != NULL || errno != EAGAIN)
			exit(1);
	}
	pcache_set_hardlimit_warning(pc, NULL, 0);
	if (pcache_get(pc, PCACHE_NOWAIT) != NULL)	/* off: no message */
		exit(1);
	pcache_put(pc, o);
}

/* The hard-limit warning: printed when a get meets the limit, rate-capped. */
START_TEST(hardlimit_warning_is_rate_capped)
{
	const char *out = child_stderr(meet_the_limit, NULL, false);
	const char *first = strstr(out,
	    "libpcache: cache 'limited': out of page-table frames");

	ck_assert_msg(first != NULL, "no warning in: %s", out);
	ck_assert_msg(strstr(first + strlen("libpcache: cache 'limited': out of"),
	    "out of page-table frames") == NULL, "more than one warning: %s", out);
	ck_assert_int_eq(pcache_set_hardlimit_warning(NULL, "x", 0), EINVAL);
}
END_TEST

/* ---- reclaim callbacks and reaping ----------------------------------- */

struct reclaimer {
	struct talloc *ta;
	atomic_int calls;
	bool frees;		/* the callback makes memory available */
};

static void
reclaim_cb(void *arg)
{
	struct reclaimer *r = arg;

	atomic_fetch_add(&r->calls, 1);
	if (r->frees)
		atomic_store(&r->ta->fail, 0);
}

/*
 * The reclaim callback runs when the page allocator fails, and the get
 * tries once more: it succeeds when the callback freed memory, and fails
 * with ENOMEM (after one call) when it did not.
 */
START_TEST(reclaim_callback_on_allocator_failure)
{
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 4096);
	struct reclaimer r = { &ta, 0, true };
	struct pcache_config cfg = { .size = 64, .allocator = &a,
	    .reclaim = reclaim_cb, .arg = &r };
	pcache_t *pc = pcache_create("reclaim-cb", &cfg);

	ck_assert_ptr_nonnull(pc);
	atomic_store(&ta.fail, 1);
	void *o = pcache_get(pc, PCACHE_NOWAIT);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(atomic_load(&r.calls), 1);
	pcache_put(pc, o);
	pcache_invalidate(pc);
	pcache_reclaim(pc);				/* the slab goes */
	r.frees = false;
	atomic_store(&ta.fail, 1);
	errno = 0;
	ck_assert_ptr_null(pcache_get(pc, PCACHE_NOWAIT));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(atomic_load(&r.calls), 2);
	atomic_store(&ta.fail, 0);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));
}
END_TEST

static void
count_cb(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void *
reap_loop(void *p)
{
	atomic_int *stop = p;
	size_t n = 0;

	while (!atomic_load(stop)) {
		pcache_reap();
		n++;
	}
	return (void *)n;
}

/*
 * pcache_reap calls every cache's callback and reclaims it, returning the
 * bytes given back; caches may be created and destroyed meanwhile.
 */
START_TEST(reap_every_cache)
{
	atomic_int ca = 0, cb = 0, stop = 0;
	struct pcache_config cfa = { .size = 64, .reclaim = count_cb, .arg = &ca };
	struct pcache_config cfb = { .size = 200, .reclaim = count_cb, .arg = &cb };
	pcache_t *a = pcache_create("reap-a", &cfa), *b = pcache_create("reap-b", &cfb);
	void *objs[300];

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	for (int i = 0; i < 300; i++)
		objs[i] = pcache_get(a, 0);
	for (int i = 0; i < 300; i++)
		pcache_put(a, objs[i]);
	pcache_invalidate(a);				/* wholly free slabs */
	size_t bytes = pcache_reap();
	ck_assert_uint_gt(bytes, 0);
	ck_assert_int_ge(atomic_load(&ca), 1);
	ck_assert_int_ge(atomic_load(&cb), 1);

	pthread_t t;
	pthread_create(&t, NULL, reap_loop, &stop);
	struct pcache_config cfc = { .size = 48, .reclaim = count_cb, .arg = &cb };
	for (int i = 0; i < 300; i++) {
		pcache_t *c = pcache_create("reap-churn", &cfc);
		ck_assert_ptr_nonnull(c);
		pcache_put(c, pcache_get(c, 0));
		ck_assert_int_eq(pcache_destroy(c), 0);	/* waits out a reap */
	}
	atomic_store(&stop, 1);
	void *reaps;
	pthread_join(t, &reaps);
	ck_assert_uint_gt((uintptr_t)reaps, 0);
	ck_assert_int_eq(pcache_destroy(a), 0);
	ck_assert_int_eq(pcache_destroy(b), 0);
}
END_TEST

/* ---- invalidate, reclaim, water marks -------------------------------- */

START_TEST(invalidate_destructs_cached_only)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("inv", &cfg);
	static void *o[2000];	/* more than a CPU holds: the depot too */

	for (int i = 0; i < 2000; i++)
		o[i] = pcache_get(pc, 0);
	for (int i = 100; i < 2000; i++)
		pcache_put(pc, o[i]);
	struct pcache_stats st;
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, 1900);
	ck_assert_uint_gt(st.cached_depot, 0);
	pcache_invalidate(pc);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu, 0);
	ck_assert_uint_eq(st.cached_depot, 0);
	ck_assert_uint_eq(st.dtor_calls, 1900);
	ck_assert_uint_eq(st.in_use, 100);
	for (int i = 0; i < 100; i++)	/* handed-out objects untouched */
		ck_assert_uint_eq(((struct tobj *)o[i])->magic, TOBJ_MAGIC_LIVE);
	check_balance(pc, &tc);
	pcache_put_bulk(pc, o, 100);
	pcache_invalidate(pc);
	check_balance(pc, &tc);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 2000);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(reclaim_water_marks_and_prime)
{
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 4096);
	struct pcache_config cfg = { .size = 4096, .allocator = &a };
	pcache_t *pc = pcache_create("marks", &cfg);
	struct pcache_stats st;
	void *o[40];

	ck_assert(pc->offslab);
	ck_assert_uint_eq(pc->slab_nobj, 1);
	ck_assert_int_eq(pcache_prime(pc, 10), 0);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.slabs, 10);
	ck_assert_uint_eq(st.bytes, 10 * 4096);
	ck_assert_uint_eq(st.slab_free, 10);

	ck_assert_int_eq(pcache_set_lowat(pc, 4), 0);
	ck_assert_uint_eq(pcache_reclaim(pc), 6 * 4096);	/* keeps lowat */
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.slabs, 4);

	for (int i = 0; i < 40; i++)
		o[i] = pcache_get(pc, 0);
	pcache_put_bulk(pc, o, 40);
	pcache_invalidate(pc);			/* 40 empty slabs now */
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.slabs, 40);
	ck_assert_uint_eq(pcache_reclaim(pc), 36 * 4096);
	ck_assert_int_eq(pcache_set_lowat(pc, 0), 0);

	/* hiwat: beyond 2 free objects, empty slabs go back at once. */
	ck_assert_int_eq(pcache_set_hiwat(pc, 2), 0);
	for (int i = 0; i < 10; i++)
		o[i] = pcache_get(pc, 0);
	pcache_put_bulk(pc, o, 10);
	pcache_invalidate(pc);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.slab_free, 2);
	ck_assert_uint_eq(st.slabs, 2);
	ck_assert_uint_eq(atomic_load(&ta.allocs) - atomic_load(&ta.frees), 2);

	atomic_store(&ta.fail, 1);
	ck_assert_int_eq(pcache_prime(pc, 5), ENOMEM);
	atomic_store(&ta.fail, 0);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));
}
END_TEST

START_TEST(reclaim_trims_idle_depot_magazines)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("trim", &cfg);
	struct pcache_stats st;
	static void *o[2000];	/* more than a CPU holds */

	for (int i = 0; i < 2000; i++)
		o[i] = pcache_get(pc, 0);
	pcache_put_bulk(pc, o, 2000);
	pcache_get_stats(pc, &st);
	ck_assert_uint_gt(st.depot_full, 0);
	size_t slabs = st.slabs;
	/* First reclaim opens the working-set window; the second trims. */
	pcache_reclaim(pc);
	size_t given = pcache_reclaim(pc);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.depot_full, 0);
	ck_assert_uint_eq(st.cached_depot, 0);
	ck_assert_uint_gt(given, 0);
	ck_assert_uint_lt(st.slabs, slabs);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(setters_and_stats_reject_null)
{
	struct pcache_stats st;
	struct pcache_config cfg = { .size = 16 };
	pcache_t *pc = pcache_create("null", &cfg);

	ck_assert_int_eq(pcache_set_lowat(NULL, 1), EINVAL);
	ck_assert_int_eq(pcache_set_hiwat(NULL, 1), EINVAL);
	ck_assert_int_eq(pcache_set_hardlimit(NULL, 1), EINVAL);
	ck_assert_int_eq(pcache_prime(NULL, 1), EINVAL);
	ck_assert_int_eq(pcache_get_stats(NULL, &st), EINVAL);
	ck_assert_int_eq(pcache_get_stats(pc, NULL), EINVAL);
	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	ck_assert_uint_eq(st.objsize, 16);
	ck_assert_uint_eq(st.in_use, 0);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(cpu_count_covers_allowed_cpus)
{
	unsigned cpus[1024];
	unsigned n = allowed_cpus(cpus, 1024);

	ck_assert_uint_ge(pcache_cpu_count(), n);
	ck_assert_uint_gt(pcache_cpu_count(), cpus[n - 1]);
	int cpu = sched_getcpu();
	ck_assert_int_ge(cpu, 0);
	ck_assert_int_lt(cpu, (int)pcache_cpu_count());
}
END_TEST

/* ---- bulk calls ------------------------------------------------------ */

START_TEST(bulk_all_or_nothing)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("bulk", &cfg);
	void *o[301] = { 0 };
	struct pcache_stats st;

	ck_assert_int_eq(pcache_get_bulk(pc, o, 0, 0), 0);
	ck_assert_int_eq(pcache_get_bulk(pc, o, 300, 0), 0);
	for (int i = 0; i < 300; i++)
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(o[i], o[j]);
	void *seventh = o[7];
	o[7] = NULL;			/* NULL entries are skipped */
	pcache_put_bulk(pc, o, 300);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.in_use, 1);
	ck_assert_int_eq(pcache_destroy(pc), EBUSY);
	pcache_put(pc, seventh);

	/* At a hard limit below n, nothing is handed out. */
	pcache_set_hardlimit(pc, 300);
	errno = 0;
	ck_assert_int_eq(pcache_get_bulk(pc, o, 301, PCACHE_NOWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	check_balance(pc, &tc);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.in_use, 0);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, 300);
	ck_assert_uint_eq(st.ctor_calls, 300);
	pcache_set_hardlimit(pc, 0);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

struct bulk_waiter {
	pcache_t *pc;
	void **objs;
	size_t n;
	int rc;
	atomic_int done;
};

static void *
bulk_waiter_main(void *p)
{
	struct bulk_waiter *b = p;

	b->rc = pcache_get_bulk(b->pc, b->objs, b->n, PCACHE_WAITOK);
	atomic_store(&b->done, 1);
	return NULL;
}

/*
 * A bulk get stopped by the hard limit holds nothing while it waits, and
 * completes once enough objects come back.
 */
START_TEST(bulk_waitok_holds_nothing_while_waiting)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("bulkwait", &cfg);
	void *mine[10], *theirs[95];
	struct bulk_waiter b = { pc, theirs, 95, -2, 0 };
	struct pcache_stats st;
	pthread_t t;

	pcache_set_hardlimit(pc, 100);
	ck_assert_int_eq(pcache_get_bulk(pc, mine, 10, 0), 0);
	errno = 0;
	ck_assert_int_eq(pcache_get_bulk(pc, theirs, 95, PCACHE_NOWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	errno = 0;
	ck_assert_int_eq(pcache_get_bulk(pc, theirs, 101, PCACHE_WAITOK), -1);
	ck_assert_int_eq(errno, EAGAIN);		/* can never be met */
	pthread_create(&t, NULL, bulk_waiter_main, &b);
	usleep(100 * 1000);
	ck_assert_int_eq(atomic_load(&b.done), 0);
	pcache_get_stats(pc, &st);
	ck_assert_uint_le(st.in_use, 11);		/* ours, and at most one of its */
	pcache_put_bulk(pc, mine, 10);
	pthread_join(t, NULL);
	ck_assert_int_eq(b.rc, 0);
	pcache_put_bulk(pc, theirs, 95);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * The per-CPU layer is chosen once per cache: PCACHE_NOCPU has none,
 * PCACHE_RSEQ=0 forces the locked one, and otherwise restartable
 * sequences are used wherever the build and the kernel support them.
 */
START_TEST(fastpath_is_selected_and_reported)
{
	struct pcache_config cfg = { .size = 32 };
	struct pcache_stats st;
	const char *env = getenv("PCACHE_RSEQ");
	bool forced_off = env != NULL && strcmp(env, "0") == 0;

	pcache_t *pc = pcache_create("path", &cfg);
	pcache_get_stats(pc, &st);
#ifdef PC_RSEQ_ARCH
	bool kernel_ok = (syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0) &
	    MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) != 0;
	ck_assert_uint_eq(st.fastpath, forced_off || !kernel_ok ?
	    PCACHE_FASTPATH_LOCK : PCACHE_FASTPATH_RSEQ);
#else
	(void)forced_off;
	ck_assert_uint_eq(st.fastpath, PCACHE_FASTPATH_LOCK);
#endif
	ck_assert_int_eq(pcache_destroy(pc), 0);
	cfg.flags = PCACHE_NOCPU;
	pc = pcache_create("path-nocpu", &cfg);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.fastpath, PCACHE_FASTPATH_NONE);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * Sizes and counts at the edge of size_t (what a 32-bit address space
 * meets soonest): refused with an error, nothing allocated, the cache
 * still usable.
 */
static void
do_put_bulk_huge(void *p)
{
	void *objs[1] = { NULL };

	pcache_put_bulk(p, objs, SIZE_MAX / sizeof(void *) + 1);
}

START_TEST(huge_sizes_and_counts_refused)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	size_t sizes[] = { SIZE_MAX, SIZE_MAX - 7, SIZE_MAX / 2 + 1, (size_t)1 << 31 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct pcache_config big = { .size = sizes[i] };
		errno = 0;
		ck_assert_ptr_null(pcache_create("huge", &big));
		ck_assert_int_eq(errno, EINVAL);
		big.size = 64;
		big.align = sizes[i];
		ck_assert_ptr_null(pcache_create("huge-align", &big));
		big.align = 0;
		big.size = sizes[i];
		big.flags = PCACHE_DEBUG;	/* the redzone must not wrap */
		ck_assert_ptr_null(pcache_create("huge-checked", &big));
	}

	pcache_t *pc = pcache_create("edges", &cfg);
	ck_assert_ptr_nonnull(pc);
	void *objs[4];
	errno = 0;
	ck_assert_int_eq(pcache_get_bulk(pc, objs, SIZE_MAX, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(pcache_get_bulk(pc, objs, SIZE_MAX / sizeof(void *) + 1, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(pcache_prime(pc, SIZE_MAX), ENOMEM);
	ck_assert_int_eq(pcache_prime(pc, SIZE_MAX / 64), ENOMEM);
	struct pcache_reservation res;
	errno = 0;
	ck_assert_int_eq(pcache_reserve(pc, SIZE_MAX / 2, 0, &res), -1);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(pcache_set_hardlimit(pc, 8), 0);
	ck_assert_int_eq(pcache_get_bulk(pc, objs, SIZE_MAX / sizeof(void *), 0), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(pcache_set_hardlimit(pc, 0), 0);
	const char *want[] = { "edges", "no array is that long", NULL };
	expect_abort_output(do_put_bulk_huge, pc, want);

	struct pcache_stats st;
	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	ck_assert_uint_eq(st.slabs, 0);		/* nothing was taken */
	ck_assert_int_eq(pcache_get_bulk(pc, objs, 4, 0), 0);	/* still works */
	pcache_put_bulk(pc, objs, 4);
	check_balance(pc, &tc);
	destroy_balanced(pc, &tc);
}
END_TEST

static Suite *
api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("contract");

	tcase_set_timeout(tc, 30);
	/* Pinned: several tests expect the object they just put back. */
	tcase_add_checked_fixture(tc, pin_first_cpu, NULL);
	tcase_add_test(tc, create_rejects_bad_config);
	tcase_add_test(tc, huge_sizes_and_counts_refused);
	tcase_add_test(tc, create_copies_name_and_accepts_defaults);
	tcase_add_test(tc, destroy_null_and_busy);
	tcase_add_test(tc, destroy_returns_all_memory);
	tcase_add_test(tc, get_ctor_error_leaks_nothing);
	tcase_add_test(tc, get_allocator_failure_is_enomem);
	tcase_add_test(tc, objects_distinct_aligned_and_keep_data);
	tcase_add_test(tc, hardlimit_nowait_eagain);
	tcase_add_test(tc, hardlimit_waitok_sleeps_until_put);
	tcase_add_test(tc, hardlimit_takes_back_from_other_cpus);
	tcase_add_test(tc, put_foreign_pointer_aborts);
	tcase_add_test(tc, put_region_pointer_aborts);
	tcase_add_test(tc, get_rejects_unknown_flags);
	tcase_add_test(tc, zeroed_gets);
	tcase_add_test(tc, destruct_bypasses_magazines);
	tcase_add_test(tc, lookup_walk_and_of);
	tcase_add_test(tc, walk_during_create_destroy);
	tcase_add_test(tc, dump_and_stats_at_exit);
	tcase_add_test(tc, hardlimit_warning_is_rate_capped);
	tcase_add_test(tc, reclaim_callback_on_allocator_failure);
	tcase_add_test(tc, reap_every_cache);
	tcase_add_test(tc, invalidate_destructs_cached_only);
	tcase_add_test(tc, reclaim_water_marks_and_prime);
	tcase_add_test(tc, reclaim_trims_idle_depot_magazines);
	tcase_add_test(tc, setters_and_stats_reject_null);
	tcase_add_test(tc, cpu_count_covers_allowed_cpus);
	tcase_add_test(tc, bulk_all_or_nothing);
	tcase_add_test(tc, bulk_waitok_holds_nothing_while_waiting);
	tcase_add_test(tc, get_ctor_negative_error_is_einval);
	tcase_add_test(tc, fastpath_is_selected_and_reported);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(api_suite());
}
