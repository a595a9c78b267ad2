/*
 * suspend.c -- the guest's suspend/resume path around a save and restore.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The public cache API says how many objects sit in CPU magazines and in the
 * depot, but not which ones.  To say where a refused frame sat, the guest
 * drains the cache one place at a time and lets the shadow destructor note
 * which drain released each page: each vCPU in turn calls
 * pcache_invalidate_local() on the CPU it is bound to, then a final
 * pcache_invalidate() takes what is left, which is the depot when the
 * statistics show no object left in any CPU's magazines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcache.h>

#include "report.h"
#include "suspend.h"

struct drain_result {
	int      cpu_before, cpu_after;	/* sched_getcpu() around the call */
	uint64_t destructed;
};

struct drain_ctx {
	struct guest *g;
	struct drain_result *r;		/* by vCPU index */
};

/* drain_own_cpu: this vCPU invalidates its own CPU's magazines.  On a vCPU. */
static void drain_own_cpu(struct vcpu *v, void *arg)
{
	struct drain_ctx *d = arg;
	struct drain_result *r = &d->r[v->index];
	struct guest_counters before, after;
	guest_counters(d->g, &before);
	r->cpu_before = sched_getcpu();
	guest_set_drain_label(d->g, r->cpu_before >= 0 ? r->cpu_before : DRAIN_OTHER);
	pcache_invalidate_local(guest_shadow_cache(d->g));
	r->cpu_after = sched_getcpu();
	guest_set_drain_label(d->g, DRAIN_OTHER);
	guest_counters(d->g, &after);
	r->destructed = after.shadow_dtor - before.shadow_dtor;
}

/*
 * drain_each_cpu: every vCPU drains its CPU, one after another so that each
 * destruction is labelled with the right CPU.  Returns false when a vCPU
 * ran on different CPUs before and after its call.  Driver thread.
 */
static bool drain_each_cpu(struct guest *g, struct vcpu_set *vs, const char *indent)
{
	unsigned n = vcpu_count(vs);
	struct drain_result *r = calloc(n, sizeof(*r));
	struct drain_ctx d = { g, r };
	bool stayed = true;
	if (r == NULL)
		return false;
	vcpu_run_each(vs, drain_own_cpu, &d);
	for (unsigned i = 0; i < n; i++) {
		printf("%svcpu%u on cpu %d: pcache_invalidate_local destructed %llu"
		    " shadow pages\n", indent, i, r[i].cpu_before,
		    (unsigned long long)r[i].destructed);
		if (r[i].cpu_before != r[i].cpu_after) {
			printf("%s  (vcpu%u moved to cpu %d during the call)\n", indent, i,
			    r[i].cpu_after);
			stayed = false;
		}
	}
	free(r);
	return stayed;
}

/*
 * drain_rest: pcache_invalidate() of the shadow cache.  Its pages are
 * labelled DRAIN_DEPOT when the statistics say every CPU's magazines are
 * already empty (and locals_ok), DRAIN_GLOBAL otherwise.  Driver thread.
 */
static void drain_rest(struct guest *g, bool locals_ok, const char *indent)
{
	struct pcache_stats st;
	struct guest_counters before, after;
	pcache_get_stats(guest_shadow_cache(g), &st);
	bool depot_only = locals_ok && st.cached_cpu == 0;
	guest_counters(g, &before);
	guest_set_drain_label(g, depot_only ? DRAIN_DEPOT : DRAIN_GLOBAL);
	pcache_invalidate(guest_shadow_cache(g));
	guest_set_drain_label(g, DRAIN_OTHER);
	guest_counters(g, &after);
	printf("%spcache_invalidate destructed %llu shadow pages", indent,
	    (unsigned long long)(after.shadow_dtor - before.shadow_dtor));
	if (depot_only)
		printf(", all from the depot (no CPU magazine held any)\n");
	else
		printf(" (just before it: %llu in CPU magazines, %llu in the depot)\n",
		    (unsigned long long)st.cached_cpu, (unsigned long long)st.cached_depot);
}

/* clean_cache: the cleaning `mode` selects.  Driver thread. */
static void clean_cache(struct guest *g, struct vcpu_set *vs, enum clean_mode mode)
{
	switch (mode) {
	case CLEAN_NONE:
		printf("  cleaning the cache: none (mode none)\n");
		break;
	case CLEAN_LOCAL:
		printf("  cleaning the cache: each vCPU on its own CPU (mode local)\n");
		drain_each_cpu(g, vs, "    ");
		break;
	case CLEAN_GLOBAL:
		printf("  cleaning the cache: one pcache_invalidate (mode global)\n");
		drain_rest(g, false, "    ");
		break;
	case CLEAN_SEED:
		printf("  cleaning the cache: each vCPU locally, then pcache_invalidate"
		    " (mode seed)\n");
		drain_rest(g, drain_each_cpu(g, vs, "    "), "    ");
		break;
	}
}

/* print_group: offenders whose last drain label is `label`.  Driver thread. */
static size_t print_group(struct guest *g, const struct hv_save_report *rep,
    int label, const char *what)
{
	uint64_t *mfn = calloc(rep->noffenders, sizeof(*mfn));
	size_t n = 0;
	if (mfn == NULL)
		return 0;
	for (size_t i = 0; i < rep->noffenders; i++)
		if (guest_drained_by(g, rep->offenders[i].pfn) == label)
			mfn[n++] = rep->offenders[i].mfn;
	if (n != 0)
		report_mfns("    ", what, mfn, n);
	free(mfn);
	return n;
}

/*
 * locate_offenders: after a refusal, drain the cache place by place and
 * print each offending frame under the place it was released from.
 * Driver thread.
 */
static void locate_offenders(struct guest *g, struct vcpu_set *vs,
    const struct hv_save_report *rep)
{
	printf("  where the refused frames sat (each vCPU drains its own CPU's"
	    " magazines, then the rest is drained;\n  the shadow destructor records"
	    " which drain released each page):\n");
	guest_forget_drains(g);
	bool stayed = drain_each_cpu(g, vs, "    ");
	drain_rest(g, stayed, "    ");
	unsigned ncpu = pcache_cpu_count();
	for (unsigned c = 0; c < ncpu; c++) {
		char what[48];
		snprintf(what, sizeof(what), "in cpu %u's magazines", c);
		print_group(g, rep, (int)c, what);
	}
	print_group(g, rep, DRAIN_DEPOT, "in the depot");
	print_group(g, rep, DRAIN_GLOBAL, "in the depot or an undrained CPU's magazines");
	print_group(g, rep, DRAIN_OTHER, "not in the cache at all");
}

/* refused: report a refusal and resume where we were.  Driver thread. */
static void refused(struct guest *g, struct vcpu_set *vs,
    const struct hv_save_report *rep, struct suspend_result *res)
{
	printf("  host %s refused the save: %zu L2 frames still hold recursive"
	    " mappings\n", hv_name(guest_host(g)), rep->noffenders);
	res->refused = rep->noffenders;
	locate_offenders(g, vs, rep);
	size_t n = pmap_map_recursive(g);
	printf("  save cancelled; resumed on host %s, %zu recursive entries put back\n",
	    hv_name(guest_host(g)), n);
}

/* move_to: restore the image on a new host and resume there.  Driver thread. */
static void move_to(struct guest *g, const struct hv_snapshot *snap, const char *dest,
    size_t nframes, enum hv_order order, struct suspend_result *res)
{
	struct hv *old = guest_host(g);
	struct hv_restore_report rep;
	struct hv *hv = hv_restore(snap, dest, nframes, guest_space(g),
	    hv_domid(old) + 1, order, &rep);
	if (hv == NULL) {
		printf("  restore on host %s failed: %s\n", dest, strerror(errno));
		res->failed = true;
		if (hv_reattach(old) != 0) {
			printf("  host %s cannot take the guest back either\n", hv_name(old));
			abort();
		}
		size_t n = pmap_map_recursive(g);
		printf("  resumed on host %s instead, %zu recursive entries put back\n",
		    hv_name(old), n);
		return;
	}
	printf("  host %s restored %zu frames, %zu of them under a new machine number;"
	    " %zu page tables pinned and validated again\n", dest, rep.frames,
	    rep.renumbered, rep.tables);
	guest_set_host(g, hv);
	hv_destroy(old);
	size_t n = pmap_map_recursive(g);
	printf("  resumed on host %s: %zu recursive entries put back in %zu live pmaps\n",
	    dest, n, guest_npmaps(g));
	res->restored = true;
}

/* suspend_cycle: see suspend.h. */
void suspend_cycle(struct guest *g, struct vcpu_set *vs, enum clean_mode mode,
    const char *dest, size_t nframes, enum hv_order order,
    struct suspend_result *res)
{
	*res = (struct suspend_result){ 0 };
	printf("  vCPUs stopped at the barrier; the cache before suspend:\n");
	report_caches(g, "    ");
	report_cached_by_cpu(g, "    ");
	report_host(guest_host(g), "    ");
	size_t n = pmap_unmap_recursive(g);
	printf("  %zu live pmaps: %zu recursive entries cleared\n", guest_npmaps(g), n);
	clean_cache(g, vs, mode);
	printf("  the cache after cleaning:\n");
	report_caches(g, "    ");
	report_host(guest_host(g), "    ");

	struct hv_snapshot *snap;
	struct hv_save_report rep;
	int err = hv_save(guest_host(g), &snap, &rep);
	if (err == 0) {
		res->accepted = true;
		printf("  host %s accepted the save: an image of %zu frames, %zu page"
		    " tables, %zu entries rewritten as pfns\n", hv_name(guest_host(g)),
		    rep.frames, rep.tables, rep.entries);
		move_to(g, snap, dest, nframes, order, res);
		hv_snapshot_free(snap);
	} else if (rep.noffenders != 0) {
		refused(g, vs, &rep, res);
	} else {
		printf("  save failed: %s\n", strerror(err));
		res->failed = true;
	}
	free(rep.offenders);
}
