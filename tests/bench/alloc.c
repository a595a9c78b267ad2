/*
 * alloc.c -- the benchmark workloads, run either on libpcache or on the
 * process's malloc/free.  The driver (run_bench.py) runs this program once
 * per allocator and round, with LD_PRELOAD switching in jemalloc, tcmalloc
 * or mimalloc, and takes medians over the rounds.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * usage: bench_alloc [-t seconds] [-c pairs] pcache|malloc workload...
 *
 * Workloads (ns figures are per object: one get and one put):
 *   pair        get and put one 64 B object, over and over
 *   batch       get 1000 objects, then put the 1000 back
 *   bulk        the same with pcache_get_bulk()/pcache_put_bulk() (pcache only)
 *   page        4 KiB page-table pages, 16 at a time; libpcache keeps them
 *               constructed (ctor: zero, kernel entries, recursive slot),
 *               malloc runs the same initialisation on every allocation
 *   xcpu        producer thread on one CPU, consumer (which frees) on another;
 *               CPU time of both threads per object, waits on each other excluded
 *   bigbatch    batch with 3000 objects: three times a CPU's initial share
 *   wall2       2 threads, not pinned, each running the batch loop; wall time
 *   scale       N threads, each on its own CPU, each running the batch loop;
 *               N = 1, 2, 3, 4, 8, ... up to the allowed CPUs; per thread,
 *               wall time less the time the thread sat preempted
 *   rss         peak RSS growth for 1 M live 64 B objects, in MiB
 *   invalidate  pcache_invalidate() with M objects cached on every CPU (pcache only)
 *   probe       name the library that provides malloc()
 * In pcache mode the first line names the per-CPU layer: LAYER rseq|lock|none.
 * Single-thread figures are the thread's CPU time, so that other processes
 * on a shared machine do not inflate them.
 * With -c, runs exactly that many pair iterations, untimed and unpinned, and
 * prints nothing: for counting instructions under callgrind.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "bench.h"
#include "pcache.h"
#include "api.h"

#define CHUNK		10000		/* pair iterations per timed chunk */
#define PAGE_SIZE_PT	4096
#define PAGE_BATCH	16		/* page-table pages held at once */
#define PT_ENTRIES	(PAGE_SIZE_PT / 8)
#define PT_KERNEL	256		/* first kernel entry */
#define PT_NKERNEL	4		/* kernel entries copied in */
#define PT_RECURSIVE	510		/* the recursive slot */
#define PT_USER		1		/* the entry a "use" writes */
#define RSS_OBJS	(1u << 20)
#define RING		1024		/* producer -> consumer ring, power of two */
#define RING_PUB	32		/* objects between index updates */
#define RING_GAP	20e-6		/* a longer wait turn means the thread was off the CPU */
#define MAXT		256
#define INVAL_REPS	5

static const char *prog = "bench_alloc";

/* Per-workload state: the cache, or NULL for malloc, and a pointer array. */
struct ctx {
	pcache_t	*pc;
	void		**objs;
};

static unsigned cpus[MAXT];	/* CPUs this process may use */
static unsigned ncpus;

/* die: report a failure and exit; for conditions a benchmark cannot go on after. */
static void __attribute__((noreturn, noinline))
die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	exit(1);
}

/* cpu_relax: a spin-wait hint to the processor. */
static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* sleep_for: sleep `secs` seconds (EINTR restarts with the remainder). */
static void
sleep_for(double secs)
{
	struct timespec ts = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* bind_to: pin the calling thread to `cpu`; a failure is only reported. */
static void
bind_to(unsigned cpu)
{
	int error = pc_topo_bind_thread(cpu);

	if (error != 0)
		fprintf(stderr, "%s: cannot bind to CPU %u: %s\n", prog, cpu, strerror(error));
}

/* make_cache: a 64 B cache with no constructor, or exit. */
static pcache_t *
make_cache(const char *name)
{
	struct pcache_config cfg = { .size = BENCH_OBJSIZE };
	pcache_t *pc = pcache_create(name, &cfg);

	if (pc == NULL)
		die("pcache_create");
	return pc;
}

/* done_cache: destroy a cache that must be idle by now, or exit. */
static void
done_cache(pcache_t *pc)
{
	errno = pcache_destroy(pc);
	if (errno != 0)
		die("pcache_destroy");
}

/* obj_get: one 64 B object from the cache, or from malloc when pc is NULL. */
static inline uint64_t *
obj_get(pcache_t *pc)
{
	uint64_t *o = pc != NULL ? pcache_get(pc, 0) : malloc(BENCH_OBJSIZE);

	if (o == NULL)
		die("allocation");
	return o;
}

/* obj_put: give back what obj_get() returned. */
static inline void
obj_put(pcache_t *pc, void *o)
{
	if (pc != NULL)
		pcache_put(pc, o);
	else
		free(o);
}

/* ---- pair, batch, bulk ---- */

/* pair_chunk: CHUNK get/put pairs of one object, each written once. */
static uint64_t
pair_chunk(void *p)
{
	struct ctx *c = p;
	pcache_t *pc = c->pc;

	if (pc != NULL) {
		for (unsigned i = 0; i < CHUNK; i++) {
			uint64_t *o = pcache_get(pc, 0);
			if (o == NULL)
				die("pcache_get");
			o[0] = i;
			bench_escape(o);
			pcache_put(pc, o);
		}
	} else {
		for (unsigned i = 0; i < CHUNK; i++) {
			uint64_t *o = malloc(BENCH_OBJSIZE);
			if (o == NULL)
				die("malloc");
			o[0] = i;
			bench_escape(o);
			free(o);
		}
	}
	return CHUNK;
}

/* batch_n: get n objects, write each, put them all back. */
static uint64_t
batch_n(struct ctx *c, unsigned n)
{
	void **objs = c->objs;

	if (c->pc != NULL) {
		for (unsigned i = 0; i < n; i++) {
			uint64_t *o = pcache_get(c->pc, 0);
			if (o == NULL)
				die("pcache_get");
			o[0] = i;
			objs[i] = o;
		}
		bench_escape(objs);
		for (unsigned i = 0; i < n; i++)
			pcache_put(c->pc, objs[i]);
	} else {
		for (unsigned i = 0; i < n; i++) {
			uint64_t *o = malloc(BENCH_OBJSIZE);
			if (o == NULL)
				die("malloc");
			o[0] = i;
			objs[i] = o;
		}
		bench_escape(objs);
		for (unsigned i = 0; i < n; i++)
			free(objs[i]);
	}
	return n;
}

/* batch_chunk: batch_n() of BENCH_BATCH objects. */
static uint64_t
batch_chunk(void *p)
{
	return batch_n(p, BENCH_BATCH);
}

/*
 * bigbatch_chunk: batch_n() of BENCH_BIG objects, three times what a CPU
 * of the cache holds at first: the case its adaptive capacity is for.
 */
static uint64_t
bigbatch_chunk(void *p)
{
	return batch_n(p, BENCH_BIG);
}

/* bulk_chunk: the batch workload through the bulk calls (cache only). */
static uint64_t
bulk_chunk(void *p)
{
	struct ctx *c = p;
	void **objs = c->objs;

	if (pcache_get_bulk(c->pc, objs, BENCH_BATCH, 0) != 0)
		die("pcache_get_bulk");
	for (unsigned i = 0; i < BENCH_BATCH; i++)
		((uint64_t *)objs[i])[0] = i;
	bench_escape(objs);
	pcache_put_bulk(c->pc, objs, BENCH_BATCH);
	return BENCH_BATCH;
}

/* ---- page-table pages ---- */

/*
 * pt_init: build an empty page-table page: all zero, the shared kernel
 * entries copied in, and the recursive slot pointing at the page itself.
 * The constructor for libpcache, and what malloc's callers run every time.
 */
static void
pt_init(uint64_t *pt)
{
	memset(pt, 0, PAGE_SIZE_PT);
	for (unsigned k = 0; k < PT_NKERNEL; k++)
		pt[PT_KERNEL + k] = ((uint64_t)(k + 1) << 30) | 0x63;
	pt[PT_RECURSIVE] = (uint64_t)(uintptr_t)pt | 0x63;
}

/* pt_ctor: pcache constructor wrapping pt_init(); never fails. */
static int
pt_ctor(void *arg, void *obj, int flags)
{
	(void)arg;
	(void)flags;
	pt_init(obj);
	return 0;
}

/*
 * page_chunk: take PAGE_BATCH page-table pages, map one user entry in each,
 * then give them back.  A cached page must go back constructed, so the
 * libpcache side clears its user entry before the put.
 */
static uint64_t
page_chunk(void *p)
{
	struct ctx *c = p;
	uint64_t **pts = (uint64_t **)c->objs;

	if (c->pc != NULL) {
		for (unsigned i = 0; i < PAGE_BATCH; i++) {
			pts[i] = pcache_get(c->pc, 0);
			if (pts[i] == NULL)
				die("pcache_get");
			pts[i][PT_USER] = ((uint64_t)i << 12) | 0x67;
		}
		bench_escape(pts);
		for (unsigned i = 0; i < PAGE_BATCH; i++) {
			pts[i][PT_USER] = 0;
			pcache_put(c->pc, pts[i]);
		}
	} else {
		for (unsigned i = 0; i < PAGE_BATCH; i++) {
			pts[i] = aligned_alloc(PAGE_SIZE_PT, PAGE_SIZE_PT);
			if (pts[i] == NULL)
				die("aligned_alloc");
			pt_init(pts[i]);
			pts[i][PT_USER] = ((uint64_t)i << 12) | 0x67;
		}
		bench_escape(pts);
		for (unsigned i = 0; i < PAGE_BATCH; i++)
			free(pts[i]);
	}
	return PAGE_BATCH;
}

/* ---- producer -> consumer ---- */

/*
 * A single-producer single-consumer ring of object pointers.  Each side
 * publishes its index every RING_PUB objects, and always before it waits,
 * so the two CPUs trade the index lines once per few dozen objects rather
 * than once per object, and the figure is mostly the allocator's.
 */
struct ring {
	_Alignas(64) atomic_size_t head;	/* next slot to read */
	_Alignas(64) atomic_size_t tail;	/* next slot to write */
	_Alignas(64) void *slot[RING];
};

/*
 * One side's private view: its own index, what it last published, the
 * other's as last read; and the seconds it spent waiting on the other.
 */
struct ring_side {
	size_t	 mine, pub, theirs;
	double	 spin;
};

struct xcpu {
	pcache_t	*pc;
	struct ring	ring;
	double		secs;
	double		cpu_p, cpu_c;	/* CPU seconds of each side, waits excluded */
	uint64_t	n;		/* objects consumed */
	atomic_int	go;
};

/* ring_publish: make the side's index visible; release orders its slot accesses first. */
static inline void
ring_publish(atomic_size_t *idx, struct ring_side *s)
{
	atomic_store_explicit(idx, s->mine, memory_order_release);
	s->pub = s->mine;
}

/*
 * ring_spin: one turn of a wait loop.  Adds the time since the previous
 * turn to the side's spin total unless the gap shows the thread was off
 * the CPU meanwhile (CPU time does not include that either).
 */
static inline void
ring_spin(struct ring_side *s, double *prev)
{
	cpu_relax();
	double t = bench_now();
	if (t - *prev < RING_GAP)
		s->spin += t - *prev;
	*prev = t;
}

/* ring_push: append p, waiting while the ring is full (one producer only). */
static inline void
ring_push(struct ring *r, struct ring_side *s, void *p)
{
	if (s->mine - s->theirs == RING) {
		double prev = bench_now();
		for (;;) {
			if (s->pub != s->mine)
				ring_publish(&r->tail, s);
			/* Acquire: the consumer is done with the slots it gave back. */
			s->theirs = atomic_load_explicit(&r->head, memory_order_acquire);
			if (s->mine - s->theirs != RING)
				break;
			ring_spin(s, &prev);
		}
	}
	r->slot[s->mine & (RING - 1)] = p;
	s->mine++;
	if (s->mine - s->pub >= RING_PUB)
		ring_publish(&r->tail, s);
}

/* ring_pop: take the oldest pointer, waiting while empty (one consumer only). */
static inline void *
ring_pop(struct ring *r, struct ring_side *s)
{
	if (s->mine == s->theirs) {
		double prev = bench_now();
		for (;;) {
			if (s->pub != s->mine)
				ring_publish(&r->head, s);
			/* Acquire: pairs with the producer's release of the slots. */
			s->theirs = atomic_load_explicit(&r->tail, memory_order_acquire);
			if (s->mine != s->theirs)
				break;
			ring_spin(s, &prev);
		}
	}
	void *p = r->slot[s->mine & (RING - 1)];
	s->mine++;
	if (s->mine - s->pub >= RING_PUB)
		ring_publish(&r->head, s);
	return p;
}

/* producer: get objects, stamp them and pass them on until time is up; then NULL. */
static void *
producer(void *p)
{
	struct xcpu *x = p;
	struct ring_side s = { 0, 0, 0, 0 };
	uint64_t seq = 0;

	bind_to(cpus[0]);
	while (!atomic_load(&x->go))
		cpu_relax();
	double c0 = bench_cpu_now();
	double end = bench_now() + x->secs;
	do {
		for (unsigned i = 0; i < 64; i++) {
			uint64_t *o = obj_get(x->pc);
			o[0] = seq++;
			ring_push(&x->ring, &s, o);
		}
	} while (bench_now() < end);
	ring_push(&x->ring, &s, NULL);
	ring_publish(&x->ring.tail, &s);
	x->cpu_p = bench_cpu_now() - c0 - s.spin;
	return NULL;
}

/* consumer: read each object's stamp and free it, until the NULL. */
static void *
consumer(void *p)
{
	struct xcpu *x = p;
	struct ring_side s = { 0, 0, 0, 0 };
	uint64_t n = 0, sum = 0;
	uint64_t *o;

	bind_to(cpus[1]);
	double c0 = bench_cpu_now();
	atomic_store(&x->go, 1);
	while ((o = ring_pop(&x->ring, &s)) != NULL) {
		sum += o[0];
		obj_put(x->pc, o);
		n++;
	}
	x->cpu_c = bench_cpu_now() - c0 - s.spin;
	x->n = n;
	bench_escape(&sum);
	return NULL;
}

/*
 * xcpu_once: one producer/consumer run of `secs`; CPU nanoseconds per
 * object, both threads together, time spent waiting on the other side
 * excluded: what moving one object from a get on one CPU to a put on
 * another costs, ring included, however the two threads were scheduled.
 */
static double
xcpu_once(pcache_t *pc, double secs)
{
	struct xcpu *x = aligned_alloc(64, sizeof(*x));
	pthread_t tp, tc;

	if (x == NULL)
		die("aligned_alloc");
	memset(x, 0, sizeof(*x));
	x->pc = pc;
	x->secs = secs;
	atomic_init(&x->ring.head, 0);
	atomic_init(&x->ring.tail, 0);
	atomic_init(&x->go, 0);
	if (pthread_create(&tp, NULL, producer, x) != 0 ||
	    pthread_create(&tc, NULL, consumer, x) != 0)
		die("pthread_create");
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	double ns = x->n == 0 ? 0 : (x->cpu_p + x->cpu_c) * 1e9 / (double)x->n;
	free(x);
	return ns;
}

/* ---- scaling ---- */

struct scaler {
	pcache_t	*pc;
	unsigned	 cpu;		/* UINT32_MAX: not pinned, wall time */
	double		 warm;		/* seconds before counting starts */
	atomic_int	*go, *stop;
	double		 ns;		/* result: ns per pair on this thread */
};

/*
 * scale_thread: the batch loop on one CPU until told to stop.  Its time is
 * wall time less the time it sat preempted, so that waits on the cache's
 * locks count and other processes' use of the CPU does not.
 */
static void *
scale_thread(void *p)
{
	struct scaler *s = p;
	struct ctx c = { s->pc, calloc(BENCH_BATCH, sizeof(void *)) };
	uint64_t ops = 0;

	if (c.objs == NULL)
		die("calloc");
	if (s->cpu != UINT32_MAX)
		bind_to(s->cpu);
	while (!atomic_load(s->go))
		cpu_relax();
	double start = bench_now() + s->warm;
	while (bench_now() < start)
		batch_chunk(&c);
	start = bench_now();
	double w0 = bench_rq_wait();
	while (!atomic_load_explicit(s->stop, memory_order_relaxed))
		ops += batch_chunk(&c);
	double busy = bench_now() - start;
	if (s->cpu != UINT32_MAX)
		busy -= bench_rq_wait() - w0;
	s->ns = ops == 0 ? 0 : busy * 1e9 / (double)ops;
	free(c.objs);
	return NULL;
}

/*
 * scale_point: k threads for `secs`; mean over threads of ns per pair.
 * Pinned, each thread's time less its preemption; unpinned, wall time.
 */
static double
scale_point(pcache_t *pc, unsigned k, double secs, bool pinned)
{
	static struct scaler s[MAXT];
	pthread_t t[MAXT];
	atomic_int go = 0, stop = 0;
	double sum = 0;

	for (unsigned i = 0; i < k; i++) {
		s[i] = (struct scaler){ pc, pinned ? cpus[i] : UINT32_MAX,
		    secs / 5, &go, &stop, 0 };
		if (pthread_create(&t[i], NULL, scale_thread, &s[i]) != 0)
			die("pthread_create");
	}
	atomic_store(&go, 1);
	sleep_for(secs + secs / 5);
	atomic_store(&stop, 1);
	for (unsigned i = 0; i < k; i++) {
		pthread_join(t[i], NULL);
		sum += s[i].ns;
	}
	return sum / k;
}

/* ---- memory ---- */

/* status_kib: a "kB" field of /proc/self/status, or -1. */
static long
status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t len = strlen(key);

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * rss: peak RSS growth, in MiB, while 1 M live 64 B objects are held, each
 * written in full.  The pointer array (and the cache itself) exist before
 * the baseline is read, so only the objects and their bookkeeping count.
 */
static double
rss(pcache_t *pc)
{
	void **objs = malloc(RSS_OBJS * sizeof(void *));

	if (objs == NULL)
		die("malloc");
	/* Not zero: malloc + memset(0) may become calloc and leave the pages untouched. */
	memset(objs, 0xa5, RSS_OBJS * sizeof(void *));
	long base = status_kib("VmRSS");
	for (unsigned i = 0; i < RSS_OBJS; i++) {
		objs[i] = obj_get(pc);
		memset(objs[i], (int)(i & 0xff), BENCH_OBJSIZE);
	}
	bench_escape(objs);
	long peak = status_kib("VmHWM");
	for (unsigned i = 0; i < RSS_OBJS; i++)
		obj_put(pc, objs[i]);
	free(objs);
	if (base < 0 || peak < 0)
		return -1;
	return (double)(peak - base) / 1024;
}

/* ---- invalidation ---- */

/* fill_cpus: on every allowed CPU, get m objects and put them back there. */
static void
fill_cpus(pcache_t *pc, void **objs, unsigned m)
{
	for (unsigned c = 0; c < ncpus; c++) {
		bind_to(cpus[c]);
		for (unsigned i = 0; i < m; i++)
			objs[i] = obj_get(pc);
		for (unsigned i = 0; i < m; i++)
			pcache_put(pc, objs[i]);
	}
	bind_to(cpus[0]);
}

/* invalidate: microseconds per pcache_invalidate() with m objects per CPU. */
static double
invalidate(pcache_t *pc, unsigned m)
{
	void **objs = calloc(m + 1, sizeof(void *));
	double v[INVAL_REPS];

	if (objs == NULL)
		die("calloc");
	for (int r = 0; r < INVAL_REPS; r++) {
		fill_cpus(pc, objs, m);
		double t0 = bench_now();
		pcache_invalidate(pc);
		v[r] = (bench_now() - t0) * 1e6;
	}
	free(objs);
	return bench_median(v, INVAL_REPS);
}

/* ---- driver ---- */

/* probe: print which shared object provides malloc() in this process. */
static void
probe(void)
{
	Dl_info info;
	void *(*m)(size_t) = malloc;
	void *addr;

	memcpy(&addr, &m, sizeof(addr));
	if (dladdr(addr, &info) != 0 && info.dli_fname != NULL)
		printf("MALLOC %s\n", info.dli_fname);
	else
		printf("MALLOC unknown\n");
}

/* run_workload: run one named workload and print its figures; false if unknown. */
static bool
run_workload(const char *w, bool use_pcache, double secs)
{
	struct ctx c = { NULL, calloc(BENCH_BIG, sizeof(void *)) };
	bool ok = true;

	if (c.objs == NULL)
		die("calloc");
	if (strcmp(w, "pair") == 0 || strcmp(w, "batch") == 0) {
		c.pc = use_pcache ? make_cache(w) : NULL;
		bench_result(w, "ns", bench_timed(w[0] == 'p' ? pair_chunk : batch_chunk, &c, secs));
	} else if (strcmp(w, "bulk") == 0) {
		if (use_pcache) {
			c.pc = make_cache(w);
			bench_result(w, "ns", bench_timed(bulk_chunk, &c, secs));
		}
	} else if (strcmp(w, "page") == 0) {
		if (use_pcache) {
			struct pcache_config cfg = { .size = PAGE_SIZE_PT,
			    .align = PAGE_SIZE_PT, .ctor = pt_ctor };
			c.pc = pcache_create("pagetable", &cfg);
			if (c.pc == NULL)
				die("pcache_create");
		}
		bench_result(w, "ns", bench_timed(page_chunk, &c, secs));
	} else if (strcmp(w, "xcpu") == 0) {
		if (ncpus >= 2) {
			c.pc = use_pcache ? make_cache(w) : NULL;
			xcpu_once(c.pc, secs / 5);
			bench_result(w, "ns", xcpu_once(c.pc, secs));
		}
	} else if (strcmp(w, "scale") == 0) {
		char name[32];
		c.pc = use_pcache ? make_cache(w) : NULL;
		for (unsigned k = 1;; k = k < 4 ? k + 1 : 2 * k) {
			if (k > ncpus)
				k = ncpus;
			snprintf(name, sizeof(name), "scale-%u", k);
			bench_result(name, "ns", scale_point(c.pc, k, secs, true));
			if (k == ncpus)
				break;
		}
	} else if (strcmp(w, "wall2") == 0) {
		c.pc = use_pcache ? make_cache(w) : NULL;
		bench_result(w, "ns", scale_point(c.pc, ncpus < 2 ? ncpus : 2,
		    secs, false));
	} else if (strcmp(w, "bigbatch") == 0) {
		c.pc = use_pcache ? make_cache(w) : NULL;
		bench_result(w, "ns", bench_timed(bigbatch_chunk, &c, secs));
	} else if (strcmp(w, "rss") == 0) {
		c.pc = use_pcache ? make_cache(w) : NULL;
		bench_result(w, "MiB", rss(c.pc));
	} else if (strcmp(w, "invalidate") == 0) {
		static const unsigned ms[] = { 0, 100, 1000, 10000 };
		char name[32];
		if (use_pcache) {
			c.pc = make_cache(w);
			for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
				snprintf(name, sizeof(name), "inval-%u", ms[i]);
				bench_result(name, "us", invalidate(c.pc, ms[i]));
			}
		}
	} else if (strcmp(w, "probe") == 0) {
		probe();
	} else {
		ok = false;
	}
	if (c.pc != NULL)
		done_cache(c.pc);
	free(c.objs);
	return ok;
}

/*
 * layer_name: the per-CPU layer a new cache gets here ("rseq", "lock" or
 * "none"), as pcache_get_stats() reports it.
 */
static const char *
layer_name(void)
{
#ifdef PCACHE_FASTPATH_RSEQ
	pcache_t *pc = make_cache("layer");
	struct pcache_stats st;
	const char *name = "unknown";

	if (pcache_get_stats(pc, &st) == 0)
		name = st.fastpath == PCACHE_FASTPATH_RSEQ ? "rseq" :
		    st.fastpath == PCACHE_FASTPATH_LOCK ? "lock" : "none";
	done_cache(pc);
	return name;
#else
	return "lock";
#endif
}

/* usage: print how to call the program; returns the exit status 2. */
static int
usage(void)
{
	fprintf(stderr, "usage: %s [-t seconds] [-c pairs] pcache|malloc workload...\n"
	    "workloads: pair batch bulk bigbatch page xcpu scale wall2 rss invalidate probe\n", prog);
	return 2;
}

/*
 * main: run the named workloads on the chosen allocator and print their
 * figures; 0, 1 on a failure, 2 on bad usage.
 */
int
main(int argc, char **argv)
{
	double secs = 0.1;
	unsigned long count = 0;
	int opt;

	while ((opt = getopt(argc, argv, "t:c:")) != -1) {
		switch (opt) {
		case 't':
			secs = bench_seconds(optarg, secs);
			break;
		case 'c':
			count = strtoul(optarg, NULL, 10);
			break;
		default:
			return usage();
		}
	}
	if (argc - optind < 1)
		return usage();
	bool use_pcache = strcmp(argv[optind], "pcache") == 0;
	if (!use_pcache && strcmp(argv[optind], "malloc") != 0)
		return usage();

	if (use_pcache) {
		printf("LAYER %s\n", layer_name());
		fflush(stdout);
	}
	if (count > 0) {
		/* Exactly `count` pairs (rounded up to whole chunks), nothing else. */
		struct ctx c = { use_pcache ? make_cache("count") : NULL, NULL };
		for (unsigned long done = 0; done < count; done += CHUNK)
			pair_chunk(&c);
		if (c.pc != NULL)
			done_cache(c.pc);
		return 0;
	}

	int n = pc_topo_allowed_cpus(cpus, MAXT);
	if (n <= 0) {
		fprintf(stderr, "%s: cannot read the CPU topology\n", prog);
		return 1;
	}
	ncpus = n > MAXT ? MAXT : (unsigned)n;
	bind_to(cpus[0]);
	for (int i = optind + 1; i < argc; i++) {
		if (!run_workload(argv[i], use_pcache, secs)) {
			fprintf(stderr, "%s: unknown workload '%s'\n", prog, argv[i]);
			return usage();
		}
	}
	return 0;
}
