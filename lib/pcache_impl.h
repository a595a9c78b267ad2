/*
 * pcache_impl.h -- libpcache internals shared by the layers in lib/.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Layers, from the bottom:
 *   pagemap.c   address -> slab map, read without locks
 *   slab.c      slabs from the backing allocator, raw objects, ctor/dtor
 *   magazine.c  magazines and the depot (full/empty lists, one loose magazine)
 *   percpu.c    per-CPU slots: the get/put fast path and slot draining
 *   topology.c  CPUs, NUMA nodes and binding (hwloc)
 *   debug.c     abort messages
 *   pcache.c    the public calls that are not the fast path
 *
 * Lock order: hard-limit fill lock -> drain lock -> slot lock -> depot
 * lock -> slab lock -> hard-limit lock.  Constructors run with no lock
 * held except, for a sleeper at the hard limit, the fill lock; destructors
 * with none except the drain lock (invalidation, and a failed bulk get's
 * give-back).
 */
#ifndef PCACHE_IMPL_H
#define PCACHE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcache.h"

#if defined(__GNUC__) || defined(__clang__)
#define PC_LIKELY(x)	__builtin_expect(!!(x), 1)
#define PC_UNLIKELY(x)	__builtin_expect(!!(x), 0)
#define PC_NOINLINE	__attribute__((noinline))
#define PC_NORETURN	__attribute__((noreturn))
#define PC_PRINTF(a, b)	__attribute__((format(printf, a, b)))
#else
#define PC_LIKELY(x)	(x)
#define PC_UNLIKELY(x)	(x)
#define PC_NOINLINE
#define PC_NORETURN	_Noreturn
#define PC_PRINTF(a, b)
#endif

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

/* pc_mem_defined: [p, p + n) is handed out holding a constructed object. */
static inline void
pc_mem_defined(const void *p, size_t n)
{
	(void)p;
	(void)n;
#ifdef PC_ASAN
	ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
#ifdef PCACHE_HAVE_VALGRIND
	VALGRIND_MAKE_MEM_DEFINED(p, n);
#endif
}

/* pc_mem_raw: [p, p + n) leaves the slab layer as raw memory. */
static inline void
pc_mem_raw(const void *p, size_t n)
{
	(void)p;
	(void)n;
#ifdef PC_ASAN
	ASAN_UNPOISON_MEMORY_REGION(p, n);
#endif
#ifdef PCACHE_HAVE_VALGRIND
	VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
}

#define PC_CACHELINE	64
#define PC_NAMELEN	32
#define PC_MIN_SLAB	4096		/* also the page map's granularity */
#define PC_PAGE_SHIFT	12
#define PC_MAX_SLAB_OBJS 65535		/* free indices are uint16_t */
#define PC_NBUCKETS	4		/* partial-slab fullness buckets */
#define PC_EHARDLIMIT	(-1)		/* internal: the hard limit refused a get */
#define PC_DBG_REDZONE	8		/* checked mode: redzone bytes at least */

/*
 * A slab: one allocator page cut into objects.  The header sits at the
 * start of the page for small objects and in malloc'd memory (off-slab)
 * for objects of 1/8 of a slab or more.  Free objects are kept as a stack
 * of indices in the header, so a free object's memory is never written.
 */
struct pc_slab {
	pcache_t	*pc;		/* owning cache, for the put check */
	char		*base;		/* the allocator's page */
	char		*objbase;	/* first object */
	struct pc_slab	*next, *prev;	/* on the list pc->slabs[list] */
	uint16_t	 nfree;		/* entries in freeidx[] */
	uint16_t	 list;		/* PC_LIST_* index */
	uint16_t	 freeidx[];	/* stack of free object indices */
};

/* Slab lists: full, PC_NBUCKETS partial buckets (fullest first), empty. */
#define PC_LIST_FULL	0
#define PC_LIST_EMPTY	(PC_NBUCKETS + 1)
#define PC_NLISTS	(PC_NBUCKETS + 2)

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

/*
 * A CPU's object array for the rseq layer (rseq.c).  The critical sections
 * in rseq_x86_64.h depend on these offsets.
 */
typedef struct pc_rslot {
	uint64_t	 n;		/* live entries of objs[]: the commit word */
	atomic_uint	 divert;	/* non-zero: a drainer owns the array */
	uint32_t	 pad;
	uint64_t	 hits, puts;	/* fast-path counts (may overcount on restart) */
	void		*objs[];	/* pc->rcap entries */
} pc_rslot_t;

_Static_assert(offsetof(pc_rslot_t, divert) == 8, "rseq slot layout");
_Static_assert(offsetof(pc_rslot_t, hits) == 16, "rseq slot layout");
_Static_assert(offsetof(pc_rslot_t, puts) == 24, "rseq slot layout");
_Static_assert(offsetof(pc_rslot_t, objs) == 32, "rseq slot layout");

/* A magazine: a stack of constructed objects. */
typedef struct pc_mag {
	struct pc_mag	*next;		/* on a depot list */
	unsigned	 n;		/* objects held */
	unsigned	 cap;		/* slots in objs[]; 0 for pc_mag_none */
	void		*objs[];	/* pc->magsize slots */
} pc_mag_t;

/*
 * The depot: full and empty magazines, and one loose magazine through which
 * single objects pass when a CPU slot is busy or the cache has no CPU layer.
 * The *_min figures are the smallest list lengths seen since the last
 * reclaim: that many magazines were not needed and may be freed.
 */
typedef struct pc_depot {
	pthread_mutex_t	 lock;
	pc_mag_t	*full, *empty;
	size_t		 nfull, nempty;
	size_t		 nfull_min, nempty_min;
	pc_mag_t	*loose;		/* never NULL after creation */
	uint64_t	 gets, puts;	/* single objects through `loose` */
} pc_depot_t;

/*
 * A per-CPU slot.  `lock` excludes every other thread from the magazines;
 * the owner takes it with a try-lock and goes to the depot when it is busy.
 * The counters are written only with the lock held.
 */
typedef struct pc_slot {
	_Alignas(PC_CACHELINE) atomic_int lock;
	pc_mag_t	*loaded, *prev;
	uint64_t	 gets, puts, hits;
} pc_slot_t;

struct pcache {
	/* Read-mostly: set at creation. */
	size_t		 objsize;	/* size (+ redzone) rounded up to align */
	size_t		 usersize;	/* the size the caller asked for */
	size_t		 align;
	size_t		 slabsize;
	unsigned	 slab_nobj;
	uint64_t	 objsize_div;	/* ceil(2^64 / objsize), for the put check */
	unsigned	 flags;
	unsigned	 magsize;
	unsigned	 ncpu;
	bool		 offslab;
	size_t		 slab_hdrsize;	/* header bytes, off-slab or not */
	size_t		 slab_first;	/* offset of object 0, before colour */
	size_t		 colour_max, colour_step;
	pcache_ctor_fn	 ctor;
	pcache_dtor_fn	 dtor;
	void		*arg;
	struct pcache_allocator alloc;
	char		 name[PC_NAMELEN];

	pc_slot_t	*slots;		/* ncpu slots, cache-line aligned */

	/* The rseq layer, when pc->rseq (rseq.c). */
	bool		 rseq;
	char		*rslots;	/* ncpu arrays, rstride bytes apart */
	size_t		 rstride;
	size_t		 rcap;		/* pc_cpu_capacity() */
	void		**drainbuf;	/* ncpu * rcap entries, under drain_lock */
	pthread_mutex_t	 drain_lock;	/* serialises pc_lock_all() users */

	pc_depot_t	 depot;

	/* Slab layer, under slab_lock. */
	pthread_mutex_t	 slab_lock;
	struct pc_slab	*slabs[PC_NLISTS];
	size_t		 nslabs;
	size_t		 nout;		/* objects out of the slab layer */
	size_t		 nfree;		/* raw objects on slab free lists */
	size_t		 lowat, hiwat;
	atomic_size_t	 hardlimit;	/* written under slab_lock; see pcache_get_bulk() */
	size_t		 colour_next;

	/* Checked mode (debug.c); dbg is NULL in other caches. */
	struct pc_dbg	*dbg;
	size_t		 dbg_state_off;	/* state bytes, from the slab header */
	size_t		 dbg_sum_off;	/* checksums, from the slab header */

	/* The process's list of caches, for fork (fork.c). */
	pcache_t	*reg_next, *reg_prev;

	/* Hard-limit sleepers. */
	pthread_mutex_t	 hl_lock;
	pthread_cond_t	 hl_cv;
	uint64_t	 hl_seq;	/* bumped by every wake-up, under hl_lock */
	atomic_uint	 hl_waiters;	/* see pc_hardlimit_wake() */
	pthread_mutex_t	 hl_fill_lock;	/* one sleeper's look at a time */

	/*
	 * Invalidations completed, bumped under drain_lock after the detach;
	 * tells a failed bulk get whether what it took may go back.
	 */
	atomic_uint_fast64_t inval_gen;

	/* Slow-path counters; relaxed atomics, read only for stats. */
	atomic_uint_fast64_t ctor_calls, dtor_calls;
	atomic_uint_fast64_t hl_waits;
	atomic_uint_fast64_t slow_gets;	/* gets served straight from the slab layer */
	atomic_uint_fast64_t slow_puts;	/* puts that went straight to the slab layer */
};

/*
 * pagemap.c: a three-level radix tree from 4 KiB page numbers (48-bit
 * addresses) to slabs.  Readers take no lock: nodes are never freed once
 * published, and every link and entry is read with an acquire load that
 * pairs with the release store that published it.
 */
#define PM_BITS		12
#define PM_FANOUT	(1u << PM_BITS)
#define PM_KEYBITS	(3 * PM_BITS)

typedef struct pm_leaf {
	_Atomic(struct pc_slab *) ent[PM_FANOUT];
} pm_leaf_t;

typedef struct pm_mid {
	_Atomic(pm_leaf_t *) ent[PM_FANOUT];
} pm_mid_t;

extern _Atomic(pm_mid_t *) pc_pagemap_root[PM_FANOUT];

int		 pc_pagemap_insert(struct pc_slab *sl, size_t size);
void		 pc_pagemap_lock(void);
void		 pc_pagemap_unlock(void);
void		 pc_pagemap_remove(const struct pc_slab *sl, size_t size);

/* pc_pagemap_lookup: the slab holding `addr`, or NULL; never reads *addr. */
static inline struct pc_slab *
pc_pagemap_lookup(const void *addr)
{
	uintptr_t key = (uintptr_t)addr >> PC_PAGE_SHIFT;

	if (PC_UNLIKELY(((uint64_t)key >> PM_KEYBITS) != 0))
		return NULL;
	/* Acquire (all three): pairs with the publishing release stores. */
	pm_mid_t *mid = atomic_load_explicit(
	    &pc_pagemap_root[(key >> (2 * PM_BITS)) & (PM_FANOUT - 1)],
	    memory_order_acquire);
	if (PC_UNLIKELY(mid == NULL))
		return NULL;
	pm_leaf_t *leaf = atomic_load_explicit(
	    &mid->ent[(key >> PM_BITS) & (PM_FANOUT - 1)], memory_order_acquire);
	if (PC_UNLIKELY(leaf == NULL))
		return NULL;
	return atomic_load_explicit(&leaf->ent[key & (PM_FANOUT - 1)],
	    memory_order_acquire);
}

/* slab.c */
int		 pc_slab_init(pcache_t *pc, const struct pcache_config *cfg);
void		*pc_slab_get(pcache_t *pc, int flags, int *errp);
void		 pc_slab_put(pcache_t *pc, void *obj);
void		 pc_slab_put_many(pcache_t *pc, void *const *objs, size_t n);
void		*pc_obj_create(pcache_t *pc, int flags, int *errp);
void		 pc_obj_destroy_many(pcache_t *pc, void *const *objs, size_t n);
size_t		 pc_slab_reclaim(pcache_t *pc);
int		 pc_slab_prime(pcache_t *pc, size_t n);
void		 pc_slab_fini(pcache_t *pc);
PC_NORETURN void pc_obj_bad(pcache_t *pc, const void *obj,
    const struct pc_slab *sl);

/*
 * pc_obj_check_in: abort unless `obj` is the start of an object of this
 * cache, given `sl`, the page map's answer for obj.  The divisibility test
 * is Lemire's: for 32-bit n, n % d == 0 iff n * ceil(2^64 / d) <
 * ceil(2^64 / d) (mod 2^64).
 */
static inline void
pc_obj_check_in(pcache_t *pc, const void *obj, const struct pc_slab *sl)
{
	if (PC_UNLIKELY(sl == NULL || sl->pc != pc))
		pc_obj_bad(pc, obj, sl);
	uintptr_t off = (uintptr_t)obj - (uintptr_t)sl->objbase;
	if (PC_UNLIKELY((uintptr_t)obj < (uintptr_t)sl->objbase ||
	    off >= (uintptr_t)pc->slab_nobj * pc->objsize ||
	    (uint64_t)off * pc->objsize_div >= pc->objsize_div))
		pc_obj_bad(pc, obj, sl);
}

/* pc_obj_check: pc_obj_check_in() with the page map's answer.  Lock-free. */
static inline void
pc_obj_check(pcache_t *pc, const void *obj)
{
	pc_obj_check_in(pc, obj, pc_pagemap_lookup(obj));
}

/*
 * pc_obj_check_near: pc_obj_check() for a run of objects, skipping the page
 * map while they stay in the slab *last the previous check found.  That
 * slab cannot be freed meanwhile: the previous object, ours until a moment
 * ago, is still out of the slab layer.
 */
static inline void
pc_obj_check_near(pcache_t *pc, const void *obj, const struct pc_slab **last)
{
	const struct pc_slab *sl = *last;

	if (sl == NULL || (uintptr_t)obj - (uintptr_t)sl->base >= pc->slabsize)
		*last = sl = pc_pagemap_lookup(obj);
	pc_obj_check_in(pc, obj, sl);
}

/* magazine.c */
extern pc_mag_t	 pc_mag_none;	/* stands in for a missing magazine: empty and full */
unsigned	 pc_mag_capacity(size_t objsize);
size_t		 pc_cpu_capacity(size_t objsize, unsigned magsize);
pc_mag_t	*pc_mag_alloc(const pcache_t *pc);
int		 pc_mutex_init_adaptive(pthread_mutex_t *m);
int		 pc_depot_init(pcache_t *pc);
void		 pc_depot_fini(pcache_t *pc);
pc_mag_t	*pc_depot_take_full(pc_depot_t *d);
pc_mag_t	*pc_depot_take_empty(pc_depot_t *d);
void		 pc_depot_give_full(pc_depot_t *d, pc_mag_t *m);
void		 pc_depot_give_empty(pc_depot_t *d, pc_mag_t *m);
bool		 pc_depot_return(pc_depot_t *d, pc_mag_t *m);
void		 pc_depot_return_chain(pcache_t *pc, pc_mag_t *chain);
size_t		 pc_depot_put_many(pcache_t *pc, void *const *objs, size_t n);
size_t		 pc_depot_get_many(pcache_t *pc, void **objs, size_t n);
void		*pc_depot_get(pcache_t *pc);
void		 pc_depot_put(pcache_t *pc, void *obj);
pc_mag_t	*pc_depot_detach_locked(pc_depot_t *d);
void		 pc_depot_recycle(pcache_t *pc, pc_mag_t *chain);
void		 pc_depot_trim(pcache_t *pc);
void		 pc_mag_destroy_chain(pcache_t *pc, pc_mag_t *chain);
uint64_t	 pc_depot_cached_locked(const pc_depot_t *d);

/* percpu.c */
int		 pc_cpu_init(pcache_t *pc);
void		 pc_cpu_fini(pcache_t *pc);
unsigned	 pc_cpu_current(const pcache_t *pc);
void		 pc_slot_lock(pc_slot_t *s);
void		 pc_slot_unlock(pc_slot_t *s);
pc_mag_t	*pc_slot_detach_locked(pc_slot_t *s, pc_mag_t *chain);
size_t		 pc_lock_get_bulk(pcache_t *pc, void **objs, size_t n);
void		 pc_lock_put_bulk(pcache_t *pc, void *const *objs, size_t n);
uint64_t	 pc_slot_cached_locked(const pc_slot_t *s);
void		*pc_cpu_steal(pcache_t *pc);

/* rseq.c */
int		 pc_rseq_init(pcache_t *pc);
void		 pc_rseq_fini(pcache_t *pc);
#ifdef PC_RSEQ_ARCH
extern ptrdiff_t pc_rseq_off;
void		*pc_rseq_get_slow(pcache_t *pc, int flags);
void		 pc_rseq_put_slow(pcache_t *pc, void *obj);
size_t		 pc_rseq_get_bulk(pcache_t *pc, void **objs, size_t n);
void		 pc_rseq_put_bulk(pcache_t *pc, void *const *objs, size_t n);
void		 pc_rseq_wake_check(pcache_t *pc);
void		 pc_rseq_own(pcache_t *pc, unsigned cpu);
void		 pc_rseq_own_all(pcache_t *pc);
void		 pc_rseq_release(pcache_t *pc, unsigned cpu);
size_t		 pc_rseq_take_owned(pcache_t *pc, unsigned cpu, void **buf);
void		*pc_rseq_pop_owned(pcache_t *pc, unsigned cpu);
void		 pc_rseq_counts(const pcache_t *pc, unsigned cpu, uint64_t *cached,
		    uint64_t *hits, uint64_t *puts);
#endif
void		 pc_rseq_fork_child(void);

/* fork.c */
void		 pc_fork_register(pcache_t *pc);
void		 pc_fork_unregister(pcache_t *pc);

/* pcache.c */
void		 pc_lock_all(pcache_t *pc);
void		 pc_lock_cpus_depot(pcache_t *pc);
void		 pc_unlock_all(pcache_t *pc);
void		*pc_get_slow(pcache_t *pc, int flags);
void		 pc_hardlimit_wake(pcache_t *pc);

/* topology.c */
unsigned	 pc_topo_ncpu(void);
int		 pc_topo_cpu_node(unsigned cpu);
int		 pc_topo_allowed_cpus(unsigned *cpus, unsigned max);
int		 pc_topo_bind_thread(unsigned cpu);
int		 pc_topo_unbind_thread(void);

/*
 * Fault injection, compiled into the test-only build of the library
 * (PCACHE_FAULT_INJECTION): pc_fault() is true for the allocation that
 * pc_fault_arm() chose.  In every other build it is the constant false.
 */
enum pc_fault_site { PC_FAULT_SLAB, PC_FAULT_HEADER, PC_FAULT_MAGAZINE };
#ifdef PCACHE_FAULT_INJECTION
bool		 pc_fault(enum pc_fault_site site);
void		 pc_fault_arm(long nth);
long		 pc_fault_calls(void);
#else
#define pc_fault(site)	false
#endif

/* debug.c */
PC_NORETURN void pc_panic(const pcache_t *pc, const void *obj,
    const char *fmt, ...) PC_PRINTF(3, 4);
bool		 pc_env_debug(void);
int		 pc_dbg_init(pcache_t *pc);
void		 pc_dbg_fini(pcache_t *pc);
void		 pc_dbg_lock(pcache_t *pc);
void		 pc_dbg_unlock(pcache_t *pc);
void		 pc_dbg_leave_slab(pcache_t *pc, const struct pc_slab *sl, void *obj);
void		 pc_dbg_enter_slab(pcache_t *pc, const struct pc_slab *sl, void *obj);
void		 pc_dbg_get(pcache_t *pc, void *obj);
void		 pc_dbg_put(pcache_t *pc, void *obj);
void		 pc_dbg_destroy(pcache_t *pc, void *obj);

#endif /* PCACHE_IMPL_H */
