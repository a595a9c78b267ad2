/*
 * pmap.h -- the guest kernel's physical map layer, under PAE.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * A pmap (one address space) has four L2 pages, one per gigabyte, and an L2
 * shadow: its own copy of the kernel's L2 page, carrying the kernel entries
 * plus the recursive slots that map the pmap's page tables into its own
 * address space.  Both kinds of page come from libpcache caches whose slabs
 * are hypervisor frames, and are kept constructed (zeroed, filled, pinned)
 * while cached.
 *
 * Slot layout of a shadow page:
 *   [0, PDIR_SLOT_KERN)                       unused here
 *   [PDIR_SLOT_KERN, +PDIR_NKERN_MAX)         kernel entries, copied from the kernel L2
 *   PDIR_SLOT_SELF                            the shadow mapping itself (written by the ctor)
 *   [PDIR_SLOT_ALT, +PMAP_NPD)                the pmap's four L2 pages (written by pmap_create)
 */
#ifndef XPS_PMAP_H
#define XPS_PMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pcache.h>

#include "hv.h"

#define PMAP_NPD		4
#define PDIR_SLOT_KERN		384
#define PDIR_NKERN_MAX		120
#define PDIR_SLOT_SELF		504
#define PDIR_SLOT_ALT		508

/* Which call destructed a shadow page (the current drain label). */
#define DRAIN_OTHER		(-1)	/* growkernel, teardown: not a locating drain */
#define DRAIN_DEPOT		(-2)	/* pcache_invalidate after every CPU was drained */
#define DRAIN_GLOBAL		(-3)	/* pcache_invalidate, CPUs not drained first */

struct guest;
struct pmap;

/* Guest-side counters (ctor/dtor callbacks and page-table updates). */
struct guest_counters {
	uint64_t pdp_ctor, pdp_dtor, shadow_ctor, shadow_dtor;
	uint64_t ctor_failed;		/* a pin refused inside a ctor */
	uint64_t pmaps_created, pmaps_destroyed;
	uint64_t activate_failed;
	uint64_t update_failed;		/* any other hypercall refused */
};

/*
 * guest_boot: bring up the guest kernel on host hv in guest space gs: the
 * kernel L2 with nkernel L1 pages, and the two page-directory caches.  NULL
 * with errno on failure.  Single-threaded.
 */
struct guest *guest_boot(struct hv *hv, struct hv_guest_space *gs, unsigned nkernel);

/*
 * guest_shutdown: destroy both caches and give the kernel's tables back.
 * Every pmap must be gone.  0, or an errno value (EBUSY: objects still out;
 * EPROTO: constructor and destructor calls do not balance).  The guest is
 * freed either way.  Single-threaded.
 */
int guest_shutdown(struct guest *g);

/* guest_set_host: the guest now runs on hv (after a restore).  vCPUs stopped. */
void guest_set_host(struct guest *g, struct hv *hv);
struct hv *guest_host(const struct guest *g);
struct hv_guest_space *guest_space(const struct guest *g);

pcache_t *guest_pdp_cache(const struct guest *g);
pcache_t *guest_shadow_cache(const struct guest *g);
unsigned  guest_nkernel(struct guest *g);
size_t    guest_npmaps(struct guest *g);
void      guest_counters(struct guest *g, struct guest_counters *c);

/*
 * pmap_create: a new address space, linked on the guest's list, recursive
 * slots in place.  NULL with errno.  Any thread.
 * pmap_destroy: unlink it and put its pages back in the caches.  Any
 * thread.
 * pmap_activate: switch "this vCPU" onto pm; the hypervisor checks that its
 * kernel half is current.  0 or a refusal.
 */
struct pmap *pmap_create(struct guest *g);
void pmap_destroy(struct pmap *pm);
int  pmap_activate(struct pmap *pm);

/* Report of one growkernel. */
struct growkernel_report {
	unsigned before, after;		/* kernel L1 pages */
	size_t   pmaps;			/* live pmaps updated */
	size_t   updates;		/* shadow entries written */
	uint64_t destructed;		/* shadow pages the invalidation destructed */
};

/*
 * pmap_growkernel: add `add` L1 pages to the kernel, update every live pmap,
 * and (if invalidate) pcache_invalidate() the shadow cache so that no later
 * pmap gets a shadow built from the old kernel entries.  Must run while no
 * vCPU creates pmaps.  0 or errno.
 */
int pmap_growkernel(struct guest *g, unsigned add, bool invalidate,
    struct growkernel_report *rep);

/*
 * pmap_unmap_recursive / pmap_map_recursive: clear or restore the self and
 * alternative slots of every live pmap (the suspend and resume halves).
 * Return the entries written.  vCPUs stopped.
 */
size_t pmap_unmap_recursive(struct guest *g);
size_t pmap_map_recursive(struct guest *g);

/*
 * Locating where cached shadow pages sit.  guest_set_drain_label() names the
 * next drain (a CPU number, DRAIN_DEPOT or DRAIN_GLOBAL); every shadow page
 * destructed until the label changes is recorded under it.  One drain at a
 * time; vCPUs stopped.  guest_drained_by() tells a pfn's last label.
 */
void guest_set_drain_label(struct guest *g, int label);
int  guest_drained_by(struct guest *g, uint64_t pfn);

/* guest_forget_drains: reset every pfn's label to DRAIN_OTHER.  vCPUs stopped. */
void guest_forget_drains(struct guest *g);


#endif /* XPS_PMAP_H */
