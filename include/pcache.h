/*
 * pcache.h -- libpcache, a constructed-object cache with per-CPU magazines.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * An object cache hands out fixed-size objects that stay constructed while
 * they sit in the cache: the constructor runs when an object leaves the
 * slab layer, the destructor when it goes back there.  Between the two,
 * objects travel through per-CPU magazines and a global depot, so that a
 * get/put pair on a warm cache touches only the calling CPU's state.
 *
 * Thread safety: every call may be made from any thread at any time, except
 * that pcache_destroy() must not race with other calls on the same cache.
 * No call is async-signal-safe.
 */
#ifndef PCACHE_H
#define PCACHE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PCACHE_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define PCACHE_API __attribute__((visibility("default")))
#else
#define PCACHE_API
#endif

typedef struct pcache pcache_t;

/* liburcu's flavour descriptor (<urcu/flavor.h>), e.g. urcu_memb_flavor. */
struct rcu_flavor_struct;

/*
 * Constructor: turns raw memory into a constructed object.  Returns 0, or
 * an errno value; on error the raw object goes back to the slab layer and
 * pcache_get() fails with that errno (EINVAL if the value was negative).
 * `flags` are the caller's get flags.
 */
typedef int  (*pcache_ctor_fn)(void *arg, void *obj, int flags);

/* Destructor: undoes the constructor.  Must not fail. */
typedef void (*pcache_dtor_fn)(void *arg, void *obj);

/*
 * Backing page allocator, as pool_allocator(9).  alloc() returns `size`
 * bytes aligned to `size` (size is always `pagesize`), or NULL; it gets the
 * caller's get flags.  free() takes back what alloc() returned.
 * `pagesize` is the slab size: a power of two of at least 4096, or 0 for
 * the library default (4096).
 */
struct pcache_allocator {
	void  *(*alloc)(void *ctx, size_t size, int flags);
	void   (*free)(void *ctx, void *mem, size_t size);
	size_t   pagesize;
	void    *ctx;
};

struct pcache_config {
	size_t   size;          /* object size, > 0 */
	size_t   align;         /* 0, or a power of two */
	unsigned flags;         /* PCACHE_NOCPU, PCACHE_DEBUG, PCACHE_TYPESAFE_BY_RCU */
	pcache_ctor_fn ctor;    /* may be NULL */
	pcache_dtor_fn dtor;    /* may be NULL */
	void    *arg;           /* passed to ctor and dtor */
	const struct pcache_allocator *allocator; /* NULL: built-in mmap one */
	/*
	 * The RCU flavour of the program's readers, for pcache_put_rcu() and
	 * PCACHE_TYPESAFE_BY_RCU; NULL: urcu-memb, the flavour a program that
	 * includes <urcu.h> plainly uses.  Read only by pcache_create_sized().
	 */
	const struct rcu_flavor_struct *urcu_flavor;
	/*
	 * Called with `arg`, and no lock of the library held, when the page
	 * allocator fails, before the get gives up (it retries once), and by
	 * pcache_reap(): give back memory the program can spare (libumem's
	 * umem_reclaim_t).  May be NULL.
	 */
	void   (*reclaim)(void *arg);
};

/*
 * Flags for pcache_get() and pcache_get_bulk(), bits 0-7.  Any other bit
 * is refused with EINVAL.
 */
#define PCACHE_WAITOK	0	/* may sleep while the hard limit is reached */
#define PCACHE_NOWAIT	0x1	/* never sleeps; EAGAIN at the hard limit */
#define PCACHE_ZERO	0x2	/* zero-filled (a cache without a constructor only) */

/*
 * Creation flags (cfg.flags), bits 8 and up, apart from the get flags so
 * that one passed for the other is refused with EINVAL.
 */
#define PCACHE_NOCPU	0x100	/* no per-CPU layer: every call uses the depot */
#define PCACHE_DEBUG	0x200	/* checked mode (also PCACHE_DEBUG=1 in the environment) */
#define PCACHE_TYPESAFE_BY_RCU 0x400 /* memory stays this cache's objects until an RCU grace period */

struct pcache_stats {
	size_t   objsize;       /* bytes per object as laid out */
	uint64_t gets, puts;    /* successful calls (bulk calls count each object) */
	uint64_t cpu_hits;      /* gets served from a per-CPU magazine */
	uint64_t ctor_calls, dtor_calls;
	uint64_t in_use;        /* objects handed out and not put back */
	uint64_t cached_cpu;    /* constructed objects in per-CPU magazines */
	uint64_t cached_depot;  /* constructed objects in depot magazines */
	uint64_t slabs;         /* slabs held from the allocator */
	uint64_t bytes;         /* bytes held from the allocator */
	/* Additions to the contract's fields. */
	uint64_t slab_free;     /* raw objects on slab free lists */
	uint64_t depot_full;    /* full magazines in the depot */
	uint64_t depot_empty;   /* empty magazines in the depot */
	uint64_t magsize;       /* objects per magazine */
	uint64_t hardlimit_waits; /* times a get slept or failed at the hard limit */
	unsigned fastpath;      /* PCACHE_FASTPATH_*: the per-CPU layer in use */
	/* Fields after this line are filled only by pcache_get_stats_sized(). */
	uint64_t cpu_capacity;  /* objects the CPUs may cache now, all CPUs */
	uint64_t cpu_capacity_max; /* the most they may grow to, all CPUs */
	uint64_t rcu_deferred;  /* objects put with pcache_put_rcu(), not landed */
	uint64_t rcu_batches;   /* batches sent to call_rcu(): grace periods waited */
	unsigned degraded;      /* PCACHE_DEGRADED_*: slower paths the system forced */
	unsigned numa_domains;  /* NUMA domains, each with its depot and slabs */
};

/* One CPU's figures (pcache_get_cpu_stats()). */
struct pcache_cpu_stats {
	uint64_t cached;        /* constructed objects this CPU caches now */
	uint64_t gets, puts;    /* calls this CPU's cache served */
	uint64_t from_depot;    /* objects it took from the depot (misses) */
	uint64_t to_depot;      /* objects that left it for the depot or a drain */
	uint64_t capacity;      /* objects it may cache now */
};

/* Values of pcache_stats.fastpath. */
#define PCACHE_FASTPATH_NONE	0	/* PCACHE_NOCPU: every call uses the depot */
#define PCACHE_FASTPATH_LOCK	1	/* per-CPU slots behind a try-lock */
#define PCACHE_FASTPATH_RSEQ	2	/* restartable sequences (Linux x86-64) */

/*
 * Bits of pcache_stats.degraded: what the system failed to provide and
 * the slower path the library took instead.  An explicit choice
 * (PCACHE_RSEQ=0, PCACHE_NOCPU, checked mode) sets none of them, and
 * neither does a build without the restartable-sequence layer.
 *   NO_RSEQ        no struct rseq could be registered (the kernel lacks
 *                  rseq, or it refused ours): the locked per-CPU layer.
 *   NO_MEMBARRIER  the kernel refused membarrier(MEMBARRIER_CMD_REGISTER_
 *                  PRIVATE_EXPEDITED_RSEQ), which remote drains need: the
 *                  locked per-CPU layer.
 *   NO_GETCPU      sched_getcpu() is missing or failed: each thread keeps
 *                  a slot of its own, dealt round-robin, instead of its
 *                  processor's.
 *   CPU_BEYOND     a thread ran on a CPU numbered at or above
 *                  pcache_cpu_count() (one brought online after the slots
 *                  were sized): it shares slot (cpu % count) on the locked
 *                  layer and goes to the depot on the rseq layer.
 *   NO_TOPOLOGY    hwloc could not load the machine's topology: slots are
 *                  sized from sysconf(_SC_NPROCESSORS_CONF) and the
 *                  affinity mask, and no NUMA node is known.
 *   NO_MEMBIND     on a machine with several NUMA domains, binding a slab
 *                  to its domain's memory failed: its pages land where
 *                  they are first touched.
 * NO_GETCPU to NO_MEMBIND are facts about the process, reported by every
 * cache; the first two by each cache that would have used restartable
 * sequences.
 */
#define PCACHE_DEGRADED_NO_RSEQ		0x01
#define PCACHE_DEGRADED_NO_MEMBARRIER	0x02
#define PCACHE_DEGRADED_NO_GETCPU	0x04
#define PCACHE_DEGRADED_CPU_BEYOND	0x08
#define PCACHE_DEGRADED_NO_TOPOLOGY	0x10
#define PCACHE_DEGRADED_NO_MEMBIND	0x20

/*
 * pcache_create: make a cache of cfg->size-byte objects.
 * Returns the cache, or NULL with errno EINVAL (size 0, align not a power
 * of two, unknown flags, an allocator without alloc/free or with a bad
 * pagesize, an object too large for the slab) or ENOMEM.  `name` is copied
 * (truncated to 31 bytes) and appears in every abort message.
 */
PCACHE_API pcache_t *pcache_create(const char *name, const struct pcache_config *cfg);

/*
 * pcache_create_sized: pcache_create() reading the first `size` bytes of
 * *cfg (sizeof(struct pcache_config) as the caller was compiled), so that
 * the config can grow; pcache_create() is a macro passing that size.  The
 * function of that name, for programs built before the macro, reads the
 * fields up to and including `allocator`.  EINVAL for a smaller size.
 */
PCACHE_API pcache_t *pcache_create_sized(const char *name,
    const struct pcache_config *cfg, size_t size);
#define pcache_create(name, cfg) \
	pcache_create_sized((name), (cfg), sizeof(struct pcache_config))

/*
 * pcache_destroy: destruct every cached object and give all memory back.
 * Returns 0, or EBUSY (and changes nothing) while objects are handed out.
 * NULL is a no-op returning 0.  No other call may use the cache meanwhile.
 */
PCACHE_API int pcache_destroy(pcache_t *pc);

/*
 * pcache_get: a constructed object, or NULL with errno ENOMEM (the
 * allocator failed), EAGAIN (hard limit reached and PCACHE_NOWAIT), or the
 * constructor's error.  With PCACHE_WAITOK a get at the hard limit sleeps
 * until another thread puts an object back.
 */
PCACHE_API void *pcache_get(pcache_t *pc, int flags);

/*
 * pcache_put: give back a constructed object; it stays constructed while
 * cached.  NULL is a no-op.  A pointer that is not an object of this cache
 * aborts the process with a message naming the cache and the pointer.
 */
PCACHE_API void pcache_put(pcache_t *pc, void *obj);

/*
 * pcache_get_bulk: fill objs[0..n-1] with constructed objects and return 0,
 * or return -1 with errno as pcache_get() and hand out nothing.  A waiting
 * caller holds no object while it sleeps; n above the hard limit can never
 * be met and fails at once with EAGAIN.  n == 0 returns 0.
 * pcache_put_bulk: as n calls of pcache_put(); NULL entries are skipped.
 */
PCACHE_API int  pcache_get_bulk(pcache_t *pc, void **objs, size_t n, int flags);
PCACHE_API void pcache_put_bulk(pcache_t *pc, void *const *objs, size_t n);

/*
 * pcache_invalidate: destruct every object that sat in any CPU's magazines
 * or in the depot when the call began, and return it to the slab layer.
 * Objects handed out are untouched.  Safe while other threads get and put;
 * once it returns no get hands out an object that was cached when it began.
 */
PCACHE_API void pcache_invalidate(pcache_t *pc);

/*
 * pcache_invalidate_local: the same for the magazines of the CPU the
 * caller runs on.  The depot and other CPUs are untouched.  If another
 * thread is inside those magazines (the caller was preempted or migrated),
 * the call waits for it to leave them, then drains them.
 */
PCACHE_API void pcache_invalidate_local(pcache_t *pc);

/*
 * pcache_reclaim: free the depot's magazines that were not needed since the
 * last reclaim (destructing their objects), then give wholly free slabs back
 * to the allocator, keeping the low water mark.  Returns the bytes given back.
 */
PCACHE_API size_t pcache_reclaim(pcache_t *pc);

/* Keep at least n objects' worth of slabs.  0, or EINVAL for a NULL cache. */
PCACHE_API int pcache_set_lowat(pcache_t *pc, size_t n);

/*
 * Give empty slabs back at once while more than n raw objects sit free in
 * the slab layer (default: keep them until pcache_reclaim()).  0 or EINVAL.
 */
PCACHE_API int pcache_set_hiwat(pcache_t *pc, size_t n);

/*
 * At most n objects out of the slab layer at once (handed out plus cached);
 * 0 removes the limit.  0 or EINVAL.
 */
PCACHE_API int pcache_set_hardlimit(pcache_t *pc, size_t n);

/* Preallocate slabs so that n raw objects sit free.  0, EINVAL or ENOMEM. */
PCACHE_API int pcache_prime(pcache_t *pc, size_t n);

/*
 * Fill *st.  Exact when no other thread uses the cache; otherwise each
 * figure is a recent value.  0, or EINVAL for a NULL argument.
 * pcache_get_stats_sized() fills the first `size` bytes of *st (size is
 * sizeof(struct pcache_stats) as the caller was compiled), so that the
 * struct can grow; pcache_get_stats() is a macro passing that size.  The
 * function of that name, for programs built before the macro, fills the
 * fields up to and including `fastpath`.  EINVAL for a size smaller than
 * that.
 */
PCACHE_API int pcache_get_stats(pcache_t *pc, struct pcache_stats *st);
PCACHE_API int pcache_get_stats_sized(pcache_t *pc, struct pcache_stats *st,
    size_t size);
#define pcache_get_stats(pc, st) \
	pcache_get_stats_sized((pc), (st), sizeof(struct pcache_stats))

/*
 * pcache_put_rcu: put obj back after an RCU grace period of the cache's
 * flavour: readers that may still hold it keep reading it as it was.
 * Deferred puts collect per CPU and go back a batch per call_rcu().  The
 * caller must be registered with the flavour (online, for QSBR), as
 * call_rcu() requires.  A bad pointer aborts, as for pcache_put().
 */
PCACHE_API void pcache_put_rcu(pcache_t *pc, void *obj);

/*
 * pcache_rcu_barrier: wait until every pcache_put_rcu() on pc made before
 * the call has landed in the cache.  The caller must be registered with
 * the flavour and outside any read-side critical section.
 */
PCACHE_API void pcache_rcu_barrier(pcache_t *pc);

/*
 * pcache_destruct: destruct obj, an object of pc handed out, and return it
 * to the slab layer at once, bypassing the magazines (NetBSD's
 * pool_cache_destruct_object()).  Counts as a put.  A NULL obj is a
 * no-op; a bad pointer aborts, as for pcache_put().
 */
PCACHE_API void pcache_destruct(pcache_t *pc, void *obj);

/* pcache_size: the object size the cache was created with (cfg->size). */
PCACHE_API size_t pcache_size(pcache_t *pc);

/*
 * pcache_lookup: the cache of that name (the most recently created one if
 * several share it), or NULL.
 */
PCACHE_API pcache_t *pcache_lookup(const char *name);

/*
 * pcache_walk: call fn(pc, arg) for every cache in the process, newest
 * first, until one call returns non-zero, which pcache_walk() returns (0
 * when all returned 0; EINVAL for a NULL fn).  fn may call the read-only
 * calls (stats, lookup, pcache_of) on any cache, but must not create or
 * destroy caches; creations and destructions wait for the walk.
 */
PCACHE_API int pcache_walk(int (*fn)(pcache_t *pc, void *arg), void *arg);

/*
 * pcache_of: the cache whose object contains the address obj (anywhere in
 * the object), or NULL for any other address.  Never reads memory the
 * library does not own.  The object's slab must not be given back
 * meanwhile (the caller holds the object, or it is cached).
 */
PCACHE_API pcache_t *pcache_of(const void *obj);

/*
 * A reservation: objects obtained up front, so that later takes cannot
 * fail or block (Linux's kmem_cache_prefill_sheaf()).  Lives wherever the
 * caller puts it (the stack, typically); its fields are the library's.
 */
#define PCACHE_RES_INLINE 16
struct pcache_reservation {
	pcache_t *pc;
	void   **objs;          /* inline[] or, for more, allocated */
	size_t   n, taken;
	uint64_t gen;           /* the cache's invalidation count when filled */
	void    *inline_objs[PCACHE_RES_INLINE];
};

/*
 * pcache_reserve: obtain n constructed objects into *res, all or none, as
 * pcache_get_bulk() with `flags` (may sleep with PCACHE_WAITOK; n above the
 * hard limit fails at once with EAGAIN).  0, or -1 with errno (ENOMEM also
 * when n > PCACHE_RES_INLINE and no array can be had).  Reserved objects
 * count as in use.
 */
PCACHE_API int pcache_reserve(pcache_t *pc, size_t n, int flags,
    struct pcache_reservation *res);

/*
 * pcache_res_get: the next reserved object; never blocks and never fails
 * while one remains (NULL once all n are taken).  Objects reserved before
 * an invalidation are, like objects in use, the reserver's to update.
 */
PCACHE_API void *pcache_res_get(struct pcache_reservation *res);

/*
 * pcache_res_release: put back the objects not taken and end the
 * reservation; those reserved before an invalidation that completed since
 * are destructed instead of cached.
 */
PCACHE_API void pcache_res_release(struct pcache_reservation *res);

/*
 * pcache_reap: for every cache in the process, call its reclaim callback
 * and pcache_reclaim() it; returns the bytes given back.  For a program
 * under memory pressure.
 */
PCACHE_API size_t pcache_reap(void);

/*
 * pcache_dump: print the figures of pc, one line per CPU that cached or
 * served objects included, on `out`, for a person to read (as
 * rte_mempool_dump() or malloc_stats_print()).  pcache_dump_all: every
 * cache in the process.  With PCACHE_STATS=1 in the environment every
 * cache is printed on stderr at exit.
 */
PCACHE_API void pcache_dump(FILE *out, pcache_t *pc);
PCACHE_API void pcache_dump_all(FILE *out);

/*
 * pcache_set_hardlimit_warning: print "libpcache: cache 'NAME': msg" on
 * stderr when a get meets the hard limit, at most once per interval_ms
 * milliseconds (pool_sethardlimit()'s warning).  A NULL msg turns it off.
 * 0, or EINVAL for a NULL pc.
 */
PCACHE_API int pcache_set_hardlimit_warning(pcache_t *pc, const char *msg,
    unsigned interval_ms);

/*
 * pcache_get_cpu_stats: the figures of CPU slot `cpu` (below
 * pcache_cpu_count()) of pc, exact when no other thread uses the cache;
 * all zero for a cache without a per-CPU layer.  0, or EINVAL for a NULL
 * argument, a CPU out of range or a size smaller than the struct's first
 * version.  A macro passing sizeof, as pcache_get_stats() is.
 */
PCACHE_API int pcache_get_cpu_stats_sized(pcache_t *pc, unsigned cpu,
    struct pcache_cpu_stats *st, size_t size);
#define pcache_get_cpu_stats(pc, cpu, st) \
	pcache_get_cpu_stats_sized((pc), (cpu), (st), sizeof(struct pcache_cpu_stats))

/* Number of per-CPU slots: the highest CPU number the system has, plus one. */
PCACHE_API unsigned pcache_cpu_count(void);

#ifdef __cplusplus
}
#endif

#endif /* PCACHE_H */
