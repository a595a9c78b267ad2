/*
 * hardlimit.h -- the hard-limit wait/wake protocol (a leaf: it calls
 * nothing else in the library, and any layer may call it).
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * A get that finds the cache at its hard limit registers as a waiter
 * (pc_hl_register()), reads the wake-up count (pc_hl_seq()), looks for an
 * object everywhere one may sit, and sleeps (pc_hl_sleep()) only if the
 * count has not moved.  Every place an object can be put (a CPU slot, the
 * depot, the slab layer) checks pc_hl_waiting() while it still holds the
 * lock that guards the place, and calls pc_hl_wake() after dropping it.
 *
 * Why no wake-up is lost: the waiter's increment of `waiters` is
 * sequentially consistent and precedes its look, and its look takes the
 * same lock as the put.  If the put's critical section comes first, the
 * look sees the object; otherwise the increment happens before the
 * putter's read of `waiters` under that lock, so the putter wakes.  On the
 * rseq layer a put reads `waiters` just after its commit, with no lock;
 * there a waiter's look at a CPU diverts its array and restarts its
 * sections with membarrier() first, which makes the commit visible to the
 * look, so again one side sees the other.  This is the only place the
 * argument is made; the call sites refer here.
 *
 * Sleepers must not wake one another.  A bulk sleeper that finds fewer
 * objects than it needs gives them back; if that woke the other sleepers,
 * they would do the same and keep each other busy for ever.  So every look
 * that may end in a sleep runs under `fill_lock`, one at a time, and a
 * sleeper gives back what its own look took between pc_hl_quiet_begin()
 * and pc_hl_quiet_end(), during which its thread wakes nobody: no other
 * sleeper looked while those objects were out, so their return is no news.
 */
#ifndef PC_HARDLIMIT_H
#define PC_HARDLIMIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * `waiters` is read by every put and written only by gets at the hard
 * limit, so it has a cache line to itself (64 bytes, the line size the
 * library assumes everywhere): nothing else written on the way through a
 * put shares it.
 */
struct pc_hl {
	_Alignas(64) atomic_uint waiters; /* registered waiters */
	char		 waiters_line[64 - sizeof(atomic_uint)];
	pthread_mutex_t	 lock;		/* guards seq and the condition */
	pthread_cond_t	 cv;
	uint64_t	 seq;		/* bumped by every wake-up, under lock */
	pthread_mutex_t	 fill_lock;	/* one look-that-may-sleep at a time */
	char		 warn[128];	/* printed when a get meets the limit; under lock */
	unsigned	 warn_ms;	/* at most once per this many ms; under lock */
	atomic_uint_fast64_t warn_last;	/* ms of the last one printed, or 0 */
};

int		 pc_hl_init(struct pc_hl *hl);
void		 pc_hl_fini(struct pc_hl *hl);
void		 pc_hl_wake(struct pc_hl *hl);
void		 pc_hl_register(struct pc_hl *hl);
void		 pc_hl_unregister(struct pc_hl *hl);
uint64_t	 pc_hl_seq(struct pc_hl *hl);
void		 pc_hl_sleep(struct pc_hl *hl, uint64_t seq);
void		 pc_hl_look_begin(struct pc_hl *hl);
void		 pc_hl_look_end(struct pc_hl *hl);
void		 pc_hl_quiet_begin(void);
void		 pc_hl_quiet_end(void);
void		 pc_hl_lock(struct pc_hl *hl);
void		 pc_hl_unlock(struct pc_hl *hl);
void		 pc_hl_fork_child(struct pc_hl *hl);
void		 pc_hl_set_warning(struct pc_hl *hl, const char *msg, unsigned ms);
void		 pc_hl_warn(struct pc_hl *hl, const char *name);

/*
 * pc_hl_waiting: whether a put that just placed an object may have a
 * waiter to wake.  Called under the lock of the place the object went
 * (or right after an rseq commit); the caller calls pc_hl_wake() after
 * dropping that lock when it returns true.
 */
static inline bool
pc_hl_waiting(struct pc_hl *hl)
{
	/* Relaxed: ordered by the place's lock (or membarrier); see above. */
	return atomic_load_explicit(&hl->waiters, memory_order_relaxed) != 0;
}

#endif /* PC_HARDLIMIT_H */
