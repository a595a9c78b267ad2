/*
 * rcu.c -- RCU with liburcu: deferred puts (pcache_put_rcu(), batched per
 * CPU, one call_rcu() a batch), their barrier, and the flavour a cache's
 * grace periods come from.  Type-safe-by-RCU slab frees are the slab
 * layer's (slab.c), with the flavour recorded here.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * A deferred object is in use, as far as the cache is concerned, until its
 * batch lands: the call_rcu() callback gives the batch back through the
 * same step a failed bulk get uses (pc_giveback()), so that a batch that
 * lands after an invalidation completed is destructed rather than cached
 * (its objects were put before that invalidation began).  Per-CPU batch
 * locks are leaves: nothing else is taken while one is held.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "api.h"

#define RCU_BATCH	64		/* objects per call_rcu() */
#define RCU_MAX_AGE_NS	1000000ull	/* a partial batch older than 1 ms goes */
#define RCU_MAX_INFLIGHT_BYTES (16u << 20) /* deferred bytes before a putter waits */

struct pc_rcu_batch {
	struct rcu_head	 head;
	pcache_t	*pc;
	uint64_t	 gen;		/* inval_gen before its first object came */
	uint64_t	 born;		/* when its first object came, ns */
	unsigned	 n;
	void		*objs[RCU_BATCH];
};

struct pc_rcu_cpu {
	_Alignas(PC_CACHELINE) pthread_mutex_t lock;
	struct pc_rcu_batch *batch;	/* filling; NULL when none */
	uint64_t	 deferred;	/* objects deferred on this CPU, ever */
};

struct pc_rcu {
	const struct rcu_flavor_struct *flavor;
	struct pc_rcu_cpu *cpus;	/* ncpu entries */
	atomic_uint_fast64_t landed;	/* objects whose batch landed, ever */
	atomic_uint_fast64_t inflight;	/* objects in submitted batches */
	atomic_uint_fast64_t batches;	/* call_rcu() calls, a statistic */
};

/* now_ns: a monotonic clock, for a partial batch's age. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * pc_rcu_init: the cache's RCU state, with `flavor` (NULL: urcu-memb).
 * Returns 0 or ENOMEM.
 */
int
pc_rcu_init(pcache_t *pc, const struct rcu_flavor_struct *flavor)
{
	struct pc_rcu *r = pc_sys_calloc(1, sizeof(*r));

	if (r == NULL)
		return ENOMEM;
	r->cpus = pc_sys_aligned_alloc(PC_CACHELINE, pc->ncpu * sizeof(*r->cpus));
	if (r->cpus == NULL) {
		pc_sys_free(r);
		return ENOMEM;
	}
	for (unsigned i = 0; i < pc->ncpu; i++) {
		pthread_mutex_init(&r->cpus[i].lock, NULL);
		r->cpus[i].batch = NULL;
		r->cpus[i].deferred = 0;
	}
	r->flavor = flavor != NULL ? flavor : &urcu_memb_flavor;
	pc->urcu = r->flavor;
	pc->rcu = r;
	return 0;
}

/* land: the call_rcu() callback: a batch's grace period has passed. */
static void
land(struct rcu_head *head)
{
	struct pc_rcu_batch *b = caa_container_of(head, struct pc_rcu_batch, head);
	pcache_t *pc = b->pc;

	for (unsigned i = 0; pc->dbg != NULL && i < b->n; i++)
		pc_dbg_land(pc, pc_pagemap_lookup(b->objs[i]), b->objs[i]);
	pc_giveback(pc, b->objs, b->n, b->gen);
	/* Relaxed: counts; pcache_destroy() reads them after a barrier. */
	atomic_fetch_add_explicit(&pc->rcu->landed, b->n, memory_order_relaxed);
	atomic_fetch_sub_explicit(&pc->rcu->inflight, b->n, memory_order_relaxed);
	pc_sys_free(b);
}

/*
 * submit: send a detached batch on its way.  When more than
 * RCU_MAX_INFLIGHT_BYTES of objects wait for their grace periods, the
 * caller waits
 * for them to land (the flavour's barrier), as defer_rcu() makes its
 * caller wait when its queue is full: what deferred puts hold stays
 * bounded however fast they come.  No lock held.
 */
static void
submit(pcache_t *pc, struct pc_rcu_batch *b)
{
	unsigned n = b->n;

	/* Relaxed: statistics and a throttle; nothing is ordered by them. */
	atomic_fetch_add_explicit(&pc->rcu->batches, 1, memory_order_relaxed);
	uint64_t inflight = atomic_fetch_add_explicit(&pc->rcu->inflight, n,
	    memory_order_relaxed) + n;
	pc->rcu->flavor->update_call_rcu(&b->head, land);
	if (inflight * pc->objsize > RCU_MAX_INFLIGHT_BYTES)
		pc->rcu->flavor->barrier();
}

/* new_batch: an empty batch for pc, or NULL.  Its CPU's lock held. */
static struct pc_rcu_batch *
new_batch(pcache_t *pc, uint64_t now)
{
	struct pc_rcu_batch *b = pc_sys_malloc(sizeof(*b));

	if (b != NULL) {
		b->pc = pc;
		b->n = 0;
		b->born = now;
		/* Acquire: as in a bulk get, before any object joins it. */
		b->gen = atomic_load_explicit(&pc->inval_gen, memory_order_acquire);
	}
	return b;
}

/*
 * put_after_grace: no batch could be had: wait for a grace period here and
 * put the object back at once.  No lock held.
 */
static void
put_after_grace(pcache_t *pc, void *obj)
{
	/* Acquire: as in new_batch(). */
	uint64_t gen = atomic_load_explicit(&pc->inval_gen, memory_order_acquire);

	pc->rcu->flavor->update_synchronize_rcu();
	if (pc->dbg != NULL)
		pc_dbg_land(pc, pc_pagemap_lookup(obj), obj);
	pc_giveback(pc, &obj, 1, gen);
	/* Relaxed: as in land(). */
	atomic_fetch_add_explicit(&pc->rcu->landed, 1, memory_order_relaxed);
}

/*
 * pcache_put_rcu: see pcache.h.  The object joins the current CPU's batch
 * (under that CPU's batch lock); a full batch, or one found older than
 * RCU_MAX_AGE_NS (looked at every 16 objects), is submitted after the
 * lock is dropped.
 */
void
pcache_put_rcu(pcache_t *pc, void *obj)
{
	if (obj == NULL)
		return;
	pc_obj_check(pc, obj);
	if (pc->dbg != NULL)
		pc_dbg_put_rcu(pc, pc_pagemap_lookup(obj), obj);
	struct pc_rcu *r = pc->rcu;
	struct pc_rcu_cpu *c = &r->cpus[pc_cpu_current(pc)];
	struct pc_rcu_batch *done = NULL;

	pthread_mutex_lock(&c->lock);
	c->deferred++;
	struct pc_rcu_batch *b = c->batch;
	if (b == NULL && (b = c->batch = new_batch(pc, now_ns())) == NULL) {
		pthread_mutex_unlock(&c->lock);
		put_after_grace(pc, obj);
		return;
	}
	b->objs[b->n++] = obj;
	/* The clock is read every 16 objects: a full batch needs none. */
	if (b->n == RCU_BATCH ||
	    (b->n % 16 == 0 && now_ns() - b->born > RCU_MAX_AGE_NS)) {
		done = b;
		c->batch = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (done != NULL)
		submit(pc, done);
}

/*
 * flush: send every CPU's partial batch on its way: through call_rcu(), or
 * (sync) landed here after a grace period the caller waits for itself.
 * Takes each CPU's batch lock in turn.
 */
static void
flush(pcache_t *pc, bool sync)
{
	struct pc_rcu *r = pc->rcu;

	for (unsigned i = 0; i < pc->ncpu; i++) {
		struct pc_rcu_cpu *c = &r->cpus[i];
		pthread_mutex_lock(&c->lock);
		struct pc_rcu_batch *b = c->batch;
		c->batch = NULL;
		pthread_mutex_unlock(&c->lock);
		if (b == NULL)
			continue;
		if (!sync) {
			submit(pc, b);
			continue;
		}
		/* Land it here, after a grace period of our own. */
		r->flavor->update_synchronize_rcu();
		land(&b->head);
	}
}

/*
 * pcache_rcu_barrier: see pcache.h.  Partial batches are submitted, then
 * the flavour's barrier waits for every callback queued before it.
 */
void
pcache_rcu_barrier(pcache_t *pc)
{
	flush(pc, false);
	pc->rcu->flavor->barrier();
}

/*
 * pc_rcu_quiesce: before a cache is destroyed: land the partial batches
 * after a grace period of the caller's own (no registration needed), then,
 * if batches are still in flight, wait for their callbacks.
 */
/*
 * pending: objects deferred and not landed: what the CPUs deferred (read
 * under their batch locks) less what landed.  Exact when nothing is in
 * motion.
 */
static uint64_t
pending(pcache_t *pc)
{
	uint64_t deferred = 0;

	for (unsigned i = 0; i < pc->ncpu; i++) {
		struct pc_rcu_cpu *c = &pc->rcu->cpus[i];
		pthread_mutex_lock(&c->lock);
		deferred += c->deferred;
		pthread_mutex_unlock(&c->lock);
	}
	/* Relaxed: a statistic. */
	return deferred - atomic_load_explicit(&pc->rcu->landed,
	    memory_order_relaxed);
}

void
pc_rcu_quiesce(pcache_t *pc)
{
	if (pc->rcu == NULL)
		return;
	flush(pc, true);
	/* The barrier orders the callbacks' counts before whatever follows. */
	if (pending(pc) != 0)
		pc->rcu->flavor->barrier();
}

/* pc_rcu_stats: objects deferred and not landed, batches sent. */
void
pc_rcu_stats(pcache_t *pc, uint64_t *deferred, uint64_t *batches)
{
	*deferred = pc->rcu == NULL ? 0 : pending(pc);
	/* Relaxed: a statistic. */
	*batches = pc->rcu == NULL ? 0 :
	    atomic_load_explicit(&pc->rcu->batches, memory_order_relaxed);
}

/* pc_rcu_fini: free the RCU state; nothing is in flight. */
void
pc_rcu_fini(pcache_t *pc)
{
	struct pc_rcu *r = pc->rcu;

	if (r == NULL)
		return;
	for (unsigned i = 0; i < pc->ncpu; i++)
		pthread_mutex_destroy(&r->cpus[i].lock);
	pc_sys_free(r->cpus);
	pc_sys_free(r);
	pc->rcu = NULL;
}

/* pc_rcu_lock_all, pc_rcu_unlock_all: hold every batch lock across fork. */
void
pc_rcu_lock_all(pcache_t *pc)
{
	for (unsigned i = 0; pc->rcu != NULL && i < pc->ncpu; i++)
		pthread_mutex_lock(&pc->rcu->cpus[i].lock);
}

void
pc_rcu_unlock_all(pcache_t *pc)
{
	for (unsigned i = 0; pc->rcu != NULL && i < pc->ncpu; i++)
		pthread_mutex_unlock(&pc->rcu->cpus[i].lock);
}
