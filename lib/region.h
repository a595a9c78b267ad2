/*
 * region.h -- the built-in backing allocator's address-space region: one
 * reservation per cache from which slabs are carved at fixed,
 * slab-aligned places, so that pcache_put() can prove an object is the
 * cache's own with arithmetic and one bitmap load (slab.h).  Calls nothing
 * else in the library.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The reservation is made once, at creation, as anonymous memory mapped
 * with MAP_NORESERVE: it costs address space and one mapping, and memory
 * only where slabs are touched.  A released slab's pages go back to the
 * system with madvise(MADV_DONTNEED) and its place is reused first.  When
 * the region is full, or could not be reserved (a 32-bit address space, a
 * strict overcommit policy, PCACHE_REGION=0), slabs come from plain
 * mappings and are checked through the page map instead.
 *
 * A region may also be placed in address space the caller reserved (the
 * malloc front end puts each size class at a fixed place in one
 * reservation, so that free() finds the class with a shift); the region
 * then maps over that space and, when released, leaves it reserved.
 *
 * On a NUMA machine the region is cut into one equal part per domain, so
 * that a slab's domain is its place divided by the part's length: no
 * header to read on the way to the depot of the object's home node.
 */
#ifndef PC_REGION_H
#define PC_REGION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "topology.h"

struct pc_region {
	uintptr_t	 base;		/* first slab; 0 when there is no region */
	size_t		 len;		/* bytes; 0 when there is no region */
	unsigned	 shift;		/* log2 of the slab size */
	size_t		 nslabs;	/* len >> shift */
	_Atomic(uint64_t) *live;	/* a bit per slab: carved and not released */
	size_t		 ndom;		/* parts, one per domain */
	size_t		 domslabs;	/* slabs per part */
	uint32_t	*spare;		/* per part, a stack of released slab indices */
	size_t		 nspare;	/* in all parts */
	size_t		 dspare[PC_MAX_DOMAINS];	/* in each part */
	size_t		 next[PC_MAX_DOMAINS];	/* each part's first slab never carved */
	void		*map, *meta;	/* the mappings, for release */
	size_t		 maplen, metalen;
	bool		 placed;	/* map lies in the caller's reservation */
};

uint64_t	 pc_region_env_bytes(void);
bool		 pc_region_init(struct pc_region *r, size_t slabsize, unsigned ndom,
		    void *at, size_t atlen);
void		 pc_region_fini(struct pc_region *r);
void		*pc_region_take(struct pc_region *r, unsigned dom);
void		 pc_region_give(struct pc_region *r, void *slab);
void		 pc_region_mark(struct pc_region *r, const void *slab, bool live);

/*
 * pc_region_live: whether the slab at byte offset `off` of the region
 * (off < r->len) is carved and not released.  Lock-free: the bit of a slab
 * that holds an object out of the cache cannot change under the caller.
 */
static inline bool
pc_region_live(const struct pc_region *r, uintptr_t off)
{
	uintptr_t i = off >> r->shift;

	/* Relaxed: see above; pc_region_mark() publishes with the slab lists. */
	return (atomic_load_explicit(&r->live[i >> 6], memory_order_relaxed) >>
	    (i & 63)) & 1;
}

/* pc_region_domain: the domain of the part byte offset `off` lies in. */
static inline unsigned
pc_region_domain(const struct pc_region *r, uintptr_t off)
{
	return r->ndom < 2 ? 0 : (unsigned)((off >> r->shift) / r->domslabs);
}

#endif /* PC_REGION_H */
