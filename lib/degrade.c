/*
 * degrade.c -- degraded modes: the process's record of the slower paths
 * the system forced (PCACHE_DEGRADED_* in pcache_stats.degraded), the
 * slot a thread uses when the system cannot say which CPU it runs on,
 * and the test-only build's switches that make system features fail.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The record holds the facts that concern the whole process (no CPU
 * number, a CPU beyond the slots, no topology); the per-CPU layer keeps
 * what concerns one cache (no rseq, no membarrier) in the cache itself.
 * Bits are only ever added: a degradation seen once stays reported.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include "degrade.h"
#include "pcache.h"

static atomic_uint degraded;	/* PCACHE_DEGRADED_* bits, only added */

/*
 * pc_degrade_note: record that the process took the slower paths `bits`
 * name.  Any thread, no lock.  Cheap once recorded: a load, no write, so
 * a path that notes on every call keeps the line shared.
 */
void
pc_degrade_note(unsigned bits)
{
	/*
	 * Relaxed, both: the bits are a statistic that orders nothing; a
	 * reader sees them some time after the path was taken.
	 */
	if ((atomic_load_explicit(&degraded, memory_order_relaxed) & bits) != bits)
		atomic_fetch_or_explicit(&degraded, bits, memory_order_relaxed);
}

/* pc_degrade_bits: the process's bits so far.  Any thread, no lock. */
unsigned
pc_degrade_bits(void)
{
	/* Relaxed: as in pc_degrade_note(). */
	return atomic_load_explicit(&degraded, memory_order_relaxed);
}

/*
 * pc_cpu_fallback: the slot for a caller whose CPU number `cpu` (from
 * pc_getcpu()) is not a slot below `ncpu`.  A CPU at or above ncpu (one
 * brought online after the slots were sized) shares slot cpu % ncpu; no
 * CPU at all (-1) gets a slot dealt round-robin once per thread, so that
 * a thread keeps finding its own magazines and threads spread over the
 * slots (correct on the locked layer, whose slots are locked, but not per
 * processor).  Notes which case it was.  ncpu > 0 (the topology
 * guarantees one slot).  No lock; no assertion either: a leaf below
 * debug.c cannot call its pc_assert_fail().
 */
unsigned
pc_cpu_fallback(int cpu, unsigned ncpu)
{
	static atomic_uint next;
	static _Thread_local bool dealt;
	static _Thread_local unsigned mine;

	if (cpu >= 0) {
		pc_degrade_note(PCACHE_DEGRADED_CPU_BEYOND);
		return (unsigned)cpu % ncpu;
	}
	if (!dealt) {
		/* Relaxed: only hands out distinct numbers. */
		mine = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed);
		dealt = true;
		pc_degrade_note(PCACHE_DEGRADED_NO_GETCPU);
	}
	return mine % ncpu;
}

#ifdef PCACHE_FAULT_INJECTION

static pthread_once_t sysfault_once = PTHREAD_ONCE_INIT;
static unsigned sysfault_set;		/* 1 << enum pc_sysfault; written once */
static unsigned sysfault_nslots;	/* slots=N, or 0; written once */

/*
 * sysfault_read: parse PCACHE_FAULT_SYS once.  Unknown words are ignored,
 * as a test asking for a switch this build lacks then fails its own
 * checks rather than this parser aborting the process.
 */
static void
sysfault_read(void)
{
	const char *s = getenv("PCACHE_FAULT_SYS");

	while (s != NULL && *s != '\0') {
		size_t len = strcspn(s, ",");
		if (len == 7 && strncmp(s, "no-rseq", len) == 0)
			sysfault_set |= 1u << PC_SYSFAULT_RSEQ;
		else if (len == 13 && strncmp(s, "no-membarrier", len) == 0)
			sysfault_set |= 1u << PC_SYSFAULT_MEMBARRIER;
		else if (len == 9 && strncmp(s, "no-getcpu", len) == 0)
			sysfault_set |= 1u << PC_SYSFAULT_GETCPU;
		else if (len == 11 && strncmp(s, "no-topology", len) == 0)
			sysfault_set |= 1u << PC_SYSFAULT_TOPOLOGY;
		else if (len > 6 && strncmp(s, "slots=", 6) == 0)
			sysfault_nslots = (unsigned)strtoul(s + 6, NULL, 10);
		s += len;
		if (*s == ',')
			s++;
	}
}

/*
 * pc_sysfault: whether the test build was told to make feature f fail.
 * Any thread, no lock (pthread_once() publishes what was parsed).
 */
bool
pc_sysfault(enum pc_sysfault f)
{
	pthread_once(&sysfault_once, sysfault_read);
	return (sysfault_set & (1u << f)) != 0;
}

/* pc_sysfault_slots: the slot count the test build was told, or 0. */
unsigned
pc_sysfault_slots(void)
{
	pthread_once(&sysfault_once, sysfault_read);
	return sysfault_nslots;
}

#endif /* PCACHE_FAULT_INJECTION */
