/*
 * rseq.c -- the restartable-sequence per-CPU layer: registration, the
 * per-CPU object arrays, their slow paths, and remote drains.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Layout.  Each CPU has one array of up to rcap constructed objects (at
 * least two magazines' worth; pc_cpu_capacity()) and a count n, the only
 * word a critical section commits.  The array stands for the loaded and
 * previous magazines of the locked layer: a get that finds it empty
 * refills it with one whole magazine from the depot, a put that finds it
 * full spills one whole magazine's worth to the depot, so after either
 * there is at least a magazine's worth of room and of objects, which is
 * the hysteresis the pair of magazines gives, kept with single-store
 * commits.
 *
 * Exclusion.  On its own CPU a thread needs no lock: a section that is
 * preempted or migrated restarts.  A thread that works on another CPU's
 * array (invalidation, hard-limit steals, destroy) holds that CPU's slot
 * lock, sets the array's `divert` flag so new sections leave it alone, and
 * then calls membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) for the CPU,
 * which restarts any section in flight there; from then on the array is
 * the drainer's until it clears `divert`.
 *
 * Where the kernel lacks rseq or that membarrier command, where glibc's
 * registration is absent and ours fails, or with PCACHE_RSEQ=0, caches use
 * the locked layer in percpu.c instead; pc->degraded records which of the
 * system's parts was missing (PCACHE_RSEQ=0 is a choice, not recorded).
 * A CPU numbered at or above the slots has no array: its threads' calls
 * miss and go to the depot (PCACHE_DEGRADED_CPU_BEYOND).  Like the
 * locked layer, this one reports a miss to its caller (NULL, false)
 * instead of deciding what comes next.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "debug.h"
#include "percpu.h"
#include "slab.h"

#ifdef PC_RSEQ_ARCH

#include <linux/membarrier.h>
#include <sys/rseq.h>
#include <sys/syscall.h>

ptrdiff_t pc_rseq_off;			/* struct rseq's offset from the thread pointer */
static bool rseq_usable;
static unsigned rseq_missing;		/* PCACHE_DEGRADED_* when the system said no */
static bool rseq_ours;			/* glibc did not register: we do, per thread */
static pthread_once_t rseq_once = PTHREAD_ONCE_INIT;

/* Our own area, used only when glibc has none.  Initial-exec TLS keeps its
 * offset from the thread pointer the same in every thread. */
static __thread struct rseq rseq_area
    __attribute__((tls_model("initial-exec"), aligned(32))) = {
	.cpu_id = (uint32_t)RSEQ_CPU_ID_UNINITIALIZED,
};

/* thread_pointer: the x86-64 thread pointer (the TCB's self pointer). */
static inline char *
thread_pointer(void)
{
	char *tp;

	__asm__("movq %%fs:0, %0" : "=r" (tp));
	return tp;
}

/*
 * rseq_cpu_here: the CPU number the kernel keeps in the calling thread's
 * struct rseq; negative (as int32_t) while no area is registered.  No
 * lock: the area is the thread's own.  Volatile, not atomic: the kernel
 * rewrites it on every return to the thread, and a stale value costs
 * only a miss.
 */
static inline uint32_t
rseq_cpu_here(void)
{
	return *(volatile uint32_t *)(thread_pointer() + pc_rseq_off +
	    offsetof(struct rseq, cpu_id));
}

static int
membarrier(int cmd, unsigned flags, int cpu)
{
	return (int)syscall(SYS_membarrier, cmd, flags, cpu);
}

/* register_thread: register rseq_area for the calling thread.  0 or -1. */
static int
register_thread(void)
{
	if ((int32_t)rseq_area.cpu_id >= 0)
		return 0;
	return (int)syscall(SYS_rseq, &rseq_area, sizeof(rseq_area), 0, RSEQ_SIG);
}

/*
 * rseq_probe: decide once whether the rseq layer can be used: the
 * environment allows it, a struct rseq is registered (glibc's, or ours for
 * this thread when glibc made none, as with GLIBC_TUNABLES=
 * glibc.pthread.rseq=0) and the kernel can restart sections on a chosen
 * CPU.  When the system says no, rseq_missing records which part it
 * lacked; PCACHE_RSEQ=0 is a choice and records nothing.
 */
static void
rseq_probe(void)
{
	const char *env = getenv("PCACHE_RSEQ");

	if (env != NULL && strcmp(env, "0") == 0)
		return;
	bool nokernel = pc_sysfault(PC_SYSFAULT_RSEQ);

	if (!nokernel &&
	    __rseq_size >= offsetof(struct rseq, flags) + sizeof(uint32_t) &&
	    (int32_t)((struct rseq *)(thread_pointer() +
	    __rseq_offset))->cpu_id >= 0) {
		pc_rseq_off = __rseq_offset;
	} else {
		pc_rseq_off = (char *)&rseq_area - thread_pointer();
		rseq_ours = true;
		if (nokernel || register_thread() != 0) {
			rseq_missing = PCACHE_DEGRADED_NO_RSEQ;
			return;
		}
	}
	/* The CPU from the area just checked: no sched_getcpu() needed. */
	if (pc_sysfault(PC_SYSFAULT_MEMBARRIER) ||
	    membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) != 0 ||
	    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
	    MEMBARRIER_CMD_FLAG_CPU, (int)rseq_cpu_here()) != 0) {
		rseq_missing = PCACHE_DEGRADED_NO_MEMBARRIER;
		return;
	}
	rseq_usable = true;
}

/*
 * pc_rseq_init: give a new cache the rseq layer when the system allows it.
 * Returns 0 (pc->rseq tells which layer it got) or ENOMEM.
 */
int
pc_rseq_init(pcache_t *pc)
{
	pthread_once(&rseq_once, rseq_probe);
	/* Checked caches keep the locked layer: its hit paths are out of line. */
	if ((pc->flags & PCACHE_DEBUG) != 0)
		return 0;
	if (!rseq_usable) {
		pc->degraded |= rseq_missing;
		return 0;
	}
	pc->rcap_init = pc_cpu_capacity(pc->objsize, pc->magsize);
	pc->rcap = pc_cpu_capacity_max(pc->objsize, pc->magsize);
	PC_ASSERT(pc->rcap <= PC_RSEQ_CAP_MAX);
	pc->rstride = (offsetof(pc_rslot_t, objs) + pc->rcap * sizeof(void *) +
	    PC_CACHELINE - 1) & ~(size_t)(PC_CACHELINE - 1);
	pc->rslots = pc_sys_aligned_alloc(PC_CACHELINE, pc->rstride * pc->ncpu);
	pc->drainbuf = pc_sys_malloc(pc->rcap * pc->ncpu * sizeof(void *));
	pc->rpol = pc_sys_calloc(pc->ncpu, sizeof(*pc->rpol));
	if (pc->rslots == NULL || pc->drainbuf == NULL || pc->rpol == NULL) {
		pc_rseq_fini(pc);
		return ENOMEM;
	}
	/* Headers only: entries past n are never read. */
	for (unsigned i = 0; i < pc->ncpu; i++) {
		pc_rslot_t *s = (pc_rslot_t *)(pc->rslots + (size_t)i * pc->rstride);
		s->word = 0;
		atomic_init(&s->divert, 0);
		atomic_init(&s->cap, (unsigned)pc->rcap_init);
		atomic_init(&s->refilled, 0);
		atomic_init(&s->taken, 0);
	}
	pc->rseq = true;
	return 0;
}

/*
 * pc_rseq_fork_child: in a child process, renew the membarrier
 * registration the remote drains rely on (it belongs to the address
 * space, which the child has anew).  Registering twice is harmless.
 */
void
pc_rseq_fork_child(void)
{
	if (rseq_usable)
		(void)membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0);
}

/* pc_rseq_fini: free the arrays (empty by now).  Nobody uses the cache. */
void
pc_rseq_fini(pcache_t *pc)
{
	pc_sys_free(pc->rslots);
	pc_sys_free(pc->drainbuf);
	pc_sys_free(pc->rpol);
	pc->rslots = NULL;
	pc->drainbuf = NULL;
	pc->rpol = NULL;
	pc->rseq = false;
}

static inline pc_rslot_t *
rslot(const pcache_t *pc, unsigned cpu)
{
	return (pc_rslot_t *)(pc->rslots + (size_t)cpu * pc->rstride);
}

static inline void *
rseq_pop_here(pcache_t *pc)
{
	return rseq_pop(pc_rseq_off, pc->rslots, pc->rstride, pc->ncpu);
}

static inline bool
rseq_push_here(pcache_t *pc, void *obj)
{
	return rseq_push(pc_rseq_off, pc->rslots, pc->rstride, pc->ncpu, obj);
}

/*
 * refill_here: rseq_refill() into the current CPU's array; `puts` says
 * whether the objects count as puts (a bulk put) or came from the depot,
 * which the array's `refilled` count records (pc_rslot_t).
 */
static void note_miss(pcache_t *pc, char *slot);

static bool
refill_here(pcache_t *pc, void *const *src, size_t k, bool puts)
{
	char *slot;
	uint64_t add = puts ? (uint64_t)k | (uint64_t)k << PC_RSLOT_NBITS : k;

	if (!rseq_refill(pc_rseq_off, pc->rslots, pc->rstride, pc->ncpu,
	    src, k, add, &slot))
		return false;
	if (!puts) {
		/* Relaxed: a statistic, summed by pc_rseq_stats(). */
		atomic_fetch_add_explicit(&((pc_rslot_t *)slot)->refilled, k,
		    memory_order_relaxed);
		note_miss(pc, slot);	/* from the depot: its lock is held */
	}
	return true;
}

/*
 * take_here: rseq_take() from the current CPU's array; `gets` says whether
 * the objects go to a caller (a bulk get) or to the depot, which the
 * array's `taken` count records.
 */
static size_t
take_here(pcache_t *pc, void **dst, size_t kmax, bool gets)
{
	char *slot;
	size_t k = rseq_take(pc_rseq_off, pc->rslots, pc->rstride, pc->ncpu,
	    dst, kmax, &slot);

	if (k > 0 && !gets) {
		/* Relaxed: as in refill_here(). */
		atomic_fetch_add_explicit(&((pc_rslot_t *)slot)->taken, k,
		    memory_order_relaxed);
		note_miss(pc, slot);	/* to the depot: its lock is held */
	}
	return k;
}

/*
 * thread_ready: whether the calling thread can run sections now,
 * registering our own area on its first use when glibc has none.
 */
static bool
thread_ready(void)
{
	if (!rseq_ours)
		return true;
	return register_thread() == 0;
}

/*
 * beyond_slots: whether the caller runs on a CPU the cache has no array
 * for (brought online after the slots were sized): then every section
 * fails, and rather than lock the depot for a refill or spill that
 * cannot land, the miss goes straight to the caller's depot path, and the
 * stats say so.  A thread without a registered area is not beyond.  No
 * lock held.
 */
static bool
beyond_slots(const pcache_t *pc)
{
	uint32_t cpu = rseq_cpu_here();

	if (PC_LIKELY(cpu < pc->ncpu) || (int32_t)cpu < 0)
		return false;
	pc_degrade_note(PCACHE_DEGRADED_CPU_BEYOND);
	return true;
}

/*
 * Capacity policy.  A CPU whose array misses (refills from the depot, or
 * spills to it) GROW_MISSES times within GROW_WINDOW_NS doubles its
 * capacity, up to pc->rcap: a working set larger than the array then
 * stays on the CPU instead of crossing the depot lock a magazine at a
 * time.  A CPU whose array saw no traffic at all between two reclaims
 * halves it again, down to the initial capacity, and its excess goes to
 * the depot, where reclaim's working-set trim frees it.
 */
#define GROW_MISSES	16
#define GROW_WINDOW_NS	10000000ull	/* 10 ms */

/* now_ns: a monotonic clock, for the policy's window. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * note_miss: the array at `slot` just refilled or spilled; grow it if its
 * misses come fast.  The depot lock held (it guards the policy and cap).
 */
static void
note_miss(pcache_t *pc, char *slot)
{
	pc_rslot_t *s = (pc_rslot_t *)slot;
	struct pc_rpolicy *p = &pc->rpol[(size_t)(slot - pc->rslots) / pc->rstride];
	uint64_t now = now_ns();

	/*
	 * Relaxed, all: a heuristic.  The depot lock held is the caller's
	 * domain's when it began; a thread that migrated to another domain
	 * since may update this CPU's policy beside a holder of that one's,
	 * which can miscount a window, never corrupt a cache.
	 */
	if (now - atomic_load_explicit(&p->window, memory_order_relaxed) >
	    GROW_WINDOW_NS) {
		atomic_store_explicit(&p->window, now, memory_order_relaxed);
		atomic_store_explicit(&p->misses, 0, memory_order_relaxed);
	}
	/* Relaxed: cap is written under the depot lock; sections read it raw. */
	unsigned cap = atomic_load_explicit(&s->cap, memory_order_relaxed);
	if (atomic_fetch_add_explicit(&p->misses, 1, memory_order_relaxed) + 1 >=
	    GROW_MISSES && cap < pc->rcap) {
		cap = 2 * cap < pc->rcap ? 2 * cap : (unsigned)pc->rcap;
		atomic_store_explicit(&s->cap, cap, memory_order_relaxed);
		atomic_store_explicit(&p->misses, 0, memory_order_relaxed);
	}
}

/* traffic: everything that ever moved through a CPU's array but its gets. */
static uint64_t
traffic(const pc_rslot_t *s)
{
	/* Relaxed: statistics; the caller owns the array. */
	return (s->word >> PC_RSLOT_NBITS) +
	    atomic_load_explicit(&s->refilled, memory_order_relaxed) +
	    atomic_load_explicit(&s->taken, memory_order_relaxed);
}

/*
 * pc_rseq_shrink_idle: at a reclaim, halve the capacity of CPU cpu if its
 * array saw no traffic since the last reclaim (it saw no put, refill,
 * spill or drain; a CPU that only got from a full array looks idle too,
 * and gets a smaller one), moving what no longer fits to the depot.  The
 * caller holds the CPU (pc_cpu_lock()); takes the depot lock.
 */
void
pc_rseq_shrink_idle(pcache_t *pc, unsigned cpu)
{
	pc_rslot_t *s = rslot(pc, cpu);
	struct pc_rpolicy *p = &pc->rpol[cpu];

	pc_depot_t *d = pc_depot_of_cpu(pc, cpu);

	pthread_mutex_lock(&d->lock);
	uint64_t seen = traffic(s);
	unsigned cap = atomic_load_explicit(&s->cap, memory_order_relaxed);
	if (seen == p->seen && cap > pc->rcap_init) {
		cap = cap / 2 > pc->rcap_init ? cap / 2 : (unsigned)pc->rcap_init;
		atomic_store_explicit(&s->cap, cap, memory_order_relaxed);
		/* The excess, a magazine at a time (whatever can be had). */
		for (;;) {
			size_t n = PC_RSLOT_N(s->word);
			if (n <= cap)
				break;
			pc_mag_t *m = pc_depot_take_empty(d);
			if (m == NULL && (m = pc_mag_alloc(pc)) == NULL)
				break;
			size_t k = n - cap < m->cap ? n - cap : m->cap;
			memcpy(m->objs, s->objs + n - k, k * sizeof(void *));
			m->n = (unsigned)k;
			s->word -= k;
			/* Relaxed: a statistic. */
			atomic_fetch_add_explicit(&s->taken, k, memory_order_relaxed);
			pc_depot_give_full(d, m);
		}
		seen = traffic(s);
	}
	p->seen = seen;
	pthread_mutex_unlock(&d->lock);
}

/* pc_rseq_cap: CPU cpu's capacity now. */
unsigned
pc_rseq_cap(const pcache_t *pc, unsigned cpu)
{
	/* Relaxed: a statistic. */
	return atomic_load_explicit(&rslot(pc, cpu)->cap, memory_order_relaxed);
}

/*
 * pc_rseq_get_miss: the current CPU's array is empty or diverted.  Refill
 * it with a full magazine from the depot and pop again; if the refill does
 * not go through, serve the caller from that magazine.  NULL (a miss) when
 * the depot has no full magazine, the thread cannot run sections or its
 * CPU has no array.  No lock held.
 */
void *
pc_rseq_get_miss(pcache_t *pc)
{
	pc_depot_t *d = pc_depot_here(pc);

	if (rseq_ours && (int32_t)rseq_area.cpu_id < 0) {
		if (!thread_ready())
			return NULL;
		void *obj = rseq_pop_here(pc);
		if (obj != NULL)
			return obj;
	}
	if (PC_UNLIKELY(beyond_slots(pc)))
		return NULL;
	/*
	 * d->lock is held from taking the magazine until its objects are in
	 * the array or back on a list: cached objects are never in private
	 * hands, where an invalidation or a hard-limit look could miss them.
	 */
	pthread_mutex_lock(&d->lock);
	pc_mag_t *m = pc_depot_take_full(d);
	if (m == NULL) {
		pthread_mutex_unlock(&d->lock);
		return NULL;
	}
	bool refilled = refill_here(pc, m->objs, m->n, false);
	void *obj = NULL;
	if (refilled)
		m->n = 0;
	else {
		/* Diverted, or no room: serve the caller from the magazine. */
		obj = m->objs[--m->n];
	}
	pc_depot_return_locked(d, m);
	pthread_mutex_unlock(&d->lock);
	if (obj != NULL) {
		/* Relaxed: a statistic. */
		atomic_fetch_add_explicit(&pc->slow_gets, 1, memory_order_relaxed);
		return obj;
	}
	return rseq_pop_here(pc);
}

/*
 * rseq_spill: move a magazine's worth of the current CPU's array to the
 * depot's full list.  False when nothing moved (the array was empty or
 * diverted, or no magazine could be had).  No lock held.
 */
static bool
rseq_spill(pcache_t *pc)
{
	pc_depot_t *d = pc_depot_here(pc);
	pc_mag_t *spare = NULL;

	pthread_mutex_lock(&d->lock);
	pc_mag_t *e = pc_depot_take_empty(d);
	if (e == NULL) {
		pthread_mutex_unlock(&d->lock);
		if ((spare = pc_mag_alloc(pc)) == NULL)
			return false;
		pthread_mutex_lock(&d->lock);
		e = spare;
	}
	/* Under d->lock, so the objects are never in private hands. */
	e->n = (unsigned)take_here(pc, e->objs, pc->magsize, false);
	bool moved = e->n > 0;
	pc_depot_return_locked(d, e);
	bool wake = moved && pc_hl_waiting(&pc->hl);
	pthread_mutex_unlock(&d->lock);
	if (wake)
		pc_hl_wake(&pc->hl);
	return moved;
}

/* push_here_woke: rseq_push_here(), waking sleepers (hardlimit.h). */
static bool
push_here_woke(pcache_t *pc, void *obj)
{
	if (!rseq_push_here(pc, obj))
		return false;
	if (pc_hl_waiting(&pc->hl))
		pc_hl_wake(&pc->hl);
	return true;
}

/*
 * pc_rseq_put_miss: the current CPU's array is full or diverted.  Spill a
 * magazine's worth of it to the depot and push again.  False when the
 * object could not be placed (always, on a CPU without an array).  No
 * lock held.
 */
bool
pc_rseq_put_miss(pcache_t *pc, void *obj)
{
	if (rseq_ours && (int32_t)rseq_area.cpu_id < 0 && thread_ready() &&
	    push_here_woke(pc, obj))
		return true;
	if (PC_UNLIKELY(beyond_slots(pc)))
		return false;
	return rseq_spill(pc) && push_here_woke(pc, obj);
}

/*
 * pc_rseq_get_bulk: up to n constructed objects from the current CPU's
 * array (one section) and then whole depot magazines (one depot lock
 * hold), never from the slab layer.  Returns how many were placed in
 * objs[].  What is left in the last magazine refills the array if it fits.
 * No lock held.
 */
size_t
pc_rseq_get_bulk(pcache_t *pc, void **objs, size_t n)
{
	pc_depot_t *d = pc_depot_here(pc);
	size_t got = take_here(pc, objs, n, true);	/* counted by the array */

	if (got < n) {
		pc_mag_t *rest;
		/*
		 * One hold of d->lock: what is not handed out goes back to the
		 * array or the lists before it is dropped (pc_rseq_get_miss()).
		 */
		pthread_mutex_lock(&d->lock);
		size_t more = pc_depot_get_many_locked(d, objs + got, n - got, &rest);
		if (rest != NULL) {
			if (refill_here(pc, rest->objs, rest->n, false))
				rest->n = 0;
			pc_depot_return_locked(d, rest);
		}
		pthread_mutex_unlock(&d->lock);
		got += more;
		/* Relaxed: a statistic; only where the depot was involved. */
		atomic_fetch_add_explicit(&pc->slow_gets, more, memory_order_relaxed);
	}
	return got;
}

/*
 * pc_rseq_put_bulk: pcache_put_bulk() on the rseq layer.  Every non-NULL
 * pointer is checked; then runs of non-NULL entries go from the caller's
 * array straight into the current CPU's array (one section each: the
 * whole run if it fits, else a magazine's worth) while they fit, the rest
 * into magazines that reach the depot together in one lock hold: one copy
 * each way.
 */
void
pc_rseq_put_bulk(pcache_t *pc, void *const *objs, size_t n)
{
	pc_mag_t *fulls = NULL;
	size_t i = 0, done = 0;

	pc_obj_check_all(pc, objs, n);
	while (i < n) {
		if (objs[i] == NULL) {
			i++;
			continue;
		}
		void *const *run = objs + i;
		size_t k = 0, max = fulls == NULL ? pc->rcap : pc->magsize;
		while (k < max && i + k < n && run[k] != NULL) {
			pc_obj_noaccess(pc, run[k]);
			k++;
		}
		/*
		 * The whole run into the CPU's array if it fits, else a
		 * magazine's worth at a time while they fit, then magazines.
		 */
		if (fulls == NULL && refill_here(pc, run, k, true)) {
			i += k;
			continue;	/* counted by the array */
		}
		if (k > pc->magsize)
			k = pc->magsize;
		i += k;
		if (fulls == NULL && refill_here(pc, run, k, true))
			continue;
		pc_depot_t *d = pc_depot_here(pc);
		pthread_mutex_lock(&d->lock);
		pc_mag_t *m = pc_depot_take_empty(d);
		pthread_mutex_unlock(&d->lock);
		if (m == NULL && (m = pc_mag_alloc(pc)) == NULL) {
			for (size_t j = 0; j < k; j++) {
				if (!pc_rseq_put_miss(pc, run[j]))
					pc_depot_put(pc, run[j]);
			}
			continue;
		}
		PC_ASSERT(k <= m->cap);
		memcpy(m->objs, run, k * sizeof(void *));
		m->n = (unsigned)k;
		m->next = fulls;
		fulls = m;
		done += k;
	}
	if (fulls != NULL) {
		pc_depot_return_chain(pc, fulls);
		/* Relaxed: a statistic; only where the depot was involved. */
		atomic_fetch_add_explicit(&pc->slow_puts, done, memory_order_relaxed);
	} else if (pc_hl_waiting(&pc->hl))
		pc_hl_wake(&pc->hl);
}

/*
 * restart_all: restart every critical section in flight in the process.
 * Without it a diverted array could still change under its drainer, so a
 * failure (the registration lost) is fatal rather than silent.
 */
static void
restart_all(const pcache_t *pc)
{
	if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, 0, 0) != 0)
		pc_panic(pc, NULL, "membarrier(PRIVATE_EXPEDITED_RSEQ) failed: "
		    "errno %d", errno);
}

/*
 * pc_rseq_own: make CPU cpu's array the caller's: divert new sections and
 * restart any in flight.  The caller holds the CPU's slot lock.
 */
void
pc_rseq_own(pcache_t *pc, unsigned cpu)
{
	/* Seq_cst: visible before the membarrier below restarts the CPU. */
	atomic_store(&rslot(pc, cpu)->divert, 1);
	if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
	    MEMBARRIER_CMD_FLAG_CPU, (int)cpu) != 0)
		restart_all(pc);
}

/* pc_rseq_own_all: pc_rseq_own() for every CPU, with one membarrier. */
void
pc_rseq_own_all(pcache_t *pc)
{
	for (unsigned i = 0; i < pc->ncpu; i++) {
		/* Seq_cst: as in pc_rseq_own(). */
		atomic_store(&rslot(pc, i)->divert, 1);
	}
	restart_all(pc);
}

/* pc_rseq_release: give an owned array back to its CPU's sections. */
void
pc_rseq_release(pcache_t *pc, unsigned cpu)
{
	/* Release: our writes to n and objs[] precede the sections' reads. */
	atomic_store_explicit(&rslot(pc, cpu)->divert, 0, memory_order_release);
}

/*
 * pc_rseq_take_owned: move every object of an owned array to buf.  The
 * owner writes the commit word as a section would; the puts count in it
 * stays.
 */
size_t
pc_rseq_take_owned(pcache_t *pc, unsigned cpu, void **buf)
{
	pc_rslot_t *s = rslot(pc, cpu);
	size_t n = PC_RSLOT_N(s->word);

	memcpy(buf, s->objs, n * sizeof(void *));
	s->word -= n;
	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&s->taken, n, memory_order_relaxed);
	return n;
}

/* pc_rseq_pop_owned: one object from an owned array, or NULL. */
void *
pc_rseq_pop_owned(pcache_t *pc, unsigned cpu)
{
	pc_rslot_t *s = rslot(pc, cpu);
	size_t n = PC_RSLOT_N(s->word);

	if (n == 0)
		return NULL;
	s->word--;
	/* Relaxed: a statistic (the object is counted as a slow get). */
	atomic_fetch_add_explicit(&s->taken, 1, memory_order_relaxed);
	return s->objs[n - 1];
}

/*
 * pc_rseq_stats: a CPU's cached objects, puts and gets, read without
 * exclusion: the commit word in one load, the two counts relaxed.  The
 * gets are what entered less what left by other ways and what is still
 * there (pc_rslot_t); exact when the cache is quiescent, modulo 2^48 per
 * CPU like the puts count they derive from.
 */
void
pc_rseq_stats(const pcache_t *pc, unsigned cpu, struct pc_cpu_stats *st)
{
	pc_rslot_t *s = rslot(pc, cpu);
	uint64_t word = *(const volatile uint64_t *)&s->word;
	uint64_t n = PC_RSLOT_N(word), puts = word >> PC_RSLOT_NBITS;
	/* Relaxed: statistics. */
	uint64_t in = atomic_load_explicit(&s->refilled, memory_order_relaxed);
	uint64_t out = atomic_load_explicit(&s->taken, memory_order_relaxed);
	uint64_t mask = ((uint64_t)1 << (64 - PC_RSLOT_NBITS)) - 1;

	st->cached = n;
	st->puts = puts;
	st->hits = st->gets = (puts + in - out - n) & mask;
	st->from_depot = in;
	st->to_depot = out;
	/* Relaxed: a statistic. */
	st->capacity = atomic_load_explicit(&s->cap, memory_order_relaxed);
}

#else /* !PC_RSEQ_ARCH */

void
pc_rseq_fork_child(void)
{
}

int
pc_rseq_init(pcache_t *pc)
{
	(void)pc;
	return 0;
}

void
pc_rseq_fini(pcache_t *pc)
{
	(void)pc;
}

#endif /* PC_RSEQ_ARCH */
