/*
 * hv.h -- a simulated paravirtualising hypervisor that types page-table frames.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * A host owns a set of 4 KiB machine frames and runs one guest domain.  The
 * guest sees its memory through a fixed range of virtual addresses, one page
 * per pseudo-physical frame number (pfn); the host decides which machine
 * frame (mfn) backs each pfn.  Page-table entries hold machine frame numbers,
 * so a table only makes sense on the host that validated it.
 *
 * Every frame has a type.  A frame becomes a page table (L1 or L2) only
 * through a pin hypercall that checks every entry, and a pinned table can
 * only be changed through hv_update_entry(); the guest's own mapping of a
 * pinned frame is read-only, so a stray store faults.  An L2 entry may map
 * an L1 frame, or an L2 frame of the same guest (a linear, "recursive"
 * mapping); such L2-to-L2 mappings are what a save refuses.
 *
 * All calls on one host are serialised by the host's lock and may be made
 * from any thread.
 */
#ifndef XPS_HV_H
#define XPS_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HV_FRAME_SIZE	4096u
#define HV_PT_ENTRIES	512u		/* 8-byte PAE entries per table */
#define HV_NO_FRAME	UINT64_MAX

typedef uint64_t hv_pte_t;

#define HV_PTE_PRESENT	0x1ull
#define HV_PTE_WRITE	0x2ull
#define HV_PTE_FRAME_SHIFT 12
#define HV_PTE_FLAGS_MASK 0xfffull

/* hv_pte: an entry mapping frame number `frame` with `flags`.  Pure. */
static inline hv_pte_t hv_pte(uint64_t frame, uint64_t flags)
{
	return (frame << HV_PTE_FRAME_SHIFT) | (flags & HV_PTE_FLAGS_MASK);
}

/* hv_pte_frame: the frame number an entry maps.  Pure. */
static inline uint64_t hv_pte_frame(hv_pte_t e)
{
	return e >> HV_PTE_FRAME_SHIFT;
}

enum hv_type {
	HV_TYPE_NONE,		/* free: no domain owns it */
	HV_TYPE_WRITABLE,	/* ordinary guest memory */
	HV_TYPE_L1,
	HV_TYPE_L2,
	HV_TYPE_L3,		/* known to the frame table; this guest never pins one */
	HV_NTYPES
};

/*
 * The guest's pseudo-physical address space: a fixed virtual range that
 * outlives any one host, so that pointers the guest keeps stay valid when it
 * is restored on another host.  `host` is the host currently backing it.
 */
struct hv;
struct hv_guest_space {
	unsigned char *base;
	size_t nframes;
	struct hv *host;
};

/* Hypercall statistics and refusal counts of one host. */
struct hv_counters {
	uint64_t allocs, releases;
	uint64_t pins, unpins, updates, activations;
	uint64_t refused;		/* every refused hypercall */
	uint64_t refused_type;		/* of which: a frame of the wrong type or count */
	uint64_t refused_stale;		/* of which: kernel slots differing from the kernel's */
};

/* A picture of the frame table, for printing. */
struct hv_census {
	size_t nframes;
	size_t in_use;			/* frames owned by the guest */
	size_t by_type[HV_NTYPES];
	size_t pinned;
	size_t l2_recursive;		/* L2 frames holding an L2-to-L2 entry */
	size_t recursive_entries;	/* such entries, in all */
	struct hv_counters counters;
};

/* What must be true once a guest has given everything back. */
struct hv_audit {
	size_t owned;			/* frames still owned: leaked */
	size_t wrong;			/* frames still typed, pinned or type-counted */
};

/* Order in which a host hands out machine frames (so hosts number differently). */
enum hv_order { HV_ORDER_DESCENDING, HV_ORDER_ASCENDING };

/*
 * hv_guest_space_init: reserve an inaccessible range of nframes pages for a
 * guest.  0 or an errno value.  hv_guest_space_fini: release it; no host may
 * still back it.
 */
int  hv_guest_space_init(struct hv_guest_space *gs, size_t nframes);
void hv_guest_space_fini(struct hv_guest_space *gs);

/*
 * hv_create: a host named `name` with nframes machine frames, running domain
 * `domid` in `gs` (which it starts backing).  NULL with errno on failure.
 * hv_destroy: drop the host and its frames; if it still backs the guest
 * space, the guest's pages become inaccessible.  Not concurrent with calls
 * on the same host.
 */
struct hv *hv_create(const char *name, size_t nframes, struct hv_guest_space *gs,
    int domid, enum hv_order order);
void hv_destroy(struct hv *hv);

/*
 * hv_reattach: make hv back the guest space again, every pfn mapped as it
 * was, after a restore elsewhere failed and took the space over.  0 or
 * errno.  Not concurrent with any other call on either host.
 */
int hv_reattach(struct hv *hv);

const char *hv_name(const struct hv *hv);
int  hv_domid(const struct hv *hv);
const char *hv_type_name(enum hv_type t);

/*
 * Frame hypercalls.  hv_frame_alloc: give the guest a zeroed, writable frame
 * and return its guest address, or NULL with errno ENOMEM.  hv_frame_release:
 * take back an untyped frame; a typed or pinned one is refused (EBUSY) and
 * stays with the guest.
 */
void *hv_frame_alloc(struct hv *hv);
int   hv_frame_release(struct hv *hv, void *va);

/*
 * hv_pin: validate the frame at `va` as a table of `type` (HV_TYPE_L1 or
 * HV_TYPE_L2), take a reference on every frame it maps, map it read-only in
 * the guest.  If a kernel L2 is registered, an L2 with any kernel slot set
 * must carry exactly the kernel's slots.  0, or EINVAL/EPERM/EBUSY refusals.
 * hv_unpin: drop the pin; the frame returns to writable once nothing maps it.
 */
int hv_pin(struct hv *hv, void *va, enum hv_type type);
int hv_unpin(struct hv *hv, void *va);

/*
 * hv_update_entry: set entry `idx` of the pinned table at `table` to `e`,
 * validating it as hv_pin() would.  0 or a refusal as hv_pin().
 */
int hv_update_entry(struct hv *hv, void *table, unsigned idx, hv_pte_t e);

/*
 * hv_set_kernel_l2: register the guest's kernel L2 and the slot range that
 * every other L2 carrying kernel entries must copy.  0 or EINVAL.
 */
int hv_set_kernel_l2(struct hv *hv, void *kl2, unsigned first, unsigned count);

/*
 * hv_activate: the guest switches a vCPU onto the page directory whose
 * kernel half is the L2 at `l2`; refused (ESTALE) when its kernel slots
 * differ from the kernel L2's.  0 or a refusal.
 */
int hv_activate(struct hv *hv, void *l2);

/* hv_mfn / hv_pfn: the machine / pseudo-physical number of a guest page. */
uint64_t hv_mfn(struct hv *hv, const void *va);
uint64_t hv_pfn(const struct hv_guest_space *gs, const void *va);

/* Host-side views, taken under the host lock. */
void hv_census(struct hv *hv, struct hv_census *c);
void hv_audit(struct hv *hv, struct hv_audit *a);

/* ---- save and restore (hv_save.c) ---- */

struct hv_snapshot;

struct hv_offender {
	uint64_t mfn, pfn;
	unsigned entries;		/* L2-to-L2 entries it holds */
};

struct hv_save_report {
	size_t frames;			/* frames in the image */
	size_t tables;			/* page-table frames among them */
	size_t entries;			/* entries canonicalised mfn -> pfn */
	size_t noffenders;		/* nonzero: the save was refused */
	struct hv_offender *offenders;	/* malloc'd, sorted by mfn; caller frees */
};

struct hv_restore_report {
	size_t frames;
	size_t renumbered;		/* frames whose machine number changed */
	size_t tables;			/* page-table frames pinned and validated again */
	size_t entries;			/* entries translated pfn -> mfn */
};

/*
 * hv_save: walk the frame table of a quiescent guest.  If any L2 frame holds
 * an L2-to-L2 mapping, or a table is typed but not pinned, refuse: return
 * EBUSY with the offending frames in rep.  Otherwise store an image with
 * machine numbers replaced by pfns in *snap and return 0.
 */
int hv_save(struct hv *hv, struct hv_snapshot **snap, struct hv_save_report *rep);

/*
 * hv_restore: build a new host (as hv_create) and load the image into frames
 * it numbers itself, translating entries and pinning every table again in
 * an order that lets each validate.  NULL with errno on failure.
 */
struct hv *hv_restore(const struct hv_snapshot *snap, const char *name,
    size_t nframes, struct hv_guest_space *gs, int domid, enum hv_order order,
    struct hv_restore_report *rep);

void hv_snapshot_free(struct hv_snapshot *snap);

#endif /* XPS_HV_H */
