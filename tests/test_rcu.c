/*
 * test_rcu.c -- deferred puts and type-safe-by-RCU caches with liburcu
 * (urcu-memb, the default flavour): a deferred object lands after the
 * grace period and not before, barriers and destroy wait for it, a batch
 * landing after an invalidation is destructed, and a reader in a
 * read-side critical section never reads unmapped memory or another
 * kind of object while a type-safe cache is invalidated and reclaimed
 * under it.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Run on both per-CPU layers and in checked mode (meson.build).
 */
#include <pthread.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "testutil.h"

/* A gate two threads meet at, in the steps of a scripted interleaving. */
struct step {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int at;
};

static void
step_to(struct step *s, int at)
{
	pthread_mutex_lock(&s->lock);
	s->at = at;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

static void
step_wait(struct step *s, int at)
{
	pthread_mutex_lock(&s->lock);
	while (s->at < at)
		pthread_cond_wait(&s->cv, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

struct reader {
	struct step *st;
	struct tobj *obj;
	uint64_t serial;	/* what the reader saw first */
	int changed;		/* the object changed under the reader */
};

/* hold_reader: read the object inside a critical section held open. */
static void *
hold_reader(void *p)
{
	struct reader *r = p;

	urcu_memb_register_thread();
	urcu_memb_read_lock();
	r->serial = r->obj->serial;
	step_to(r->st, 1);			/* inside, holding the object */
	step_wait(r->st, 2);
	r->changed = r->obj->magic != TOBJ_MAGIC_LIVE ||
	    r->obj->serial != r->serial;
	urcu_memb_read_unlock();
	urcu_memb_unregister_thread();
	return NULL;
}

struct barrier_call {
	pcache_t *pc;
	atomic_int done;
};

static void *
barrier_thread(void *p)
{
	struct barrier_call *b = p;

	urcu_memb_register_thread();
	pcache_rcu_barrier(b->pc);
	atomic_store(&b->done, 1);
	urcu_memb_unregister_thread();
	return NULL;
}

/*
 * A deferred put waits for a reader that began before it: while the
 * reader holds its critical section, no get hands the object out and the
 * barrier does not return; the reader sees the object unchanged.  Then
 * the object lands, and the cache balances.
 */
START_TEST(deferred_put_waits_for_readers)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("rcu-wait", &cfg);
	struct step st = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	pthread_t rt, bt;

	ck_assert_ptr_nonnull(pc);
	urcu_memb_register_thread();
	struct tobj *x = pcache_get(pc, PCACHE_WAITOK);
	ck_assert_ptr_nonnull(x);
	struct reader r = { &st, x, 0, 0 };
	pthread_create(&rt, NULL, hold_reader, &r);
	step_wait(&st, 1);
	pcache_put_rcu(pc, x);
	struct barrier_call b = { pc, 0 };
	pthread_create(&bt, NULL, barrier_thread, &b);

	usleep(50 * 1000);
	ck_assert_int_eq(atomic_load(&b.done), 0);	/* the reader holds it */
	size_t n = 2 * cpu_capacity(pc) + 64;
	void **got = calloc(n, sizeof(void *));
	for (size_t i = 0; i < n; i++) {
		got[i] = pcache_get(pc, PCACHE_WAITOK);
		ck_assert_ptr_nonnull(got[i]);
		ck_assert_ptr_ne(got[i], x);
	}
	pcache_put_bulk(pc, got, n);
	struct pcache_stats s;
	pcache_get_stats(pc, &s);
	ck_assert_uint_eq(s.in_use, 1);		/* x, deferred */

	step_to(&st, 2);
	pthread_join(rt, NULL);
	pthread_join(bt, NULL);
	ck_assert_int_eq(r.changed, 0);
	ck_assert_int_eq(atomic_load(&b.done), 1);
	check_balance(pc, &tc);
	pcache_get_stats(pc, &s);
	ck_assert_uint_eq(s.in_use, 0);
	free(got);
	urcu_memb_unregister_thread();
	pcache_invalidate(pc);
	destroy_balanced(pc, &tc);
}
END_TEST

struct putter {
	pcache_t *pc;
	int rounds;
};

/* put_rcu_rounds: get a few, put them back deferred, again and again. */
static void *
put_rcu_rounds(void *p)
{
	struct putter *w = p;
	void *objs[37];

	urcu_memb_register_thread();
	for (int r = 0; r < w->rounds; r++) {
		for (int i = 0; i < 37; i++)
			objs[i] = pcache_get(w->pc, PCACHE_WAITOK);
		for (int i = 0; i < 37; i++)
			pcache_put_rcu(w->pc, objs[i]);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

/*
 * Deferred puts in flight while another thread invalidates and reclaims:
 * after the barrier every object is back or destructed, the counts
 * balance, and nothing is lost; an object deferred before an
 * invalidation and landing after it is never handed out again.
 */
START_TEST(barrier_lands_everything)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("rcu-barrier", &cfg);
	pthread_t t[3];
	struct putter w = { pc, 300 };

	ck_assert_ptr_nonnull(pc);
	urcu_memb_register_thread();
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, put_rcu_rounds, &w);
	for (int i = 0; i < 50; i++) {
		pcache_invalidate(pc);
		pcache_reclaim(pc);
		usleep(200);
	}
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	pcache_rcu_barrier(pc);
	struct pcache_stats s;
	pcache_get_stats(pc, &s);
	ck_assert_uint_eq(s.in_use, 0);
	check_balance(pc, &tc);

	/* Generation 1 deferred, generation 2 after the invalidation. */
	atomic_store(&tc.gen, 1);
	pcache_invalidate(pc);
	void *old[10];
	for (int i = 0; i < 10; i++) {
		old[i] = pcache_get(pc, PCACHE_WAITOK);
		ck_assert_uint_eq(((struct tobj *)old[i])->gen, 1);
	}
	for (int i = 0; i < 10; i++)
		pcache_put_rcu(pc, old[i]);
	atomic_store(&tc.gen, 2);
	pcache_invalidate(pc);
	pcache_rcu_barrier(pc);
	for (int i = 0; i < 200; i++) {
		struct tobj *o = pcache_get(pc, PCACHE_WAITOK);
		ck_assert_msg(o->gen == 2, "object of generation %u after the "
		    "invalidation", o->gen);
		pcache_put(pc, o);
	}
	check_balance(pc, &tc);
	urcu_memb_unregister_thread();
	pcache_invalidate(pc);
	destroy_balanced(pc, &tc);
}
END_TEST

/* pcache_destroy waits for deferred puts rather than failing. */
START_TEST(destroy_waits_for_deferred_puts)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("rcu-destroy", &cfg);
	void *objs[100];

	ck_assert_ptr_nonnull(pc);
	urcu_memb_register_thread();
	for (int i = 0; i < 100; i++)
		objs[i] = pcache_get(pc, PCACHE_WAITOK);
	for (int i = 0; i < 100; i++)
		pcache_put_rcu(pc, objs[i]);	/* one full batch, one partial */
	urcu_memb_unregister_thread();
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&tc.ctor), 100);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 100);
}
END_TEST

/*
 * Type-safe by RCU: readers follow published pointers inside read-side
 * critical sections while a writer publishes, unpublishes, puts,
 * invalidates and reclaims as fast as it can, with an allocator that
 * unmaps every slab it takes back.  A reader must never fault and never
 * see anything but an object of this cache (alive or destructed: either
 * magic).  Without the flag the reclaim unmaps slabs readers still read.
 */
#define NSLOTS 64

struct ts_world {
	pcache_t *pc;
	_Atomic(struct tobj *) slot[NSLOTS];
	atomic_int stop;
	atomic_uint_fast64_t reads, wrong;
};

static void *
ts_reader(void *p)
{
	struct ts_world *w = p;
	unsigned seed = 7;

	urcu_memb_register_thread();
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		urcu_memb_read_lock();
		for (int k = 0; k < 16; k++) {
			struct tobj *o = atomic_load(&w->slot[rand_r(&seed) % NSLOTS]);
			if (o == NULL)
				continue;
			uint32_t magic = *(volatile uint32_t *)&o->magic;
			if (magic != TOBJ_MAGIC_LIVE && magic != TOBJ_MAGIC_DEAD)
				atomic_fetch_add(&w->wrong, 1);
			atomic_fetch_add_explicit(&w->reads, 1, memory_order_relaxed);
		}
		urcu_memb_read_unlock();
	}
	urcu_memb_unregister_thread();
	return NULL;
}

START_TEST(typesafe_readers_never_see_foreign_memory)
{
	struct tcounts tc = { 0 };
	struct talloc ta = { 0 };
	struct pcache_allocator a = talloc_allocator(&ta, 4096);
	struct pcache_config cfg = tobj_config(256, &tc);
	struct ts_world w = { 0 };
	pthread_t r[2];
	struct timespec end;

	cfg.flags = PCACHE_TYPESAFE_BY_RCU;
	cfg.allocator = &a;
	w.pc = pcache_create("rcu-typesafe", &cfg);
	ck_assert_ptr_nonnull(w.pc);
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, ts_reader, &w);
	end = deadline(1);
	unsigned seed = 3;
	uint64_t rounds = 0;
	while (!past(&end)) {
		for (int i = 0; i < NSLOTS; i++)
			atomic_store(&w.slot[i], pcache_get(w.pc, PCACHE_WAITOK));
		for (int i = 0; i < NSLOTS; i++) {
			struct tobj *o = atomic_exchange(&w.slot[i], NULL);
			pcache_put(w.pc, o);	/* readers may still hold it */
		}
		if (rand_r(&seed) % 2)
			pcache_invalidate(w.pc);
		else
			pcache_invalidate_local(w.pc);
		pcache_reclaim(w.pc);	/* unmaps slabs after a grace period */
		rounds++;
	}
	atomic_store(&w.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	printf("typesafe: %llu rounds, %llu reads, %llu slabs freed\n",
	    (unsigned long long)rounds, (unsigned long long)atomic_load(&w.reads),
	    (unsigned long long)atomic_load(&ta.frees));
	uint64_t wrong = atomic_load(&w.wrong);
	ck_assert_uint_eq(wrong, 0);
	ck_assert_uint_gt(atomic_load(&w.reads), 1000);
	ck_assert_uint_gt(atomic_load(&ta.frees), 10);
	check_balance(w.pc, &tc);
	pcache_invalidate(w.pc);
	destroy_balanced(w.pc, &tc);
	ck_assert_uint_eq(atomic_load(&ta.allocs), atomic_load(&ta.frees));
}
END_TEST

/* write_after_put_rcu: checked mode must catch it when the batch lands. */
static void
write_after_put_rcu(void *arg)
{
	pcache_t *pc = arg;

	urcu_memb_register_thread();
	struct tobj *o = pcache_get(pc, PCACHE_WAITOK);
	fprintf(stderr, "object %p\n", (void *)o);
	pcache_put_rcu(pc, o);
	o->serial ^= 1;			/* too late: it is deferred */
	urcu_memb_unregister_thread();
	pcache_destroy(pc);		/* lands the batch: must abort */
}

/*
 * Checked mode: a write to an object after pcache_put_rcu() is seen when
 * its batch lands (checksum, never poison), and the abort names the cache
 * and the pointer.
 */
START_TEST(checked_mode_catches_write_after_put_rcu)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	cfg.flags = PCACHE_DEBUG;
	pcache_t *pc = pcache_create("rcu-checked", &cfg);
	const char *want[] = { "rcu-checked", "write after pcache_put_rcu", NULL };

	ck_assert_ptr_nonnull(pc);
	expect_abort_output(write_after_put_rcu, pc, want);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

static Suite *
rcu_suite(void)
{
	Suite *s = suite_create("rcu");
	TCase *tc = tcase_create("rcu");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, deferred_put_waits_for_readers);
	tcase_add_test(tc, barrier_lands_everything);
	tcase_add_test(tc, destroy_waits_for_deferred_puts);
	tcase_add_test(tc, typesafe_readers_never_see_foreign_memory);
	tcase_add_test(tc, checked_mode_catches_write_after_put_rcu);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(rcu_suite());
}
