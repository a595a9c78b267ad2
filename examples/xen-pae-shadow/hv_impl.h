/*
 * hv_impl.h -- the simulated host's internals, shared by hv.c and hv_save.c.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef XPS_HV_IMPL_H
#define XPS_HV_IMPL_H

#include <pthread.h>

#include "hv.h"

#define HV_OWNER_FREE	(-1)

struct hv_frame {
	uint8_t  type;			/* enum hv_type */
	bool     pinned;
	uint32_t type_count;		/* pin + validated references */
	int      owner;			/* domid, or HV_OWNER_FREE */
	uint64_t pfn;			/* machine-to-physical */
};

struct hv {
	char     name[16];
	pthread_mutex_t lock;
	size_t   nframes;
	int      memfd;
	unsigned char *machine;		/* the host's own writable view of every frame */
	struct hv_frame *ft;		/* frame table, by mfn */
	uint64_t *p2m;			/* physical-to-machine, by guest pfn */
	struct hv_guest_space *gs;
	int      domid;
	enum hv_order order;
	size_t   in_use;
	bool     kernel_set;
	uint64_t kernel_mfn;
	unsigned kernel_first, kernel_count;
	struct hv_counters counters;
};

/* hv_frame_data: the host's view of machine frame mfn.  Caller holds lock. */
static inline hv_pte_t *hv_frame_data(struct hv *hv, uint64_t mfn)
{
	return (hv_pte_t *)(void *)(hv->machine + mfn * HV_FRAME_SIZE);
}

/*
 * hv_alloc_at_locked: back guest pfn with a fresh machine frame of this host
 * and map it writable in the guest.  Returns the mfn or HV_NO_FRAME.  Caller
 * holds the lock.
 */
uint64_t hv_alloc_at_locked(struct hv *hv, uint64_t pfn);

/*
 * hv_pin_locked: hv_pin() on machine frame mfn, from inside the host.
 * Caller holds the lock.  Refusals are counted and reported as by hv_pin().
 */
int hv_pin_locked(struct hv *hv, uint64_t mfn, enum hv_type type);

/* hv_is_linear: does L2 frame `table` map the L2 frame `e` points at?  Lock held. */
bool hv_is_linear(struct hv *hv, uint64_t table, hv_pte_t e);

#endif /* XPS_HV_IMPL_H */
