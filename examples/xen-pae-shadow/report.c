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

/* report_cached_by_cpu: see report.h.  Guest bookkeeping, not cache internals. */
void report_cached_by_cpu(struct guest *g, const char *indent)
{
	unsigned ncpu = pcache_cpu_count();
	size_t *counts = calloc(ncpu, sizeof(*counts));
	size_t other;
	if (counts == NULL)
		return;
	size_t total = guest_cached_shadows_by_cpu(g, counts, ncpu, &other);
	printf("%scached shadow pages by the CPU that put them back (full magazines"
	    " move on to the depot,\n%s  so this is not necessarily where they sit"
	    " now): ", indent, indent);
	for (unsigned c = 0; c < ncpu; c++)
		if (counts[c] != 0)
			printf("cpu %u: %zu, ", c, counts[c]);
	if (other != 0)
		printf("unknown CPU: %zu, ", other);
	printf("total %zu\n", total);
	free(counts);
}
