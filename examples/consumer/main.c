/*
 * main.c -- a program that uses libpcache from outside its source tree:
 * a cache of constructed records, filled, emptied and destroyed.  Exits 0
 * when every record constructed was destructed exactly once.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <pcache.h>
#include <stdio.h>
#include <string.h>

#define NREC	1000

struct record {
	unsigned	magic;		/* RECORD_MAGIC while constructed */
	char		text[60];
};

#define RECORD_MAGIC	0x5eed

static unsigned long nctor, ndtor;

/* record_ctor: a blank record.  Runs when a record leaves the slab layer. */
static int
record_ctor(void *arg, void *obj, int flags)
{
	struct record *r = obj;

	(void)arg;
	(void)flags;
	r->magic = RECORD_MAGIC;
	memset(r->text, 0, sizeof(r->text));
	nctor++;
	return 0;
}

/* record_dtor: undo record_ctor, so a stale pointer shows a dead record. */
static void
record_dtor(void *arg, void *obj)
{
	struct record *r = obj;

	(void)arg;
	r->magic = 0;
	ndtor++;
}

int
main(void)
{
	struct pcache_config cfg = {
		.size = sizeof(struct record),
		.ctor = record_ctor,
		.dtor = record_dtor,
	};
	static struct record *recs[NREC];
	pcache_t *pc = pcache_create("record", &cfg);

	if (pc == NULL) {
		perror("pcache_create");
		return 1;
	}
	for (int i = 0; i < NREC; i++) {
		if ((recs[i] = pcache_get(pc, PCACHE_WAITOK)) == NULL) {
			perror("pcache_get");
			return 1;
		}
		if (recs[i]->magic != RECORD_MAGIC) {
			fprintf(stderr, "consumer: record %d not constructed\n", i);
			return 1;
		}
		snprintf(recs[i]->text, sizeof(recs[i]->text), "record %d", i);
	}
	for (int i = 0; i < NREC; i++) {
		/* Back to the constructed state before it goes back. */
		memset(recs[i]->text, 0, sizeof(recs[i]->text));
		pcache_put(pc, recs[i]);
	}
	if (pcache_destroy(pc) != 0) {
		fprintf(stderr, "consumer: pcache_destroy failed\n");
		return 1;
	}
	printf("consumer: %lu records constructed, %lu destructed\n",
	    nctor, ndtor);
	return nctor == NREC && ndtor == nctor ? 0 : 1;
}
