/*
 * sysalloc.c -- the library's own allocator in libpcache-malloc (built
 * with PCACHE_MALLOC_BUILD only; core.h says why): where the descriptors,
 * magazines, per-CPU arrays and off-slab headers of the malloc front
 * end's caches come from, since malloc() there is the front end itself.
 * A leaf: mmap and one lock, nothing else of the library.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Memory comes in chunks of SYS_CHUNK bytes aligned to SYS_CHUNK, each
 * starting with a header, so that the chunk of a block is its address
 * rounded down and a free needs no header in front of the block.
 *   - Small requests (up to SYS_SMALL_MAX bytes, alignment included) are
 *     rounded up to a power of two and carved from a chunk of that class
 *     at multiples of the class size, past the header: every block is
 *     aligned to its size.  A freed block goes on its class's free list
 *     (the link in its first word) and is reused first.  Chunks are never
 *     given back: what the library allocates for itself is bounded by its
 *     caches, which the front end never destroys.
 *   - Larger requests get a mapping of their own, the header in its first
 *     bytes and the block after it; free unmaps it.
 * One mutex guards the free lists and the chunks being carved; the front
 * end's fork handlers hold it across fork() (pc_sys_lock()).  It is a
 * leaf lock: nothing else is taken while it is held.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"

#define SYS_CHUNK	((size_t)256 * 1024)	/* a power of two */
#define SYS_HDR		64			/* header bytes; a cache line */
#define SYS_MIN_SHIFT	4			/* the smallest class: 16 bytes */
#define SYS_MAX_SHIFT	15			/* the largest: 32 KiB */
#define SYS_SMALL_MAX	((size_t)1 << SYS_MAX_SHIFT)
#define SYS_NCLASS	(SYS_MAX_SHIFT - SYS_MIN_SHIFT + 1)
#define SYS_LARGE	0xffffu			/* chunk class of a large block */
#define SYS_MAGIC	0x70637379u		/* "pcsy" */

struct sys_chunk {
	uint32_t	 magic;
	uint32_t	 cls;		/* class index, or SYS_LARGE */
	size_t		 maplen;	/* a large block's whole mapping */
};

struct sys_class {
	void		*free;		/* freed blocks, linked through word 0 */
	char		*carve;		/* next block never handed out */
	char		*end;		/* end of the chunk being carved */
};

static pthread_mutex_t	 sys_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct sys_class	 sys_classes[SYS_NCLASS];

/*
 * sys_corrupt: a pointer whose chunk header is not one of ours reached
 * pc_sys_free(): the library's own memory is corrupt.  Say so and abort,
 * without stdio and without debug.c, which lies above this leaf.
 */
PC_NORETURN PC_NOINLINE static void
sys_corrupt(void)
{
	static const char msg[] =
	    "libpcache: internal allocator: freeing a block it never gave out\n";

	ssize_t w = write(2, msg, sizeof(msg) - 1);	/* nothing to do if it fails */

	(void)w;
	abort();
}

/* pc_sys_lock, pc_sys_unlock: hold the allocator across fork(). */
void
pc_sys_lock(void)
{
	pthread_mutex_lock(&sys_mutex);
}

void
pc_sys_unlock(void)
{
	pthread_mutex_unlock(&sys_mutex);
}

/*
 * map_aligned: `len` bytes (a multiple of the page size) of fresh
 * anonymous memory aligned to SYS_CHUNK, or NULL: a mapping SYS_CHUNK
 * larger, trimmed at both ends.  No lock needed.
 */
static char *
map_aligned(size_t len)
{
	if (len > SIZE_MAX - SYS_CHUNK)
		return NULL;
	char *p = mmap(NULL, len + SYS_CHUNK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)p + SYS_CHUNK - 1) & ~(uintptr_t)(SYS_CHUNK - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + len + SYS_CHUNK)
		munmap(a + len, (size_t)(p + len + SYS_CHUNK - (a + len)));
	return a;
}

/*
 * large_alloc: n bytes at an offset of at least SYS_HDR, aligned to
 * `align` (below SYS_CHUNK), in a mapping of their own.  NULL with errno
 * ENOMEM.  No lock needed.
 */
static void *
large_alloc(size_t align, size_t n)
{
	size_t off = align > SYS_HDR ? align : SYS_HDR;

	if (n > SIZE_MAX / 2 - off) {
		errno = ENOMEM;
		return NULL;
	}
	/* Page-rounded: 64 KiB covers every page size Linux uses. */
	size_t len = (off + n + 65535) & ~(size_t)65535;
	char *base = map_aligned(len);
	if (base == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	struct sys_chunk *h = (struct sys_chunk *)base;
	h->magic = SYS_MAGIC;
	h->cls = SYS_LARGE;
	h->maplen = len;
	return base + off;
}

/*
 * class_refill: a fresh chunk for class `c`, whose carve pointer ran out.
 * sys_mutex held (mmap under it: rare, and the lock is a leaf).  False
 * when no memory could be had.
 */
static bool
class_refill(unsigned c)
{
	size_t bsize = (size_t)1 << (c + SYS_MIN_SHIFT);
	char *base = map_aligned(SYS_CHUNK);

	if (base == NULL)
		return false;
	struct sys_chunk *h = (struct sys_chunk *)base;
	h->magic = SYS_MAGIC;
	h->cls = c;
	h->maplen = SYS_CHUNK;
	sys_classes[c].carve = base + (bsize > SYS_HDR ? bsize : SYS_HDR);
	sys_classes[c].end = base + SYS_CHUNK;
	return true;
}

/*
 * pc_sys_aligned_alloc: see core.h.  `align` a power of two below
 * SYS_CHUNK (the library asks for a cache line at most); EINVAL
 * otherwise.  Takes sys_mutex for small blocks.
 */
void *
pc_sys_aligned_alloc(size_t align, size_t n)
{
	if (align == 0 || (align & (align - 1)) != 0 || align >= SYS_CHUNK) {
		errno = EINVAL;
		return NULL;
	}
	size_t need = n > align ? n : align;
	if (need > SYS_SMALL_MAX)
		return large_alloc(align, n);
	unsigned c = 0;
	while (((size_t)1 << (c + SYS_MIN_SHIFT)) < need)
		c++;
	struct sys_class *k = &sys_classes[c];
	size_t bsize = (size_t)1 << (c + SYS_MIN_SHIFT);
	void *p;

	pthread_mutex_lock(&sys_mutex);
	if ((p = k->free) != NULL)
		k->free = *(void **)p;
	else if (k->carve + bsize <= k->end || class_refill(c)) {
		p = k->carve;
		k->carve += bsize;
	}
	pthread_mutex_unlock(&sys_mutex);
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

/* pc_sys_malloc: see core.h.  16-byte aligned, as malloc() is. */
void *
pc_sys_malloc(size_t n)
{
	return pc_sys_aligned_alloc(16, n);
}

/* pc_sys_calloc: see core.h.  ENOMEM when n * size overflows. */
void *
pc_sys_calloc(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = pc_sys_malloc(n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

/*
 * pc_sys_free: see core.h.  The chunk header, found by rounding down,
 * says what the block is.  Takes sys_mutex for small blocks.
 */
void
pc_sys_free(void *p)
{
	if (p == NULL)
		return;
	struct sys_chunk *h = (struct sys_chunk *)((uintptr_t)p &
	    ~(uintptr_t)(SYS_CHUNK - 1));
	if (h->magic != SYS_MAGIC)
		sys_corrupt();
	if (h->cls == SYS_LARGE) {
		munmap(h, h->maplen);
		return;
	}
	if (h->cls >= SYS_NCLASS)
		sys_corrupt();
	pthread_mutex_lock(&sys_mutex);
	*(void **)p = sys_classes[h->cls].free;
	sys_classes[h->cls].free = p;
	pthread_mutex_unlock(&sys_mutex);
}
