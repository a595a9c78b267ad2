/*
 * slab.c -- the slab layer: pages from the backing allocator, cut into
 * objects, and the constructor/destructor boundary.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Everything here runs under pc->slab_lock except the allocator calls and
 * the ctor/dtor, which run with no lock held so that a slow allocator or
 * constructor (a hypercall, say) never stalls other CPUs.
 *
 * Partial slabs sit in PC_NBUCKETS buckets by fullness and allocation takes
 * from the fullest bucket first, so that lightly used slabs drain and can be
 * given back: the cheap cousin of libumem's fullness-sorted tree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <stdbool.h>		/* before urcu/flavor.h, which uses bool without it */
#include <unistd.h>

#include <urcu/flavor.h>

#include "debug.h"
#include "degrade.h"
#include "slab.h"

#define PC_DEFAULT_ALIGN 16
#define PC_MAX_SLAB	((size_t)1 << 30)
#define PC_AUTO_SLAB_MAX ((size_t)1 << 20)

/*
 * builtin_alloc_dom: `size` bytes of fresh anonymous memory aligned to
 * `size`, bound to domain `dom`'s memory on a NUMA machine, or NULL: a
 * place in dom's part of the cache's region when it has one and room,
 * else a mapping of its own, made twice the size and trimmed at both ends
 * when the system page is smaller than the slab.  A failed binding leaves
 * the memory where first touch puts it, and says so in the stats.  No
 * lock held; takes slab_lock for the region.
 */
static void *
builtin_alloc_dom(pcache_t *pc, size_t size, unsigned dom)
{
	char *p = NULL;

	if (pc->region.len != 0) {
		pthread_mutex_lock(&pc->slab_lock);
		p = pc_region_take(&pc->region, dom);
		pthread_mutex_unlock(&pc->slab_lock);
	}
	if (p == NULL) {
		size_t pgsz = (size_t)sysconf(_SC_PAGESIZE);
		size_t len = size <= pgsz ? size : 2 * size;
		char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		p = (char *)(((uintptr_t)m + size - 1) & ~(uintptr_t)(size - 1));
		if (p > m)
			munmap(m, (size_t)(p - m));
		if (p + size < m + len)
			munmap(p + size, (size_t)(m + len - (p + size)));
	}
	if (pc->ndomain > 1 && pc_topo_bind_area(p, size, dom) != 0)
		pc_degrade_note(PCACHE_DEGRADED_NO_MEMBIND);
	return p;
}

/* builtin_alloc: the built-in allocator's entry, for the caller's domain. */
static void *
builtin_alloc(void *ctx, size_t size, int flags)
{
	pcache_t *pc = ctx;

	(void)flags;
	return builtin_alloc_dom(pc, size, pc_topo_current_domain() % pc->ndomain);
}

/* in_region: whether mem lies in the cache's region. */
static bool
in_region(const pcache_t *pc, const void *mem)
{
	return (uintptr_t)mem - pc->region.base < pc->region.len;
}

/*
 * builtin_free: give back what builtin_alloc() returned: its region place
 * (pages returned to the system) or its mapping.  No lock held.
 */
static void
builtin_free(void *ctx, void *mem, size_t size)
{
	pcache_t *pc = ctx;

	if (in_region(pc, mem)) {
		pthread_mutex_lock(&pc->slab_lock);
		pc_region_give(&pc->region, mem);
		pthread_mutex_unlock(&pc->slab_lock);
		return;
	}
	munmap(mem, size);
}

static bool
is_pow2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/*
 * slab_hdr_bytes: the header of a slab of nobj objects: the free-index
 * stack, and in checked mode a state byte and a checksum per object, whose
 * offsets it records.
 */
static size_t
slab_hdr_bytes(pcache_t *pc, size_t nobj)
{
	size_t n = sizeof(struct pc_slab) + nobj * sizeof(uint16_t);

	if ((pc->flags & PCACHE_DEBUG) == 0)
		return n;
	pc->dbg_state_off = n;
	pc->dbg_sum_off = (n + nobj + sizeof(uint32_t) - 1) &
	    ~(sizeof(uint32_t) - 1);
	return pc->dbg_sum_off + nobj * sizeof(uint32_t);
}

/*
 * pc_slab_init: lay out the cache's slabs from the configuration, which
 * pcache_create() has checked for size and alignment.  Chooses the slab
 * size (the allocator's page, or for the built-in allocator the smallest
 * power of two holding eight objects), on- or off-slab headers, the
 * objects per slab and the colour range; the region is placed at `at`
 * (atlen bytes) when that is not NULL (pc_region_init()).  Returns 0 or
 * EINVAL.
 */
int
pc_slab_init(pcache_t *pc, const struct pcache_config *cfg, void *at,
    size_t atlen)
{
	size_t align = cfg->align ? cfg->align :
	    (cfg->size >= PC_DEFAULT_ALIGN ? PC_DEFAULT_ALIGN : sizeof(void *));

	if (align < sizeof(void *))
		align = sizeof(void *);
	if (cfg->size > PC_MAX_SLAB || align > PC_MAX_SLAB)
		return EINVAL;
	pc->align = align;
	pc->usersize = cfg->size;
	size_t need = cfg->size + ((pc->flags & PCACHE_DEBUG) ? PC_DBG_REDZONE : 0);
	pc->objsize = (need + align - 1) & ~(align - 1);

	if (cfg->allocator != NULL) {
		const struct pcache_allocator *a = cfg->allocator;

		if (a->alloc == NULL || a->free == NULL)
			return EINVAL;
		if (a->pagesize != 0 && (!is_pow2(a->pagesize) ||
		    a->pagesize < PC_MIN_SLAB || a->pagesize > PC_MAX_SLAB))
			return EINVAL;
		pc->alloc = *a;
		pc->slabsize = a->pagesize ? a->pagesize : PC_MIN_SLAB;
	} else {
		pc->alloc = (struct pcache_allocator){ builtin_alloc,
		    builtin_free, 0, pc };
		pc->slabsize = PC_MIN_SLAB;
		while (pc->slabsize < 8 * pc->objsize &&
		    pc->slabsize < PC_AUTO_SLAB_MAX)
			pc->slabsize <<= 1;
		while (pc->slabsize < pc->objsize)
			pc->slabsize <<= 1;
		pc->alloc.pagesize = pc->slabsize;
	}
	/* Checked mode: a page-sized object in a page-sized slab goes without. */
	if (pc->objsize > pc->slabsize && pc->usersize <= pc->slabsize)
		pc->objsize = (pc->usersize + align - 1) & ~(align - 1);
	if (pc->objsize > pc->slabsize || align > pc->slabsize)
		return EINVAL;

	/* Big objects: a header in the slab would waste most of an object. */
	pc->offslab = pc->objsize >= pc->slabsize / 8;
	size_t first;			/* offset of object 0 before colouring */
	size_t nobj;
	if (pc->offslab) {
		nobj = pc->slabsize / pc->objsize;
		if (nobj > PC_MAX_SLAB_OBJS)
			nobj = PC_MAX_SLAB_OBJS;
		first = 0;
	} else {
		nobj = (pc->slabsize - sizeof(struct pc_slab)) /
		    (pc->objsize + sizeof(uint16_t));
		if (nobj > PC_MAX_SLAB_OBJS)
			nobj = PC_MAX_SLAB_OBJS;
		for (;;) {
			first = (slab_hdr_bytes(pc, nobj) + align - 1) & ~(align - 1);
			if (first + nobj * pc->objsize <= pc->slabsize)
				break;
			nobj--;
		}
	}
	pc->slab_nobj = (unsigned)nobj;
	pc->slab_hdrsize = slab_hdr_bytes(pc, nobj);
	pc->slab_first = first;

	size_t spare = pc->slabsize - first - nobj * pc->objsize;
	/* Colour in alignment steps, as Bonwick's slab allocator does. */
	pc->colour_step = align;
	pc->colour_max = spare - spare % pc->colour_step;
	pc->slab_span = nobj * pc->objsize;
	/*
	 * The built-in allocator carves slabs from a reserved region where it
	 * can.  Objects there sit at the same offsets in every slab, so that
	 * the put check needs no slab header: no colouring.
	 */
	pc->ndomain = pc_topo_ndomain();
	if (cfg->allocator == NULL &&
	    pc_region_init(&pc->region, pc->slabsize, pc->ndomain, at, atlen))
		pc->colour_max = 0;
	pc->objsize_div = UINT64_MAX / pc->objsize + 1;
	pc->hiwat = SIZE_MAX;
	return 0;
}

/*
 * slab_bucket: the list a slab belongs on for its number of free objects.
 * The fullest partial slabs (fewest free) land in the lowest bucket.
 */
static unsigned
slab_bucket(const pcache_t *pc, unsigned nfree)
{
	if (nfree == 0)
		return PC_LIST_FULL;
	if (nfree == pc->slab_nobj)
		return PC_LIST_EMPTY;
	return 1 + (unsigned)(((size_t)(nfree - 1) * PC_NBUCKETS) / pc->slab_nobj);
}

/* slab_unlink, slab_link: list maintenance.  Called with slab_lock held. */
static void
slab_unlink(pcache_t *pc, struct pc_slab *sl)
{
	PC_ASSERT(pc_mutex_held(&pc->slab_lock));
	if (sl->prev != NULL)
		sl->prev->next = sl->next;
	else
		pc->slabs[sl->dom][sl->list] = sl->next;
	if (sl->next != NULL)
		sl->next->prev = sl->prev;
}

static void
slab_link(pcache_t *pc, struct pc_slab *sl, unsigned list)
{
	sl->list = (uint16_t)list;
	sl->prev = NULL;
	sl->next = pc->slabs[sl->dom][list];
	if (sl->next != NULL)
		sl->next->prev = sl;
	pc->slabs[sl->dom][list] = sl;
}

/* slab_relist: move a slab whose free count changed.  slab_lock held. */
static void
slab_relist(pcache_t *pc, struct pc_slab *sl)
{
	unsigned list = slab_bucket(pc, sl->nfree);

	if (list != sl->list) {
		slab_unlink(pc, sl);
		slab_link(pc, sl, list);
	}
}

/*
 * slab_create: a new, wholly free slab of domain `dom` from the allocator
 * (the built-in one binds it there; a user's allocator places it as it
 * will), not yet on any list, or NULL (ENOMEM).  No lock held.  `colour`
 * offsets the objects.
 */
static struct pc_slab *
slab_create(pcache_t *pc, int flags, size_t colour, unsigned dom)
{
	char *mem = pc_fault(PC_FAULT_SLAB) ? NULL :
	    pc->alloc.alloc == builtin_alloc ?
	    builtin_alloc_dom(pc, pc->slabsize, dom) :
	    pc->alloc.alloc(pc->alloc.ctx, pc->slabsize, flags);
	struct pc_slab *sl;

	if (mem == NULL)
		return NULL;
	if (((uintptr_t)mem & (pc->slabsize - 1)) != 0)
		pc_panic(pc, mem, "allocator returned a page not aligned to %zu",
		    pc->slabsize);
	if (pc->offslab) {
		if (pc_fault(PC_FAULT_HEADER) ||
		    (sl = pc_sys_malloc(pc->slab_hdrsize)) == NULL)
			goto fail;
	} else
		sl = (struct pc_slab *)mem;
	sl->pc = pc;
	sl->base = mem;
	sl->objbase = mem + pc->slab_first + colour;
	sl->next = sl->prev = NULL;
	sl->nfree = (uint16_t)pc->slab_nobj;
	sl->list = PC_LIST_EMPTY;
	sl->dom = (uint16_t)dom;
	/* Pop order 0, 1, 2...: consecutive gets touch consecutive memory. */
	for (unsigned i = 0; i < pc->slab_nobj; i++)
		sl->freeidx[i] = (uint16_t)(pc->slab_nobj - 1 - i);
	if (pc->dbg != NULL)
		memset((char *)sl + pc->dbg_state_off, 0, pc->slab_nobj);
	if (pc_pagemap_insert(mem, pc->slabsize, sl) != 0) {
		if (pc->offslab)
			pc_sys_free(sl);
		goto fail;
	}
	pc_mem_noaccess(sl->objbase, (size_t)pc->slab_nobj * pc->objsize);
	if (in_region(pc, mem))
		pc_region_mark(&pc->region, mem, true);
	return sl;
fail:
	pc->alloc.free(pc->alloc.ctx, mem, pc->slabsize);
	return NULL;
}

/* slab_release: unmap and free a slab taken off every list.  No lock held. */
static void
slab_release(pcache_t *pc, struct pc_slab *sl)
{
	char *mem = sl->base;

	if (in_region(pc, mem))
		pc_region_mark(&pc->region, mem, false);
	pc_pagemap_remove(mem, pc->slabsize);
	pc_mem_raw(sl->objbase, (size_t)pc->slab_nobj * pc->objsize);
	if (pc->offslab)
		pc_sys_free(sl);
	pc->alloc.free(pc->alloc.ctx, mem, pc->slabsize);
}

/* typesafe: whether slabs may go only after an RCU grace period. */
static bool
typesafe(const pcache_t *pc)
{
	return (pc->flags & PCACHE_TYPESAFE_BY_RCU) != 0;
}

/*
 * slabs_release: slab_release() for a chain linked through `next`.  In a
 * PCACHE_TYPESAFE_BY_RCU cache, after a grace period of the cache's
 * flavour: a reader that found an object of these slabs before they left
 * the lists still reads memory of this cache.  No lock held; the caller is
 * outside any read-side critical section.
 */
static void
slabs_release(pcache_t *pc, struct pc_slab *chain)
{
	if (chain != NULL && typesafe(pc))
		pc->urcu->update_synchronize_rcu();
	while (chain != NULL) {
		struct pc_slab *next = chain->next;
		slab_release(pc, chain);
		chain = next;
	}
}

/*
 * slab_add: account a fresh slab and put it on the empty list.  slab_lock
 * held.  Takes the next colour for the following slab.
 */
static void
slab_add(pcache_t *pc, struct pc_slab *sl)
{
	slab_link(pc, sl, PC_LIST_EMPTY);
	pc->nslabs++;
	pc->nfree += pc->slab_nobj;
}

/* slab_next_colour: the colour for the next slab.  slab_lock held. */
static size_t
slab_next_colour(pcache_t *pc)
{
	size_t c = pc->colour_next;

	pc->colour_next = c + pc->colour_step > pc->colour_max ? 0 :
	    c + pc->colour_step;
	return c;
}

/*
 * pc_slab_get: a raw object out of the slab layer, or NULL with *errp set
 * to ENOMEM (allocator failed, after the cache's reclaim callback and one
 * more try) or PC_EHARDLIMIT.  Takes slab_lock; calls the allocator and
 * the callback without it.
 */
/*
 * slab_with_free: a slab of domain `dom` with a free object, the fullest
 * first, or NULL.  slab_lock held.
 */
static struct pc_slab *
slab_with_free(pcache_t *pc, unsigned dom)
{
	for (unsigned l = 1; l <= PC_LIST_EMPTY; l++) {
		if (pc->slabs[dom][l] != NULL)
			return pc->slabs[dom][l];
	}
	return NULL;
}

/*
 * slab_other_domain: a slab with a free object in a domain other than
 * `dom`, or NULL: the last resort when dom's memory cannot grow.
 * slab_lock held.
 */
static struct pc_slab *
slab_other_domain(pcache_t *pc, unsigned dom)
{
	struct pc_slab *sl = NULL;

	for (unsigned d = 0; d < pc->ndomain && sl == NULL; d++) {
		if (d != dom)
			sl = slab_with_free(pc, d);
	}
	return sl;
}

/*
 * pc_slab_get: a raw object out of the slab layer, or NULL with *errp set
 * to ENOMEM (allocator failed, after the cache's reclaim callback and one
 * more try) or PC_EHARDLIMIT.  From the caller's NUMA domain: its partial
 * slabs, else a new slab bound there; another domain's free objects only
 * when the allocator fails.  Takes slab_lock; calls the allocator and the
 * callback without it.
 */
void *
pc_slab_get(pcache_t *pc, int flags, int *errp)
{
	struct pc_slab *sl;
	unsigned dom = pc_topo_current_domain() % pc->ndomain;

	pthread_mutex_lock(&pc->slab_lock);
	for (;;) {
		/* Relaxed: slab_lock orders it (pcache_set_hardlimit()). */
		size_t limit = atomic_load_explicit(&pc->hardlimit,
		    memory_order_relaxed);
		if (limit != 0 && pc->nout >= limit) {
			pthread_mutex_unlock(&pc->slab_lock);
			*errp = PC_EHARDLIMIT;
			return NULL;
		}
		if ((sl = slab_with_free(pc, dom)) != NULL)
			break;
		size_t colour = slab_next_colour(pc);
		pthread_mutex_unlock(&pc->slab_lock);
		if ((sl = slab_create(pc, flags, colour, dom)) == NULL &&
		    (pc->reclaim == NULL || (pc->reclaim(pc->arg),
		    sl = slab_create(pc, flags, colour, dom)) == NULL)) {
			pthread_mutex_lock(&pc->slab_lock);
			if ((sl = slab_other_domain(pc, dom)) != NULL)
				break;
			pthread_mutex_unlock(&pc->slab_lock);
			*errp = ENOMEM;
			return NULL;
		}
		pthread_mutex_lock(&pc->slab_lock);
		slab_add(pc, sl);
	}
	unsigned idx = sl->freeidx[--sl->nfree];
	slab_relist(pc, sl);
	pc->nout++;
	pc->nfree--;
	char *obj = sl->objbase + (size_t)idx * pc->objsize;
	pc_mem_raw(obj, pc->objsize);
	if (pc->dbg != NULL)
		pc_dbg_leave_slab(pc, sl, obj);
	pthread_mutex_unlock(&pc->slab_lock);
	return obj;
}

/*
 * pc_slab_put_many: return n raw objects to their slabs.  Empty slabs
 * beyond the high water mark are given back to the allocator (in a
 * PCACHE_TYPESAFE_BY_RCU cache only by reclaim, which can wait for a grace
 * period).  Wakes
 * hard-limit sleepers.  Takes slab_lock; frees slabs without it.
 */
void
pc_slab_put_many(pcache_t *pc, void *const *objs, size_t n)
{
	struct pc_slab *gone = NULL;

	pthread_mutex_lock(&pc->slab_lock);
	for (size_t i = 0; i < n; i++) {
		struct pc_slab *sl = pc_pagemap_lookup(objs[i]);
		PC_ASSERT(sl != NULL && sl->pc == pc && sl->nfree < pc->slab_nobj);
		size_t idx = (size_t)((char *)objs[i] - sl->objbase) / pc->objsize;
		PC_ASSERT(sl->objbase + idx * pc->objsize == (char *)objs[i]);

		sl->freeidx[sl->nfree++] = (uint16_t)idx;
		if (pc->dbg != NULL)
			pc_dbg_enter_slab(pc, sl, objs[i]);
		pc_obj_noaccess(pc, objs[i]);
		pc->nout--;
		pc->nfree++;
		slab_relist(pc, sl);
		if (sl->nfree == pc->slab_nobj && pc->nfree > pc->hiwat &&
		    (pc->nslabs - 1) * pc->slab_nobj >= pc->lowat &&
		    !typesafe(pc)) {
			slab_unlink(pc, sl);
			pc->nslabs--;
			pc->nfree -= pc->slab_nobj;
			sl->next = gone;
			gone = sl;
		}
	}
	bool wake = pc_hl_waiting(&pc->hl);
	pthread_mutex_unlock(&pc->slab_lock);

	slabs_release(pc, gone);
	if (wake)
		pc_hl_wake(&pc->hl);
}

/* pc_slab_put: pc_slab_put_many() for one object. */
void
pc_slab_put(pcache_t *pc, void *obj)
{
	pc_slab_put_many(pc, &obj, 1);
}

/*
 * pc_obj_create: an object leaving the slab layer, constructed.  NULL with
 * *errp = ENOMEM, PC_EHARDLIMIT, or the constructor's error (the raw object
 * is back in its slab then; a constructor's non-positive error reads EINVAL).  No lock held by the caller.
 */
void *
pc_obj_create(pcache_t *pc, int flags, int *errp)
{
	void *obj = pc_slab_get(pc, flags, errp);

	if (obj == NULL || pc->ctor == NULL)
		return obj;
	int error = pc->ctor(pc->arg, obj, flags);
	if (error != 0) {
		pc_slab_put(pc, obj);
		/* Errno values are positive; this also keeps PC_EHARDLIMIT ours. */
		*errp = error > 0 ? error : EINVAL;
		return NULL;
	}
	/* Relaxed: a statistic; nothing is ordered by it. */
	atomic_fetch_add_explicit(&pc->ctor_calls, 1, memory_order_relaxed);
	return obj;
}

/*
 * pc_obj_destroy_many: destruct n constructed objects and return them to
 * the slab layer.  No lock held by the caller.
 */
void
pc_obj_destroy_many(pcache_t *pc, void *const *objs, size_t n)
{
	if (n == 0)
		return;
	for (size_t i = 0; PC_MEMCHECK && i < n; i++)
		pc_mem_defined(objs[i], pc->usersize);
	for (size_t i = 0; pc->dbg != NULL && i < n; i++)
		pc_dbg_destroy(pc, pc_pagemap_lookup(objs[i]), objs[i]);
	if (pc->dtor != NULL) {
		for (size_t i = 0; i < n; i++)
			pc->dtor(pc->arg, objs[i]);
	}
	if (pc->ctor != NULL || pc->dtor != NULL) {
		/* Relaxed: a statistic; nothing is ordered by it. */
		atomic_fetch_add_explicit(&pc->dtor_calls, n, memory_order_relaxed);
	}
	pc_slab_put_many(pc, objs, n);
}

/*
 * pc_slab_reclaim: give wholly free slabs back to the allocator while at
 * least lowat objects' worth of slabs remain.  Returns the bytes given
 * back.  Takes slab_lock; frees slabs without it.
 */
size_t
pc_slab_reclaim(pcache_t *pc)
{
	struct pc_slab *gone = NULL;
	size_t n = 0;

	pthread_mutex_lock(&pc->slab_lock);
	for (unsigned d = 0; d < pc->ndomain; d++) {
		while (pc->slabs[d][PC_LIST_EMPTY] != NULL &&
		    (pc->nslabs - 1) * pc->slab_nobj >= pc->lowat) {
			struct pc_slab *sl = pc->slabs[d][PC_LIST_EMPTY];
			slab_unlink(pc, sl);
			pc->nslabs--;
			pc->nfree -= pc->slab_nobj;
			sl->next = gone;
			gone = sl;
			n++;
		}
	}
	pthread_mutex_unlock(&pc->slab_lock);
	slabs_release(pc, gone);
	return n * pc->slabsize;
}

/*
 * pc_slab_prime: add slabs until at least n raw objects sit free.
 * Returns 0 or ENOMEM (at once when n objects would not fit in the
 * machine's memory).  Takes slab_lock; allocates without it.
 */
int
pc_slab_prime(pcache_t *pc, size_t n)
{
	/* More than the machine's memory holds would only end in the OOM killer. */
	long pages = sysconf(_SC_PHYS_PAGES), pgsz = sysconf(_SC_PAGESIZE);
	uint64_t most = pages > 0 && pgsz > 0 ?
	    (uint64_t)pages * (uint64_t)pgsz / pc->objsize : SIZE_MAX / pc->objsize;
	if (n > most)
		return ENOMEM;
	pthread_mutex_lock(&pc->slab_lock);
	while (pc->nfree < n) {
		size_t colour = slab_next_colour(pc);
		pthread_mutex_unlock(&pc->slab_lock);
		struct pc_slab *sl = slab_create(pc, PCACHE_NOWAIT, colour,
		    pc_topo_current_domain() % pc->ndomain);
		if (sl == NULL)
			return ENOMEM;
		pthread_mutex_lock(&pc->slab_lock);
		slab_add(pc, sl);
	}
	pthread_mutex_unlock(&pc->slab_lock);
	return 0;
}

/*
 * pc_slab_fini: give every slab back.  The caller has made sure that no
 * object is out of the slab layer and that nobody else uses the cache.
 */
void
pc_slab_fini(pcache_t *pc)
{
	struct pc_slab *gone = NULL;

	pthread_mutex_lock(&pc->slab_lock);
	for (unsigned d = 0; d < pc->ndomain; d++) {
		for (unsigned l = 0; l < PC_NLISTS; l++) {
			while (pc->slabs[d][l] != NULL) {
				struct pc_slab *sl = pc->slabs[d][l];
				slab_unlink(pc, sl);
				sl->next = gone;
				gone = sl;
			}
		}
	}
	pc->nslabs = 0;
	pc->nfree = 0;
	pthread_mutex_unlock(&pc->slab_lock);
	slabs_release(pc, gone);
	pc_region_fini(&pc->region);
}

/*
 * pc_obj_domain: the NUMA domain of a checked object's memory: arithmetic
 * in the region, else its slab's header.  Any lock.
 */
unsigned
pc_obj_domain(const pcache_t *pc, const void *obj)
{
	if (pc->ndomain < 2)
		return 0;
	if (in_region(pc, obj))
		return pc_region_domain(&pc->region, (uintptr_t)obj - pc->region.base);
	const struct pc_slab *sl = pc_pagemap_lookup(obj);
	return sl != NULL ? sl->dom : 0;
}

/*
 * pc_obj_bad: report a pointer that pc_obj_check() refused, naming the
 * cache that does own it where there is one.  Never returns.
 */
PC_NOINLINE void
pc_obj_bad(pcache_t *pc, const void *obj, const struct pc_slab *sl)
{
	if (sl == NULL)
		pc_panic(pc, obj, "pointer is not an object of this cache");
	if (sl->pc != pc)
		pc_panic(pc, obj, "pointer belongs to cache '%s', not this one",
		    sl->pc->name);
	if ((const char *)obj < sl->objbase ||
	    (size_t)((const char *)obj - sl->objbase) >=
	    (size_t)pc->slab_nobj * pc->objsize)
		pc_panic(pc, obj, "pointer is not the start of an object "
		    "(it is in a slab's header or tail)");
	pc_panic(pc, obj, "pointer is not the start of an object "
	    "(offset %zu into a %zu-byte object)",
	    (size_t)((const char *)obj - sl->objbase) % pc->objsize, pc->objsize);
}

