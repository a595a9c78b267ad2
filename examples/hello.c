/*
 * hello.c -- the smallest useful libpcache program: a cache of
 * constructed buffers, used from two threads, with its figures printed.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <pcache.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct msgbuf {
	size_t len;
	char data[240];
};

/* Constructor: runs once per object, not once per get. */
static int
msgbuf_ctor(void *arg, void *obj, int flags)
{
	(void)arg;
	(void)flags;
	struct msgbuf *m = obj;
	m->len = 0;
	memset(m->data, 0, sizeof(m->data));
	return 0;
}

static void *
worker(void *arg)
{
	pcache_t *pc = arg;

	for (int i = 0; i < 100000; i++) {
		struct msgbuf *m = pcache_get(pc, PCACHE_WAITOK);
		if (m == NULL) {
			perror("pcache_get");
			return NULL;
		}
		m->len = (size_t)snprintf(m->data, sizeof(m->data), "message %d", i);
		m->len = 0;		/* back to the constructed state */
		pcache_put(pc, m);
	}
	return NULL;
}

int
main(void)
{
	struct pcache_config cfg = {
		.size = sizeof(struct msgbuf),
		.ctor = msgbuf_ctor,
	};
	pcache_t *pc = pcache_create("msgbuf", &cfg);
	pthread_t t[2];
	struct pcache_stats st;

	if (pc == NULL) {
		perror("pcache_create");
		return 1;
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, pc);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pcache_get_stats(pc, &st);
	printf("cache 'msgbuf': %llu gets, %llu served by a CPU's magazine, "
	    "%llu constructor calls, %llu objects cached, %u CPU slots\n",
	    (unsigned long long)st.gets, (unsigned long long)st.cpu_hits,
	    (unsigned long long)st.ctor_calls,
	    (unsigned long long)(st.cached_cpu + st.cached_depot),
	    pcache_cpu_count());
	return pcache_destroy(pc) == 0 ? 0 : 1;
}
