/*
 * debug.c -- abort messages and checked mode (PCACHE_DEBUG).
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * A leaf: it calls nothing else in the library.  Callers hand it the slab
 * an object lies in.
 *
 * Checked mode is chosen once per cache, at creation.  A checked cache
 * keeps the locked per-CPU layer, never the rseq one, so every get and put
 * takes the out-of-line paths where the hooks below sit, and the fast path
 * of every other cache has no test for it.  What it keeps, all outside the
 * objects:
 *   - a state byte per object in the slab header (free, new, cached, in
 *     use), changed with atomic exchanges, so a double put is seen even
 *     when two threads race to make it;
 *   - a redzone after each object (PC_DBG_REDZONE bytes at least),
 *     written when the object leaves the slab layer and checked on every
 *     put, get and destruction;
 *   - for caches without a constructor, freed objects filled with a poison
 *     pattern that the next get (or the destruction) verifies; for caches
 *     with one, whose objects keep their contents, a checksum taken at put
 *     and verified the same way;
 *   - a log of the last PC_DBG_LOG gets and puts (thread, CPU, a short
 *     backtrace where the C library has backtrace()), printed with every
 *     abort message;
 *   - each object's history: its last get and its last accepted put, with
 *     their backtraces, in a table of PC_DBG_HIST entries, sets of
 *     PC_DBG_WAYS chosen by the object's address (an object's entry is
 *     reused only when PC_DBG_WAYS newer ones hash alike), so that an abort names where the object was allocated and
 *     where it was freed, however long ago, as libumem's audit does;
 *   - a quarantine: a FIFO ring per CPU of the last objects put there,
 *     poisoned and (for memory checkers) inaccessible, so that a use long
 *     after the put is still seen; an object reaches the CPU's magazines
 *     only when newer puts push it out.  The rings are guarded by the
 *     cache's drain_lock, which the caller holds, so that invalidation
 *     sees every object either in a ring or in the cache layer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef PCACHE_HAVE_EXECINFO
#include <execinfo.h>
#endif
#ifdef PCACHE_HAVE_DL_ITERATE_PHDR
#include <link.h>
#endif

#include "debug.h"
#include "slab.h"

enum { DBG_FREE = 0, DBG_NEW, DBG_CACHED, DBG_INUSE, DBG_DEFERRED };

#define PC_DBG_POISON	0xa5
#define PC_DBG_RZBYTE	0x5c
#define PC_DBG_LOG	32
#define PC_DBG_FRAMES	6	/* kept per record: the caller's innermost */
#define PC_DBG_DEPTH	32	/* taken, the library's own frames included */
#define PC_DBG_QUARANTINE 256	/* objects per CPU unless PCACHE_DEBUG says */
#define PC_DBG_HIST	4096	/* objects whose history is kept */
#define PC_DBG_WAYS	4	/* entries per set */
#define PC_DBG_SETBITS	10	/* log2(PC_DBG_HIST / PC_DBG_WAYS) */
_Static_assert(PC_DBG_HIST == PC_DBG_WAYS << PC_DBG_SETBITS, "history sets");

struct pc_txrec {
	const void	*obj;
	uint64_t	 seq;
	long		 tid;
	int		 cpu;
	char		 op;		/* 'g' get, 'p' put */
	int		 nframes;
	void		*frames[PC_DBG_FRAMES];
};

/* One object's history: its last get and last accepted put (op 0: none). */
struct pc_hist {
	const void	*obj;		/* NULL: unused */
	uint64_t	 last;		/* the seq of its latest record */
	struct pc_txrec	 get, put;
};

/* One CPU's quarantine ring, under the cache's drain_lock. */
struct pc_qring {
	const struct pc_slab **slabs;	/* each object's slab, for its checks */
	void		**objs;
	unsigned	 head;		/* the oldest entry */
	atomic_uint	 n;		/* written under drain_lock; stats read it */
};

struct pc_dbg {
	pthread_mutex_t	 lock;		/* the log */
	uint64_t	 seq;
	struct pc_txrec	 log[PC_DBG_LOG];
	struct pc_hist	*hist;		/* PC_DBG_HIST entries, under lock */
	unsigned	 qcap;		/* ring size; 0: no quarantine */
	unsigned	 nring;
	struct pc_qring	*rings;
};

#ifdef PCACHE_HAVE_DL_ITERATE_PHDR
/*
 * The library's own code, [self_lo, self_hi): frames there are skipped
 * in the records, so that the frames kept are the caller's.  Found once
 * (self_find()); 0, 0 until then, or where it cannot be found (all
 * frames are kept then).
 */
static atomic_uintptr_t self_lo, self_hi;
static const char self_mark;		/* an address of the library's */

/* self_phdr: dl_iterate_phdr() callback: the loaded object holding self_mark. */
static int
self_phdr(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t mark = (uintptr_t)&self_mark, lo = UINTPTR_MAX, hi = 0;
	bool mine = false;

	(void)size;
	(void)arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t b = info->dlpi_addr + ph->p_vaddr, e = b + ph->p_memsz;
		if (mark >= b && mark < e)
			mine = true;
		if ((ph->p_flags & PF_X) != 0) {
			lo = b < lo ? b : lo;
			hi = e > hi ? e : hi;
		}
	}
	if (!mine)
		return 0;
	/*
	 * In the main program (a static link) the library's code cannot be
	 * told from the program's: record nothing, so that every frame is
	 * kept rather than all the program's skipped.
	 */
	if (hi == 0 || info->dlpi_name == NULL || info->dlpi_name[0] == '\0')
		return 1;
	/* Relaxed: the same values whoever finds them; read only as a hint. */
	atomic_store_explicit(&self_lo, lo, memory_order_relaxed);
	atomic_store_explicit(&self_hi, hi, memory_order_relaxed);
	return 1;
}

/*
 * self_find: where the library's code lies, once.  dl_iterate_phdr()
 * allocates nothing, so this is safe inside a malloc.
 */
static void
self_find(void)
{
	/* Relaxed: a hint; a thread that sees 0 only keeps more frames. */
	if (atomic_load_explicit(&self_hi, memory_order_relaxed) == 0)
		(void)dl_iterate_phdr(self_phdr, NULL);
}
#endif

/*
 * take_frames: the innermost PC_DBG_FRAMES frames of the caller of the
 * library into r (the library's own skipped where its code can be told
 * apart: not when the program links it statically, whose records keep
 * the innermost frames, the library's first).
 */
static void
take_frames(struct pc_txrec *r)
{
#ifdef PCACHE_HAVE_EXECINFO
	void *all[PC_DBG_DEPTH];
	int n = backtrace(all, PC_DBG_DEPTH), first = 0;
#ifdef PCACHE_HAVE_DL_ITERATE_PHDR
	/* Relaxed: see self_find(). */
	uintptr_t lo = atomic_load_explicit(&self_lo, memory_order_relaxed);
	uintptr_t hi = atomic_load_explicit(&self_hi, memory_order_relaxed);
	while (first < n && (uintptr_t)all[first] - lo < hi - lo)
		first++;
	if (first == n)
		first = 0;		/* every frame the library's: keep them */
#endif
	r->nframes = n - first < PC_DBG_FRAMES ? n - first : PC_DBG_FRAMES;
	memcpy(r->frames, all + first, (size_t)r->nframes * sizeof(void *));
#else
	(void)r;
#endif
}

/*
 * hist_find: obj's history entry; when it has none, NULL, or with `make`
 * a fresh one in place of its set's oldest.  Under the log lock, or on
 * the way to abort().
 */
static struct pc_hist *
hist_find(const struct pc_dbg *g, const void *obj, bool make)
{
	uint64_t h = (uint64_t)(uintptr_t)obj * UINT64_C(0x9e3779b97f4a7c15);
	struct pc_hist *set = &g->hist[(h >> (64 - PC_DBG_SETBITS)) * PC_DBG_WAYS];
	struct pc_hist *old = &set[0];

	for (unsigned i = 0; i < PC_DBG_WAYS; i++) {
		if (set[i].obj == obj && obj != NULL)
			return &set[i];
		if (set[i].obj == NULL || (old->obj != NULL && set[i].last < old->last))
			old = &set[i];
	}
	if (!make)
		return NULL;
	*old = (struct pc_hist){ .obj = obj };
	return old;
}

/* print_rec: one get or put of the log or of a history, with its stack. */
static void
print_rec(const char *what, const struct pc_txrec *r)
{
	fprintf(stderr, "  %s #%llu %s %p thread %ld cpu %d\n", what,
	    (unsigned long long)r->seq, r->op == 'g' ? "get" : "put",
	    r->obj, r->tid, r->cpu);
#ifdef PCACHE_HAVE_EXECINFO
	fflush(stderr);
	backtrace_symbols_fd(r->frames, r->nframes, 2);
#endif
}

/*
 * print_hist: obj's last get and put, if the history still holds them.
 * Takes no lock, as print_log().
 */
static void
print_hist(const pcache_t *pc, const void *obj)
{
	const struct pc_hist *e = hist_find(pc->dbg, obj, false);

	if (e == NULL) {
		fprintf(stderr, "libpcache: cache '%s': no history of %p\n",
		    pc->name, obj);
		return;
	}
	fprintf(stderr, "libpcache: cache '%s': history of %p:\n", pc->name, obj);
	if (e->get.op != 0)
		print_rec("allocated by", &e->get);
	if (e->put.op != 0)
		print_rec("freed by", &e->put);
}

/*
 * print_log: the transaction log, oldest first, on stderr.  Takes no lock:
 * it runs on the way to abort(), possibly with the log lock held.
 */
static void
print_log(const pcache_t *pc)
{
	const struct pc_dbg *g = pc->dbg;
	uint64_t first = g->seq > PC_DBG_LOG ? g->seq - PC_DBG_LOG : 0;

	fprintf(stderr, "libpcache: cache '%s': last %u gets and puts:\n",
	    pc->name, (unsigned)(g->seq - first));
	for (uint64_t s = first; s < g->seq; s++)
		print_rec("", &g->log[s % PC_DBG_LOG]);
}

/*
 * pc_panic: print "libpcache: cache 'NAME': pointer P: MESSAGE" on stderr,
 * the transaction log of a checked cache, and abort.  Used for misuse that
 * would otherwise corrupt the cache.  Takes no lock.
 */
void
pc_panic(const pcache_t *pc, const void *obj, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "libpcache: cache '%s': pointer %p: %s\n",
	    pc != NULL ? pc->name : "?", obj, msg);
	if (pc != NULL && pc->dbg != NULL) {
		print_hist(pc, obj);
		print_log(pc);
	}
	fflush(stderr);
	abort();
}

/*
 * pc_assert_fail: report a failed PC_ASSERT and abort.  Takes no lock.
 */
void
pc_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "libpcache: assertion failed: %s (%s:%d)\n", expr,
	    file, line);
	fflush(stderr);
	abort();
}

/* pc_mutex_held: see core.h. */
bool
pc_mutex_held(pthread_mutex_t *m)
{
	if (pthread_mutex_trylock(m) != 0)
		return true;
	pthread_mutex_unlock(m);
	return false;
}

/*
 * pc_env_debug: true when the environment asks for checked mode in every
 * cache (PCACHE_DEBUG set to anything but "" or "0").
 */
bool
pc_env_debug(void)
{
	const char *v = getenv("PCACHE_DEBUG");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/*
 * env_quarantine: the quarantine size per CPU: N from "quarantine=N" among
 * the comma-separated words of PCACHE_DEBUG, else PC_DBG_QUARANTINE.
 */
static unsigned
env_quarantine(void)
{
	const char *v = getenv("PCACHE_DEBUG");
	const char *w = v != NULL ? strstr(v, "quarantine=") : NULL;

	if (w == NULL || (w != v && w[-1] != ','))
		return PC_DBG_QUARANTINE;
	char *end;
	unsigned long n = strtoul(w + strlen("quarantine="), &end, 10);
	if (end == w + strlen("quarantine=") || (*end != '\0' && *end != ','))
		return PC_DBG_QUARANTINE;
	return n > 65536 ? 65536 : (unsigned)n;
}

#ifdef PCACHE_FAULT_INJECTION
static atomic_long fault_calls;		/* allocations seen since arming */
static atomic_long fault_nth;		/* the one to fail; 0: none */

/*
 * pc_fault: count one allocation; true if it is the one to fail.  Relaxed
 * atomics: the tests that arm faults look at the counts after joining.
 */
bool
pc_fault(enum pc_fault_site site)
{
	(void)site;
	long n = atomic_fetch_add_explicit(&fault_calls, 1, memory_order_relaxed) + 1;
	return n == atomic_load_explicit(&fault_nth, memory_order_relaxed);
}

/* pc_fault_arm: fail the nth allocation from now (0: none), and recount. */
void
pc_fault_arm(long nth)
{
	atomic_store_explicit(&fault_nth, nth, memory_order_relaxed);
	atomic_store_explicit(&fault_calls, 0, memory_order_relaxed);
}

/* pc_fault_calls: allocations seen since the last pc_fault_arm(). */
long
pc_fault_calls(void)
{
	return atomic_load_explicit(&fault_calls, memory_order_relaxed);
}
#endif

/*
 * pc_dbg_init: the log and quarantine rings of a new checked cache (one
 * ring per CPU slot, pc->ncpu set).  0 or ENOMEM.
 */
int
pc_dbg_init(pcache_t *pc)
{
	struct pc_dbg *g = pc_sys_calloc(1, sizeof(*g));

	if (g == NULL || pthread_mutex_init(&g->lock, NULL) != 0) {
		pc_sys_free(g);
		return ENOMEM;
	}
	if ((g->hist = pc_sys_calloc(PC_DBG_HIST, sizeof(*g->hist))) == NULL) {
		pthread_mutex_destroy(&g->lock);
		pc_sys_free(g);
		return ENOMEM;
	}
#ifdef PCACHE_HAVE_DL_ITERATE_PHDR
	self_find();
#endif
	g->qcap = env_quarantine();
	g->nring = pc->ncpu > 0 ? pc->ncpu : 1;
	if (g->qcap > 0) {
		size_t len = (size_t)g->nring * g->qcap;
		g->rings = pc_sys_calloc(g->nring, sizeof(*g->rings));
		void **objs = pc_sys_calloc(len, sizeof(void *));
		const struct pc_slab **slabs = pc_sys_calloc(len, sizeof(*slabs));
		if (g->rings == NULL || objs == NULL || slabs == NULL) {
			pc_sys_free(g->rings);
			pc_sys_free(objs);
			pc_sys_free(slabs);
			pc_sys_free(g->hist);
			pthread_mutex_destroy(&g->lock);
			pc_sys_free(g);
			return ENOMEM;
		}
		for (unsigned i = 0; i < g->nring; i++) {
			g->rings[i].objs = objs + (size_t)i * g->qcap;
			g->rings[i].slabs = slabs + (size_t)i * g->qcap;
			atomic_init(&g->rings[i].n, 0);
		}
	}
	pc->dbg = g;
	return 0;
}

/* pc_dbg_lock, pc_dbg_unlock: hold a checked cache's log across fork. */
void
pc_dbg_lock(pcache_t *pc)
{
	if (pc->dbg != NULL)
		pthread_mutex_lock(&pc->dbg->lock);
}

void
pc_dbg_unlock(pcache_t *pc)
{
	if (pc->dbg != NULL)
		pthread_mutex_unlock(&pc->dbg->lock);
}

/* pc_dbg_fini: free the log and the (empty) quarantine. */
void
pc_dbg_fini(pcache_t *pc)
{
	if (pc->dbg != NULL) {
		PC_ASSERT(pc_dbg_quarantined(pc, -1) == 0);
		if (pc->dbg->rings != NULL) {
			pc_sys_free(pc->dbg->rings[0].objs);
			pc_sys_free(pc->dbg->rings[0].slabs);
			pc_sys_free(pc->dbg->rings);
		}
		pc_sys_free(pc->dbg->hist);
		pthread_mutex_destroy(&pc->dbg->lock);
		pc_sys_free(pc->dbg);
		pc->dbg = NULL;
	}
}

/* obj_state: the state byte of obj in its slab's header. */
static atomic_uchar *
obj_state(const pcache_t *pc, const struct pc_slab *sl, const void *obj)
{
	size_t idx = (size_t)((const char *)obj - sl->objbase) / pc->objsize;

	return (atomic_uchar *)((char *)(uintptr_t)sl + pc->dbg_state_off) + idx;
}

/* obj_sum: where obj's checksum is kept. */
static uint32_t *
obj_sum(const pcache_t *pc, const struct pc_slab *sl, const void *obj)
{
	size_t idx = (size_t)((const char *)obj - sl->objbase) / pc->objsize;

	return (uint32_t *)((char *)(uintptr_t)sl + pc->dbg_sum_off) + idx;
}

/* checksum: FNV-1a over the caller's bytes of the object. */
static uint32_t
checksum(const pcache_t *pc, const void *obj)
{
	const unsigned char *p = obj;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < pc->usersize; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* check_redzone: abort if anything wrote past the object's end. */
static void
check_redzone(const pcache_t *pc, const void *obj, const char *when)
{
	const unsigned char *p = obj;

	for (size_t i = pc->usersize; i < pc->objsize; i++) {
		if (p[i] != PC_DBG_RZBYTE)
			pc_panic(pc, obj, "redzone overwritten at offset %zu "
			    "(object size %zu), seen %s", i, pc->usersize, when);
	}
}

/*
 * poisons: whether a put fills the object with the poison pattern: only
 * without a constructor (the object keeps no contents) and outside
 * PCACHE_TYPESAFE_BY_RCU, whose free objects RCU readers may still read.
 * Otherwise the put records a checksum.
 */
static bool
poisons(const pcache_t *pc)
{
	return pc->ctor == NULL && (pc->flags & PCACHE_TYPESAFE_BY_RCU) == 0;
}

/*
 * check_contents: abort if a cached object changed since its put: the
 * poison pattern or the checksum (poisons()).
 */
static void
check_contents(const pcache_t *pc, const struct pc_slab *sl, const void *obj)
{
	if (poisons(pc)) {
		const unsigned char *p = obj;
		for (size_t i = 0; i < pc->usersize; i++) {
			if (p[i] != PC_DBG_POISON)
				pc_panic(pc, obj, "write after put at offset %zu", i);
		}
	} else if (*obj_sum(pc, sl, obj) != checksum(pc, obj))
		pc_panic(pc, obj, "write after put: the cached constructed "
		    "object's contents changed");
}

/*
 * hide, show: mark a cached object inaccessible to the memory checkers
 * built in (not in a PCACHE_TYPESAFE_BY_RCU cache, whose free objects
 * readers may read), and accessible again, redzone included, before the
 * checks here read it.
 */
static void
hide(const pcache_t *pc, const void *obj)
{
	if (PC_MEMCHECK && (pc->flags & PCACHE_TYPESAFE_BY_RCU) == 0)
		pc_mem_noaccess(obj, pc->objsize);
}

static void
show(const pcache_t *pc, const void *obj)
{
	if (PC_MEMCHECK)
		pc_mem_defined(obj, pc->objsize);
}

/*
 * log_op: append one get or put to the log; *r is the record, numbered,
 * for hist_note().  Takes the log lock.
 */
static void
log_op(pcache_t *pc, const void *obj, char op, struct pc_txrec *r)
{
	struct pc_dbg *g = pc->dbg;

	*r = (struct pc_txrec){ .obj = obj, .op = op,
	    .tid = (long)syscall(SYS_gettid), .cpu = sched_getcpu() };
	take_frames(r);
	pthread_mutex_lock(&g->lock);
	r->seq = g->seq;
	g->log[g->seq++ % PC_DBG_LOG] = *r;
	pthread_mutex_unlock(&g->lock);
}

/*
 * hist_note: a get or put the checks accepted becomes its object's last
 * one (a get starts the history afresh).  Takes the log lock.
 */
static void
hist_note(pcache_t *pc, const struct pc_txrec *r)
{
	struct pc_dbg *g = pc->dbg;

	pthread_mutex_lock(&g->lock);
	struct pc_hist *e = hist_find(g, r->obj, true);
	if (r->op == 'g') {
		*e = (struct pc_hist){ .obj = r->obj };
		e->get = *r;
	} else
		e->put = *r;
	e->last = r->seq;
	pthread_mutex_unlock(&g->lock);
}

/*
 * pc_dbg_leave_slab: a raw object leaves the slab layer: it must have been
 * free; write its redzone.  slab_lock held.
 */
void
pc_dbg_leave_slab(pcache_t *pc, const struct pc_slab *sl, void *obj)
{
	unsigned char was = atomic_exchange(obj_state(pc, sl, obj), DBG_NEW);

	if (was != DBG_FREE)
		pc_panic(pc, obj, "slab free list hands out an object in state %u",
		    was);
	memset((char *)obj + pc->usersize, PC_DBG_RZBYTE,
	    pc->objsize - pc->usersize);
}

/* pc_dbg_enter_slab: an object returns to its slab.  slab_lock held. */
void
pc_dbg_enter_slab(pcache_t *pc, const struct pc_slab *sl, void *obj)
{
	atomic_store(obj_state(pc, sl, obj), DBG_FREE);
}

/*
 * pc_dbg_get: an object is about to be handed out.  Checks that nobody
 * holds it, that its redzone is intact and that nobody wrote to it while
 * it was cached.  No lock held.
 */
void
pc_dbg_get(pcache_t *pc, const struct pc_slab *sl, void *obj)
{
	unsigned char was = atomic_exchange(obj_state(pc, sl, obj), DBG_INUSE);

	show(pc, obj);
	if (was == DBG_INUSE)
		pc_panic(pc, obj, "object handed out twice");
	if (was == DBG_FREE)
		pc_panic(pc, obj, "a free object is in the cache layer");
	if (was == DBG_DEFERRED)
		pc_panic(pc, obj, "an object put with pcache_put_rcu handed out "
		    "before its grace period ended");
	check_redzone(pc, obj, "at get");
	if (was == DBG_CACHED)
		check_contents(pc, sl, obj);
	struct pc_txrec r;
	log_op(pc, obj, 'g', &r);
	hist_note(pc, &r);
}

/*
 * pc_dbg_put: an object comes back.  Refuses a double put and a put of an
 * object never handed out, checks the redzone, then poisons the object or
 * records its checksum, and hides it from its users (memory checkers).
 * Any lock.
 */
void
pc_dbg_put(pcache_t *pc, const struct pc_slab *sl, void *obj)
{
	unsigned char was = atomic_exchange(obj_state(pc, sl, obj), DBG_CACHED);
	struct pc_txrec r;

	log_op(pc, obj, 'p', &r);
	if (was == DBG_CACHED || was == DBG_NEW)
		pc_panic(pc, obj, "double put");
	if (was == DBG_FREE)
		pc_panic(pc, obj, "put of an object that was never handed out");
	if (was == DBG_DEFERRED)
		pc_panic(pc, obj, "put of an object already put with pcache_put_rcu");
	check_redzone(pc, obj, "at put");
	hist_note(pc, &r);
	if (poisons(pc))
		memset(obj, PC_DBG_POISON, pc->usersize);
	else
		*obj_sum(pc, sl, obj) = checksum(pc, obj);
	hide(pc, obj);
}

/*
 * pc_dbg_put_rcu: an object is put with pcache_put_rcu(): refuse what
 * pc_dbg_put() refuses, and record its checksum; never poison it, since
 * readers older than the put may still read it.  No lock held.
 */
void
pc_dbg_put_rcu(pcache_t *pc, const struct pc_slab *sl, void *obj)
{
	unsigned char was = atomic_exchange(obj_state(pc, sl, obj), DBG_DEFERRED);
	struct pc_txrec r;

	log_op(pc, obj, 'p', &r);
	if (was == DBG_CACHED || was == DBG_NEW || was == DBG_DEFERRED)
		pc_panic(pc, obj, "double put");
	if (was == DBG_FREE)
		pc_panic(pc, obj, "put of an object that was never handed out");
	check_redzone(pc, obj, "at pcache_put_rcu");
	hist_note(pc, &r);
	*obj_sum(pc, sl, obj) = checksum(pc, obj);
}

/*
 * pc_dbg_land: a deferred put's grace period has passed: the object must
 * be as it was put (a write after pcache_put_rcu() aborts); it then goes
 * back as a put would (pc_dbg_put() follows).  No lock held.
 */
void
pc_dbg_land(pcache_t *pc, const struct pc_slab *sl, void *obj)
{
	unsigned char was = atomic_exchange(obj_state(pc, sl, obj), DBG_INUSE);

	if (was != DBG_DEFERRED)
		pc_panic(pc, obj, "deferred put landed on an object in state %u",
		    was);
	check_redzone(pc, obj, "when its deferred put landed");
	if (*obj_sum(pc, sl, obj) != checksum(pc, obj))
		pc_panic(pc, obj, "write after pcache_put_rcu: the object's "
		    "contents changed before its grace period ended");
}

/*
 * pc_dbg_destroy: a cached object is about to be destructed: check its
 * redzone and contents as a get would.  No lock held.
 */
void
pc_dbg_destroy(pcache_t *pc, const struct pc_slab *sl, void *obj)
{
	unsigned char was = atomic_load(obj_state(pc, sl, obj));

	show(pc, obj);
	if (was != DBG_CACHED && was != DBG_NEW)
		pc_panic(pc, obj, "destructing an object in state %u", was);
	check_redzone(pc, obj, "at destruction");
	if (was == DBG_CACHED)
		check_contents(pc, sl, obj);
}

/* pc_dbg_quarantines: whether puts to this cache go through a quarantine. */
bool
pc_dbg_quarantines(const pcache_t *pc)
{
	return pc->dbg != NULL && pc->dbg->qcap > 0;
}

/*
 * pc_dbg_quarantine: `obj`, just through pc_dbg_put(), joins ring `ring`
 * (a CPU slot).  Returns NULL, or, when the ring was full, its oldest
 * object, which is checked once more (nothing may have written to it
 * since its put) and is now the caller's to place in the cache layer.
 * drain_lock held.
 */
void *
pc_dbg_quarantine(pcache_t *pc, unsigned ring, const struct pc_slab *sl,
    void *obj)
{
	struct pc_dbg *g = pc->dbg;
	struct pc_qring *q = &g->rings[ring % g->nring];
	/* Relaxed: drain_lock orders every writer; stats only read. */
	unsigned n = atomic_load_explicit(&q->n, memory_order_relaxed);

	if (n < g->qcap) {
		unsigned at = (q->head + n) % g->qcap;
		q->objs[at] = obj;
		q->slabs[at] = sl;
		atomic_store_explicit(&q->n, n + 1, memory_order_relaxed);
		return NULL;
	}
	void *old = q->objs[q->head];
	const struct pc_slab *oldsl = q->slabs[q->head];
	q->objs[q->head] = obj;
	q->slabs[q->head] = sl;
	q->head = (q->head + 1) % g->qcap;
	show(pc, old);
	check_redzone(pc, old, "when it left the quarantine");
	check_contents(pc, oldsl, old);
	hide(pc, old);
	return old;
}

/*
 * pc_dbg_unquarantine: up to `max` objects out of ring `ring` (-1: every
 * ring), oldest first, into buf; they are cached objects, still hidden.
 * Returns how many.  drain_lock held.
 */
size_t
pc_dbg_unquarantine(pcache_t *pc, int ring, void **buf, size_t max)
{
	struct pc_dbg *g = pc->dbg;
	size_t got = 0;

	if (g == NULL || g->qcap == 0)
		return 0;
	for (unsigned i = 0; i < g->nring && got < max; i++) {
		struct pc_qring *q = &g->rings[i];
		if (ring >= 0 && i != (unsigned)ring % g->nring)
			continue;
		/* Relaxed: as in pc_dbg_quarantine(). */
		unsigned n = atomic_load_explicit(&q->n, memory_order_relaxed);
		for (; n > 0 && got < max; n--) {
			buf[got++] = q->objs[q->head];
			q->head = (q->head + 1) % g->qcap;
		}
		atomic_store_explicit(&q->n, n, memory_order_relaxed);
	}
	return got;
}

/*
 * pc_dbg_quarantined: objects in ring `ring` (-1: in every ring).  Exact
 * under drain_lock; otherwise a snapshot that may be stale.
 */
uint64_t
pc_dbg_quarantined(const pcache_t *pc, int ring)
{
	const struct pc_dbg *g = pc->dbg;
	uint64_t n = 0;

	for (unsigned i = 0; g != NULL && g->qcap > 0 && i < g->nring; i++) {
		if (ring < 0 || i == (unsigned)ring % g->nring)
			/* Relaxed: a count; see the contract. */
			n += atomic_load_explicit(&g->rings[i].n, memory_order_relaxed);
	}
	return n;
}
