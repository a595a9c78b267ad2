/*
 * fork.c -- the registry of caches: keeping every cache usable in the
 * child of a multithreaded process, and finding caches by name or all of
 * them (pcache_lookup(), pcache_walk(), and the holds pcache_reap() takes).
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * fork() copies the memory of every cache but only the calling thread: a
 * lock another thread held at that instant would stay held in the child
 * for ever.  So the prepare handler takes every lock of every cache (in
 * the library's lock order) and the page map's, and the parent and child
 * handlers release them; the child also drops the count of hard-limit
 * sleepers (none of them exist there) and renews what the rseq layer
 * registered for the address space.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/*
 * The registry: every cache, for fork, pcache_lookup() and pcache_walk().
 * A read-write lock that prefers writers where the C library can say so,
 * so that walks in a loop cannot starve pcache_create(); a thread already
 * reading (a walk's callback calling pcache_lookup()) does not lock again
 * (registry_depth), which would deadlock behind a waiting writer.
 */
static pthread_rwlock_t	 registry_lock;
static pthread_once_t	 registry_once = PTHREAD_ONCE_INIT;
static _Thread_local unsigned registry_depth;

static void
registry_init(void)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
#ifdef PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	pthread_rwlock_init(&registry_lock, &a);
	pthread_rwlockattr_destroy(&a);
}

/* registry_read_begin, registry_read_end: read the registry, reentrantly. */
static void
registry_read_begin(void)
{
	pthread_once(&registry_once, registry_init);
	if (registry_depth++ == 0)
		pthread_rwlock_rdlock(&registry_lock);
}

static void
registry_read_end(void)
{
	if (--registry_depth == 0)
		pthread_rwlock_unlock(&registry_lock);
}
static pcache_t		*registry;
static pthread_once_t	 atfork_once = PTHREAD_ONCE_INIT;

/*
 * fork_prepare: take, in the lock order of core.h, the registry lock, then every cache's hard-limit
 * fill lock and then every cache's drain lock (each for all caches first,
 * so that a constructor or destructor running under one cache's lock may
 * still get and put on another cache), then each cache's
 * slots, depot, slab, hard-limit and checked-mode log locks, then the page
 * map's lock.  A destructor that invalidates, destroys or creates a cache
 * while another thread forks can deadlock against this order; destructors
 * should not do that.
 */
static void
fork_prepare(void)
{
	pthread_rwlock_wrlock(&registry_lock);
	for (pcache_t *pc = registry; pc != NULL; pc = pc->reg_next)
		pc_hl_look_begin(&pc->hl);
	for (pcache_t *pc = registry; pc != NULL; pc = pc->reg_next)
		pthread_mutex_lock(&pc->drain_lock);
	for (pcache_t *pc = registry; pc != NULL; pc = pc->reg_next) {
		pc_lock_cpus_depot(pc);
		pthread_mutex_lock(&pc->slab_lock);
		pc_hl_lock(&pc->hl);
		pc_dbg_lock(pc);
	}
	pc_pagemap_lock();
	for (pcache_t *pc = registry; pc != NULL; pc = pc->reg_next)
		pc_rcu_lock_all(pc);
}

/*
 * fork_release: undo fork_prepare(), in the parent or the child; the
 * caller then releases the registry lock (fork_child() cannot unlock it:
 * a write-locked rwlock knows its writer by thread id, which the child's
 * thread does not share, so the child makes the lock anew).
 */
static void
fork_release(void)
{
	for (pcache_t *pc = registry; pc != NULL; pc = pc->reg_next)
		pc_rcu_unlock_all(pc);
	pc_pagemap_unlock();
	for (pcache_t *pc = registry; pc != NULL; pc = pc->reg_next) {
		pc_dbg_unlock(pc);
		pc_hl_unlock(&pc->hl);
		pthread_mutex_unlock(&pc->slab_lock);
		pc_unlock_all(pc);
		pthread_mutex_unlock(&pc->drain_lock);
		pc_hl_look_end(&pc->hl);
	}
}

static void
fork_parent(void)
{
	fork_release();
	pthread_rwlock_unlock(&registry_lock);
}

/*
 * fork_child: the child is single-threaded: nobody sleeps at a hard limit
 * and the condition variable's waiters are gone with their threads.
 */
static void
fork_child(void)
{
	for (pcache_t *pc = registry; pc != NULL; pc = pc->reg_next)
		pc_hl_fork_child(&pc->hl);
	pc_cpu_fork_child();
	fork_release();
	registry_depth = 0;
	registry_init();
}

static void
atfork_install(void)
{
	(void)pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* pc_fork_register: add a new cache to the list the fork handlers walk. */
void
pc_fork_register(pcache_t *pc)
{
	pthread_once(&atfork_once, atfork_install);
	pthread_once(&registry_once, registry_init);
	pthread_rwlock_wrlock(&registry_lock);
	pc->reg_prev = NULL;
	pc->reg_next = registry;
	if (registry != NULL)
		registry->reg_prev = pc;
	registry = pc;
	pthread_rwlock_unlock(&registry_lock);
}

/* pc_fork_unregister: take a cache being destroyed off the list. */
void
pc_fork_unregister(pcache_t *pc)
{
	pthread_rwlock_wrlock(&registry_lock);
	if (pc->reg_prev != NULL)
		pc->reg_prev->reg_next = pc->reg_next;
	else
		registry = pc->reg_next;
	if (pc->reg_next != NULL)
		pc->reg_next->reg_prev = pc->reg_prev;
	pthread_rwlock_unlock(&registry_lock);
}

/*
 * pcache_lookup: see pcache.h.  The most recently created cache of that
 * name.  Takes the registry lock to read.
 */
pcache_t *
pcache_lookup(const char *name)
{
	pcache_t *found = NULL;

	if (name == NULL)
		return NULL;
	registry_read_begin();
	for (pcache_t *pc = registry; pc != NULL && found == NULL; pc = pc->reg_next) {
		if (strncmp(pc->name, name, sizeof(pc->name)) == 0)
			found = pc;
	}
	registry_read_end();
	return found;
}

/*
 * pcache_walk: see pcache.h.  Newest cache first, under the registry lock
 * held to read: caches can be neither created nor destroyed meanwhile.
 */
int
pcache_walk(int (*fn)(pcache_t *pc, void *arg), void *arg)
{
	int rc = 0;

	if (fn == NULL)
		return EINVAL;
	registry_read_begin();
	for (pcache_t *pc = registry; pc != NULL && rc == 0; pc = pc->reg_next)
		rc = fn(pc, arg);
	registry_read_end();
	return rc;
}

/*
 * pc_registry_hold_all: every cache in the process, each held (reap_refs)
 * so that a destroy waits for pc_registry_release(); an array to free
 * with it (NULL, *n = 0, when there is none or no memory).  Reads the
 * registry; the caller then works on the caches with no library lock held.
 */
pcache_t **
pc_registry_hold_all(size_t *n)
{
	size_t cap = 0;
	pcache_t **held;

	*n = 0;
	registry_read_begin();
	for (pcache_t *pc = registry; pc != NULL; pc = pc->reg_next)
		cap++;
	held = cap != 0 ? pc_sys_malloc(cap * sizeof(*held)) : NULL;
	for (pcache_t *pc = registry; held != NULL && pc != NULL; pc = pc->reg_next) {
		/* Relaxed: the registry lock orders it against the unregister. */
		atomic_fetch_add_explicit(&pc->reap_refs, 1, memory_order_relaxed);
		held[(*n)++] = pc;
	}
	registry_read_end();
	return held;
}

/* pc_registry_release: undo pc_registry_hold_all(). */
void
pc_registry_release(pcache_t **held, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* Release: our use of the cache precedes its destroy's free. */
		atomic_fetch_sub_explicit(&held[i]->reap_refs, 1, memory_order_release);
	}
	pc_sys_free(held);
}

/*
 * pc_fork_wait_unheld: a destroyed cache, off the registry, waits until no
 * pc_registry_hold_all() (pcache_reap()) holds it.  No new hold can start: holds are taken under
 * the registry lock, and the cache is no longer listed.
 */
void
pc_fork_wait_unheld(pcache_t *pc)
{
	/* Acquire: pairs with pcache_reap()'s release. */
	while (atomic_load_explicit(&pc->reap_refs, memory_order_acquire) != 0)
		sched_yield();
}
