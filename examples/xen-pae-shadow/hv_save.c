/*
 * hv_save.c -- saving a guest to a host-independent image and restoring it.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Machine numbers mean nothing on another host, so the image holds every
 * page-table entry with its machine number replaced by the guest's own
 * pseudo-physical number.  A restore hands out new machine frames, rewrites
 * the entries for them, then pins every table again, which re-validates it.
 * That second validation is why L2-to-L2 mappings must be gone first: an L2
 * can only be validated once every L2 it maps already is, which a cycle of
 * recursive mappings makes impossible, so a save refuses them outright.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv_impl.h"

struct image_frame {
	uint64_t pfn;
	uint64_t old_mfn;		/* only to report renumbering */
	uint8_t  type;
	bool     pinned;
};

struct hv_snapshot {
	size_t   n;
	struct image_frame *frames;
	hv_pte_t *data;			/* n pages, in frames[] order */
	bool     kernel_set;
	uint64_t kernel_pfn;
	unsigned kernel_first, kernel_count;
};

/* is_table: does a frame of this type hold entries?  Pure. */
static bool is_table(uint8_t type)
{
	return type == HV_TYPE_L1 || type == HV_TYPE_L2 || type == HV_TYPE_L3;
}

/*
 * find_offenders: fill rep with every guest frame a save cannot take: an L2
 * holding L2-to-L2 entries, or a table not pinned (its type would be lost).
 * Returns how many.  Lock held.
 */
static size_t find_offenders(struct hv *hv, struct hv_save_report *rep)
{
	size_t n = 0;
	for (uint64_t mfn = 0; mfn < hv->nframes; mfn++) {
		const struct hv_frame *f = &hv->ft[mfn];
		if (f->owner != hv->domid || !is_table(f->type))
			continue;
		unsigned linear = 0;
		if (f->type == HV_TYPE_L2)
			for (unsigned i = 0; i < HV_PT_ENTRIES; i++)
				linear += hv_is_linear(hv, mfn, hv_frame_data(hv, mfn)[i]);
		if (linear == 0 && f->pinned)
			continue;
		if (rep->offenders != NULL)
			rep->offenders[n] = (struct hv_offender){ mfn, f->pfn, linear };
		n++;
	}
	return n;
}

/* translate: rewrite the present entries of one table through map[].  Pure. */
static size_t translate(hv_pte_t *e, const uint64_t *map, size_t map_len, bool *bad)
{
	size_t n = 0;
	for (unsigned i = 0; i < HV_PT_ENTRIES; i++) {
		if (!(e[i] & HV_PTE_PRESENT))
			continue;
		uint64_t from = hv_pte_frame(e[i]);
		if (from >= map_len || map[from] == HV_NO_FRAME) {
			*bad = true;
			continue;
		}
		e[i] = hv_pte(map[from], e[i] & HV_PTE_FLAGS_MASK);
		n++;
	}
	return n;
}

/* m2p_table: machine-to-physical map of this host, by mfn.  Lock held. */
static uint64_t *m2p_table(struct hv *hv)
{
	uint64_t *m2p = malloc(hv->nframes * sizeof(*m2p));
	if (m2p != NULL)
		for (uint64_t mfn = 0; mfn < hv->nframes; mfn++)
			m2p[mfn] = hv->ft[mfn].owner == hv->domid ? hv->ft[mfn].pfn : HV_NO_FRAME;
	return m2p;
}

/* build_image: copy every guest frame, canonicalised.  NULL on ENOMEM.  Lock held. */
static struct hv_snapshot *build_image(struct hv *hv, struct hv_save_report *rep)
{
	struct hv_snapshot *s = calloc(1, sizeof(*s));
	uint64_t *m2p = m2p_table(hv);
	if (s != NULL) {
		s->frames = calloc(hv->in_use, sizeof(*s->frames));
		s->data = malloc(hv->in_use * HV_FRAME_SIZE);
	}
	if (s == NULL || m2p == NULL || s->frames == NULL || s->data == NULL) {
		free(m2p);
		hv_snapshot_free(s);
		return NULL;
	}
	bool bad = false;
	for (uint64_t pfn = 0; pfn < hv->gs->nframes; pfn++) {
		uint64_t mfn = hv->p2m[pfn];
		if (mfn == HV_NO_FRAME)
			continue;
		const struct hv_frame *f = &hv->ft[mfn];
		hv_pte_t *page = s->data + s->n * HV_PT_ENTRIES;
		s->frames[s->n++] = (struct image_frame){ pfn, mfn, f->type, f->pinned };
		memcpy(page, hv_frame_data(hv, mfn), HV_FRAME_SIZE);
		if (is_table(f->type)) {
			rep->tables++;
			rep->entries += translate(page, m2p, hv->nframes, &bad);
		}
	}
	s->kernel_set = hv->kernel_set;
	if (hv->kernel_set) {
		s->kernel_pfn = hv->ft[hv->kernel_mfn].pfn;
		s->kernel_first = hv->kernel_first;
		s->kernel_count = hv->kernel_count;
	}
	rep->frames = s->n;
	free(m2p);
	if (bad) {		/* a table maps a frame the guest does not own */
		hv_snapshot_free(s);
		errno = EFAULT;
		return NULL;
	}
	return s;
}

/* hv_save: see hv.h.  Takes the lock; the guest must be quiescent. */
int hv_save(struct hv *hv, struct hv_snapshot **snap, struct hv_save_report *rep)
{
	int err = 0;
	memset(rep, 0, sizeof(*rep));
	*snap = NULL;
	pthread_mutex_lock(&hv->lock);
	size_t n = find_offenders(hv, rep);
	if (n != 0) {
		rep->offenders = calloc(n, sizeof(*rep->offenders));
		if (rep->offenders == NULL) {
			err = ENOMEM;
		} else {
			rep->noffenders = find_offenders(hv, rep);
			err = EBUSY;
		}
	} else if ((*snap = build_image(hv, rep)) == NULL) {
		err = errno;
	}
	pthread_mutex_unlock(&hv->lock);
	return err;
}

/* hv_snapshot_free: release an image.  NULL is a no-op. */
void hv_snapshot_free(struct hv_snapshot *snap)
{
	if (snap == NULL)
		return;
	free(snap->frames);
	free(snap->data);
	free(snap);
}

/*
 * load_frames: give every image frame a machine frame of the new host and
 * copy it there with entries translated.  0 or errno.  Lock held.
 */
static int load_frames(struct hv *hv, const struct hv_snapshot *s,
    struct hv_restore_report *rep)
{
	for (size_t i = 0; i < s->n; i++) {
		uint64_t mfn = hv_alloc_at_locked(hv, s->frames[i].pfn);
		if (mfn == HV_NO_FRAME)
			return ENOMEM;
		rep->renumbered += mfn != s->frames[i].old_mfn;
	}
	bool bad = false;
	for (size_t i = 0; i < s->n; i++) {
		hv_pte_t *page = hv_frame_data(hv, hv->p2m[s->frames[i].pfn]);
		memcpy(page, s->data + i * HV_PT_ENTRIES, HV_FRAME_SIZE);
		if (is_table(s->frames[i].type))
			rep->entries += translate(page, hv->p2m, hv->gs->nframes, &bad);
	}
	rep->frames = s->n;
	return bad ? EFAULT : 0;
}

/*
 * pin_pass: pin every pinned image frame of `type`; the kernel L2 (if any)
 * alone when kernel_only.  0 or the first refusal.  Lock held.
 */
static int pin_pass(struct hv *hv, const struct hv_snapshot *s, uint8_t type,
    bool kernel_only, struct hv_restore_report *rep)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct image_frame *f = &s->frames[i];
		bool is_kernel = s->kernel_set && f->pfn == s->kernel_pfn;
		if (f->type != type || !f->pinned || is_kernel != kernel_only)
			continue;
		int err = hv_pin_locked(hv, hv->p2m[f->pfn], (enum hv_type)type);
		if (err != 0)
			return err;
		rep->tables++;
	}
	return 0;
}

/*
 * repin_all: L1 tables first (L2 entries need them typed), then the kernel
 * L2 that other L2s are compared with, then the remaining L2s; finally check
 * that every frame came back with its saved type.  0 or errno.  Lock held.
 */
static int repin_all(struct hv *hv, const struct hv_snapshot *s,
    struct hv_restore_report *rep)
{
	int err = pin_pass(hv, s, HV_TYPE_L1, false, rep);
	if (err == 0)
		err = pin_pass(hv, s, HV_TYPE_L2, true, rep);
	if (err == 0 && s->kernel_set) {
		hv->kernel_set = true;
		hv->kernel_mfn = hv->p2m[s->kernel_pfn];
		hv->kernel_first = s->kernel_first;
		hv->kernel_count = s->kernel_count;
	}
	if (err == 0)
		err = pin_pass(hv, s, HV_TYPE_L2, false, rep);
	for (size_t i = 0; err == 0 && i < s->n; i++) {
		const struct hv_frame *f = &hv->ft[hv->p2m[s->frames[i].pfn]];
		if (f->type != s->frames[i].type || f->pinned != s->frames[i].pinned)
			err = EPROTO;
	}
	return err;
}

/* hv_restore: see hv.h.  On failure the guest space is left unbacked. */
struct hv *hv_restore(const struct hv_snapshot *snap, const char *name,
    size_t nframes, struct hv_guest_space *gs, int domid, enum hv_order order,
    struct hv_restore_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	struct hv *hv = hv_create(name, nframes, gs, domid, order);
	if (hv == NULL)
		return NULL;
	pthread_mutex_lock(&hv->lock);
	int err = snap->n > nframes ? ENOMEM : load_frames(hv, snap, rep);
	if (err == 0)
		err = repin_all(hv, snap, rep);
	pthread_mutex_unlock(&hv->lock);
	if (err != 0) {
		hv_destroy(hv);
		errno = err;
		return NULL;
	}
	return hv;
}
