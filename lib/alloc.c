/*
 * alloc.c -- pcache_get() and pcache_put(), single and bulk: the hit path
 * through the per-CPU layer, and every decision taken after it misses:
 * the depot's loose magazine, the slab layer, the hard limit, checked
 * mode's hooks, what a failed bulk get does with what it took, and
 * reservations (objects obtained up front).
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/*
 * quarantine_steal: the oldest object in a checked cache's quarantine, for
 * a get that nothing else can serve (the hard limit or the allocator
 * said no), or NULL.  What the quarantine holds is put and cached; it
 * must not make a get fail or sleep.  Takes drain_lock.
 */
static void *
quarantine_steal(pcache_t *pc)
{
	void *obj = NULL;

	if (!pc_dbg_quarantines(pc))
		return NULL;
	pthread_mutex_lock(&pc->drain_lock);
	size_t n = pc_dbg_unquarantine(pc, -1, &obj, 1);
	pthread_mutex_unlock(&pc->drain_lock);
	/* Relaxed: a statistic; its put counts now that it left (stats.c). */
	atomic_fetch_add_explicit(&pc->slow_puts, n, memory_order_relaxed);
	return obj;
}

/*
 * get_anywhere: one constructed object from the depot, the slab layer, or
 * (at the hard limit) another CPU's cache or a checked cache's quarantine.  NULL with *errp as for
 * pc_obj_create().  No lock held.
 */
static void *
get_anywhere(pcache_t *pc, int flags, int *errp)
{
	void *obj = pc_depot_get(pc);	/* counted by the depot */

	/* Another node's cached objects before this node's slabs grow. */
	if (obj == NULL && pc_depot_pull_remote(pc))
		obj = pc_depot_get(pc);
	if (obj != NULL)
		return obj;
	obj = pc_obj_create(pc, flags, errp);
	if (obj == NULL && *errp == PC_EHARDLIMIT)
		obj = pc_cpu_steal(pc);
	if (obj == NULL && pc->dbg != NULL)	/* at a limit: quarantine too */
		obj = quarantine_steal(pc);
	if (obj != NULL) {
		/* Relaxed: a statistic. */
		atomic_fetch_add_explicit(&pc->slow_gets, 1, memory_order_relaxed);
	}
	return obj;
}

/*
 * get_at_limit: get_anywhere() refused by the hard limit; look again as a
 * registered waiter (hardlimit.h).  A look during which the wake-up count
 * did not move saw the limit reached: a PCACHE_NOWAIT caller is refused
 * then (EAGAIN), a PCACHE_WAITOK one sleeps until the count moves.  A
 * caller that may sleep looks under the fill lock, so that it never looks
 * while a bulk sleeper holds objects it will give back quietly.
 */
static void *
get_at_limit(pcache_t *pc, int flags)
{
	bool serial = (flags & PCACHE_NOWAIT) == 0;
	int error = 0;
	void *obj;

	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&pc->hl_waits, 1, memory_order_relaxed);
	pc_hl_warn(&pc->hl, pc->name);
	pc_hl_register(&pc->hl);
	for (;;) {
		if (serial)
			pc_hl_look_begin(&pc->hl);
		uint64_t seq = pc_hl_seq(&pc->hl);
		obj = get_anywhere(pc, flags, &error);
		if (serial)
			pc_hl_look_end(&pc->hl);
		if (obj != NULL || error != PC_EHARDLIMIT)
			break;
		if (serial)
			pc_hl_sleep(&pc->hl, seq);
		else if (pc_hl_seq(&pc->hl) == seq) {
			error = EAGAIN;
			break;
		}
	}
	pc_hl_unregister(&pc->hl);
	if (obj == NULL)
		errno = error;
	return obj;
}

/*
 * get_slow: a get the CPU's cache could not serve (or a cache without a
 * per-CPU layer): the depot, the slab layer, then the hard limit; checked
 * mode looks at the object on its way out.  NULL with errno set.  Out of
 * line, so that get_miss() stays small for the locked layer's hit.
 */
PC_NOINLINE static void *
get_slow(pcache_t *pc, int flags)
{
	int error = 0;
	void *obj = get_anywhere(pc, flags, &error);

	if (obj == NULL) {
		if (error != PC_EHARDLIMIT) {
			errno = error;
			return NULL;
		}
		if ((obj = get_at_limit(pc, flags)) == NULL)
			return NULL;
	}
	if (pc->dbg != NULL)
		pc_dbg_get(pc, pc_pagemap_lookup(obj), obj);
	return obj;
}

/* get_slow_defined: get_slow(), the object marked handed out. */
PC_NOINLINE static void *
get_slow_defined(pcache_t *pc, int flags)
{
	void *obj = get_slow(pc, flags);

	if (PC_MEMCHECK && obj != NULL)
		pc_mem_defined(obj, pc->usersize);
	return obj;
}

/*
 * get_miss: pcache_get() past the inline hit: the per-CPU layer's miss
 * path (on the locked layer, its whole get; checked mode looks at what it
 * hands out), then get_slow().
 */
PC_NOINLINE static void *
get_miss(pcache_t *pc, int flags)
{
	void *obj = pc_cpu_get_miss(pc);

	if (PC_UNLIKELY(obj == NULL))
		return get_slow_defined(pc, flags);
	if (PC_UNLIKELY(pc->dbg != NULL))
		pc_dbg_get(pc, pc_pagemap_lookup(obj), obj);
	if (PC_MEMCHECK)
		pc_mem_defined(obj, pc->usersize);
	return obj;
}

/*
 * get_flags_ok: whether `flags` are get flags this cache takes: no
 * unknown bit, and PCACHE_ZERO only without a constructor (the object
 * would not be constructed).  Sets errno when not.
 */
static bool
get_flags_ok(const pcache_t *pc, int flags)
{
	if (((unsigned)flags & ~(unsigned)(PCACHE_NOWAIT | PCACHE_ZERO)) != 0 ||
	    ((flags & PCACHE_ZERO) != 0 && pc->ctor != NULL)) {
		errno = EINVAL;
		return false;
	}
	return true;
}

/*
 * get_flagged: pcache_get() with any flag beyond PCACHE_NOWAIT: checked,
 * then a plain get, zero-filled for PCACHE_ZERO.
 */
PC_NOINLINE static void *
get_flagged(pcache_t *pc, int flags)
{
	if (!get_flags_ok(pc, flags))
		return NULL;
	void *obj = pcache_get(pc, flags & PCACHE_NOWAIT);
	if (obj != NULL && (flags & PCACHE_ZERO) != 0)
		memset(obj, 0, pc->usersize);
	return obj;
}

/*
 * pcache_get: see pcache.h.  Hit path: the flags test, then the per-CPU
 * layer's restartable pop (pc_cpu_get_hit()); everything else is one tail
 * call away.
 */
void *
pcache_get(pcache_t *pc, int flags)
{
	if (PC_UNLIKELY(((unsigned)flags & ~(unsigned)PCACHE_NOWAIT) != 0))
		return get_flagged(pc, flags);
	void *obj = pc_cpu_get_hit(pc);

	if (PC_UNLIKELY(obj == NULL))
		return get_miss(pc, flags);
	if (PC_MEMCHECK)
		pc_mem_defined(obj, pc->usersize);
	return obj;
}

/*
 * put_place: a checked object into the current CPU's cache (on the locked
 * layer, its whole put), else the depot's loose magazine, which destructs
 * it when no magazine can be had.
 */
static void
put_place(pcache_t *pc, void *obj)
{
	if (!pc_cpu_put_miss(pc, obj))
		pc_depot_put(pc, obj);
}

/*
 * put_checked_held: checked mode's put: the checks (which refuse a double
 * put and hide the object), then the current CPU's quarantine ring, whose
 * oldest object goes on into the cache layer once the ring is full.
 * drain_lock held if the cache quarantines: invalidation, which takes it,
 * then finds every object either in a ring or placed, never in between.
 */
static void
put_checked_held(pcache_t *pc, void *obj)
{
	const struct pc_slab *sl = pc_pagemap_lookup(obj);

	pc_dbg_put(pc, sl, obj);
	if (pc_dbg_quarantines(pc)) {
		PC_ASSERT(pc_mutex_held(&pc->drain_lock));
		unsigned ring = pc_cpu_enabled(pc) ? pc_cpu_current(pc) : 0;
		obj = pc_dbg_quarantine(pc, ring, sl, obj);
		/* A sleeper at the hard limit may take it (quarantine_steal()). */
		if (pc_hl_waiting(&pc->hl))
			pc_hl_wake(&pc->hl);
		if (obj == NULL)
			return;
	}
	put_place(pc, obj);
}

/* put_checked: put_checked_held(), taking drain_lock where needed. */
static void
put_checked(pcache_t *pc, void *obj)
{
	if (!pc_dbg_quarantines(pc)) {
		put_checked_held(pc, obj);
		return;
	}
	pthread_mutex_lock(&pc->drain_lock);
	put_checked_held(pc, obj);
	pthread_mutex_unlock(&pc->drain_lock);
}

/*
 * put_miss: pcache_put() past the inline hit: checked mode's put, or
 * put_place().
 */
PC_NOINLINE static void
put_miss(pcache_t *pc, void *obj)
{
	if (PC_UNLIKELY(pc->dbg != NULL)) {
		put_checked(pc, obj);
		return;
	}
	put_place(pc, obj);
}

/*
 * pcache_put: see pcache.h.  Hit path: the ownership check, then the
 * per-CPU layer's restartable push (pc_cpu_put_hit()); everything else is
 * one tail call away.
 */
void
pcache_put(pcache_t *pc, void *obj)
{
	if (obj == NULL)
		return;
	pc_obj_check(pc, obj);
	if (pc->dbg == NULL)	/* checked mode checks instead */
		pc_obj_noaccess(pc, obj);
	if (PC_LIKELY(pc_cpu_put_hit(pc, obj)))
		return;
	put_miss(pc, obj);
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
 * inval_gen_now: the invalidation count, read before a bulk get takes
 * anything.  Acquire: the takes that follow cannot be moved before it, so
 * an object taken before an invalidation's detach is never paired with a
 * count read after that invalidation's bump (invalidate.c).
 */
static uint64_t
inval_gen_now(pcache_t *pc)
{
	return atomic_load_explicit(&pc->inval_gen, memory_order_acquire);
}

/*
 * pc_giveback: return objs[0..n-1], taken by a bulk get that cannot be
 * completed, or put with pcache_put_rcu() and now past their grace period
 * (rcu.c).  Nobody holds them who could bring them up to date after an
 * invalidation: if an invalidation has completed since `gen` was read (before the
 * first of them was taken), they may be older than it and are destructed;
 * otherwise they go back to the cache.  drain_lock makes the test and the
 * return one step with respect to invalidation, which bumps inval_gen under
 * it after detaching.  Destructors run without it; a checked cache's
 * objects go back through its quarantine (put_checked_held()) under it.
 */
void
pc_giveback(pcache_t *pc, void **objs, size_t n, uint64_t gen)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&pc->drain_lock);
	/* Relaxed: drain_lock orders it against the bump. */
	if (atomic_load_explicit(&pc->inval_gen, memory_order_relaxed) == gen) {
		for (size_t i = 0; pc->dbg != NULL && i < n; i++)
			put_checked_held(pc, objs[i]);
		if (pc->dbg == NULL)
			pcache_put_bulk(pc, objs, n);
		pthread_mutex_unlock(&pc->drain_lock);
		return;
	}
	pthread_mutex_unlock(&pc->drain_lock);
	for (size_t i = 0; pc->dbg != NULL && i < n; i++)	/* checks, and states it cached */
		pc_dbg_put(pc, pc_pagemap_lookup(objs[i]), objs[i]);
	/* Relaxed: a statistic; counted as puts, so gets - puts stays in_use. */
	atomic_fetch_add_explicit(&pc->slow_puts, n, memory_order_relaxed);
	pc_obj_destroy_many(pc, objs, n);
}

/*
 * bulk_wait: pcache_get_bulk() for a PCACHE_WAITOK caller that the hard
 * limit stopped.  Registered as a waiter, it looks under the fill lock
 * (one sleeper's look at a time), gives back quietly what a look that fell
 * short took, and sleeps until the wake-up count moves: until an object
 * comes back from outside the set of sleepers, or a limit changes
 * (hardlimit.h).  Returns 0 (objs[] filled) or an errno.
 */
static int
bulk_wait(pcache_t *pc, void **objs, size_t n, int flags)
{
	int error = 0;

	pc_hl_register(&pc->hl);
	for (;;) {
		pc_hl_look_begin(&pc->hl);
		uint64_t gen = inval_gen_now(pc);
		uint64_t seq = pc_hl_seq(&pc->hl);
		size_t got = bulk_fill(pc, objs, 0, n, flags, &error);
		if (got < n) {
			pc_hl_quiet_begin();
			pc_giveback(pc, objs, got, gen);
			pc_hl_quiet_end();
		}
		pc_hl_look_end(&pc->hl);
		if (got == n) {
			error = 0;
			break;
		}
		if (error != EAGAIN)
			break;
		pc_hl_sleep(&pc->hl, seq);
	}
	pc_hl_unregister(&pc->hl);
	return error;
}

/*
 * pcache_get_bulk: see pcache.h.  All or nothing.  Objects are taken
 * without sleeping: first from the CPU's cache and the depot, then one by
 * one.  When that falls short, the partial set goes back (pc_giveback())
 * before a PCACHE_WAITOK caller at the hard limit sleeps (bulk_wait()), so
 * no caller sleeps on objects it holds itself.
 */
int
pcache_get_bulk(pcache_t *pc, void **objs, size_t n, int flags)
{
	int error = 0;

	if (!get_flags_ok(pc, flags))
		return -1;
	if (n > SIZE_MAX / sizeof(void *)) {	/* no array is that long */
		errno = EINVAL;
		return -1;
	}
	if ((flags & PCACHE_ZERO) != 0) {
		if (pcache_get_bulk(pc, objs, n, flags & PCACHE_NOWAIT) != 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			memset(objs[i], 0, pc->usersize);
		return 0;
	}
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
	/* Checked mode takes them one by one, through its hooks. */
	size_t got = pc->dbg == NULL ? pc_cpu_get_bulk(pc, objs, n) : 0;
	for (size_t i = 0; PC_MEMCHECK && i < got; i++)
		pc_mem_defined(objs[i], pc->usersize);
	if (got == n || (got = bulk_fill(pc, objs, got, n, flags, &error)) == n)
		return 0;
	pc_giveback(pc, objs, got, gen);
	if (error == EAGAIN && (flags & PCACHE_NOWAIT) == 0)
		error = bulk_wait(pc, objs, n, flags);
	if (error != 0) {
		errno = error;
		return -1;
	}
	return 0;
}

/*
 * pcache_put_bulk: see pcache.h.  The per-CPU layer takes whole chunks (one
 * critical section or one lock hold each); a cache without one, or a
 * checked one, puts each.
 */
void
pcache_put_bulk(pcache_t *pc, void *const *objs, size_t n)
{
	if (n > SIZE_MAX / sizeof(void *))
		pc_panic(pc, objs, "bulk put of %zu objects: no array is that long",
		    n);
	if (pc_cpu_enabled(pc) && pc->dbg == NULL) {
		pc_cpu_put_bulk(pc, objs, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		pcache_put(pc, objs[i]);
}

/*
 * pcache_destruct: see pcache.h.  Checked, then destructed and back to its
 * slab; counted as a put, so that gets - puts == in_use still holds.
 */
void
pcache_destruct(pcache_t *pc, void *obj)
{
	if (obj == NULL)
		return;
	pc_obj_check(pc, obj);
	if (pc->dbg != NULL)
		pc_dbg_put(pc, pc_pagemap_lookup(obj), obj);	/* refuses a double put */
	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&pc->slow_puts, 1, memory_order_relaxed);
	pc_obj_destroy_many(pc, &obj, 1);
}

/* pcache_size: see pcache.h. */
size_t
pcache_size(pcache_t *pc)
{
	return pc->usersize;
}

/*
 * pcache_reserve: see pcache.h.  A bulk get into the reservation's array,
 * the invalidation count read before it (the objects are in the
 * reserver's private hands until taken or released: pc_giveback()).
 */
int
pcache_reserve(pcache_t *pc, size_t n, int flags, struct pcache_reservation *res)
{
	res->pc = pc;
	res->n = res->taken = 0;
	res->objs = res->inline_objs;
	if (n > PCACHE_RES_INLINE && (n > SIZE_MAX / sizeof(void *) ||
	    (res->objs = pc_sys_malloc(n * sizeof(void *))) == NULL)) {
		res->objs = res->inline_objs;
		errno = ENOMEM;
		return -1;
	}
	res->gen = inval_gen_now(pc);
	if (pcache_get_bulk(pc, res->objs, n, flags) != 0) {
		int error = errno;
		if (res->objs != res->inline_objs)
			pc_sys_free(res->objs);
		res->objs = res->inline_objs;
		errno = error;
		return -1;
	}
	res->n = n;
	return 0;
}

/* pcache_res_get: see pcache.h.  No lock, no call below. */
void *
pcache_res_get(struct pcache_reservation *res)
{
	return res->taken < res->n ? res->objs[res->taken++] : NULL;
}

/* pcache_res_release: see pcache.h. */
void
pcache_res_release(struct pcache_reservation *res)
{
	if (res->taken < res->n)
		pc_giveback(res->pc, res->objs + res->taken, res->n - res->taken,
		    res->gen);
	if (res->objs != res->inline_objs)
		pc_sys_free(res->objs);
	res->objs = res->inline_objs;
	res->n = res->taken = 0;
}
