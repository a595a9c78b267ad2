/*
 * region.c -- the built-in allocator's per-cache address-space region;
 * see region.h.  The caller serialises pc_region_take() and
 * pc_region_give() (the slab layer holds its lock); pc_region_mark() is
 * atomic.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "region.h"

/* The most a cache reserves, and the most slabs a region holds. */
#define REGION_MAX_BYTES	((uint64_t)1 << 36)	/* 64 GiB */
#define REGION_MAX_SLABS	((size_t)1 << 20)

/*
 * pc_region_env_bytes: the most a cache may reserve: REGION_MAX_BYTES, or
 * less when PCACHE_REGION gives a size (a number of bytes, with an
 * optional k, m or g); 0 (none) for "0".  Smaller reservations are for
 * address spaces that are limited (RLIMIT_AS) or slow to reserve in
 * (emulators that track every page of a mapping); slabs past the region
 * are mapped one by one.
 */
uint64_t
pc_region_env_bytes(void)
{
	const char *env = getenv("PCACHE_REGION");
	char *end;

	if (env == NULL || *env == '\0')
		return REGION_MAX_BYTES;
	unsigned long long n = strtoull(env, &end, 10);
	if (end == env)
		return REGION_MAX_BYTES;
	switch (*end) {
	case 'k': case 'K': n <<= 10; break;
	case 'm': case 'M': n <<= 20; break;
	case 'g': case 'G': n <<= 30; break;
	default: break;
	}
	/* "1" asks for the default, as it always has. */
	return n == 1 || n > REGION_MAX_BYTES ? REGION_MAX_BYTES : n;
}

/*
 * region_unmap: give a region's memory back; a placed one's space stays
 * reserved (inaccessible) for the caller who reserved it.
 */
static void
region_unmap(void *map, size_t len, bool placed)
{
	if (!placed || mmap(map, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		munmap(map, len);
}

/*
 * pc_region_init: reserve a region for slabs of `slabsize` (a power of
 * two) bytes, in `ndom` equal parts (one per NUMA domain); with `at`
 * non-NULL, map it over the first bytes of the caller's reservation
 * [at, at + atlen) instead (`at` slabsize-aligned).  False, with r->len 0,
 * when the environment says PCACHE_REGION=0 (or a size under 64 slabs a
 * part), the address space is too small, or the system refuses; the cache
 * then does without.
 */
bool
pc_region_init(struct pc_region *r, size_t slabsize, unsigned ndom,
    void *at, size_t atlen)
{
	uint64_t most = pc_region_env_bytes();

	memset(r, 0, sizeof(*r));
	if (sizeof(void *) < 8 || most == 0)
		return false;
	if (at != NULL) {
		if (((uintptr_t)at & (slabsize - 1)) != 0)
			return false;
		if ((uint64_t)atlen < most)
			most = atlen;
	}
	size_t nslabs = (size_t)(most / slabsize);
	if (nslabs > REGION_MAX_SLABS)
		nslabs = REGION_MAX_SLABS;
	if (ndom < 1 || ndom > PC_MAX_DOMAINS || nslabs / ndom < 64)
		return false;
	nslabs -= nslabs % ndom;
	size_t len = nslabs * slabsize;
	size_t maplen = at != NULL ? len : len + slabsize;	/* room to align */
	char *map = mmap(at, maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
	    (at != NULL ? MAP_FIXED : 0), -1, 0);
	if (map == MAP_FAILED)
		return false;
	r->placed = at != NULL;
	size_t metalen = nslabs / 8 + nslabs * sizeof(uint32_t);
	char *meta = mmap(NULL, metalen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (meta == MAP_FAILED) {
		region_unmap(map, maplen, r->placed);
		r->placed = false;
		return false;
	}
	r->map = map;
	r->maplen = maplen;
	r->meta = meta;
	r->metalen = metalen;
	r->base = ((uintptr_t)map + slabsize - 1) & ~(uintptr_t)(slabsize - 1);
	r->len = len;
	r->nslabs = nslabs;
	while (((size_t)1 << r->shift) < slabsize)
		r->shift++;
	r->live = (_Atomic(uint64_t) *)meta;
	r->spare = (uint32_t *)(meta + nslabs / 8);
	r->ndom = ndom;
	r->domslabs = nslabs / ndom;
	for (unsigned d = 0; d < ndom; d++)
		r->next[d] = d * r->domslabs;
	return true;
}

/* pc_region_fini: give the reservation back.  No slab is carved any more. */
void
pc_region_fini(struct pc_region *r)
{
	if (r->map != NULL) {
		region_unmap(r->map, r->maplen, r->placed);
		munmap(r->meta, r->metalen);
	}
	memset(r, 0, sizeof(*r));
}

/*
 * pc_region_take: a slab's place in domain `dom`'s part of the region,
 * released places first, or NULL when that part is full (or there is no
 * region).  Not yet live: the caller marks it once the slab is set up.
 * Serialised by the caller.
 */
void *
pc_region_take(struct pc_region *r, unsigned dom)
{
	size_t i;

	if (r->len == 0 || dom >= r->ndom)
		return NULL;
	if (r->dspare[dom] > 0) {
		i = r->spare[dom * r->domslabs + --r->dspare[dom]];
		r->nspare--;
	} else if (r->next[dom] < (dom + 1) * r->domslabs)
		i = r->next[dom]++;
	else
		return NULL;
	return (void *)(r->base + ((uintptr_t)i << r->shift));
}

/*
 * pc_region_give: a released slab's place: its memory goes back to the
 * system and the place is reused first.  The caller unmarked it.
 * Serialised by the caller.
 */
void
pc_region_give(struct pc_region *r, void *slab)
{
	size_t i = ((uintptr_t)slab - r->base) >> r->shift;

	size_t dom = i / r->domslabs;

	(void)madvise(slab, (size_t)1 << r->shift, MADV_DONTNEED);
	r->spare[dom * r->domslabs + r->dspare[dom]++] = (uint32_t)i;
	r->nspare++;
}

/*
 * pc_region_mark: a slab in the region becomes live (set up, on the slab
 * lists) or stops being live (about to be released).  Atomic; the slab
 * layer calls it with no lock held.
 */
void
pc_region_mark(struct pc_region *r, const void *slab, bool live)
{
	size_t i = ((uintptr_t)slab - r->base) >> r->shift;
	uint64_t bit = (uint64_t)1 << (i & 63);

	/*
	 * Release (set) / relaxed (clear): a put's check pairs with nothing;
	 * the release only keeps the set after the slab's set-up for a reader
	 * that also reads the header (checked mode's slow paths).
	 */
	if (live)
		atomic_fetch_or_explicit(&r->live[i >> 6], bit, memory_order_release);
	else
		atomic_fetch_and_explicit(&r->live[i >> 6], ~bit, memory_order_relaxed);
}
