/*
 * pagemap.h -- the address -> slab map: a three-level radix tree from 4 KiB
 * page numbers (48-bit addresses) to slabs.  The bottom layer.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Readers take no lock: nodes are never freed once published, and every
 * link and entry is read with an acquire load that pairs with the release
 * store that published it.
 */
#ifndef PC_PAGEMAP_H
#define PC_PAGEMAP_H

#include "core.h"

#define PM_BITS		12
#define PM_FANOUT	(1u << PM_BITS)
#define PM_KEYBITS	(3 * PM_BITS)

typedef struct pm_leaf {
	_Atomic(struct pc_slab *) ent[PM_FANOUT];
} pm_leaf_t;

typedef struct pm_mid {
	_Atomic(pm_leaf_t *) ent[PM_FANOUT];
} pm_mid_t;

extern _Atomic(pm_mid_t *) pc_pagemap_root[PM_FANOUT];

int		 pc_pagemap_insert(const void *base, size_t size, struct pc_slab *sl);
void		 pc_pagemap_remove(const void *base, size_t size);
void		 pc_pagemap_lock(void);
void		 pc_pagemap_unlock(void);

/* pc_pagemap_lookup: the slab holding `addr`, or NULL; never reads *addr. */
static inline struct pc_slab *
pc_pagemap_lookup(const void *addr)
{
	uintptr_t key = (uintptr_t)addr >> PC_PAGE_SHIFT;

	if (PC_UNLIKELY(((uint64_t)key >> PM_KEYBITS) != 0))
		return NULL;
	/* Acquire (all three): pairs with the publishing release stores. */
	pm_mid_t *mid = atomic_load_explicit(
	    &pc_pagemap_root[(key >> (2 * PM_BITS)) & (PM_FANOUT - 1)],
	    memory_order_acquire);
	if (PC_UNLIKELY(mid == NULL))
		return NULL;
	pm_leaf_t *leaf = atomic_load_explicit(
	    &mid->ent[(key >> PM_BITS) & (PM_FANOUT - 1)], memory_order_acquire);
	if (PC_UNLIKELY(leaf == NULL))
		return NULL;
	return atomic_load_explicit(&leaf->ent[key & (PM_FANOUT - 1)],
	    memory_order_acquire);
}

#endif /* PC_PAGEMAP_H */
