/*
 * degrade.h -- degraded modes (a leaf: it calls nothing else in the
 * library): the process's record of what the system failed to provide
 * (PCACHE_DEGRADED_* bits), the stand-in for a CPU number the system
 * cannot give, and, in the test-only build (PCACHE_FAULT_INJECTION),
 * switches that make a system feature fail on purpose.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef PC_DEGRADE_H
#define PC_DEGRADE_H

#include <sched.h>
#include <stdbool.h>

void		 pc_degrade_note(unsigned bits);
unsigned	 pc_degrade_bits(void);
unsigned	 pc_cpu_fallback(int cpu, unsigned ncpu);

/*
 * System features the test-only build can make fail, named in
 * PCACHE_FAULT_SYS (a comma-separated list, read once):
 *   no-rseq        no struct rseq can be registered, as on a kernel
 *                  without rseq: glibc's is ignored, ours fails (rseq.c)
 *   no-membarrier  membarrier() registration for rseq fails (rseq.c)
 *   no-getcpu      sched_getcpu() returns -1 with ENOSYS (pc_getcpu())
 *   no-topology    hwloc's topology does not load (topology.c)
 *   slots=N        the topology claims N slots: CPUs at or above N look
 *                  brought online later (topology.c)
 * In every other build pc_sysfault() is the constant false and
 * pc_sysfault_slots() 0 (nothing forced).
 */
enum pc_sysfault { PC_SYSFAULT_RSEQ, PC_SYSFAULT_MEMBARRIER,
    PC_SYSFAULT_GETCPU, PC_SYSFAULT_TOPOLOGY };
#ifdef PCACHE_FAULT_INJECTION
bool		 pc_sysfault(enum pc_sysfault f);
unsigned	 pc_sysfault_slots(void);
#else
#define pc_sysfault(f)		false
#define pc_sysfault_slots()	0u
#endif

/*
 * pc_getcpu: the processor the caller runs on, or -1 when the system
 * cannot say (no sched_getcpu(), or it failed, or the test build was told
 * it fails).  Inline: it is on the locked layer's hit path.
 */
static inline int
pc_getcpu(void)
{
	if (pc_sysfault(PC_SYSFAULT_GETCPU))
		return -1;
#ifdef PCACHE_HAVE_SCHED_GETCPU
	return sched_getcpu();
#else
	return -1;
#endif
}

#endif /* PC_DEGRADE_H */
