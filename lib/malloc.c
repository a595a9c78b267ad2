/*
 * malloc.c -- libpcache-malloc: malloc(), free() and the rest of the C
 * and POSIX allocation calls, served from libpcache caches of size
 * classes.  Built into libpcache-malloc.so only (with PCACHE_MALLOC_BUILD,
 * so that the library's own memory comes from sysalloc.c); loaded with
 * LD_PRELOAD or linked, it is the program's malloc.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Where a block comes from, and how free() finds it again without a
 * header in front of the block:
 *   - a request of up to FE_CLASS_MAX bytes is an object of the cache of
 *     its size class (the table below; docs/design.md), created on first
 *     use with its region at the class's place in the class area, so that
 *     the pointer's place names the class (objects of a class that
 *     outgrew its place are found through the page map, pcache_of());
 *   - a larger request is a mapping of its own, recorded in an address
 *     table (fe_bigs), which free() consults when neither says yes;
 *   - a request made before the front end is ready, or from inside the
 *     front end (the library calling the C library or hwloc, which call
 *     malloc), is carved from the bootstrap arena: a static array, then
 *     one reserved mapping, never reused; free() recognises its blocks by
 *     address and ignores them.
 * Any other pointer given to free() aborts with a message naming it.
 *
 * Bootstrap.  ld.so, the C library and the libraries loaded before this
 * one call malloc before this library's constructor runs; those calls
 * are served from the arena.  The constructor then sets the front end up
 * (fe_init()): fork handlers, the machine's topology (hwloc, which itself
 * calls malloc), the first cache.  A thread-local byte (fe_gate) marks the
 * threads inside the front end: their nested calls go to the arena
 * instead of recursing into a cache whose lock they may hold, or into a
 * pthread_once() that is running.  Other threads that call malloc while
 * the set-up runs use the arena too rather than wait for it: the set-up
 * may itself wait for a lock such a thread holds (ld.so's, in dlopen()).
 *
 * Locks.  The two address tables' mutexes and sysalloc.c's are leaves:
 * nothing else is taken while one is held.  fork() holds all three
 * (fe_fork_prepare()), after the library's own handlers have taken every
 * cache lock, because a thread holding a cache lock may take sysalloc's.
 *
 * No call here is async-signal-safe, as with the C library's malloc.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef PCACHE_HAVE_EXECINFO
#include <execinfo.h>
#endif

#include "core.h"
#include "debug.h"
#include "percpu.h"
#include "slab.h"

#if defined(__GNUC__) || defined(__clang__)
#define FE_EXPORT	__attribute__((visibility("default")))
#define FE_TLS_IE	__attribute__((tls_model("initial-exec")))
#define FE_CONSTRUCTOR	1
#else
#define FE_EXPORT
#define FE_TLS_IE
#endif

/* The calls exported, declared here too where <stdlib.h> may not. */
FE_EXPORT void	*malloc(size_t n);
FE_EXPORT void	 free(void *p);
FE_EXPORT void	*calloc(size_t n, size_t size);
FE_EXPORT void	*realloc(void *p, size_t n);
FE_EXPORT void	*reallocarray(void *p, size_t n, size_t size);
FE_EXPORT int	 posix_memalign(void **memptr, size_t align, size_t n);
FE_EXPORT void	*aligned_alloc(size_t align, size_t n);
FE_EXPORT void	*memalign(size_t align, size_t n);
FE_EXPORT void	*valloc(size_t n);
FE_EXPORT void	*pvalloc(size_t n);
FE_EXPORT size_t malloc_usable_size(void *p);
FE_EXPORT int	 malloc_trim(size_t pad);

/*
 * The size classes: 16-byte steps up to FE_SMALL_MAX, then four classes
 * per power of two up to FE_CLASS_MAX.  A request gets the smallest class
 * that holds it: at most 15 bytes too many up to 128, at most 25% above.
 * Each class's objects are aligned to the largest power of two dividing
 * its size, capped at FE_ALIGN_MAX (a page), which posix_memalign() uses.
 */
#define FE_SMALL_MAX	128
#define FE_NSMALL	(FE_SMALL_MAX / 16)		/* 16 .. 128 */
#define FE_CLASS_MAX	((size_t)1024 * 1024)
#define FE_NCLASS	(FE_NSMALL + 4 * 13)		/* 128 -> 1 MiB: 13 doublings */
#define FE_ALIGN_MAX	((size_t)4096)

static size_t		 fe_size[FE_NCLASS];
static size_t		 fe_align[FE_NCLASS];
static uint8_t		 fe_lut16[1024 / 16 + 1];	/* (n + 15) / 16 -> class, n <= 1 KiB */
static uint8_t		 fe_lut256[FE_CLASS_MAX / 256 + 1];	/* (n + 255) / 256 -> class */
static _Atomic(pcache_t *) fe_cache[FE_NCLASS];	/* created on first use */
static size_t		 fe_pagesize = 4096;

enum { FE_UNINIT, FE_INITING, FE_READY };
static atomic_int	 fe_state;
#ifdef FE_CONSTRUCTOR
static atomic_bool	 fe_ctor_done;		/* the C library is initialised */
#else
static atomic_bool	 fe_ctor_done = true;	/* no constructor: trust the first call */
#endif
/*
 * This thread and the front end: FE_UNSEEN until it has found the front
 * end ready, FE_OUT outside it, FE_IN inside (or setting it up), where
 * nested calls go to the bootstrap arena.  One thread-local byte, so that
 * the fast paths test readiness and nesting with one load.
 */
enum { FE_UNSEEN, FE_OUT, FE_IN };
static _Thread_local unsigned char fe_gate FE_TLS_IE;

/*
 * Checked mode (PCACHE_DEBUG in the environment at start-up), decided once
 * by fe_init() and given to every class cache as PCACHE_DEBUG: the caches
 * are created lazily, and a program may change its environment meanwhile
 * (bash rebuilds environ, and allocates while doing so), which must not
 * leave some classes checked and others not.
 */
static bool		 fe_checked;

/*
 * The class area: one reservation holding every size class's region at
 * a fixed place, class c's at fe_area + (c << fe_span_shift), so that
 * free() names the class of a pointer with a subtraction and a shift
 * instead of a walk through the page map.  Set once by area_init()
 * before the front end is ready; fe_area_len stays 0 where the address
 * space could not spare it (the classes' caches then reserve their own
 * regions, found by pcache_of()).  A span is taken by the first cache
 * created for its class (fe_span_taken): a second one, made by a thread
 * that lost the race to create it, goes anywhere.
 */
#define FE_SPAN_SHIFT_MAX	36		/* 64 GiB a class */
#define FE_SPAN_SHIFT_MIN	24		/* 16 MiB a class */
#define FE_AREA_ALIGN		((size_t)1 << 22)	/* any class's slab */

static uintptr_t	 fe_area;
static atomic_size_t	 fe_area_len;
static unsigned		 fe_span_shift;
static atomic_bool	 fe_span_taken[FE_NCLASS];

/*
 * ---- Messages, without stdio (it may call malloc). ----
 */

/* fe_write: all of s on stderr; errors ignored: we are about to abort. */
static void
fe_write(const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = write(2, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/*
 * fe_bad_pointer: "libpcache-malloc: CALL(): pointer 0x...: not
 * allocated by this malloc" on stderr, then abort, as pcache_put() does
 * for a pointer that is not one of its cache's.  No lock.
 */
PC_NORETURN PC_NOINLINE static void
fe_bad_pointer(const char *call, const void *p)
{
	char hex[2 + 2 * sizeof(uintptr_t) + 1];
	uintptr_t v = (uintptr_t)p;
	size_t i = sizeof(hex) - 1;

	hex[i] = '\0';
	do {
		hex[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	hex[--i] = 'x';
	hex[--i] = '0';
	fe_write("libpcache-malloc: ");
	fe_write(call);
	fe_write("(): pointer ");
	fe_write(hex + i);
	fe_write(": not allocated by this malloc\n");
	abort();
}

/*
 * ---- The bootstrap arena. ----
 * A bump allocator over a static array, then over one reserved mapping.
 * Each block has a 16-byte header in front holding its size (for
 * realloc() and malloc_usable_size()).  Lock-free, so that fork() and
 * recursion cannot catch it half-way.  Blocks are never reused: the arena
 * serves start-up and nested calls only, a bounded amount.
 */
#define BOOT_STATIC	((size_t)256 * 1024)
#define BOOT_SPILL	((size_t)64 * 1024 * 1024)
#define BOOT_HDR	16

static _Alignas(64) unsigned char boot_static[BOOT_STATIC];
static atomic_size_t	 boot_static_used;
static _Atomic(unsigned char *) boot_spill;	/* NULL until needed */
static atomic_size_t	 boot_spill_used;

/*
 * boot_carve: n bytes aligned to `align` (a power of two, at least 16)
 * from arena[0 .. cap), whose first *used bytes are taken, or NULL.
 * Lock-free.
 */
static void *
boot_carve(unsigned char *arena, size_t cap, atomic_size_t *used,
    size_t align, size_t n)
{
	/* Relaxed: each caller only needs a range nobody else got. */
	size_t old = atomic_load_explicit(used, memory_order_relaxed);

	if (n > cap || align > cap)
		return NULL;
	for (;;) {
		size_t user = (old + BOOT_HDR + align - 1) & ~(align - 1);
		if (user > cap || cap - user < (n > 16 ? n : 16))
			return NULL;
		/* At least 16 bytes: calloc() clears that much of a block. */
		size_t end = (user + (n > 16 ? n : 16) + 15) & ~(size_t)15;
		/* Relaxed: as above; the block is published by the caller. */
		if (atomic_compare_exchange_weak_explicit(used, &old, end,
		    memory_order_relaxed, memory_order_relaxed)) {
			*(size_t *)(void *)(arena + user - BOOT_HDR) = n;
			return arena + user;
		}
	}
}

/*
 * boot_alloc: n bytes aligned to `align` from the bootstrap arena, or NULL
 * with errno ENOMEM.  Fresh memory, zero-filled.  Lock-free; the spill
 * mapping is made by whoever needs it first.
 */
static void *
boot_alloc(size_t align, size_t n)
{
	void *p;

	if (align < 16)
		align = 16;
	if ((p = boot_carve(boot_static, BOOT_STATIC, &boot_static_used,
	    align, n)) != NULL)
		return p;
	/* Acquire: pairs with the release below; the mapping is usable. */
	unsigned char *spill = atomic_load_explicit(&boot_spill,
	    memory_order_acquire);
	if (spill == NULL) {
		unsigned char *m = mmap(NULL, BOOT_SPILL, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED) {
			errno = ENOMEM;
			return NULL;
		}
		/* Release/acquire: publishes the mapping, or reads the winner's. */
		if (atomic_compare_exchange_strong_explicit(&boot_spill, &spill, m,
		    memory_order_acq_rel, memory_order_acquire))
			spill = m;
		else
			munmap(m, BOOT_SPILL);
	}
	if ((p = boot_carve(spill, BOOT_SPILL, &boot_spill_used, align, n)) == NULL)
		errno = ENOMEM;
	return p;
}

/*
 * boot_owns: whether p lies in the bootstrap arena.  Lock-free.  A block
 * of the spill mapping reached the caller after the mapping was
 * published, so a relaxed load sees it.
 */
static bool
boot_owns(const void *p)
{
	/* Relaxed: see above. */
	unsigned char *spill = atomic_load_explicit(&boot_spill,
	    memory_order_relaxed);

	return (uintptr_t)p - (uintptr_t)boot_static < BOOT_STATIC ||
	    (spill != NULL && (uintptr_t)p - (uintptr_t)spill < BOOT_SPILL);
}

/* boot_size: the size a bootstrap block was asked with.  Lock-free. */
static size_t
boot_size(const void *p)
{
	return *(const size_t *)(const void *)((const unsigned char *)p - BOOT_HDR);
}

/*
 * ---- Address tables: a length per address, in a hash table. ----
 * Open addressing with linear probing, at most half full, deletion by
 * shifting back (no tombstones).  Each table's array is mapped directly,
 * so that its lock stays a leaf.  Two tables: the big blocks (their
 * mapping's length) and, in checked mode, every class block's requested
 * size (fe_sizes).
 */
struct fe_ent {
	uintptr_t	 addr;		/* 0: empty */
	size_t		 len;
};

struct fe_tab {
	pthread_mutex_t	 lock;
	struct fe_ent	*ent;
	size_t		 cap;		/* a power of two, or 0 */
	unsigned	 shift;		/* log2(cap) */
	size_t		 n;
};

static struct fe_tab	 fe_bigs = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct fe_tab	 fe_sizes = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* tab_home: the slot where a key's probe starts.  t->lock held. */
static size_t
tab_home(const struct fe_tab *t, uintptr_t addr)
{
	/* Fibonacci hashing of the address in 16-byte units. */
	uint64_t h = (uint64_t)(addr >> 4) * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h >> (64 - t->shift));
}

/* tab_place: place an entry, known to be absent, in a table with room.  t->lock held. */
static void
tab_place(struct fe_tab *t, struct fe_ent e)
{
	size_t mask = t->cap - 1, i = tab_home(t, e.addr);

	while (t->ent[i].addr != 0)
		i = (i + 1) & mask;
	t->ent[i] = e;
	t->n++;
}

/*
 * tab_grow: double the table (1024 entries to begin with).  t->lock held.
 * False when no memory could be had; the table is unchanged then.
 */
static bool
tab_grow(struct fe_tab *t)
{
	size_t ncap = t->cap != 0 ? 2 * t->cap : 1024;
	struct fe_ent *nent = mmap(NULL, ncap * sizeof(*nent),
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (nent == MAP_FAILED)
		return false;
	struct fe_ent *oent = t->ent;
	size_t ocap = t->cap;
	t->ent = nent;
	t->cap = ncap;
	t->n = 0;
	for (t->shift = 0; ((size_t)1 << t->shift) < ncap; t->shift++)
		continue;
	for (size_t i = 0; i < ocap; i++) {
		if (oent[i].addr != 0)
			tab_place(t, oent[i]);
	}
	if (oent != NULL)
		munmap(oent, ocap * sizeof(*oent));
	return true;
}

/* tab_slot: the slot holding addr, or SIZE_MAX.  t->lock held. */
static size_t
tab_slot(const struct fe_tab *t, uintptr_t addr)
{
	if (t->cap == 0)
		return SIZE_MAX;
	size_t mask = t->cap - 1;
	for (size_t i = tab_home(t, addr); t->ent[i].addr != 0; i = (i + 1) & mask) {
		if (t->ent[i].addr == addr)
			return i;
	}
	return SIZE_MAX;
}

/* tab_unslot: empty slot i, shifting later entries back.  t->lock held. */
static void
tab_unslot(struct fe_tab *t, size_t i)
{
	size_t mask = t->cap - 1;

	for (size_t j = (i + 1) & mask; t->ent[j].addr != 0; j = (j + 1) & mask) {
		size_t k = tab_home(t, t->ent[j].addr);
		/* j's entry may fill the hole unless its home lies in (i, j]. */
		if (((j - k) & mask) >= ((j - i) & mask)) {
			t->ent[i] = t->ent[j];
			i = j;
		}
	}
	t->ent[i].addr = 0;
	t->n--;
}

/*
 * tab_set: record len for p, replacing what p had.  Takes t->lock.
 * False: no memory (nothing recorded).
 */
static bool
tab_set(struct fe_tab *t, const void *p, size_t len)
{
	bool ok = true;

	pthread_mutex_lock(&t->lock);
	size_t i = tab_slot(t, (uintptr_t)p);
	if (i != SIZE_MAX)
		t->ent[i].len = len;
	else {
		if ((t->n + 1) * 2 > t->cap)
			ok = tab_grow(t);
		if (ok)
			tab_place(t, (struct fe_ent){ (uintptr_t)p, len });
	}
	pthread_mutex_unlock(&t->lock);
	return ok;
}

/* tab_get: what p has recorded, or 0 (with `take`, forgotten too).  Takes t->lock. */
static size_t
tab_get(struct fe_tab *t, const void *p, bool take)
{
	pthread_mutex_lock(&t->lock);
	size_t i = tab_slot(t, (uintptr_t)p);
	size_t len = i != SIZE_MAX ? t->ent[i].len : 0;
	if (take && i != SIZE_MAX)
		tab_unslot(t, i);
	pthread_mutex_unlock(&t->lock);
	return len;
}

/*
 * ---- Big blocks: a mapping each, found through fe_bigs. ----
 * A table rather than a header page in front of each block: free() of a
 * foreign pointer must not read memory that may not be mapped.
 */

/* big_len: the mapping length of big block p, or 0.  Takes fe_bigs.lock. */
static size_t
big_len(const void *p)
{
	return tab_get(&fe_bigs, p, false);
}

/*
 * big_alloc: a mapping of at least n bytes (a page for 0) aligned to
 * `align` (a power of two), recorded, or NULL with errno ENOMEM.  Fresh
 * memory, zero-filled.  Takes fe_bigs.lock to record it.
 */
static void *
big_alloc(size_t n, size_t align)
{
	size_t extra = align > fe_pagesize ? align : 0;

	if (n == 0)			/* an aligned request of 0 bytes */
		n = 1;

	if (extra > SIZE_MAX / 4 || n > SIZE_MAX / 2 - extra) {
		errno = ENOMEM;
		return NULL;
	}
	size_t len = (n + fe_pagesize - 1) & ~(fe_pagesize - 1);
	char *m = mmap(NULL, len + extra, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	char *p = m;
	if (extra != 0) {		/* trim to the alignment */
		p = (char *)(((uintptr_t)m + align - 1) & ~(uintptr_t)(align - 1));
		if (p > m)
			munmap(m, (size_t)(p - m));
		if (p + len < m + len + extra)
			munmap(p + len, (size_t)(m + len + extra - (p + len)));
	}
	if (!tab_set(&fe_bigs, p, len)) {
		munmap(p, len);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

/*
 * big_free: unmap big block p; false if p is not one.  Takes fe_bigs.lock
 * to unrecord it, unmaps without.
 */
static bool
big_free(void *p)
{
	size_t len = tab_get(&fe_bigs, p, true);

	if (len == 0)
		return false;
	munmap(p, len);
	return true;
}

/*
 * big_resize: big block p (of `len` bytes) resized to n bytes (n >
 * FE_CLASS_MAX) where the system can move mappings, its record updated in
 * the same hold of fe_bigs.lock (the count of entries is unchanged, so
 * the update needs no memory); NULL with errno ENOMEM and p intact otherwise.
 * Without mremap(), a new block and a copy.
 */
static void *
big_resize(void *p, size_t len, size_t n)
{
	size_t nlen = (n + fe_pagesize - 1) & ~(fe_pagesize - 1);

	if (nlen == len)
		return p;
#ifdef MREMAP_MAYMOVE
	struct fe_tab *t = &fe_bigs;
	pthread_mutex_lock(&t->lock);
	size_t i = tab_slot(t, (uintptr_t)p);
	PC_ASSERT(i != SIZE_MAX);
	void *q = mremap(p, len, nlen, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		pthread_mutex_unlock(&t->lock);
		errno = ENOMEM;
		return NULL;
	}
	tab_unslot(t, i);
	tab_place(t, (struct fe_ent){ (uintptr_t)q, nlen });
	pthread_mutex_unlock(&t->lock);
	return q;
#else
	void *q = big_alloc(n, 0);
	if (q != NULL) {
		memcpy(q, p, len < n ? len : n);
		(void)big_free(p);
	}
	return q;
#endif
}

/*
 * ---- The size classes. ----
 */

/* class_of: the class of a request of n bytes, n <= FE_CLASS_MAX.  No lock. */
static inline unsigned
class_of(size_t n)
{
	if (n <= 1024)
		return fe_lut16[(n + 15) >> 4];
	return fe_lut256[(n + 255) >> 8];
}

/*
 * tables_init: the class sizes, alignments and lookup tables.  Run once by
 * fe_init(), before the release that makes the front end ready.
 */
static void
tables_init(void)
{
	unsigned c = 0;

	for (size_t s = 16; s <= FE_SMALL_MAX; s += 16)
		fe_size[c++] = s;
	for (size_t base = FE_SMALL_MAX; base < FE_CLASS_MAX; base *= 2) {
		for (size_t j = 1; j <= 4; j++)
			fe_size[c++] = base + j * (base / 4);
	}
	PC_ASSERT(c == FE_NCLASS && fe_size[FE_NCLASS - 1] == FE_CLASS_MAX);
	for (c = 0; c < FE_NCLASS; c++) {
		size_t a = fe_size[c] & (~fe_size[c] + 1);	/* lowest set bit */
		fe_align[c] = a < FE_ALIGN_MAX ? a : FE_ALIGN_MAX;
	}
	c = 0;
	for (size_t i = 0; i < sizeof(fe_lut16); i++) {
		while (fe_size[c] < (i != 0 ? i * 16 : 1))
			c++;
		fe_lut16[i] = (uint8_t)c;
	}
	c = 0;
	for (size_t i = 0; i < sizeof(fe_lut256); i++) {
		while (fe_size[c] < (i != 0 ? i * 256 : 1))
			c++;
		fe_lut256[i] = (uint8_t)c;
	}
}

/*
 * fmt_size: the decimal digits of v at the end of buf[0 .. len), NUL
 * included; returns where they start.  No stdio: see fe_write().
 */
static char *
fmt_size(char *buf, size_t len, size_t v)
{
	char *p = buf + len;

	*--p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && p > buf);
	return p;
}

/*
 * area_init: reserve the class area (see fe_area): spans of at most what
 * PCACHE_REGION allows a region (no area for PCACHE_REGION=0) and at most
 * 64 GiB, smaller where the address space refuses, down to
 * FE_SPAN_SHIFT_MIN; none at all on a 32-bit system.  Inaccessible until a
 * class's cache maps its region over its span.  Run once by fe_init(),
 * before the front end is ready.
 */
static void
area_init(void)
{
	uint64_t most = pc_region_env_bytes();
	unsigned top = FE_SPAN_SHIFT_MAX;

	if (sizeof(void *) < 8 || most == 0)
		return;
	while (top > FE_SPAN_SHIFT_MIN && ((uint64_t)1 << top) > most)
		top--;
	for (unsigned sh = top; sh >= FE_SPAN_SHIFT_MIN; sh--) {
		size_t len = (size_t)FE_NCLASS << sh;
		char *m = mmap(NULL, len + FE_AREA_ALIGN, PROT_NONE, MAP_PRIVATE |
		    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			continue;
		fe_area = ((uintptr_t)m + FE_AREA_ALIGN - 1) &
		    ~(uintptr_t)(FE_AREA_ALIGN - 1);
		fe_span_shift = sh;
		/* Release: fe_area and the shift before a reader sees the length. */
		atomic_store_explicit(&fe_area_len, len, memory_order_release);
		return;
	}
}

/*
 * fe_class_cache: the cache of the class whose span of the class area
 * holds p, or NULL when p is not in the area (or in the span of a class
 * not created).  Lock-free.
 */
static inline pcache_t *
fe_class_cache(const void *p)
{
	/* Acquire: pairs with area_init()'s release (a plain load on x86). */
	size_t len = atomic_load_explicit(&fe_area_len, memory_order_acquire);
	uintptr_t off = (uintptr_t)p - fe_area;

	if (off >= len)
		return NULL;
	/*
	 * Relaxed: an object of the class reached the caller after the
	 * cache was published (class_create()'s release).
	 */
	pcache_t *pc = atomic_load_explicit(&fe_cache[off >> fe_span_shift],
	    memory_order_relaxed);
	/*
	 * Only inside the cache's region: a class whose cache was placed
	 * elsewhere (it lost the race to create the class) leaves its span
	 * unused, and a hole a failed mapping left there may hold another
	 * mapping (a big block); those pointers take the slow path.
	 */
	if (pc == NULL || (uintptr_t)p - pc->region.base >= pc->region.len)
		return NULL;
	return pc;
}

/*
 * class_create: the cache of class c, made now unless another thread
 * made it first (then that one; ours is destroyed, never having held an
 * object).  NULL with errno on failure.  Inside the front end (fe_gate
 * FE_IN): what pcache_create() allocates through malloc comes from the
 * bootstrap arena.
 */
PC_NOINLINE static pcache_t *
class_create(unsigned c)
{
	char name[PC_NAMELEN] = "malloc-", num[24];
	struct pcache_config cfg = { .size = fe_size[c], .align = fe_align[c],
	    .flags = fe_checked ? PCACHE_DEBUG : 0 };

	strncat(name, fmt_size(num, sizeof(num), fe_size[c]),
	    sizeof(name) - strlen(name) - 1);
	void *at = NULL;
	size_t span = 0;
	/*
	 * Relaxed: the area was set up before this thread found the front
	 * end ready (acquire); of the flag only its own value matters.
	 */
	if (atomic_load_explicit(&fe_area_len, memory_order_relaxed) != 0 &&
	    !atomic_exchange_explicit(&fe_span_taken[c], true,
	    memory_order_relaxed)) {
		at = (void *)(fe_area + ((uintptr_t)c << fe_span_shift));
		span = (size_t)1 << fe_span_shift;
	}
	pcache_t *pc = pc_create_placed(name, &cfg, sizeof(cfg), at, span);
	pcache_t *old = NULL;
	/*
	 * On failure the span stays taken: a failed MAP_FIXED may have left
	 * a hole there that another mapping fills, which a retry's MAP_FIXED
	 * would clobber.  The class is then made elsewhere.
	 */
	if (pc == NULL)
		return NULL;
	/* Release: the cache is set up before a thread finds it; acquire: the winner's is. */
	if (!atomic_compare_exchange_strong_explicit(&fe_cache[c], &old, pc,
	    memory_order_acq_rel, memory_order_acquire)) {
		(void)pcache_destroy(pc);
		return old;
	}
	return pc;
}

/*
 * ---- Checked mode's exact bounds. ----
 * A class block is up to a quarter bigger than asked for, and the
 * library's redzone lies past the class size.  In checked mode the front
 * end records each class block's requested size (fe_sizes) and fills the
 * slack between it and the class size with FE_SLACK_BYTE, which free()
 * and realloc() verify: an overrun by a single byte aborts, naming the
 * block, its requested size and the offset, with the block's history.
 */
#define FE_SLACK_BYTE	0xc5

/*
 * chk_alloc: class block p of cache pc goes out for n bytes: fill its
 * slack, record n.  Inside the front end.  Without memory for the record
 * the block goes unchecked.
 */
static void
chk_alloc(pcache_t *pc, void *p, size_t n)
{
	size_t usable = pcache_size(pc);

	if (n < usable)
		memset((unsigned char *)p + n, FE_SLACK_BYTE, usable - n);
	(void)tab_set(&fe_sizes, p, n + 1);	/* 0 means no record */
}

/*
 * chk_bounds: class block p of cache pc comes back (`forget`: for good):
 * abort unless its slack is intact.  Returns the requested size, or
 * SIZE_MAX when p has no record (a double free, an interior pointer: the
 * library's checks say so next).
 */
static size_t
chk_bounds(pcache_t *pc, const void *p, bool forget)
{
	size_t rec = tab_get(&fe_sizes, p, forget);

	if (rec == 0)
		return SIZE_MAX;
	size_t n = rec - 1, usable = pcache_size(pc);
	const unsigned char *c = p;
	for (size_t i = n; i < usable; i++) {
		if (c[i] != FE_SLACK_BYTE)
			pc_panic(pc, p, "write past the end of a %zu-byte block "
			    "at offset %zu", n, i);
	}
	return n;
}

/*
 * class_alloc: an object of class c for a request of n bytes (its bounds
 * recorded in checked mode), the class's cache made if need be; NULL with
 * errno ENOMEM.  Inside the front end.
 */
static void *
class_alloc(unsigned c, size_t n)
{
	/* Acquire: pairs with class_create()'s release. */
	pcache_t *pc = atomic_load_explicit(&fe_cache[c], memory_order_acquire);
	void *p;

	if (PC_UNLIKELY(pc == NULL) && (pc = class_create(c)) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if ((p = pcache_get(pc, PCACHE_WAITOK)) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (PC_UNLIKELY(fe_checked))
		chk_alloc(pc, p, n);
	return p;
}

/*
 * ---- Set-up, fork, and the guard. ----
 */

/*
 * fe_fork_prepare, fe_fork_parent, fe_fork_child: hold the leaf locks
 * across fork().  Registered before the library's own handlers, so that
 * this prepare runs after theirs (pthread_atfork() runs prepares in
 * reverse order): the leaves are taken last, as the lock order wants.
 */
static void
fe_fork_prepare(void)
{
	pthread_mutex_lock(&fe_bigs.lock);
	pthread_mutex_lock(&fe_sizes.lock);
	pc_sys_lock();
}

static void
fe_fork_parent(void)
{
	pc_sys_unlock();
	pthread_mutex_unlock(&fe_sizes.lock);
	pthread_mutex_unlock(&fe_bigs.lock);
}

static void
fe_fork_child(void)
{
	pc_sys_unlock();
	pthread_mutex_unlock(&fe_sizes.lock);
	pthread_mutex_unlock(&fe_bigs.lock);
}

/*
 * fe_init: set the front end up, once, or say why not yet.  True when it
 * is ready.  False before the constructor has run (the C library may not
 * be initialised), and in other threads while one sets it up: their
 * callers use the bootstrap arena.  The setting-up thread counts as
 * inside the front end, so that what hwloc, the C library and the
 * library's once-only set-up allocate comes from the arena too.
 */
PC_NOINLINE static bool
fe_init(void)
{
	int st = FE_UNINIT;

	/* Acquire: pairs with the constructor's release. */
	if (!atomic_load_explicit(&fe_ctor_done, memory_order_acquire))
		return false;
	/* Acquire on failure: a READY seen here publishes the set-up. */
	if (!atomic_compare_exchange_strong_explicit(&fe_state, &st, FE_INITING,
	    memory_order_acquire, memory_order_acquire))
		return st == FE_READY;
	unsigned char gate = fe_gate;
	fe_gate = FE_IN;
	long pg = sysconf(_SC_PAGESIZE);
	if (pg > 0 && ((size_t)pg & ((size_t)pg - 1)) == 0)
		fe_pagesize = (size_t)pg;
	tables_init();
	area_init();
	fe_checked = pc_env_debug();
	/* Before the library registers its own (first pcache_create()). */
	(void)pthread_atfork(fe_fork_prepare, fe_fork_parent, fe_fork_child);
	/*
	 * hwloc: the topology, now, without hwloc's plugins.  They discover
	 * I/O devices (PCI, OpenCL, GL) and parse XML with libxml2, none of
	 * which the caches use, and loading them (and what they link) was
	 * about 2.5 ms of the 4 this set-up added to every process start.
	 * An empty HWLOC_PLUGINS_PATH makes hwloc look for plugins nowhere;
	 * set only while the topology loads, and only when the user has not
	 * chosen a path, so that neither the program nor its children see
	 * it.  The constructor runs this before main() and before any thread
	 * of the program's: a malloc is preloaded or linked, never loaded
	 * into a running program, so nobody reads the environment meanwhile.
	 */
	bool plugins_off = getenv("HWLOC_PLUGINS_PATH") == NULL &&
	    setenv("HWLOC_PLUGINS_PATH", "", 0) == 0;
	(void)pcache_cpu_count();
	if (plugins_off)
		(void)unsetenv("HWLOC_PLUGINS_PATH");
#ifdef PCACHE_HAVE_EXECINFO
	if (pc_env_debug()) {
		/* Checked mode logs backtraces; the first loads the unwinder. */
		void *frames[2];
		(void)backtrace(frames, 2);
	}
#endif
	/* The library's once-only set-up (fork handlers, rseq, stats) now. */
	(void)class_create(0);
	fe_gate = gate;
	/* Release: the tables and the first cache before READY. */
	atomic_store_explicit(&fe_state, FE_READY, memory_order_release);
	return true;
}

#ifdef FE_CONSTRUCTOR
/*
 * fe_constructor: the C library and this library's dependencies are
 * initialised: set the front end up.  Until now every call used the
 * bootstrap arena.
 */
__attribute__((constructor)) static void
fe_constructor(void)
{
	/* Release: pairs with fe_init()'s acquire. */
	atomic_store_explicit(&fe_ctor_done, true, memory_order_release);
	(void)fe_init();
}
#endif

/*
 * fe_enter_slow: fe_enter() for a thread that is inside the front end
 * already (false) or has not yet found it ready (set up now if it can
 * be).
 */
PC_NOINLINE static bool
fe_enter_slow(void)
{
	if (fe_gate == FE_IN)
		return false;
	/* Acquire: pairs with fe_init()'s release. */
	if (atomic_load_explicit(&fe_state, memory_order_acquire) != FE_READY &&
	    !fe_init())
		return false;
	fe_gate = FE_IN;
	return true;
}

/*
 * fe_enter: whether the calling thread may use the caches now: it is not
 * already inside the front end, and the front end is ready.  When true the
 * thread is inside until fe_leave().
 */
static inline bool
fe_enter(void)
{
	if (PC_LIKELY(fe_gate == FE_OUT)) {
		fe_gate = FE_IN;
		return true;
	}
	return fe_enter_slow();
}

static inline void
fe_leave(void)
{
	fe_gate = FE_OUT;
}

/*
 * ---- The calls. ----
 */

/*
 * fe_malloc_slow: fe_malloc() for what its fast path does not serve: a
 * big block, a class not yet created, a thread new to the front end or
 * inside it, an empty cache that could not grow.
 */
PC_NOINLINE static void *
fe_malloc_slow(size_t n)
{
	if (!fe_enter())
		return boot_alloc(16, n);
	void *p = n > FE_CLASS_MAX ? big_alloc(n, 0) : class_alloc(class_of(n), n);
	fe_leave();
	return p;
}

/*
 * fe_malloc: malloc() without going through the exported symbol (which
 * another library could interpose).  NULL with errno ENOMEM.  The fast
 * path: one thread-local test, the class, the cache, and the per-CPU
 * layer's pop inline (pcache_get()'s hit path without its call).  The pop
 * calls nothing, so nothing can nest inside it: the thread need not count
 * as inside the front end.  Anything else (the locked layer, checked
 * mode, an empty CPU) goes through fe_malloc_slow() and pcache_get().
 */
static inline void *
fe_malloc(size_t n)
{
	if (PC_LIKELY(n <= FE_CLASS_MAX && fe_gate == FE_OUT)) {
		/* Acquire: pairs with class_create()'s release. */
		pcache_t *pc = atomic_load_explicit(&fe_cache[class_of(n)],
		    memory_order_acquire);
		if (PC_LIKELY(pc != NULL)) {
			void *p = pc_cpu_get_hit(pc);
			if (PC_LIKELY(p != NULL)) {
				if (PC_MEMCHECK)
					pc_mem_defined(p, pc->usersize);
				return p;
			}
		}
	}
	return fe_malloc_slow(n);
}

/*
 * fe_aligned: n bytes aligned to `align` (a power of two above 16): an
 * object of the first class that holds max(n, align) and whose objects
 * are that aligned, or a big block.
 */
static void *
fe_aligned(size_t align, size_t n)
{
	if (!fe_enter())
		return boot_alloc(align, n);
	void *p;
	size_t need = n > align ? n : align;
	if (align <= FE_ALIGN_MAX && need <= FE_CLASS_MAX) {
		unsigned c = class_of(need);
		while (fe_align[c] < align)	/* ends at a power of two */
			c++;
		p = class_alloc(c, n);
	} else
		p = big_alloc(n, align);
	fe_leave();
	return p;
}

/*
 * fe_put: give p back to its class's cache pc (pcache_put() aborts unless
 * p starts an object of it).  The thread counts as inside the front end
 * meanwhile, whatever it was.
 */
static inline void
fe_put(pcache_t *pc, void *p)
{
	unsigned char gate = fe_gate;

	fe_gate = FE_IN;
	if (PC_UNLIKELY(fe_checked))
		(void)chk_bounds(pc, p, true);
	pcache_put(pc, p);
	fe_gate = gate;
}

/*
 * fe_free_slow: fe_free() for a pointer outside the class area: NULL, a
 * bootstrap block (ignored), an object of a class whose cache has its
 * region elsewhere or ran past it (the page map), a big block, or a
 * foreign pointer (abort, naming `call`).
 */
PC_NOINLINE static void
fe_free_slow(void *p, const char *call)
{
	if (p == NULL || boot_owns(p))
		return;
	pcache_t *pc = pcache_of(p);
	if (pc != NULL) {
		fe_put(pc, p);
		return;
	}
	unsigned char gate = fe_gate;
	fe_gate = FE_IN;
	bool ok = big_free(p);
	fe_gate = gate;
	if (!ok)
		fe_bad_pointer(call, p);
}

/*
 * fe_free: give p back; `call` names the caller for an abort message.
 * The fast path: the class from p's place in the class area, then
 * pcache_put()'s hit path inline: the ownership check (which aborts for
 * anything but the start of a live object of the class) and the per-CPU
 * push, neither of which calls anything that could nest.  A full CPU, the
 * locked layer or checked mode: pcache_put() (which checks again).
 */
static inline void
fe_free(void *p, const char *call)
{
	pcache_t *pc = fe_class_cache(p);

	if (PC_UNLIKELY(pc == NULL)) {
		fe_free_slow(p, call);
		return;
	}
	pc_obj_check(pc, p);
	if (pc->dbg == NULL)
		pc_obj_noaccess(pc, p);
	if (PC_LIKELY(pc_cpu_put_hit(pc, p)))
		return;
	fe_put(pc, p);
}

/*
 * fe_usable: the usable size of the block p (non-NULL) and where it came
 * from: *pcp its cache, or NULL for a big block (*bigp true) or a
 * bootstrap one.  Aborts for a foreign pointer, naming `call`, and for
 * anything in a class's memory that is not the start of an object there
 * (the ownership check pcache_put() makes), before anything reads it.
 */
static size_t
fe_usable(void *p, const char *call, pcache_t **pcp, bool *bigp)
{
	size_t len;

	*pcp = NULL;
	*bigp = false;
	if ((*pcp = fe_class_cache(p)) != NULL ||
	    (*pcp = pcache_of(p)) != NULL) {
		pc_obj_check(*pcp, p);
		return pcache_size(*pcp);
	}
	if (boot_owns(p))
		return boot_size(p);
	if ((len = big_len(p)) == 0)
		fe_bad_pointer(call, p);
	*bigp = true;
	return len;
}

void *
malloc(size_t n)
{
	return fe_malloc(n);
}

void
free(void *p)
{
	fe_free(p, "free");
}

/*
 * fe_zero: clear the first n bytes of an object of n bytes' class.  Up to
 * 64 bytes with two fixed-size (overlapping) clears, which compilers turn
 * into a few stores instead of a call: the class holds n rounded up to
 * 16, so clearing that much stays inside the object.
 */
static inline void
fe_zero(void *p, size_t n)
{
	unsigned char *c = p;
	size_t n16 = n <= 16 ? 16 : (n + 15) & ~(size_t)15;	/* malloc(0): 16 */

	if (n16 <= 32) {
		memset(c, 0, 16);
		memset(c + n16 - 16, 0, 16);
	} else if (n16 <= 64) {
		memset(c, 0, 32);
		memset(c + n16 - 32, 0, 32);
	} else
		memset(c, 0, n);
}

/* calloc: ENOMEM when n * size overflows; fresh memory is not cleared twice. */
void *
calloc(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	size_t total = n * size;
	void *p;
	if (total <= FE_CLASS_MAX) {		/* malloc()'s fast path */
		if ((p = fe_malloc(total)) != NULL) {
			if (PC_UNLIKELY(fe_checked))
				memset(p, 0, total);	/* not the slack */
			else
				fe_zero(p, total);
		}
		return p;
	}
	if (!fe_enter())
		return boot_alloc(16, total);	/* never reused: zero */
	p = big_alloc(total, 0);		/* a fresh mapping: zero */
	fe_leave();
	return p;
}

/*
 * realloc: as C and POSIX say, with the C library's choice for size 0 (p
 * is freed and NULL returned).  A class block stays where it is when the
 * new size fits it and fills at least half of it (as mimalloc and
 * tcmalloc decide: a shrinking block is not copied to save less than it
 * keeps); a big block is remapped (moved without a copy where the system can).  The
 * old block is untouched when the new one cannot be had.
 */
void *
realloc(void *p, size_t n)
{
	if (p == NULL)
		return fe_malloc(n);
	if (n == 0) {
		fe_free(p, "realloc");
		return NULL;
	}
	pcache_t *pc;
	bool big;
	size_t usable = fe_usable(p, "realloc", &pc, &big);
	if (pc != NULL && n <= usable && n >= usable / 2) {
		if (PC_UNLIKELY(fe_checked)) {
			/* No record: freed (or its record could not be made). */
			if (chk_bounds(pc, p, false) == SIZE_MAX)
				pc_panic(pc, p, "realloc of a block that is not "
				    "allocated (freed?)");
			chk_alloc(pc, p, n);
		}
		return p;
	}
	if (big && n > FE_CLASS_MAX)
		return big_resize(p, usable, n);
	void *q = fe_malloc(n);
	if (q != NULL) {
		memcpy(q, p, usable < n ? usable : n);
		fe_free(p, "realloc");
	}
	return q;
}

/* reallocarray: realloc(p, n * size), ENOMEM (p untouched) on overflow. */
void *
reallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n * size);
}

/* posix_memalign: EINVAL unless align is a power of two and a multiple of sizeof(void *). */
int
posix_memalign(void **memptr, size_t align, size_t n)
{
	int saved = errno;

	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	void *p = align <= 16 ? fe_malloc(n) : fe_aligned(align, n);
	errno = saved;			/* POSIX: the result says it all */
	if (p == NULL)
		return ENOMEM;
	*memptr = p;
	return 0;
}

/* aligned_alloc: EINVAL unless align is a power of two (C17, DR 460). */
void *
aligned_alloc(size_t align, size_t n)
{
	if (align == 0 || (align & (align - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	return align <= 16 ? fe_malloc(n) : fe_aligned(align, n);
}

/* memalign: as the C library's: an alignment not a power of two is rounded up. */
void *
memalign(size_t align, size_t n)
{
	if (align <= 16)
		return fe_malloc(n);
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	size_t a = 32;
	while (a < align)
		a *= 2;
	return fe_aligned(a, n);
}

/* valloc: page-aligned. */
void *
valloc(size_t n)
{
	return fe_aligned(fe_pagesize, n);
}

/* pvalloc: page-aligned, the size rounded up to whole pages (one for 0). */
void *
pvalloc(size_t n)
{
	if (n > SIZE_MAX - fe_pagesize) {
		errno = ENOMEM;
		return NULL;
	}
	size_t len = n == 0 ? fe_pagesize :
	    (n + fe_pagesize - 1) & ~(fe_pagesize - 1);
	return fe_aligned(fe_pagesize, len);
}

/*
 * malloc_usable_size: the bytes usable at p (in checked mode, the size
 * asked for: the slack past it is checked); 0 for NULL; aborts for a
 * foreign pointer.
 */
size_t
malloc_usable_size(void *p)
{
	pcache_t *pc;
	bool big;

	if (p == NULL)
		return 0;
	size_t usable = fe_usable(p, "malloc_usable_size", &pc, &big);
	if (PC_UNLIKELY(fe_checked) && pc != NULL) {
		size_t n = chk_bounds(pc, p, false);
		if (n != SIZE_MAX)
			usable = n;
	}
	return usable;
}

/*
 * malloc_trim: give back what the size classes hold and no program holds:
 * every cached object goes back to its slab (pcache_invalidate(): the CPUs'
 * and the depots'), then every empty slab to the system
 * (pcache_reclaim()).  `pad` is ignored: nothing is kept at the top of a
 * heap here.  1 when memory went back to the system, else 0, as the C
 * library's.
 */
int
malloc_trim(size_t pad)
{
	size_t bytes = 0;

	(void)pad;
	if (!fe_enter())
		return 0;
	for (unsigned c = 0; c < FE_NCLASS; c++) {
		/* Acquire: pairs with class_create()'s release. */
		pcache_t *pc = atomic_load_explicit(&fe_cache[c],
		    memory_order_acquire);
		if (pc != NULL) {
			pcache_invalidate(pc);
			bytes += pcache_reclaim(pc);
		}
	}
	fe_leave();
	return bytes != 0;
}
