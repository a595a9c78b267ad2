/*
 * rcu_lookup.c -- a session table in liburcu's lock-free hash table whose
 * entries come from a PCACHE_TYPESAFE_BY_RCU cache and go back with
 * pcache_put_rcu().  Reader threads look sessions up with no lock while
 * writers delete and re-insert them; every session a reader finds must be
 * whole and be the one it looked for.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * usage: rcu-lookup [seconds [readers [writers]]]   (default 1 2 1)
 * Prints lookups per second, sessions recycled and the grace periods the
 * deferred puts waited for; exits 1 on any inconsistency.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>		/* urcu-memb, the flavour pcache uses by default */
#include <urcu/rculfhash.h>

#include <pcache.h>

#define NKEYS		4096
#define SESSION_LIVE	0x53455353u	/* "SESS" */
#define SESSION_DEAD	0x44454144u	/* "DEAD" */

struct session {
	struct cds_lfht_node node;
	uint32_t magic;
	uint64_t id;
	uint64_t check;		/* a function of id: a torn or reused entry shows */
	char	 payload[64];
};

static struct cds_lfht *table;
static pcache_t *sessions;
static atomic_int stop;
static atomic_uint_fast64_t lookups, hits, bad, inserted, deleted;

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* session_ctor, session_dtor: the cache keeps sessions constructed. */
static int
session_ctor(void *arg, void *obj, int flags)
{
	struct session *s = obj;

	(void)arg;
	(void)flags;
	cds_lfht_node_init(&s->node);
	s->magic = SESSION_LIVE;
	return 0;
}

static void
session_dtor(void *arg, void *obj)
{
	(void)arg;
	/* Readers may still read it: mark it, never scribble over it. */
	((struct session *)obj)->magic = SESSION_DEAD;
}

static int
match(struct cds_lfht_node *node, const void *key)
{
	const struct session *s = caa_container_of(node, struct session, node);

	return s->id == *(const uint64_t *)key;
}

/* find: the session with this id, or NULL.  Inside a read-side section. */
static struct cds_lfht_node *
find(uint64_t id)
{
	struct cds_lfht_iter it;

	cds_lfht_lookup(table, mix(id), match, &id, &it);
	return cds_lfht_iter_get_node(&it);
}

static void *
reader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint64_t n = 0, found = 0;

	rcu_register_thread();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t id = (uint64_t)rand_r(&seed) % NKEYS;

		rcu_read_lock();
		struct cds_lfht_node *node = find(id);
		if (node != NULL) {
			struct session *s = caa_container_of(node, struct session, node);
			if (s->magic != SESSION_LIVE || s->id != id ||
			    s->check != mix(id) + 1)
				atomic_fetch_add(&bad, 1);
			found++;
		}
		rcu_read_unlock();
		n++;
	}
	atomic_fetch_add(&lookups, n);
	atomic_fetch_add(&hits, found);
	rcu_unregister_thread();
	return NULL;
}

static void *
writer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	rcu_register_thread();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t id = (uint64_t)rand_r(&seed) % NKEYS;

		rcu_read_lock();
		struct cds_lfht_node *node = find(id);
		if (node != NULL && cds_lfht_del(table, node) == 0) {
			rcu_read_unlock();
			/* Unlinked: readers may hold it until a grace period. */
			pcache_put_rcu(sessions,
			    caa_container_of(node, struct session, node));
			atomic_fetch_add(&deleted, 1);
			continue;
		}
		rcu_read_unlock();
		struct session *s = pcache_get(sessions, PCACHE_WAITOK);
		if (s == NULL) {
			atomic_fetch_add(&bad, 1);
			continue;
		}
		s->id = id;
		s->check = mix(id) + 1;
		rcu_read_lock();
		struct cds_lfht_node *got = cds_lfht_add_unique(table, mix(id),
		    match, &id, &s->node);
		rcu_read_unlock();
		if (got != &s->node)
			pcache_put(sessions, s);	/* never published */
		else
			atomic_fetch_add(&inserted, 1);
	}
	rcu_unregister_thread();
	return NULL;
}

/* drain: unlink every session and put it back after a grace period. */
static void
drain(void)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	rcu_read_lock();
	cds_lfht_for_each(table, &it, node) {
		if (cds_lfht_del(table, node) == 0)
			pcache_put_rcu(sessions,
			    caa_container_of(node, struct session, node));
	}
	rcu_read_unlock();
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	int nreaders = argc > 2 ? atoi(argv[2]) : 2;
	int nwriters = argc > 3 ? atoi(argv[3]) : 1;
	struct pcache_config cfg = {
		.size = sizeof(struct session),
		.flags = PCACHE_TYPESAFE_BY_RCU,
		.ctor = session_ctor,
		.dtor = session_dtor,
	};
	pthread_t t[64];

	if (secs <= 0 || nreaders < 1 || nwriters < 1 || nreaders + nwriters > 64) {
		fprintf(stderr, "usage: %s [seconds [readers [writers]]]\n", argv[0]);
		return 2;
	}
	rcu_register_thread();
	sessions = pcache_create("sessions", &cfg);
	table = cds_lfht_new(NKEYS, NKEYS, 0, CDS_LFHT_AUTO_RESIZE, NULL);
	if (sessions == NULL || table == NULL) {
		perror("rcu-lookup: set-up");
		return 1;
	}
	for (int i = 0; i < nreaders; i++)
		pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < nwriters; i++)
		pthread_create(&t[nreaders + i], NULL, writer,
		    (void *)(uintptr_t)(100 + i));
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, 1);
	for (int i = 0; i < nreaders + nwriters; i++)
		pthread_join(t[i], NULL);

	struct pcache_stats st;
	pcache_get_stats(sessions, &st);
	printf("rcu-lookup: %d readers, %d writers, %.1f s\n", nreaders,
	    nwriters, secs);
	printf("  lookups/s         %.0f (%" PRIu64 " found)\n",
	    (double)atomic_load(&lookups) / secs, (uint64_t)atomic_load(&hits));
	printf("  sessions          %" PRIu64 " inserted, %" PRIu64
	    " deleted and recycled\n", (uint64_t)atomic_load(&inserted),
	    (uint64_t)atomic_load(&deleted));
	printf("  grace periods     %" PRIu64 " (batches of deferred puts), "
	    "%" PRIu64 " objects still deferred\n", st.rcu_batches,
	    st.rcu_deferred);

	drain();
	pcache_rcu_barrier(sessions);
	pcache_get_stats(sessions, &st);
	int failed = atomic_load(&bad) != 0 || st.in_use != 0 ||
	    st.ctor_calls - st.dtor_calls != st.cached_cpu + st.cached_depot ||
	    atomic_load(&lookups) == 0 || atomic_load(&deleted) == 0;
	printf("  inconsistencies   %" PRIu64 "; in use after drain %" PRIu64 "\n",
	    (uint64_t)atomic_load(&bad), st.in_use);
	if (cds_lfht_destroy(table, NULL) != 0)
		failed = 1;
	if (pcache_destroy(sessions) != 0)
		failed = 1;
	rcu_unregister_thread();
	printf("%s\n", failed ? "FAILED" : "ok");
	return failed;
}
