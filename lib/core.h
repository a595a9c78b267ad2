/*
 * core.h -- what every file in lib/ shares: compiler helpers, assertions,
 * memory-checker hooks, constants, the lock order, and the cache
 * descriptor itself.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The layers, from the bottom (lib/layers.txt is the list that the
 * layering test and docs/design.md follow; a file calls only files on its
 * own line or lower, and anything may call a leaf):
 *
 *   leaf      sysalloc.c (libpcache-malloc only: the library's own
 *             memory, see pc_sys_malloc() below),
 *             degrade.c (degraded modes: what the system lacks, the
 *             CPU-number fallback, forced failures in the test build),
 *             topology.c (hwloc), debug.c (abort messages, checked mode,
 *             fault injection), hardlimit.c (the hard-limit wait/wake
 *             protocol)
 *   pagemap   pagemap.c       address -> slab map, read without locks
 *   region    region.c        the built-in allocator's reserved region
 *   slab      slab.c          slabs, raw objects, ctor/dtor boundary
 *   magazine  magazine.c      magazines and the depot
 *   percpu    percpu.c        per-CPU slots and the locked layer,
 *             rseq.c          the restartable-sequence layer (percpu.h is
 *                             the interface both provide)
 *   api       alloc.c         pcache_get/put and their slow paths, bulk
 *             cache.c         create, destroy, limits, statistics
 *             invalidate.c    invalidation, whole-cache locking
 *             fork.c          the cache registry and fork handlers
 *   malloc    malloc.c        libpcache-malloc only: malloc() and friends
 *                             on size-class caches
 *
 * Lock order (a thread holding lock k takes only locks numbered above k):
 *   1. registry lock (fork.c)
 *   2. hard-limit fill lock (pc->hl.fill_lock), all caches before any 3
 *   3. drain lock (pc->drain_lock), all caches before any 4
 *   4. CPU slot locks, in index order (with the rseq arrays they guard)
 *   5. depot lock
 *   6. slab lock
 *   7. hard-limit lock (pc->hl.lock)
 *   8. checked-mode log lock
 *   9. page-map lock
 *  10. deferred-put batch locks (rcu.c), each taken alone
 *  11. libpcache-malloc's leaves, each taken alone: the big-block table
 *      (malloc.c) and the internal allocator (sysalloc.c)
 * Constructors run with no lock held except, for a sleeper at the hard
 * limit, lock 2; destructors with none except lock 3 (invalidation,
 * destroy, and a failed bulk get's give-back).
 */
#ifndef PC_CORE_H
#define PC_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcache.h"
#include "hardlimit.h"
#include "region.h"

#if defined(__GNUC__) || defined(__clang__)
#define PC_LIKELY(x)	__builtin_expect(!!(x), 1)
#define PC_UNLIKELY(x)	__builtin_expect(!!(x), 0)
#define PC_NOINLINE	__attribute__((noinline))
#define PC_NORETURN	__attribute__((noreturn))
#define PC_PRINTF(a, b)	__attribute__((format(printf, a, b)))
#define PC_UNUSED	__attribute__((unused))
#else
#define PC_LIKELY(x)	(x)
#define PC_UNLIKELY(x)	(x)
#define PC_NOINLINE
#define PC_NORETURN	_Noreturn
#define PC_PRINTF(a, b)
#define PC_UNUSED
#endif

/*
 * PC_ASSERT: an invariant checked in builds with PCACHE_ASSERTS (debug
 * and sanitizer builds; see meson_options.txt) and compiled out of others,
 * where the expression is still type-checked but not evaluated.
 */
PC_NORETURN void pc_assert_fail(const char *expr, const char *file, int line);
#ifdef PCACHE_ASSERTS
#define PC_ASSERT(x)	(PC_LIKELY(x) ? (void)0 : \
			    pc_assert_fail(#x, __FILE__, __LINE__))
#else
#define PC_ASSERT(x)	((void)sizeof(!(x)))
#endif

/*
 * pc_mutex_held: whether some thread holds m, for assertions that a lock a
 * function requires is taken.  The mutexes are not error-checking ones,
 * so "some thread" is as precise as it gets; it catches a forgotten lock.
 */
bool pc_mutex_held(pthread_mutex_t *m);

/*
 * Memory checkers.  Objects in the cache layer and free slab space are
 * marked inaccessible for AddressSanitizer (in ASan builds) and Valgrind's
 * memcheck (when built with -Dvalgrind=enabled), so that a use after put
 * is reported.  PC_MEMCHECK is 0 otherwise, and the hooks vanish.
 */
#if defined(__SANITIZE_ADDRESS__)
#define PC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PC_ASAN 1
#endif
#endif
#ifdef PC_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef PCACHE_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#endif
#if defined(PC_ASAN) || defined(PCACHE_HAVE_VALGRIND)
#define PC_MEMCHECK 1
#else
#define PC_MEMCHECK 0
#endif

/* pc_mem_noaccess: nobody may touch [p, p + n) until it is handed out. */
static inline void
pc_mem_noaccess(const void *p, size_t n)
{
	(void)p;
	(void)n;
#ifdef PC_ASAN
	ASAN_POISON_MEMORY_REGION(p, n);
#endif
#ifdef PCACHE_HAVE_VALGRIND
	VALGRIND_MAKE_MEM_NOACCESS(p, n);
#endif
}

/*
 * pc_mem_handout: [p, p + n) is handed out, holding a constructed object
 * (pc_mem_defined) or leaving the slab layer as raw memory (pc_mem_raw).
 * The two differ for memcheck alone.
 */
static inline void
pc_mem_handout(const void *p, size_t n, bool constructed)
{
	(void)p;
	(void)n;
	(void)constructed;
#ifdef PC_ASAN
	ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
#ifdef PCACHE_HAVE_VALGRIND
	if (constructed)
		VALGRIND_MAKE_MEM_DEFINED(p, n);
	else
		VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
}
#define pc_mem_defined(p, n)	pc_mem_handout((p), (n), true)
#define pc_mem_raw(p, n)	pc_mem_handout((p), (n), false)

/*
 * pc_create_placed (cache.c): pcache_create_sized() with the built-in
 * allocator's region at a place the caller reserved (the malloc front
 * end's size classes); NULL `at` for anywhere.
 */
pcache_t *pc_create_placed(const char *name, const struct pcache_config *cfg,
	    size_t size, void *at, size_t atlen);

/*
 * The library's own memory (descriptors, magazines, per-CPU arrays,
 * off-slab headers, checked-mode rings) comes through pc_sys_malloc(),
 * pc_sys_calloc(), pc_sys_aligned_alloc() and pc_sys_free(), with the
 * contracts of malloc(), calloc(), aligned_alloc() and free().  In
 * libpcache they are the C library's.  In libpcache-malloc
 * (PCACHE_MALLOC_BUILD), whose malloc is the front end built on the
 * library's caches, they are an internal mmap-backed allocator
 * (sysalloc.c) that never calls the front end: a cache growing on behalf
 * of malloc() must not call malloc().
 */
#ifdef PCACHE_MALLOC_BUILD
void	*pc_sys_malloc(size_t n);
void	*pc_sys_calloc(size_t n, size_t size);
void	*pc_sys_aligned_alloc(size_t align, size_t n);
void	 pc_sys_free(void *p);
void	 pc_sys_lock(void);
void	 pc_sys_unlock(void);
#else
#include <stdlib.h>

static inline void *
pc_sys_malloc(size_t n)
{
	return malloc(n);
}

static inline void *
pc_sys_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

static inline void *
pc_sys_aligned_alloc(size_t align, size_t n)
{
	return aligned_alloc(align, n);
}

static inline void
pc_sys_free(void *p)
{
	free(p);
}
#endif

#define PC_CACHELINE	64
#define PC_NAMELEN	32
#define PC_MIN_SLAB	4096		/* also the page map's granularity */
#define PC_PAGE_SHIFT	12
#define PC_MAX_SLAB_OBJS 65535		/* free indices are uint16_t */
#define PC_NBUCKETS	4		/* partial-slab fullness buckets */
#define PC_NLISTS	(PC_NBUCKETS + 2)	/* full, buckets, empty */
#define PC_MAG_MAX	128		/* the largest magazine (rseq layer, depot only) */
#define PC_LOCK_MAG_MAX	512		/* the largest on the locked layer */
#define PC_RSEQ_CAP_MAX	4096		/* the most one CPU's rseq array holds */
#define PC_EHARDLIMIT	(-1)		/* internal: the hard limit refused a get */
#define PC_DBG_REDZONE	8		/* checked mode: redzone bytes at least */

/*
 * Restartable sequences are used on x86-64 Linux with glibc's rseq symbols,
 * except under ThreadSanitizer, which cannot see into the asm.
 */
#if defined(__x86_64__) && defined(PCACHE_HAVE_RSEQ)
#if defined(__SANITIZE_THREAD__)
#define PC_NO_RSEQ
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PC_NO_RSEQ
#endif
#endif
#ifndef PC_NO_RSEQ
#define PC_RSEQ_ARCH 1
#endif
#endif

struct pc_slab;
struct pc_slot;
struct pc_depot;
struct pc_dbg;
struct pc_rpolicy;
struct pc_rcu;

/*
 * The cache descriptor.  Each group of fields belongs to one layer, which
 * alone writes it after creation; the comment names the layer and the
 * lock, if any.
 */
struct pcache {
	/* Read-mostly: set at creation (slab.c lays them out). */
	size_t		 objsize;	/* size (+ redzone) rounded up to align */
	size_t		 usersize;	/* the size the caller asked for */
	size_t		 align;
	size_t		 slabsize;
	unsigned	 slab_nobj;
	size_t		 slab_span;	/* slab_nobj * objsize */
	uint64_t	 objsize_div;	/* ceil(2^64 / objsize), for the put check */
	unsigned	 flags;
	unsigned	 magsize;	/* objects per magazine (percpu.c sets the locked layer's) */
	unsigned	 ncpu;
	bool		 offslab;
	size_t		 slab_hdrsize;	/* header bytes, off-slab or not */
	size_t		 slab_first;	/* offset of object 0, before colour */
	size_t		 colour_max, colour_step;
	pcache_ctor_fn	 ctor;
	pcache_dtor_fn	 dtor;
	void		*arg;
	void		(*reclaim)(void *arg);	/* may be NULL */
	struct pcache_allocator alloc;
	char		 name[PC_NAMELEN];

	/* percpu.c: ncpu slots, cache-line aligned; NULL without a CPU layer. */
	struct pc_slot	*slots;

	/*
	 * rseq.c, at creation: PCACHE_DEGRADED_* bits saying why a cache
	 * that would have used restartable sequences has the locked layer.
	 */
	unsigned	 degraded;

	/* rseq.c, when pc->rseq: one array per CPU. */
	bool		 rseq;
	char		*rslots;	/* ncpu arrays, rstride bytes apart */
	size_t		 rstride;
	size_t		 rcap;		/* entries per array: what cap may grow to */
	size_t		 rcap_init;	/* each CPU's capacity to begin with */
	struct pc_rpolicy *rpol;	/* ncpu entries: the capacity policy */

	/* invalidate.c: whole-cache sweeps. */
	pthread_mutex_t	 drain_lock;	/* serialises sweepers */
	void		**drainbuf;	/* ncpu * rcap entries (rseq.c sizes it) */
	/*
	 * Invalidations completed, bumped under drain_lock after the detach;
	 * tells a failed bulk get whether what it took may go back (alloc.c).
	 */
	atomic_uint_fast64_t inval_gen;

	struct pc_depot	*depot;		/* magazine.c */

	/* region.c: the built-in allocator's slabs; take/give under slab_lock. */
	struct pc_region region;

	/* slab.c, under slab_lock. */
	pthread_mutex_t	 slab_lock;
	struct pc_slab	*slabs[PC_MAX_DOMAINS][PC_NLISTS];	/* per domain */
	unsigned	 ndomain;	/* NUMA domains: depots and slab lists */
	size_t		 nslabs;
	size_t		 nout;		/* objects out of the slab layer */
	size_t		 nfree;		/* raw objects on slab free lists */
	size_t		 lowat, hiwat;
	atomic_size_t	 hardlimit;	/* written under slab_lock; see pcache_get_bulk() */
	size_t		 colour_next;

	/* debug.c: checked mode; dbg is NULL in other caches. */
	struct pc_dbg	*dbg;
	size_t		 dbg_state_off;	/* state bytes, from the slab header */
	size_t		 dbg_sum_off;	/* checksums, from the slab header */

	/* rcu.c: deferred puts, and the flavour of every grace period. */
	const struct rcu_flavor_struct *urcu;
	struct pc_rcu	*rcu;

	/* fork.c: the process's list of caches; pcache_reap()'s holds. */
	pcache_t	*reg_next, *reg_prev;
	atomic_uint	 reap_refs;

	/* hardlimit.c: sleepers at the hard limit. */
	struct pc_hl	 hl;

	/* Slow-path counters; relaxed atomics, read only for stats. */
	atomic_uint_fast64_t ctor_calls, dtor_calls;
	atomic_uint_fast64_t hl_waits;
	atomic_uint_fast64_t slow_gets;	/* gets served past the CPU layer */
	atomic_uint_fast64_t slow_puts;	/* puts that went past the CPU layer */
};

#endif /* PC_CORE_H */
