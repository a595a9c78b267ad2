/*
 * vcpu.c -- vCPU threads, their hwloc binding and the command barrier.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * A failed binding is not fatal: the vCPU then runs wherever the scheduler
 * puts it, and the driver says so, because attributing cached objects to a
 * CPU is only meaningful for a vCPU that stays on one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include <hwloc.h>

#include "vcpu.h"

struct vcpu_set {
	unsigned n;
	struct vcpu *v;
	pthread_t *threads;
	hwloc_topology_t topo;
	int     *cpus;			/* allowed CPUs, ascending */
	unsigned ncpus;
	pthread_mutex_t bind_lock;	/* hwloc binding calls, one at a time */
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cv;
	uint64_t gen;			/* bumped for each command */
	vcpu_fn  fn;
	void    *arg;
	bool     serial;
	unsigned turn, done;
	bool     quit;
};

/*
 * allowed_cpus: the CPUs this process may use: its binding, within the
 * topology's allowed set.  Caller frees the bitmap.  NULL on failure.
 */
static hwloc_bitmap_t allowed_cpus(hwloc_topology_t topo)
{
	hwloc_bitmap_t set = hwloc_bitmap_alloc();
	if (set == NULL)
		return NULL;
	if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) != 0 ||
	    hwloc_bitmap_iszero(set))
		hwloc_bitmap_copy(set, hwloc_topology_get_allowed_cpuset(topo));
	hwloc_bitmap_and(set, set, hwloc_topology_get_allowed_cpuset(topo));
	return set;
}

/* load_topology: an initialised, loaded topology, or NULL.  Any thread. */
static hwloc_topology_t load_topology(void)
{
	hwloc_topology_t topo;
	if (hwloc_topology_init(&topo) != 0)
		return NULL;
	if (hwloc_topology_load(topo) != 0) {
		hwloc_topology_destroy(topo);
		return NULL;
	}
	return topo;
}

/* vcpu_allowed_cpus: see vcpu.h. */
unsigned vcpu_allowed_cpus(void)
{
	int n = 0;
	hwloc_topology_t topo = load_topology();
	if (topo != NULL) {
		hwloc_bitmap_t set = allowed_cpus(topo);
		if (set != NULL)
			n = hwloc_bitmap_weight(set);
		hwloc_bitmap_free(set);
		hwloc_topology_destroy(topo);
	}
	return n > 0 ? (unsigned)n : 1;
}

/*
 * bind_self: bind the calling vCPU thread to its CPU (round-robin over the
 * allowed set) and note where it then runs.  Runs on the vCPU thread.
 */
static void bind_self(struct vcpu_set *vs, struct vcpu *v)
{
	v->cpu = vs->ncpus != 0 ? vs->cpus[v->index % vs->ncpus] : -1;
	v->bound = false;
	v->bind_error = ENODEV;
	if (v->cpu >= 0) {
		hwloc_bitmap_t one = hwloc_bitmap_alloc();
		if (one != NULL) {
			hwloc_bitmap_only(one, (unsigned)v->cpu);
			pthread_mutex_lock(&vs->bind_lock);
			int rc = hwloc_set_cpubind(vs->topo, one, HWLOC_CPUBIND_THREAD);
			v->bind_error = rc == 0 ? 0 : errno;
			pthread_mutex_unlock(&vs->bind_lock);
			v->bound = rc == 0;
			hwloc_bitmap_free(one);
		}
	}
	sched_yield();
	v->seen_cpu = sched_getcpu();
}

/* vcpu_main: bind, then run commands until told to quit.  The vCPU thread. */
static void *vcpu_main(void *p)
{
	struct vcpu *v = p;
	struct vcpu_set *vs = v->set;
	uint64_t seen = 0;
	bind_self(vs, v);
	pthread_mutex_lock(&vs->lock);
	for (;;) {
		while (vs->gen == seen && !vs->quit)
			pthread_cond_wait(&vs->cv, &vs->lock);
		if (vs->quit)
			break;
		seen = vs->gen;
		while (vs->serial && vs->turn != v->index)
			pthread_cond_wait(&vs->cv, &vs->lock);
		vcpu_fn fn = vs->fn;
		void *arg = vs->arg;
		pthread_mutex_unlock(&vs->lock);
		fn(v, arg);
		pthread_mutex_lock(&vs->lock);
		vs->turn++;
		vs->done++;
		pthread_cond_broadcast(&vs->cv);
	}
	pthread_mutex_unlock(&vs->lock);
	return NULL;
}

/* run: issue one command and wait until every vCPU is back.  Driver only. */
static void run(struct vcpu_set *vs, vcpu_fn fn, void *arg, bool serial)
{
	pthread_mutex_lock(&vs->lock);
	vs->fn = fn;
	vs->arg = arg;
	vs->serial = serial;
	vs->turn = 0;
	vs->done = 0;
	vs->gen++;
	pthread_cond_broadcast(&vs->cv);
	while (vs->done < vs->n)
		pthread_cond_wait(&vs->cv, &vs->lock);
	pthread_mutex_unlock(&vs->lock);
}

/* vcpu_run_all: see vcpu.h.  Driver only. */
void vcpu_run_all(struct vcpu_set *vs, vcpu_fn fn, void *arg)
{
	run(vs, fn, arg, false);
}

/* vcpu_run_each: see vcpu.h.  Driver only. */
void vcpu_run_each(struct vcpu_set *vs, vcpu_fn fn, void *arg)
{
	run(vs, fn, arg, true);
}

/* vcpu_get: vCPU i; its fields are stable while it waits at the barrier.  Driver only. */
struct vcpu *vcpu_get(struct vcpu_set *vs, unsigned i)
{
	return &vs->v[i];
}

/* vcpu_count: how many vCPUs run.  Driver only. */
unsigned vcpu_count(const struct vcpu_set *vs)
{
	return vs->n;
}

/* nothing: the command vcpu_start waits on, so every binding is done. */
static void nothing(struct vcpu *v, void *arg)
{
	(void)v;
	(void)arg;
}

/* fill_cpus: the allowed CPUs as an array.  0 or ENOMEM.  Driver only. */
static int fill_cpus(struct vcpu_set *vs)
{
	hwloc_bitmap_t set = vs->topo != NULL ? allowed_cpus(vs->topo) : NULL;
	int w = set != NULL ? hwloc_bitmap_weight(set) : 0;
	if (w > 0 && (vs->cpus = calloc((size_t)w, sizeof(int))) != NULL) {
		int i;
		hwloc_bitmap_foreach_begin(i, set)
			vs->cpus[vs->ncpus++] = i;
		hwloc_bitmap_foreach_end();
	}
	hwloc_bitmap_free(set);
	return w > 0 && vs->cpus == NULL ? ENOMEM : 0;
}

/* vcpu_start: see vcpu.h.  Without a topology the vCPUs run unbound. */
struct vcpu_set *vcpu_start(unsigned n, void **user)
{
	struct vcpu_set *vs = calloc(1, sizeof(*vs));
	if (vs == NULL)
		return NULL;
	vs->v = calloc(n, sizeof(*vs->v));
	vs->threads = calloc(n, sizeof(*vs->threads));
	vs->topo = load_topology();
	if (vs->v == NULL || vs->threads == NULL || fill_cpus(vs) != 0) {
		vcpu_stop(vs);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&vs->bind_lock, NULL);
	pthread_mutex_init(&vs->lock, NULL);
	pthread_cond_init(&vs->cv, NULL);
	for (unsigned i = 0; i < n; i++) {
		vs->v[i] = (struct vcpu){ .index = i, .cpu = -1, .user = user[i], .set = vs };
		int err = pthread_create(&vs->threads[i], NULL, vcpu_main, &vs->v[i]);
		if (err != 0) {
			vcpu_stop(vs);
			errno = err;
			return NULL;
		}
		vs->n++;
	}
	run(vs, nothing, NULL, false);
	return vs;
}

/* vcpu_stop: see vcpu.h.  Safe on a partly started set. */
void vcpu_stop(struct vcpu_set *vs)
{
	if (vs == NULL)
		return;
	if (vs->n != 0) {
		pthread_mutex_lock(&vs->lock);
		vs->quit = true;
		pthread_cond_broadcast(&vs->cv);
		pthread_mutex_unlock(&vs->lock);
		for (unsigned i = 0; i < vs->n; i++)
			pthread_join(vs->threads[i], NULL);
		pthread_cond_destroy(&vs->cv);
		pthread_mutex_destroy(&vs->lock);
		pthread_mutex_destroy(&vs->bind_lock);
	}
	if (vs->topo != NULL)
		hwloc_topology_destroy(vs->topo);
	free(vs->cpus);
	free(vs->threads);
	free(vs->v);
	free(vs);
}
