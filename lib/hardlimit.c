/*
 * hardlimit.c -- sleeping at the hard limit and waking the sleepers; the
 * protocol and its correctness argument are in hardlimit.h.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hardlimit.h"

/* Set while this thread gives back what its own sleeper's look took. */
static _Thread_local bool hl_quiet;

/* pc_hl_init: a cache's sleeper state.  0 or the pthread error. */
int
pc_hl_init(struct pc_hl *hl)
{
	int error;

	hl->seq = 0;
	hl->warn[0] = '\0';
	hl->warn_ms = 0;
	atomic_init(&hl->warn_last, 0);
	atomic_init(&hl->waiters, 0);
	if ((error = pthread_mutex_init(&hl->lock, NULL)) != 0)
		return error;
	if ((error = pthread_cond_init(&hl->cv, NULL)) != 0)
		goto fail_cv;
	if ((error = pthread_mutex_init(&hl->fill_lock, NULL)) != 0)
		goto fail_fill;
	return 0;
fail_fill:
	pthread_cond_destroy(&hl->cv);
fail_cv:
	pthread_mutex_destroy(&hl->lock);
	return error;
}

/* pc_hl_fini: undo pc_hl_init().  Nobody sleeps. */
void
pc_hl_fini(struct pc_hl *hl)
{
	pthread_mutex_destroy(&hl->fill_lock);
	pthread_cond_destroy(&hl->cv);
	pthread_mutex_destroy(&hl->lock);
}

/*
 * pc_hl_wake: an object came back, or a limit changed: bump the count and
 * wake every sleeper, unless this thread is inside pc_hl_quiet_begin().
 * Takes hl->lock; the caller holds no lock of the cache below it.
 */
void
pc_hl_wake(struct pc_hl *hl)
{
	if (hl_quiet)
		return;
	pthread_mutex_lock(&hl->lock);
	hl->seq++;
	pthread_cond_broadcast(&hl->cv);
	pthread_mutex_unlock(&hl->lock);
}

/* pc_hl_register: count the caller as a waiter, before its first look. */
void
pc_hl_register(struct pc_hl *hl)
{
	/* Seq_cst: ordered before the looks that follow (hardlimit.h). */
	atomic_fetch_add(&hl->waiters, 1);
}

/* pc_hl_unregister: the caller is done waiting. */
void
pc_hl_unregister(struct pc_hl *hl)
{
	/* Relaxed: leaving needs no ordering; a spurious wake-up is harmless. */
	atomic_fetch_sub_explicit(&hl->waiters, 1, memory_order_relaxed);
}

/* pc_hl_seq: the wake-up count, read before a look.  Takes hl->lock. */
uint64_t
pc_hl_seq(struct pc_hl *hl)
{
	pthread_mutex_lock(&hl->lock);
	uint64_t seq = hl->seq;
	pthread_mutex_unlock(&hl->lock);
	return seq;
}

/* pc_hl_sleep: wait until the count is no longer `seq`.  Takes hl->lock. */
void
pc_hl_sleep(struct pc_hl *hl, uint64_t seq)
{
	pthread_mutex_lock(&hl->lock);
	while (hl->seq == seq)
		pthread_cond_wait(&hl->cv, &hl->lock);
	pthread_mutex_unlock(&hl->lock);
}

/*
 * pc_hl_look_begin, pc_hl_look_end: bracket a look that may end in a
 * sleep (fill_lock; lock order 2, so the look may take any cache lock).
 */
void
pc_hl_look_begin(struct pc_hl *hl)
{
	pthread_mutex_lock(&hl->fill_lock);
}

void
pc_hl_look_end(struct pc_hl *hl)
{
	pthread_mutex_unlock(&hl->fill_lock);
}

/*
 * pc_hl_quiet_begin, pc_hl_quiet_end: bracket a sleeper's give-back of
 * what its own look took, under fill_lock; see hardlimit.h.
 */
void
pc_hl_quiet_begin(void)
{
	hl_quiet = true;
}

void
pc_hl_quiet_end(void)
{
	hl_quiet = false;
}

/* pc_hl_lock, pc_hl_unlock: hold hl->lock across fork. */
void
pc_hl_lock(struct pc_hl *hl)
{
	pthread_mutex_lock(&hl->lock);
}

void
pc_hl_unlock(struct pc_hl *hl)
{
	pthread_mutex_unlock(&hl->lock);
}

/*
 * pc_hl_fork_child: in the child of fork(), which has one thread: nobody
 * waits, and the condition variable's waiters are gone with their threads.
 */
void
pc_hl_fork_child(struct pc_hl *hl)
{
	/* Relaxed: the child has one thread. */
	atomic_store_explicit(&hl->waiters, 0, memory_order_relaxed);
	pthread_cond_init(&hl->cv, NULL);
}

/*
 * pc_hl_set_warning: the message a get meeting the limit prints (NULL:
 * none), at most once per `ms` milliseconds.  Takes hl->lock.
 */
void
pc_hl_set_warning(struct pc_hl *hl, const char *msg, unsigned ms)
{
	pthread_mutex_lock(&hl->lock);
	if (msg == NULL)
		hl->warn[0] = '\0';
	else
		snprintf(hl->warn, sizeof(hl->warn), "%s", msg);
	hl->warn_ms = ms;
	pthread_mutex_unlock(&hl->lock);
}

/*
 * pc_hl_warn: a get of cache `name` met the limit: print the warning if
 * there is one and the last was at least its interval ago; one thread wins
 * each interval.  Takes hl->lock; no other lock held.
 */
void
pc_hl_warn(struct pc_hl *hl, const char *name)
{
	char msg[sizeof(hl->warn)];
	unsigned ms;
	struct timespec ts;

	pthread_mutex_lock(&hl->lock);
	memcpy(msg, hl->warn, sizeof(msg));
	ms = hl->warn_ms;
	pthread_mutex_unlock(&hl->lock);
	if (msg[0] == '\0')
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
	/* Relaxed: picks who prints; the message was read under the lock. */
	uint64_t last = atomic_load_explicit(&hl->warn_last, memory_order_relaxed);
	if (last != 0 && now - last < ms)
		return;
	if (atomic_compare_exchange_strong_explicit(&hl->warn_last, &last, now,
	    memory_order_relaxed, memory_order_relaxed))
		fprintf(stderr, "libpcache: cache '%s': %s\n", name, msg);
}
