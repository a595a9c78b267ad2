/*
 * dump.c -- figures a person can read: pcache_dump() for one cache,
 * pcache_dump_all() for every cache, PCACHE_STATS=1 to print them all at
 * exit.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

static const char *
layer_name(unsigned fastpath)
{
	return fastpath == PCACHE_FASTPATH_RSEQ ? "rseq" :
	    fastpath == PCACHE_FASTPATH_LOCK ? "locked" : "none";
}

/*
 * dump_degraded: the line naming each PCACHE_DEGRADED_* bit of `bits`
 * and the path taken instead; nothing when there is none.  No lock.
 */
static void
dump_degraded(FILE *out, unsigned bits)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ PCACHE_DEGRADED_NO_RSEQ, "NO_RSEQ (locked layer)" },
		{ PCACHE_DEGRADED_NO_MEMBARRIER, "NO_MEMBARRIER (locked layer)" },
		{ PCACHE_DEGRADED_NO_GETCPU, "NO_GETCPU (a slot per thread)" },
		{ PCACHE_DEGRADED_CPU_BEYOND, "CPU_BEYOND (CPUs past the slots share them)" },
		{ PCACHE_DEGRADED_NO_TOPOLOGY, "NO_TOPOLOGY (slots from sysconf, no NUMA)" },
		{ PCACHE_DEGRADED_NO_MEMBIND, "NO_MEMBIND (slabs where first touched)" },
	};
	const char *sep = "";

	if (bits == 0)
		return;
	fprintf(out, "  degraded:");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((bits & names[i].bit) == 0)
			continue;
		fprintf(out, "%s %s", sep, names[i].name);
		sep = ",";
		bits &= ~names[i].bit;
	}
	if (bits != 0)
		fprintf(out, "%s 0x%x", sep, bits);
	fprintf(out, "\n");
}

/*
 * pcache_dump: see pcache.h.  The figures of pcache_get_stats() (the
 * degraded modes on a line of their own, when there are any), then one
 * line per CPU that cached or served anything.  Takes the locks that
 * statistics take, one at a time.
 */
void
pcache_dump(FILE *out, pcache_t *pc)
{
	struct pcache_stats st;

	if (out == NULL || pc == NULL || pcache_get_stats(pc, &st) != 0)
		return;
	fprintf(out, "cache '%s': %zu-byte objects (%zu laid out), "
	    "per-CPU layer %s, magazines of %llu%s\n", pc->name, pc->usersize,
	    st.objsize, layer_name(st.fastpath), (unsigned long long)st.magsize,
	    pc->dbg != NULL ? ", checked mode" : "");
	dump_degraded(out, st.degraded);
	fprintf(out, "  gets %llu (%llu from a CPU), puts %llu, in use %llu\n",
	    (unsigned long long)st.gets, (unsigned long long)st.cpu_hits,
	    (unsigned long long)st.puts, (unsigned long long)st.in_use);
	fprintf(out, "  cached: %llu on CPUs (capacity %llu, at most %llu), "
	    "%llu in the depot (%llu full, %llu empty magazines)\n",
	    (unsigned long long)st.cached_cpu,
	    (unsigned long long)st.cpu_capacity,
	    (unsigned long long)st.cpu_capacity_max,
	    (unsigned long long)st.cached_depot,
	    (unsigned long long)st.depot_full,
	    (unsigned long long)st.depot_empty);
	fprintf(out, "  constructed %llu, destructed %llu; slabs %llu "
	    "(%llu bytes), %llu raw objects free\n",
	    (unsigned long long)st.ctor_calls, (unsigned long long)st.dtor_calls,
	    (unsigned long long)st.slabs, (unsigned long long)st.bytes,
	    (unsigned long long)st.slab_free);
	fprintf(out, "  hard-limit waits %llu; deferred puts waiting %llu, "
	    "batches sent %llu\n", (unsigned long long)st.hardlimit_waits,
	    (unsigned long long)st.rcu_deferred,
	    (unsigned long long)st.rcu_batches);
	for (unsigned i = 0; pc_cpu_enabled(pc) && i < pc->ncpu; i++) {
		struct pcache_cpu_stats cs;
		if (pcache_get_cpu_stats(pc, i, &cs) != 0 ||
		    (cs.cached == 0 && cs.gets == 0 && cs.puts == 0))
			continue;
		fprintf(out, "  cpu %u: %llu cached (capacity %llu", i,
		    (unsigned long long)cs.cached,
		    (unsigned long long)cs.capacity);
		if (pc_dbg_quarantines(pc))
			fprintf(out, ", %llu in quarantine", (unsigned long long)
			    pc_dbg_quarantined(pc, (int)i));
		fprintf(out, "), %llu gets, %llu puts, %llu from the depot, "
		    "%llu to it\n", (unsigned long long)cs.gets,
		    (unsigned long long)cs.puts,
		    (unsigned long long)cs.from_depot,
		    (unsigned long long)cs.to_depot);
	}
}

static int
dump_one(pcache_t *pc, void *arg)
{
	pcache_dump(arg, pc);
	return 0;
}

/* pcache_dump_all: see pcache.h.  A walk (pcache_walk()). */
void
pcache_dump_all(FILE *out)
{
	if (out != NULL)
		(void)pcache_walk(dump_one, out);
}

static void
dump_at_exit(void)
{
	fprintf(stderr, "libpcache: every cache at exit (PCACHE_STATS):\n");
	pcache_dump_all(stderr);
}

static pthread_once_t stats_once = PTHREAD_ONCE_INIT;
static bool stats_on;		/* PCACHE_STATS is set; written once */

static void
stats_env(void)
{
	const char *v = getenv("PCACHE_STATS");

	if (v != NULL && *v != '\0' && strcmp(v, "0") != 0) {
		stats_on = true;
		atexit(dump_at_exit);
	}
}

/* pc_stats_env: arrange PCACHE_STATS's dump at exit, once per process. */
void
pc_stats_env(void)
{
	pthread_once(&stats_once, stats_env);
}

/*
 * pc_stats_at_destroy: with PCACHE_STATS, a cache destroyed before exit
 * is printed as it goes (its last figures would be lost otherwise).
 */
void
pc_stats_at_destroy(pcache_t *pc)
{
	pthread_once(&stats_once, stats_env);
	if (stats_on) {
		fprintf(stderr, "libpcache: destroying (PCACHE_STATS):\n");
		pcache_dump(stderr, pc);
	}
}

