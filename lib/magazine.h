/*
 * magazine.h -- magazines and the depot (Bonwick and Adams, "Magazines and
 * Vmem", USENIX 2001).  Calls the slab layer and the leaves.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef PC_MAGAZINE_H
#define PC_MAGAZINE_H

#include "core.h"
#include "topology.h"

/* A magazine: a stack of constructed objects. */
typedef struct pc_mag {
	struct pc_mag	*next;		/* on a depot list or a chain */
	unsigned	 n;		/* objects held */
	unsigned	 cap;		/* slots in objs[]; 0 for pc_mag_none */
	void		*objs[];	/* pc->magsize slots */
} pc_mag_t;

/*
 * A depot (one per NUMA domain): full and empty magazines, and one loose magazine through which
 * single objects pass when a CPU slot is busy or the cache has no CPU layer.
 * The *_min figures are the smallest list lengths seen since the last
 * reclaim: that many magazines were not needed and may be freed.  Every
 * field is under `lock`.
 */
typedef struct pc_depot {
	pthread_mutex_t	 lock;
	pc_mag_t	*full, *empty;
	size_t		 nfull, nempty;
	size_t		 nfull_min, nempty_min;
	pc_mag_t	*loose;		/* never NULL after creation */
	uint64_t	 gets, puts;	/* single objects through `loose` */
} pc_depot_t;

/* Depots sit a cache line (or more) apart, one per NUMA domain. */
#define PC_DEPOT_STRIDE	((sizeof(pc_depot_t) + PC_CACHELINE - 1) & \
			    ~(size_t)(PC_CACHELINE - 1))

/* pc_depot_at: the depot of NUMA domain `dom` (< pc->ndomain). */
static inline pc_depot_t *
pc_depot_at(const pcache_t *pc, unsigned dom)
{
	return (pc_depot_t *)((char *)pc->depot + (size_t)dom * PC_DEPOT_STRIDE);
}

/* pc_depot_here: the depot of the domain the caller runs in now. */
static inline pc_depot_t *
pc_depot_here(const pcache_t *pc)
{
	return pc->ndomain < 2 ? pc->depot :
	    pc_depot_at(pc, pc_topo_current_domain() % pc->ndomain);
}

/* pc_depot_of_cpu: the depot of CPU slot `cpu`'s domain. */
static inline pc_depot_t *
pc_depot_of_cpu(const pcache_t *pc, unsigned cpu)
{
	return pc->ndomain < 2 ? pc->depot :
	    pc_depot_at(pc, pc_topo_cpu_domain(cpu) % pc->ndomain);
}

extern pc_mag_t	 pc_mag_none;	/* stands in for a missing magazine: empty and full */
unsigned	 pc_mag_capacity(size_t objsize);
size_t		 pc_cpu_capacity(size_t objsize, unsigned magsize);
unsigned	 pc_lock_mag_capacity(size_t objsize, unsigned magsize);
size_t		 pc_cpu_capacity_max(size_t objsize, unsigned magsize);
pc_mag_t	*pc_mag_alloc(const pcache_t *pc);
void		 pc_mag_destroy_chain(pcache_t *pc, pc_mag_t *chain);
int		 pc_mutex_init_adaptive(pthread_mutex_t *m);

int		 pc_depot_init(pcache_t *pc);
void		 pc_depot_fini(pcache_t *pc);
void		 pc_depot_lock(pcache_t *pc);
void		 pc_depot_unlock(pcache_t *pc);

/* With the depot lock held. */
pc_mag_t	*pc_depot_take_full(pc_depot_t *d);
pc_mag_t	*pc_depot_take_empty(pc_depot_t *d);
void		 pc_depot_give_full(pc_depot_t *d, pc_mag_t *m);
void		 pc_depot_give_empty(pc_depot_t *d, pc_mag_t *m);
void		 pc_depot_return_locked(pc_depot_t *d, pc_mag_t *m);
size_t		 pc_depot_get_many_locked(pc_depot_t *d, void **objs, size_t n,
		    pc_mag_t **rest);
pc_mag_t	*pc_depot_detach_locked(pc_depot_t *d);
uint64_t	 pc_depot_cached_locked(const pc_depot_t *d);
pc_mag_t	*pc_depot_detach_all_locked(pcache_t *pc);
uint64_t	 pc_depot_cached_all_locked(pcache_t *pc);

/* Taking the depot lock themselves. */
void		 pc_depot_stock_empty(pcache_t *pc, pc_mag_t *m);
void		 pc_depot_return_chain(pcache_t *pc, pc_mag_t *chain);
size_t		 pc_depot_put_many(pcache_t *pc, void *const *objs, size_t n);
size_t		 pc_depot_get_many(pcache_t *pc, void **objs, size_t n);
void		*pc_depot_get(pcache_t *pc);
bool		 pc_depot_pull_remote(pcache_t *pc);
void		 pc_depot_put(pcache_t *pc, void *obj);
void		 pc_depot_recycle(pcache_t *pc, pc_mag_t *chain);
void		 pc_depot_trim(pcache_t *pc);
void		 pc_depot_stats(pcache_t *pc, uint64_t *gets, uint64_t *puts,
		    uint64_t *cached, uint64_t *nfull, uint64_t *nempty);

#endif /* PC_MAGAZINE_H */
