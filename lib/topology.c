/*
 * topology.c -- processors, NUMA nodes and thread binding, from hwloc.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The topology is loaded once, on first use, under pthread_once(), and kept
 * for the life of the process.  Slots are sized for every processor the
 * machine could bring online (the highest OS index in hwloc's complete
 * cpuset, plus one), so a CPU that appears later still finds its slot.
 *
 * Where hwloc cannot load a topology the library still runs: slots are
 * sized from sysconf(_SC_NPROCESSORS_CONF) and the affinity mask, no CPU
 * has a NUMA node, threads are bound with the affinity calls themselves,
 * and the stats say PCACHE_DEGRADED_NO_TOPOLOGY.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <hwloc.h>

#include "topology.h"
#include "core.h"
#include "degrade.h"

static pthread_once_t	 topo_once = PTHREAD_ONCE_INIT;
static hwloc_topology_t	 topo;
static bool		 topo_ok;	/* hwloc's topology loaded */
static unsigned		 topo_ncpu = 1;
static int		*topo_node;	/* NUMA node of each CPU, or -1 */
static unsigned		*topo_dom;	/* domain of each CPU (topo_ndom > 1) */
static unsigned		 topo_ndom = 1;	/* NUMA nodes with CPUs, folded */
static hwloc_obj_t	 topo_dom_obj[PC_MAX_DOMAINS];	/* a node of each */
static hwloc_bitmap_t	 topo_allowed;	/* CPUs this process may use */
#ifdef PCACHE_HAVE_SCHED_AFFINITY
/*
 * Without hwloc: the affinity mask at load, standing in for the allowed
 * set (a fixed-size set: a machine past CPU_SETSIZE CPUs gets none, and
 * no binding).
 */
static cpu_set_t	 fb_allowed;
static bool		 fb_ok;
#endif

static void	 topo_domains(unsigned ncpu);

/*
 * topo_load_hwloc: read the machine's topology from hwloc.  False, with
 * nothing kept, when it cannot be had.  Runs once, from topo_load().
 */
static bool
topo_load_hwloc(void)
{
	if (pc_sysfault(PC_SYSFAULT_TOPOLOGY))
		return false;
	if (hwloc_topology_init(&topo) != 0)
		return false;
	if (hwloc_topology_load(topo) != 0) {
		hwloc_topology_destroy(topo);
		return false;
	}
	int last = hwloc_bitmap_last(hwloc_topology_get_complete_cpuset(topo));
	unsigned n = last >= 0 ? (unsigned)last + 1 : 1;

	topo_node = pc_sys_malloc(n * sizeof(*topo_node));
	topo_allowed = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(topo));
	if (topo_node == NULL || topo_allowed == NULL) {
		pc_sys_free(topo_node);
		topo_node = NULL;
		hwloc_bitmap_free(topo_allowed);
		topo_allowed = NULL;
		hwloc_topology_destroy(topo);
		return false;
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
	topo_domains(n);
	return true;
}

/*
 * topo_domains: number the NUMA nodes that have CPUs densely, in hwloc's
 * order, as the caches' domains (one depot and one set of slab lists
 * each).  Past PC_MAX_DOMAINS nodes fold onto the first ones: they then
 * share a depot, which costs locality, not correctness.  Without a domain
 * map every CPU is in domain 0.  Runs once, from topo_load_hwloc().
 */
static void
topo_domains(unsigned ncpu)
{
	unsigned nodes = 0;
	hwloc_obj_t node = NULL;

	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE,
	    node)) != NULL) {
		if (!hwloc_bitmap_iszero(node->cpuset))
			nodes++;
	}
	if (nodes < 2 || (topo_dom = pc_sys_calloc(ncpu, sizeof(*topo_dom))) == NULL)
		return;
	unsigned d = 0;
	node = NULL;
	while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE,
	    node)) != NULL) {
		if (hwloc_bitmap_iszero(node->cpuset))
			continue;
		if (d < PC_MAX_DOMAINS)
			topo_dom_obj[d] = node;
		unsigned cpu;
		hwloc_bitmap_foreach_begin(cpu, node->cpuset) {
			if (cpu < ncpu)
				topo_dom[cpu] = d % PC_MAX_DOMAINS;
		} hwloc_bitmap_foreach_end();
		d++;
	}
	topo_ndom = nodes < PC_MAX_DOMAINS ? nodes : PC_MAX_DOMAINS;
}

/*
 * topo_fallback: no topology from hwloc.  Size the slots for the
 * processors the system says are configured or the highest CPU the
 * process may run on, whichever numbers higher (a CPU beyond them later
 * shares a slot; percpu.h), at least one.  Runs once, from topo_load().
 */
static void
topo_fallback(void)
{
	unsigned n = 1;

#ifdef _SC_NPROCESSORS_CONF
	long conf = sysconf(_SC_NPROCESSORS_CONF);
	if (conf > 1)
		n = conf < 65536 ? (unsigned)conf : 65536;
#endif
#ifdef PCACHE_HAVE_SCHED_AFFINITY
	if (sched_getaffinity(0, sizeof(fb_allowed), &fb_allowed) == 0) {
		fb_ok = true;
		for (unsigned cpu = n; cpu < CPU_SETSIZE; cpu++) {
			if (CPU_ISSET(cpu, &fb_allowed))
				n = cpu + 1;
		}
	}
#endif
	topo_ncpu = n;
}

/*
 * topo_load: read the machine's topology, or fall back without it, noting
 * what the system could not give.  Runs once, under pthread_once(), which
 * publishes what it wrote to every later reader.
 */
static void
topo_load(void)
{
	if (pc_getcpu() < 0)
		pc_degrade_note(PCACHE_DEGRADED_NO_GETCPU);
	if (!topo_load_hwloc()) {
		topo_fallback();
		pc_degrade_note(PCACHE_DEGRADED_NO_TOPOLOGY);
	}
	/* The test build's hot-add: CPUs from `forced` on have no slot. */
	unsigned forced = pc_sysfault_slots();
	if (forced > 0 && forced < topo_ncpu)
		topo_ncpu = forced;
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

/*
 * pc_topo_ndomain: the NUMA domains caches spread over: NUMA nodes with
 * CPUs (at most PC_MAX_DOMAINS), 1 where there is one node or no map.
 */
unsigned
pc_topo_ndomain(void)
{
	topo_init();
	return topo_ndom;
}

/* pc_topo_cpu_domain: the domain of a CPU (a slot index); 0 if unknown. */
unsigned
pc_topo_cpu_domain(unsigned cpu)
{
	topo_init();
	return topo_dom != NULL && cpu < topo_ncpu ? topo_dom[cpu] : 0;
}

/*
 * pc_topo_current_domain: the domain of the processor the caller runs on
 * now (0 when it cannot be told).  One load past the CPU number.
 */
unsigned
pc_topo_current_domain(void)
{
	if (topo_ndom < 2)	/* set before any cache exists (pc_topo_ncpu()) */
		return 0;
	int cpu = pc_getcpu();
	return cpu >= 0 && (unsigned)cpu < topo_ncpu ? topo_dom[cpu] : 0;
}

/*
 * pc_topo_bind_area: bind [p, p + len), not yet touched, to the memory
 * of domain `dom`, so that its pages come from that node whichever CPU
 * touches them first.  0, or -1 where the system or hwloc cannot bind
 * (one domain: nothing to do, 0).
 */
int
pc_topo_bind_area(void *p, size_t len, unsigned dom)
{
	topo_init();
	if (topo_ndom < 2 || dom >= topo_ndom)
		return 0;
	return hwloc_set_area_membind(topo, p, len, topo_dom_obj[dom]->nodeset,
	    HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET) == 0 ? 0 : -1;
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
 * (possibly more than `max`), or 0 if they are unknown.  Without hwloc,
 * the affinity mask the process had when the topology was first needed.
 */
int
pc_topo_allowed_cpus(unsigned *cpus, unsigned max)
{
	unsigned cpu;
	int n = 0;

	topo_init();
	if (!topo_ok) {
#ifdef PCACHE_HAVE_SCHED_AFFINITY
		for (cpu = 0; fb_ok && cpu < CPU_SETSIZE; cpu++) {
			if (!CPU_ISSET(cpu, &fb_allowed))
				continue;
			if ((unsigned)n < max)
				cpus[n] = cpu;
			n++;
		}
#endif
		return n;
	}
	hwloc_bitmap_foreach_begin(cpu, topo_allowed) {
		if ((unsigned)n < max)
			cpus[n] = cpu;
		n++;
	} hwloc_bitmap_foreach_end();
	return n;
}

/*
 * fb_bind: pc_topo_bind_thread() without hwloc: the calling thread's
 * affinity set to `set` directly.  0 or an errno value (ENOSYS where the
 * mask was not read).  No lock: it changes the calling thread only.
 */
#ifdef PCACHE_HAVE_SCHED_AFFINITY
static int
fb_bind(const cpu_set_t *set)
{
	if (!fb_ok)
		return ENOSYS;
	return pthread_setaffinity_np(pthread_self(), sizeof(*set), set);
}
#endif

/*
 * pc_topo_bind_thread: run the calling thread on `cpu` only.  Returns 0, or
 * an errno value (ENOSYS without a topology or affinity calls, EINVAL for
 * a CPU the process may not use).
 */
int
pc_topo_bind_thread(unsigned cpu)
{
	topo_init();
	if (!topo_ok) {
#ifdef PCACHE_HAVE_SCHED_AFFINITY
		cpu_set_t one;
		if (fb_ok && (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &fb_allowed)))
			return EINVAL;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		return fb_bind(&one);
#else
		return ENOSYS;
#endif
	}
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
	if (!topo_ok) {
#ifdef PCACHE_HAVE_SCHED_AFFINITY
		return fb_bind(&fb_allowed);
#else
		return ENOSYS;
#endif
	}
	return hwloc_set_cpubind(topo, topo_allowed, HWLOC_CPUBIND_THREAD) == 0 ?
	    0 : errno;
}
