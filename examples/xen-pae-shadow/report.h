/*
 * report.h -- printing the figures the demo is about.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Every figure printed comes from pcache_get_stats(), the hypervisor's frame
 * table, or the guest's own counters; nothing is estimated.  Call these
 * only while the vCPUs are stopped, when the statistics are exact.
 */
#ifndef XPS_REPORT_H
#define XPS_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "hv.h"
#include "pmap.h"

/* report_caches: one line per cache: in use, on CPUs, in the depot, constructed. */
void report_caches(struct guest *g, const char *indent);

/* report_host: frames in use by type and pinned, L2 pages with recursive entries. */
void report_host(struct hv *hv, const char *indent);

/* report_mfns: "label, N frames: 0x.. 0x.." wrapped, mfns of the offenders given. */
void report_mfns(const char *indent, const char *label, const uint64_t *mfn, size_t n);

/* report_cached_by_cpu: cached shadow pages on each CPU and in the depot, now. */
void report_cached_by_cpu(struct guest *g, const char *indent);

#endif /* XPS_REPORT_H */
