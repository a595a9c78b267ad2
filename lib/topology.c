/*
 * topology.c -- processors, NUMA nodes and thread binding, from hwloc.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The topology is loaded once, on first use, under pthread_once(), and kept
 * for the life of the process.  Slots are sized for every processor the
 * machine could bring online (the highest OS index in hwloc's complete
 * cpuset, plus one), so a CPU that appears later still finds its slot.
 */
#include <errno.h>
#include <stdlib.h>

#include <hwloc.h>

#include "topology.h"
#include "core.h"

static pthread_once_t	 topo_once = PTHREAD_ONCE_INIT;
static hwloc_topology_t	 topo;
static bool		 topo_ok;
static unsigned		 topo_ncpu = 1;
static int		*topo_node;	/* NUMA node of each CPU, or -1 */
static hwloc_bitmap_t	 topo_allowed;	/* CPUs this process may use */

/*
 * topo_load: read the machine's topology.  Runs once.  On failure the
 * library still works with one slot and no binding.
 */
static void
topo_load(void)
{
	if (hwloc_topology_init(&topo) != 0)
		return;
	if (hwloc_topology_load(topo) != 0) {
		hwloc_topology_destroy(topo);
		return;
	}
	int last = hwloc_bitmap_last(hwloc_topology_get_complete_cpuset(topo));
	unsigned n = last >= 0 ? (unsigned)last + 1 : 1;

	topo_node = malloc(n * sizeof(*topo_node));
	topo_allowed = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
	if (topo_node == NULL || topo_allowed == NULL) {
		free(topo_node);
		topo_node = NULL;
		hwloc_bitmap_free(topo_allowed);
		hwloc_topology_destroy(topo);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		topo_node[i] = -1;
	hwloc_obj_t node = NULL;
	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE,
	    node)) != NULL) {
		unsigned cpu;
		hwloc_bitmap_foreach_begin(cpu, node->cpuset) {
			if (cpu < n)
				topo_node[cpu] = (int)node->os_index;
		} hwloc_bitmap_foreach_end();
	}
	topo_ncpu = n;
	topo_ok = true;
}

static void
topo_init(void)
{
	pthread_once(&topo_once, topo_load);
}

/* pc_topo_ncpu: number of per-CPU slots.  Loads the topology if needed. */
unsigned
pc_topo_ncpu(void)
{
	topo_init();
	return topo_ncpu;
}

/* pc_topo_cpu_node: NUMA node of a CPU, or -1 when unknown. */
int
pc_topo_cpu_node(unsigned cpu)
{
	topo_init();
	return topo_ok && cpu < topo_ncpu ? topo_node[cpu] : -1;
}

/*
 * pc_topo_allowed_cpus: the OS indices of the CPUs this process may run on,
 * up to `max` of them, in increasing order.  Returns how many there are
 * (possibly more than `max`), or 0 if the topology is unknown.
 */
int
pc_topo_allowed_cpus(unsigned *cpus, unsigned max)
{
	unsigned cpu;
	int n = 0;

	topo_init();
	if (!topo_ok)
		return 0;
	hwloc_bitmap_foreach_begin(cpu, topo_allowed) {
		if ((unsigned)n < max)
			cpus[n] = cpu;
		n++;
	} hwloc_bitmap_foreach_end();
	return n;
}

/*
 * pc_topo_bind_thread: run the calling thread on `cpu` only.  Returns 0, or
 * an errno value (ENOSYS without a topology, EINVAL for a CPU the process
 * may not use).
 */
int
pc_topo_bind_thread(unsigned cpu)
{
	topo_init();
	if (!topo_ok)
		return ENOSYS;
	if (!hwloc_bitmap_isset(topo_allowed, cpu))
		return EINVAL;
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	if (set == NULL)
		return ENOMEM;
	hwloc_bitmap_only(set, cpu);
	int rc = hwloc_set_cpubind(topo, set, HWLOC_CPUBIND_THREAD);
	int error = rc == 0 ? 0 : errno;
	hwloc_bitmap_free(set);
	return error;
}

/* pc_topo_unbind_thread: let the calling thread run on any allowed CPU. */
int
pc_topo_unbind_thread(void)
{
	topo_init();
	if (!topo_ok)
		return ENOSYS;
	return hwloc_set_cpubind(topo, topo_allowed, HWLOC_CPUBIND_THREAD) == 0 ?
	    0 : errno;
}
