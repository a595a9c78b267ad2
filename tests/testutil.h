/*
 * testutil.h -- helpers shared by the libpcache Check suites.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The tests link the internal static library, so they may call the hidden
 * pc_topo_* helpers to pin threads.
 */
#ifndef PCACHE_TESTUTIL_H
#define PCACHE_TESTUTIL_H

#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pcache.h"
#include "api.h"	/* every layer's internals, for white-box checks */

/*
 * A ctor/dtor pair that counts its calls and stamps each object, so that a
 * test can tell constructed objects from raw memory and see a destructor
 * run twice or on an object in use.
 */
#define TOBJ_MAGIC_LIVE	0x4c495645u	/* "LIVE" */
#define TOBJ_MAGIC_DEAD	0x44454144u	/* "DEAD" */

struct tobj {
	uint32_t magic;
	uint32_t gen;		/* ctor_gen when constructed */
	uint64_t serial;	/* distinct per construction */
};

struct tcounts {
	atomic_uint_fast64_t ctor, dtor;
	atomic_uint_fast64_t serial;
	atomic_uint gen;	/* "the ctor's input": stamped into objects */
	int fail_errno;		/* when non-zero the ctor fails with it */
};

static inline int
tobj_ctor(void *arg, void *obj, int flags)
{
	struct tcounts *tc = arg;
	struct tobj *o = obj;

	(void)flags;
	if (tc->fail_errno != 0)
		return tc->fail_errno;
	ck_assert_uint_ne(o->magic, TOBJ_MAGIC_LIVE);
	o->magic = TOBJ_MAGIC_LIVE;
	o->gen = atomic_load(&tc->gen);
	o->serial = atomic_fetch_add(&tc->serial, 1);
	atomic_fetch_add(&tc->ctor, 1);
	return 0;
}

static inline void
tobj_dtor(void *arg, void *obj)
{
	struct tcounts *tc = arg;
	struct tobj *o = obj;

	ck_assert_uint_eq(o->magic, TOBJ_MAGIC_LIVE);
	o->magic = TOBJ_MAGIC_DEAD;
	atomic_fetch_add(&tc->dtor, 1);
}

/* A config for `size`-byte tobj objects counted in *tc. */
static inline struct pcache_config
tobj_config(size_t size, struct tcounts *tc)
{
	struct pcache_config cfg = { 0 };

	cfg.size = size < sizeof(struct tobj) ? sizeof(struct tobj) : size;
	cfg.ctor = tobj_ctor;
	cfg.dtor = tobj_dtor;
	cfg.arg = tc;
	return cfg;
}

/*
 * check_balance: the contract's invariant for a quiescent cache, against
 * both the library's figures and the ctor/dtor's own counts.
 */
static inline void
check_balance(pcache_t *pc, struct tcounts *tc)
{
	struct pcache_stats st;

	ck_assert_int_eq(pcache_get_stats(pc, &st), 0);
	ck_assert_uint_eq(st.ctor_calls, atomic_load(&tc->ctor));
	ck_assert_uint_eq(st.dtor_calls, atomic_load(&tc->dtor));
	ck_assert_uint_eq(st.ctor_calls - st.dtor_calls,
	    st.in_use + st.cached_cpu + st.cached_depot);
	ck_assert_uint_eq(st.gets - st.puts, st.in_use);
}

/*
 * destroy_balanced: destroy the (quiescent) cache, which must succeed, and
 * check that every object constructed was destructed exactly once.
 */
static inline void
destroy_balanced(pcache_t *pc, struct tcounts *tc)
{
	ck_assert_int_eq(pcache_destroy(pc), 0);
	ck_assert_uint_eq(atomic_load(&tc->ctor), atomic_load(&tc->dtor));
}

/*
 * cpu_capacity: objects one CPU holds before the depot, on either layer,
 * as long as its capacity has not grown (percpu.h).
 */
static inline size_t
cpu_capacity(const pcache_t *pc)
{
	return pc->rseq ? pc->rcap_init : 2 * (size_t)pc->magsize;
}

/* cpu_cached: constructed objects held for one CPU, on either layer. */
static inline uint64_t
cpu_cached(pcache_t *pc, unsigned cpu)
{
	struct pc_cpu_stats st;

	pc_cpu_stats(pc, cpu, &st);
	return st.cached;
}

/*
 * slot_hold, slot_release: hold a CPU's per-CPU state as a remote drainer
 * does (slot lock, and on the rseq layer ownership of the array), so that
 * the CPU's fast path must go around it.
 */
static inline void
slot_hold(pcache_t *pc, unsigned cpu)
{
	pc_cpu_lock(pc, cpu);
}

static inline void
slot_release(pcache_t *pc, unsigned cpu)
{
	pc_cpu_unlock(pc, cpu);
}

/* A counting page allocator over mmap, with an optional failure switch. */
struct talloc {
	atomic_uint_fast64_t allocs, frees;
	atomic_int fail;	/* when non-zero alloc() returns NULL */
	size_t pagesize;
};

/*
 * talloc_check_size: the library must ask for exactly its page size.  No
 * Check assertion here: the allocator runs inside library calls, in any
 * thread, and in children of fork(), where Check's lock may be held.
 */
static inline void
talloc_check_size(const struct talloc *ta, size_t size)
{
	if (size != ta->pagesize) {
		fprintf(stderr, "talloc: asked for %zu bytes, page size %zu\n",
		    size, ta->pagesize);
		abort();
	}
}

static inline void *
talloc_alloc(void *ctx, size_t size, int flags)
{
	struct talloc *ta = ctx;

	(void)flags;
	talloc_check_size(ta, size);
	if (atomic_load(&ta->fail))
		return NULL;
	void *p = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)p + size - 1) & ~(uintptr_t)(size - 1));
	if (a > (char *)p)
		munmap(p, (size_t)(a - (char *)p));
	if (a + size < (char *)p + 2 * size)
		munmap(a + size, (size_t)((char *)p + 2 * size - (a + size)));
	atomic_fetch_add(&ta->allocs, 1);
	return a;
}

static inline void
talloc_free(void *ctx, void *mem, size_t size)
{
	struct talloc *ta = ctx;

	talloc_check_size(ta, size);
	munmap(mem, size);
	atomic_fetch_add(&ta->frees, 1);
}

static inline struct pcache_allocator
talloc_allocator(struct talloc *ta, size_t pagesize)
{
	ta->pagesize = pagesize;
	return (struct pcache_allocator){ talloc_alloc, talloc_free, pagesize, ta };
}

/*
 * allowed_cpus: the CPUs this process may use (at most `max`), as the
 * library's topology sees them.
 */
static inline unsigned
allowed_cpus(unsigned *cpus, unsigned max)
{
	int n = pc_topo_allowed_cpus(cpus, max);

	ck_assert_int_gt(n, 0);
	return (unsigned)n < max ? (unsigned)n : max;
}

/* bind_to: pin the calling thread to `cpu` and check that it runs there. */
static inline void
bind_to(unsigned cpu)
{
	ck_assert_int_eq(pc_topo_bind_thread(cpu), 0);
	ck_assert_int_eq(sched_getcpu(), (int)cpu);
}

/*
 * pin_first_cpu: a fixture: the test runs on the first CPU it may use, so
 * that what it puts stays in one CPU's cache and a run repeats exactly.
 */
static inline void
pin_first_cpu(void)
{
	unsigned cpu;

	allowed_cpus(&cpu, 1);
	bind_to(cpu);
}

/*
 * child_output: run fn(arg) in a child whose stderr is piped back; the
 * child then leaves with exit(0) (atexit handlers run) or _exit(0).
 * Returns what it wrote (a static buffer) and its wait status in *status.
 */
static inline const char *
child_output(void (*fn)(void *), void *arg, bool run_atexit, int *status)
{
	static char buf[16384];
	int fds[2];
	size_t len = 0;
	ssize_t r;

	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		fn(arg);
		if (run_atexit)
			exit(0);
		_exit(0);
	}
	close(fds[1]);
	while ((r = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, status, 0), pid);
	return buf;
}

/*
 * expect_abort_output: run fn(arg) in a child; it must die of SIGABRT
 * having printed every string of want[] (NULL-terminated) on stderr, such
 * as the cache's name and the pointer's address.
 */
static inline void
expect_abort_output(void (*fn)(void *), void *arg, const char *const *want)
{
	int status;
	const char *buf = child_output(fn, arg, false, &status);

	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	    "no abort; output: %s", buf);
	for (int i = 0; want[i] != NULL; i++)
		ck_assert_msg(strstr(buf, want[i]) != NULL, "no '%s' in: %s",
		    want[i], buf);
}

/* deadline: the monotonic time `secs` whole seconds from now. */
static inline struct timespec
deadline(long secs)
{
	struct timespec end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += secs;
	return end;
}

/* past: whether the monotonic clock has reached `end`. */
static inline bool
past(const struct timespec *end)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > end->tv_sec ||
	    (now.tv_sec == end->tv_sec && now.tv_nsec >= end->tv_nsec);
}

/* run_suite: run one suite and turn its result into an exit status. */
static inline int
run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

#endif /* PCACHE_TESTUTIL_H */
