/*
 * pcache.c -- the public calls other than the get/put fast path: creation,
 * destruction, invalidation, reclaim, limits and statistics.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcache_impl.h"

/*
 * pcache_create: see pcache.h.  Checks the configuration, lays out the
 * slabs, and sets up the depot and (unless PCACHE_NOCPU) the CPU slots.
 */
pcache_t *
pcache_create(const char *name, const struct pcache_config *cfg)
{
	pcache_t *pc;
	int error;

	if (cfg == NULL || cfg->size == 0 ||
	    (cfg->align & (cfg->align - 1)) != 0 ||
	    (cfg->flags & ~(unsigned)(PCACHE_NOCPU | PCACHE_DEBUG)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(pc->name, sizeof(pc->name), "%s", name != NULL ? name : "");
	pc->flags = cfg->flags | (pc_env_debug() ? PCACHE_DEBUG : 0);
	pc->ctor = cfg->ctor;
	pc->dtor = cfg->dtor;
	pc->arg = cfg->arg;
	if ((error = pc_slab_init(pc, cfg)) != 0) {
		free(pc);
		errno = error;
		return NULL;
	}
	pc->magsize = pc_mag_capacity(pc->objsize);
	pc->ncpu = pc_topo_ncpu();
	if (pthread_mutex_init(&pc->slab_lock, NULL) != 0)
		goto fail_slab;
	if (pthread_mutex_init(&pc->hl_lock, NULL) != 0)
		goto fail_hl;
	if (pthread_cond_init(&pc->hl_cv, NULL) != 0)
		goto fail_cv;
	if (pthread_mutex_init(&pc->hl_fill_lock, NULL) != 0)
		goto fail_fill;
	if (pc_depot_init(pc) != 0)
		goto fail_depot;
	if (pthread_mutex_init(&pc->drain_lock, NULL) != 0)
		goto fail_drain;
	/* A checked cache has no per-CPU layer: its calls reach the hooks. */
	bool percpu = (pc->flags & (PCACHE_NOCPU | PCACHE_DEBUG)) == 0;
	if ((pc->flags & PCACHE_DEBUG) != 0 && pc_dbg_init(pc) != 0)
		goto fail_dbg;
	if (percpu && pc_cpu_init(pc) != 0)
		goto fail_cpu;
	if (percpu && pc_rseq_init(pc) != 0)
		goto fail_rseq;
	pc_fork_register(pc);
	return pc;

fail_rseq:
	pc_cpu_fini(pc);
fail_cpu:
	pc_dbg_fini(pc);
fail_dbg:
	pthread_mutex_destroy(&pc->drain_lock);
fail_drain:
	pc_depot_fini(pc);
fail_depot:
	pthread_mutex_destroy(&pc->hl_fill_lock);
fail_fill:
	pthread_cond_destroy(&pc->hl_cv);
fail_cv:
	pthread_mutex_destroy(&pc->hl_lock);
fail_hl:
	pthread_mutex_destroy(&pc->slab_lock);
fail_slab:
	free(pc);
	errno = ENOMEM;
	return NULL;
}

/*
 * pc_lock_all, pc_unlock_all: drain_lock, every CPU slot in index order (and,
 * with the rseq layer, ownership of every CPU's array), then the depot.
 * The fixed order keeps two sweepers from deadlocking; a thread on the
 * fast path holds one slot at most and may wait only for the depot, which
 * a sweeper takes last.  drain_lock also guards pc->drainbuf, which holds
 * the objects taken from the rseq arrays until they are destructed.
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
	for (unsigned i = 0; pc->slots != NULL && i < pc->ncpu; i++)
		pc_slot_lock(&pc->slots[i]);
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		pc_rseq_own_all(pc);
#endif
	pthread_mutex_lock(&pc->depot.lock);
}

/* pc_unlock_all: undo pc_lock_all() except drain_lock, which the caller drops. */
void
pc_unlock_all(pcache_t *pc)
{
	pthread_mutex_unlock(&pc->depot.lock);
	for (unsigned i = 0; pc->slots != NULL && i < pc->ncpu; i++) {
#ifdef PC_RSEQ_ARCH
		if (pc->rseq)
			pc_rseq_release(pc, i);
#endif
		pc_slot_unlock(&pc->slots[i]);
	}
}

/*
 * detach_all_locked: every constructed object in the cache layer: a chain
 * of magazines, plus (rseq layer) *nbuf objects in pc->drainbuf.
 * pc_lock_all() held.
 */
static pc_mag_t *
detach_all_locked(pcache_t *pc, size_t *nbuf)
{
	pc_mag_t *chain = pc_depot_detach_locked(&pc->depot);

	*nbuf = 0;
	for (unsigned i = 0; pc->slots != NULL && i < pc->ncpu; i++) {
#ifdef PC_RSEQ_ARCH
		if (pc->rseq) {
			*nbuf += pc_rseq_take_owned(pc, i, pc->drainbuf + *nbuf);
			continue;
		}
#endif
		chain = pc_slot_detach_locked(&pc->slots[i], chain);
	}
	return chain;
}

/*
 * cached_all_locked: constructed objects in the cache layer.  pc_lock_all()
 * held.
 */
static uint64_t
cached_all_locked(pcache_t *pc)
{
	uint64_t cached = pc_depot_cached_locked(&pc->depot);

	for (unsigned i = 0; pc->slots != NULL && i < pc->ncpu; i++) {
#ifdef PC_RSEQ_ARCH
		if (pc->rseq) {
			uint64_t n, hits, puts;
			pc_rseq_counts(pc, i, &n, &hits, &puts);
			cached += n;
			continue;
		}
#endif
		cached += pc_slot_cached_locked(&pc->slots[i]);
	}
	return cached;
}

/*
 * flush_chain: destruct the objects of a detached chain, then give its
 * magazines to the depot's empty list for reuse.  No lock held.
 */
static void
flush_chain(pcache_t *pc, pc_mag_t *chain)
{
	for (pc_mag_t *m = chain; m != NULL; m = m->next)
		pc_obj_destroy_many(pc, m->objs, m->n);
	pc_depot_recycle(pc, chain);
}

/*
 * inval_gen_bump: record that an invalidation has detached what was
 * cached, so that objects a failed bulk get took before it are destructed
 * rather than given back (bulk_giveback()).  drain_lock held, after the
 * detach.
 */
static void
inval_gen_bump(pcache_t *pc)
{
	/*
	 * Relaxed: bulk_giveback() reads it under drain_lock, which orders
	 * the two; the unlocked read at the start of a bulk get only needs to
	 * precede that get's takes (see pcache_get_bulk()).
	 */
	atomic_fetch_add_explicit(&pc->inval_gen, 1, memory_order_relaxed);
}

/*
 * pcache_invalidate: see pcache.h.  All slots and the depot are held at
 * once while the objects are detached, so no object can slip from a part
 * not yet drained into one already drained: the set detached is exactly
 * what was cached at one instant after the call began, which includes
 * everything cached when it began and not since handed out.  The
 * destructors run after the slots and the depot are released.
 */
void
pcache_invalidate(pcache_t *pc)
{
	size_t nbuf;

	pc_lock_all(pc);
	pc_mag_t *chain = detach_all_locked(pc, &nbuf);
	inval_gen_bump(pc);
	pc_unlock_all(pc);
	flush_chain(pc, chain);
	pc_obj_destroy_many(pc, pc->drainbuf, nbuf);
	pthread_mutex_unlock(&pc->drain_lock);
}

/*
 * pcache_invalidate_local: see pcache.h.  Waits for the slot of the
 * caller's current CPU, which a preempted or migrated thread may hold.
 */
void
pcache_invalidate_local(pcache_t *pc)
{
	if (pc->slots == NULL)
		return;
	unsigned cpu = pc_cpu_current(pc);
	pc_slot_t *s = &pc->slots[cpu];

	/* drain_lock: for drainbuf (rseq), and for inval_gen_bump(). */
	pthread_mutex_lock(&pc->drain_lock);
#ifdef PC_RSEQ_ARCH
	if (pc->rseq) {
		/* drainbuf holds rcap objects per CPU. */
		pc_slot_lock(s);
		pc_rseq_own(pc, cpu);
		size_t n = pc_rseq_take_owned(pc, cpu, pc->drainbuf);
		inval_gen_bump(pc);
		pc_rseq_release(pc, cpu);
		pc_slot_unlock(s);
		pc_obj_destroy_many(pc, pc->drainbuf, n);
		pthread_mutex_unlock(&pc->drain_lock);
		return;
	}
#endif
	pc_slot_lock(s);
	pc_mag_t *chain = pc_slot_detach_locked(s, NULL);
	inval_gen_bump(pc);
	pc_slot_unlock(s);
	pthread_mutex_unlock(&pc->drain_lock);
	flush_chain(pc, chain);
}

/*
 * pcache_destroy: see pcache.h.  Holds every lock while counting, so that
 * EBUSY leaves the cache exactly as it was.
 */
int
pcache_destroy(pcache_t *pc)
{
	if (pc == NULL)
		return 0;
	pc_lock_all(pc);
	uint64_t cached = cached_all_locked(pc);
	pthread_mutex_lock(&pc->slab_lock);
	size_t nout = pc->nout;
	pthread_mutex_unlock(&pc->slab_lock);
	if (nout > cached) {
		pc_unlock_all(pc);
		pthread_mutex_unlock(&pc->drain_lock);
		return EBUSY;
	}
	size_t nbuf;
	pc_mag_t *chain = detach_all_locked(pc, &nbuf);
	pc_unlock_all(pc);
	pthread_mutex_unlock(&pc->drain_lock);
	pc_fork_unregister(pc);
	pc_mag_destroy_chain(pc, chain);
	pc_obj_destroy_many(pc, pc->drainbuf, nbuf);

	pc_rseq_fini(pc);
	pc_cpu_fini(pc);
	pc_dbg_fini(pc);
	pc_depot_fini(pc);
	pc_slab_fini(pc);
	pthread_mutex_destroy(&pc->hl_fill_lock);
	pthread_cond_destroy(&pc->hl_cv);
	pthread_mutex_destroy(&pc->hl_lock);
	pthread_mutex_destroy(&pc->slab_lock);
	pthread_mutex_destroy(&pc->drain_lock);
	free(pc);
	return 0;
}

/*
 * Set while a sleeper at the hard limit gives back what its own look took:
 * those objects were cached when every other sleeper last looked (looks
 * are serialised by hl_fill_lock), so their return is no news to anyone
 * and must not wake them, or bulk sleepers would wake each other for ever.
 */
static _Thread_local bool hl_quiet;

/*
 * pc_hardlimit_wake: tell sleepers at the hard limit that an object came
 * back.  Called, with no lock held, by whoever put an object somewhere a
 * sleeper looks (a slot, the depot, the slab layer) after seeing
 * hl_waiters non-zero while still holding that place's lock.  Takes hl_lock.
 */
void
pc_hardlimit_wake(pcache_t *pc)
{
	if (hl_quiet)
		return;
	pthread_mutex_lock(&pc->hl_lock);
	pc->hl_seq++;
	pthread_cond_broadcast(&pc->hl_cv);
	pthread_mutex_unlock(&pc->hl_lock);
}

/*
 * get_anywhere: one constructed object from the depot, the slab layer, or
 * (at the hard limit) another CPU's magazines.  NULL with *errp as for
 * pc_obj_create().  No lock held.
 */
static void *
get_anywhere(pcache_t *pc, int flags, int *errp)
{
	void *obj = pc_depot_get(pc);	/* counted by the depot */

	if (obj != NULL)
		return obj;
	obj = pc_obj_create(pc, flags, errp);
	if (obj == NULL && *errp == PC_EHARDLIMIT)
		obj = pc_cpu_steal(pc);
	if (obj != NULL) {
		/* Relaxed: a statistic. */
		atomic_fetch_add_explicit(&pc->slow_gets, 1, memory_order_relaxed);
	}
	return obj;
}

/* put_each: pcache_put() for each of objs[0..n-1]. */
static void
put_each(pcache_t *pc, void *const *objs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pcache_put(pc, objs[i]);
}

/* hl_seq_now: the current wake-up count.  Takes hl_lock. */
static uint64_t
hl_seq_now(pcache_t *pc)
{
	pthread_mutex_lock(&pc->hl_lock);
	uint64_t seq = pc->hl_seq;
	pthread_mutex_unlock(&pc->hl_lock);
	return seq;
}

/* hl_sleep: wait until hl_seq is no longer `seq`.  Takes hl_lock. */
static void
hl_sleep(pcache_t *pc, uint64_t seq)
{
	pthread_mutex_lock(&pc->hl_lock);
	while (pc->hl_seq == seq)
		pthread_cond_wait(&pc->hl_cv, &pc->hl_lock);
	pthread_mutex_unlock(&pc->hl_lock);
}

/*
 * get_slow_inner: a get the caller's slot could not serve.  At the hard limit
 * the caller registers in hl_waiters and looks again; a putter reads
 * hl_waiters under the lock of the place it put the object, so either the
 * look finds the object or the putter sees the waiter and bumps hl_seq.
 * A look during which hl_seq did not move saw n objects outstanding: a
 * PCACHE_NOWAIT caller is refused then, a PCACHE_WAITOK one sleeps until
 * hl_seq moves.  A caller that may sleep looks under hl_fill_lock, so that
 * it never looks while a bulk sleeper holds objects it will give back
 * quietly (see hl_quiet).
 */
static void *
get_slow_inner(pcache_t *pc, int flags)
{
	int error = 0;
	void *obj = get_anywhere(pc, flags, &error);
	bool serial = (flags & PCACHE_NOWAIT) == 0;

	if (obj != NULL)
		return obj;
	if (error != PC_EHARDLIMIT) {
		errno = error;
		return NULL;
	}
	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&pc->hl_waits, 1, memory_order_relaxed);
	/* Seq_cst: ordered before the looks below (see the comment above). */
	atomic_fetch_add(&pc->hl_waiters, 1);
	for (;;) {
		if (serial)
			pthread_mutex_lock(&pc->hl_fill_lock);
		uint64_t seq = hl_seq_now(pc);
		obj = get_anywhere(pc, flags, &error);
		if (serial)
			pthread_mutex_unlock(&pc->hl_fill_lock);
		if (obj != NULL || error != PC_EHARDLIMIT)
			break;
		if (!serial) {
			if (hl_seq_now(pc) == seq) {
				error = EAGAIN;
				break;
			}
			continue;
		}
		hl_sleep(pc, seq);
	}
	/* Relaxed: leaving needs no ordering; a spurious wake-up is harmless. */
	atomic_fetch_sub_explicit(&pc->hl_waiters, 1, memory_order_relaxed);
	if (obj == NULL)
		errno = error;
	return obj;
}

/*
 * pc_get_slow: get_slow_inner(), then checked mode's look at the
 * object on its way out.
 */
void *
pc_get_slow(pcache_t *pc, int flags)
{
	void *obj = get_slow_inner(pc, flags);

	if (pc->dbg != NULL && obj != NULL)
		pc_dbg_get(pc, obj);
	return obj;
}

/*
 * bulk_fill: objs[i..n-1] with non-sleeping gets.  Returns how many of
 * objs[] are filled; when fewer than n, *errp says why.
 */
static size_t
bulk_fill(pcache_t *pc, void **objs, size_t i, size_t n, int flags, int *errp)
{
	while (i < n && (objs[i] = pcache_get(pc, flags | PCACHE_NOWAIT)) != NULL)
		i++;
	if (i < n)
		*errp = errno;
	return i;
}

/*
 * bulk_giveback: return objs[0..n-1], taken by a bulk get that cannot be
 * completed.  The caller never had them, so nobody will bring them up to
 * date: if an invalidation has completed since `gen` was read (before the
 * first of them was taken), they may be older than it and are destructed;
 * otherwise they go back to the cache.  drain_lock makes the test and the
 * return one step with respect to invalidation, which bumps inval_gen under
 * it after detaching.  Destructors run without it.
 */
static void
bulk_giveback(pcache_t *pc, void **objs, size_t n, uint64_t gen)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&pc->drain_lock);
	/* Relaxed: drain_lock orders it against inval_gen_bump(). */
	if (atomic_load_explicit(&pc->inval_gen, memory_order_relaxed) == gen) {
		pcache_put_bulk(pc, objs, n);
		pthread_mutex_unlock(&pc->drain_lock);
		return;
	}
	pthread_mutex_unlock(&pc->drain_lock);
	for (size_t i = 0; pc->dbg != NULL && i < n; i++)
		pc_dbg_put(pc, objs[i]);	/* checks, and states it cached */
	/* Relaxed: a statistic; counted as puts, so gets - puts stays in_use. */
	atomic_fetch_add_explicit(&pc->slow_puts, n, memory_order_relaxed);
	pc_obj_destroy_many(pc, objs, n);
}

/*
 * inval_gen_now: the invalidation count, read before a bulk get takes
 * anything.  Acquire: the takes that follow cannot be moved before it, so
 * an object taken before an invalidation's detach is never paired with a
 * count read after that invalidation's bump.
 */
static uint64_t
inval_gen_now(pcache_t *pc)
{
	return atomic_load_explicit(&pc->inval_gen, memory_order_acquire);
}

/*
 * bulk_wait: pcache_get_bulk() for a PCACHE_WAITOK caller that the hard
 * limit stopped.  Registered in hl_waiters, it looks under hl_fill_lock
 * (one sleeper's look at a time), gives back quietly what a look that
 * fell short took, and sleeps until hl_seq moves: until an object comes
 * back from outside the set of sleepers, or a limit changes.  Returns 0
 * (objs[] filled) or an errno.
 */
static int
bulk_wait(pcache_t *pc, void **objs, size_t n, int flags)
{
	int error = 0;

	/* Seq_cst: as in get_slow_inner(), ordered before every look below. */
	atomic_fetch_add(&pc->hl_waiters, 1);
	for (;;) {
		pthread_mutex_lock(&pc->hl_fill_lock);
		uint64_t gen = inval_gen_now(pc);
		uint64_t seq = hl_seq_now(pc);
		size_t got = bulk_fill(pc, objs, 0, n, flags, &error);
		if (got < n) {
			hl_quiet = true;
			bulk_giveback(pc, objs, got, gen);
			hl_quiet = false;
		}
		pthread_mutex_unlock(&pc->hl_fill_lock);
		if (got == n) {
			error = 0;
			break;
		}
		if (error != EAGAIN)
			break;
		hl_sleep(pc, seq);
	}
	/* Relaxed: as in get_slow_inner(). */
	atomic_fetch_sub_explicit(&pc->hl_waiters, 1, memory_order_relaxed);
	return error;
}

/*
 * pcache_get_bulk: see pcache.h.  All or nothing.  Objects are taken
 * without sleeping: first from the CPU's cache and the depot, then one by
 * one.  When that falls short, the partial set goes back (bulk_giveback())
 * before a PCACHE_WAITOK caller at the hard limit sleeps (bulk_wait()), so
 * no caller sleeps on objects it holds itself.
 */
int
pcache_get_bulk(pcache_t *pc, void **objs, size_t n, int flags)
{
	int error = 0;
	size_t got = 0;

	if (n == 0)
		return 0;
	/*
	 * Relaxed: a request above the limit can never be met, whatever the
	 * cache holds; a limit changed meanwhile is seen by the gets below.
	 */
	size_t limit = atomic_load_explicit(&pc->hardlimit, memory_order_relaxed);
	if (limit != 0 && n > limit) {
		errno = EAGAIN;
		return -1;
	}
	uint64_t gen = inval_gen_now(pc);
#ifdef PC_RSEQ_ARCH
	if (pc->rseq)
		got = pc_rseq_get_bulk(pc, objs, n);
	else
#endif
	if (pc->slots != NULL)
		got = pc_lock_get_bulk(pc, objs, n);
	for (size_t i = 0; PC_MEMCHECK && i < got; i++)
		pc_mem_defined(objs[i], pc->usersize);
	if (got == n || (got = bulk_fill(pc, objs, got, n, flags, &error)) == n)
		return 0;
	bulk_giveback(pc, objs, got, gen);
	if (error == EAGAIN && (flags & PCACHE_NOWAIT) == 0)
		error = bulk_wait(pc, objs, n, flags);
	if (error != 0) {
		errno = error;
		return -1;
	}
	return 0;
}

/*
 * pcache_put_bulk: see pcache.h.  On the rseq layer whole chunks go into
 * the CPU's array in one section each, on the locked layer into the
 * CPU's magazines under one hold of its lock.
 */
void
pcache_put_bulk(pcache_t *pc, void *const *objs, size_t n)
{
#ifdef PC_RSEQ_ARCH
	if (pc->rseq) {
		pc_rseq_put_bulk(pc, objs, n);
		return;
	}
#endif
	if (pc->slots != NULL) {
		pc_lock_put_bulk(pc, objs, n);
		return;
	}
	put_each(pc, objs, n);
}

/*
 * pcache_reclaim: see pcache.h.  Depot first, since freeing its magazines
 * can empty slabs that the slab pass then gives back.
 */
size_t
pcache_reclaim(pcache_t *pc)
{
	pc_depot_trim(pc);
	return pc_slab_reclaim(pc);
}

/*
 * set_limit: store one of the slab layer's limits under slab_lock and wake
 * hard-limit sleepers, who re-check.  0 or EINVAL.
 */
static int
set_limit(pcache_t *pc, size_t *field, size_t n)
{
	if (pc == NULL)
		return EINVAL;
	pthread_mutex_lock(&pc->slab_lock);
	*field = n;
	pthread_mutex_unlock(&pc->slab_lock);
	pc_hardlimit_wake(pc);
	return 0;
}

int
pcache_set_lowat(pcache_t *pc, size_t n)
{
	return pc == NULL ? EINVAL : set_limit(pc, &pc->lowat, n);
}

int
pcache_set_hiwat(pcache_t *pc, size_t n)
{
	return pc == NULL ? EINVAL : set_limit(pc, &pc->hiwat, n);
}

int
pcache_set_hardlimit(pcache_t *pc, size_t n)
{
	if (pc == NULL)
		return EINVAL;
	pthread_mutex_lock(&pc->slab_lock);
	/* Relaxed: slab_lock orders it for the slab layer's readers. */
	atomic_store_explicit(&pc->hardlimit, n, memory_order_relaxed);
	pthread_mutex_unlock(&pc->slab_lock);
	pc_hardlimit_wake(pc);
	return 0;
}

/* pcache_prime: see pcache.h. */
int
pcache_prime(pcache_t *pc, size_t n)
{
	return pc == NULL ? EINVAL : pc_slab_prime(pc, n);
}

/*
 * pcache_get_stats: see pcache.h.  Takes each slot, then the depot, then
 * the slab lock, one at a time.
 */
int
pcache_get_stats(pcache_t *pc, struct pcache_stats *st)
{
	if (pc == NULL || st == NULL)
		return EINVAL;
	memset(st, 0, sizeof(*st));
	st->objsize = pc->objsize;
	st->magsize = pc->magsize;
	st->fastpath = pc->rseq ? PCACHE_FASTPATH_RSEQ :
	    pc->slots != NULL ? PCACHE_FASTPATH_LOCK : PCACHE_FASTPATH_NONE;
	for (unsigned i = 0; pc->slots != NULL && i < pc->ncpu; i++) {
		pc_slot_t *s = &pc->slots[i];
#ifdef PC_RSEQ_ARCH
		if (pc->rseq) {
			uint64_t n, hits, puts;
			pc_rseq_counts(pc, i, &n, &hits, &puts);
			st->cached_cpu += n;
			st->cpu_hits += hits;
			st->gets += hits;
			st->puts += puts;
			continue;
		}
#endif
		pc_slot_lock(s);
		st->gets += s->gets;
		st->puts += s->puts;
		st->cpu_hits += s->hits;
		st->cached_cpu += pc_slot_cached_locked(s);
		pc_slot_unlock(s);
	}
	pthread_mutex_lock(&pc->depot.lock);
	st->gets += pc->depot.gets;
	st->puts += pc->depot.puts;
	st->cached_depot = pc_depot_cached_locked(&pc->depot);
	st->depot_full = pc->depot.nfull;
	st->depot_empty = pc->depot.nempty;
	pthread_mutex_unlock(&pc->depot.lock);
	pthread_mutex_lock(&pc->slab_lock);
	st->slabs = pc->nslabs;
	st->bytes = (uint64_t)pc->nslabs * pc->slabsize;
	st->slab_free = pc->nfree;
	size_t nout = pc->nout;
	pthread_mutex_unlock(&pc->slab_lock);
	/* Relaxed: statistics. */
	st->gets += atomic_load_explicit(&pc->slow_gets, memory_order_relaxed);
	st->puts += atomic_load_explicit(&pc->slow_puts, memory_order_relaxed);
	st->ctor_calls = atomic_load_explicit(&pc->ctor_calls, memory_order_relaxed);
	st->dtor_calls = atomic_load_explicit(&pc->dtor_calls, memory_order_relaxed);
	st->hardlimit_waits = atomic_load_explicit(&pc->hl_waits, memory_order_relaxed);
	/* Exact when quiescent on either layer, unlike gets - puts (rseq.c). */
	uint64_t cached = st->cached_cpu + st->cached_depot;
	st->in_use = nout > cached ? nout - cached : 0;
	return 0;
}

/* pcache_cpu_count: see pcache.h. */
unsigned
pcache_cpu_count(void)
{
	return pc_topo_ncpu();
}
