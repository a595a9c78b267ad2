/*
 * test_migrate.c -- threads that move between CPUs while they get and put,
 * and threads that exit while objects they got are still held by others.
 * A thread works on the state of the CPU it runs on, not on a state of its
 * own, so neither a move nor an exit may lose, duplicate or disturb an
 * object: objects got on one CPU and put on another (by the same thread
 * after a move, or by another thread after the first one exited) must all
 * come back, intact, and the cache must account for every one.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * PCACHE_MIGRATE_SECONDS sets the length of each timed test (default 0.5).
 */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "objstate.h"
#include "testutil.h"

struct mobj {
	atomic_uint state;
	uint32_t owner;
	uint64_t words[6];
};

struct world {
	struct ostate os;	/* the objects' ctor/dtor argument */
	pcache_t *pc;
	struct talloc ta;
	struct pcache_allocator a;
	atomic_uint_fast64_t ops, moves;
	atomic_int stop;
	size_t hardlimit;
	unsigned ncpu;
	unsigned cpus[64];
	/* Objects handed from thread to thread. */
	pthread_mutex_t qlock;
	void *queue[4096];
	unsigned qlen;
};

/* word: what holder `owner` writes into word i of object o. */
static uint64_t
word(const struct mobj *o, uint32_t owner, unsigned i)
{
	return ((uint64_t)owner << 32 | i) ^ (uint64_t)(uintptr_t)o;
}

/* took: the object just came from the cache; mark it and fill it. */
static void
took(struct world *w, struct mobj *o, uint32_t owner)
{
	ostate_took(&w->os, o);
	o->owner = owner;
	for (unsigned i = 0; i < 6; i++)
		o->words[i] = word(o, owner, i);
}

/*
 * giving: the object is about to go back: it must hold what its first
 * holder wrote, whoever gives it back.
 */
static void
giving(struct world *w, struct mobj *o)
{
	for (unsigned i = 0; i < 6; i++) {
		if (o->words[i] != word(o, o->owner, i)) {
			ostate_report(&w->os, "object in use was overwritten", o);
			break;
		}
	}
	ostate_giving(&w->os, o);
}

/*
 * move_to: pin the calling thread to `cpu` and check that it runs there;
 * a failure is reported, not asserted, as the caller may be any thread.
 */
static void
move_to(struct world *w, unsigned cpu)
{
	if (pc_topo_bind_thread(cpu) != 0 || sched_getcpu() != (int)cpu)
		ostate_report(&w->os, "could not move to a CPU", NULL);
	atomic_fetch_add_explicit(&w->moves, 1, memory_order_relaxed);
}

/* test_seconds: length of each timed test, from PCACHE_MIGRATE_SECONDS. */
static double
test_seconds(void)
{
	const char *s = getenv("PCACHE_MIGRATE_SECONDS");
	double v = s != NULL ? atof(s) : 0.5;

	return v > 0 ? v : 0.5;
}

/*
 * world_init: a cache of mobj objects over a counting allocator, with an
 * optional hard limit.
 */
static void
world_init(struct world *w, const char *name, size_t hardlimit)
{
	memset(w, 0, sizeof(*w));
	w->os.who = "migrate";
	w->ncpu = allowed_cpus(w->cpus, 64);
	w->a = talloc_allocator(&w->ta, 8192);
	struct pcache_config cfg = { .size = sizeof(struct mobj), .ctor = ostate_ctor,
	    .dtor = ostate_dtor, .arg = &w->os, .allocator = &w->a };
	w->pc = pcache_create(name, &cfg);
	ck_assert_ptr_nonnull(w->pc);
	w->hardlimit = hardlimit;
	if (hardlimit != 0)
		ck_assert_int_eq(pcache_set_hardlimit(w->pc, hardlimit), 0);
	pthread_mutex_init(&w->qlock, NULL);
}

/*
 * world_check: the invariants once every thread has joined: no error,
 * nothing out, the balance, then after invalidate every constructed
 * object destructed once, destroy accepted and every page returned.
 */
static void
world_check(struct world *w)
{
	struct pcache_stats st;

	ck_assert_int_eq(atomic_load(&w->os.errors), 0);
	ck_assert_int_eq(pcache_get_stats(w->pc, &st), 0);
	ck_assert_uint_eq(st.in_use, 0);
	ck_assert_uint_eq(st.ctor_calls, atomic_load(&w->os.ctor));
	ck_assert_uint_eq(st.dtor_calls, atomic_load(&w->os.dtor));
	ck_assert_uint_eq(st.ctor_calls - st.dtor_calls,
	    st.cached_cpu + st.cached_depot);
	if (w->hardlimit != 0)
		ck_assert_uint_le(st.cached_cpu + st.cached_depot, w->hardlimit);
	pcache_invalidate(w->pc);
	ck_assert_int_eq(pcache_get_stats(w->pc, &st), 0);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, 0);
	ck_assert_uint_eq(atomic_load(&w->os.ctor), atomic_load(&w->os.dtor));
	ck_assert_int_eq(pcache_destroy(w->pc), 0);
	ck_assert_uint_eq(atomic_load(&w->ta.allocs), atomic_load(&w->ta.frees));
	ck_assert_int_eq(atomic_load(&w->os.errors), 0);
	pthread_mutex_destroy(&w->qlock);
}

/* ---- threads that move while they work ------------------------------- */

struct mover {
	struct world *w;
	unsigned id;
	unsigned seed;
};

#define MOVER_HELD 64

/*
 * mover_main: start on one CPU, get and put at random (singly and in
 * bulk), and every so often move to another CPU while holding objects,
 * which are then put back there.  Now and then drain the CPU just
 * reached, where other threads may be working too.
 */
static void *
mover_main(void *p)
{
	struct mover *m = p;
	struct world *w = m->w;
	struct mobj *held[MOVER_HELD];
	unsigned nheld = 0, seed = m->seed;
	uint32_t me = m->id + 1;
	uint64_t ops = 0;

	move_to(w, w->cpus[m->id % w->ncpu]);
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		unsigned r = (unsigned)rand_r(&seed);
		if ((r & 127) == 0) {
			move_to(w, w->cpus[(r >> 7) % w->ncpu]);
			if ((r >> 16) % 4 == 0)
				pcache_invalidate_local(w->pc);
		}
		if ((r & 7) == 1 && nheld + 8 <= MOVER_HELD) {
			void *objs[8];
			if (pcache_get_bulk(w->pc, objs, 8, PCACHE_NOWAIT) == 0) {
				for (unsigned i = 0; i < 8; i++) {
					took(w, objs[i], me);
					held[nheld++] = objs[i];
				}
			} else if (errno != EAGAIN || w->hardlimit == 0)
				ostate_report(&w->os, "get_bulk failed", NULL);
		} else if ((r & 7) == 2 && nheld >= 8) {
			void *objs[8];
			for (unsigned i = 0; i < 8; i++) {
				objs[i] = held[--nheld];
				giving(w, objs[i]);
			}
			pcache_put_bulk(w->pc, objs, 8);
		} else if ((r & 8) && nheld < MOVER_HELD) {
			struct mobj *o = pcache_get(w->pc, PCACHE_NOWAIT);
			if (o != NULL) {
				took(w, o, me);
				held[nheld++] = o;
			} else if (errno != EAGAIN || w->hardlimit == 0)
				ostate_report(&w->os, "get failed", NULL);
		} else if (nheld > 0) {
			unsigned i = (r >> 4) % nheld;
			struct mobj *o = held[i];
			held[i] = held[--nheld];
			giving(w, o);
			pcache_put(w->pc, o);
		}
		ops++;
	}
	while (nheld > 0) {
		giving(w, held[--nheld]);
		pcache_put(w->pc, held[nheld]);
	}
	atomic_fetch_add(&w->ops, ops);
	return NULL;
}

/*
 * run_movers: two threads per CPU (4 to 8) running mover_main() for the
 * test's time, then the invariants.
 */
static void
run_movers(const char *name, size_t hardlimit)
{
	struct world *w = calloc(1, sizeof(*w));
	struct mover m[8];
	pthread_t t[8];

	ck_assert_ptr_nonnull(w);
	world_init(w, name, hardlimit);
	unsigned n = 2 * w->ncpu < 4 ? 4 : 2 * w->ncpu > 8 ? 8 : 2 * w->ncpu;
	for (unsigned i = 0; i < n; i++) {
		m[i] = (struct mover){ w, i, 31 * i + 7 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, mover_main, &m[i]), 0);
	}
	usleep((useconds_t)(test_seconds() * 1e6));
	atomic_store(&w->stop, 1);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("%s: %u threads on %u CPUs, %llu ops, %llu moves\n", name, n, w->ncpu,
	    (unsigned long long)atomic_load(&w->ops),
	    (unsigned long long)atomic_load(&w->moves));
	ck_assert_uint_gt(atomic_load(&w->ops), 0);
	ck_assert_uint_ge(atomic_load(&w->moves), n);
	world_check(w);
	free(w);
}

/* Moves among gets and puts, frees on another CPU than the get's. */
START_TEST(migrate_mid_run)
{
	run_movers("migrate", 0);
}
END_TEST

/* Steals from other CPUs at the limit while their owners move. */
START_TEST(migrate_at_hardlimit)
{
	run_movers("migrate-limit", 200);
}
END_TEST

/* ---- threads that exit while their objects live on ---------------------- */

/*
 * queue_push, queue_pop: hand objects between threads.  queue_push
 * returns false when the queue is full.
 */
static bool
queue_push(struct world *w, void *o)
{
	bool ok;

	pthread_mutex_lock(&w->qlock);
	ok = w->qlen < sizeof(w->queue) / sizeof(w->queue[0]);
	if (ok)
		w->queue[w->qlen++] = o;
	pthread_mutex_unlock(&w->qlock);
	return ok;
}

static void *
queue_pop(struct world *w)
{
	void *o = NULL;

	pthread_mutex_lock(&w->qlock);
	if (w->qlen > 0)
		o = w->queue[--w->qlen];
	pthread_mutex_unlock(&w->qlock);
	return o;
}

struct producer {
	struct world *w;
	unsigned id;
	unsigned cpu;
};

/*
 * producer_main: a short life on one CPU: get objects (singly and in
 * bulk), fill them, put some back (so this CPU's magazines hold objects
 * when the thread is gone), hand the rest to the consumers, and exit.
 */
static void *
producer_main(void *p)
{
	struct producer *pr = p;
	struct world *w = pr->w;
	uint32_t me = 1000 + pr->id;
	void *objs[48];

	move_to(w, pr->cpu);
	for (unsigned i = 0; i < 32; i++) {
		if ((objs[i] = pcache_get(w->pc, PCACHE_NOWAIT)) == NULL) {
			ostate_report(&w->os, "producer get failed", NULL);
			return NULL;
		}
		took(w, objs[i], me);
	}
	if (pcache_get_bulk(w->pc, objs + 32, 16, PCACHE_NOWAIT) != 0) {
		ostate_report(&w->os, "producer get_bulk failed", NULL);
		for (unsigned i = 0; i < 32; i++) {
			giving(w, objs[i]);
			pcache_put(w->pc, objs[i]);
		}
		return NULL;
	}
	for (unsigned i = 32; i < 48; i++)
		took(w, objs[i], me);
	for (unsigned i = 0; i < 48; i++) {
		if (i % 3 == 0 || !queue_push(w, objs[i])) {
			giving(w, objs[i]);
			pcache_put(w->pc, objs[i]);
		}
	}
	return NULL;
}

struct consumer {
	struct world *w;
	unsigned id;
};

/*
 * consumer_main: on a CPU of its own (moving now and then), take the
 * objects exiting threads left behind and put them back here: frees from
 * another thread and, where there are two CPUs, another CPU.  Drains the
 * queue before it stops.
 */
static void *
consumer_main(void *p)
{
	struct consumer *co = p;
	struct world *w = co->w;
	unsigned seed = 99 + co->id, n = 0;

	move_to(w, w->cpus[(co->id + 1) % w->ncpu]);
	for (;;) {
		void *objs[8];
		unsigned k = 0;
		while (k < 8 && (objs[k] = queue_pop(w)) != NULL)
			giving(w, objs[k++]);
		if (k == 0) {
			if (atomic_load(&w->stop))
				break;
			sched_yield();
			continue;
		}
		if (k > 1 && (n & 1))
			pcache_put_bulk(w->pc, objs, k);
		else {
			for (unsigned i = 0; i < k; i++)
				pcache_put(w->pc, objs[i]);
		}
		if ((++n & 63) == 0)
			move_to(w, w->cpus[(unsigned)rand_r(&seed) % w->ncpu]);
		atomic_fetch_add_explicit(&w->ops, k, memory_order_relaxed);
	}
	return NULL;
}

/*
 * exit_while_held: rounds of four short-lived producers on rotating CPUs,
 * while two consumers put back what the producers left behind.
 */
START_TEST(exit_while_held)
{
	struct world *w = calloc(1, sizeof(*w));
	struct consumer co[2];
	pthread_t ct[2];
	struct timespec t0, t1;
	unsigned rounds = 0;

	ck_assert_ptr_nonnull(w);
	world_init(w, "exit", 0);
	for (unsigned i = 0; i < 2; i++) {
		co[i] = (struct consumer){ w, i };
		ck_assert_int_eq(pthread_create(&ct[i], NULL, consumer_main, &co[i]), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct producer pr[4];
		pthread_t pt[4];
		for (unsigned i = 0; i < 4; i++) {
			pr[i] = (struct producer){ w, 4 * rounds + i,
			    w->cpus[(rounds + i) % w->ncpu] };
			ck_assert_int_eq(pthread_create(&pt[i], NULL, producer_main,
			    &pr[i]), 0);
		}
		for (unsigned i = 0; i < 4; i++)
			pthread_join(pt[i], NULL);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < test_seconds());
	atomic_store(&w->stop, 1);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(ct[i], NULL);
	printf("exit: %u rounds of 4 producers, %llu objects put by consumers\n",
	    rounds, (unsigned long long)atomic_load(&w->ops));
	ck_assert_uint_eq(w->qlen, 0);
	ck_assert_uint_gt(atomic_load(&w->ops), 0);
	world_check(w);
	free(w);
}
END_TEST

/* ---- exact checks, one step at a time ----------------------------------- */

struct stepper {
	struct world *w;
	unsigned cpu;
	void **give;		/* objects handed to the main thread */
	unsigned ngive, nput;
};

/*
 * stepper_main: on one CPU, get ngive + nput objects, put nput back there
 * and leave the rest in `give`, then exit.
 */
static void *
stepper_main(void *p)
{
	struct stepper *s = p;
	void *objs[128];

	move_to(s->w, s->cpu);
	for (unsigned i = 0; i < s->ngive + s->nput; i++) {
		if ((objs[i] = pcache_get(s->w->pc, PCACHE_NOWAIT)) == NULL) {
			ostate_report(&s->w->os, "stepper get failed", NULL);
			return NULL;
		}
		took(s->w, objs[i], 77);
	}
	for (unsigned i = 0; i < s->nput; i++) {
		giving(s->w, objs[i]);
		pcache_put(s->w->pc, objs[i]);
	}
	memcpy(s->give, objs + s->nput, s->ngive * sizeof(void *));
	return NULL;
}

/* drainer_main: invalidate_local on one CPU, from a thread of its own. */
static void *
drainer_main(void *p)
{
	struct stepper *s = p;

	move_to(s->w, s->cpu);
	pcache_invalidate_local(s->w->pc);
	return NULL;
}

/* run_thread: run fn(s) in a thread of its own, to its end. */
static void
run_thread(void *(*fn)(void *), struct stepper *s)
{
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, fn, s), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(atomic_load(&s->w->os.errors), 0);
}

/*
 * exit_leaves_cpu_cache: a thread on CPU A puts objects back and exits;
 * they stay in A's magazines, where the thread left them, until a drain
 * of A.  The objects it handed over are put on CPU B by another thread
 * and land in B's magazines; draining B leaves A alone.  Needs two CPUs
 * for the cross-CPU half.
 */
START_TEST(exit_leaves_cpu_cache)
{
	struct world *w = calloc(1, sizeof(*w));
	void *give[128];
	struct pcache_stats st;

	ck_assert_ptr_nonnull(w);
	world_init(w, "exit-cpu", 0);
	ck_assert_int_eq(pcache_get_stats(w->pc, &st), 0);
	if (st.fastpath == PCACHE_FASTPATH_NONE) {
		world_check(w);
		free(w);
		return;
	}
	/* Both halves fit one magazine, so neither reaches the depot. */
	unsigned half = st.magsize / 2 < 64 ? (unsigned)st.magsize / 2 : 64;
	unsigned a = w->cpus[0], b = w->cpus[w->ncpu > 1 ? 1 : 0];
	struct stepper s = { w, a, give, half, half };

	run_thread(stepper_main, &s);
	ck_assert_int_eq(pcache_get_stats(w->pc, &st), 0);
	ck_assert_uint_eq(st.in_use, half);
	ck_assert_uint_eq(cpu_cached(w->pc, a), half);
	ck_assert_uint_eq(st.cached_depot, 0);
	ck_assert_uint_eq(st.ctor_calls - st.dtor_calls, st.in_use + st.cached_cpu);

	/* The exited thread's objects, put back from CPU B. */
	bind_to(b);
	for (unsigned i = 0; i < half; i++) {
		giving(w, give[i]);
		pcache_put(w->pc, give[i]);
	}
	ck_assert_int_eq(atomic_load(&w->os.errors), 0);
	ck_assert_int_eq(pcache_get_stats(w->pc, &st), 0);
	ck_assert_uint_eq(st.in_use, 0);
	ck_assert_uint_eq(cpu_cached(w->pc, b), a == b ? 2 * half : half);
	if (a != b) {
		ck_assert_uint_eq(cpu_cached(w->pc, a), half);

		/* Draining B leaves A's objects alone. */
		uint64_t dtor = atomic_load(&w->os.dtor);
		pcache_invalidate_local(w->pc);
		ck_assert_uint_eq(cpu_cached(w->pc, b), 0);
		ck_assert_uint_eq(cpu_cached(w->pc, a), half);
		ck_assert_uint_eq(atomic_load(&w->os.dtor) - dtor, half);

		/* A new thread on A drains what the dead one left. */
		struct stepper d = { w, a, NULL, 0, 0 };
		run_thread(drainer_main, &d);
		ck_assert_uint_eq(cpu_cached(w->pc, a), 0);
		ck_assert_uint_eq(atomic_load(&w->os.dtor) - dtor, 2 * half);
	}
	pc_topo_unbind_thread();
	world_check(w);
	free(w);
}
END_TEST

/*
 * invalidate_local_follows_cpu: one thread fills CPU A's magazines, moves
 * to B and drains "its" CPU: that is B, not A.  Back on A, the drain takes
 * A's objects.
 */
START_TEST(invalidate_local_follows_cpu)
{
	struct world *w = calloc(1, sizeof(*w));
	void *objs[16];
	struct pcache_stats st;

	ck_assert_ptr_nonnull(w);
	world_init(w, "follow", 0);
	ck_assert_int_eq(pcache_get_stats(w->pc, &st), 0);
	if (w->ncpu < 2 || st.fastpath == PCACHE_FASTPATH_NONE) {
		world_check(w);
		free(w);
		return;
	}
	unsigned a = w->cpus[0], b = w->cpus[w->ncpu - 1];

	bind_to(a);
	for (unsigned i = 0; i < 16; i++) {
		ck_assert_ptr_nonnull(objs[i] = pcache_get(w->pc, PCACHE_NOWAIT));
		took(w, objs[i], 5);
	}
	/* Half goes back on A; the other half travels to B in hand. */
	for (unsigned i = 0; i < 8; i++) {
		giving(w, objs[i]);
		pcache_put(w->pc, objs[i]);
	}
	ck_assert_uint_eq(cpu_cached(w->pc, a), 8);
	bind_to(b);
	for (unsigned i = 8; i < 16; i++) {
		giving(w, objs[i]);
		pcache_put(w->pc, objs[i]);
	}
	ck_assert_uint_eq(cpu_cached(w->pc, b), 8);
	pcache_invalidate_local(w->pc);
	ck_assert_uint_eq(cpu_cached(w->pc, b), 0);
	ck_assert_uint_eq(cpu_cached(w->pc, a), 8);
	ck_assert_uint_eq(atomic_load(&w->os.dtor), 8);
	bind_to(a);
	pcache_invalidate_local(w->pc);
	ck_assert_uint_eq(cpu_cached(w->pc, a), 0);
	ck_assert_uint_eq(atomic_load(&w->os.dtor), 16);
	pc_topo_unbind_thread();
	world_check(w);
	free(w);
}
END_TEST

static Suite *
migrate_suite(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("migrate");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, invalidate_local_follows_cpu);
	tcase_add_test(tc, exit_leaves_cpu_cache);
	tcase_add_test(tc, migrate_mid_run);
	tcase_add_test(tc, migrate_at_hardlimit);
	tcase_add_test(tc, exit_while_held);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(migrate_suite());
}
