/*
 * main.c -- xen-pae-shadow: drive a simulated PAE guest through save/restore.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The vCPUs fork and exit processes in bursts large enough that, when the
 * guest is suspended, constructed shadow pages sit both in every CPU's
 * magazines and in the depot.  Exit status: 0 when every save was accepted
 * and every check held, 3 when a save was refused, 1 on any other failure,
 * 2 on a bad command line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcache.h>

#include "hv.h"
#include "pmap.h"
#include "report.h"
#include "suspend.h"
#include "vcpu.h"

#define BURST		48	/* forks per vCPU per round: more than two magazines */
#define LONG_LIVED	2	/* pmaps per vCPU that live through every suspend */
#define NKERNEL_BOOT	4	/* kernel L1 pages at boot */
#define NKERNEL_GROW	2	/* added by each growkernel */
#define MAX_HOPS	8

struct options {
	unsigned vcpus, rounds, hops;
	size_t   frames;
	enum clean_mode mode;
	bool     have_mode, verbose, stale_template, help;
};

/* Per-vCPU workload state; touched only by its vCPU while a command runs. */
struct work {
	struct guest *g;
	struct pmap *long_lived[LONG_LIVED];
	struct pmap *burst[BURST];
	unsigned nburst;
	unsigned create_failed;
};

/* usage: the synopsis on `to`; returns `status`, the exit status to use. */
static int usage(FILE *to, const char *prog, int status)
{
	fprintf(to,
	    "usage: %s --invalidate none|local|global|seed [--vcpus N] [--frames F]\n"
	    "       [--rounds R] [--migrate]... [--verbose] [--stale-template]\n"
	    "  --invalidate  how the shadow cache is cleaned before each save\n"
	    "  --vcpus       vCPU threads, bound round-robin (default: one per allowed CPU)\n"
	    "  --frames      machine frames per host (default: enough for the workload)\n"
	    "  --rounds      fork/exit rounds before the first save and after each restore\n"
	    "                (default 4)\n"
	    "  --migrate     move the guest to another host; repeat to move it again\n"
	    "                (without it the guest is saved and restored once)\n"
	    "  --verbose     cache and host figures after every round\n"
	    "  --stale-template  growkernel skips the cache invalidation (must fail)\n",
	    prog);
	return status;
}

/* parse_count: a decimal in [lo, hi] into *out.  false if malformed.  Pure. */
static bool parse_count(const char *s, unsigned long lo, unsigned long hi,
    unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static const char *const mode_names[] = { "none", "local", "global", "seed" };

/* parse_mode: a MODE name.  false if unknown.  Pure. */
static bool parse_mode(const char *s, enum clean_mode *mode)
{
	for (unsigned i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcmp(s, mode_names[i]) == 0) {
			*mode = (enum clean_mode)i;
			return true;
		}
	return false;
}

/* parse_options: fill *o from argv.  false on any error.  Single-threaded. */
static bool parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "vcpus", required_argument, NULL, 'v' },
		{ "frames", required_argument, NULL, 'f' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "invalidate", required_argument, NULL, 'i' },
		{ "migrate", no_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'V' },
		{ "stale-template", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;
	*o = (struct options){ .rounds = 4 };
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if (!parse_count(optarg, 1, 256, &v))
				return false;
			o->vcpus = (unsigned)v;
			break;
		case 'f':
			if (!parse_count(optarg, 64, 1ul << 20, &v))
				return false;
			o->frames = v;
			break;
		case 'r':
			if (!parse_count(optarg, 1, 1000, &v))
				return false;
			o->rounds = (unsigned)v;
			break;
		case 'i':
			if (!parse_mode(optarg, &o->mode))
				return false;
			o->have_mode = true;
			break;
		case 'm':
			if (++o->hops > MAX_HOPS)
				return false;
			break;
		case 'V':
			o->verbose = true;
			break;
		case 's':
			o->stale_template = true;
			break;
		case 'h':
			o->help = true;
			return true;
		default:
			return false;
		}
	}
	if (optind != argc || !o->have_mode)
		return false;
	if (o->vcpus == 0)
		o->vcpus = vcpu_allowed_cpus();
	if (o->frames == 0)	/* twice the peak the workload constructs, plus the kernel */
		o->frames = 512 + (size_t)o->vcpus * (BURST + LONG_LIVED) * (PMAP_NPD + 1) * 2;
	return true;
}

/* new_pmap: create and switch to a pmap, as a fork does.  On a vCPU. */
static struct pmap *new_pmap(struct work *w)
{
	struct pmap *pm = pmap_create(w->g);
	if (pm == NULL)
		w->create_failed++;
	else
		pmap_activate(pm);
	return pm;
}

/* fork_burst: BURST forks.  On a vCPU. */
static void fork_burst(struct vcpu *v, void *arg)
{
	struct work *w = v->user;
	(void)arg;
	while (w->nburst < BURST) {
		struct pmap *pm = new_pmap(w);
		if (pm == NULL)
			break;
		w->burst[w->nburst++] = pm;
	}
}

/* exit_burst: every process of the burst exits.  On a vCPU. */
static void exit_burst(struct vcpu *v, void *arg)
{
	struct work *w = v->user;
	(void)arg;
	while (w->nburst > 0)
		pmap_destroy(w->burst[--w->nburst]);
}

/* start_long_lived: the processes that outlive every save.  On a vCPU. */
static void start_long_lived(struct vcpu *v, void *arg)
{
	struct work *w = v->user;
	(void)arg;
	for (unsigned i = 0; i < LONG_LIVED; i++)
		w->long_lived[i] = new_pmap(w);
}

/* stop_long_lived: they exit, at teardown.  On a vCPU. */
static void stop_long_lived(struct vcpu *v, void *arg)
{
	struct work *w = v->user;
	(void)arg;
	for (unsigned i = 0; i < LONG_LIVED; i++)
		if (w->long_lived[i] != NULL)
			pmap_destroy(w->long_lived[i]);
}

/* print_round: one line per round; cache and host detail when verbose.  Driver. */
static void print_round(struct guest *g, unsigned round, unsigned forks, bool verbose)
{
	struct pcache_stats st;
	struct hv_census c;
	pcache_get_stats(guest_shadow_cache(g), &st);
	hv_census(guest_host(g), &c);
	printf("round %u: %u forks and exits; shadow cache: %llu in use, %llu in CPU"
	    " magazines, %llu in the depot; host %s: %zu frames in use\n", round, forks,
	    (unsigned long long)st.in_use, (unsigned long long)st.cached_cpu,
	    (unsigned long long)st.cached_depot, hv_name(guest_host(g)), c.in_use);
	if (verbose) {
		report_caches(g, "    ");
		report_host(guest_host(g), "    ");
	}
}

/* grow_kernel: growkernel between rounds, reported.  Driver, vCPUs stopped. */
static void grow_kernel(struct guest *g, const struct options *o)
{
	struct growkernel_report r;
	if (pmap_growkernel(g, NKERNEL_GROW, !o->stale_template, &r) != 0)
		printf("growkernel failed\n");
	printf("growkernel: kernel L1 pages %u -> %u; %zu live pmaps updated (%zu"
	    " shadow entries)", r.before, r.after, r.pmaps, r.updates);
	if (o->stale_template)
		printf("; cache NOT invalidated (--stale-template)\n");
	else
		printf("; shadow cache invalidated: %llu constructed pages destructed\n",
		    (unsigned long long)r.destructed);
}

/* run_rounds: a work phase, growkernel in its middle.  Driver. */
static void run_rounds(struct guest *g, struct vcpu_set *vs, const struct options *o,
    unsigned *round)
{
	for (unsigned i = 0; i < o->rounds; i++) {
		if (i == o->rounds / 2)
			grow_kernel(g, o);
		unsigned forks = 0;
		vcpu_run_all(vs, fork_burst, NULL);
		for (unsigned v = 0; v < vcpu_count(vs); v++)
			forks += ((struct work *)vcpu_get(vs, v)->user)->nburst;
		vcpu_run_all(vs, exit_burst, NULL);
		print_round(g, ++*round, forks, o->verbose);
	}
}

/* print_bindings: where each vCPU runs.  Driver. */
static void print_bindings(struct vcpu_set *vs)
{
	for (unsigned i = 0; i < vcpu_count(vs); i++) {
		const struct vcpu *v = vcpu_get(vs, i);
		if (v->bound)
			printf("vcpu%u: bound to cpu %d with hwloc\n", i, v->cpu);
		else
			printf("vcpu%u: not bound (%s); runs where the scheduler puts it\n", i,
			    strerror(v->bind_error));
	}
}

/*
 * check_cache: ctor/dtor balance of one cache against the guest's own
 * counts; prints what is wrong.  Returns false on a mismatch.  vCPUs stopped.
 */
static bool check_cache(const char *name, pcache_t *pc, uint64_t ctors, uint64_t dtors)
{
	struct pcache_stats st;
	if (pcache_get_stats(pc, &st) != 0)
		return false;
	uint64_t held = st.in_use + st.cached_cpu + st.cached_depot;
	bool ok = st.ctor_calls == ctors && st.dtor_calls == dtors &&
	    st.ctor_calls - st.dtor_calls == held;
	if (!ok)
		printf("error: %s: ctor %llu dtor %llu (guest saw %llu/%llu), %llu held\n",
		    name, (unsigned long long)st.ctor_calls, (unsigned long long)st.dtor_calls,
		    (unsigned long long)ctors, (unsigned long long)dtors,
		    (unsigned long long)held);
	return ok;
}

struct outcome {
	unsigned saves, accepted, restored;
	bool     failed, refused;
	size_t   refused_frames;
};

/*
 * teardown: stop everything, give every frame back and check the host.
 * Prints the closing figures; sets out->failed on any mismatch.  Driver.
 */
static void teardown(struct guest *g, struct vcpu_set *vs, struct outcome *out,
    size_t *leaked, uint64_t *type_errors)
{
	struct guest_counters gc;
	vcpu_run_all(vs, stop_long_lived, NULL);
	vcpu_stop(vs);
	guest_counters(g, &gc);
	if (!check_cache("shadow cache", guest_shadow_cache(g), gc.shadow_ctor, gc.shadow_dtor))
		out->failed = true;
	if (!check_cache("pdp cache", guest_pdp_cache(g), gc.pdp_ctor, gc.pdp_dtor))
		out->failed = true;
	if (gc.ctor_failed || gc.activate_failed || gc.update_failed) {
		printf("error: %llu pins refused in constructors, %llu activations refused,"
		    " %llu entry updates refused\n", (unsigned long long)gc.ctor_failed,
		    (unsigned long long)gc.activate_failed,
		    (unsigned long long)gc.update_failed);
		out->failed = true;
	}
	struct hv *hv = guest_host(g);
	int err = guest_shutdown(g);
	if (err != 0) {
		printf("error: guest shutdown: %s\n", strerror(err));
		out->failed = true;
	}
	struct hv_census c;
	struct hv_audit a;
	hv_census(hv, &c);
	hv_audit(hv, &a);
	printf("teardown: %llu pins, %llu unpins on host %s; %llu hypercalls refused\n",
	    (unsigned long long)c.counters.pins, (unsigned long long)c.counters.unpins,
	    hv_name(hv), (unsigned long long)c.counters.refused);
	if (c.counters.refused != 0)
		out->failed = true;
	*leaked = a.owned;
	*type_errors = c.counters.refused_type + a.wrong;
	if (*leaked != 0 || *type_errors != 0)
		out->failed = true;
	hv_destroy(hv);
}

/* run_guest: the whole story on an already created host.  Driver. */
static int run_guest(const struct options *o, struct hv_guest_space *gs, struct hv *hv,
    struct outcome *out, size_t *leaked, uint64_t *type_errors)
{
	struct guest *g = guest_boot(hv, gs, NKERNEL_BOOT);
	if (g == NULL) {
		printf("error: guest boot failed: %s\n", strerror(errno));
		hv_destroy(hv);
		return -1;
	}
	struct work *w = calloc(o->vcpus, sizeof(*w));
	void **user = calloc(o->vcpus, sizeof(*user));
	struct vcpu_set *vs = NULL;
	if (w != NULL && user != NULL) {
		for (unsigned i = 0; i < o->vcpus; i++) {
			w[i].g = g;
			user[i] = &w[i];
		}
		vs = vcpu_start(o->vcpus, user);
	}
	if (vs == NULL) {
		printf("error: starting the vCPUs failed\n");
		guest_shutdown(g);
		hv_destroy(hv);
		free(w);
		free(user);
		return -1;
	}
	print_bindings(vs);
	vcpu_run_all(vs, start_long_lived, NULL);

	unsigned round = 0, saves = o->hops != 0 ? o->hops : 1;
	run_rounds(g, vs, o, &round);
	for (unsigned hop = 0; hop < saves && !out->failed && !out->refused; hop++) {
		char dest[2] = { (char)('B' + hop), '\0' };
		struct suspend_result r;
		printf("%s %u: guest on host %s, to host %s (mode %s)\n",
		    o->hops != 0 ? "migration" : "save/restore", hop + 1,
		    hv_name(guest_host(g)), dest, mode_names[o->mode]);
		suspend_cycle(g, vs, o->mode, dest, o->frames,
		    hop % 2 == 0 ? HV_ORDER_ASCENDING : HV_ORDER_DESCENDING, &r);
		out->saves++;
		out->accepted += r.accepted;
		out->restored += r.restored;
		out->failed |= r.failed;
		out->refused |= r.refused != 0;
		out->refused_frames = r.refused;
		if (r.restored)
			run_rounds(g, vs, o, &round);
	}
	for (unsigned i = 0; i < o->vcpus; i++)
		if (w[i].create_failed != 0) {
			printf("error: vcpu%u: %u pmap creations failed\n", i, w[i].create_failed);
			out->failed = true;
		}
	teardown(g, vs, out, leaked, type_errors);
	free(w);
	free(user);
	return 0;
}

/* main: parse, run, print the closing lines, pick the exit status. */
int main(int argc, char **argv)
{
	struct options o;
	struct hv_guest_space gs;
	if (!parse_options(argc, argv, &o))
		return usage(stderr, argv[0], 2);
	if (o.help)
		return usage(stdout, argv[0], 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (hv_guest_space_init(&gs, o.frames) != 0) {
		perror("guest space");
		return 1;
	}
	struct hv *hv = hv_create("A", o.frames, &gs, 1, HV_ORDER_DESCENDING);
	if (hv == NULL) {
		perror("host A");
		return 1;
	}
	printf("xen-pae-shadow: %u vCPUs, %zu frames of 4 KiB per host, %u rounds per"
	    " phase, %d CPU slots in the cache\n", o.vcpus, o.frames, o.rounds,
	    (int)pcache_cpu_count());
	printf("each round every vCPU forks %d processes and they exit; %d more per vCPU"
	    " live throughout\n", BURST, LONG_LIVED);

	struct outcome out = { 0 };
	size_t leaked = 0;
	uint64_t type_errors = 0;
	if (run_guest(&o, &gs, hv, &out, &leaked, &type_errors) != 0)
		out.failed = true;
	hv_guest_space_fini(&gs);

	bool all_accepted = out.saves != 0 && out.accepted == out.saves;
	if (out.refused)
		printf("save: refused (%zu frames)\n", out.refused_frames);
	else
		printf("save: %s\n", all_accepted ? "accepted" : "failed");
	if (all_accepted)
		printf("restore: %s\n", out.restored == out.saves ? "ok" : "failed");
	printf("frames leaked: %zu\n", leaked);
	printf("type errors: %llu\n", (unsigned long long)type_errors);
	if (out.failed || (!out.refused && (!all_accepted || out.restored != out.saves)))
		return 1;
	return out.refused ? 3 : 0;
}
