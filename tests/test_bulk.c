/*
 * test_bulk.c -- what a failing pcache_get_bulk() must never do: give back
 * objects that an invalidation meanwhile made stale, or keep its fellow
 * waiters at a hard limit busy waking each other.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Run on both per-CPU layers and in checked mode (meson.build sets
 * PCACHE_RSEQ=0 and PCACHE_DEBUG=1 for the other runs).
 */
#include <pthread.h>
#include <time.h>

#include "testutil.h"

/*
 * A constructor that can be held at a gate: the test lets a bulk get take
 * a cached object, stops it in the constructor of the next one, runs an
 * invalidation, then lets the constructor fail.
 */
struct gate {
	struct tcounts tc;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool armed;		/* the next ctor call waits at the gate */
	bool inside;		/* a ctor call is waiting */
	bool open;
	int result;		/* what the waiting call returns */
};

static int
gate_ctor(void *arg, void *obj, int flags)
{
	struct gate *g = arg;

	pthread_mutex_lock(&g->lock);
	if (g->armed) {
		g->armed = false;
		g->inside = true;
		pthread_cond_broadcast(&g->cv);
		while (!g->open)
			pthread_cond_wait(&g->cv, &g->lock);
		int result = g->result;
		pthread_mutex_unlock(&g->lock);
		if (result != 0)
			return result;
		return tobj_ctor(&g->tc, obj, flags);
	}
	pthread_mutex_unlock(&g->lock);
	return tobj_ctor(&g->tc, obj, flags);
}

static void
gate_dtor(void *arg, void *obj)
{
	tobj_dtor(&((struct gate *)arg)->tc, obj);
}

/*
 * gate_cache: a cache of 64-byte objects built by gate_ctor, with the
 * caller pinned to its first allowed CPU, which *cpu names.
 */
static pcache_t *
gate_cache(struct gate *g, const char *name, unsigned *cpu)
{
	struct pcache_config cfg = tobj_config(64, &g->tc);
	unsigned cpus[64];

	cfg.ctor = gate_ctor;
	cfg.dtor = gate_dtor;
	cfg.arg = g;
	allowed_cpus(cpus, 64);
	bind_to(cpus[0]);
	*cpu = cpus[0];
	pcache_t *pc = pcache_create(name, &cfg);
	ck_assert_ptr_nonnull(pc);
	return pc;
}

struct bulk_call {
	pcache_t *pc;
	unsigned cpu;
	size_t n;
	int flags;
	void *objs[8];
	int ret, err;
	atomic_int done;
};

static void *
bulk_thread(void *p)
{
	struct bulk_call *c = p;

	if (pc_topo_bind_thread(c->cpu) != 0)
		c->err = -1;
	c->ret = pcache_get_bulk(c->pc, c->objs, c->n, c->flags);
	if (c->ret != 0)
		c->err = errno;
	atomic_store(&c->done, 1);
	return NULL;
}

/*
 * The review's scenario: a generation-1 object sits in CPU 0's cache; a
 * bulk get of two on CPU 0 takes it and stops in the constructor of the
 * second; the generation moves to 2 and pcache_invalidate() returns; the
 * constructor then fails.  The bulk get returns -1, and no later get may
 * hand out the generation-1 object: it was taken before the invalidation
 * and never reached a caller who could update it.
 */
START_TEST(bulk_failed_get_after_invalidate)
{
	struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER };
	unsigned cpu;
	pcache_t *pc = gate_cache(&g, "bulk-stale", &cpu);

	atomic_store(&g.tc.gen, 1);
	struct tobj *old = pcache_get(pc, PCACHE_WAITOK);
	ck_assert_ptr_nonnull(old);
	ck_assert_uint_eq(old->gen, 1);
	pcache_put(pc, old);

	g.armed = true;
	struct bulk_call c = { .pc = pc, .cpu = cpu, .n = 2,
	    .flags = PCACHE_WAITOK };
	pthread_t t;
	pthread_create(&t, NULL, bulk_thread, &c);
	pthread_mutex_lock(&g.lock);
	while (!g.inside)
		pthread_cond_wait(&g.cv, &g.lock);
	pthread_mutex_unlock(&g.lock);

	/* The bulk get holds the old object privately now. */
	atomic_store(&g.tc.gen, 2);
	pcache_invalidate(pc);

	pthread_mutex_lock(&g.lock);
	g.result = ENOMEM;
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.lock);
	pthread_join(t, NULL);
	ck_assert_int_eq(c.ret, -1);
	ck_assert_int_eq(c.err, ENOMEM);

	/* Every object handed out from now on is of generation 2. */
	void *got[4];
	for (int i = 0; i < 4; i++) {
		got[i] = pcache_get(pc, PCACHE_WAITOK);
		ck_assert_ptr_nonnull(got[i]);
		ck_assert_msg(((struct tobj *)got[i])->gen == 2,
		    "object %p of generation %u handed out after invalidation",
		    got[i], ((struct tobj *)got[i])->gen);
	}
	for (int i = 0; i < 4; i++)
		pcache_put(pc, got[i]);
	check_balance(pc, &g.tc);
	pcache_invalidate(pc);
	ck_assert_uint_eq(atomic_load(&g.tc.ctor), atomic_load(&g.tc.dtor));
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * The same with no invalidation in between: the failed bulk get gives the
 * object back, and it is handed out again rather than destructed.
 */
START_TEST(bulk_failed_get_keeps_current)
{
	struct gate g = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER, .result = ENOMEM, .open = true };
	unsigned cpu;
	/* About reuse: checked mode's quarantine would hold the object back. */
	if (getenv("PCACHE_DEBUG") != NULL)
		setenv("PCACHE_DEBUG", "1,quarantine=0", 1);
	pcache_t *pc = gate_cache(&g, "bulk-current", &cpu);

	void *first = pcache_get(pc, PCACHE_WAITOK);
	ck_assert_ptr_nonnull(first);
	pcache_put(pc, first);
	g.armed = true;
	void *objs[2];
	ck_assert_int_eq(pcache_get_bulk(pc, objs, 2, PCACHE_WAITOK), -1);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_eq(atomic_load(&g.tc.dtor), 0);
	void *again = pcache_get(pc, PCACHE_WAITOK);
	ck_assert_ptr_eq(again, first);
	pcache_put(pc, again);
	check_balance(pc, &g.tc);
	pcache_invalidate(pc);
	destroy_balanced(pc, &g.tc);
}
END_TEST

/* thread_cpu_seconds: CPU time thread t has used so far. */
static double
thread_cpu_seconds(pthread_t t)
{
	clockid_t cid;
	struct timespec ts;

	ck_assert_int_eq(pthread_getcpuclockid(t, &cid), 0);
	ck_assert_int_eq(clock_gettime(cid, &ts), 0);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define NWAITERS	4
#define HL_LIMIT	200
#define HL_HELD		49	/* each waiter's own; the main thread holds the rest */
#define HL_SPARE	3	/* of the main thread's, cached while they wait */

struct waiter {
	pcache_t *pc;
	size_t want;		/* the bulk size this waiter asks for */
	void *held[HL_HELD];
	void *got[HL_SPARE + NWAITERS];
	int ret;
	atomic_int ready, go, done;
};

static void *
waiter_main(void *p)
{
	struct waiter *w = p;

	for (int i = 0; i < HL_HELD; i++)
		w->held[i] = pcache_get(w->pc, PCACHE_WAITOK);
	atomic_store(&w->ready, 1);
	while (!atomic_load(&w->go))	/* until every waiter holds its share */
		usleep(1000);
	w->ret = pcache_get_bulk(w->pc, w->got, w->want, PCACHE_WAITOK);
	atomic_store(&w->done, 1);
	return NULL;
}

/*
 * Bulk waiters at a hard limit that nobody can satisfy must sleep: over a
 * second each uses almost no CPU, although each keeps finding a few
 * objects cached (fewer than it asks for) and giving them back.  One put
 * then lets through the one waiter that a single object more satisfies,
 * and no other; the rest sleep on.
 */
START_TEST(bulk_waiters_sleep)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("bulk-waiters", &cfg);
	struct waiter w[NWAITERS];
	pthread_t t[NWAITERS];
	void *mine[HL_LIMIT - NWAITERS * HL_HELD];
	size_t nmine = HL_LIMIT - NWAITERS * HL_HELD;

	ck_assert_ptr_nonnull(pc);
	ck_assert_int_eq(pcache_set_hardlimit(pc, HL_LIMIT), 0);
	for (size_t i = 0; i < nmine; i++)
		ck_assert_ptr_nonnull(mine[i] = pcache_get(pc, PCACHE_WAITOK));
	for (int i = 0; i < NWAITERS; i++) {
		w[i] = (struct waiter){ .pc = pc, .want = HL_SPARE + 1 + (size_t)i };
		pthread_create(&t[i], NULL, waiter_main, &w[i]);
	}
	for (int i = 0; i < NWAITERS; i++) {
		while (!atomic_load(&w[i].ready))
			usleep(1000);
	}
	for (int i = 0; i < HL_SPARE; i++)
		pcache_put(pc, mine[--nmine]);
	for (int i = 0; i < NWAITERS; i++)
		atomic_store(&w[i].go, 1);
	usleep(200 * 1000);	/* into their sleep */
	double before[NWAITERS], after[NWAITERS];
	for (int i = 0; i < NWAITERS; i++)
		before[i] = thread_cpu_seconds(t[i]);
	usleep(1000 * 1000);
	for (int i = 0; i < NWAITERS; i++) {
		after[i] = thread_cpu_seconds(t[i]);
		ck_assert_int_eq(atomic_load(&w[i].done), 0);
		ck_assert_msg(after[i] - before[i] < 0.05,
		    "waiter %d used %.3f s of CPU in 1 s asleep", i,
		    after[i] - before[i]);
	}

	/* One object more: the waiter that wants one more than were cached. */
	pcache_put(pc, mine[--nmine]);
	for (int k = 0; k < 5000 && !atomic_load(&w[0].done); k++)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&w[0].done), 1);
	ck_assert_int_eq(w[0].ret, 0);
	usleep(300 * 1000);
	for (int i = 1; i < NWAITERS; i++) {
		ck_assert_int_eq(atomic_load(&w[i].done), 0);
		double now = thread_cpu_seconds(t[i]);
		ck_assert_msg(now - after[i] < 0.05,
		    "waiter %d used %.3f s of CPU after one put", i, now - after[i]);
	}

	/* Lifting the limit lets everyone through. */
	ck_assert_int_eq(pcache_set_hardlimit(pc, 0), 0);
	for (int i = 0; i < NWAITERS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].ret, 0);
		for (int j = 0; j < HL_HELD; j++)
			pcache_put(pc, w[i].held[j]);
		pcache_put_bulk(pc, w[i].got, w[i].want);
	}
	while (nmine > 0)
		pcache_put(pc, mine[--nmine]);
	check_balance(pc, &tc);
	pcache_invalidate(pc);
	destroy_balanced(pc, &tc);
}
END_TEST

/*
 * Reservations: n objects up front, taken one by one without failing; the
 * rest go back at release -- destructed if an invalidation completed since
 * the reservation was filled; above the hard limit, EAGAIN at once.
 */
START_TEST(reservation_takes_and_releases)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("reserve", &cfg);
	struct pcache_reservation big, small;

	ck_assert_ptr_nonnull(pc);
	ck_assert_int_eq(pcache_reserve(pc, 40, PCACHE_WAITOK, &big), 0);
	ck_assert_int_eq(pcache_reserve(pc, 5, PCACHE_NOWAIT, &small), 0);
	struct pcache_stats st;
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.in_use, 45);
	void *seen[45];
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(seen[i] = pcache_res_get(&small));
	ck_assert_ptr_null(pcache_res_get(&small));
	for (int i = 0; i < 30; i++)
		ck_assert_ptr_nonnull(seen[5 + i] = pcache_res_get(&big));
	for (int i = 0; i < 35; i++) {
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(seen[i], seen[j]);
	}
	pcache_res_release(&small);			/* nothing left: no-op */
	uint64_t dtor = atomic_load(&tc.dtor);
	pcache_invalidate(pc);
	pcache_res_release(&big);		/* 10 left, reserved before it */
	ck_assert_uint_eq(atomic_load(&tc.dtor) - dtor, 10);
	for (int i = 0; i < 35; i++)
		pcache_put(pc, seen[i]);
	check_balance(pc, &tc);

	ck_assert_int_eq(pcache_set_hardlimit(pc, 10), 0);
	errno = 0;
	ck_assert_int_eq(pcache_reserve(pc, 11, PCACHE_WAITOK, &big), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(pcache_reserve(pc, 10, PCACHE_WAITOK, &big), 0);
	pcache_res_release(&big);
	check_balance(pc, &tc);
	pcache_invalidate(pc);
	destroy_balanced(pc, &tc);
}
END_TEST

struct res_world {
	pcache_t *pc;
	atomic_int stop;
	atomic_uint_fast64_t takes, failures;
};

/* res_holder: reserve, then take every object; none may be missing. */
static void *
res_holder(void *p)
{
	struct res_world *w = p;

	for (int r = 0; r < 300; r++) {
		struct pcache_reservation res;
		void *objs[32];
		if (pcache_reserve(w->pc, 32, PCACHE_WAITOK, &res) != 0) {
			atomic_fetch_add(&w->failures, 1);
			continue;
		}
		for (int i = 0; i < 32; i++) {
			objs[i] = pcache_res_get(&res);
			if (objs[i] == NULL ||
			    ((struct tobj *)objs[i])->magic != TOBJ_MAGIC_LIVE)
				atomic_fetch_add(&w->failures, 1);
		}
		pcache_res_release(&res);
		for (int i = 0; i < 32; i++)
			pcache_put(w->pc, objs[i]);
		atomic_fetch_add(&w->takes, 32);
	}
	return NULL;
}

/* res_drainer: drain, invalidate and reclaim the cache as fast as it can. */
static void *
res_drainer(void *p)
{
	struct res_world *w = p;
	void *objs[64];

	while (!atomic_load(&w->stop)) {
		if (pcache_get_bulk(w->pc, objs, 64, PCACHE_NOWAIT) == 0)
			pcache_put_bulk(w->pc, objs, 64);
		pcache_invalidate(w->pc);
		pcache_reclaim(w->pc);
	}
	return NULL;
}

/* A reservation's holder never fails while others drain and invalidate. */
START_TEST(reservation_holder_never_fails)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	struct res_world w = { 0 };
	pthread_t h, d;

	w.pc = pcache_create("reserve-race", &cfg);
	ck_assert_ptr_nonnull(w.pc);
	pthread_create(&d, NULL, res_drainer, &w);
	pthread_create(&h, NULL, res_holder, &w);
	pthread_join(h, NULL);
	atomic_store(&w.stop, 1);
	pthread_join(d, NULL);
	ck_assert_uint_eq(atomic_load(&w.failures), 0);
	ck_assert_uint_eq(atomic_load(&w.takes), 300 * 32);
	check_balance(w.pc, &tc);
	pcache_invalidate(w.pc);
	destroy_balanced(w.pc, &tc);
}
END_TEST

static Suite *
bulk_suite(void)
{
	Suite *s = suite_create("bulk");
	TCase *tc = tcase_create("bulk");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, bulk_failed_get_after_invalidate);
	tcase_add_test(tc, bulk_failed_get_keeps_current);
	tcase_add_test(tc, bulk_waiters_sleep);
	tcase_add_test(tc, reservation_takes_and_releases);
	tcase_add_test(tc, reservation_holder_never_fails);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(bulk_suite());
}
