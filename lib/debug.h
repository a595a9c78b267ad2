/*
 * debug.h -- abort messages, checked mode and fault injection (a leaf: it
 * calls nothing else in the library; callers pass it what it needs, such
 * as the slab an object lies in).
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#ifndef PC_DEBUG_H
#define PC_DEBUG_H

#include "core.h"

PC_NORETURN void pc_panic(const pcache_t *pc, const void *obj,
    const char *fmt, ...) PC_PRINTF(3, 4);
bool		 pc_env_debug(void);

/* Checked mode (PCACHE_DEBUG); `sl` is the slab that holds `obj`. */
int		 pc_dbg_init(pcache_t *pc);
void		 pc_dbg_fini(pcache_t *pc);
void		 pc_dbg_lock(pcache_t *pc);
void		 pc_dbg_unlock(pcache_t *pc);
void		 pc_dbg_leave_slab(pcache_t *pc, const struct pc_slab *sl, void *obj);
void		 pc_dbg_enter_slab(pcache_t *pc, const struct pc_slab *sl, void *obj);
void		 pc_dbg_get(pcache_t *pc, const struct pc_slab *sl, void *obj);
void		 pc_dbg_put(pcache_t *pc, const struct pc_slab *sl, void *obj);
void		 pc_dbg_destroy(pcache_t *pc, const struct pc_slab *sl, void *obj);
void		 pc_dbg_put_rcu(pcache_t *pc, const struct pc_slab *sl, void *obj);
void		 pc_dbg_land(pcache_t *pc, const struct pc_slab *sl, void *obj);

/* The quarantine: rings of put objects per CPU slot, under drain_lock. */
bool		 pc_dbg_quarantines(const pcache_t *pc);
void		*pc_dbg_quarantine(pcache_t *pc, unsigned ring,
		    const struct pc_slab *sl, void *obj);
size_t		 pc_dbg_unquarantine(pcache_t *pc, int ring, void **buf,
		    size_t max);
uint64_t	 pc_dbg_quarantined(const pcache_t *pc, int ring);

/*
 * Fault injection, compiled into the test-only build of the library
 * (PCACHE_FAULT_INJECTION): pc_fault() is true for the allocation that
 * pc_fault_arm() chose.  In every other build it is the constant false.
 */
enum pc_fault_site { PC_FAULT_SLAB, PC_FAULT_HEADER, PC_FAULT_MAGAZINE };
#ifdef PCACHE_FAULT_INJECTION
bool		 pc_fault(enum pc_fault_site site);
void		 pc_fault_arm(long nth);
long		 pc_fault_calls(void);
#else
#define pc_fault(site)	false
#endif

#endif /* PC_DEBUG_H */
