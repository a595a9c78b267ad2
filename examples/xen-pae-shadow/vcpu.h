/*
 * vcpu.h -- the guest's virtual CPUs: threads bound to host CPUs with hwloc.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Each vCPU is a thread bound to one CPU of the process's allowed set,
 * round-robin, so that its cache traffic lands in that CPU's magazines.
 * Between commands every vCPU waits at a barrier: the driver holds the
 * whole guest still simply by not issuing one.
 */
#ifndef XPS_VCPU_H
#define XPS_VCPU_H

#include <stdbool.h>

struct vcpu_set;

struct vcpu {
	unsigned index;
	int      cpu;			/* host CPU it was bound to, or -1 */
	bool     bound;			/* binding succeeded */
	int      bind_error;		/* errno of a failed binding */
	int      seen_cpu;		/* sched_getcpu() right after binding */
	void    *user;			/* the driver's per-vCPU state */
	struct vcpu_set *set;
};

typedef void (*vcpu_fn)(struct vcpu *v, void *arg);

/*
 * vcpu_allowed_cpus: how many CPUs this process may run on (at least 1).
 * Any thread.
 */
unsigned vcpu_allowed_cpus(void);

/*
 * vcpu_start: n vCPU threads, each bound and waiting at the barrier;
 * user[i] becomes vcpu i's `user`.  NULL with errno.  Driver thread only.
 */
struct vcpu_set *vcpu_start(unsigned n, void **user);

/*
 * vcpu_run_all: every vCPU runs fn(v, arg) at once; returns when all have
 * finished and are back at the barrier.  vcpu_run_each: the same, one vCPU
 * at a time in index order.  Driver thread only.
 */
void vcpu_run_all(struct vcpu_set *vs, vcpu_fn fn, void *arg);
void vcpu_run_each(struct vcpu_set *vs, vcpu_fn fn, void *arg);

/* vcpu_get: vCPU i.  vcpu_count: how many.  Driver thread only. */
struct vcpu *vcpu_get(struct vcpu_set *vs, unsigned i);
unsigned vcpu_count(const struct vcpu_set *vs);

/* vcpu_stop: end every thread and free the set.  Driver thread only. */
void vcpu_stop(struct vcpu_set *vs);

#endif /* XPS_VCPU_H */
