/*
 * test_degrade.c -- the library where the system lacks a feature it
 * prefers: each run forces one case and checks that caches take the
 * slower path, say so in pcache_stats.degraded (and pcache_dump()), and
 * keep every invariant under a multi-threaded workload of gets, puts,
 * bulk calls, invalidations and reclaims.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Built against the test-only library (PCACHE_FAULT_INJECTION), whose
 * PCACHE_FAULT_SYS makes membarrier(), sched_getcpu() or hwloc fail, or
 * the slots too few (lib/degrade.h).  The one argument names the case;
 * tests/meson.build sets the environment that forces it:
 *   none           nothing forced: no bit may be set
 *   rseq-tunable   GLIBC_TUNABLES=glibc.pthread.rseq=0: glibc registers
 *                  no struct rseq, the library must register its own (or,
 *                  where the kernel has none, take the locked layer)
 *   no-rseq        PCACHE_FAULT_SYS=no-rseq with the tunable: no
 *                  struct rseq at all, as on a kernel without rseq: the
 *                  locked layer
 *   no-membarrier  PCACHE_FAULT_SYS=no-membarrier: the locked layer
 *   no-getcpu      PCACHE_FAULT_SYS=no-getcpu: a stable slot per thread
 *   cpu-beyond     PCACHE_FAULT_SYS=slots=1: CPUs from 1 on are past
 *                  the slots, as after a hot-add
 *   cpuset         the test narrows its own affinity to one CPU before
 *                  any cache exists (or runs under taskset): per-CPU
 *                  figures only on allowed CPUs
 *   no-topology    PCACHE_FAULT_SYS=no-topology: slots from sysconf(),
 *                  binding through the affinity calls, no NUMA node
 * PCACHE_RSEQ=0 in the environment as well (the "-locked" runs) puts the
 * case on the locked layer by choice, which is not itself a degradation.
 */
#include <pthread.h>
#include <sys/syscall.h>
#ifdef PCACHE_HAVE_RSEQ
#include <sys/rseq.h>
#endif
#ifdef SYS_membarrier
#include <linux/membarrier.h>
#endif

#include "testutil.h"

enum { NTHREADS = 4, ITERS = 20000, BATCH = 16, MAXCPU = 1024 };

static const char *mode = "none";

/* mode_is: whether this run forces case m. */
static bool
mode_is(const char *m)
{
	return strcmp(mode, m) == 0;
}

/* rseq_chosen_off: whether the environment turned the rseq layer off. */
PC_UNUSED static bool
rseq_chosen_off(void)
{
	const char *e = getenv("PCACHE_RSEQ");

	return e != NULL && strcmp(e, "0") == 0;
}

/*
 * expected_layer_bits: the bits a cache that would use restartable
 * sequences must show, from what this build and kernel have; sets
 * *fastpath to the layer it must get.
 */
static unsigned
expected_layer_bits(unsigned *fastpath)
{
	*fastpath = PCACHE_FASTPATH_LOCK;
#ifdef PC_RSEQ_ARCH
	if (rseq_chosen_off())
		return 0;
	/* The kernel's rseq: EINVAL for this bad call, ENOSYS without. */
	errno = 0;
	if (mode_is("no-rseq") ||
	    (syscall(SYS_rseq, NULL, 0, 0, 0) == -1 && errno == ENOSYS))
		return PCACHE_DEGRADED_NO_RSEQ;
	int q = (int)syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (mode_is("no-membarrier") || q < 0 ||
	    (q & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ) == 0)
		return PCACHE_DEGRADED_NO_MEMBARRIER;
	*fastpath = PCACHE_FASTPATH_RSEQ;
#endif
	return 0;
}

/* expected_process_bits: the bits every cache shows before any call. */
static unsigned
expected_process_bits(void)
{
	if (mode_is("no-getcpu"))
		return PCACHE_DEGRADED_NO_GETCPU;
	if (mode_is("no-topology"))
		return PCACHE_DEGRADED_NO_TOPOLOGY;
	return 0;
}

/* beyond_cpu: an allowed CPU at or above the slot count, or -1. */
static int
beyond_cpu(void)
{
	unsigned cpus[MAXCPU];
	int n = pc_topo_allowed_cpus(cpus, MAXCPU);

	for (int i = 0; i < n && i < MAXCPU; i++) {
		if (cpus[i] >= pcache_cpu_count())
			return (int)cpus[i];
	}
	return -1;
}

/* affinity: the CPUs the calling thread may run on, as a mask. */
static cpu_set_t
affinity(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	return set;
}

/*
 * narrow_affinity: the cpuset case: leave the process (this thread and
 * the threads it creates) one CPU, the highest it may use, so that a
 * slot other than 0 is the only one in use.  Under taskset with a single
 * CPU already, nothing changes.
 */
static void
narrow_affinity(void)
{
	cpu_set_t set = affinity(), one;
	int last = -1;

	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (CPU_ISSET(cpu, &set))
			last = cpu;
	}
	ck_assert_int_ge(last, 0);
	CPU_ZERO(&one);
	CPU_SET(last, &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	ck_assert_int_eq(sched_getcpu(), last);
}

/* An object whose owner flag catches an object handed out twice. */
struct dobj {
	struct tobj t;
	atomic_int owned;
};

/* dobj_ctor: tobj_ctor(), and the object starts unowned. */
static int
dobj_ctor(void *arg, void *obj, int flags)
{
	int error = tobj_ctor(arg, obj, flags);

	if (error == 0)
		atomic_init(&((struct dobj *)obj)->owned, 0);
	return error;
}

/* dobj_cache: a cache of dobj objects counted in *tc, with `flags`. */
static pcache_t *
dobj_cache(const char *name, struct tcounts *tc, unsigned flags)
{
	struct pcache_config cfg = tobj_config(sizeof(struct dobj), tc);

	cfg.ctor = dobj_ctor;
	cfg.flags = flags;
	pcache_t *pc = pcache_create(name, &cfg);
	ck_assert_ptr_nonnull(pc);
	return pc;
}

/* dump_text: pcache_dump()'s output for pc, in a static buffer. */
static const char *
dump_text(pcache_t *pc)
{
	static char buf[16384];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	ck_assert_ptr_nonnull(f);
	pcache_dump(f, pc);
	fclose(f);
	return buf;
}

/*
 * check_reported: pc's figures say `bits`, exactly, and the dump names
 * each of them on its "degraded:" line (and has none without bits).
 */
static void
check_reported(pcache_t *pc, unsigned bits)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ PCACHE_DEGRADED_NO_RSEQ, "NO_RSEQ" },
		{ PCACHE_DEGRADED_NO_MEMBARRIER, "NO_MEMBARRIER" },
		{ PCACHE_DEGRADED_NO_GETCPU, "NO_GETCPU" },
		{ PCACHE_DEGRADED_CPU_BEYOND, "CPU_BEYOND" },
		{ PCACHE_DEGRADED_NO_TOPOLOGY, "NO_TOPOLOGY" },
	};
	struct pcache_stats st;

	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	ck_assert_msg(st.degraded == bits, "mode %s: degraded %#x, expected %#x",
	    mode, st.degraded, bits);
	const char *text = dump_text(pc);
	const char *line = strstr(text, "  degraded:");
	ck_assert_msg((line != NULL) == (bits != 0), "dump: %s", text);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bool named = line != NULL && strstr(line, names[i].name) != NULL;
		ck_assert_msg(named == ((bits & names[i].bit) != 0),
		    "dump, %s: %s", names[i].name, text);
	}
}

/*
 * The forced case shows in the stats of a cache with a per-CPU layer and
 * of one without (whose missing layer is a choice: no rseq bit), on the
 * layer it must take; a caller compiled before `degraded` never sees it.
 */
START_TEST(reports_degraded)
{
	struct tcounts tc = { 0 }, tc2 = { 0 };
	unsigned fastpath, layer_bits = expected_layer_bits(&fastpath);

	if (mode_is("cpuset"))
		narrow_affinity();
	pcache_t *pc = dobj_cache("degrade-report", &tc, 0);
	pcache_t *nocpu = dobj_cache("degrade-nocpu", &tc2, PCACHE_NOCPU);
	struct pcache_stats st;

	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	ck_assert_uint_eq(st.fastpath, fastpath);
	check_reported(pc, layer_bits | expected_process_bits());
	ck_assert_int_eq(pcache_get_stats(nocpu, &st), 0);
	ck_assert_uint_eq(st.fastpath, PCACHE_FASTPATH_NONE);
	check_reported(nocpu, expected_process_bits());

	/* The struct's earlier version: the bytes past it stay the caller's. */
	memset(&st, 0xa5, sizeof(st));
	ck_assert_int_eq(pcache_get_stats_sized(pc, &st,
	    offsetof(struct pcache_stats, degraded)), 0);
	ck_assert_uint_eq(st.degraded, 0xa5a5a5a5u);
	ck_assert_uint_eq(st.fastpath, fastpath);

	void *o = pcache_get(pc, PCACHE_WAITOK);
	ck_assert_ptr_nonnull(o);
	pcache_put(pc, o);
	check_balance(pc, &tc);
	ck_assert_int_eq(pcache_destroy(pc), 0);
	destroy_balanced(nocpu, &tc);
}
END_TEST

/*
 * GLIBC_TUNABLES=glibc.pthread.rseq=0 took effect (glibc registered
 * nothing) and, where rseq is built in and the kernel has it, the cache
 * still got the rseq layer through the library's own struct rseq.
 */
START_TEST(tunable_own_rseq)
{
	struct tcounts tc = { 0 };
	unsigned fastpath;

	(void)expected_layer_bits(&fastpath);
#ifdef PCACHE_HAVE_RSEQ
	ck_assert_uint_eq(__rseq_size, 0);
#endif
	pcache_t *pc = dobj_cache("degrade-tunable", &tc, 0);
	ck_assert_uint_eq(pc->rseq, fastpath == PCACHE_FASTPATH_RSEQ);
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		ck_assert(pc_rseq_off != __rseq_offset);	/* our own area */
#endif
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * Without hwloc's topology: at least as many slots as configured
 * processors, every allowed CPU below the count and bindable, no NUMA
 * node known.
 */
START_TEST(topology_fallback)
{
	unsigned cpus[MAXCPU];
	long conf = sysconf(_SC_NPROCESSORS_CONF);
	unsigned n = allowed_cpus(cpus, MAXCPU);

	ck_assert_uint_ge(pcache_cpu_count(), conf > 1 ? (unsigned)conf : 1);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_uint_lt(cpus[i], pcache_cpu_count());
		ck_assert_int_eq(pc_topo_cpu_node(cpus[i]), -1);
		bind_to(cpus[i]);
	}
	ck_assert_int_eq(pc_topo_bind_thread(MAXCPU * 64), EINVAL);
	ck_assert_int_eq(pc_topo_unbind_thread(), 0);
}
END_TEST

/*
 * Without sched_getcpu() a thread keeps one slot (pc_cpu_current() gives
 * the same answer each time), and threads are dealt different slots
 * rather than all slot 0.
 */
struct slot_probe {
	pcache_t *pc;
	unsigned slot;
	bool stable;
};

/* slot_thread: note the thread's slot, then ask again, yielding between. */
static void *
slot_thread(void *p)
{
	struct slot_probe *sp = p;

	sp->slot = pc_cpu_current(sp->pc);
	sp->stable = true;
	for (int i = 0; i < 100; i++) {
		if (i % 10 == 0)
			sched_yield();
		sp->stable &= pc_cpu_current(sp->pc) == sp->slot;
	}
	return NULL;
}

START_TEST(getcpu_fallback_stable)
{
	struct tcounts tc = { 0 };
	pcache_t *pc = dobj_cache("degrade-getcpu", &tc, 0);
	struct slot_probe sp[NTHREADS];
	pthread_t t[NTHREADS];
	bool used[MAXCPU] = { false };
	unsigned distinct = 0, ncpu = pcache_cpu_count(), fastpath;

	ck_assert_int_eq(pc_getcpu(), -1);
	for (int i = 0; i < NTHREADS; i++) {
		sp[i] = (struct slot_probe){ .pc = pc };
		pthread_create(&t[i], NULL, slot_thread, &sp[i]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert(sp[i].stable);
		ck_assert_uint_lt(sp[i].slot, ncpu);
		if (sp[i].slot < MAXCPU && !used[sp[i].slot]) {
			used[sp[i].slot] = true;
			distinct++;
		}
	}
	ck_assert_uint_eq(distinct, ncpu < NTHREADS ? ncpu : NTHREADS);
	check_reported(pc, PCACHE_DEGRADED_NO_GETCPU |
	    expected_layer_bits(&fastpath));
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/* The workload: NTHREADS of these, and the checks after them. */
struct world {
	pcache_t *pc;
	unsigned cpus[MAXCPU];	/* allowed CPUs, for the cpu-beyond case */
	unsigned ncpus;
	atomic_uint errors;	/* a get failed, or an object was not live */
	atomic_uint dups;	/* an object handed out to two holders */
	atomic_uint ran_beyond;	/* a worker ran on a CPU past the slots */
};

struct worker {
	struct world *w;
	unsigned id;
};

/* take: claim an object just handed out; it must be live and unowned. */
static void
take(struct world *w, struct dobj *o)
{
	if (o == NULL || o->t.magic != TOBJ_MAGIC_LIVE) {
		atomic_fetch_add(&w->errors, 1);
		return;
	}
	int zero = 0;
	if (!atomic_compare_exchange_strong(&o->owned, &zero, 1))
		atomic_fetch_add(&w->dups, 1);
}

/* give: release an object before it is put back. */
static void
give(struct world *w, struct dobj *o)
{
	int one = 1;

	if (!atomic_compare_exchange_strong(&o->owned, &one, 0))
		atomic_fetch_add(&w->dups, 1);
}

/*
 * worker: ITERS rounds of getting up to BATCH objects (singly or in
 * bulk), claiming them, putting them back (singly or in bulk), with
 * invalidations and reclaims mixed in; in the cpu-beyond case it moves
 * over the allowed CPUs, slotted or not.  Errors are counted, not
 * asserted: Check's assertions belong to the main thread.
 */
static void *
worker(void *p)
{
	struct worker *wk = p;
	struct world *w = wk->w;
	void *objs[BATCH];
	unsigned seed = wk->id * 7919 + 1;

	for (unsigned it = 0; it < ITERS; it++) {
		if (mode_is("cpu-beyond") && it % 64 == 0) {
			unsigned cpu = w->cpus[(it / 64 + wk->id) % w->ncpus];
			if (pc_topo_bind_thread(cpu) == 0 &&
			    cpu >= pcache_cpu_count())
				atomic_store(&w->ran_beyond, 1);
		}
		size_t k = 1 + (size_t)rand_r(&seed) % BATCH;
		bool bulk = (it & 1) != 0;
		if (bulk) {
			if (pcache_get_bulk(w->pc, objs, k, PCACHE_WAITOK) != 0) {
				atomic_fetch_add(&w->errors, 1);
				continue;
			}
		} else {
			for (size_t j = 0; j < k; j++)
				objs[j] = pcache_get(w->pc, PCACHE_WAITOK);
		}
		for (size_t j = 0; j < k; j++)
			take(w, objs[j]);
		if (wk->id == 0 && it % 64 == 0)
			pcache_invalidate(w->pc);
		if (wk->id == 1 && it % 97 == 0)
			pcache_invalidate_local(w->pc);
		if (wk->id == 2 && it % 128 == 0)
			pcache_reclaim(w->pc);
		for (size_t j = 0; j < k; j++) {
			if (objs[j] != NULL)
				give(w, objs[j]);
		}
		if (bulk)
			pcache_put_bulk(w->pc, objs, k);
		else {
			for (size_t j = 0; j < k; j++)
				pcache_put(w->pc, objs[j]);
		}
	}
	return NULL;
}

/*
 * check_cpus_allowed: every CPU slot with figures is one the process may
 * run on (the cpuset case), and some slot has them.
 */
static void
check_cpus_allowed(pcache_t *pc, const cpu_set_t *allowed)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < pcache_cpu_count(); i++) {
		struct pcache_cpu_stats cs;
		ck_assert_int_eq(pcache_get_cpu_stats(pc, i, &cs), 0);
		uint64_t traffic = cs.gets + cs.puts + cs.cached;
		if (i >= CPU_SETSIZE || !CPU_ISSET(i, allowed))
			ck_assert_msg(traffic == 0, "cpu %u not allowed but has "
			    "%llu gets, %llu puts, %llu cached", i,
			    (unsigned long long)cs.gets, (unsigned long long)cs.puts,
			    (unsigned long long)cs.cached);
		total += traffic;
	}
	ck_assert_uint_gt(total, 0);
}

/*
 * The workload on the forced case: no failed get, no object handed out
 * twice or dead, the figures balanced, nothing left after an
 * invalidation, every constructed object destructed once at destroy,
 * and the stats saying what the case must say.
 */
START_TEST(workload_invariants)
{
	struct tcounts tc = { 0 };
	struct world w = { 0 };
	struct worker wk[NTHREADS];
	pthread_t t[NTHREADS];
	unsigned fastpath, bits = expected_layer_bits(&fastpath);

	if (mode_is("cpuset"))
		narrow_affinity();
	cpu_set_t allowed = affinity();
	w.ncpus = allowed_cpus(w.cpus, MAXCPU);
	w.pc = dobj_cache("degrade-work", &tc, 0);
	for (unsigned i = 0; i < NTHREADS; i++) {
		wk[i] = (struct worker){ &w, i };
		pthread_create(&t[i], NULL, worker, &wk[i]);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);

	ck_assert_uint_eq(atomic_load(&w.errors), 0);
	ck_assert_uint_eq(atomic_load(&w.dups), 0);
	check_balance(w.pc, &tc);
	struct pcache_stats st;
	ck_assert_int_eq(pcache_get_stats(w.pc, &st), 0);
	ck_assert_uint_eq(st.in_use, 0);
	ck_assert_uint_eq(st.gets, st.puts);
	ck_assert_uint_eq(st.fastpath, fastpath);
	bits |= expected_process_bits();
	if (mode_is("cpu-beyond")) {
		ck_assert_uint_eq(pcache_cpu_count(), 1);
		/* On one CPU nothing can run past the single slot. */
		if (beyond_cpu() >= 0) {
			ck_assert_uint_eq(atomic_load(&w.ran_beyond), 1);
			bits |= PCACHE_DEGRADED_CPU_BEYOND;
		}
	}
	check_reported(w.pc, bits);
	if (mode_is("cpuset"))
		check_cpus_allowed(w.pc, &allowed);

	pcache_invalidate(w.pc);
	ck_assert_int_eq(pcache_get_stats(w.pc, &st), 0);
	ck_assert_uint_eq(st.cached_cpu + st.cached_depot, 0);
	check_balance(w.pc, &tc);
	destroy_balanced(w.pc, &tc);
}
END_TEST

static Suite *
degrade_suite(void)
{
	Suite *s = suite_create("degrade");
	TCase *tc = tcase_create("degrade");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reports_degraded);
	tcase_add_test(tc, workload_invariants);
	if (mode_is("rseq-tunable"))
		tcase_add_test(tc, tunable_own_rseq);
	if (mode_is("no-topology"))
		tcase_add_test(tc, topology_fallback);
	if (mode_is("no-getcpu"))
		tcase_add_test(tc, getcpu_fallback_stable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(int argc, char **argv)
{
	static const char *const modes[] = { "none", "rseq-tunable", "no-rseq",
	    "no-membarrier", "no-getcpu", "cpu-beyond", "cpuset",
	    "no-topology" };

	if (argc > 1)
		mode = argv[1];
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (mode_is(modes[i]))
			return run_suite(degrade_suite());
	}
	fprintf(stderr, "test_degrade: unknown case '%s'\n", mode);
	return 2;
}
