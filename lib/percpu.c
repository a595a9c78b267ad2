/*
 * percpu.c -- per-CPU slots and the get/put fast path.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Each possible CPU has a cache-line-sized slot holding a loaded and a
 * previous magazine.  A thread works on the slot of the processor it runs
 * on now (sched_getcpu()), not on a slot of its own, so that draining "the
 * caller's CPU" means what it says.  Because a thread can be preempted or
 * migrated between reading its CPU number and touching the slot, the slot
 * is guarded by a lock taken with a try-lock: a busy slot sends the caller
 * to the depot rather than making it wait.  Remote drains (invalidation,
 * hard-limit steals) take the same lock and do wait.
 *
 * The hit path is pcache_get()/pcache_put() alone; everything else is out
 * of line.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "pcache_impl.h"
#ifdef PC_RSEQ_ARCH
#include "rseq_x86_64.h"
#endif

/*
 * slot_trylock: take a slot's lock if it is free.  Acquire: pairs with the
 * release in pc_slot_unlock(), so the magazines the last holder left are
 * seen whole.
 */
static inline bool
slot_trylock(pc_slot_t *s)
{
	return atomic_exchange_explicit(&s->lock, 1, memory_order_acquire) == 0;
}

/*
 * pc_slot_unlock: release a slot.  Release: every write to the magazines
 * and counters is visible to the next holder.
 */
void
pc_slot_unlock(pc_slot_t *s)
{
	atomic_store_explicit(&s->lock, 0, memory_order_release);
}

/*
 * pc_slot_lock: take a slot's lock, waiting for its holder to leave.  Slots
 * are held for a few instructions, unless the holder was preempted, hence
 * the yield.
 */
void
pc_slot_lock(pc_slot_t *s)
{
	while (!slot_trylock(s)) {
		/* Relaxed: only a hint; slot_trylock() does the ordering. */
		while (atomic_load_explicit(&s->lock, memory_order_relaxed) != 0)
			sched_yield();
	}
}

/*
 * pc_cpu_current: the slot index of the processor the caller runs on now.
 * Where the system cannot say, threads are spread over the slots
 * round-robin: correct (slots are locked) but not per-processor.
 */
unsigned
pc_cpu_current(const pcache_t *pc)
{
#ifdef PCACHE_HAVE_SCHED_GETCPU
	int cpu = sched_getcpu();

	if (PC_LIKELY((unsigned)cpu < pc->ncpu))
		return (unsigned)cpu;
	return cpu < 0 ? 0 : (unsigned)cpu % pc->ncpu;
#else
	static atomic_uint next;
	static _Thread_local unsigned mine = UINT32_MAX;

	if (mine == UINT32_MAX) {
		/* Relaxed: only hands out distinct numbers. */
		mine = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed);
	}
	return mine % pc->ncpu;
#endif
}

/*
 * slot_get_miss: the loaded magazine is empty.  Swap in the previous one if
 * it holds objects, else trade the previous (empty) magazine for a full one
 * from the depot.  Called with the slot locked; returns with it unlocked,
 * with an object or NULL (the depot had no full magazine).
 */
PC_NOINLINE static void *
slot_get_miss(pcache_t *pc, pc_slot_t *s)
{
	pc_mag_t *m = s->prev;

	if (m->n == 0) {
		pc_depot_t *d = &pc->depot;
		pthread_mutex_lock(&d->lock);
		pc_mag_t *f = pc_depot_take_full(d);
		if (f != NULL && m != &pc_mag_none)
			pc_depot_give_empty(d, m);
		pthread_mutex_unlock(&d->lock);
		if (f == NULL) {
			pc_slot_unlock(s);
			return NULL;
		}
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
 * slot_put_miss: the loaded magazine is full.  Swap in the previous one if
 * it is empty, else trade the previous (full) magazine for an empty one from
 * the depot.  Called with the slot locked; returns with it unlocked: true
 * when the object was placed, false when the depot had no empty magazine.
 */
PC_NOINLINE static bool
slot_put_miss(pcache_t *pc, pc_slot_t *s, void *obj)
{
	pc_mag_t *m = s->prev;

	if (m->n != 0 || m == &pc_mag_none) {
		pc_depot_t *d = &pc->depot;
		pthread_mutex_lock(&d->lock);
		pc_mag_t *e = pc_depot_take_empty(d);
		if (e != NULL && m != &pc_mag_none)
			pc_depot_give_full(d, m);
		pthread_mutex_unlock(&d->lock);
		if (e == NULL) {
			pc_slot_unlock(s);
			return false;
		}
		m = e;
	}
	s->prev = s->loaded;
	s->loaded = m;
	m->objs[m->n++] = obj;
	s->puts++;
	/* Relaxed: the slot lock orders it against a sleeper's scan. */
	bool wake = atomic_load_explicit(&pc->hl_waiters, memory_order_relaxed) != 0;
	pc_slot_unlock(s);
	if (wake)
		pc_hardlimit_wake(pc);
	return true;
}

/*
 * lock_get: pcache_get() on the locked layer.  Hit path: one try-lock,
 * one pop, one unlock.
 */
PC_NOINLINE static void *
lock_get(pcache_t *pc, int flags)
{
	if (PC_LIKELY(pc->slots != NULL)) {
		pc_slot_t *s = &pc->slots[pc_cpu_current(pc)];

		if (PC_LIKELY(slot_trylock(s))) {
			pc_mag_t *m = s->loaded;
			if (PC_LIKELY(m->n > 0)) {
				void *obj = m->objs[--m->n];
				s->gets++;
				s->hits++;
				pc_slot_unlock(s);
				return obj;
			}
			void *obj = slot_get_miss(pc, s);
			if (obj != NULL)
				return obj;
		}
	}
	return pc_get_slow(pc, flags);
}

/*
 * pcache_get: see pcache.h.  Hit path: one restartable pop (rseq.c); the
 * locked layer and every slow path are out of line.
 */
void *
pcache_get(pcache_t *pc, int flags)
{
	void *obj;

#ifdef PC_RSEQ_ARCH
	if (PC_LIKELY(pc->rseq)) {
		obj = rseq_pop(pc_rseq_off, pc->rslots, pc->rstride, pc->ncpu);
		if (PC_UNLIKELY(obj == NULL))
			obj = pc_rseq_get_slow(pc, flags);
	} else
#endif
		obj = lock_get(pc, flags);
	if (PC_MEMCHECK && obj != NULL)
		pc_mem_defined(obj, pc->usersize);
	return obj;
}

/*
 * put_slow: the object could not go into the caller's slot, which was busy
 * or lacked an empty magazine.  Stock the depot with an empty magazine and
 * retry the slot once, then fall back to the depot's loose magazine.
 */
PC_NOINLINE static void
put_slow(pcache_t *pc, void *obj, bool need_mag)
{
	if (pc->dbg != NULL)
		pc_dbg_put(pc, obj);
	if (need_mag) {
		pc_mag_t *e = pc_mag_alloc(pc);
		if (e != NULL) {
			pthread_mutex_lock(&pc->depot.lock);
			pc_depot_give_empty(&pc->depot, e);
			pthread_mutex_unlock(&pc->depot.lock);
			pc_slot_t *s = &pc->slots[pc_cpu_current(pc)];
			if (slot_trylock(s)) {
				pc_mag_t *m = s->loaded;
				if (m->n < m->cap) {
					m->objs[m->n++] = obj;
					s->puts++;
					/* Relaxed: as in slot_put_miss(). */
					bool wake = atomic_load_explicit(
					    &pc->hl_waiters, memory_order_relaxed) != 0;
					pc_slot_unlock(s);
					if (wake)
						pc_hardlimit_wake(pc);
					return;
				}
				if (slot_put_miss(pc, s, obj))
					return;
			}
		}
	}
	pc_depot_put(pc, obj);
}

/*
 * lock_put: pcache_put() on the locked layer, after the ownership check.
 * Hit path: one try-lock, one push, one unlock.
 */
PC_NOINLINE static void
lock_put(pcache_t *pc, void *obj)
{
	if (PC_LIKELY(pc->slots != NULL)) {
		pc_slot_t *s = &pc->slots[pc_cpu_current(pc)];

		if (PC_LIKELY(slot_trylock(s))) {
			pc_mag_t *m = s->loaded;
			if (PC_LIKELY(m->n < m->cap)) {
				m->objs[m->n++] = obj;
				s->puts++;
				/* Relaxed: the slot lock orders it (slot_put_miss()). */
				if (PC_UNLIKELY(atomic_load_explicit(&pc->hl_waiters,
				    memory_order_relaxed) != 0)) {
					pc_slot_unlock(s);
					pc_hardlimit_wake(pc);
					return;
				}
				pc_slot_unlock(s);
				return;
			}
			if (slot_put_miss(pc, s, obj))
				return;
			put_slow(pc, obj, true);
			return;
		}
	}
	put_slow(pc, obj, false);
}

/*
 * pcache_put: see pcache.h.  Hit path: the ownership check, then one
 * restartable push; the locked layer and every slow path are out of line.
 */
void
pcache_put(pcache_t *pc, void *obj)
{
	if (obj == NULL)
		return;
	pc_obj_check(pc, obj);
	if (PC_MEMCHECK && pc->dbg == NULL)	/* checked mode checks instead */
		pc_mem_noaccess(obj, pc->objsize);
#ifdef PC_RSEQ_ARCH
	if (PC_LIKELY(pc->rseq)) {
		if (PC_LIKELY(rseq_push(pc_rseq_off, pc->rslots, pc->rstride,
		    pc->ncpu, pc->rcap, obj))) {
			/* Relaxed: see pc_rseq_wake_check(). */
			if (PC_UNLIKELY(atomic_load_explicit(&pc->hl_waiters,
			    memory_order_relaxed) != 0))
				pc_hardlimit_wake(pc);
			return;
		}
		pc_rseq_put_slow(pc, obj);
		return;
	}
#endif
	lock_put(pc, obj);
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

	if (slot_trylock(s)) {
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
	const struct pc_slab *last = NULL;
	size_t i = 0;

	for (size_t j = 0; j < n; j++) {
		if (objs[j] != NULL)
			pc_obj_check_near(pc, objs[j], &last);
	}
	pc_slot_t *s = &pc->slots[pc_cpu_current(pc)];
	if (slot_trylock(s)) {
		for (int pass = 0; pass < 2 && i < n; pass++) {
			pc_mag_t *m = s->loaded;
			for (; i < n && m->n < m->cap; i++) {
				if (objs[i] == NULL)
					continue;
				if (PC_MEMCHECK)
					pc_mem_noaccess(objs[i], pc->objsize);
				m->objs[m->n++] = objs[i];
				s->puts++;
			}
			if (i < n && s->prev->n == 0 && s->prev != &pc_mag_none) {
				s->loaded = s->prev;
				s->prev = m;
			}
		}
		/* Relaxed: the slot lock orders it (slot_put_miss()). */
		bool wake = atomic_load_explicit(&pc->hl_waiters,
		    memory_order_relaxed) != 0;
		pc_slot_unlock(s);
		if (wake)
			pc_hardlimit_wake(pc);
	}
	/* The rest, checked already, in whole magazines. */
	for (size_t j = i; PC_MEMCHECK && j < n; j++) {
		if (objs[j] != NULL)
			pc_mem_noaccess(objs[j], pc->objsize);
	}
	size_t placed = pc_depot_put_many(pc, objs + i, n - i);
	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&pc->slow_puts, placed, memory_order_relaxed);
}

/*
 * pc_slot_detach_locked: move the slot's magazines that hold objects onto
 * `chain` and leave pc_mag_none in their place.  Slot locked.  Returns the
 * new chain.
 */
pc_mag_t *
pc_slot_detach_locked(pc_slot_t *s, pc_mag_t *chain)
{
	if (s->loaded->n > 0) {
		s->loaded->next = chain;
		chain = s->loaded;
		s->loaded = &pc_mag_none;
	}
	if (s->prev->n > 0) {
		s->prev->next = chain;
		chain = s->prev;
		s->prev = &pc_mag_none;
	}
	return chain;
}

/* pc_slot_cached_locked: objects in a slot's magazines.  Slot locked. */
uint64_t
pc_slot_cached_locked(const pc_slot_t *s)
{
	return (uint64_t)s->loaded->n + s->prev->n;
}

/*
 * pc_cpu_steal: one constructed object taken from any CPU's magazines, or
 * NULL.  For a get at the hard limit: cached objects count against the
 * limit, so they are handed out before anyone is refused.  Takes each slot
 * lock in turn, waiting for it.
 */
void *
pc_cpu_steal(pcache_t *pc)
{
	if (pc->slots == NULL)
		return NULL;
	for (unsigned i = 0; i < pc->ncpu; i++) {
		pc_slot_t *s = &pc->slots[i];
		void *obj = NULL;

		pc_slot_lock(s);
#ifdef PC_RSEQ_ARCH
		if (pc->rseq) {
			pc_rseq_own(pc, i);
			obj = pc_rseq_pop_owned(pc, i);
			pc_rseq_release(pc, i);
		} else
#endif
		if (s->loaded->n > 0)
			obj = s->loaded->objs[--s->loaded->n];
		else if (s->prev->n > 0)
			obj = s->prev->objs[--s->prev->n];
		pc_slot_unlock(s);
		if (obj != NULL)
			return obj;
	}
	return NULL;
}

/*
 * pc_cpu_init: allocate the cache's slots, one per possible CPU, each with
 * no magazine yet (they come from the depot on first use).  Returns 0 or
 * ENOMEM.
 */
int
pc_cpu_init(pcache_t *pc)
{
	size_t len = (size_t)pc->ncpu * sizeof(pc_slot_t);
	pc_slot_t *slots = aligned_alloc(PC_CACHELINE, len);

	if (slots == NULL)
		return ENOMEM;
	for (unsigned i = 0; i < pc->ncpu; i++) {
		atomic_init(&slots[i].lock, 0);
		slots[i].loaded = slots[i].prev = &pc_mag_none;
		slots[i].gets = slots[i].puts = slots[i].hits = 0;
	}
	pc->slots = slots;
	return 0;
}

/*
 * pc_cpu_fini: free the slots and their (empty) magazines.  Nobody else
 * uses the cache.
 */
void
pc_cpu_fini(pcache_t *pc)
{
	if (pc->slots == NULL)
		return;
	for (unsigned i = 0; i < pc->ncpu; i++) {
		pc_slot_t *s = &pc->slots[i];
		if (s->loaded != &pc_mag_none)
			free(s->loaded);
		if (s->prev != &pc_mag_none)
			free(s->prev);
	}
	free(pc->slots);
	pc->slots = NULL;
}
