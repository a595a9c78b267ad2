/*
 * slab.h -- the slab layer: pages from the backing allocator cut into
 * objects, and the constructor/destructor boundary.  Calls the page map
 * and the leaves.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef PC_SLAB_H
#define PC_SLAB_H

#include "core.h"
#include "pagemap.h"

/*
 * A slab: one allocator page cut into objects.  The header sits at the
 * start of the page for small objects and in malloc'd memory (off-slab)
 * for objects of 1/8 of a slab or more.  Free objects are kept as a stack
 * of indices in the header, so a free object's memory is never written.
 */
struct pc_slab {
	pcache_t	*pc;		/* owning cache, for the put check */
	char		*base;		/* the allocator's page */
	char		*objbase;	/* first object */
	struct pc_slab	*next, *prev;	/* on the list pc->slabs[dom][list] */
	uint16_t	 nfree;		/* entries in freeidx[] */
	uint16_t	 list;		/* PC_LIST_* index */
	uint16_t	 dom;		/* NUMA domain its memory is bound to */
	uint16_t	 freeidx[];	/* stack of free object indices */
};

/* Slab lists: full, PC_NBUCKETS partial buckets (fullest first), empty. */
#define PC_LIST_FULL	0
#define PC_LIST_EMPTY	(PC_NBUCKETS + 1)

int		 pc_slab_init(pcache_t *pc, const struct pcache_config *cfg,
		    void *at, size_t atlen);
void		*pc_slab_get(pcache_t *pc, int flags, int *errp);
void		 pc_slab_put(pcache_t *pc, void *obj);
void		 pc_slab_put_many(pcache_t *pc, void *const *objs, size_t n);
void		*pc_obj_create(pcache_t *pc, int flags, int *errp);
void		 pc_obj_destroy_many(pcache_t *pc, void *const *objs, size_t n);
size_t		 pc_slab_reclaim(pcache_t *pc);
int		 pc_slab_prime(pcache_t *pc, size_t n);
void		 pc_slab_fini(pcache_t *pc);
unsigned	 pc_obj_domain(const pcache_t *pc, const void *obj);
PC_NORETURN void pc_obj_bad(pcache_t *pc, const void *obj,
    const struct pc_slab *sl);

/*
 * pc_obj_noaccess: tell the memory checkers (if built in) that nobody may
 * touch obj until it is handed out again -- except in a
 * PCACHE_TYPESAFE_BY_RCU cache, whose free objects RCU readers may still
 * read until their memory goes after a grace period.
 */
static inline void
pc_obj_noaccess(const pcache_t *pc, const void *obj)
{
	if (PC_MEMCHECK && (pc->flags & PCACHE_TYPESAFE_BY_RCU) == 0)
		pc_mem_noaccess(obj, pc->objsize);
}

/*
 * pc_obj_check_in: abort unless `obj` is the start of an object of this
 * cache, given `sl`, the page map's answer for obj.  The divisibility test
 * is Lemire's: for 32-bit n, n % d == 0 iff n * ceil(2^64 / d) <
 * ceil(2^64 / d) (mod 2^64).
 */
static inline void
pc_obj_check_in(pcache_t *pc, const void *obj, const struct pc_slab *sl)
{
	if (PC_UNLIKELY(sl == NULL || sl->pc != pc))
		pc_obj_bad(pc, obj, sl);
	uintptr_t off = (uintptr_t)obj - (uintptr_t)sl->objbase;
	if (PC_UNLIKELY((uintptr_t)obj < (uintptr_t)sl->objbase ||
	    off >= pc->slab_span ||
	    (uint64_t)off * pc->objsize_div >= pc->objsize_div))
		pc_obj_bad(pc, obj, sl);
}

/*
 * pc_obj_check: abort unless `obj` is the start of an object of this
 * cache.  Lock-free.  Inside the cache's region (region.h) it needs no
 * slab header: a range test, a mask, the divisibility test on the offset
 * within the slab (objects sit at the same offsets in every region slab),
 * and one bitmap load that refuses a slab given back.  Elsewhere (a user
 * allocator, a cache whose region is full or absent) the page map finds
 * the slab.  Either way a refusal is explained by pc_obj_bad().
 */
static inline void
pc_obj_check(pcache_t *pc, const void *obj)
{
	uintptr_t off = (uintptr_t)obj - pc->region.base;

	if (PC_LIKELY(off < pc->region.len)) {
		uintptr_t in = (off & (pc->slabsize - 1)) - pc->slab_first;
		if (PC_UNLIKELY(in >= pc->slab_span ||
		    (uint64_t)in * pc->objsize_div >= pc->objsize_div ||
		    !pc_region_live(&pc->region, off)))
			pc_obj_bad(pc, obj, pc_pagemap_lookup(obj));
		return;
	}
	pc_obj_check_in(pc, obj, pc_pagemap_lookup(obj));
}

/*
 * pc_obj_check_near: pc_obj_check() for a run of objects, skipping the page
 * map while they stay in the slab *last the previous check found.  That
 * slab cannot be freed meanwhile: the previous object, ours until a moment
 * ago, is still out of the slab layer.  In the region there is no map to
 * skip.
 */
static inline void
pc_obj_check_near(pcache_t *pc, const void *obj, const struct pc_slab **last)
{
	const struct pc_slab *sl = *last;

	if ((uintptr_t)obj - pc->region.base < pc->region.len) {
		pc_obj_check(pc, obj);
		return;
	}
	if (sl == NULL || (uintptr_t)obj - (uintptr_t)sl->base >= pc->slabsize)
		*last = sl = pc_pagemap_lookup(obj);
	pc_obj_check_in(pc, obj, sl);
}

/*
 * region_all_good: whether every entry of objs[0..n-1] is an object of a
 * live slab of the cache's region, by pc_obj_check()'s tests, the bitmap
 * read once per run of entries in one slab.  False at the first entry
 * that fails (NULL included): the caller then checks one by one.
 */
static inline bool
region_all_good(const pcache_t *pc, void *const *objs, size_t n)
{
	const struct pc_region *r = &pc->region;
	uintptr_t mask = pc->slabsize - 1, first = pc->slab_first;
	uintptr_t span = pc->slab_span, last = UINTPTR_MAX;
	uint64_t div = pc->objsize_div;

	for (size_t i = 0; i < n; i++) {
		uintptr_t off = (uintptr_t)objs[i] - r->base;
		uintptr_t in = (off & mask) - first;
		if (PC_UNLIKELY(off >= r->len || in >= span ||
		    (uint64_t)in * div >= div))
			return false;
		if (off >> r->shift != last) {
			if (PC_UNLIKELY(!pc_region_live(r, off)))
				return false;
			last = off >> r->shift;
		}
	}
	return true;
}

/*
 * pc_obj_check_all: pc_obj_check() for every non-NULL entry of
 * objs[0..n-1], before any of them is put: once one is cached its slab
 * may be emptied and freed by an invalidation, and the remembered slab
 * with it.
 */
static inline void
pc_obj_check_all(pcache_t *pc, void *const *objs, size_t n)
{
	const struct pc_slab *last = NULL;

	if (pc->region.len != 0 && PC_LIKELY(region_all_good(pc, objs, n)))
		return;
	for (size_t i = 0; i < n; i++) {
		if (objs[i] != NULL)
			pc_obj_check_near(pc, objs[i], &last);
	}
}

#endif /* PC_SLAB_H */
