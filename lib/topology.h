/*
 * topology.h -- processors, NUMA nodes and thread binding, from hwloc (a
 * leaf: it calls nothing else in the library but degrade.c, to say when
 * hwloc or sched_getcpu() failed).
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef PC_TOPOLOGY_H
#define PC_TOPOLOGY_H

#include <stddef.h>

/* The most NUMA domains a cache keeps apart (depots, slab lists). */
#define PC_MAX_DOMAINS	8

unsigned	 pc_topo_ncpu(void);
int		 pc_topo_cpu_node(unsigned cpu);
unsigned	 pc_topo_ndomain(void);
unsigned	 pc_topo_cpu_domain(unsigned cpu);
unsigned	 pc_topo_current_domain(void);
int		 pc_topo_bind_area(void *p, size_t len, unsigned dom);
int		 pc_topo_allowed_cpus(unsigned *cpus, unsigned max);
int		 pc_topo_bind_thread(unsigned cpu);
int		 pc_topo_unbind_thread(void);

#endif /* PC_TOPOLOGY_H */
