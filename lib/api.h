/*
 * api.h -- what the files of the public-API layer (alloc.c, cache.c,
 * invalidate.c, fork.c) offer one another.  Nothing below calls these.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef PC_API_H
#define PC_API_H

#include <stdio.h>

#include "core.h"
#include "debug.h"
#include "magazine.h"
#include "percpu.h"
#include "slab.h"
#include "topology.h"

/* invalidate.c: holding and emptying the whole cache layer. */
void		 pc_lock_all(pcache_t *pc);
void		 pc_lock_cpus_depot(pcache_t *pc);
void		 pc_unlock_all(pcache_t *pc);
pc_mag_t	*pc_detach_all_locked(pcache_t *pc, size_t *nbuf);
uint64_t	 pc_cached_all_locked(pcache_t *pc);
void		 pc_quarantine_flush(pcache_t *pc, int ring);

/* alloc.c: objects a caller never had, back to the cache (or destructed). */
void		 pc_giveback(pcache_t *pc, void **objs, size_t n, uint64_t gen);

/* rcu.c: deferred puts. */
int		 pc_rcu_init(pcache_t *pc, const struct rcu_flavor_struct *flavor);
void		 pc_rcu_quiesce(pcache_t *pc);
void		 pc_rcu_stats(pcache_t *pc, uint64_t *deferred,
		    uint64_t *batches);
void		 pc_rcu_fini(pcache_t *pc);
void		 pc_rcu_lock_all(pcache_t *pc);
void		 pc_rcu_unlock_all(pcache_t *pc);

/* dump.c: PCACHE_STATS. */
void		 pc_stats_env(void);
void		 pc_stats_at_destroy(pcache_t *pc);

/* fork.c: the registry of caches. */
void		 pc_fork_register(pcache_t *pc);
void		 pc_fork_unregister(pcache_t *pc);
void		 pc_fork_wait_unheld(pcache_t *pc);
pcache_t	**pc_registry_hold_all(size_t *n);
void		 pc_registry_release(pcache_t **held, size_t n);

#endif /* PC_API_H */
