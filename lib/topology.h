/*
 * topology.h -- processors, NUMA nodes and thread binding, from hwloc (a
 * leaf: it calls nothing else in the library but degrade.c, to say when
 * hwloc or sched_getcpu() failed).
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef PC_TOPOLOGY_H
#define PC_TOPOLOGY_H

unsigned	 pc_topo_ncpu(void);
int		 pc_topo_cpu_node(unsigned cpu);
int		 pc_topo_allowed_cpus(unsigned *cpus, unsigned max);
int		 pc_topo_bind_thread(unsigned cpu);
int		 pc_topo_unbind_thread(void);

#endif /* PC_TOPOLOGY_H */
