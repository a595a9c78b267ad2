/*
 * pagemap.c -- the address -> slab map.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * pcache_put() must tell whether a pointer is one of the cache's objects
 * without touching memory the library does not own, so the slab that holds
 * an address is found in a three-level radix tree indexed by the address's
 * 4 KiB page number.  The tree is process-wide, which also lets an abort
 * message name the cache that really owns a misdirected pointer.
 *
 * The map knows nothing of slabs but their addresses: it stores the
 * pointer it is given for each page.  Readers take no lock: interior nodes are never freed once published, and
 * every link and leaf entry is read with an acquire load that pairs with
 * the release store that published it.  Writers serialise on map_lock.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pagemap.h"

_Atomic(pm_mid_t *) pc_pagemap_root[PM_FANOUT];

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * pm_node_alloc: zeroed memory for one tree node, or NULL.  Nodes come from
 * mmap so that they never share pages with objects handed to callers.
 */
static void *
pm_node_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/*
 * pm_leaf_for: the leaf for page number `key`, created when `create`.
 * Called with map_lock held when `create`; lock-free otherwise.
 */
static pm_leaf_t *
pm_leaf_for(uintptr_t key, bool create)
{
	size_t i0 = (key >> (2 * PM_BITS)) & (PM_FANOUT - 1);
	size_t i1 = (key >> PM_BITS) & (PM_FANOUT - 1);
	/* Acquire: pairs with the release store below that published the node. */
	pm_mid_t *mid = atomic_load_explicit(&pc_pagemap_root[i0], memory_order_acquire);

	if (mid == NULL) {
		if (!create || (mid = pm_node_alloc(sizeof(*mid))) == NULL)
			return NULL;
		/* Release: the zeroed node is visible before its address. */
		atomic_store_explicit(&pc_pagemap_root[i0], mid, memory_order_release);
	}
	/* Acquire: as for the root entry. */
	pm_leaf_t *leaf = atomic_load_explicit(&mid->ent[i1], memory_order_acquire);
	if (leaf == NULL) {
		if (!create || (leaf = pm_node_alloc(sizeof(*leaf))) == NULL)
			return NULL;
		/* Release: as for the root entry. */
		atomic_store_explicit(&mid->ent[i1], leaf, memory_order_release);
	}
	return leaf;
}

/*
 * pm_set: point every page of [base, base + size) at `val`.
 * Called with map_lock held.  Returns 0 or ENOMEM; on ENOMEM no entry is
 * left pointing at `val`.
 */
static int
pm_set(const void *base, size_t size, struct pc_slab *val)
{
	uintptr_t first = (uintptr_t)base >> PC_PAGE_SHIFT;
	uintptr_t npages = size >> PC_PAGE_SHIFT;

	for (uintptr_t k = first; k < first + npages; k++) {
		pm_leaf_t *leaf;

		if (((uint64_t)k >> PM_KEYBITS) != 0 || (leaf = pm_leaf_for(k, true)) == NULL) {
			/* Undo what was set; removal never allocates. */
			for (uintptr_t u = first; u < k; u++) {
				leaf = pm_leaf_for(u, false);
				atomic_store_explicit(&leaf->ent[u & (PM_FANOUT - 1)],
				    NULL, memory_order_release);
			}
			return ENOMEM;
		}
		/*
		 * Release: the slab header is fully written before a reader
		 * that finds it through this entry dereferences it.
		 */
		atomic_store_explicit(&leaf->ent[k & (PM_FANOUT - 1)], val,
		    memory_order_release);
	}
	return 0;
}

/* pc_pagemap_lock, pc_pagemap_unlock: hold the writers' lock across fork. */
void
pc_pagemap_lock(void)
{
	pthread_mutex_lock(&map_lock);
}

void
pc_pagemap_unlock(void)
{
	pthread_mutex_unlock(&map_lock);
}

/*
 * pc_pagemap_insert: map the pages of [base, base + size), a new slab's
 * memory, to the slab.  Returns 0, or ENOMEM (no node memory, or an
 * address beyond 48 bits).  Takes map_lock.
 */
int
pc_pagemap_insert(const void *base, size_t size, struct pc_slab *sl)
{
	pthread_mutex_lock(&map_lock);
	int error = pm_set(base, size, sl);
	pthread_mutex_unlock(&map_lock);
	return error;
}

/*
 * pc_pagemap_remove: unmap the pages of [base, base + size), a slab about
 * to be freed.  Takes map_lock.  Interior nodes stay: readers may be
 * walking them.
 */
void
pc_pagemap_remove(const void *base, size_t size)
{
	pthread_mutex_lock(&map_lock);
	(void)pm_set(base, size, NULL);
	pthread_mutex_unlock(&map_lock);
}

