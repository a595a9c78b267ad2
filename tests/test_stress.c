/*
 * test_stress.c -- many threads get and put at random while another
 * invalidates, drains its CPU, reclaims and reads statistics.  Every
 * object's state is tracked in the object itself with atomics, so that a
 * handout of an object already handed out, a destructor on an object in
 * use, or an object lost fails the test.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * PCACHE_STRESS_SECONDS sets each test's length (default 2) and
 * PCACHE_STRESS_THREADS the number of workers (default 4, at most 16).
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "objstate.h"
#include "testutil.h"

struct sobj {
	atomic_uint state;
	atomic_uint owner;	/* thread id + 1 while in use */
	uint64_t pad[5];
};

struct world {
	struct ostate os;	/* the objects' ctor/dtor argument */
	pcache_t *pc;
	atomic_uint_fast64_t ops;
	atomic_int stop;
	unsigned ncpu;
	unsigned cpus[64];
};

/* took: the object just came from the cache; mark it ours. */
static void
took(struct world *w, struct sobj *o, unsigned me)
{
	ostate_took(&w->os, o);
	atomic_store(&o->owner, me + 1);
}

/* giving: the object is about to go back; it must still be ours. */
static void
giving(struct world *w, struct sobj *o, unsigned me)
{
	if (atomic_load(&o->owner) != me + 1)
		ostate_report(&w->os, "object changed hands while in use", o);
	atomic_store(&o->owner, 0);
	ostate_giving(&w->os, o);
}

struct worker {
	struct world *w;
	unsigned id;
	unsigned seed;
	int flags;
	unsigned held_cap;	/* keeps WAITOK workers below the hard limit together */
};

#define HELD_MAX 256

static void *
worker_main(void *p)
{
	struct worker *wk = p;
	struct world *w = wk->w;
	struct sobj *held[HELD_MAX];
	unsigned nheld = 0, seed = wk->seed;
	uint64_t ops = 0;

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		unsigned r = (unsigned)rand_r(&seed);
		if ((r & 1023) == 0)	/* move to another CPU now and then */
			pc_topo_bind_thread(w->cpus[(r >> 10) % w->ncpu]);
		if ((r & 7) == 0 && nheld + 16 <= wk->held_cap) {
			void *objs[16];
			if (pcache_get_bulk(w->pc, objs, 16, wk->flags) == 0) {
				for (int i = 0; i < 16; i++) {
					took(w, objs[i], wk->id);
					held[nheld++] = objs[i];
				}
			}
		} else if ((r & 3) < 2 && nheld < wk->held_cap) {
			struct sobj *o = pcache_get(w->pc, wk->flags);
			if (o != NULL) {
				took(w, o, wk->id);
				held[nheld++] = o;
			} else if (errno != EAGAIN)
				ostate_report(&w->os, "get failed", NULL);
		} else if ((r & 15) == 3 && nheld >= 8) {
			void *objs[8];
			for (int i = 0; i < 8; i++) {
				objs[i] = held[--nheld];
				giving(w, objs[i], wk->id);
			}
			pcache_put_bulk(w->pc, objs, 8);
		} else if (nheld > 0) {
			unsigned i = (r >> 4) % nheld;
			struct sobj *o = held[i];
			held[i] = held[--nheld];
			giving(w, o, wk->id);
			pcache_put(w->pc, o);
		}
		ops++;
	}
	while (nheld > 0) {
		giving(w, held[--nheld], wk->id);
		pcache_put(w->pc, held[nheld]);
	}
	atomic_fetch_add(&w->ops, ops);
	return NULL;
}

static void *
sweeper_main(void *p)
{
	struct world *w = p;
	unsigned seed = 12345;

	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		struct pcache_stats st;
		switch (rand_r(&seed) % 5) {
		case 0:
			pcache_invalidate(w->pc);
			break;
		case 1:
			pcache_invalidate_local(w->pc);
			break;
		case 2:
			pcache_reclaim(w->pc);
			break;
		case 3:
			pcache_get_stats(w->pc, &st);
			break;
		default:
			pc_topo_bind_thread(w->cpus[(unsigned)rand_r(&seed) % w->ncpu]);
			break;
		}
		usleep(200);
	}
	return NULL;
}

static unsigned
stress_threads(void)
{
	const char *s = getenv("PCACHE_STRESS_THREADS");
	int v = s != NULL ? atoi(s) : 4;

	return v >= 1 && v <= 16 ? (unsigned)v : 4;
}

static double
stress_seconds(void)
{
	const char *s = getenv("PCACHE_STRESS_SECONDS");
	double v = s != NULL ? atof(s) : 2.0;

	return v > 0 ? v : 2.0;
}

/*
 * run_world: nthreads workers and one sweeper for the configured time,
 * then the invariants: no error seen, every object accounted for, every
 * constructed object destructed exactly once, all memory back.
 */
static void
run_world(const char *name, unsigned cflags, size_t hardlimit, int getflags,
    unsigned nthreads)
{
	struct world w = { .os.who = "stress" };
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 8192);
	struct pcache_config cfg = { .size = sizeof(struct sobj), .flags = cflags,
	    .ctor = ostate_ctor, .dtor = ostate_dtor, .arg = &w.os, .allocator = &a };
	struct worker wk[16];
	pthread_t t[16], sw;
	struct timespec t0, t1;

	w.ncpu = allowed_cpus(w.cpus, 64);
	w.pc = pcache_create(name, &cfg);
	ck_assert_ptr_nonnull(w.pc);
	if (hardlimit)
		pcache_set_hardlimit(w.pc, hardlimit);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < nthreads; i++) {
		unsigned cap = hardlimit ? (unsigned)(hardlimit / nthreads) - 1 : HELD_MAX;
		wk[i] = (struct worker){ &w, i, 1000 + i, getflags,
		    cap < HELD_MAX ? cap : HELD_MAX };
		pthread_create(&t[i], NULL, worker_main, &wk[i]);
	}
	pthread_create(&sw, NULL, sweeper_main, &w);
	usleep((useconds_t)(stress_seconds() * 1e6));
	atomic_store(&w.stop, 1);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	pthread_join(sw, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	struct pcache_stats st;
	pcache_get_stats(w.pc, &st);
	printf("%s: %u threads, %.0f ops/s, %llu ctor, %llu dtor, %llu cpu hits of %llu gets\n",
	    name, nthreads, (double)atomic_load(&w.ops) / secs,
	    (unsigned long long)st.ctor_calls, (unsigned long long)st.dtor_calls,
	    (unsigned long long)st.cpu_hits, (unsigned long long)st.gets);
	ck_assert_int_eq(atomic_load(&w.os.errors), 0);
	ck_assert_uint_eq(st.in_use, 0);
	ck_assert_uint_eq(st.gets - st.puts, st.in_use);
	ck_assert_uint_eq(st.ctor_calls, atomic_load(&w.os.ctor));
	ck_assert_uint_eq(st.ctor_calls - st.dtor_calls,
	    st.cached_cpu + st.cached_depot);
	if (hardlimit)
		ck_assert_uint_le(st.cached_cpu + st.cached_depot, hardlimit);
	pcache_invalidate(w.pc);
	pcache_get_stats(w.pc, &st);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, 0);
	ck_assert_uint_eq(atomic_load(&w.os.ctor), atomic_load(&w.os.dtor));
	ck_assert_int_eq(pcache_destroy(w.pc), 0);	/* EBUSY if one was lost */
	ck_assert_int_eq(atomic_load(&w.os.errors), 0);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));
	ck_assert_uint_gt(atomic_load(&w.ops), 0);
}

START_TEST(stress_percpu)
{
	run_world("stress-percpu", 0, 0, PCACHE_NOWAIT, stress_threads());
}
END_TEST

START_TEST(stress_nocpu)
{
	run_world("stress-nocpu", PCACHE_NOCPU, 0, PCACHE_NOWAIT, stress_threads());
}
END_TEST

/* Demand above the limit: sleepers must be woken, none stranded. */
START_TEST(stress_hardlimit_waitok)
{
	run_world("stress-hardlimit", 0, 300, PCACHE_WAITOK, stress_threads());
}
END_TEST

START_TEST(stress_hardlimit_nowait)
{
	run_world("stress-hardlimit-nowait", 0, 300, PCACHE_NOWAIT, stress_threads());
}
END_TEST

/*
 * The pmap_growkernel pattern under concurrency.  The constructor stamps
 * each object with the current generation; an invalidator bumps the
 * generation, invalidates, then publishes the new floor.  Objects in use
 * are "updated" by their holder before they go back (as live pmaps are),
 * under a read lock that the bump-and-invalidate excludes, so an object is
 * either cached when invalidation begins or already current.  Then a get
 * that starts after a floor was published must never return an object
 * older than that floor: one would be an object cached when invalidation
 * began that slipped past it.
 */
struct gen_world {
	struct ostate os;
	pcache_t *pc;
	atomic_uint gen;		/* the constructor's input */
	atomic_uint floor;		/* no get may return older, once published */
	pthread_rwlock_t update;	/* puts (read) vs bump + invalidate (write) */
	atomic_int stop;
	atomic_uint_fast64_t stale, gets, bumps, failed;
	size_t bulk;			/* objects per get: 1 is pcache_get() */
	unsigned fail_every;		/* every Nth ctor call fails (0: never) */
	atomic_uint ctor_seq;
};

struct gobj {
	atomic_uint state;
	atomic_uint gen;
	char pad[504];	/* big enough that workers overflow a CPU's share */
};

/*
 * gen_ctor: stamp the generation.  A failing call is slow, as a
 * constructor that waits for memory before giving up is, so that a bulk
 * get holds the objects it took for a while before it gives them back.
 */
static int
gen_ctor(void *arg, void *obj, int flags)
{
	struct gen_world *g = arg;

	if (g->fail_every != 0 &&
	    atomic_fetch_add(&g->ctor_seq, 1) % g->fail_every == 0) {
		usleep(20);
		return ENOMEM;
	}
	atomic_store(&((struct gobj *)obj)->gen, atomic_load(&g->gen));
	return ostate_ctor(&g->os, obj, flags);
}

static void
gen_dtor(void *arg, void *obj)
{
	ostate_dtor(&((struct gen_world *)arg)->os, obj);
}

/*
 * gen_put: bring a held object up to date (as growkernel updates the live
 * pmaps) and put it back, excluded from a bump-and-invalidate.
 */
static void
gen_put(struct gen_world *g, struct gobj *o)
{
	pthread_rwlock_rdlock(&g->update);
	atomic_store(&o->gen, atomic_load(&g->gen));
	ostate_giving(&g->os, o);
	pcache_put(g->pc, o);
	pthread_rwlock_unlock(&g->update);
}

/*
 * gen_get: up to g->bulk objects into held[] (all or none), each checked
 * against the floor published before the call.  Returns how many.
 */
static size_t
gen_get(struct gen_world *g, struct gobj **held)
{
	unsigned floor = atomic_load(&g->floor);
	size_t k = g->bulk;

	if (k == 1) {
		if ((held[0] = pcache_get(g->pc, PCACHE_NOWAIT)) == NULL)
			k = 0;
	} else if (pcache_get_bulk(g->pc, (void **)held, k, PCACHE_NOWAIT) != 0)
		k = 0;
	if (k == 0) {
		if (errno != EAGAIN && errno != ENOMEM)
			ostate_report(&g->os, "get failed", NULL);
		atomic_fetch_add(&g->failed, 1);
	}
	for (size_t i = 0; i < k; i++) {
		ostate_took(&g->os, held[i]);
		if (atomic_load(&held[i]->gen) < floor)
			atomic_fetch_add(&g->stale, 1);
	}
	atomic_fetch_add(&g->gets, k);
	return k;
}

#define GEN_BURST 256

static void *
gen_worker(void *p)
{
	struct gen_world *g = p;
	struct gobj *held[GEN_BURST];
	size_t n = 0;
	bool filling = true;

	/*
	 * Bursts of gets then puts: traffic through the depot.  A failed get
	 * (a hard limit, a failing constructor) ends the burst early.
	 */
	while (!atomic_load(&g->stop)) {
		if (filling) {
			size_t k = gen_get(g, held + n);
			n += k;
			filling = k > 0 ? n + g->bulk <= GEN_BURST : n == 0;
		} else {
			gen_put(g, held[--n]);
			filling = n == 0;
		}
	}
	/* Updated too: other workers may still be getting. */
	while (n > 0)
		gen_put(g, held[--n]);
	return NULL;
}

/*
 * run_generations: four workers against an invalidator for the configured
 * time; no get may return an object older than the floor it saw.
 */
static void
run_generations(const char *name, size_t bulk, unsigned fail_every,
    size_t hardlimit)
{
	struct gen_world g = { .os.who = name, .bulk = bulk,
	    .fail_every = fail_every };
	struct pcache_config cfg = { .size = sizeof(struct gobj), .ctor = gen_ctor,
	    .dtor = gen_dtor, .arg = &g };
	pthread_t t[4];
	struct timespec end;

	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	/* Puts come in streams: without this the invalidator could starve. */
	pthread_rwlockattr_setkind_np(&ra,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&g.update, &ra);
	pthread_rwlockattr_destroy(&ra);
	g.pc = pcache_create(name, &cfg);
	ck_assert_ptr_nonnull(g.pc);
	if (hardlimit != 0)
		ck_assert_int_eq(pcache_set_hardlimit(g.pc, hardlimit), 0);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, gen_worker, &g);
	end = deadline((long)stress_seconds());
	while (!past(&end)) {
		pthread_rwlock_wrlock(&g.update);
		unsigned next = atomic_fetch_add(&g.gen, 1) + 1;
		if (atomic_load(&g.bumps) % 2 == 0)
			pcache_invalidate(g.pc);
		else {
			/* The seed's sequence: this CPU first, then everything. */
			pcache_invalidate_local(g.pc);
			pcache_invalidate(g.pc);
		}
		pthread_rwlock_unlock(&g.update);
		atomic_store(&g.floor, next);
		atomic_fetch_add(&g.bumps, 1);
		usleep(300);
	}
	atomic_store(&g.stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("%s: %llu bumps, %llu gets, %llu failed gets, %llu stale\n", name,
	    (unsigned long long)atomic_load(&g.bumps),
	    (unsigned long long)atomic_load(&g.gets),
	    (unsigned long long)atomic_load(&g.failed),
	    (unsigned long long)atomic_load(&g.stale));
	ck_assert_uint_gt(atomic_load(&g.bumps), 10);
	ck_assert_uint_gt(atomic_load(&g.gets), 1000);
	if (fail_every != 0 || hardlimit != 0)
		ck_assert_uint_gt(atomic_load(&g.failed), 10);
	uint64_t stale = atomic_load(&g.stale);
	ck_assert_uint_eq(stale, 0);
	ck_assert_int_eq(atomic_load(&g.os.errors), 0);
	struct pcache_stats st;
	ck_assert_int_eq(pcache_get_stats(g.pc, &st), 0);
	ck_assert_uint_eq(st.in_use, 0);
	ck_assert_uint_eq(st.gets - st.puts, st.in_use);
	pcache_invalidate(g.pc);
	ck_assert_int_eq(pcache_destroy(g.pc), 0);
	ck_assert_uint_eq(atomic_load(&g.os.ctor), atomic_load(&g.os.dtor));
	pthread_rwlock_destroy(&g.update);
}

START_TEST(stress_invalidate_generations)
{
	run_generations("generations", 1, 0, 0);
}
END_TEST

/* Bulk gets that fail in a constructor after taking cached objects. */
START_TEST(stress_generations_bulk_ctor_fails)
{
	run_generations("generations-bulk-ctor", 16, 97, 0);
}
END_TEST

/* Bulk gets that fail at a hard limit after taking cached objects. */
START_TEST(stress_generations_bulk_hardlimit)
{
	run_generations("generations-bulk-hardlimit", 16, 0, 600);
}
END_TEST

static Suite *
stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc = tcase_create("stress");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, stress_percpu);
	tcase_add_test(tc, stress_nocpu);
	tcase_add_test(tc, stress_hardlimit_waitok);
	tcase_add_test(tc, stress_hardlimit_nowait);
	tcase_add_test(tc, stress_invalidate_generations);
	tcase_add_test(tc, stress_generations_bulk_ctor_fails);
	tcase_add_test(tc, stress_generations_bulk_hardlimit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(stress_suite());
}
