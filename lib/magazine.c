/*
 * magazine.c -- magazines and the depot.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * A magazine is a stack of constructed objects.  The depot keeps lists of
 * full and empty magazines that CPUs exchange whole (Bonwick and Adams,
 * "Magazines and Vmem", USENIX 2001), and one loose magazine through which
 * single objects pass when a CPU's slot is busy or the cache has no CPU
 * layer.  Every depot field is under d->lock.  Whatever this file holds
 * between two lock holds is in a chain the caller owns, never an object
 * some other path expects to find cached.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "magazine.h"
#include "slab.h"

/*
 * The magazine that is not there: empty for a get (n == 0) and full for a
 * put (n == cap == 0), so the fast paths need no NULL test.  Never written.
 */
pc_mag_t pc_mag_none = { NULL, 0, 0 };

/*
 * pc_mag_capacity: objects per magazine for an object size.  Small objects
 * get big magazines: the depot lock is taken once per magazine, and a
 * magazine of small objects caches little memory (128 rather than 64 for
 * objects up to 256 bytes cut the two-CPU batch benchmark by about a fifth
 * through fewer depot exchanges).  The one place a resize policy would
 * change.
 */
unsigned
pc_mag_capacity(size_t objsize)
{
	if (objsize <= 256)
		return 128;
	if (objsize <= 1024)
		return 32;
	if (objsize <= 4096)
		return 16;
	return 8;
}

/*
 * pc_cpu_capacity: objects one CPU's array holds on the rseq layer: at
 * least two magazines (the hysteresis of Bonwick's loaded and previous
 * pair), and up to 64 KiB worth of small objects (at most 1024), so that
 * a burst of a thousand small objects stays on its CPU instead of queueing
 * at the depot's lock, the one lock every CPU shares.  With 16 threads each
 * getting and putting 1000 64-byte objects, two magazines per CPU made the
 * depot lock the bottleneck (about 300 ns a pair); see docs/bench.
 */
size_t
pc_cpu_capacity(size_t objsize, unsigned magsize)
{
	size_t cap = (64 * 1024) / objsize;

	if (cap > 1024)
		cap = 1024;
	if (cap < 2 * (size_t)magsize)
		cap = 2 * (size_t)magsize;
	return cap;
}

/*
 * pc_cpu_capacity_max: the most one CPU's rseq array may grow to (rseq.c
 * grows it while the CPU's depot traffic is frequent): 256 KiB worth of
 * objects, at most PC_RSEQ_CAP_MAX, and never below the initial capacity.
 * This bounds what one CPU caches: capacity times the object size.
 */
size_t
pc_cpu_capacity_max(size_t objsize, unsigned magsize)
{
	size_t init = pc_cpu_capacity(objsize, magsize);
	size_t cap = (256 * 1024) / objsize;

	if (cap > PC_RSEQ_CAP_MAX)
		cap = PC_RSEQ_CAP_MAX;
	return cap > init ? cap : init;
}

/*
 * pc_lock_mag_capacity: objects per magazine on the locked layer: half of
 * what one CPU may cache (pc_cpu_capacity()), at most PC_LOCK_MAG_MAX, so
 * that a CPU's loaded and previous magazines hold as much as the rseq
 * layer's array and a burst of a thousand small objects stays on its CPU
 * (with 128-object magazines it cost about 16 depot exchanges a batch).
 */
unsigned
pc_lock_mag_capacity(size_t objsize, unsigned magsize)
{
	size_t cap = pc_cpu_capacity(objsize, magsize) / 2;

	if (cap > PC_LOCK_MAG_MAX)
		cap = PC_LOCK_MAG_MAX;
	return cap > magsize ? (unsigned)cap : magsize;
}

/* pc_mag_alloc: a new empty magazine for this cache, or NULL.  No locks. */
pc_mag_t *
pc_mag_alloc(const pcache_t *pc)
{
	pc_mag_t *m = pc_fault(PC_FAULT_MAGAZINE) ? NULL :
	    pc_sys_malloc(sizeof(*m) + pc->magsize * sizeof(void *));

	if (m != NULL) {
		m->next = NULL;
		m->n = 0;
		m->cap = pc->magsize;
	}
	return m;
}

/*
 * pc_mag_destroy_chain: destruct the objects of a chain of magazines and
 * free the magazines.  No locks held.
 */
void
pc_mag_destroy_chain(pcache_t *pc, pc_mag_t *chain)
{
	while (chain != NULL) {
		pc_mag_t *next = chain->next;
		pc_obj_destroy_many(pc, chain->objs, chain->n);
		pc_sys_free(chain);
		chain = next;
	}
}

/*
 * pc_mutex_init_adaptive: a mutex that spins a little before it sleeps,
 * where the C library offers one: the depot lock is held for a few dozen
 * instructions, so a waiter on another CPU is better off spinning than
 * paying for a futex sleep and wake-up.  Elsewhere a default mutex.
 */
int
pc_mutex_init_adaptive(pthread_mutex_t *m)
{
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
	pthread_mutexattr_t attr;
	int error = pthread_mutexattr_init(&attr);

	if (error == 0)
		error = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	if (error == 0)
		error = pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
	return error;
#else
	return pthread_mutex_init(m, NULL);
#endif
}

/*
 * pc_depot_init: an empty depot per NUMA domain (pc->ndomain, set by the
 * slab layer), each on cache lines of its own.  Returns 0, ENOMEM or the
 * mutex error.
 */
int
pc_depot_init(pcache_t *pc)
{
	unsigned nd = pc->ndomain > 0 ? pc->ndomain : 1;
	char *mem = pc_sys_aligned_alloc(PC_CACHELINE, nd * PC_DEPOT_STRIDE);
	int error = 0;
	unsigned i;

	if (mem == NULL)
		return ENOMEM;
	pc->ndomain = nd;
	pc->depot = (pc_depot_t *)mem;
	for (i = 0; i < nd; i++) {
		pc_depot_t *d = pc_depot_at(pc, i);
		d->full = d->empty = NULL;
		d->nfull = d->nempty = d->nfull_min = d->nempty_min = 0;
		d->loose = &pc_mag_none;
		d->gets = d->puts = 0;
		if ((error = pc_mutex_init_adaptive(&d->lock)) != 0)
			break;
	}
	if (error != 0) {
		while (i-- > 0)
			pthread_mutex_destroy(&pc_depot_at(pc, i)->lock);
		pc_sys_free(mem);
		pc->depot = NULL;
	}
	return error;
}

/*
 * pc_depot_fini: free the depots and their (empty) magazines.  Nobody else
 * uses the cache.
 */
void
pc_depot_fini(pcache_t *pc)
{
	if (pc->depot == NULL)
		return;
	for (unsigned i = 0; i < pc->ndomain; i++) {
		pc_depot_t *d = pc_depot_at(pc, i);
		pc_mag_destroy_chain(pc, d->full);
		pc_mag_destroy_chain(pc, d->empty);
		if (d->loose != &pc_mag_none) {
			d->loose->next = NULL;
			pc_mag_destroy_chain(pc, d->loose);
		}
		pthread_mutex_destroy(&d->lock);
	}
	pc_sys_free(pc->depot);
	pc->depot = NULL;
}

/*
 * pc_depot_lock, pc_depot_unlock: hold every depot (lock order 5), in
 * domain order: whoever holds two depots takes them in that order.
 */
void
pc_depot_lock(pcache_t *pc)
{
	for (unsigned i = 0; i < pc->ndomain; i++)
		pthread_mutex_lock(&pc_depot_at(pc, i)->lock);
}

void
pc_depot_unlock(pcache_t *pc)
{
	for (unsigned i = pc->ndomain; i-- > 0;)
		pthread_mutex_unlock(&pc_depot_at(pc, i)->lock);
}

/*
 * pc_depot_take_full, pc_depot_take_empty: unlink a magazine from a list,
 * or NULL.  The low water mark of the list's length feeds pc_depot_trim().
 * d->lock held.
 */
pc_mag_t *
pc_depot_take_full(pc_depot_t *d)
{
	pc_mag_t *m = d->full;

	PC_ASSERT(pc_mutex_held(&d->lock));
	if (m != NULL) {
		d->full = m->next;
		if (--d->nfull < d->nfull_min)
			d->nfull_min = d->nfull;
	}
	return m;
}

pc_mag_t *
pc_depot_take_empty(pc_depot_t *d)
{
	pc_mag_t *m = d->empty;

	PC_ASSERT(pc_mutex_held(&d->lock));
	if (m != NULL) {
		d->empty = m->next;
		if (--d->nempty < d->nempty_min)
			d->nempty_min = d->nempty;
	}
	return m;
}

/* pc_depot_give_full, pc_depot_give_empty: push a magazine.  d->lock held. */
void
pc_depot_give_full(pc_depot_t *d, pc_mag_t *m)
{
	PC_ASSERT(pc_mutex_held(&d->lock));
	PC_ASSERT(m != &pc_mag_none && m->n > 0 && m->n <= m->cap);
	m->next = d->full;
	d->full = m;
	d->nfull++;
}

void
pc_depot_give_empty(pc_depot_t *d, pc_mag_t *m)
{
	PC_ASSERT(pc_mutex_held(&d->lock));
	PC_ASSERT(m != &pc_mag_none && m->n == 0);
	m->next = d->empty;
	d->empty = m;
	d->nempty++;
}

/*
 * pc_depot_return_locked: put a magazine back on the list its contents
 * call for.  d->lock held.
 */
void
pc_depot_return_locked(pc_depot_t *d, pc_mag_t *m)
{
	if (m->n > 0)
		pc_depot_give_full(d, m);
	else
		pc_depot_give_empty(d, m);
}

/*
 * pc_depot_stock_empty: add a new empty magazine to the caller's domain's
 * depot.  Takes d->lock.
 */
void
pc_depot_stock_empty(pcache_t *pc, pc_mag_t *m)
{
	pc_depot_t *d = pc_depot_here(pc);

	pthread_mutex_lock(&d->lock);
	pc_depot_give_empty(d, m);
	pthread_mutex_unlock(&d->lock);
}

/*
 * pc_depot_get: one constructed object from the depot (the loose magazine,
 * refilled from the full list), or NULL when the depot holds none.  Takes
 * d->lock.
 */
void *
pc_depot_get(pcache_t *pc)
{
	pc_depot_t *d = pc_depot_here(pc);
	void *obj = NULL;

	pthread_mutex_lock(&d->lock);
	pc_mag_t *m = d->loose;
	if (m->n == 0) {
		pc_mag_t *f = pc_depot_take_full(d);
		if (f != NULL) {
			if (m != &pc_mag_none)
				pc_depot_give_empty(d, m);
			d->loose = m = f;
		}
	}
	if (m->n > 0) {
		obj = m->objs[--m->n];
		d->gets++;
	}
	pthread_mutex_unlock(&d->lock);
	return obj;
}

/*
 * pc_depot_pull_remote: the caller's domain's depot is out of full
 * magazines: move one (or the loose magazine, if that is all there is)
 * from another domain's depot into it, so that a get
 * takes cached objects before the slab layer grows (the NUMA policy:
 * local first, but nothing stays idle on one node while another
 * allocates).  Both depots are held at once, in domain order, so the
 * magazine is never in private hands.  True if one moved.  Takes the two
 * depot locks.
 */
bool
pc_depot_pull_remote(pcache_t *pc)
{
	if (pc->ndomain < 2)
		return false;
	unsigned here = pc_topo_current_domain() % pc->ndomain;
	pc_depot_t *dh = pc_depot_at(pc, here);

	for (unsigned i = 1; i < pc->ndomain; i++) {
		unsigned r = (here + i) % pc->ndomain;
		pc_depot_t *dr = pc_depot_at(pc, r);
		pc_depot_t *first = r < here ? dr : dh, *second = r < here ? dh : dr;
		pthread_mutex_lock(&first->lock);
		pthread_mutex_lock(&second->lock);
		pc_mag_t *m = pc_depot_take_full(dr);
		if (m == NULL && dr->loose->n > 0) {	/* its single objects */
			m = dr->loose;
			dr->loose = &pc_mag_none;
		}
		if (m != NULL)
			pc_depot_return_locked(dh, m);
		pthread_mutex_unlock(&second->lock);
		pthread_mutex_unlock(&first->lock);
		if (m != NULL)
			return true;
	}
	return false;
}

/*
 * pc_depot_put: put one constructed object in the depot's loose magazine,
 * exchanging a full one for an empty one as needed.  When no magazine can
 * be had the object is destructed instead.  Wakes hard-limit sleepers.
 * Takes d->lock; allocates without it.
 */
void
pc_depot_put(pcache_t *pc, void *obj)
{
	pc_depot_t *d = pc_depot_here(pc);

	for (;;) {
		pthread_mutex_lock(&d->lock);
		pc_mag_t *m = d->loose;
		if (m->n == m->cap) {
			pc_mag_t *e = pc_depot_take_empty(d);
			if (e != NULL) {
				if (m != &pc_mag_none)
					pc_depot_give_full(d, m);
				d->loose = m = e;
			}
		}
		if (m->n < m->cap) {
			m->objs[m->n++] = obj;
			d->puts++;
			bool wake = pc_hl_waiting(&pc->hl);
			pthread_mutex_unlock(&d->lock);
			if (wake)
				pc_hl_wake(&pc->hl);
			return;
		}
		pthread_mutex_unlock(&d->lock);

		pc_mag_t *e = pc_mag_alloc(pc);
		if (e == NULL) {
			/* Relaxed: a statistic. */
			atomic_fetch_add_explicit(&pc->slow_puts, 1,
			    memory_order_relaxed);
			pc_obj_destroy_many(pc, &obj, 1);
			return;
		}
		pc_depot_stock_empty(pc, e);
	}
}

/*
 * pc_depot_return_chain: give a chain of magazines back to the depot in one hold of
 * its lock, each to the list its contents call for, and wake hard-limit
 * sleepers if objects came back.  Takes d->lock.
 */
void
pc_depot_return_chain(pcache_t *pc, pc_mag_t *chain)
{
	pc_depot_t *d = pc_depot_here(pc);
	bool objects = false;

	pthread_mutex_lock(&d->lock);
	while (chain != NULL) {
		pc_mag_t *next = chain->next;
		objects |= chain->n > 0;
		pc_depot_return_locked(d, chain);
		chain = next;
	}
	bool wake = objects && pc_hl_waiting(&pc->hl);
	pthread_mutex_unlock(&d->lock);
	if (wake)
		pc_hl_wake(&pc->hl);
}

/*
 * pc_depot_put_many: put the non-NULL entries of objs[0..n-1], already
 * checked, into the depot in whole magazines: empty ones taken under one
 * hold of the depot lock (or allocated), filled, and given back full under
 * one more.  Objects no magazine could be had for go one by one to the
 * loose magazine (pc_depot_put(), which counts them).  Returns how many
 * went in whole magazines.  No lock held.
 */
size_t
pc_depot_put_many(pcache_t *pc, void *const *objs, size_t n)
{
	pc_depot_t *d = pc_depot_here(pc);
	size_t placed = 0;
	size_t want = (n + pc->magsize - 1) / pc->magsize;
	pc_mag_t *empties = NULL, *fulls = NULL, *m;

	pthread_mutex_lock(&d->lock);
	while (want-- > 0 && (m = pc_depot_take_empty(d)) != NULL) {
		m->next = empties;
		empties = m;
	}
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n;) {
		if ((m = empties) != NULL)
			empties = m->next;
		else if ((m = pc_mag_alloc(pc)) == NULL) {
			for (; i < n; i++) {
				if (objs[i] != NULL)
					pc_depot_put(pc, objs[i]);
			}
			break;
		}
		for (; i < n && m->n < m->cap; i++) {
			if (objs[i] != NULL)
				m->objs[m->n++] = objs[i];
		}
		placed += m->n;
		m->next = fulls;
		fulls = m;
	}
	while (empties != NULL) {	/* none used: NULL entries */
		m = empties->next;
		empties->next = fulls;
		fulls = empties;
		empties = m;
	}
	pc_depot_return_chain(pc, fulls);
	return placed;
}

/*
 * pc_depot_get_many_locked: up to n constructed objects from whole depot
 * magazines.  Returns how many.  A magazine that still holds objects after
 * the last take is unlinked and left in *rest (else NULL) for the caller
 * to use or return with pc_depot_return_locked() before dropping d->lock,
 * so that nothing cached is ever in private hands, where an invalidation
 * could miss it.  d->lock held.
 */
size_t
pc_depot_get_many_locked(pc_depot_t *d, void **objs, size_t n, pc_mag_t **rest)
{
	size_t got = 0;
	pc_mag_t *m;

	*rest = NULL;
	while (got < n && (m = pc_depot_take_full(d)) != NULL) {
		size_t k = m->n < n - got ? m->n : n - got;
		m->n -= (unsigned)k;
		memcpy(objs + got, m->objs + m->n, k * sizeof(void *));
		got += k;
		if (m->n > 0)
			*rest = m;	/* the last one: got == n */
		else
			pc_depot_give_empty(d, m);
	}
	return got;
}

/*
 * pc_depot_get_many: pc_depot_get_many_locked() under one hold of d->lock,
 * a partly used magazine going back full.  Takes d->lock.
 */
size_t
pc_depot_get_many(pcache_t *pc, void **objs, size_t n)
{
	pc_depot_t *d = pc_depot_here(pc);
	pc_mag_t *rest;

	pthread_mutex_lock(&d->lock);
	size_t got = pc_depot_get_many_locked(d, objs, n, &rest);
	if (rest != NULL)
		pc_depot_return_locked(d, rest);
	pthread_mutex_unlock(&d->lock);
	return got;
}

/*
 * pc_depot_detach_locked: take every constructed object out of the depot,
 * as a chain of magazines for the caller to destroy.  d->lock held.
 */
pc_mag_t *
pc_depot_detach_locked(pc_depot_t *d)
{
	pc_mag_t *chain = d->full;

	PC_ASSERT(pc_mutex_held(&d->lock));
	d->full = NULL;
	d->nfull = d->nfull_min = 0;
	if (d->loose->n > 0) {
		d->loose->next = chain;
		chain = d->loose;
		d->loose = &pc_mag_none;
	}
	return chain;
}

/*
 * pc_depot_detach_all_locked: pc_depot_detach_locked() of every domain's
 * depot, as one chain.  Every depot held (pc_depot_lock()).
 */
pc_mag_t *
pc_depot_detach_all_locked(pcache_t *pc)
{
	pc_mag_t *chain = NULL;

	for (unsigned i = 0; i < pc->ndomain; i++) {
		pc_mag_t *c = pc_depot_detach_locked(pc_depot_at(pc, i));
		while (c != NULL) {
			pc_mag_t *next = c->next;
			c->next = chain;
			chain = c;
			c = next;
		}
	}
	return chain;
}

/*
 * pc_depot_cached_all_locked: constructed objects in every depot.  Every
 * depot held.
 */
uint64_t
pc_depot_cached_all_locked(pcache_t *pc)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < pc->ndomain; i++)
		n += pc_depot_cached_locked(pc_depot_at(pc, i));
	return n;
}

/*
 * pc_depot_cached_locked: constructed objects in the depot.  d->lock held.
 */
uint64_t
pc_depot_cached_locked(const pc_depot_t *d)
{
	PC_ASSERT(pc_mutex_held((pthread_mutex_t *)&d->lock));
	uint64_t n = d->loose->n;

	for (const pc_mag_t *m = d->full; m != NULL; m = m->next)
		n += m->n;
	return n;
}

/*
 * pc_depot_recycle: give back to the empty list the magazines of a chain
 * that pc_depot_detach_locked() returned, once their objects are gone.
 * Takes d->lock.
 */
void
pc_depot_recycle(pcache_t *pc, pc_mag_t *chain)
{
	pc_depot_t *d = pc_depot_here(pc);

	pthread_mutex_lock(&d->lock);
	while (chain != NULL) {
		pc_mag_t *next = chain->next;
		chain->n = 0;
		pc_depot_give_empty(d, chain);
		chain = next;
	}
	pthread_mutex_unlock(&d->lock);
}

static void	 depot_trim(pcache_t *pc, pc_depot_t *d);

/*
 * pc_depot_trim: free the magazines that sat unused in the depot since the
 * last trim (the smallest length each list had meanwhile), destructing the
 * objects of the full ones.  Takes d->lock; destructs without it.
 */
void
pc_depot_trim(pcache_t *pc)
{
	for (unsigned i = 0; i < pc->ndomain; i++)
		depot_trim(pc, pc_depot_at(pc, i));
}

/* depot_trim: pc_depot_trim() of one depot.  Takes d->lock. */
static void
depot_trim(pcache_t *pc, pc_depot_t *d)
{
	pc_mag_t *full = NULL, *empty = NULL;

	pthread_mutex_lock(&d->lock);
	for (size_t n = d->nfull_min; n > 0; n--) {
		pc_mag_t *m = pc_depot_take_full(d);
		m->next = full;
		full = m;
	}
	for (size_t n = d->nempty_min; n > 0; n--) {
		pc_mag_t *m = pc_depot_take_empty(d);
		m->next = empty;
		empty = m;
	}
	d->nfull_min = d->nfull;
	d->nempty_min = d->nempty;
	pthread_mutex_unlock(&d->lock);

	pc_mag_destroy_chain(pc, full);
	pc_mag_destroy_chain(pc, empty);
}

/*
 * pc_depot_stats: the depots' single-object counts, cached objects and
 * list lengths, summed over the domains.  Takes each d->lock in turn.
 */
void
pc_depot_stats(pcache_t *pc, uint64_t *gets, uint64_t *puts, uint64_t *cached,
    uint64_t *nfull, uint64_t *nempty)
{
	*gets = *puts = *cached = *nfull = *nempty = 0;
	for (unsigned i = 0; i < pc->ndomain; i++) {
		pc_depot_t *d = pc_depot_at(pc, i);
		pthread_mutex_lock(&d->lock);
		*gets += d->gets;
		*puts += d->puts;
		*cached += pc_depot_cached_locked(d);
		*nfull += d->nfull;
		*nempty += d->nempty;
		pthread_mutex_unlock(&d->lock);
	}
}
