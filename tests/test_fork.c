/*
 * test_fork.c -- fork() while other threads are inside the caches.  The
 * child inherits every cache but none of the threads; any lock one of them
 * held at the instant of the fork (a CPU slot, the depot, the slab layer,
 * the drain lock, the page map's lock) would stay held in the child for
 * ever.  The child therefore uses every cache in every way -- gets and
 * puts, bulk calls, invalidation of all CPUs and of its own, statistics,
 * destroy -- under alarm(), so that such a deadlock fails the test
 * instead of hanging it, and checks that the caches' accounting survived.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * PCACHE_FORK_COUNT sets the forks per test (default 100).
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objstate.h"
#include "testutil.h"

#define NCACHES		3
#define NWORKERS	3
#define HELD_MAX	48	/* per worker and cache */
#define CHILD_SECONDS	10	/* a child still running then is deadlocked */
#define CHILD_GETS	200

/*
 * An object: its state word, changed with compare-and-swap on every get,
 * put, ctor and dtor, and words the holder fills with a pattern of its own.
 */
struct fobj {
	atomic_uint state;
	uint32_t owner;
	uint64_t words[7];
};

struct fcache {
	pcache_t *pc;
	struct talloc ta;
	struct pcache_allocator a;
	atomic_uint_fast64_t ctor, dtor;
	size_t hardlimit;
};

/*
 * A worker publishes what it holds, for a child of fork(): an object is
 * recorded after its get returned and unrecorded before its put is
 * called, so every recorded object is one handed out and not put back.
 */
struct worker {
	unsigned id;
	unsigned seed;
	void *held[NCACHES][HELD_MAX];
	atomic_uint nheld[NCACHES];
};

static struct {
	struct fcache c[NCACHES];
	struct worker wk[NWORKERS];
	atomic_int stop;
	struct ostate os;	/* every object's state moves, and the errors */
	atomic_uint_fast64_t ops;
	unsigned ncpu;
	unsigned cpus[64];
} W;

/* report: count an error, printing the first few. */
static void
report(const char *what, const void *obj)
{
	ostate_report(&W.os, what, obj);
}

/* f_ctor, f_dtor: move the state word (objstate.h), counting per cache. */
static int
f_ctor(void *arg, void *obj, int flags)
{
	struct fcache *c = arg;

	atomic_fetch_add(&c->ctor, 1);
	return ostate_ctor(&W.os, obj, flags);
}

static void
f_dtor(void *arg, void *obj)
{
	struct fcache *c = arg;

	ostate_dtor(&W.os, obj);
	atomic_fetch_add(&c->dtor, 1);
}

/* word: what holder `owner` writes into word i of object o. */
static uint64_t
word(const struct fobj *o, uint32_t owner, unsigned i)
{
	return ((uint64_t)owner << 32 | i) ^ (uint64_t)(uintptr_t)o;
}

/* took: the object just came from a cache; mark it ours and fill it. */
static void
took(struct fobj *o, uint32_t owner)
{
	ostate_took(&W.os, o);
	o->owner = owner;
	for (unsigned i = 0; i < 7; i++)
		o->words[i] = word(o, owner, i);
}

/* giving: the object is about to go back; check it and mark it cached. */
static void
giving(struct fobj *o, uint32_t owner)
{
	if (o->owner != owner)
		report("object changed hands while in use", o);
	for (unsigned i = 0; i < 7; i++) {
		if (o->words[i] != word(o, owner, i)) {
			report("object in use was overwritten", o);
			break;
		}
	}
	ostate_giving(&W.os, o);
}

/* ---- the parent's threads ---------------------------------------------- */

/* record, unrecord: publish an object held, or take the last one back. */
static void
record(struct worker *wk, unsigned k, void *o)
{
	unsigned n = atomic_load_explicit(&wk->nheld[k], memory_order_relaxed);

	wk->held[k][n] = o;
	/* Release: the entry is written before the count that covers it. */
	atomic_store_explicit(&wk->nheld[k], n + 1, memory_order_release);
}

static void *
unrecord(struct worker *wk, unsigned k)
{
	unsigned n = atomic_load_explicit(&wk->nheld[k], memory_order_relaxed) - 1;

	atomic_store_explicit(&wk->nheld[k], n, memory_order_release);
	return wk->held[k][n];
}

/*
 * worker_main: get and put at random on every cache, one object or a
 * bulk at a time, moving between CPUs now and then, so that at any
 * instant some worker is likely inside some cache's locks.
 */
static void *
worker_main(void *p)
{
	struct worker *wk = p;
	unsigned seed = wk->seed;
	uint32_t me = wk->id + 1;
	uint64_t ops = 0;

	while (!atomic_load_explicit(&W.stop, memory_order_relaxed)) {
		unsigned r = (unsigned)rand_r(&seed);
		unsigned k = (r >> 8) % NCACHES;
		pcache_t *pc = W.c[k].pc;
		unsigned n = atomic_load_explicit(&wk->nheld[k], memory_order_relaxed);

		if ((r & 511) == 0)
			(void)pc_topo_bind_thread(W.cpus[(r >> 12) % W.ncpu]);
		if ((r & 15) == 0 && n + 8 <= HELD_MAX) {
			void *objs[8];
			if (pcache_get_bulk(pc, objs, 8, PCACHE_NOWAIT) == 0) {
				for (unsigned i = 0; i < 8; i++) {
					took(objs[i], me);
					record(wk, k, objs[i]);
				}
			}
		} else if ((r & 15) == 1 && n >= 8) {
			void *objs[8];
			for (unsigned i = 0; i < 8; i++) {
				objs[i] = unrecord(wk, k);
				giving(objs[i], me);
			}
			pcache_put_bulk(pc, objs, 8);
		} else if ((r & 2) && n < HELD_MAX) {
			struct fobj *o = pcache_get(pc, PCACHE_NOWAIT);
			if (o != NULL) {
				took(o, me);
				record(wk, k, o);
			} else if (errno != EAGAIN || W.c[k].hardlimit == 0)
				report("get failed", NULL);
		} else if (n > 0) {
			struct fobj *o = unrecord(wk, k);
			giving(o, me);
			pcache_put(pc, o);
		}
		ops++;
	}
	for (unsigned k = 0; k < NCACHES; k++) {
		while (atomic_load(&wk->nheld[k]) > 0) {
			struct fobj *o = unrecord(wk, k);
			giving(o, me);
			pcache_put(W.c[k].pc, o);
		}
	}
	atomic_fetch_add(&W.ops, ops);
	return NULL;
}

/*
 * sweeper_main: the calls that take every lock of a cache -- invalidate,
 * destroy's cousin get_stats, reclaim -- and invalidate_local, without
 * pause, so that forks land while they hold them.
 */
static void *
sweeper_main(void *p)
{
	unsigned seed = 777;

	(void)p;
	while (!atomic_load_explicit(&W.stop, memory_order_relaxed)) {
		unsigned r = (unsigned)rand_r(&seed);
		pcache_t *pc = W.c[(r >> 8) % NCACHES].pc;
		struct pcache_stats st;

		switch (r % 5) {
		case 0:
			pcache_invalidate(pc);
			break;
		case 1:
			pcache_invalidate_local(pc);
			break;
		case 2:
			pcache_reclaim(pc);
			break;
		case 3:
			pcache_get_stats(pc, &st);
			break;
		default:
			(void)pc_topo_bind_thread(W.cpus[(r >> 12) % W.ncpu]);
			break;
		}
	}
	return NULL;
}

/* ---- the child ---------------------------------------------------------- */

/*
 * child_exit: end the child at once.  Not _exit(): ThreadSanitizer hooks
 * it and would report the parent's threads, which the child never had to
 * join, as leaked, and change the status.
 */
static void __attribute__((noreturn))
child_exit(int status)
{
	syscall(SYS_exit_group, status);
	_exit(status);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
child_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fork child %d: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	child_exit(1);
}

#define CHILD_CHECK(cond, ...) do {					\
	if (!(cond))							\
		child_fail(__VA_ARGS__);				\
} while (0)

/*
 * offset: ctor - dtor - (in_use + cached) from the statistics.  Zero in a
 * quiescent cache; in the child it may be off by objects that a vanished
 * thread was carrying between the slab layer and the counters, but the
 * child's own calls must leave it where it was.
 */
static int64_t
offset(const struct pcache_stats *st)
{
	return (int64_t)(st->ctor_calls - st->dtor_calls) -
	    (int64_t)(st->in_use + st->cached_cpu + st->cached_depot);
}

/* child_stats: the statistics, which must be available in the child. */
static struct pcache_stats
child_stats(pcache_t *pc)
{
	struct pcache_stats st;

	CHILD_CHECK(pcache_get_stats(pc, &st) == 0, "get_stats failed");
	return st;
}

/*
 * child_use: every call on one inherited cache.  Returns how many objects
 * are still out after the vanished workers' recorded objects went back:
 * those their threads were carrying inside a call when the fork came.
 */
static uint64_t
child_use(unsigned k, int cpu)
{
	struct fcache *c = &W.c[k];
	pcache_t *pc = c->pc;
	static void *objs[CHILD_GETS];
	uint32_t me = 1000;
	unsigned n = 0;

	/* What the workers held: still handed out, intact, and ours now. */
	for (unsigned w = 0; w < NWORKERS; w++) {
		struct worker *wk = &W.wk[w];
		unsigned held = atomic_load(&wk->nheld[k]);
		for (unsigned i = 0; i < held; i++) {
			giving(wk->held[k][i], wk->id + 1);
			pcache_put(pc, wk->held[k][i]);
		}
		atomic_store(&wk->nheld[k], 0);
	}
	struct pcache_stats st = child_stats(pc);
	int64_t off0 = offset(&st);

	/* Gets and puts, many more than a magazine. */
	for (n = 0; n < CHILD_GETS; n++) {
		objs[n] = pcache_get(pc, PCACHE_NOWAIT);
		if (objs[n] == NULL) {
			CHILD_CHECK(c->hardlimit != 0 && errno == EAGAIN,
			    "cache %u: get failed: errno %d", k, errno);
			break;
		}
		took(objs[n], me);
	}
	CHILD_CHECK(n >= CHILD_GETS / 2, "cache %u: only %u gets", k, n);
	st = child_stats(pc);
	CHILD_CHECK(offset(&st) == off0, "cache %u: balance moved by gets", k);
	for (unsigned i = 0; i < n; i++) {
		giving(objs[i], me);
		pcache_put(pc, objs[i]);
	}

	/* Bulk calls. */
	CHILD_CHECK(pcache_get_bulk(pc, objs, 32, PCACHE_NOWAIT) == 0,
	    "cache %u: get_bulk failed: errno %d", k, errno);
	for (unsigned i = 0; i < 32; i++)
		took(objs[i], me);
	for (unsigned i = 0; i < 32; i++)
		giving(objs[i], me);
	pcache_put_bulk(pc, objs, 32);

	/* Invalidation of every CPU: nothing stays cached. */
	pcache_invalidate(pc);
	st = child_stats(pc);
	CHILD_CHECK(st.cached_cpu == 0 && st.cached_depot == 0,
	    "cache %u: %llu cached after invalidate", k,
	    (unsigned long long)(st.cached_cpu + st.cached_depot));
	CHILD_CHECK(offset(&st) == off0, "cache %u: balance moved by invalidate", k);

	/* Invalidation of this CPU, after filling its magazines. */
	for (n = 0; n < 16; n++) {
		objs[n] = pcache_get(pc, PCACHE_NOWAIT);
		CHILD_CHECK(objs[n] != NULL, "cache %u: get after invalidate failed", k);
		took(objs[n], me);
	}
	for (unsigned i = 0; i < n; i++) {
		giving(objs[i], me);
		pcache_put(pc, objs[i]);
	}
	pcache_invalidate_local(pc);
	if (cpu >= 0 && pc->slots != NULL)
		CHILD_CHECK(cpu_cached(pc, (unsigned)cpu) == 0,
		    "cache %u: CPU %d still caches objects after invalidate_local", k, cpu);
	pcache_reclaim(pc);
	st = child_stats(pc);
	CHILD_CHECK(offset(&st) == off0, "cache %u: balance moved", k);
	CHILD_CHECK(atomic_load(&W.os.errors) == 0, "cache %u: object errors", k);
	return st.in_use;
}

/*
 * child_main: use every cache, then destroy each: EBUSY exactly while
 * objects are out.  Exits 0 when every cache was destroyed, 3 when some
 * could not be because a vanished thread carried objects, 1 on failure.
 */
static void __attribute__((noreturn))
child_main(bool sweeping)
{
	int busy = 0;
	int cpu = -1;

	signal(SIGALRM, SIG_DFL);
	alarm(CHILD_SECONDS);
	if (pc_topo_bind_thread(W.cpus[0]) == 0 && sched_getcpu() == (int)W.cpus[0])
		cpu = (int)W.cpus[0];
	for (unsigned k = 0; k < NCACHES; k++) {
		uint64_t left = child_use(k, cpu);
		uint64_t magsize = child_stats(W.c[k].pc).magsize;
		int rc = pcache_destroy(W.c[k].pc);
		if (left == 0) {
			CHILD_CHECK(rc == 0, "cache %u: destroy of an idle cache: %d", k, rc);
			/*
			 * Every page back, but for those a vanished thread had
			 * between the allocator and the slab lists: one per
			 * worker, or a reclaim's worth for the sweeper.
			 */
			uint64_t kept = atomic_load(&W.c[k].ta.allocs) -
			    atomic_load(&W.c[k].ta.frees);
			CHILD_CHECK(sweeping || kept <= NWORKERS,
			    "cache %u: destroy kept %llu pages", k, (unsigned long long)kept);
		} else {
			CHILD_CHECK(rc == EBUSY, "cache %u: destroy with %llu out: %d",
			    k, (unsigned long long)left, rc);
			/*
			 * Without a sweeper a thread carries at most a bulk
			 * and two magazines' worth between the layers.
			 */
			CHILD_CHECK(sweeping || left <= NWORKERS * (8 + 2 * magsize),
			    "cache %u: %llu objects lost in the fork", k,
			    (unsigned long long)left);
			busy = 1;
		}
	}
	/* A cache made in the child works from scratch. */
	struct fcache fresh = { 0 };
	struct pcache_config cfg = { .size = sizeof(struct fobj), .ctor = f_ctor,
	    .dtor = f_dtor, .arg = &fresh };
	fresh.pc = pcache_create("fork-fresh", &cfg);
	CHILD_CHECK(fresh.pc != NULL, "create in the child failed");
	void *o = pcache_get(fresh.pc, PCACHE_NOWAIT);
	CHILD_CHECK(o != NULL, "get on a fresh cache failed");
	took(o, 1);
	giving(o, 1);
	pcache_put(fresh.pc, o);
	CHILD_CHECK(pcache_destroy(fresh.pc) == 0, "destroy of a fresh cache failed");
	CHILD_CHECK(atomic_load(&fresh.ctor) == atomic_load(&fresh.dtor),
	    "fresh cache: ctor %llu dtor %llu",
	    (unsigned long long)atomic_load(&fresh.ctor),
	    (unsigned long long)atomic_load(&fresh.dtor));
	CHILD_CHECK(atomic_load(&W.os.errors) == 0, "object errors");
	child_exit(busy ? 3 : 0);
}

/*
 * wait_child: the child's exit status, or -1 after killing a child that
 * outlived its alarm by far (it should have died of SIGALRM).
 */
static int
wait_child(pid_t pid)
{
	int status;

	for (int ms = 0; ms < (CHILD_SECONDS + 5) * 1000; ms++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		ck_assert_int_ge(r, 0);
		if (r == pid)
			return status;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* fork_count: forks per test, from PCACHE_FORK_COUNT. */
static unsigned
fork_count(void)
{
	const char *s = getenv("PCACHE_FORK_COUNT");
	int v = s != NULL ? atoi(s) : 100;

	return v >= 1 && v <= 10000 ? (unsigned)v : 100;
}

/*
 * run_forks: three caches (per-CPU, no CPU layer, per-CPU at a hard
 * limit), NWORKERS workers, optionally a sweeper; fork repeatedly at
 * random moments and require every child to finish its checks.  Then the
 * parent's caches must be whole too.
 */
static void
run_forks(bool sweeping)
{
	pthread_t t[NWORKERS], sw;
	unsigned nfork = fork_count(), clean = 0;
	unsigned seed = 4242;

	memset(&W, 0, sizeof(W));
	W.os.who = "fork";
	W.ncpu = allowed_cpus(W.cpus, 64);
	for (unsigned k = 0; k < NCACHES; k++) {
		struct fcache *c = &W.c[k];
		c->a = talloc_allocator(&c->ta, 8192);
		struct pcache_config cfg = { .size = sizeof(struct fobj),
		    .flags = k == 1 ? PCACHE_NOCPU : 0, .ctor = f_ctor,
		    .dtor = f_dtor, .arg = c, .allocator = &c->a };
		c->pc = pcache_create(k == 0 ? "fork-percpu" : k == 1 ?
		    "fork-nocpu" : "fork-limit", &cfg);
		ck_assert_ptr_nonnull(c->pc);
		if (k == 2) {
			c->hardlimit = NWORKERS * HELD_MAX + CHILD_GETS;
			ck_assert_int_eq(pcache_set_hardlimit(c->pc, c->hardlimit), 0);
		}
	}
	for (unsigned i = 0; i < NWORKERS; i++) {
		W.wk[i].id = i;
		W.wk[i].seed = 100 + i;
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &W.wk[i]), 0);
	}
	if (sweeping)
		ck_assert_int_eq(pthread_create(&sw, NULL, sweeper_main, NULL), 0);
	usleep(20000);

	for (unsigned i = 0; i < nfork; i++) {
		usleep((useconds_t)(rand_r(&seed) % 1000));
		pid_t pid = fork();
		/*
		 * The child first: Check's assertions take a lock that a
		 * worker may have held at the fork, so the child makes none.
		 */
		if (pid == 0)
			child_main(sweeping);
		ck_assert_int_ge(pid, 0);
		int status = wait_child(pid);
		ck_assert_msg(status != -1, "fork %u: child hung past its alarm", i);
		ck_assert_msg(!WIFSIGNALED(status) || WTERMSIG(status) != SIGALRM,
		    "fork %u: child deadlocked (alarm after %d s)", i, CHILD_SECONDS);
		ck_assert_msg(WIFEXITED(status), "fork %u: child died of signal %d",
		    i, WTERMSIG(status));
		ck_assert_msg(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 3,
		    "fork %u: child failed (status %d)", i, WEXITSTATUS(status));
		clean += WEXITSTATUS(status) == 0;
	}

	atomic_store(&W.stop, 1);
	for (unsigned i = 0; i < NWORKERS; i++)
		pthread_join(t[i], NULL);
	if (sweeping)
		pthread_join(sw, NULL);
	printf("fork%s: %u forks, %u children destroyed every cache, %llu parent ops\n",
	    sweeping ? " (sweeping)" : "", nfork, clean,
	    (unsigned long long)atomic_load(&W.ops));
	ck_assert_int_eq(atomic_load(&W.os.errors), 0);
	ck_assert_uint_gt(atomic_load(&W.ops), 0);
	for (unsigned k = 0; k < NCACHES; k++) {
		struct fcache *c = &W.c[k];
		struct pcache_stats st;
		ck_assert_int_eq(pcache_get_stats(c->pc, &st), 0);
		ck_assert_uint_eq(st.in_use, 0);
		ck_assert_uint_eq(st.ctor_calls, atomic_load(&c->ctor));
		ck_assert_uint_eq(st.ctor_calls - st.dtor_calls,
		    st.cached_cpu + st.cached_depot);
		ck_assert_int_eq(pcache_destroy(c->pc), 0);
		ck_assert_uint_eq(atomic_load(&c->ctor), atomic_load(&c->dtor));
		ck_assert_uint_eq(atomic_load(&c->ta.allocs), atomic_load(&c->ta.frees));
	}
}

/* Forks among gets and puts: slot, depot and slab locks in use. */
START_TEST(fork_while_hammering)
{
	run_forks(false);
}
END_TEST

/* The same with invalidation, reclaim and statistics taking every lock. */
START_TEST(fork_while_invalidating)
{
	run_forks(true);
}
END_TEST

/*
 * fork_quiescent: with no other thread, the child's view is exact: the
 * balance holds, destroy succeeds, and every object constructed in the
 * parent and inherited is destructed exactly once in the child.
 */
START_TEST(fork_quiescent)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("fork-quiet", &cfg);
	void *objs[100];

	ck_assert_ptr_nonnull(pc);
	for (int i = 0; i < 100; i++)
		ck_assert_ptr_nonnull(objs[i] = pcache_get(pc, PCACHE_NOWAIT));
	for (int i = 0; i < 60; i++)
		pcache_put(pc, objs[i]);
	pid_t pid = fork();
	if (pid == 0) {
		struct pcache_stats st;
		signal(SIGALRM, SIG_DFL);
		alarm(CHILD_SECONDS);
		CHILD_CHECK(pcache_get_stats(pc, &st) == 0 && st.in_use == 40 &&
		    st.cached_cpu + st.cached_depot == 60 && st.ctor_calls == 100 &&
		    st.dtor_calls == 0, "inherited stats wrong");
		CHILD_CHECK(pcache_destroy(pc) == EBUSY, "destroy with 40 out");
		for (int i = 60; i < 100; i++)
			pcache_put(pc, objs[i]);
		pcache_invalidate_local(pc);
		pcache_invalidate(pc);
		CHILD_CHECK(atomic_load(&tc.dtor) == 100, "invalidate in the child "
		    "destructed %llu of 100", (unsigned long long)atomic_load(&tc.dtor));
		CHILD_CHECK(pcache_destroy(pc) == 0, "destroy in the child");
		child_exit(0);
	}
	ck_assert_int_ge(pid, 0);
	int status = wait_child(pid);
	ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed (status %#x)", status);
	/* The parent's cache is untouched by the child's calls. */
	check_balance(pc, &tc);
	ck_assert_uint_eq(atomic_load(&tc.dtor), 0);
	for (int i = 60; i < 100; i++)
		pcache_put(pc, objs[i]);
	destroy_balanced(pc, &tc);
}
END_TEST

/* ---- a fork at a known moment ------------------------------------------ */

/*
 * A destructor that takes its time while `slow` is set, and says when it
 * has started: an invalidation running it holds the cache's drain lock
 * for that long.
 */
static atomic_int slow, in_dtor;

static void
slow_dtor(void *arg, void *obj)
{
	(void)obj;
	atomic_fetch_add((atomic_uint_fast64_t *)arg, 1);
	if (atomic_load(&slow)) {
		atomic_store(&in_dtor, 1);
		usleep(30000);
	}
}

/* invalidate_main: a thread that invalidates cache p once. */
static void *
invalidate_main(void *p)
{
	pcache_invalidate(p);
	return NULL;
}

/*
 * fork_during_destructor: fork while another thread is inside
 * pcache_invalidate(), running destructors under the drain lock.  The
 * child must be able to invalidate and destroy the same cache.
 */
START_TEST(fork_during_destructor)
{
	atomic_uint_fast64_t dtors = 0;
	struct pcache_config cfg = { .size = 64, .dtor = slow_dtor, .arg = &dtors };
	pcache_t *pc = pcache_create("fork-dtor", &cfg);
	void *objs[4];
	pthread_t t;

	ck_assert_ptr_nonnull(pc);
	for (int i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(objs[i] = pcache_get(pc, PCACHE_NOWAIT));
	for (int i = 0; i < 4; i++)
		pcache_put(pc, objs[i]);
	atomic_store(&slow, 1);
	atomic_store(&in_dtor, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, invalidate_main, pc), 0);
	while (!atomic_load(&in_dtor))
		usleep(100);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		alarm(CHILD_SECONDS);
		atomic_store(&slow, 0);
		void *o = pcache_get(pc, PCACHE_NOWAIT);
		CHILD_CHECK(o != NULL, "get in the child failed");
		pcache_put(pc, o);
		pcache_invalidate(pc);
		pcache_invalidate_local(pc);
		struct pcache_stats st;
		CHILD_CHECK(pcache_get_stats(pc, &st) == 0 && st.cached_cpu == 0 &&
		    st.cached_depot == 0, "cached after invalidate in the child");
		/* The objects the parent's destructors were on are lost here. */
		int rc = pcache_destroy(pc);
		CHILD_CHECK(rc == (st.in_use > 0 ? EBUSY : 0), "destroy: %d with %llu out",
		    rc, (unsigned long long)st.in_use);
		child_exit(0);
	}
	ck_assert_int_ge(pid, 0);
	int status = wait_child(pid);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	atomic_store(&slow, 0);
	ck_assert_msg(status != -1 && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM),
	    "child deadlocked: a drain lock held at fork stayed held");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed (status %#x)", status);
	ck_assert_uint_eq(atomic_load(&dtors), 4);
	ck_assert_int_eq(pcache_destroy(pc), 0);
}
END_TEST

/*
 * sleeper_main: a thread that sleeps at cache p's hard limit until an
 * object comes back, then returns it; its result is the object it got.
 */
static void *
sleeper_main(void *p)
{
	void *o = pcache_get(p, PCACHE_WAITOK);

	pcache_put(p, o);
	return o;
}

/*
 * fork_with_hardlimit_sleeper: fork while another thread sleeps at the
 * hard limit.  In the child that sleeper does not exist: puts that would
 * wake it, gets at the limit and lifting the limit must all return, and
 * the cache must not count the sleeper's get.
 */
START_TEST(fork_with_hardlimit_sleeper)
{
	struct tcounts tc = { 0 };
	struct pcache_config cfg = tobj_config(64, &tc);
	pcache_t *pc = pcache_create("fork-sleeper", &cfg);
	void *objs[4];
	struct pcache_stats st;
	pthread_t t;

	ck_assert_ptr_nonnull(pc);
	ck_assert_int_eq(pcache_set_hardlimit(pc, 4), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(objs[i] = pcache_get(pc, PCACHE_NOWAIT));
	ck_assert_int_eq(pthread_create(&t, NULL, sleeper_main, pc), 0);
	do {
		usleep(1000);
		ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	} while (st.hardlimit_waits == 0);
	usleep(20000);		/* into pthread_cond_wait() */
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		alarm(CHILD_SECONDS);
		/* Every put, and a get at the limit, look for the sleeper. */
		for (int round = 0; round < 3; round++) {
			for (int i = 0; i < 4; i++)
				pcache_put(pc, objs[i]);
			for (int i = 0; i < 4; i++) {
				objs[i] = pcache_get(pc, PCACHE_NOWAIT);
				CHILD_CHECK(objs[i] != NULL, "get below the limit failed");
			}
			errno = 0;
			CHILD_CHECK(pcache_get(pc, PCACHE_NOWAIT) == NULL && errno == EAGAIN,
			    "get at the limit: errno %d", errno);
		}
		CHILD_CHECK(pcache_set_hardlimit(pc, 0) == 0, "set_hardlimit");
		for (int i = 0; i < 4; i++)
			pcache_put(pc, objs[i]);
		CHILD_CHECK(pcache_get_stats(pc, &st) == 0 && st.in_use == 0,
		    "in the child %llu out after every put", (unsigned long long)st.in_use);
		CHILD_CHECK(pcache_destroy(pc) == 0, "destroy in the child");
		CHILD_CHECK(atomic_load(&tc.ctor) == atomic_load(&tc.dtor),
		    "child: ctor %llu dtor %llu", (unsigned long long)atomic_load(&tc.ctor),
		    (unsigned long long)atomic_load(&tc.dtor));
		child_exit(0);
	}
	ck_assert_int_ge(pid, 0);
	int status = wait_child(pid);
	ck_assert_msg(status != -1 && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM),
	    "child deadlocked waking a sleeper that is not there");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed (status %#x)", status);
	/* The parent's sleeper is still there, and wakes for a put. */
	pcache_put(pc, objs[0]);
	void *got;
	ck_assert_int_eq(pthread_join(t, &got), 0);
	ck_assert_ptr_eq(got, objs[0]);
	for (int i = 1; i < 4; i++)
		pcache_put(pc, objs[i]);
	check_balance(pc, &tc);
	destroy_balanced(pc, &tc);
}
END_TEST

static Suite *
fork_suite(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tcase_create("fork");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fork_quiescent);
	tcase_add_test(tc, fork_during_destructor);
	tcase_add_test(tc, fork_with_hardlimit_sleeper);
	tcase_add_test(tc, fork_while_hammering);
	tcase_add_test(tc, fork_while_invalidating);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(fork_suite());
}
