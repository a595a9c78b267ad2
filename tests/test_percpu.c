/*
 * test_percpu.c -- per-CPU slots, magazines and the depot, invalidation
 * across CPUs, with threads pinned to CPUs through the topology layer.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"

struct job {
	unsigned cpu;
	void (*fn)(void *);
	void *arg;
};

static void *
job_main(void *p)
{
	struct job *j = p;

	bind_to(j->cpu);
	j->fn(j->arg);
	return NULL;
}

/* on_cpu: run fn(arg) on a thread pinned to `cpu` and wait for it. */
static void
on_cpu(unsigned cpu, void (*fn)(void *), void *arg)
{
	struct job j = { cpu, fn, arg };
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, job_main, &j), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}

struct batch {
	pcache_t *pc;
	int n;			/* objects to get then put */
	unsigned min_gen;	/* every object got must be at least this new */
	int stale;		/* objects got older than min_gen */
};

/* Get n objects, check their generation, put them all back. */
static void
batch_cycle(void *p)
{
	struct batch *b = p;
	void **objs = calloc((size_t)b->n, sizeof(void *));

	for (int i = 0; i < b->n; i++) {
		struct tobj *o = pcache_get(b->pc, 0);
		ck_assert_ptr_nonnull(o);
		ck_assert_uint_eq(o->magic, TOBJ_MAGIC_LIVE);
		if (o->gen < b->min_gen)
			b->stale++;
		objs[i] = o;
	}
	for (int i = 0; i < b->n; i++)
		pcache_put(b->pc, objs[i]);
	free(objs);
}

static void
do_invalidate_local(void *p)
{
	pcache_invalidate_local(p);
}

START_TEST(magazines_fill_cpu_then_depot)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("fill", &cfg);
	unsigned cpu;
	struct pcache_stats st;

	allowed_cpus(&cpu, 1);
	unsigned m = pc->magsize;
	unsigned c = (unsigned)cpu_capacity(pc);
	/* The locked layer's two magazines hold what the rseq array does. */
	ck_assert_uint_eq(m, pc->rseq ? pc_mag_capacity(64) :
	    pc_lock_mag_capacity(64, pc_mag_capacity(64)));
	ck_assert_uint_ge(c, 2 * m);
	ck_assert_uint_eq(c, pc_cpu_capacity(64, pc_mag_capacity(64)));
	/* Up to the CPU's capacity stays on the CPU; beyond that, the depot. */
	struct batch b = { pc, (int)c, 0, 0 };
	on_cpu(cpu, batch_cycle, &b);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu, c);
	ck_assert_uint_eq(st.cached_depot, 0);
	/* The same, per CPU, through the API; the CPUs add up to the whole. */
	struct pcache_cpu_stats cs;
	uint64_t sum_cached = 0, sum_gets = 0, sum_puts = 0;
	for (unsigned k = 0; k < pcache_cpu_count(); k++) {
		ck_assert_int_eq(pcache_get_cpu_stats(pc, k, &cs), 0);
		sum_cached += cs.cached;
		sum_gets += cs.gets;
		sum_puts += cs.puts;
		ck_assert_uint_le(cs.cached, cs.capacity);
		if (k == cpu) {
			ck_assert_uint_eq(cs.cached, c);
			ck_assert_uint_eq(cs.capacity, c);
			ck_assert_uint_ge(cs.puts, c);	/* all went into its cache */
		}
	}
	ck_assert_uint_eq(sum_cached, st.cached_cpu);
	ck_assert_uint_eq(sum_gets, st.cpu_hits);
	ck_assert_uint_le(sum_puts, st.puts);
	ck_assert_int_eq(pcache_get_cpu_stats(pc, pcache_cpu_count(), &cs), EINVAL);
	ck_assert_int_eq(pcache_get_cpu_stats(NULL, 0, &cs), EINVAL);
	b.n = (int)(c + 3 * m);
	on_cpu(cpu, batch_cycle, &b);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, c + 3 * m);
	ck_assert_uint_eq(st.cached_depot, 3 * m);
	ck_assert_uint_eq(st.depot_full, 3);
	/* A second pass is served from the CPU and the depot, no new ctor. */
	on_cpu(cpu, batch_cycle, &b);
	ck_assert_uint_eq(atomic_load(&tc.ctor), c + 3 * m);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cpu_hits, st.gets - (c + 3 * m));
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

START_TEST(nocpu_goes_through_depot)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	cfg.flags = PCACHE_NOCPU;
	pcache_t *pc = pcache_create("nocpu", &cfg);
	struct pcache_stats st;
	struct batch b = { pc, 500, 0, 0 };

	ck_assert_ptr_null(pc->slots);
	batch_cycle(&b);
	batch_cycle(&b);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cpu_hits, 0);
	ck_assert_uint_eq(st.cached_cpu, 0);
	ck_assert_uint_eq(st.cached_depot, 500);
	ck_assert_uint_eq(st.ctor_calls, 500);
	pcache_invalidate_local(pc);		/* nothing per-CPU to drain */
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_depot, 500);
	pcache_invalidate(pc);
	check_balance(pc, &tc);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 500);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * The pmap_growkernel pattern: the ctor's input changes, the cache is
 * invalidated, and no later get may return an object built from the old
 * input -- on any CPU, with objects left in every CPU's magazines and in
 * the depot.  The control step shows the test can fail: before the
 * invalidation, stale objects are what the cache hands out.
 */
START_TEST(invalidate_after_ctor_input_changes)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(128, &tc);
	pcache_t *pc = pcache_create("growkernel", &cfg);
	unsigned cpus[8];
	unsigned n = allowed_cpus(cpus, 8);
	struct pcache_stats st;

	for (unsigned i = 0; i < n; i++) {
		struct batch b = { pc, (int)(cpu_capacity(pc) + 2 * pc->magsize), 0, 0 };
		on_cpu(cpus[i], batch_cycle, &b);
	}
	pcache_get_stats(pc, &st);
	ck_assert_uint_gt(st.cached_depot, 0);
	ck_assert_uint_ge(st.cached_cpu, n * pc->magsize);

	atomic_store(&tc.gen, 1);
	struct batch control = { pc, 10, 1, 0 };
	on_cpu(cpus[0], batch_cycle, &control);
	ck_assert_int_eq(control.stale, 10);

	pcache_invalidate(pc);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, 0);
	for (unsigned i = 0; i < n; i++) {
		struct batch b = { pc, (int)(cpu_capacity(pc) + 2 * pc->magsize), 1, 0 };
		on_cpu(cpus[i], batch_cycle, &b);
		ck_assert_int_eq(b.stale, 0);
	}
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * invalidate_local drains the caller's CPU only: the other CPU keeps its
 * constructed objects (handed out again without a ctor call) and the depot
 * keeps its magazines.
 */
START_TEST(invalidate_local_drains_only_caller_cpu)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("local", &cfg);
	unsigned cpus[2];
	unsigned n = allowed_cpus(cpus, 2);
	struct pcache_stats st;
	int k0 = 10, k1 = 7;

	if (n < 2) {
		/* One CPU: the local drain must still empty it, depot kept. */
		struct batch b = { pc, (int)(cpu_capacity(pc) + 3 * pc->magsize), 0, 0 };
		on_cpu(cpus[0], batch_cycle, &b);
		pcache_get_stats(pc, &st);
		uint64_t depot = st.cached_depot;
		on_cpu(cpus[0], do_invalidate_local, pc);
		pcache_get_stats(pc, &st);
		ck_assert_uint_eq(st.cached_cpu, 0);
		ck_assert_uint_eq(st.cached_depot, depot);
		ck_assert_uint_gt(depot, 0);
		check_balance(pc, &tc);
		ck_assert_int_eq(pcache_destroy(pc), 0);
		return;
	}
	struct batch b0 = { pc, k0, 0, 0 }, b1 = { pc, k1, 0, 0 };
	on_cpu(cpus[0], batch_cycle, &b0);
	on_cpu(cpus[1], batch_cycle, &b1);
	/* Put a few magazines in the depot too, via the first CPU. */
	struct batch big = { pc, (int)(cpu_capacity(pc) + 2 * pc->magsize), 0, 0 };
	on_cpu(cpus[0], batch_cycle, &big);
	pcache_get_stats(pc, &st);
	uint64_t cpu_before = st.cached_cpu, depot_before = st.cached_depot;
	uint64_t on_cpu0 = cpu_cached(pc, cpus[0]);
	ck_assert_uint_eq(cpu_cached(pc, cpus[1]), (uint64_t)k1);
	ck_assert_uint_gt(depot_before, 0);

	on_cpu(cpus[0], do_invalidate_local, pc);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu, cpu_before - on_cpu0);
	ck_assert_uint_eq(st.cached_cpu, (uint64_t)k1);
	ck_assert_uint_eq(st.cached_depot, depot_before);
	ck_assert_uint_eq(atomic_load(&tc.dtor), on_cpu0);

	/* CPU 1's objects come back constructed, no ctor call. */
	uint64_t ctors = atomic_load(&tc.ctor);
	on_cpu(cpus[1], batch_cycle, &b1);
	ck_assert_uint_eq(atomic_load(&tc.ctor), ctors);
	on_cpu(cpus[1], do_invalidate_local, pc);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu, 0);
	ck_assert_uint_eq(st.cached_depot, depot_before);
	check_balance(pc, &tc);
	pcache_invalidate(pc);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

struct holder {
	pcache_t *pc;
	atomic_int phase;
};

/* Hold our CPU's slot, as a preempted thread or a remote drainer would. */
static void *
slot_squatter(void *p)
{
	struct holder *h = p;
	pcache_t *pc = h->pc;
	unsigned cpu;

	allowed_cpus(&cpu, 1);
	bind_to(cpu);
	slot_hold(pc, cpu);
	atomic_store(&h->phase, 1);
	while (atomic_load(&h->phase) != 2)
		sched_yield();
	slot_release(pc, cpu);
	return NULL;
}

struct drainer {
	pcache_t *pc;
	atomic_int done;
};

static void *
local_drainer(void *p)
{
	struct drainer *d = p;
	unsigned cpu;

	allowed_cpus(&cpu, 1);
	bind_to(cpu);
	pcache_invalidate_local(d->pc);
	atomic_store(&d->done, 1);
	return NULL;
}

/*
 * A busy slot: gets and puts divert to the depot instead of waiting, and
 * invalidate_local waits for the holder to leave, then drains.
 */
START_TEST(busy_slot_diverts_and_local_drain_waits)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("busy", &cfg);
	struct holder h = { pc, 0 };
	struct drainer d = { pc, 0 };
	unsigned cpu;
	pthread_t sq, dr;
	struct pcache_stats st;

	allowed_cpus(&cpu, 1);
	struct batch b = { pc, 5, 0, 0 };
	on_cpu(cpu, batch_cycle, &b);		/* 5 cached on the CPU */
	pthread_create(&sq, NULL, slot_squatter, &h);
	while (atomic_load(&h.phase) != 1)
		sched_yield();
	/* Slot busy: a get/put on that CPU goes through the depot. */
	b.n = 3;
	on_cpu(cpu, batch_cycle, &b);
	ck_assert_uint_eq(pc->depot->loose->n, 3);
	pthread_create(&dr, NULL, local_drainer, &d);
	usleep(50 * 1000);
	ck_assert_int_eq(atomic_load(&d.done), 0);	/* waits for the holder */
	atomic_store(&h.phase, 2);
	pthread_join(sq, NULL);
	pthread_join(dr, NULL);
	ck_assert_int_eq(atomic_load(&d.done), 1);
	pcache_get_stats(pc, &st);
	ck_assert_uint_eq(st.cached_cpu, 0);
	ck_assert_uint_eq(st.cached_depot, 3);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/* depot_traffic: objects that crossed between the CPUs and the depot. */
static uint64_t
depot_traffic(pcache_t *pc)
{
	struct pcache_stats st;

	pcache_get_stats(pc, &st);
	uint64_t n = st.gets + st.puts - 2 * st.cpu_hits;	/* locked layer */
#ifdef PC_RSEQ_ARCH
	if (pc->rseq) {
		n = 0;
		for (unsigned i = 0; i < pc->ncpu; i++) {
			pc_rslot_t *s = (pc_rslot_t *)(pc->rslots +
			    (size_t)i * pc->rstride);
			n += atomic_load(&s->refilled) + atomic_load(&s->taken);
		}
	}
#endif
	return n;
}

struct rounds {
	pcache_t *pc;
	int n, rounds;
	uint64_t first, last;	/* depot traffic of the first and last rounds */
};

/* rounds_run: `rounds` batch cycles of n objects on this CPU. */
static void
rounds_run(void *p)
{
	struct rounds *r = p;
	struct batch b = { r->pc, r->n, 0, 0 };

	for (int i = 0; i < r->rounds; i++) {
		uint64_t before = depot_traffic(r->pc);
		batch_cycle(&b);
		uint64_t moved = depot_traffic(r->pc) - before;
		if (i == 0)
			r->first = moved;
		if (i >= r->rounds - 10)
			r->last += moved;
	}
}

/*
 * Adaptive capacity: batches three times larger than a CPU's initial
 * capacity at first cross the depot a magazine at a time; the rseq layer
 * grows the CPU's array until they stay on it, so the last ten rounds
 * together move at least ten times fewer objects through the depot than
 * the first round alone.  Idle, the capacity shrinks back at reclaims and
 * the memory goes.  The locked layer's capacity is fixed (and reported).
 */
START_TEST(capacity_adapts_to_batches)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("adapt", &cfg);
	struct pcache_stats st;
	unsigned cpu;

	ck_assert_ptr_nonnull(pc);
	allowed_cpus(&cpu, 1);
	pcache_get_stats(pc, &st);
	uint64_t cap0 = st.cpu_capacity;
	ck_assert_uint_eq(cap0, (uint64_t)pc->ncpu * cpu_capacity(pc));
	ck_assert_uint_ge(st.cpu_capacity_max, cap0);
	if (!pc->rseq) {
		ck_assert_uint_eq(st.cpu_capacity_max, cap0);
		check_balance(pc, &tc);
		ck_assert_int_eq(pcache_destroy(pc), 0);
		return;
	}
	struct rounds r = { pc, 3 * (int)cpu_capacity(pc), 200, 0, 0 };
	on_cpu(cpu, rounds_run, &r);
	pcache_get_stats(pc, &st);
	printf("adaptive capacity: first round %llu objects via the depot, "
	    "last ten rounds %llu; capacity %llu -> %llu (max %llu)\n",
	    (unsigned long long)r.first, (unsigned long long)r.last,
	    (unsigned long long)cap0, (unsigned long long)st.cpu_capacity,
	    (unsigned long long)st.cpu_capacity_max);
	ck_assert_uint_gt(st.cpu_capacity, cap0);
	ck_assert_uint_le(st.cpu_capacity, st.cpu_capacity_max);
	ck_assert_uint_gt(r.first, 0);
	ck_assert_uint_le(10 * r.last, r.first);
	uint64_t peak = st.bytes;

	/* Idle: the capacity and the memory come back over a few reclaims. */
	for (int i = 0; i < 8; i++)
		pcache_reclaim(pc);
	pcache_get_stats(pc, &st);
	printf("after 8 idle reclaims: capacity %llu, %llu cached on CPUs, "
	    "%llu bytes (peak %llu)\n", (unsigned long long)st.cpu_capacity,
	    (unsigned long long)st.cached_cpu, (unsigned long long)st.bytes,
	    (unsigned long long)peak);
	ck_assert_uint_eq(st.cpu_capacity, cap0);
	ck_assert_uint_le(st.cached_cpu, cpu_capacity(pc));
	ck_assert_uint_lt(2 * st.bytes, peak);
	check_balance(pc, &tc);
	pcache_invalidate(pc);
	destroy_balanced(pc, &tc);
}
END_TEST

static Suite *
percpu_suite(void)
{
	Suite *s = suite_create("percpu");
	TCase *tc = tcase_create("percpu");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, magazines_fill_cpu_then_depot);
	tcase_add_test(tc, capacity_adapts_to_batches);
	tcase_add_test(tc, nocpu_goes_through_depot);
	tcase_add_test(tc, invalidate_after_ctor_input_changes);
	tcase_add_test(tc, invalidate_local_drains_only_caller_cpu);
	tcase_add_test(tc, busy_slot_diverts_and_local_drain_waits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(percpu_suite());
}
