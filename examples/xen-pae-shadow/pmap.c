/*
 * pmap.c -- the guest's pmaps, their page-directory caches, growkernel.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The guest may never write a pinned table itself: every change after the
 * constructor has pinned a page goes through hv_update_entry().  The
 * constructors are where the caching pays off: zeroing a page, copying the
 * kernel entries and having the hypervisor validate it happen once per
 * construction, not once per fork.  The price is that a cached shadow page
 * keeps its self-mapping, and with it its L2 type, until it is destructed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmap.h"

struct pmap {
	struct guest *g;
	void     *pd[PMAP_NPD];
	hv_pte_t *shadow;
	bool      recursive;		/* self and alternative slots in place */
	struct pmap *prev, *next;
};

struct guest {
	struct hv *hv;			/* replaced on restore, vCPUs stopped */
	struct hv_guest_space *gs;
	pcache_t *pdp_cache, *shadow_cache;
	struct pcache_allocator frames;
	hv_pte_t *kl2;
	void     *kl1[PDIR_NKERN_MAX];
	unsigned  nkernel;
	pthread_mutex_t pmaps_lock;	/* the pmap list and the kernel entries */
	struct pmap pmaps;		/* list head */
	size_t    npmaps;
	_Atomic int *drained;		/* by pfn: label of the drain that destructed it */
	_Atomic int drain_label;
	_Atomic uint64_t pdp_ctor, pdp_dtor, shadow_ctor, shadow_dtor, ctor_failed;
	_Atomic uint64_t created, destroyed, activate_failed, update_failed;
};

#define PTE_KERN	(HV_PTE_PRESENT | HV_PTE_WRITE)

/* bump: relaxed increment of a statistics counter.  Any thread. */
static void bump(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* page_pfn: the pfn of one of the guest's pages.  Pure. */
static uint64_t page_pfn(const struct guest *g, const void *page)
{
	return hv_pfn(g->gs, page);
}

/* update: hv_update_entry(), counting a refusal.  Any thread. */
static void update(struct guest *g, void *table, unsigned idx, hv_pte_t e)
{
	if (hv_update_entry(g->hv, table, idx, e) != 0)
		bump(&g->update_failed);
}

/* self_pte: an entry mapping the page at va.  Any thread. */
static hv_pte_t self_pte(struct guest *g, const void *va)
{
	return hv_pte(hv_mfn(g->hv, va), PTE_KERN);
}

/* frame_alloc: pcache backing allocator; one hypervisor frame per slab. */
static void *frame_alloc(void *ctx, size_t size, int flags)
{
	struct guest *g = ctx;
	(void)flags;
	if (size != HV_FRAME_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	return hv_frame_alloc(g->hv);
}

/* frame_free: give a slab back; the hypervisor refuses it if still typed. */
static void frame_free(void *ctx, void *mem, size_t size)
{
	struct guest *g = ctx;
	(void)size;
	hv_frame_release(g->hv, mem);
}

/* pdp_ctor: an empty L2 page, pinned.  Any thread, no locks held. */
static int pdp_ctor(void *arg, void *obj, int flags)
{
	struct guest *g = arg;
	(void)flags;
	memset(obj, 0, HV_FRAME_SIZE);
	int err = hv_pin(g->hv, obj, HV_TYPE_L2);
	if (err != 0) {
		bump(&g->ctor_failed);
		return err;
	}
	bump(&g->pdp_ctor);
	return 0;
}

/* pdp_dtor: unpin, so the frame is ordinary memory again.  Any thread. */
static void pdp_dtor(void *arg, void *obj)
{
	struct guest *g = arg;
	hv_unpin(g->hv, obj);
	bump(&g->pdp_dtor);
}

/*
 * shadow_ctor: copy the kernel entries, map the page into itself, pin it.
 * The copy and the pin happen under pmaps_lock so that growkernel cannot
 * slip between them.  Any thread.
 */
static int shadow_ctor(void *arg, void *obj, int flags)
{
	struct guest *g = arg;
	hv_pte_t *pt = obj;
	(void)flags;
	memset(pt, 0, HV_FRAME_SIZE);
	hv_pte_t self = self_pte(g, obj);
	pthread_mutex_lock(&g->pmaps_lock);
	memcpy(pt + PDIR_SLOT_KERN, g->kl2 + PDIR_SLOT_KERN,
	    PDIR_NKERN_MAX * sizeof(*pt));
	pt[PDIR_SLOT_SELF] = self;
	int err = hv_pin(g->hv, obj, HV_TYPE_L2);
	pthread_mutex_unlock(&g->pmaps_lock);
	if (err != 0) {
		bump(&g->ctor_failed);
		return err;
	}
	bump(&g->shadow_ctor);
	return 0;
}

/* shadow_dtor: unpin, and note which drain destructed the page.  Any thread. */
static void shadow_dtor(void *arg, void *obj)
{
	struct guest *g = arg;
	uint64_t pfn = page_pfn(g, obj);
	hv_unpin(g->hv, obj);
	atomic_store(&g->drained[pfn], atomic_load(&g->drain_label));
	bump(&g->shadow_dtor);
}

/* make_cache: a cache of constructed page-table pages.  NULL with errno. */
static pcache_t *make_cache(struct guest *g, const char *name,
    pcache_ctor_fn ctor, pcache_dtor_fn dtor)
{
	struct pcache_config cfg = {
		.size = HV_FRAME_SIZE, .align = HV_FRAME_SIZE,
		.ctor = ctor, .dtor = dtor, .arg = g, .allocator = &g->frames,
	};
	return pcache_create(name, &cfg);
}

/*
 * kernel_l1_new: a fresh frame pinned as a kernel L1 page in *l1.  0,
 * ENOMEM (no frame) or EPERM (the hypervisor refused the pin; the frame
 * is released).
 */
static int kernel_l1_new(struct guest *g, void **l1)
{
	if ((*l1 = hv_frame_alloc(g->hv)) == NULL)
		return ENOMEM;
	if (hv_pin(g->hv, *l1, HV_TYPE_L1) != 0) {
		hv_frame_release(g->hv, *l1);
		return EPERM;
	}
	return 0;
}

/*
 * boot_kernel_tables: the kernel L2 with nkernel pinned L1 pages, pinned
 * and registered with the hypervisor.  0 or errno.  Single-threaded.
 */
static int boot_kernel_tables(struct guest *g, unsigned nkernel)
{
	g->kl2 = hv_frame_alloc(g->hv);
	if (g->kl2 == NULL)
		return ENOMEM;
	while (g->nkernel < nkernel && g->nkernel < PDIR_NKERN_MAX) {
		void *l1;
		int err = kernel_l1_new(g, &l1);
		if (err != 0)
			return err;
		g->kl2[PDIR_SLOT_KERN + g->nkernel] = self_pte(g, l1);
		g->kl1[g->nkernel++] = l1;
	}
	if (hv_pin(g->hv, g->kl2, HV_TYPE_L2) != 0)
		return EPERM;
	return hv_set_kernel_l2(g->hv, g->kl2, PDIR_SLOT_KERN, PDIR_NKERN_MAX);
}

/* guest_boot: see pmap.h. */
struct guest *guest_boot(struct hv *hv, struct hv_guest_space *gs, unsigned nkernel)
{
	struct guest *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->hv = hv;
	g->gs = gs;
	g->frames = (struct pcache_allocator){ frame_alloc, frame_free, HV_FRAME_SIZE, g };
	g->pmaps.prev = g->pmaps.next = &g->pmaps;
	pthread_mutex_init(&g->pmaps_lock, NULL);
	g->drained = malloc(gs->nframes * sizeof(*g->drained));
	if (g->drained == NULL) {
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < gs->nframes; i++) {
		atomic_init(&g->drained[i], DRAIN_OTHER);
	}
	atomic_init(&g->drain_label, DRAIN_OTHER);
	int err = boot_kernel_tables(g, nkernel);
	if (err == 0) {
		g->pdp_cache = make_cache(g, "pmap_pdp", pdp_ctor, pdp_dtor);
		g->shadow_cache = make_cache(g, "pmap_l2shadow", shadow_ctor, shadow_dtor);
		if (g->pdp_cache == NULL || g->shadow_cache == NULL)
			err = errno;
	}
	if (err != 0) {
		guest_shutdown(g);
		errno = err;
		return NULL;
	}
	return g;
}

/* release_table: unpin and give back a kernel table.  Single-threaded. */
static void release_table(struct guest *g, void *page)
{
	if (page == NULL)
		return;
	hv_unpin(g->hv, page);
	hv_frame_release(g->hv, page);
}

/*
 * guest_shutdown: see pmap.h.  Once both caches are destroyed every
 * constructed page must have been destructed (else EPROTO).  The kernel L2
 * goes before the L1s it maps.
 */
int guest_shutdown(struct guest *g)
{
	int err = g->npmaps != 0 ? EBUSY : 0;
	int e1 = pcache_destroy(g->shadow_cache);
	int e2 = pcache_destroy(g->pdp_cache);
	bool balanced = atomic_load(&g->shadow_ctor) == atomic_load(&g->shadow_dtor) &&
	    atomic_load(&g->pdp_ctor) == atomic_load(&g->pdp_dtor);
	if (err == 0)
		err = e1 != 0 ? e1 : e2 != 0 ? e2 : !balanced ? EPROTO : 0;
	if (g->kl2 != NULL) {
		release_table(g, g->kl2);
		for (unsigned i = 0; i < g->nkernel; i++)
			release_table(g, g->kl1[i]);
	}
	pthread_mutex_destroy(&g->pmaps_lock);
	free(g->drained);
	free(g);
	return err;
}

/* guest_set_host: see pmap.h.  Only while every vCPU is stopped. */
void guest_set_host(struct guest *g, struct hv *hv)
{
	g->hv = hv;
}

/* guest_host: the host the guest runs on now.  Any thread. */
struct hv *guest_host(const struct guest *g)
{
	return g->hv;
}

/* guest_space: the guest's pseudo-physical space.  Immutable; any thread. */
struct hv_guest_space *guest_space(const struct guest *g)
{
	return g->gs;
}

/* guest_pdp_cache: the cache of page-directory pages.  Immutable; any thread. */
pcache_t *guest_pdp_cache(const struct guest *g)
{
	return g->pdp_cache;
}

/* guest_shadow_cache: the cache of L2 shadow pages.  Immutable; any thread. */
pcache_t *guest_shadow_cache(const struct guest *g)
{
	return g->shadow_cache;
}

/* guest_nkernel: kernel L1 pages now.  Takes pmaps_lock. */
unsigned guest_nkernel(struct guest *g)
{
	pthread_mutex_lock(&g->pmaps_lock);
	unsigned n = g->nkernel;
	pthread_mutex_unlock(&g->pmaps_lock);
	return n;
}

/* guest_npmaps: live pmaps now.  Takes pmaps_lock. */
size_t guest_npmaps(struct guest *g)
{
	pthread_mutex_lock(&g->pmaps_lock);
	size_t n = g->npmaps;
	pthread_mutex_unlock(&g->pmaps_lock);
	return n;
}

/* guest_counters: a snapshot of the guest's counters.  Any thread. */
void guest_counters(struct guest *g, struct guest_counters *c)
{
	c->pdp_ctor = atomic_load(&g->pdp_ctor);
	c->pdp_dtor = atomic_load(&g->pdp_dtor);
	c->shadow_ctor = atomic_load(&g->shadow_ctor);
	c->shadow_dtor = atomic_load(&g->shadow_dtor);
	c->ctor_failed = atomic_load(&g->ctor_failed);
	c->pmaps_created = atomic_load(&g->created);
	c->pmaps_destroyed = atomic_load(&g->destroyed);
	c->activate_failed = atomic_load(&g->activate_failed);
	c->update_failed = atomic_load(&g->update_failed);
}

/* map_alternates: point the shadow's alternative slots at pm's L2 pages.  pmaps_lock held. */
static void map_alternates(struct pmap *pm)
{
	for (unsigned i = 0; i < PMAP_NPD; i++)
		update(pm->g, pm->shadow, PDIR_SLOT_ALT + i, self_pte(pm->g, pm->pd[i]));
}

/* unmap_alternates: clear them, so the L2 pages can leave the pmap.  pmaps_lock held. */
static void unmap_alternates(struct pmap *pm)
{
	for (unsigned i = 0; i < PMAP_NPD; i++)
		update(pm->g, pm->shadow, PDIR_SLOT_ALT + i, 0);
}

/* pmap_create: see pmap.h. */
struct pmap *pmap_create(struct guest *g)
{
	struct pmap *pm = calloc(1, sizeof(*pm));
	if (pm == NULL)
		return NULL;
	pm->g = g;
	if (pcache_get_bulk(g->pdp_cache, pm->pd, PMAP_NPD, PCACHE_WAITOK) != 0) {
		free(pm);
		return NULL;
	}
	pm->shadow = pcache_get(g->shadow_cache, PCACHE_WAITOK);
	if (pm->shadow == NULL) {
		int err = errno;
		pcache_put_bulk(g->pdp_cache, pm->pd, PMAP_NPD);
		free(pm);
		errno = err;
		return NULL;
	}
	pthread_mutex_lock(&g->pmaps_lock);
	pm->next = g->pmaps.next;
	pm->prev = &g->pmaps;
	pm->next->prev = pm;
	g->pmaps.next = pm;
	g->npmaps++;
	map_alternates(pm);
	pm->recursive = true;
	pthread_mutex_unlock(&g->pmaps_lock);
	bump(&g->created);
	return pm;
}

/*
 * pmap_destroy: see pmap.h.  The self slot stays: it is part of the
 * constructed state the cache keeps, which is exactly what makes cached
 * shadow pages a problem for a save.
 */
void pmap_destroy(struct pmap *pm)
{
	struct guest *g = pm->g;
	pthread_mutex_lock(&g->pmaps_lock);
	pm->prev->next = pm->next;
	pm->next->prev = pm->prev;
	g->npmaps--;
	unmap_alternates(pm);
	if (!pm->recursive)
		update(g, pm->shadow, PDIR_SLOT_SELF, self_pte(g, pm->shadow));
	pthread_mutex_unlock(&g->pmaps_lock);
	pcache_put(g->shadow_cache, pm->shadow);
	pcache_put_bulk(g->pdp_cache, pm->pd, PMAP_NPD);
	free(pm);
	bump(&g->destroyed);
}

/* pmap_activate: see pmap.h. */
int pmap_activate(struct pmap *pm)
{
	int err = hv_activate(pm->g->hv, pm->shadow);
	if (err != 0)
		bump(&pm->g->activate_failed);
	return err;
}

/*
 * grow_one: one more kernel L1 page, entered in the kernel L2 and in every
 * live shadow.  pmaps_lock held.
 */
static int grow_one(struct guest *g, struct growkernel_report *rep)
{
	if (g->nkernel == PDIR_NKERN_MAX)
		return ENOSPC;
	void *l1;
	int err = kernel_l1_new(g, &l1);
	if (err != 0)
		return err;
	unsigned slot = PDIR_SLOT_KERN + g->nkernel;
	hv_pte_t e = self_pte(g, l1);
	g->kl1[g->nkernel++] = l1;
	update(g, g->kl2, slot, e);
	for (struct pmap *pm = g->pmaps.next; pm != &g->pmaps; pm = pm->next) {
		update(g, pm->shadow, slot, e);
		rep->updates++;
	}
	return 0;
}

/* pmap_growkernel: see pmap.h. */
int pmap_growkernel(struct guest *g, unsigned add, bool invalidate,
    struct growkernel_report *rep)
{
	int err = 0;
	memset(rep, 0, sizeof(*rep));
	pthread_mutex_lock(&g->pmaps_lock);
	rep->before = g->nkernel;
	for (unsigned i = 0; i < add && err == 0; i++)
		err = grow_one(g, rep);
	rep->after = g->nkernel;
	rep->pmaps = g->npmaps;
	pthread_mutex_unlock(&g->pmaps_lock);
	if (invalidate) {
		uint64_t before = atomic_load(&g->shadow_dtor);
		pcache_invalidate(g->shadow_cache);
		rep->destructed = atomic_load(&g->shadow_dtor) - before;
	}
	return err;
}

/* pmap_unmap_recursive: see pmap.h.  Takes pmaps_lock. */
size_t pmap_unmap_recursive(struct guest *g)
{
	size_t n = 0;
	pthread_mutex_lock(&g->pmaps_lock);
	for (struct pmap *pm = g->pmaps.next; pm != &g->pmaps; pm = pm->next) {
		if (!pm->recursive)
			continue;
		unmap_alternates(pm);
		update(g, pm->shadow, PDIR_SLOT_SELF, 0);
		pm->recursive = false;
		n += PMAP_NPD + 1;
	}
	pthread_mutex_unlock(&g->pmaps_lock);
	return n;
}

/* pmap_map_recursive: see pmap.h.  Machine numbers are looked up afresh. */
size_t pmap_map_recursive(struct guest *g)
{
	size_t n = 0;
	pthread_mutex_lock(&g->pmaps_lock);
	for (struct pmap *pm = g->pmaps.next; pm != &g->pmaps; pm = pm->next) {
		if (pm->recursive)
			continue;
		update(g, pm->shadow, PDIR_SLOT_SELF, self_pte(g, pm->shadow));
		map_alternates(pm);
		pm->recursive = true;
		n += PMAP_NPD + 1;
	}
	pthread_mutex_unlock(&g->pmaps_lock);
	return n;
}

/* guest_set_drain_label: see pmap.h. */
void guest_set_drain_label(struct guest *g, int label)
{
	atomic_store(&g->drain_label, label);
}

/* guest_drained_by: see pmap.h. */
int guest_drained_by(struct guest *g, uint64_t pfn)
{
	return pfn < g->gs->nframes ? atomic_load(&g->drained[pfn]) : DRAIN_OTHER;
}

/* guest_forget_drains: see pmap.h. */
void guest_forget_drains(struct guest *g)
{
	for (size_t pfn = 0; pfn < g->gs->nframes; pfn++)
		atomic_store(&g->drained[pfn], DRAIN_OTHER);
}

