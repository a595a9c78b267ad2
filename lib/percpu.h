/*
 * percpu.h -- the per-CPU layer: the interface that the public calls use,
 * and the two implementations behind it: the restartable-sequence layer
 * (rseq.c, x86-64 Linux) and the locked layer (percpu.c, everywhere).
 * Calls the depot, the slab layer and the leaves.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Each call says what it did and leaves the decision to its caller: a get
 * that neither the CPU's cache nor a whole-magazine exchange with the depot
 * can serve returns NULL (a miss), a put that cannot be placed returns
 * false, and the caller goes on to the depot's loose magazine, the slab
 * layer or the hard limit.
 */
#ifndef PC_PERCPU_H
#define PC_PERCPU_H

#include <sched.h>

#include "core.h"
#include "degrade.h"
#include "magazine.h"

/*
 * A per-CPU slot.  On the locked layer `lock` excludes every other thread
 * from the magazines; the owner takes it with a try-lock and goes
 * elsewhere when it is busy.  On the rseq layer it excludes remote
 * drainers from one another.  The counters are written only with the lock
 * held.
 */
typedef struct pc_slot {
	_Alignas(PC_CACHELINE) atomic_int lock;
	pc_mag_t	*loaded, *prev;
	uint64_t	 gets, puts, hits;
	uint64_t	 from_depot, to_depot;	/* objects in whole magazines */
} pc_slot_t;

/*
 * A CPU's object array on the rseq layer.  The critical sections in
 * rseq_x86_64.h depend on these offsets.  `word` is the only word a
 * section commits: n, the live entries of objs[], in its low 16 bits, and
 * the objects pushed (puts) above them.  What enters the array other than
 * by a put (refills from the depot) and leaves it other than by a get
 * (spills, drains, steals) is counted in `refilled` and `taken`, so the
 * gets this CPU served follow: puts + refilled - taken - n.
 */
typedef struct pc_rslot {
	uint64_t	 word;		/* n | puts << 16: the commit word */
	atomic_uint	 divert;	/* non-zero: a drainer owns the array */
	atomic_uint	 cap;		/* entries usable now; under the depot lock */
	atomic_uint_fast64_t refilled;	/* relaxed; off the hit path */
	atomic_uint_fast64_t taken;	/* relaxed; off the hit path */
	void		*objs[];	/* pc->rcap (the most cap grows to) entries */
} pc_rslot_t;

/*
 * The rseq layer's capacity policy for one CPU (rseq.c), under the depot
 * lock: its recent misses (refills and spills), and what its array had
 * seen at the last reclaim, to tell an idle CPU.
 */
struct pc_rpolicy {
	_Atomic(uint64_t) window;	/* start of the current miss window, ns */
	atomic_uint	 misses;	/* misses in that window */
	uint64_t	 seen;		/* puts + refilled + taken at the last reclaim */
};

#define PC_RSLOT_NBITS	16		/* bits of n in the commit word */
#define PC_RSLOT_N(w)	((w) & (((uint64_t)1 << PC_RSLOT_NBITS) - 1))

_Static_assert(offsetof(pc_rslot_t, divert) == 8, "rseq slot layout");
_Static_assert(offsetof(pc_rslot_t, cap) == 12, "rseq slot layout");
_Static_assert(offsetof(pc_rslot_t, objs) == 32, "rseq slot layout");
_Static_assert(PC_RSEQ_CAP_MAX < ((size_t)1 << PC_RSLOT_NBITS),
    "a CPU's array must fit the commit word's count");

/* One CPU's counters, for statistics. */
struct pc_cpu_stats {
	uint64_t	 cached, gets, puts, hits;
	uint64_t	 from_depot, to_depot, capacity;
};

/* Set-up (both layers; the rseq layer where the system allows it). */
int		 pc_cpu_init(pcache_t *pc);
void		 pc_cpu_fini(pcache_t *pc);
void		 pc_cpu_fork_child(void);

/* Out-of-line halves; see pc_cpu_get_miss(), pc_cpu_put_miss(). */
void		*pc_slot_get_miss(pcache_t *pc, pc_slot_t *s);
bool		 pc_slot_put_miss(pcache_t *pc, pc_slot_t *s, void *obj);
size_t		 pc_lock_get_bulk(pcache_t *pc, void **objs, size_t n);
void		 pc_lock_put_bulk(pcache_t *pc, void *const *objs, size_t n);
void		*pc_rseq_get_miss(pcache_t *pc);
bool		 pc_rseq_put_miss(pcache_t *pc, void *obj);
size_t		 pc_rseq_get_bulk(pcache_t *pc, void **objs, size_t n);
void		 pc_rseq_put_bulk(pcache_t *pc, void *const *objs, size_t n);

/* Remote access: every CPU, or one, held the way a drainer holds it. */
void		 pc_cpu_lock_all(pcache_t *pc);
void		 pc_cpu_unlock_all(pcache_t *pc);
void		 pc_cpu_lock(pcache_t *pc, unsigned cpu);
void		 pc_cpu_unlock(pcache_t *pc, unsigned cpu);
size_t		 pc_cpu_detach_locked(pcache_t *pc, unsigned cpu,
		    pc_mag_t **chain, void **buf);
uint64_t	 pc_cpu_cached_locked(pcache_t *pc, unsigned cpu);
void		 pc_cpu_stats(pcache_t *pc, unsigned cpu, struct pc_cpu_stats *st);
void		*pc_cpu_steal(pcache_t *pc);
void		 pc_cpu_capacity_now(pcache_t *pc, uint64_t *now, uint64_t *max);
void		 pc_cpu_shrink_idle(pcache_t *pc);

#ifdef PC_RSEQ_ARCH
#include "rseq_x86_64.h"
extern ptrdiff_t pc_rseq_off;
/* The rseq layer's remote half (rseq.c), used by percpu.c. */
void		 pc_rseq_own(pcache_t *pc, unsigned cpu);
void		 pc_rseq_own_all(pcache_t *pc);
void		 pc_rseq_release(pcache_t *pc, unsigned cpu);
size_t		 pc_rseq_take_owned(pcache_t *pc, unsigned cpu, void **buf);
void		*pc_rseq_pop_owned(pcache_t *pc, unsigned cpu);
void		 pc_rseq_stats(const pcache_t *pc, unsigned cpu,
		    struct pc_cpu_stats *st);
unsigned	 pc_rseq_cap(const pcache_t *pc, unsigned cpu);
void		 pc_rseq_shrink_idle(pcache_t *pc, unsigned cpu);
#endif
int		 pc_rseq_init(pcache_t *pc);
void		 pc_rseq_fini(pcache_t *pc);
void		 pc_rseq_fork_child(void);

/*
 * pc_cpu_current: the slot index of the processor the caller runs on now.
 * Where the system cannot say, or names a CPU beyond the slots,
 * pc_cpu_fallback() chooses (a slot per thread, or the CPU number modulo
 * the slots) and says so in the stats: correct, since slots are locked,
 * but not per processor.
 */
static inline unsigned
pc_cpu_current(const pcache_t *pc)
{
	int cpu = pc_getcpu();

	/* One compare: -1 (no CPU) converts to the largest unsigned. */
	if (PC_LIKELY((unsigned)cpu < pc->ncpu))
		return (unsigned)cpu;
	return pc_cpu_fallback(cpu, pc->ncpu);
}

/*
 * pc_slot_trylock: take a slot's lock if it is free.  Acquire: pairs with
 * the release in pc_slot_unlock(), so the magazines the last holder left
 * are seen whole.
 */
static inline bool
pc_slot_trylock(pc_slot_t *s)
{
	return atomic_exchange_explicit(&s->lock, 1, memory_order_acquire) == 0;
}

/*
 * pc_slot_unlock: release a slot.  Release: every write to the magazines
 * and counters is visible to the next holder.
 */
static inline void
pc_slot_unlock(pc_slot_t *s)
{
	PC_ASSERT(atomic_load_explicit(&s->lock, memory_order_relaxed) != 0);
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

/*
 * pc_slot_place: push obj on the slot's loaded magazine, which has room,
 * and unlock the slot, waking hard-limit sleepers (hardlimit.h).
 */
static inline void
pc_slot_place(pcache_t *pc, pc_slot_t *s, void *obj)
{
	pc_mag_t *m = s->loaded;

	PC_ASSERT(m->n < m->cap);
	m->objs[m->n++] = obj;
	s->puts++;
	bool wake = pc_hl_waiting(&pc->hl);
	pc_slot_unlock(s);
	if (PC_UNLIKELY(wake))
		pc_hl_wake(&pc->hl);
}

/*
 * pc_lock_get: the locked layer's get.  Hit path: one try-lock, one pop,
 * one unlock.  NULL (a miss) when the slot is busy, or empty and the depot
 * has no full magazine, or the cache has no per-CPU layer.
 */
static inline void *
pc_lock_get(pcache_t *pc)
{
	if (PC_UNLIKELY(pc->slots == NULL))
		return NULL;
	pc_slot_t *s = &pc->slots[pc_cpu_current(pc)];
	if (PC_UNLIKELY(!pc_slot_trylock(s)))
		return NULL;
	pc_mag_t *m = s->loaded;
	if (PC_UNLIKELY(m->n == 0))
		return pc_slot_get_miss(pc, s);
	void *obj = m->objs[--m->n];
	s->gets++;
	s->hits++;
	pc_slot_unlock(s);
	return obj;
}

/*
 * pc_lock_put: the locked layer's put of a checked object.  Hit path: one
 * try-lock, one push, one unlock.  False when the slot is busy, or full
 * and no magazine could be had for it, or the cache has no per-CPU layer.
 */
static inline bool
pc_lock_put(pcache_t *pc, void *obj)
{
	if (PC_UNLIKELY(pc->slots == NULL))
		return false;
	pc_slot_t *s = &pc->slots[pc_cpu_current(pc)];
	if (PC_UNLIKELY(!pc_slot_trylock(s)))
		return false;
	if (PC_UNLIKELY(s->loaded->n == s->loaded->cap))
		return pc_slot_put_miss(pc, s, obj);
	pc_slot_place(pc, s, obj);
	return true;
}

/* pc_cpu_enabled: whether the cache has a per-CPU layer at all. */
static inline bool
pc_cpu_enabled(const pcache_t *pc)
{
	return pc->slots != NULL;
}

/*
 * pc_cpu_get_hit: the restartable pop: an object from the current CPU's
 * array, or NULL (always NULL on the locked layer, whose hit path is out
 * of line in pc_cpu_get_miss()).  Inline, with no call, so that the
 * caller's hit path needs no stack frame.
 */
static inline void *
pc_cpu_get_hit(pcache_t *pc)
{
#ifdef PC_RSEQ_ARCH
	if (PC_LIKELY(pc->rseq))
		return rseq_pop(pc_rseq_off, pc->rslots, pc->rstride, pc->ncpu);
#endif
	(void)pc;
	return NULL;
}

/*
 * pc_cpu_get_miss: after pc_cpu_get_hit() came back empty: an object from
 * the current CPU's cache after a whole-magazine exchange with the depot,
 * or NULL (a miss: the caller goes on).  The locked layer's whole get.
 */
static inline void *
pc_cpu_get_miss(pcache_t *pc)
{
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		return pc_rseq_get_miss(pc);
#endif
	return pc_lock_get(pc);
}

/*
 * pc_cpu_put_hit: the restartable push of a checked object into the
 * current CPU's array, waking hard-limit sleepers (hardlimit.h); false
 * when the array is full or diverted (always false on the locked layer).
 */
static inline bool
pc_cpu_put_hit(pcache_t *pc, void *obj)
{
#ifdef PC_RSEQ_ARCH
	if (PC_LIKELY(pc->rseq)) {
		if (PC_UNLIKELY(!rseq_push(pc_rseq_off, pc->rslots, pc->rstride,
		    pc->ncpu, obj)))
			return false;
		if (PC_UNLIKELY(pc_hl_waiting(&pc->hl)))
			pc_hl_wake(&pc->hl);
		return true;
	}
#endif
	(void)pc;
	(void)obj;
	return false;
}

/*
 * pc_cpu_put_miss: after pc_cpu_put_hit() failed: place the object in the
 * current CPU's cache after spilling to the depot (or, on the locked
 * layer, the whole put), waking sleepers; false when it could not be
 * placed.
 */
static inline bool
pc_cpu_put_miss(pcache_t *pc, void *obj)
{
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		return pc_rseq_put_miss(pc, obj);
#endif
	return pc_lock_put(pc, obj);
}

/*
 * pc_cpu_get_bulk: up to n objects from the current CPU's cache and whole
 * depot magazines, never the slab layer.  Returns how many.
 */
static inline size_t
pc_cpu_get_bulk(pcache_t *pc, void **objs, size_t n)
{
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		return pc_rseq_get_bulk(pc, objs, n);
#endif
	return pc_cpu_enabled(pc) ? pc_lock_get_bulk(pc, objs, n) : 0;
}

/*
 * pc_cpu_put_bulk: pcache_put_bulk() on a cache with a per-CPU layer:
 * every non-NULL pointer checked, then placed on the CPU and in whole
 * depot magazines.
 */
static inline void
pc_cpu_put_bulk(pcache_t *pc, void *const *objs, size_t n)
{
#ifdef PC_RSEQ_ARCH
	if (pc->rseq) {
		pc_rseq_put_bulk(pc, objs, n);
		return;
	}
#endif
	pc_lock_put_bulk(pc, objs, n);
}

#endif /* PC_PERCPU_H */
