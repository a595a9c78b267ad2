/*
 * hv.c -- the simulated host: machine frames, the frame table, hypercalls.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Machine memory is one memfd.  The host maps all of it writable for
 * itself; the guest space maps each pfn onto the machine frame that backs
 * it, read-only while the frame is a page table.  Type counting follows the
 * paravirtual model: a table's count is its pin plus the entries that map
 * it, and a table whose count drops to zero loses its type, dropping the
 * references its own entries held.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv_impl.h"

static const char *const type_names[HV_NTYPES] = {
	"none", "writable", "L1", "L2", "L3",
};

/* hv_type_name: printable name of a frame type.  Pure. */
const char *hv_type_name(enum hv_type t)
{
	return (unsigned)t < HV_NTYPES ? type_names[t] : "?";
}

/* hv_name: the host's name.  No locking: immutable. */
const char *hv_name(const struct hv *hv)
{
	return hv->name;
}

/* hv_domid: the id of the domain it runs.  No locking: immutable. */
int hv_domid(const struct hv *hv)
{
	return hv->domid;
}

/* hv_guest_space_init: reserve nframes inaccessible pages.  0 or errno. */
int hv_guest_space_init(struct hv_guest_space *gs, size_t nframes)
{
	void *p = mmap(NULL, nframes * HV_FRAME_SIZE, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	gs->base = p;
	gs->nframes = nframes;
	gs->host = NULL;
	return 0;
}

/* hv_guest_space_fini: unmap the range.  No host may back it any more. */
void hv_guest_space_fini(struct hv_guest_space *gs)
{
	if (gs->base != NULL)
		munmap(gs->base, gs->nframes * HV_FRAME_SIZE);
	gs->base = NULL;
}

/* guest_page: guest address of pfn.  Pure. */
static void *guest_page(const struct hv_guest_space *gs, uint64_t pfn)
{
	return gs->base + pfn * HV_FRAME_SIZE;
}

/* hv_pfn: pseudo-physical number of a guest address, or HV_NO_FRAME.  Pure. */
uint64_t hv_pfn(const struct hv_guest_space *gs, const void *va)
{
	const unsigned char *p = va;
	if (p < gs->base || p >= gs->base + gs->nframes * HV_FRAME_SIZE)
		return HV_NO_FRAME;
	if ((size_t)(p - gs->base) % HV_FRAME_SIZE != 0)
		return HV_NO_FRAME;
	return (uint64_t)(p - gs->base) / HV_FRAME_SIZE;
}

/*
 * hide_guest_page: make pfn inaccessible again.  Called with the lock held
 * (or by the only thread left); the guest must not be using the page.
 */
static void hide_guest_page(struct hv_guest_space *gs, uint64_t pfn)
{
	void *p = mmap(guest_page(gs, pfn), HV_FRAME_SIZE, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("hypervisor: unmapping a guest page");
		abort();
	}
}

/* protect_guest_page: read-only or writable guest view of mfn.  Lock held. */
static void protect_guest_page(struct hv *hv, uint64_t mfn, bool readonly)
{
	if (hv->gs->host != hv)
		return;		/* the guest has moved on; nothing of ours is mapped */
	if (mprotect(guest_page(hv->gs, hv->ft[mfn].pfn), HV_FRAME_SIZE,
	    readonly ? PROT_READ : PROT_READ | PROT_WRITE) != 0) {
		perror("hypervisor: mprotect");
		abort();
	}
}

/* hv_create: see hv.h.  The new host starts backing gs. */
struct hv *hv_create(const char *name, size_t nframes, struct hv_guest_space *gs,
    int domid, enum hv_order order)
{
	struct hv *hv = calloc(1, sizeof(*hv));
	if (hv == NULL)
		return NULL;
	snprintf(hv->name, sizeof(hv->name), "%s", name);
	hv->nframes = nframes;
	hv->gs = gs;
	hv->domid = domid;
	hv->order = order;
	hv->memfd = memfd_create(hv->name, MFD_CLOEXEC);
	hv->ft = calloc(nframes, sizeof(*hv->ft));
	hv->p2m = malloc(gs->nframes * sizeof(*hv->p2m));
	if (hv->memfd < 0 || hv->ft == NULL || hv->p2m == NULL ||
	    ftruncate(hv->memfd, (off_t)(nframes * HV_FRAME_SIZE)) != 0)
		goto fail;
	hv->machine = mmap(NULL, nframes * HV_FRAME_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED, hv->memfd, 0);
	if (hv->machine == MAP_FAILED)
		goto fail;
	for (size_t i = 0; i < nframes; i++) {
		hv->ft[i].owner = HV_OWNER_FREE;
		hv->ft[i].pfn = HV_NO_FRAME;
	}
	for (size_t i = 0; i < gs->nframes; i++)
		hv->p2m[i] = HV_NO_FRAME;
	pthread_mutex_init(&hv->lock, NULL);
	gs->host = hv;
	return hv;
fail:
	if (hv->memfd >= 0)
		close(hv->memfd);
	free(hv->ft);
	free(hv->p2m);
	free(hv);
	errno = ENOMEM;
	return NULL;
}

/* hv_destroy: see hv.h.  No other call on this host may be in progress. */
void hv_destroy(struct hv *hv)
{
	if (hv == NULL)
		return;
	if (hv->gs->host == hv) {
		for (size_t pfn = 0; pfn < hv->gs->nframes; pfn++)
			if (hv->p2m[pfn] != HV_NO_FRAME)
				hide_guest_page(hv->gs, pfn);
		hv->gs->host = NULL;
	}
	munmap(hv->machine, hv->nframes * HV_FRAME_SIZE);
	close(hv->memfd);
	pthread_mutex_destroy(&hv->lock);
	free(hv->ft);
	free(hv->p2m);
	free(hv);
}

/* hv_reattach: see hv.h. */
int hv_reattach(struct hv *hv)
{
	struct hv_guest_space *gs = hv->gs;
	if (gs->host != NULL && gs->host != hv)
		return EBUSY;
	gs->host = hv;
	for (uint64_t pfn = 0; pfn < gs->nframes; pfn++) {
		uint64_t mfn = hv->p2m[pfn];
		if (mfn == HV_NO_FRAME)
			continue;
		if (mmap(guest_page(gs, pfn), HV_FRAME_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_FIXED, hv->memfd, (off_t)(mfn * HV_FRAME_SIZE)) == MAP_FAILED)
			return errno;
		if (hv->ft[mfn].type == HV_TYPE_L1 || hv->ft[mfn].type == HV_TYPE_L2)
			protect_guest_page(hv, mfn, true);
	}
	return 0;
}

/*
 * refuse: count a refused hypercall, say why on stderr, return err.
 * `counter` is the class it also counts in (or NULL).  Lock held.
 */
static int refuse(struct hv *hv, uint64_t *counter, int err, const char *fmt, ...)
{
	va_list ap;
	hv->counters.refused++;
	if (counter != NULL)
		(*counter)++;
	fprintf(stderr, "hypervisor %s: refused: ", hv->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return err;
}

/* lookup: mfn backing guest address va, or HV_NO_FRAME.  Lock held. */
static uint64_t lookup(struct hv *hv, const void *va)
{
	uint64_t pfn = hv_pfn(hv->gs, va);
	return pfn == HV_NO_FRAME ? HV_NO_FRAME : hv->p2m[pfn];
}

/* hv_mfn: see hv.h.  Takes the lock. */
uint64_t hv_mfn(struct hv *hv, const void *va)
{
	pthread_mutex_lock(&hv->lock);
	uint64_t mfn = lookup(hv, va);
	pthread_mutex_unlock(&hv->lock);
	return mfn;
}

/* pick_free_mfn: a free machine frame in this host's order.  Lock held. */
static uint64_t pick_free_mfn(struct hv *hv)
{
	for (size_t i = 0; i < hv->nframes; i++) {
		size_t mfn = hv->order == HV_ORDER_ASCENDING ? i : hv->nframes - 1 - i;
		if (hv->ft[mfn].owner == HV_OWNER_FREE)
			return mfn;
	}
	return HV_NO_FRAME;
}

/* hv_alloc_at_locked: see hv_impl.h. */
uint64_t hv_alloc_at_locked(struct hv *hv, uint64_t pfn)
{
	uint64_t mfn = pick_free_mfn(hv);
	if (mfn == HV_NO_FRAME || pfn >= hv->gs->nframes || hv->p2m[pfn] != HV_NO_FRAME)
		return HV_NO_FRAME;
	void *p = mmap(guest_page(hv->gs, pfn), HV_FRAME_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED, hv->memfd, (off_t)(mfn * HV_FRAME_SIZE));
	if (p == MAP_FAILED)
		return HV_NO_FRAME;
	hv->ft[mfn] = (struct hv_frame){ .type = HV_TYPE_WRITABLE, .owner = hv->domid,
	    .pfn = pfn };
	hv->p2m[pfn] = mfn;
	hv->in_use++;
	hv->counters.allocs++;
	return mfn;
}

/* hv_frame_alloc: see hv.h.  The lowest free pfn gets the frame. */
void *hv_frame_alloc(struct hv *hv)
{
	void *va = NULL;
	pthread_mutex_lock(&hv->lock);
	for (uint64_t pfn = 0; pfn < hv->gs->nframes; pfn++) {
		if (hv->p2m[pfn] != HV_NO_FRAME)
			continue;
		if (hv_alloc_at_locked(hv, pfn) != HV_NO_FRAME)
			va = guest_page(hv->gs, pfn);
		break;
	}
	pthread_mutex_unlock(&hv->lock);
	if (va == NULL)
		errno = ENOMEM;
	return va;
}

/* hv_frame_release: see hv.h.  The frame is scrubbed before reuse. */
int hv_frame_release(struct hv *hv, void *va)
{
	int err = 0;
	pthread_mutex_lock(&hv->lock);
	uint64_t mfn = lookup(hv, va);
	if (mfn == HV_NO_FRAME) {
		err = refuse(hv, NULL, EINVAL, "release of %p: not a guest frame", va);
	} else if (hv->ft[mfn].type != HV_TYPE_WRITABLE || hv->ft[mfn].type_count != 0) {
		err = refuse(hv, &hv->counters.refused_type, EBUSY,
		    "release of mfn %#llx: still %s, count %u", (unsigned long long)mfn,
		    hv_type_name(hv->ft[mfn].type), hv->ft[mfn].type_count);
	} else {
		uint64_t pfn = hv->ft[mfn].pfn;
		hide_guest_page(hv->gs, pfn);
		memset(hv_frame_data(hv, mfn), 0, HV_FRAME_SIZE);
		hv->ft[mfn] = (struct hv_frame){ .type = HV_TYPE_NONE,
		    .owner = HV_OWNER_FREE, .pfn = HV_NO_FRAME };
		hv->p2m[pfn] = HV_NO_FRAME;
		hv->in_use--;
		hv->counters.releases++;
	}
	pthread_mutex_unlock(&hv->lock);
	return err;
}

/* hv_is_linear: see hv_impl.h.  A present entry aimed at an L2 frame. */
bool hv_is_linear(struct hv *hv, uint64_t table, hv_pte_t e)
{
	uint64_t f = hv_pte_frame(e);
	if (!(e & HV_PTE_PRESENT) || f >= hv->nframes)
		return false;
	return f == table || hv->ft[f].type == HV_TYPE_L2;
}

/*
 * get_entry_ref: validate entry e of table `table` (of `type`) and take the
 * type reference it implies.  An L1 entry may map ordinary guest memory; an
 * L2 entry an L1 table, or an L2 table of the same guest (a linear mapping;
 * one aimed at the table itself takes no reference, as it cannot outlive
 * it).  0 or a counted refusal.  Lock held.
 */
static int get_entry_ref(struct hv *hv, uint64_t table, enum hv_type type,
    unsigned idx, hv_pte_t e)
{
	if (!(e & HV_PTE_PRESENT))
		return 0;
	uint64_t f = hv_pte_frame(e);
	if (f >= hv->nframes || hv->ft[f].owner != hv->domid)
		return refuse(hv, NULL, EPERM, "mfn %#llx entry %u maps mfn %#llx, "
		    "not a frame of domain %d", (unsigned long long)table, idx,
		    (unsigned long long)f, hv->domid);
	if (type == HV_TYPE_L2 && f == table)
		return 0;
	struct hv_frame *t = &hv->ft[f];
	bool ok = type == HV_TYPE_L1 ? t->type == HV_TYPE_WRITABLE
	    : t->type == HV_TYPE_L1 || t->type == HV_TYPE_L2;
	if (!ok)
		return refuse(hv, &hv->counters.refused_type, EPERM,
		    "%s mfn %#llx entry %u maps mfn %#llx of type %s",
		    hv_type_name(type), (unsigned long long)table, idx,
		    (unsigned long long)f, hv_type_name(t->type));
	if (type == HV_TYPE_L2)
		t->type_count++;
	return 0;
}

static void put_type(struct hv *hv, uint64_t mfn);

/* put_entry_ref: drop what get_entry_ref() took for e.  Lock held. */
static void put_entry_ref(struct hv *hv, uint64_t table, enum hv_type type, hv_pte_t e)
{
	if (type == HV_TYPE_L2 && (e & HV_PTE_PRESENT) && hv_pte_frame(e) != table)
		put_type(hv, hv_pte_frame(e));
}

/*
 * put_type: drop one type reference on mfn; at zero the table stops being
 * one, releasing its own references, and the guest may write it again.
 * Lock held.
 */
static void put_type(struct hv *hv, uint64_t mfn)
{
	struct hv_frame *f = &hv->ft[mfn];
	if (--f->type_count != 0)
		return;
	enum hv_type type = f->type;
	hv_pte_t *e = hv_frame_data(hv, mfn);
	f->type = HV_TYPE_WRITABLE;
	for (unsigned i = 0; i < HV_PT_ENTRIES; i++)
		put_entry_ref(hv, mfn, type, e[i]);
	protect_guest_page(hv, mfn, false);
}

/*
 * kernel_slots_differ: does L2 frame mfn carry kernel slots other than the
 * registered kernel L2's?  A table with no kernel slot set is not a kernel
 * half and passes.  Lock held.
 */
static bool kernel_slots_differ(struct hv *hv, uint64_t mfn, bool require)
{
	if (!hv->kernel_set || mfn == hv->kernel_mfn)
		return false;
	const hv_pte_t *mine = hv_frame_data(hv, mfn) + hv->kernel_first;
	const hv_pte_t *kern = hv_frame_data(hv, hv->kernel_mfn) + hv->kernel_first;
	bool any = false;
	for (unsigned i = 0; i < hv->kernel_count; i++)
		any |= (mine[i] & HV_PTE_PRESENT) != 0;
	if (!any && !require)
		return false;
	return memcmp(mine, kern, hv->kernel_count * sizeof(*mine)) != 0;
}

/* hv_pin_locked: see hv_impl.h. */
int hv_pin_locked(struct hv *hv, uint64_t mfn, enum hv_type type)
{
	struct hv_frame *f = &hv->ft[mfn];
	if (type != HV_TYPE_L1 && type != HV_TYPE_L2)
		return refuse(hv, NULL, EINVAL, "pin of mfn %#llx as %s: not supported",
		    (unsigned long long)mfn, hv_type_name(type));
	if (f->owner != hv->domid || f->type != HV_TYPE_WRITABLE || f->type_count != 0)
		return refuse(hv, &hv->counters.refused_type, EBUSY,
		    "pin of mfn %#llx as %s: frame is %s, count %u",
		    (unsigned long long)mfn, hv_type_name(type),
		    hv_type_name(f->type), f->type_count);
	if (type == HV_TYPE_L2 && kernel_slots_differ(hv, mfn, false))
		return refuse(hv, &hv->counters.refused_stale, ESTALE,
		    "pin of mfn %#llx: kernel slots stale", (unsigned long long)mfn);
	const hv_pte_t *e = hv_frame_data(hv, mfn);
	for (unsigned i = 0; i < HV_PT_ENTRIES; i++) {
		int err = get_entry_ref(hv, mfn, type, i, e[i]);
		if (err != 0) {
			while (i-- > 0)
				put_entry_ref(hv, mfn, type, e[i]);
			return err;
		}
	}
	f->type = (uint8_t)type;
	f->type_count = 1;
	f->pinned = true;
	hv->counters.pins++;
	protect_guest_page(hv, mfn, true);
	return 0;
}

/* hv_pin: see hv.h.  Takes the lock. */
int hv_pin(struct hv *hv, void *va, enum hv_type type)
{
	int err;
	pthread_mutex_lock(&hv->lock);
	uint64_t mfn = lookup(hv, va);
	if (mfn == HV_NO_FRAME)
		err = refuse(hv, NULL, EINVAL, "pin of %p: not a guest frame", va);
	else
		err = hv_pin_locked(hv, mfn, type);
	pthread_mutex_unlock(&hv->lock);
	return err;
}

/* hv_unpin: see hv.h.  Takes the lock. */
int hv_unpin(struct hv *hv, void *va)
{
	int err = 0;
	pthread_mutex_lock(&hv->lock);
	uint64_t mfn = lookup(hv, va);
	if (mfn == HV_NO_FRAME) {
		err = refuse(hv, NULL, EINVAL, "unpin of %p: not a guest frame", va);
	} else if (!hv->ft[mfn].pinned) {
		err = refuse(hv, &hv->counters.refused_type, EINVAL,
		    "unpin of mfn %#llx: not pinned", (unsigned long long)mfn);
	} else {
		hv->ft[mfn].pinned = false;
		hv->counters.unpins++;
		put_type(hv, mfn);
	}
	pthread_mutex_unlock(&hv->lock);
	return err;
}

/* hv_update_entry: see hv.h.  The new reference is taken before the old goes. */
int hv_update_entry(struct hv *hv, void *table, unsigned idx, hv_pte_t e)
{
	int err = 0;
	pthread_mutex_lock(&hv->lock);
	uint64_t mfn = lookup(hv, table);
	if (mfn == HV_NO_FRAME || idx >= HV_PT_ENTRIES) {
		err = refuse(hv, NULL, EINVAL, "update of %p[%u]: no such entry", table, idx);
		goto out;
	}
	struct hv_frame *f = &hv->ft[mfn];
	if (!f->pinned) {
		err = refuse(hv, &hv->counters.refused_type, EPERM,
		    "update of mfn %#llx: not a pinned table", (unsigned long long)mfn);
		goto out;
	}
	enum hv_type type = f->type;
	err = get_entry_ref(hv, mfn, type, idx, e);
	if (err != 0)
		goto out;
	hv_pte_t *slot = hv_frame_data(hv, mfn) + idx;
	hv_pte_t old = *slot;
	*slot = e;
	put_entry_ref(hv, mfn, type, old);
	hv->counters.updates++;
out:
	pthread_mutex_unlock(&hv->lock);
	return err;
}

/* hv_set_kernel_l2: see hv.h.  The kernel L2 must already be a pinned L2. */
int hv_set_kernel_l2(struct hv *hv, void *kl2, unsigned first, unsigned count)
{
	int err = 0;
	pthread_mutex_lock(&hv->lock);
	uint64_t mfn = lookup(hv, kl2);
	if (mfn == HV_NO_FRAME || hv->ft[mfn].type != HV_TYPE_L2 ||
	    first + count > HV_PT_ENTRIES) {
		err = refuse(hv, NULL, EINVAL, "kernel L2 %p: not a pinned L2", kl2);
	} else {
		hv->kernel_set = true;
		hv->kernel_mfn = mfn;
		hv->kernel_first = first;
		hv->kernel_count = count;
	}
	pthread_mutex_unlock(&hv->lock);
	return err;
}

/* hv_activate: see hv.h.  Takes the lock. */
int hv_activate(struct hv *hv, void *l2)
{
	int err = 0;
	pthread_mutex_lock(&hv->lock);
	uint64_t mfn = lookup(hv, l2);
	if (mfn == HV_NO_FRAME || hv->ft[mfn].type != HV_TYPE_L2)
		err = refuse(hv, &hv->counters.refused_type, EINVAL,
		    "activation of %p: not an L2 table", l2);
	else if (kernel_slots_differ(hv, mfn, true))
		err = refuse(hv, &hv->counters.refused_stale, ESTALE,
		    "activation of mfn %#llx: kernel slots stale", (unsigned long long)mfn);
	else
		hv->counters.activations++;
	pthread_mutex_unlock(&hv->lock);
	return err;
}

/* hv_census: see hv.h.  Takes the lock. */
void hv_census(struct hv *hv, struct hv_census *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&hv->lock);
	c->nframes = hv->nframes;
	c->in_use = hv->in_use;
	c->counters = hv->counters;
	for (uint64_t mfn = 0; mfn < hv->nframes; mfn++) {
		const struct hv_frame *f = &hv->ft[mfn];
		if (f->owner != hv->domid)
			continue;
		c->by_type[f->type]++;
		c->pinned += f->pinned;
		if (f->type != HV_TYPE_L2)
			continue;
		unsigned n = 0;
		for (unsigned i = 0; i < HV_PT_ENTRIES; i++)
			n += hv_is_linear(hv, mfn, hv_frame_data(hv, mfn)[i]);
		c->l2_recursive += n != 0;
		c->recursive_entries += n;
	}
	pthread_mutex_unlock(&hv->lock);
}

/* hv_audit: see hv.h.  Takes the lock. */
void hv_audit(struct hv *hv, struct hv_audit *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_lock(&hv->lock);
	for (uint64_t mfn = 0; mfn < hv->nframes; mfn++) {
		const struct hv_frame *f = &hv->ft[mfn];
		bool typed = f->type != HV_TYPE_NONE && f->type != HV_TYPE_WRITABLE;
		a->owned += f->owner != HV_OWNER_FREE;
		a->wrong += typed || f->pinned || f->type_count != 0;
	}
	pthread_mutex_unlock(&hv->lock);
}
