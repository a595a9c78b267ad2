/*
 * percpu.c -- per-CPU slots, the locked per-CPU layer, and the per-CPU
 * interface's remote half for both layers.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Each possible CPU has a cache-line-sized slot holding a loaded and a
 * previous magazine.  A thread works on the slot of the processor it runs
 * on now (sched_getcpu()), not on a slot of its own, so that draining "the
 * caller's CPU" means what it says.  Because a thread can be preempted or
 * migrated between reading its CPU number and touching the slot, the slot
 * is guarded by a lock taken with a try-lock: a busy slot sends the caller
 * elsewhere rather than making it wait.  Remote drains (invalidation,
 * hard-limit steals) take the same lock and do wait; on the rseq layer
 * (rseq.c) the slot lock is what remote drainers of a CPU's array hold.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "debug.h"
#include "percpu.h"
#include "slab.h"

/*
 * slot_lock: take a slot's lock, waiting for its holder to leave.  Slots
 * are held for a few instructions, unless the holder was preempted, hence
 * the yield.
 */
static void
slot_lock(pc_slot_t *s)
{
	while (!pc_slot_trylock(s)) {
		/* Relaxed: only a hint; pc_slot_trylock() does the ordering. */
		while (atomic_load_explicit(&s->lock, memory_order_relaxed) != 0)
			sched_yield();
	}
}

/* slot_held: for assertions. */
PC_UNUSED static inline bool
slot_held(pc_slot_t *s)
{
	/* Relaxed: the caller asks about its own lock. */
	return atomic_load_explicit(&s->lock, memory_order_relaxed) != 0;
}

/*
 * pc_slot_get_miss: the loaded magazine is empty.  Swap in the previous one if
 * it holds objects, else trade the previous (empty) magazine for a full one
 * from the depot.  Called with the slot locked; returns with it unlocked,
 * with an object or NULL (the depot had no full magazine).
 */
void *
pc_slot_get_miss(pcache_t *pc, pc_slot_t *s)
{
	pc_mag_t *m = s->prev;

	PC_ASSERT(slot_held(s));
	if (m->n == 0) {
		pc_depot_t *d = pc_depot_of_cpu(pc, (unsigned)(s - pc->slots));
		pthread_mutex_lock(&d->lock);
		pc_mag_t *f = pc_depot_take_full(d);
		if (f != NULL && m != &pc_mag_none)
			pc_depot_give_empty(d, m);
		pthread_mutex_unlock(&d->lock);
		if (f == NULL) {
			pc_slot_unlock(s);
			return NULL;
		}
		s->from_depot += f->n;
		m = f;
	}
	s->prev = s->loaded;
	s->loaded = m;
	void *obj = m->objs[--m->n];
	s->gets++;
	s->hits++;
	pc_slot_unlock(s);
	return obj;
}

/*
 * slot_put_exchange: the loaded magazine is full.  Swap in the previous one if
 * it is empty, else trade the previous (full) magazine for an empty one from
 * the depot.  Called with the slot locked; returns with it unlocked: true
 * when the object was placed, false when the depot had no empty magazine.
 */
static bool
slot_put_exchange(pcache_t *pc, pc_slot_t *s, void *obj)
{
	pc_mag_t *m = s->prev;

	PC_ASSERT(slot_held(s));
	if (m->n != 0 || m == &pc_mag_none) {
		pc_depot_t *d = pc_depot_of_cpu(pc, (unsigned)(s - pc->slots));
		pthread_mutex_lock(&d->lock);
		pc_mag_t *e = pc_depot_take_empty(d);
		if (e != NULL && m != &pc_mag_none) {
			s->to_depot += m->n;
			pc_depot_give_full(d, m);
		}
		pthread_mutex_unlock(&d->lock);
		if (e == NULL) {
			pc_slot_unlock(s);
			return false;
		}
		m = e;
	}
	s->prev = s->loaded;
	s->loaded = m;
	pc_slot_place(pc, s, obj);
	return true;
}

/*
 * pc_slot_put_miss: the slot's loaded magazine is full (slot locked;
 * returns with it unlocked): exchange magazines with the depot, or failing
 * that stock the depot with a new empty magazine and try the slot once
 * more.  False when the object could not be placed.
 */
bool
pc_slot_put_miss(pcache_t *pc, pc_slot_t *s, void *obj)
{
	if (slot_put_exchange(pc, s, obj))
		return true;
	pc_mag_t *e = pc_mag_alloc(pc);
	if (e == NULL)
		return false;
	pc_depot_stock_empty(pc, e);
	s = &pc->slots[pc_cpu_current(pc)];
	if (!pc_slot_trylock(s))
		return false;
	if (s->loaded->n < s->loaded->cap) {
		pc_slot_place(pc, s, obj);
		return true;
	}
	return slot_put_exchange(pc, s, obj);
}

/*
 * pc_lock_get_bulk: up to n objects from the current CPU's two magazines
 * under one hold of its lock (if it is free), then from whole depot
 * magazines.  Returns how many; never touches the slab layer.
 */
size_t
pc_lock_get_bulk(pcache_t *pc, void **objs, size_t n)
{
	pc_slot_t *s = &pc->slots[pc_cpu_current(pc)];
	size_t got = 0;

	if (pc_slot_trylock(s)) {
		for (int pass = 0; pass < 2 && got < n; pass++) {
			pc_mag_t *m = s->loaded;
			while (m->n > 0 && got < n)
				objs[got++] = m->objs[--m->n];
			if (got < n && s->prev->n > 0) {
				s->loaded = s->prev;
				s->prev = m;
			}
		}
		s->gets += got;
		s->hits += got;
		pc_slot_unlock(s);
	}
	/* A busy slot sends the whole request here; counted either way. */
	size_t more = pc_depot_get_many(pc, objs + got, n - got);
	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&pc->slow_gets, more, memory_order_relaxed);
	return got + more;
}

/*
 * pc_lock_put_bulk: pcache_put_bulk() on the locked layer: every non-NULL
 * pointer checked, as many as fit into the current CPU's two magazines
 * under one hold of its lock, the rest in whole magazines to the depot.
 */
void
pc_lock_put_bulk(pcache_t *pc, void *const *objs, size_t n)
{
	size_t i = 0;

	pc_obj_check_all(pc, objs, n);
	pc_slot_t *s = &pc->slots[pc_cpu_current(pc)];
	if (pc_slot_trylock(s)) {
		for (int pass = 0; pass < 2 && i < n; pass++) {
			pc_mag_t *m = s->loaded;
			for (; i < n && m->n < m->cap; i++) {
				if (objs[i] == NULL)
					continue;
				pc_obj_noaccess(pc, objs[i]);
				m->objs[m->n++] = objs[i];
				s->puts++;
			}
			if (i < n && s->prev->n == 0 && s->prev != &pc_mag_none) {
				s->loaded = s->prev;
				s->prev = m;
			}
		}
		bool wake = pc_hl_waiting(&pc->hl);
		pc_slot_unlock(s);
		if (wake)
			pc_hl_wake(&pc->hl);
	}
	/* The rest, checked already, in whole magazines. */
	for (size_t j = i; PC_MEMCHECK && j < n; j++) {
		if (objs[j] != NULL)
			pc_obj_noaccess(pc, objs[j]);
	}
	size_t placed = pc_depot_put_many(pc, objs + i, n - i);
	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&pc->slow_puts, placed, memory_order_relaxed);
}

/*
 * pc_cpu_lock, pc_cpu_unlock: hold one CPU the way a remote drainer does:
 * its slot lock, and on the rseq layer ownership of its array, so that the
 * CPU's fast path goes around it.  Waits for the slot.
 */
void
pc_cpu_lock(pcache_t *pc, unsigned cpu)
{
	slot_lock(&pc->slots[cpu]);
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		pc_rseq_own(pc, cpu);
#endif
}

void
pc_cpu_unlock(pcache_t *pc, unsigned cpu)
{
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		pc_rseq_release(pc, cpu);
#endif
	pc_slot_unlock(&pc->slots[cpu]);
}

/*
 * pc_cpu_lock_all, pc_cpu_unlock_all: pc_cpu_lock() for every CPU, slots
 * in index order (the lock order), with one membarrier for all the rseq
 * arrays.  A cache without a per-CPU layer has nothing to hold.
 */
void
pc_cpu_lock_all(pcache_t *pc)
{
	for (unsigned i = 0; pc->slots != NULL && i < pc->ncpu; i++)
		slot_lock(&pc->slots[i]);
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		pc_rseq_own_all(pc);
#endif
}

void
pc_cpu_unlock_all(pcache_t *pc)
{
	for (unsigned i = 0; pc->slots != NULL && i < pc->ncpu; i++)
		pc_cpu_unlock(pc, i);
}

/*
 * pc_cpu_detach_locked: take every object CPU cpu caches: its magazines
 * that hold objects go onto *chain (pc_mag_none takes their place), the
 * entries of its rseq array into buf.  Returns how many went into buf.
 * The CPU held (pc_cpu_lock() or pc_cpu_lock_all()).
 */
size_t
pc_cpu_detach_locked(pcache_t *pc, unsigned cpu, pc_mag_t **chain, void **buf)
{
	pc_slot_t *s = &pc->slots[cpu];

	PC_ASSERT(slot_held(s));
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		return pc_rseq_take_owned(pc, cpu, buf);
#endif
	(void)buf;
	if (s->loaded->n > 0) {
		s->loaded->next = *chain;
		*chain = s->loaded;
		s->loaded = &pc_mag_none;
	}
	if (s->prev->n > 0) {
		s->prev->next = *chain;
		*chain = s->prev;
		s->prev = &pc_mag_none;
	}
	return 0;
}

/* pc_cpu_cached_locked: objects CPU cpu caches.  The CPU held. */
uint64_t
pc_cpu_cached_locked(pcache_t *pc, unsigned cpu)
{
	struct pc_cpu_stats st;

	PC_ASSERT(slot_held(&pc->slots[cpu]));
#ifdef PC_RSEQ_ARCH
	if (pc->rseq) {
		pc_rseq_stats(pc, cpu, &st);
		return st.cached;
	}
#endif
	(void)st;
	return (uint64_t)pc->slots[cpu].loaded->n + pc->slots[cpu].prev->n;
}

/*
 * pc_cpu_stats: CPU cpu's counters and cached objects.  Takes the slot
 * lock on the locked layer; reads the rseq counters without exclusion.
 */
void
pc_cpu_stats(pcache_t *pc, unsigned cpu, struct pc_cpu_stats *st)
{
#ifdef PC_RSEQ_ARCH
	if (pc->rseq) {
		pc_rseq_stats(pc, cpu, st);
		return;
	}
#endif
	pc_slot_t *s = &pc->slots[cpu];
	slot_lock(s);
	st->gets = s->gets;
	st->puts = s->puts;
	st->hits = s->hits;
	st->cached = (uint64_t)s->loaded->n + s->prev->n;
	st->from_depot = s->from_depot;
	/* What invalidation and steals took from the magazines is not counted. */
	st->to_depot = s->to_depot;
	pc_slot_unlock(s);
	st->capacity = 2 * (uint64_t)pc->magsize;
}

/*
 * pc_cpu_capacity_now: the objects all CPUs may cache now, and the most
 * they may grow to.  The locked layer's two magazines are fixed; the rseq
 * layer's arrays adapt (rseq.c).  Reads without locks.
 */
void
pc_cpu_capacity_now(pcache_t *pc, uint64_t *now, uint64_t *max)
{
	*now = *max = 0;
	if (!pc_cpu_enabled(pc))
		return;
#ifdef PC_RSEQ_ARCH
	if (pc->rseq) {
		for (unsigned i = 0; i < pc->ncpu; i++)
			*now += pc_rseq_cap(pc, i);
		*max = (uint64_t)pc->ncpu * pc->rcap;
		return;
	}
#endif
	*now = *max = (uint64_t)pc->ncpu * 2 * pc->magsize;
}

/*
 * pc_cpu_shrink_idle: at a reclaim, give back the capacity CPUs grew and
 * no longer use (rseq.c's policy); nothing on the locked layer.  Holds
 * each CPU in turn.
 */
void
pc_cpu_shrink_idle(pcache_t *pc)
{
#ifdef PC_RSEQ_ARCH
	for (unsigned i = 0; pc->rseq && i < pc->ncpu; i++) {
		if (pc_rseq_cap(pc, i) == pc->rcap_init)
			continue;
		pc_cpu_lock(pc, i);
		pc_rseq_shrink_idle(pc, i);
		pc_cpu_unlock(pc, i);
	}
#else
	(void)pc;
#endif
}

/*
 * pc_cpu_steal: one constructed object taken from any CPU's cache, or
 * NULL.  For a get at the hard limit: cached objects count against the
 * limit, so they are handed out before anyone is refused.  Holds each CPU
 * in turn, waiting for it.
 */
void *
pc_cpu_steal(pcache_t *pc)
{
	if (pc->slots == NULL)
		return NULL;
	for (unsigned i = 0; i < pc->ncpu; i++) {
		pc_slot_t *s = &pc->slots[i];
		void *obj = NULL;

		pc_cpu_lock(pc, i);
#ifdef PC_RSEQ_ARCH
		if (pc->rseq)
			obj = pc_rseq_pop_owned(pc, i);
		else
#endif
		if (s->loaded->n > 0)
			obj = s->loaded->objs[--s->loaded->n];
		else if (s->prev->n > 0)
			obj = s->prev->objs[--s->prev->n];
		pc_cpu_unlock(pc, i);
		if (obj != NULL)
			return obj;
	}
	return NULL;
}

/*
 * pc_cpu_init: the cache's per-CPU layer: one slot per possible CPU, each
 * with no magazine yet (they come from the depot on first use), and the
 * rseq arrays where the system allows.  Returns 0 or ENOMEM.
 */
int
pc_cpu_init(pcache_t *pc)
{
	size_t len = (size_t)pc->ncpu * sizeof(pc_slot_t);
	pc_slot_t *slots = pc_sys_aligned_alloc(PC_CACHELINE, len);

	if (slots == NULL)
		return ENOMEM;
	for (unsigned i = 0; i < pc->ncpu; i++) {
		atomic_init(&slots[i].lock, 0);
		slots[i].loaded = slots[i].prev = &pc_mag_none;
		slots[i].gets = slots[i].puts = slots[i].hits = 0;
		slots[i].from_depot = slots[i].to_depot = 0;
	}
	pc->slots = slots;
	if (pc_rseq_init(pc) != 0) {
		pc_sys_free(slots);
		pc->slots = NULL;
		return ENOMEM;
	}
	/* No magazine exists yet, so the locked layer may size its own. */
	if (!pc->rseq)
		pc->magsize = pc_lock_mag_capacity(pc->objsize, pc->magsize);
	PC_ASSERT(pc->magsize <= (pc->rseq ? PC_MAG_MAX : PC_LOCK_MAG_MAX));
	return 0;
}

/*
 * pc_cpu_fini: free the per-CPU layer and its (empty) magazines.  Nobody
 * else uses the cache.
 */
void
pc_cpu_fini(pcache_t *pc)
{
	if (pc->slots == NULL)
		return;
	pc_rseq_fini(pc);
	for (unsigned i = 0; i < pc->ncpu; i++) {
		pc_slot_t *s = &pc->slots[i];
		if (s->loaded != &pc_mag_none)
			pc_sys_free(s->loaded);
		if (s->prev != &pc_mag_none)
			pc_sys_free(s->prev);
	}
	pc_sys_free(pc->slots);
	pc->slots = NULL;
}

/* pc_cpu_fork_child: renew what the per-CPU layer registered (rseq.c). */
void
pc_cpu_fork_child(void)
{
	pc_rseq_fork_child();
}
