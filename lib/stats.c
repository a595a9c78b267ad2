/*
 * stats.c -- the statistics of a cache: pcache_get_stats_sized() and the
 * entry point older programs call, summing what each layer counts.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "api.h"

/*
 * stats_fill: every figure of struct pcache_stats.  Reads each CPU (taking
 * its slot lock on the locked layer), then the depot, then the slab
 * layer, one at a time.
 */
static int
stats_fill(pcache_t *pc, struct pcache_stats *st)
{
	uint64_t gets, puts, nfull, nempty;

	memset(st, 0, sizeof(*st));
	st->objsize = pc->objsize;
	st->magsize = pc->magsize;
	st->fastpath = pc->rseq ? PCACHE_FASTPATH_RSEQ :
	    pc_cpu_enabled(pc) ? PCACHE_FASTPATH_LOCK : PCACHE_FASTPATH_NONE;
	/* Why this cache has a slower layer, and what the process lacks. */
	st->degraded = pc->degraded | pc_degrade_bits();
	st->numa_domains = pc->ndomain;
	for (unsigned i = 0; pc_cpu_enabled(pc) && i < pc->ncpu; i++) {
		struct pc_cpu_stats cs;
		pc_cpu_stats(pc, i, &cs);
		st->gets += cs.gets;
		st->puts += cs.puts;
		st->cpu_hits += cs.hits;
		st->cached_cpu += cs.cached;
	}
	pc_depot_stats(pc, &gets, &puts, &st->cached_depot, &nfull, &nempty);
	st->gets += gets;
	st->puts += puts;
	st->depot_full = nfull;
	st->depot_empty = nempty;
	pc_cpu_capacity_now(pc, &st->cpu_capacity, &st->cpu_capacity_max);
	pc_rcu_stats(pc, &st->rcu_deferred, &st->rcu_batches);
	pthread_mutex_lock(&pc->slab_lock);
	st->slabs = pc->nslabs;
	st->bytes = (uint64_t)pc->nslabs * pc->slabsize;
	st->slab_free = pc->nfree;
	size_t nout = pc->nout;
	pthread_mutex_unlock(&pc->slab_lock);
	/* Relaxed: statistics. */
	st->gets += atomic_load_explicit(&pc->slow_gets, memory_order_relaxed);
	st->puts += atomic_load_explicit(&pc->slow_puts, memory_order_relaxed);
	/* Checked mode's quarantine: put, not yet placed, still cached. */
	uint64_t quarantined = pc_dbg_quarantined(pc, -1);
	st->puts += quarantined;
	if (pc_cpu_enabled(pc))
		st->cached_cpu += quarantined;
	else
		st->cached_depot += quarantined;
	st->ctor_calls = atomic_load_explicit(&pc->ctor_calls, memory_order_relaxed);
	st->dtor_calls = atomic_load_explicit(&pc->dtor_calls, memory_order_relaxed);
	st->hardlimit_waits = atomic_load_explicit(&pc->hl_waits, memory_order_relaxed);
	/* Exact when quiescent on either layer, as gets - puts is. */
	uint64_t cached = st->cached_cpu + st->cached_depot;
	st->in_use = nout > cached ? nout - cached : 0;
	return 0;
}

/*
 * The struct's versions, by size: before pcache_get_stats_sized() (up to
 * `fastpath`), then up to `rcu_batches`; `degraded` came after.  A caller
 * compiled with an earlier version gets the fields it knows of.
 */
#define STATS_V1_SIZE	offsetof(struct pcache_stats, cpu_capacity)
#define STATS_V2_SIZE	offsetof(struct pcache_stats, degraded)
_Static_assert(STATS_V1_SIZE < STATS_V2_SIZE &&
    STATS_V2_SIZE < sizeof(struct pcache_stats),
    "pcache_stats grows only at its end");

/*
 * pcache_get_stats_sized: see pcache.h.  Copies the first `size` bytes of
 * the figures (zeroing what lies beyond this library's struct).
 */
int
pcache_get_stats_sized(pcache_t *pc, struct pcache_stats *st, size_t size)
{
	struct pcache_stats all;

	if (pc == NULL || st == NULL || size < STATS_V1_SIZE)
		return EINVAL;
	stats_fill(pc, &all);
	if (size > sizeof(all)) {
		memset((char *)st + sizeof(all), 0, size - sizeof(all));
		size = sizeof(all);
	}
	memcpy(st, &all, size);
	return 0;
}

/* pcache_get_stats: see pcache.h; the entry point of older programs. */
int
(pcache_get_stats)(pcache_t *pc, struct pcache_stats *st)
{
	return pcache_get_stats_sized(pc, st, STATS_V1_SIZE);
}


/* The per-CPU struct's first version: up to `capacity`. */
#define CPU_STATS_V1_SIZE	(offsetof(struct pcache_cpu_stats, capacity) + \
				    sizeof(uint64_t))

/*
 * pcache_get_cpu_stats_sized: see pcache.h.  Takes the CPU's slot lock on
 * the locked layer; reads the rseq counts without one.
 */
int
pcache_get_cpu_stats_sized(pcache_t *pc, unsigned cpu,
    struct pcache_cpu_stats *st, size_t size)
{
	struct pcache_cpu_stats all;
	struct pc_cpu_stats cs = { 0 };

	if (pc == NULL || st == NULL || cpu >= pc->ncpu || size < CPU_STATS_V1_SIZE)
		return EINVAL;
	if (pc_cpu_enabled(pc)) {
		pc_cpu_stats(pc, cpu, &cs);
		uint64_t quarantined = pc_dbg_quarantined(pc, (int)cpu);
		cs.cached += quarantined;	/* as in stats_fill() */
		cs.puts += quarantined;
	}
	all = (struct pcache_cpu_stats){ .cached = cs.cached, .gets = cs.gets,
	    .puts = cs.puts, .from_depot = cs.from_depot, .to_depot = cs.to_depot,
	    .capacity = cs.capacity };
	if (size > sizeof(all)) {
		memset((char *)st + sizeof(all), 0, size - sizeof(all));
		size = sizeof(all);
	}
	memcpy(st, &all, size);
	return 0;
}
