/*
 * fuzz_ops.c -- libFuzzer harness: the input is a program of cache
 * operations on up to three caches, run against a model of what the
 * contract promises, checked after every step.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * The model is deliberately small: per cache, the set of objects handed
 * out (with what was written into them), the ctor/dtor counts, the limits
 * last set, and the allocator's page count.  Everything else (what sits in
 * magazines, the depot or free slabs) is read back from pcache_get_stats()
 * and held against the contract's invariants:
 *
 *   - objects handed out are distinct, aligned, constructed, and keep what
 *     was written into them until they are put back;
 *   - ctor_calls - dtor_calls == in_use + cached_cpu + cached_depot, and
 *     the library's counts equal the callbacks' own;
 *   - after pcache_invalidate nothing is cached and no later get returns an
 *     object built before it; pcache_invalidate_local empties this CPU;
 *   - pcache_destroy returns EBUSY exactly when objects are outstanding,
 *     and 0 leaves every object destructed once and every page returned;
 *   - with a hard limit, a get never takes the slab layer above it;
 *   - a get fails only as the model predicts, with the predicted errno.
 *
 * Every get uses PCACHE_NOWAIT unless the model proves it cannot sleep,
 * so the harness is single-threaded and never blocks.  The thread is
 * pinned to one CPU when the system allows, which makes "a cached object
 * exists" the same as "this get is served without the slab layer"; when
 * it is not pinned, the predictions that depend on it are relaxed.
 *
 * Input encoding (gen_corpus.py writes seeds in it): each step is one
 * byte b, operation b % NOPS on cache (b / NOPS) % NCACHE, followed by the
 * operation's operand bytes; a step on an empty slot first reads four
 * bytes of configuration (op_create()).  Bytes past the end read as 0.
 * FUZZ_OPS_TRACE=1 in the environment prints every step.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcache.h"
#include "api.h"

#define NCACHE		3
#define MAX_HELD	256	/* objects out per cache */
#define MAX_BULK	96
#define MAX_STEPS	4096

#define MAGIC_LIVE	0x4c495645u	/* "LIVE": written by the ctor */
#define MAGIC_DEAD	0x44454144u	/* "DEAD": written by the dtor */
#define FILL_BYTE	0xa5		/* fresh pages from the counting allocator */

/*
 * The header a ctor-carrying cache's objects start with.  The ctor and the
 * dtor own `magic`; the harness keeps `state` and `gen` up to date while it
 * holds the object, as a caller updates its objects after changing the
 * constructor's input.  The rest of the object is the caller's.
 */
struct fhdr {
	uint32_t magic;
	uint16_t cache;		/* index of the owning cache */
	uint16_t state;		/* ST_* */
	uint32_t gen;		/* the cache's generation when built or updated */
	uint32_t pad;
	uint64_t serial;	/* distinct per construction */
};

enum { ST_FRESH = 1, ST_CACHED = 2, ST_HELD = 3 };

/* A counting page allocator with a failure switch. */
struct falloc {
	uint64_t allocs, frees;
	bool fail;
	size_t pagesize;
};

struct held {
	void *p;
	uint64_t tag;		/* seeds the pattern written into the object */
};

struct fcache {
	pcache_t *pc;
	unsigned id;
	size_t size, align;
	bool ctor, dtor, own_alloc;
	struct falloc fa;
	struct pcache_allocator a;
	int ctor_fail;		/* what the ctor returns; 0: it succeeds */
	uint64_t ctor_calls, dtor_calls;
	uint64_t serial;
	uint32_t gen;
	size_t lowat, hiwat, hardlimit;
	uint64_t last_out;	/* objects out of the slab layer after the last step */
	struct held held[MAX_HELD];
	size_t nheld;
};

/*
 * The harness's own loops over objects and held sets are not worth the
 * fuzzer's comparison tracing, which would otherwise take most of the time.
 */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

static struct fcache caches[NCACHE];
static bool pinned;		/* the thread runs on one CPU only */
static bool trace;		/* FUZZ_OPS_TRACE set: print every step */
static uint64_t tags;

/*
 * fail: report a broken promise and abort, which libFuzzer records as a
 * crash together with the input.
 */
static void __attribute__((noreturn, format(printf, 2, 3)))
fail(const struct fcache *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_ops: cache %u (size %zu align %zu%s%s%s): ",
	    c != NULL ? c->id : 99, c != NULL ? c->size : 0,
	    c != NULL ? c->align : 0, c != NULL && c->ctor ? " ctor" : "",
	    c != NULL && c->dtor ? " dtor" : "",
	    c != NULL && c->own_alloc ? " own-alloc" : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#define CHECK(c, cond, ...) do {					\
	if (!(cond))							\
		fail((c), __VA_ARGS__);					\
} while (0)

/* ---- input -------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t n;
};

/* rd_u8: the next input byte, or 0 once the input is used up. */
static unsigned
rd_u8(struct rd *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

/* ---- callbacks ---------------------------------------------------------- */

/* held_index: where `p` sits in the cache's held set, or -1. */
NO_COVERAGE static long
held_index(const struct fcache *c, const void *p)
{
	for (size_t i = 0; i < c->nheld; i++) {
		if (c->held[i].p == p)
			return (long)i;
	}
	return -1;
}

/*
 * f_ctor: stamp the object as constructed.  Refuses raw memory that still
 * looks constructed (a second ctor without a dtor between) or that the
 * harness holds.
 */
static int
f_ctor(void *arg, void *obj, int flags)
{
	struct fcache *c = arg;
	struct fhdr *h = obj;

	CHECK(c, (flags & ~PCACHE_NOWAIT) == 0, "ctor got flags %#x", flags);
	if (c->ctor_fail != 0)
		return c->ctor_fail;
	CHECK(c, held_index(c, obj) < 0, "ctor on an object in use %p", obj);
	if (c->dtor)
		CHECK(c, h->magic != MAGIC_LIVE, "ctor on a constructed object %p", obj);
	h->magic = MAGIC_LIVE;
	h->cache = (uint16_t)c->id;
	h->state = ST_FRESH;
	h->gen = c->gen;
	h->serial = ++c->serial;
	c->ctor_calls++;
	return 0;
}

/* f_dtor: undo f_ctor; never on an object in use, never twice. */
static void
f_dtor(void *arg, void *obj)
{
	struct fcache *c = arg;
	struct fhdr *h = obj;

	CHECK(c, held_index(c, obj) < 0, "dtor on an object in use %p", obj);
	if (c->ctor) {
		CHECK(c, h->magic == MAGIC_LIVE, "dtor on an object not constructed %p "
		    "(magic %#x)", obj, h->magic);
		CHECK(c, h->state == ST_CACHED || h->state == ST_FRESH,
		    "dtor on %p in state %u", obj, h->state);
		h->magic = MAGIC_DEAD;
	}
	c->dtor_calls++;
}

/*
 * fa_alloc, fa_free: pages from aligned_alloc, so that AddressSanitizer
 * sees any touch of a slab after it went back.  Fresh pages are filled
 * with FILL_BYTE, as fresh memory holds no constructed stamp.
 */
static void *
fa_alloc(void *ctx, size_t size, int flags)
{
	struct fcache *c = ctx;

	CHECK(c, size == c->fa.pagesize, "alloc of %zu bytes, page is %zu",
	    size, c->fa.pagesize);
	CHECK(c, (flags & ~PCACHE_NOWAIT) == 0, "alloc got flags %#x", flags);
	if (c->fa.fail)
		return NULL;
	void *p = aligned_alloc(size, size);
	if (p == NULL)
		return NULL;
	memset(p, FILL_BYTE, size);
	c->fa.allocs++;
	return p;
}

/* fa_free: take back a page of fa_alloc(), checking its size and alignment. */
static void
fa_free(void *ctx, void *mem, size_t size)
{
	struct fcache *c = ctx;

	CHECK(c, size == c->fa.pagesize, "free of %zu bytes, page is %zu",
	    size, c->fa.pagesize);
	CHECK(c, ((uintptr_t)mem & (size - 1)) == 0, "free of unaligned %p", mem);
	free(mem);
	c->fa.frees++;
}

/* ---- objects handed out ------------------------------------------------- */

/* user_off: where the caller's part of an object starts. */
static size_t
user_off(const struct fcache *c)
{
	return c->ctor ? sizeof(struct fhdr) : 0;
}

/*
 * pattern: the word written at word index i of an object held under
 * `tag`; words make filling and checking large objects cheap.
 */
static uint64_t
pattern(uint64_t tag, size_t i)
{
	return (tag * 0x9e3779b97f4a7c15u) ^ ((uint64_t)i * 0xff51afd7ed558ccdu);
}

/*
 * fill, verify: write and check the caller's part of a held object, in
 * whole words and then the tail bytes (of the next word's pattern).
 */
NO_COVERAGE static void
fill(const struct fcache *c, const struct held *h)
{
	unsigned char *b = (unsigned char *)h->p + user_off(c);
	size_t len = c->size - user_off(c), i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = pattern(h->tag, i / 8);
		memcpy(b + i, &w, 8);
	}
	uint64_t w = pattern(h->tag, i / 8);
	memcpy(b + i, &w, len - i);
}

/* verify: also the header of a ctor-carrying cache's object. */
NO_COVERAGE static void
verify(const struct fcache *c, const struct held *h)
{
	const unsigned char *b = (const unsigned char *)h->p + user_off(c);
	size_t len = c->size - user_off(c), i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = pattern(h->tag, i / 8);
		CHECK(c, memcmp(b + i, &w, 8) == 0,
		    "object %p in use changed at byte %zu", h->p, user_off(c) + i);
	}
	uint64_t w = pattern(h->tag, i / 8);
	CHECK(c, memcmp(b + i, &w, len - i) == 0,
	    "object %p in use changed at byte %zu", h->p, user_off(c) + i);
	if (c->ctor) {
		const struct fhdr *f = h->p;
		CHECK(c, f->magic == MAGIC_LIVE && f->state == ST_HELD &&
		    f->gen == c->gen, "object %p in use lost its header "
		    "(magic %#x state %u gen %u/%u)", h->p, f->magic, f->state,
		    f->gen, c->gen);
	}
}

/* verify_all: every object the cache has out is as its holder left it. */
static void
verify_all(const struct fcache *c)
{
	for (size_t i = 0; i < c->nheld; i++)
		verify(c, &c->held[i]);
}

/* overlapping: an object held from any cache that [p, p + size) overlaps. */
NO_COVERAGE static const void *
overlapping(const void *p, size_t size)
{
	const char *a = p;

	for (unsigned k = 0; k < NCACHE; k++) {
		const struct fcache *o = &caches[k];
		for (size_t i = 0; o->pc != NULL && i < o->nheld; i++) {
			const char *q = o->held[i].p;
			if (a < q + o->size && q < a + size)
				return q;
		}
	}
	return NULL;
}

/*
 * took: the cache handed out `p`.  It must be aligned, overlap no object
 * held from any cache, and (with a ctor) be constructed, of this cache and
 * of the current generation.  Then the harness writes its pattern.
 */
static void
took(struct fcache *c, void *p)
{
	CHECK(c, p != NULL, "took NULL");
	CHECK(c, c->nheld < MAX_HELD, "held set overflow");
	if (c->align != 0)
		CHECK(c, ((uintptr_t)p & (c->align - 1)) == 0, "%p not aligned", p);
	const void *q = overlapping(p, c->size);
	CHECK(c, q == NULL, "%p handed out overlaps %p, held", p, q);
	if (c->ctor) {
		struct fhdr *f = p;
		CHECK(c, f->magic == MAGIC_LIVE, "%p handed out not constructed", p);
		CHECK(c, f->cache == c->id, "%p was built by cache %u", p, f->cache);
		CHECK(c, f->state == ST_FRESH || f->state == ST_CACHED,
		    "%p handed out in state %u", p, f->state);
		CHECK(c, f->gen == c->gen, "%p built before an invalidate (gen %u, now %u)",
		    p, f->gen, c->gen);
		f->state = ST_HELD;
	}
	struct held *h = &c->held[c->nheld++];
	h->p = p;
	h->tag = ++tags;
	fill(c, h);
}

/* giving: take held[i] out of the set, checked, ready to be put back. */
static void *
giving(struct fcache *c, size_t i)
{
	struct held h = c->held[i];

	verify(c, &h);
	c->held[i] = c->held[--c->nheld];
	if (c->ctor)
		((struct fhdr *)h.p)->state = ST_CACHED;
	return h.p;
}

/* ---- the model's checks ------------------------------------------------- */

/* stats: the cache's statistics, which must be available. */
static struct pcache_stats
stats(struct fcache *c)
{
	struct pcache_stats st;

	CHECK(c, pcache_get_stats(c->pc, &st) == 0, "get_stats failed");
	return st;
}

/* cached: constructed objects in the cache layer, CPUs and depot. */
static uint64_t
cached(const struct pcache_stats *st)
{
	return st->cached_cpu + st->cached_depot;
}

/*
 * check_cache: the invariants that hold after every step, against the
 * statistics and the model.  Also enforces the hard limit: no step may
 * take more objects out of the slab layer than the limit allows, unless
 * they were out already when the limit was set.
 */
static struct pcache_stats
check_cache(struct fcache *c)
{
	struct pcache_stats st = stats(c);
	uint64_t out = st.in_use + cached(&st);

	CHECK(c, st.in_use == c->nheld, "in_use %llu, model holds %zu",
	    (unsigned long long)st.in_use, c->nheld);
	if (c->ctor) {
		CHECK(c, st.ctor_calls == c->ctor_calls, "ctor_calls %llu, ctor ran %llu",
		    (unsigned long long)st.ctor_calls, (unsigned long long)c->ctor_calls);
		CHECK(c, st.ctor_calls - st.dtor_calls == out,
		    "balance: ctor %llu - dtor %llu != in_use %llu + cached %llu",
		    (unsigned long long)st.ctor_calls, (unsigned long long)st.dtor_calls,
		    (unsigned long long)st.in_use, (unsigned long long)cached(&st));
	}
	/* Without a dtor the library still counts each destruction. */
	if (c->dtor)
		CHECK(c, st.dtor_calls == c->dtor_calls, "dtor_calls %llu, dtor ran %llu",
		    (unsigned long long)st.dtor_calls, (unsigned long long)c->dtor_calls);
	if (!c->pc->rseq)
		CHECK(c, st.gets - st.puts == st.in_use, "gets - puts != in_use");
	CHECK(c, st.objsize >= c->size, "objsize %zu below size", st.objsize);
	if (c->align != 0)
		CHECK(c, st.objsize % c->align == 0, "objsize %zu not aligned", st.objsize);
	if (c->own_alloc) {
		CHECK(c, st.slabs == c->fa.allocs - c->fa.frees,
		    "slabs %llu, allocator has %llu pages out",
		    (unsigned long long)st.slabs,
		    (unsigned long long)(c->fa.allocs - c->fa.frees));
		CHECK(c, st.bytes == st.slabs * c->fa.pagesize, "bytes != slabs * page");
	}
	if (c->hardlimit != 0) {
		uint64_t cap = c->hardlimit > c->last_out ? c->hardlimit : c->last_out;
		CHECK(c, out <= cap, "%llu out of the slab layer, limit %zu (was %llu)",
		    (unsigned long long)out, c->hardlimit,
		    (unsigned long long)c->last_out);
	}
	c->last_out = out;
	return st;
}

/*
 * predict_gets: the errno that n NOWAIT gets in a row would fail with,
 * or 0 if all succeed, from the figures in *st: cached objects first,
 * then (below the hard limit) raw objects, then fresh slabs.  *exact is
 * false where the thread is not pinned and a cached object on another
 * CPU might not be found before the slab layer is tried.
 */
static int
predict_gets(const struct fcache *c, const struct pcache_stats *st, size_t n,
    bool *exact)
{
	uint64_t cach = cached(st), rawfree = st->slab_free;
	uint64_t out = st->in_use + cach;

	*exact = pinned || (!c->fa.fail && c->ctor_fail == 0) || cach == 0;
	for (size_t i = 0; i < n; i++) {
		if (cach > 0) {
			cach--;
			continue;
		}
		if (c->hardlimit != 0 && out >= c->hardlimit)
			return EAGAIN;
		if (rawfree == 0) {
			if (c->fa.fail)
				return ENOMEM;
			rawfree = c->pc->slab_nobj;
		}
		if (c->ctor_fail != 0)
			return c->ctor_fail > 0 ? c->ctor_fail : EINVAL;
		rawfree--;
		out++;
	}
	return 0;
}

/* error_possible: an errno that some path of an inexact prediction allows. */
static bool
error_possible(const struct fcache *c, int err)
{
	return (err == EAGAIN && c->hardlimit != 0) ||
	    (err == ENOMEM && c->fa.fail) ||
	    (c->ctor_fail != 0 && err == (c->ctor_fail > 0 ? c->ctor_fail : EINVAL));
}

/* ---- operations --------------------------------------------------------- */

static const size_t sizes[] = {
	1, 3, 8, 15, 16, 24, 40, 64, 100, 128, 200, 256, 257, 500, 512, 1000,
	1024, 1500, 2048, 3000, 4096, 4097, 6000, 8192, 12000, 40000,
};
static const size_t pagesizes[] = { 0, 4096, 8192, 16384, 65536, 2048, 12288 };

/* pow2: x is a power of two. */
static bool
pow2(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/*
 * op_create: a cache from the next input bytes, or none where the
 * configuration is one the contract rejects (checked: EINVAL exactly
 * then).
 */
static void
op_create(struct fcache *c, unsigned id, struct rd *r)
{
	unsigned b0 = rd_u8(r), b1 = rd_u8(r), b2 = rd_u8(r), b3 = rd_u8(r);
	struct pcache_config cfg = { 0 };
	bool bad = false;

	memset(c, 0, sizeof(*c));
	c->id = id;
	c->ctor = (b3 & 0x3) != 0;		/* ctor+dtor, ctor alone, or neither */
	c->dtor = (b3 & 0x3) == 1 || (b3 & 0x3) == 3;
	if ((b3 & 0x3) == 3)
		c->ctor = false;		/* a dtor alone */
	c->size = sizes[b0 % (sizeof(sizes) / sizeof(sizes[0]))] + (b1 & 7);
	if (c->ctor && c->size < sizeof(struct fhdr))
		c->size = sizeof(struct fhdr);
	c->align = (b2 & 0xf) < 8 ? 0 : (size_t)1 << ((b2 & 0xf) - 3);	/* 0, 32..4096 */
	if ((b2 & 0xf) == 3 && (b1 & 0x8))
		c->align = (size_t)1 << (b2 >> 5);	/* 1..128 */
	cfg.align = c->align;
	if ((b2 & 0xf) == 2 && (b1 & 0x10)) {
		cfg.align = 24;			/* not a power of two */
		bad = true;
	}
	cfg.size = c->size;
	cfg.flags = ((b3 & 0x4) ? PCACHE_NOCPU : 0) | ((b3 & 0x8) ? PCACHE_DEBUG : 0);
	if ((b3 & 0xf0) == 0xf0) {
		cfg.flags |= 0x40;		/* unknown */
		bad = true;
	}
	cfg.ctor = c->ctor ? f_ctor : NULL;
	cfg.dtor = c->dtor ? f_dtor : NULL;
	cfg.arg = c;

	size_t a = c->align != 0 ? (c->align < sizeof(void *) ? sizeof(void *) : c->align) :
	    (c->size >= 16 ? 16 : sizeof(void *));
	size_t objsize = (c->size + a - 1) & ~(a - 1);
	c->own_alloc = (b3 & 0x30) != 0;
	if (c->own_alloc) {
		size_t ps = pagesizes[(b1 >> 5) % (sizeof(pagesizes) / sizeof(pagesizes[0]))];
		size_t slab = ps != 0 ? ps : 4096;
		if (ps != 0 && (!pow2(ps) || ps < 4096))
			bad = true;
		else if (objsize > slab || a > slab)
			bad = true;
		c->fa.pagesize = slab;
		c->a = (struct pcache_allocator){ fa_alloc, fa_free, ps, c };
		cfg.allocator = &c->a;
	}
	errno = 0;
	c->pc = pcache_create("fuzz", &cfg);
	if (bad) {
		CHECK(c, c->pc == NULL && errno == EINVAL,
		    "create accepted a bad config (errno %d)", errno);
		memset(c, 0, sizeof(*c));
		return;
	}
	CHECK(c, c->pc != NULL, "create failed: errno %d", errno);
	c->hiwat = SIZE_MAX;
	struct pcache_stats st = check_cache(c);
	/* Checked mode (the flag, or PCACHE_DEBUG=1) keeps the locked layer. */
	if (cfg.flags & PCACHE_DEBUG)
		CHECK(c, c->pc->flags & PCACHE_DEBUG, "PCACHE_DEBUG not recorded");
	CHECK(c, (st.fastpath == PCACHE_FASTPATH_NONE) ==
	    ((c->pc->flags & PCACHE_NOCPU) != 0),
	    "fastpath %u with flags %#x", st.fastpath, c->pc->flags);
	CHECK(c, (c->pc->flags & (PCACHE_NOCPU | PCACHE_DEBUG)) != PCACHE_DEBUG ||
	    st.fastpath == PCACHE_FASTPATH_LOCK,
	    "checked cache on fastpath %u", st.fastpath);
	CHECK(c, st.slabs == 0 && st.in_use == 0 && cached(&st) == 0,
	    "a new cache holds something");
}

/* get_flags: PCACHE_WAITOK only where no get can sleep (no hard limit). */
static int
get_flags(const struct fcache *c, unsigned b)
{
	return c->hardlimit == 0 && (b & 1) ? PCACHE_WAITOK : PCACHE_NOWAIT;
}

/*
 * op_get: 1 to 61 single gets in a row, each against the model's
 * prediction; a get that a cached object could serve (pinned thread)
 * must not construct a new one.
 */
static void
op_get(struct fcache *c, struct rd *r)
{
	unsigned b = rd_u8(r);
	unsigned times = 1 + (b >> 4) * 4;	/* 1..61 gets in a row */

	for (unsigned k = 0; k < times && c->nheld < MAX_HELD; k++) {
		struct pcache_stats before = k == 0 ? stats(c) : check_cache(c);
		bool exact;
		int want = predict_gets(c, &before, 1, &exact);
		uint64_t ctors = c->ctor_calls;

		errno = 0;
		void *p = pcache_get(c->pc, get_flags(c, b));
		if (p == NULL) {
			int err = errno;
			CHECK(c, want != 0 || !exact, "get failed with %d, model: success", err);
			CHECK(c, err == want || (!exact && error_possible(c, err)),
			    "get failed with %d, model: %d", err, want);
		} else {
			CHECK(c, want == 0 || !exact, "get succeeded, model: errno %d", want);
			/* Checked mode's quarantine holds some back on purpose. */
			if (pinned && cached(&before) >
			    pc_dbg_quarantined(c->pc, -1))
				CHECK(c, c->ctor_calls == ctors,
				    "a get built an object while %llu were cached",
				    (unsigned long long)cached(&before));
			took(c, p);
		}
	}
}

/*
 * op_put: 1 to 61 puts of held objects, each checked before it goes; the
 * object lands in the cache layer (or, failing a magazine, is destructed).
 */
static void
op_put(struct fcache *c, struct rd *r)
{
	unsigned b = rd_u8(r);
	unsigned times = 1 + (b >> 4) * 4;

	for (unsigned k = 0; k < times && c->nheld > 0; k++) {
		struct pcache_stats before = k == 0 ? stats(c) : check_cache(c);
		void *p = giving(c, ((b & 0xf) * 7u + k) % c->nheld);
		pcache_put(c->pc, p);
		struct pcache_stats after = stats(c);
		CHECK(c, cached(&after) + (after.dtor_calls - before.dtor_calls) ==
		    cached(&before) + 1, "a put lost its object");
	}
}

/*
 * op_get_bulk: up to MAX_BULK objects at once, all or nothing: a failure
 * hands out nothing and leaves in_use where it was.
 */
static void
op_get_bulk(struct fcache *c, struct rd *r)
{
	unsigned b = rd_u8(r);
	size_t n = b % (MAX_BULK + 1);
	void *objs[MAX_BULK + 1];
	int flags = get_flags(c, b >> 7);

	if (c->nheld + n > MAX_HELD)
		n = MAX_HELD - c->nheld;
	struct pcache_stats before = stats(c);
	bool exact;
	int want = predict_gets(c, &before, n, &exact);
	bool over = c->hardlimit != 0 && n > c->hardlimit;
	if (over) {
		/*
		 * "n above the hard limit can never be met and fails at once
		 * with EAGAIN" (pcache.h), on both layers, so even
		 * PCACHE_WAITOK is safe.
		 */
		want = EAGAIN;
		exact = true;
		flags = b & 0x40 ? PCACHE_WAITOK : PCACHE_NOWAIT;
	}
	errno = 0;
	int rc = pcache_get_bulk(c->pc, objs, n, flags);
	if (rc != 0) {
		int err = errno;
		CHECK(c, rc == -1, "get_bulk returned %d", rc);
		CHECK(c, want != 0 || !exact, "get_bulk(%zu) failed with %d, model: "
		    "success", n, err);
		CHECK(c, err == want || (!exact && !over && error_possible(c, err)),
		    "get_bulk(%zu) failed with %d, model: %d", n, err, want);
		struct pcache_stats after = check_cache(c);
		CHECK(c, after.in_use == before.in_use, "a failed get_bulk kept objects");
		return;
	}
	CHECK(c, want == 0 || !exact, "get_bulk(%zu) succeeded, model: errno %d", n, want);
	for (size_t i = 0; i < n; i++)
		took(c, objs[i]);
}

/* op_put_bulk: up to MAX_BULK held objects at once, with NULLs among them. */
static void
op_put_bulk(struct fcache *c, struct rd *r)
{
	unsigned b = rd_u8(r);
	size_t n = b % (MAX_BULK + 1), k = 0;
	void *objs[MAX_BULK + 1];

	struct pcache_stats before = stats(c);
	for (size_t i = 0; i < n; i++) {
		/* Now and then a NULL, which the call skips. */
		if (c->nheld == 0 || (b & 0x80 && i % 5 == 2)) {
			objs[i] = NULL;
			continue;
		}
		objs[i] = giving(c, (i * 13u + b) % c->nheld);
		k++;
	}
	pcache_put_bulk(c->pc, objs, n);
	struct pcache_stats after = check_cache(c);
	CHECK(c, cached(&after) + (after.dtor_calls - before.dtor_calls) ==
	    cached(&before) + k, "put_bulk lost objects");
}

/*
 * op_invalidate: nothing stays cached, every cached object is destructed,
 * objects in use are untouched; the harness then plays the pmap_growkernel
 * caller: a new generation, which it writes into the objects it holds.
 */
static void
op_invalidate(struct fcache *c)
{
	struct pcache_stats before = stats(c);

	pcache_invalidate(c->pc);
	struct pcache_stats after = check_cache(c);
	CHECK(c, after.cached_cpu == 0 && after.cached_depot == 0,
	    "%llu cached after invalidate", (unsigned long long)cached(&after));
	if (c->ctor || c->dtor)
		CHECK(c, after.dtor_calls - before.dtor_calls == cached(&before),
		    "invalidate destructed %llu of %llu",
		    (unsigned long long)(after.dtor_calls - before.dtor_calls),
		    (unsigned long long)cached(&before));
	verify_all(c);
	c->gen++;
	for (size_t i = 0; c->ctor && i < c->nheld; i++)
		((struct fhdr *)c->held[i].p)->gen = c->gen;
}

/* op_invalidate_local: this CPU's magazines go; the depot stays. */
static void
op_invalidate_local(struct fcache *c)
{
	struct pcache_stats before = stats(c);

	pcache_invalidate_local(c->pc);
	struct pcache_stats after = check_cache(c);
	CHECK(c, after.cached_depot == before.cached_depot,
	    "invalidate_local changed the depot");
	CHECK(c, after.cached_cpu <= before.cached_cpu, "invalidate_local added objects");
	if (pinned)
		CHECK(c, after.cached_cpu == 0, "%llu cached after invalidate_local "
		    "on the only CPU used", (unsigned long long)after.cached_cpu);
	if (c->ctor || c->dtor)
		CHECK(c, after.dtor_calls - before.dtor_calls ==
		    before.cached_cpu - after.cached_cpu, "invalidate_local dtor count");
	verify_all(c);
}

/*
 * op_reclaim: the depot may shrink; a CPU only by giving back capacity it
 * grew (its excess goes to the depot, and may be freed with it); every
 * object that left the cache layer was destructed; the bytes reported are
 * the bytes given back (more may go to the high water mark on the way);
 * afterwards no wholly free slab is left above the low water mark.
 */
static void
op_reclaim(struct fcache *c)
{
	struct pcache_stats before = stats(c);
	size_t got = pcache_reclaim(c->pc);
	struct pcache_stats after = check_cache(c);

	uint64_t moved = before.cached_cpu - after.cached_cpu;
	CHECK(c, after.cached_cpu <= before.cached_cpu, "reclaim added to CPUs");
	CHECK(c, after.cpu_capacity <= before.cpu_capacity, "reclaim grew a CPU");
	CHECK(c, moved == 0 || after.cpu_capacity < before.cpu_capacity,
	    "reclaim took from a CPU that kept its capacity");
	CHECK(c, after.cached_depot <= before.cached_depot + moved,
	    "reclaim grew the depot");
	if (c->ctor || c->dtor)
		CHECK(c, after.dtor_calls - before.dtor_calls ==
		    before.cached_cpu + before.cached_depot -
		    (after.cached_cpu + after.cached_depot), "reclaim dtor count");
	CHECK(c, before.bytes - after.bytes >= got, "reclaim says %zu, gave %llu",
	    got, (unsigned long long)(before.bytes - after.bytes));
	if (c->hiwat == SIZE_MAX)
		CHECK(c, before.bytes - after.bytes == got, "reclaim says %zu, gave %llu",
		    got, (unsigned long long)(before.bytes - after.bytes));
	pthread_mutex_lock(&c->pc->slab_lock);
	bool spare = false;
	for (unsigned d = 0; d < c->pc->ndomain; d++)
		spare |= c->pc->slabs[d][PC_LIST_EMPTY] != NULL &&
		    (c->pc->nslabs - 1) * c->pc->slab_nobj >= c->lowat;
	pthread_mutex_unlock(&c->pc->slab_lock);
	CHECK(c, !spare, "a free slab above the low water mark survived reclaim");
	verify_all(c);
}

/*
 * limit_value: a limit from one byte: small values exactly, larger ones in
 * steps of 4, then "none" (SIZE_MAX) and 0.
 */
static size_t
limit_value(unsigned v)
{
	return v < 32 ? v : v < 250 ? (size_t)v * 4 : v == 250 ? SIZE_MAX : 0;
}

/* op_limit: set the low water mark, high water mark or hard limit. */
static void
op_limit(struct fcache *c, unsigned which, struct rd *r)
{
	size_t n = limit_value(rd_u8(r));

	switch (which) {
	case 0:
		CHECK(c, pcache_set_lowat(c->pc, n) == 0, "set_lowat");
		c->lowat = n;
		break;
	case 1:
		CHECK(c, pcache_set_hiwat(c->pc, n) == 0, "set_hiwat");
		c->hiwat = n;
		break;
	default:
		if (n == SIZE_MAX)
			n = 1;
		CHECK(c, pcache_set_hardlimit(c->pc, n) == 0, "set_hardlimit");
		c->hardlimit = n;
		break;
	}
	check_cache(c);
}

/* op_prime: raw objects enough for n, or ENOMEM with nothing added. */
static void
op_prime(struct fcache *c, struct rd *r)
{
	size_t n = rd_u8(r) * 2u;
	struct pcache_stats before = stats(c);
	int rc = pcache_prime(c->pc, n);
	struct pcache_stats after = check_cache(c);

	if (before.slab_free >= n) {
		CHECK(c, rc == 0 && after.slabs == before.slabs, "prime of a primed cache");
	} else if (c->fa.fail) {
		CHECK(c, rc == ENOMEM && after.slabs == before.slabs,
		    "prime with a failing allocator: %d", rc);
	} else {
		CHECK(c, rc == 0 && after.slab_free >= n, "prime(%zu): %d, %llu free",
		    n, rc, (unsigned long long)after.slab_free);
	}
}

/*
 * op_destroy: EBUSY exactly when objects are out, changing nothing; 0
 * otherwise, with every constructed object destructed once and every page
 * back.
 */
static void
op_destroy(struct fcache *c)
{
	struct pcache_stats before = stats(c);
	int rc = pcache_destroy(c->pc);

	if (c->nheld > 0) {
		CHECK(c, rc == EBUSY, "destroy with %zu out returned %d", c->nheld, rc);
		struct pcache_stats after = check_cache(c);
		CHECK(c, memcmp(&before, &after, sizeof(before)) == 0,
		    "a refused destroy changed the cache");
		verify_all(c);
		return;
	}
	CHECK(c, rc == 0, "destroy of an idle cache returned %d", rc);
	if (c->ctor && c->dtor)
		CHECK(c, c->ctor_calls == c->dtor_calls, "destroy left %llu objects "
		    "constructed", (unsigned long long)(c->ctor_calls - c->dtor_calls));
	if (c->own_alloc)
		CHECK(c, c->fa.allocs == c->fa.frees, "destroy kept %llu pages",
		    (unsigned long long)(c->fa.allocs - c->fa.frees));
	memset(c, 0, sizeof(*c));
}

/* op_fail_switch: turn the allocator's or the ctor's failure on or off. */
static void
op_fail_switch(struct fcache *c, struct rd *r)
{
	static const int ctor_errs[] = { 0, 0, EIO, ENOSPC, -5 };
	unsigned b = rd_u8(r);

	if (b & 1)
		c->fa.fail = c->own_alloc && (b & 2);
	else if (c->ctor)
		c->ctor_fail = ctor_errs[(b >> 1) % 5];
}

enum {
	OP_CREATE, OP_GET, OP_PUT, OP_GET_BULK, OP_PUT_BULK, OP_INVALIDATE,
	OP_INVALIDATE_LOCAL, OP_RECLAIM, OP_LOWAT, OP_HIWAT, OP_HARDLIMIT,
	OP_PRIME, OP_STATS, OP_DESTROY, OP_FAIL, OP_GET2, OP_PUT2, NOPS
};

static const char *const op_names[NOPS] = {
	"create", "get", "put", "get_bulk", "put_bulk", "invalidate",
	"invalidate_local", "reclaim", "lowat", "hiwat", "hardlimit", "prime",
	"stats", "destroy", "fail", "get", "put",
};

/* finish: put everything back; destroy must then succeed. */
static void
finish(struct fcache *c)
{
	while (c->nheld > 0)
		pcache_put(c->pc, giving(c, c->nheld - 1));
	check_cache(c);
	op_destroy(c);
	CHECK(c, c->pc == NULL, "destroy refused at the end");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * LLVMFuzzerInitialize: pin the thread to the first CPU it may use, so the
 * model knows where its per-CPU objects are.
 */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned cpus[1];

	(void)argc;
	(void)argv;
	if (pc_topo_allowed_cpus(cpus, 1) > 0 && pc_topo_bind_thread(cpus[0]) == 0 &&
	    sched_getcpu() == (int)cpus[0])
		pinned = true;
	trace = getenv("FUZZ_OPS_TRACE") != NULL;
	if (trace)
		fprintf(stderr, "fuzz_ops: thread %s\n", pinned ? "pinned" : "not pinned");
	return 0;
}

/*
 * LLVMFuzzerTestOneInput: run one program from scratch, checking each
 * step, then put everything back and destroy every cache.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };

	memset(caches, 0, sizeof(caches));
	for (unsigned step = 0; r.n > 0 && step < MAX_STEPS; step++) {
		unsigned b = rd_u8(&r);
		unsigned op = b % NOPS, id = (b / NOPS) % NCACHE;
		struct fcache *c = &caches[id];

		if (c->pc == NULL) {
			/* Every operation on an empty slot first makes the cache. */
			op_create(c, id, &r);
			if (c->pc == NULL || op == OP_CREATE)
				continue;
		}
		switch (op) {
		case OP_CREATE:
			/* A fresh cache in this slot, if the old one can go. */
			op_destroy(c);
			if (c->pc == NULL)
				op_create(c, id, &r);
			break;
		case OP_DESTROY:
			op_destroy(c);
			break;
		case OP_GET:
		case OP_GET2:
			op_get(c, &r);
			break;
		case OP_PUT:
		case OP_PUT2:
			op_put(c, &r);
			break;
		case OP_GET_BULK:
			op_get_bulk(c, &r);
			break;
		case OP_PUT_BULK:
			op_put_bulk(c, &r);
			break;
		case OP_INVALIDATE:
			op_invalidate(c);
			break;
		case OP_INVALIDATE_LOCAL:
			op_invalidate_local(c);
			break;
		case OP_RECLAIM:
			op_reclaim(c);
			break;
		case OP_LOWAT:
		case OP_HIWAT:
		case OP_HARDLIMIT:
			op_limit(c, op - OP_LOWAT, &r);
			break;
		case OP_PRIME:
			op_prime(c, &r);
			break;
		case OP_STATS:
			check_cache(c);
			break;
		case OP_FAIL:
			op_fail_switch(c, &r);
			break;
		}
		if (c->pc != NULL) {
			struct pcache_stats st = check_cache(c);
			if (trace)
				fprintf(stderr, "%4u %-16s cache %u: in_use %llu cpu %llu "
				    "depot %llu free %llu slabs %llu\n", step, op_names[op],
				    id, (unsigned long long)st.in_use,
				    (unsigned long long)st.cached_cpu,
				    (unsigned long long)st.cached_depot,
				    (unsigned long long)st.slab_free,
				    (unsigned long long)st.slabs);
		} else if (trace)
			fprintf(stderr, "%4u %-16s cache %u: none\n", step, op_names[op], id);
	}
	for (unsigned id = 0; id < NCACHE; id++) {
		if (caches[id].pc != NULL)
			finish(&caches[id]);
	}
	return 0;
}
