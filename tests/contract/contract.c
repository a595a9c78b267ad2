/*
 * contract.c -- a program written only against the public contract,
 * built against an installed libpcache with pkg-config.  Exits 0 when
 * every behaviour it checks holds.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <errno.h>
#include <pcache.h>
#include <stdio.h>

static unsigned long nctor, ndtor;

static int ctor(void *arg, void *obj, int flags) { (void)arg; (void)flags; *(int *)obj = 42; nctor++; return 0; }
static void dtor(void *arg, void *obj) { (void)arg; *(int *)obj = 0; ndtor++; }

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "contract: %s failed\n", #c); return 1; } } while (0)

int
main(void)
{
	struct pcache_config cfg = { .size = 64, .ctor = ctor, .dtor = dtor };
	struct pcache_stats st;
	void *objs[100];

	CHECK(pcache_create("bad", &(struct pcache_config){ .size = 0 }) == NULL && errno == EINVAL);
	pcache_t *pc = pcache_create("contract", &cfg);
	CHECK(pc != NULL);
	CHECK(pcache_cpu_count() >= 1);
	CHECK(pcache_get_bulk(pc, objs, 100, PCACHE_WAITOK) == 0);
	for (int i = 0; i < 100; i++)
		CHECK(*(int *)objs[i] == 42);
	CHECK(pcache_destroy(pc) == EBUSY);
	pcache_put_bulk(pc, objs, 100);
	CHECK(pcache_get_stats(pc, &st) == 0);
	CHECK(st.ctor_calls - st.dtor_calls == st.in_use + st.cached_cpu + st.cached_depot);
	pcache_invalidate(pc);
	CHECK(pcache_get_stats(pc, &st) == 0);
	CHECK(st.cached_cpu == 0 && st.cached_depot == 0);
	CHECK(pcache_set_hardlimit(pc, 1) == 0);
	void *a = pcache_get(pc, PCACHE_NOWAIT);
	CHECK(a != NULL);
	CHECK(pcache_get(pc, PCACHE_NOWAIT) == NULL && errno == EAGAIN);
	pcache_put(pc, a);
	pcache_invalidate_local(pc);
	pcache_invalidate(pc);
	(void)pcache_reclaim(pc);
	CHECK(pcache_destroy(pc) == 0);
	CHECK(nctor == ndtor);
	printf("contract: ok (%lu objects constructed and destructed)\n", nctor);
	return 0;
}
