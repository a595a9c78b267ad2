/*
 * cache.c -- the life of a cache: creation, destruction, limits, priming,
 * reclaim and statistics.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* The config as it was before pcache_create_sized(): up to `allocator`. */
#define CONFIG_V1_SIZE	offsetof(struct pcache_config, urcu_flavor)

#define CREATE_FLAGS	(PCACHE_NOCPU | PCACHE_DEBUG | PCACHE_TYPESAFE_BY_RCU)

/*
 * pc_create_placed: pcache_create_sized() whose built-in allocator's
 * region lies at `at` (slab-aligned, atlen bytes, reserved by the caller
 * and left reserved when the cache is destroyed) rather than where the
 * system puts it; at NULL: anywhere.  Checks the configuration (the first
 * `size` bytes of it; the rest reads as zero), lays out the slabs, and
 * sets up the depot, the deferred-put batches and (unless PCACHE_NOCPU)
 * the CPU slots.
 */
pcache_t *
pc_create_placed(const char *name, const struct pcache_config *ucfg,
    size_t size, void *at, size_t atlen)
{
	struct pcache_config cfgbuf = { 0 }, *cfg = &cfgbuf;
	pcache_t *pc;
	int error;

	if (ucfg == NULL || size < CONFIG_V1_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	memcpy(cfg, ucfg, size < sizeof(*cfg) ? size : sizeof(*cfg));
	if (cfg->size == 0 || (cfg->align & (cfg->align - 1)) != 0 ||
	    (cfg->flags & ~(unsigned)CREATE_FLAGS) != 0) {
		errno = EINVAL;
		return NULL;
	}
	/* Aligned: the hard-limit waiter count has a cache line of its own. */
	if ((pc = pc_sys_aligned_alloc(_Alignof(struct pcache), sizeof(*pc))) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memset(pc, 0, sizeof(*pc));
	snprintf(pc->name, sizeof(pc->name), "%s", name != NULL ? name : "");
	pc->flags = cfg->flags | (pc_env_debug() ? PCACHE_DEBUG : 0);
	pc->ctor = cfg->ctor;
	pc->dtor = cfg->dtor;
	pc->arg = cfg->arg;
	pc->reclaim = cfg->reclaim;
	if ((error = pc_slab_init(pc, cfg, at, atlen)) != 0) {
		pc_sys_free(pc);
		errno = error;
		return NULL;
	}
	pc->magsize = pc_mag_capacity(pc->objsize);
	pc->ncpu = pc_topo_ncpu();
	if (pthread_mutex_init(&pc->slab_lock, NULL) != 0)
		goto fail_slab;
	if (pc_hl_init(&pc->hl) != 0)
		goto fail_hl;
	if (pc_depot_init(pc) != 0)
		goto fail_depot;
	if (pthread_mutex_init(&pc->drain_lock, NULL) != 0)
		goto fail_drain;
	if (pc_rcu_init(pc, cfg->urcu_flavor) != 0)
		goto fail_rcu;
	/* A checked cache gets the locked layer (pc_rseq_init()). */
	bool percpu = (pc->flags & PCACHE_NOCPU) == 0;
	if ((pc->flags & PCACHE_DEBUG) != 0 && pc_dbg_init(pc) != 0)
		goto fail_dbg;
	if (percpu && pc_cpu_init(pc) != 0)
		goto fail_cpu;
	pc_fork_register(pc);
	pc_stats_env();
	return pc;

fail_cpu:
	pc_dbg_fini(pc);
fail_dbg:
	pc_rcu_fini(pc);
fail_rcu:
	pthread_mutex_destroy(&pc->drain_lock);
fail_drain:
	pc_depot_fini(pc);
fail_depot:
	pc_hl_fini(&pc->hl);
fail_hl:
	pthread_mutex_destroy(&pc->slab_lock);
fail_slab:
	pc_region_fini(&pc->region);
	pc_sys_free(pc);
	errno = ENOMEM;
	return NULL;
}

/* pcache_create_sized: see pcache.h. */
pcache_t *
pcache_create_sized(const char *name, const struct pcache_config *cfg,
    size_t size)
{
	return pc_create_placed(name, cfg, size, NULL, 0);
}

/* pcache_create: see pcache.h; the entry point of older programs. */
pcache_t *
(pcache_create)(const char *name, const struct pcache_config *cfg)
{
	return pcache_create_sized(name, cfg, CONFIG_V1_SIZE);
}

/*
 * pcache_destroy: see pcache.h.  Deferred puts land first (a grace period
 * waited for here, then the flavour's barrier if batches are in flight).
 * Holds the whole cache layer while counting, so that EBUSY leaves the
 * cache exactly as it was.
 */
int
pcache_destroy(pcache_t *pc)
{
	if (pc == NULL)
		return 0;
	pc_rcu_quiesce(pc);
	pc_lock_all(pc);
	uint64_t cached = pc_cached_all_locked(pc);
	pthread_mutex_lock(&pc->slab_lock);
	size_t nout = pc->nout;
	pthread_mutex_unlock(&pc->slab_lock);
	if (nout > cached) {
		pc_unlock_all(pc);
		pthread_mutex_unlock(&pc->drain_lock);
		return EBUSY;
	}
	pc_unlock_all(pc);
	pthread_mutex_unlock(&pc->drain_lock);
	pc_stats_at_destroy(pc);	/* nobody else uses it: figures hold */
	pc_lock_all(pc);
	size_t nbuf;
	pc_mag_t *chain = pc_detach_all_locked(pc, &nbuf);
	pc_unlock_all(pc);
	pc_quarantine_flush(pc, -1);
	pthread_mutex_unlock(&pc->drain_lock);
	pc_fork_unregister(pc);
	pc_fork_wait_unheld(pc);	/* a pcache_reap() may still hold it */
	pc_mag_destroy_chain(pc, chain);
	pc_obj_destroy_many(pc, pc->drainbuf, nbuf);

	pc_cpu_fini(pc);
	pc_dbg_fini(pc);
	pc_depot_fini(pc);
	pc_slab_fini(pc);
	pc_rcu_fini(pc);
	pc_hl_fini(&pc->hl);
	pthread_mutex_destroy(&pc->slab_lock);
	pthread_mutex_destroy(&pc->drain_lock);
	pc_sys_free(pc);
	return 0;
}

/*
 * pcache_reclaim: see pcache.h.  Idle CPUs' grown capacity first (its
 * excess goes to the depot), then the depot, since freeing its magazines
 * can empty slabs that the slab pass then gives back.
 */
size_t
pcache_reclaim(pcache_t *pc)
{
	pc_cpu_shrink_idle(pc);
	pc_depot_trim(pc);
	return pc_slab_reclaim(pc);
}

/*
 * set_limit: store one of the slab layer's limits under slab_lock and wake
 * hard-limit sleepers, who re-check.
 */
static int
set_limit(pcache_t *pc, size_t *field, size_t n)
{
	pthread_mutex_lock(&pc->slab_lock);
	*field = n;
	pthread_mutex_unlock(&pc->slab_lock);
	pc_hl_wake(&pc->hl);
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
	pc_hl_wake(&pc->hl);
	return 0;
}

/* pcache_prime: see pcache.h. */
int
pcache_prime(pcache_t *pc, size_t n)
{
	return pc == NULL ? EINVAL : pc_slab_prime(pc, n);
}

/* pcache_cpu_count: see pcache.h. */
unsigned
pcache_cpu_count(void)
{
	return pc_topo_ncpu();
}

/*
 * pcache_of: see pcache.h.  The page map names the slab; the address must
 * lie in its object span (not in a header or the slab's tail).
 */
pcache_t *
pcache_of(const void *obj)
{
	const struct pc_slab *sl = pc_pagemap_lookup(obj);

	if (sl == NULL)
		return NULL;
	pcache_t *pc = sl->pc;
	uintptr_t off = (uintptr_t)obj - (uintptr_t)sl->objbase;
	if ((uintptr_t)obj < (uintptr_t)sl->objbase || off >= pc->slab_span)
		return NULL;
	return pc;
}

/* pcache_set_hardlimit_warning: see pcache.h. */
int
pcache_set_hardlimit_warning(pcache_t *pc, const char *msg, unsigned interval_ms)
{
	if (pc == NULL)
		return EINVAL;
	pc_hl_set_warning(&pc->hl, msg, interval_ms);
	return 0;
}

/*
 * pcache_reap: see pcache.h.  Every cache is held while its callback and
 * reclaim run with no library lock held (pc_registry_hold_all()).
 */
size_t
pcache_reap(void)
{
	size_t n, bytes = 0;
	pcache_t **held = pc_registry_hold_all(&n);

	for (size_t i = 0; i < n; i++) {
		if (held[i]->reclaim != NULL)
			held[i]->reclaim(held[i]->arg);
		bytes += pcache_reclaim(held[i]);
	}
	pc_registry_release(held, n);
	return bytes;
}
