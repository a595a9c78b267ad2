/*
 * suspend.h -- the guest's suspend/resume path around a save and restore.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef XPS_SUSPEND_H
#define XPS_SUSPEND_H

#include <stdbool.h>
#include <stddef.h>

#include "hv.h"
#include "pmap.h"
#include "vcpu.h"

/* How the shadow cache is cleaned before the save. */
enum clean_mode {
	CLEAN_NONE,	/* live pmaps only */
	CLEAN_LOCAL,	/* each vCPU: pcache_invalidate_local() */
	CLEAN_GLOBAL,	/* one pcache_invalidate() */
	CLEAN_SEED,	/* each vCPU local, then pcache_invalidate() */
};

struct suspend_result {
	bool   accepted;	/* the host took the save */
	size_t refused;		/* frames the refusal named */
	bool   restored;	/* running on the new host, recursive slots back */
	bool   failed;		/* anything else went wrong */
};

/*
 * suspend_cycle: with every vCPU stopped at the barrier, clear the live
 * pmaps' recursive slots, clean the shadow cache as `mode` says, and save.
 * Accepted: restore on a new host `dest` of nframes frames numbered in
 * `order`, switch the guest to it, destroy the old host, put the recursive
 * slots back.  Refused: name the offending frames and where each sat, then
 * resume on the old host.  Driver thread only.
 */
void suspend_cycle(struct guest *g, struct vcpu_set *vs, enum clean_mode mode,
    const char *dest, size_t nframes, enum hv_order order,
    struct suspend_result *res);

#endif /* XPS_SUSPEND_H */
