/*
 * report.c -- printing the figures the demo is about.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>

#include <pcache.h>

#include "report.h"

/* cache_line: one cache's figures.  vCPUs stopped. */
static void cache_line(const char *indent, const char *name, pcache_t *pc)
{
	struct pcache_stats st;
	if (pcache_get_stats(pc, &st) != 0) {
		printf("%s%-14s (no statistics)\n", indent, name);
		return;
	}
	printf("%s%-14s %4llu in use, %4llu in CPU magazines, %4llu in the depot"
	    " (%llu constructed, %llu destructed)\n", indent, name,
	    (unsigned long long)st.in_use, (unsigned long long)st.cached_cpu,
	    (unsigned long long)st.cached_depot, (unsigned long long)st.ctor_calls,
	    (unsigned long long)st.dtor_calls);
}

/* report_caches: see report.h. */
void report_caches(struct guest *g, const char *indent)
{
	cache_line(indent, "shadow cache:", guest_shadow_cache(g));
	cache_line(indent, "pdp cache:", guest_pdp_cache(g));
}

/* report_host: see report.h. */
void report_host(struct hv *hv, const char *indent)
{
	struct hv_census c;
	hv_census(hv, &c);
	printf("%shost %s: %zu of %zu frames in use: %zu L1, %zu L2, %zu writable;"
	    " %zu pinned\n", indent, hv_name(hv), c.in_use, c.nframes,
	    c.by_type[HV_TYPE_L1], c.by_type[HV_TYPE_L2], c.by_type[HV_TYPE_WRITABLE],
	    c.pinned);
	printf("%s  L2 pages holding recursive entries: %zu (%zu entries);"
	    " hypercalls so far: %llu pins, %llu unpins, %llu entry updates\n",
	    indent, c.l2_recursive, c.recursive_entries,
	    (unsigned long long)c.counters.pins, (unsigned long long)c.counters.unpins,
	    (unsigned long long)c.counters.updates);
}

/* report_mfns: see report.h.  Ten numbers a line. */
void report_mfns(const char *indent, const char *label, const uint64_t *mfn, size_t n)
{
	printf("%s%s, %zu frame%s:", indent, label, n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		if (i % 10 == 0)
			printf("\n%s  ", indent);
		printf(" %#06llx", (unsigned long long)mfn[i]);
	}
	printf("\n");
}

/*
 * report_cached_by_cpu: see report.h.  Where the cached shadow pages sit
 * now, from the library's per-CPU figures.
 */
void report_cached_by_cpu(struct guest *g, const char *indent)
{
	pcache_t *pc = guest_shadow_cache(g);
	unsigned ncpu = pcache_cpu_count();
	struct pcache_stats st;
	uint64_t total = 0;

	printf("%scached shadow pages where they sit now: ", indent);
	for (unsigned c = 0; c < ncpu; c++) {
		struct pcache_cpu_stats cs;
		if (pcache_get_cpu_stats(pc, c, &cs) == 0 && cs.cached != 0) {
			printf("cpu %u: %llu, ", c, (unsigned long long)cs.cached);
			total += cs.cached;
		}
	}
	if (pcache_get_stats(pc, &st) == 0) {
		printf("depot: %llu, ", (unsigned long long)st.cached_depot);
		total += st.cached_depot;
	}
	printf("total %llu\n", (unsigned long long)total);
}
