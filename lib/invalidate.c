/*
 * invalidate.c -- invalidation, and holding the whole cache layer of a
 * cache still: the lock-everything helpers that invalidation, destroy and
 * fork use, and the detach of every cached object.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include "api.h"

/*
 * pc_lock_all, pc_unlock_all: drain_lock, every CPU (slots in index order,
 * with ownership of the rseq arrays), then the depot: locks 3, 4, 5 of the
 * lock order (core.h).  A thread on the fast path holds one slot at most
 * and may wait only for the depot, which a sweeper takes last.  drain_lock
 * also guards pc->drainbuf, which holds the objects taken from the rseq
 * arrays until they are destructed.  pc_unlock_all() leaves drain_lock to
 * the caller, who may still destruct under it.
 */
void
pc_lock_all(pcache_t *pc)
{
	pthread_mutex_lock(&pc->drain_lock);
	pc_lock_cpus_depot(pc);
}

/* pc_lock_cpus_depot: pc_lock_all() after drain_lock. */
void
pc_lock_cpus_depot(pcache_t *pc)
{
	PC_ASSERT(pc_mutex_held(&pc->drain_lock));
	pc_cpu_lock_all(pc);
	pc_depot_lock(pc);
}

void
pc_unlock_all(pcache_t *pc)
{
	pc_depot_unlock(pc);
	pc_cpu_unlock_all(pc);
}

/*
 * pc_detach_all_locked: every constructed object in the cache layer: a
 * chain of magazines, plus (rseq layer) *nbuf objects in pc->drainbuf.
 * pc_lock_all() held.
 */
pc_mag_t *
pc_detach_all_locked(pcache_t *pc, size_t *nbuf)
{
	pc_mag_t *chain = pc_depot_detach_all_locked(pc);

	*nbuf = 0;
	for (unsigned i = 0; pc_cpu_enabled(pc) && i < pc->ncpu; i++) {
		/* Only the rseq layer has a drainbuf, and only it fills one. */
		void **buf = pc->drainbuf != NULL ? pc->drainbuf + *nbuf : NULL;
		*nbuf += pc_cpu_detach_locked(pc, i, &chain, buf);
	}
	return chain;
}

/*
 * pc_cached_all_locked: constructed objects in the cache layer, checked
 * mode's quarantine included.  pc_lock_all() held.
 */
uint64_t
pc_cached_all_locked(pcache_t *pc)
{
	uint64_t cached = pc_depot_cached_all_locked(pc) +
	    pc_dbg_quarantined(pc, -1);

	for (unsigned i = 0; pc_cpu_enabled(pc) && i < pc->ncpu; i++)
		cached += pc_cpu_cached_locked(pc, i);
	return cached;
}

/*
 * flush_chain: destruct the objects of a detached chain, then give its
 * magazines to the depot's empty list for reuse.  No lock held but
 * (perhaps) drain_lock.
 */
static void
flush_chain(pcache_t *pc, pc_mag_t *chain)
{
	for (pc_mag_t *m = chain; m != NULL; m = m->next)
		pc_obj_destroy_many(pc, m->objs, m->n);
	pc_depot_recycle(pc, chain);
}

/*
 * pc_quarantine_flush: destruct what checked mode's quarantine holds, in
 * ring `ring` (a CPU slot; -1: every ring).  Their puts are counted now
 * (stats.c counted them while they waited).  drain_lock held.
 */
void
pc_quarantine_flush(pcache_t *pc, int ring)
{
	void *buf[64];
	size_t n;

	PC_ASSERT(pc->dbg == NULL || pc_mutex_held(&pc->drain_lock));
	while ((n = pc_dbg_unquarantine(pc, ring, buf, 64)) > 0) {
		/* Relaxed: a statistic. */
		atomic_fetch_add_explicit(&pc->slow_puts, n, memory_order_relaxed);
		pc_obj_destroy_many(pc, buf, n);
	}
}

/*
 * inval_gen_bump: record that an invalidation has detached what was
 * cached, so that objects a failed bulk get took before it are destructed
 * rather than given back (alloc.c).  drain_lock held, after the detach.
 */
static void
inval_gen_bump(pcache_t *pc)
{
	PC_ASSERT(pc_mutex_held(&pc->drain_lock));
	/*
	 * Relaxed: the give-back reads it under drain_lock, which orders the
	 * two; the unlocked read at the start of a bulk get only needs to
	 * precede that get's takes (alloc.c).
	 */
	atomic_fetch_add_explicit(&pc->inval_gen, 1, memory_order_relaxed);
}

/*
 * pcache_invalidate: see pcache.h.  All CPUs and the depot are held at
 * once while the objects are detached, so no object can slip from a part
 * not yet drained into one already drained: the set detached is exactly
 * what was cached at one instant after the call began, which includes
 * everything cached when it began and not since handed out.  The
 * destructors run after the CPUs and the depot are released.
 */
void
pcache_invalidate(pcache_t *pc)
{
	size_t nbuf;

	pc_lock_all(pc);
	pc_mag_t *chain = pc_detach_all_locked(pc, &nbuf);
	inval_gen_bump(pc);
	pc_unlock_all(pc);
	flush_chain(pc, chain);
	pc_obj_destroy_many(pc, pc->drainbuf, nbuf);
	pc_quarantine_flush(pc, -1);
	pthread_mutex_unlock(&pc->drain_lock);
}

/*
 * pcache_invalidate_local: see pcache.h.  Waits for the caller's current
 * CPU, which a preempted or migrated thread may hold.  drain_lock guards
 * drainbuf (rseq layer) and orders inval_gen_bump().
 */
void
pcache_invalidate_local(pcache_t *pc)
{
	if (!pc_cpu_enabled(pc))
		return;
	unsigned cpu = pc_cpu_current(pc);
	pc_mag_t *chain = NULL;

	pthread_mutex_lock(&pc->drain_lock);
	pc_cpu_lock(pc, cpu);
	size_t n = pc_cpu_detach_locked(pc, cpu, &chain, pc->drainbuf);
	inval_gen_bump(pc);
	pc_cpu_unlock(pc, cpu);
	pc_obj_destroy_many(pc, pc->drainbuf, n);
	pc_quarantine_flush(pc, (int)cpu);
	pthread_mutex_unlock(&pc->drain_lock);
	flush_chain(pc, chain);
}
