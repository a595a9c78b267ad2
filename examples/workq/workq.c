/*
 * workq.c -- a small thread pool whose work items come from a pcache:
 * producers take items, fill and queue them; workers run them and put them
 * back.  Each item owns a mutex and a heap buffer, set up by the constructor
 * and torn down by the destructor, so an item that goes round a thousand
 * times costs one malloc() and one pthread_mutex_init(), not a thousand.  A
 * hard limit on the cache bounds the items in flight: when the workers fall
 * behind, producers sleep in pcache_get(), so the queue needs no bound.
 * Exits 0 when every item ran once with its payload intact and, after
 * pcache_destroy(), every constructor call was matched and no buffer leaked.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <errno.h>
#include <pcache.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPRODUCERS	3
#define NWORKERS	2
#define NITEMS		20000	/* per producer */
#define INFLIGHT	64	/* hard limit: items out of the slab layer */
#define BUFSIZE		256

struct work {
	pthread_mutex_t	 lock;	/* the payload's (a canceller would take it) */
	char		*buf;	/* BUFSIZE bytes, owned by the item */
	size_t		 len;	/* payload bytes; 0 while the item is idle */
	uint64_t	 sum;	/* the producer's checksum of the payload */
	struct work	*next;	/* on the queue */
};

/* A FIFO of items; unbounded, since the cache's hard limit bounds it. */
static struct {
	pthread_mutex_t	 lock;
	pthread_cond_t	 nonempty;
	struct work	*head, *tail;
	int		 closed;	/* no more items will come */
} q = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.nonempty = PTHREAD_COND_INITIALIZER,
};

static pcache_t *cache;
static atomic_ulong nctor, ndtor, ndone, nbad;

/*
 * work_ctor: raw memory -> an idle item owning a mutex and a buffer; or an
 * errno value with nothing allocated, since the raw memory goes straight back.
 */
static int
work_ctor(void *arg, void *obj, int flags)
{
	struct work *w = obj;
	int error;

	(void)arg;
	(void)flags;
	if ((w->buf = malloc(BUFSIZE)) == NULL)
		return ENOMEM;
	if ((error = pthread_mutex_init(&w->lock, NULL)) != 0) {
		free(w->buf);
		return error;
	}
	w->len = 0;
	atomic_fetch_add(&nctor, 1);
	return 0;
}

/* work_dtor: undo work_ctor.  Runs only on idle items. */
static void
work_dtor(void *arg, void *obj)
{
	struct work *w = obj;

	(void)arg;
	pthread_mutex_destroy(&w->lock);
	free(w->buf);
	atomic_fetch_add(&ndtor, 1);
}

/* checksum: FNV-1a of n bytes; the worker's proof the payload arrived whole. */
static uint64_t
checksum(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;

	while (n-- > 0)
		h = (h ^ (unsigned char)*p++) * 0x100000001b3u;
	return h;
}

/* fail: report a failed call that returned an errno value; returns 1. */
static int
fail(const char *what, int error)
{
	fprintf(stderr, "workq: %s: %s\n", what, strerror(error));
	return 1;
}

/* queue_push: append an item and wake one worker. */
static void
queue_push(struct work *w)
{
	w->next = NULL;
	pthread_mutex_lock(&q.lock);
	if (q.tail != NULL)
		q.tail->next = w;
	else
		q.head = w;
	q.tail = w;
	pthread_cond_signal(&q.nonempty);
	pthread_mutex_unlock(&q.lock);
}

/* queue_pop: the oldest item, waiting for one; NULL once closed and empty. */
static struct work *
queue_pop(void)
{
	struct work *w;

	pthread_mutex_lock(&q.lock);
	while (q.head == NULL && !q.closed)
		pthread_cond_wait(&q.nonempty, &q.lock);
	if ((w = q.head) != NULL && (q.head = w->next) == NULL)
		q.tail = NULL;
	pthread_mutex_unlock(&q.lock);
	return w;
}

/* queue_close: no more items; wake every worker so that each can leave. */
static void
queue_close(void)
{
	pthread_mutex_lock(&q.lock);
	q.closed = 1;
	pthread_cond_broadcast(&q.nonempty);
	pthread_mutex_unlock(&q.lock);
}

/*
 * producer: submit NITEMS items.  PCACHE_WAITOK: at the hard limit the
 * get sleeps until a worker puts an item back, which is the backpressure.
 */
static void *
producer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < NITEMS; i++) {
		struct work *w = pcache_get(cache, PCACHE_WAITOK);

		if (w == NULL) {
			perror("workq: pcache_get");
			atomic_fetch_add(&nbad, 1);
			return NULL;
		}
		pthread_mutex_lock(&w->lock);
		if (w->len != 0)	/* handed out with a payload */
			atomic_fetch_add(&nbad, 1);
		w->len = (size_t)snprintf(w->buf, BUFSIZE,
		    "producer %u, item %u: resize thumbnail", id, i);
		w->sum = checksum(w->buf, w->len);
		pthread_mutex_unlock(&w->lock);
		queue_push(w);
	}
	return NULL;
}

/*
 * worker: run items until the queue closes.  Each item goes back idle
 * (len 0), its constructed state, since the next get will not construct it.
 */
static void *
worker(void *arg)
{
	struct work *w;

	(void)arg;
	while ((w = queue_pop()) != NULL) {
		pthread_mutex_lock(&w->lock);
		if (w->len == 0 || checksum(w->buf, w->len) != w->sum)
			atomic_fetch_add(&nbad, 1);
		w->len = 0;
		pthread_mutex_unlock(&w->lock);
		atomic_fetch_add(&ndone, 1);
		pcache_put(cache, w);
	}
	return NULL;
}

int
main(void)
{
	struct pcache_config cfg = {
		.size = sizeof(struct work),
		.ctor = work_ctor,
		.dtor = work_dtor,
	};
	pthread_t prod[NPRODUCERS], work[NWORKERS];
	struct pcache_stats st, after;
	int error, ok;

	if ((cache = pcache_create("workq", &cfg)) == NULL)
		return fail("pcache_create", errno);
	if ((error = pcache_set_hardlimit(cache, INFLIGHT)) != 0)
		return fail("pcache_set_hardlimit", error);
	for (int i = 0; i < NWORKERS; i++)
		if ((error = pthread_create(&work[i], NULL, worker, NULL)) != 0)
			return fail("pthread_create", error);
	for (int i = 0; i < NPRODUCERS; i++)
		if ((error = pthread_create(&prod[i], NULL, producer,
		    (void *)(uintptr_t)i)) != 0)
			return fail("pthread_create", error);
	for (int i = 0; i < NPRODUCERS; i++)
		pthread_join(prod[i], NULL);
	queue_close();
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(work[i], NULL);

	pcache_get_stats(cache, &st);
	printf("workq: %lu items run; cache: %llu gets, %llu from a CPU's "
	    "magazine; %llu constructed; %llu hard-limit waits; %llu bytes\n",
	    (unsigned long)ndone, (unsigned long long)st.gets,
	    (unsigned long long)st.cpu_hits, (unsigned long long)st.ctor_calls,
	    (unsigned long long)st.hardlimit_waits,
	    (unsigned long long)st.bytes);
	/* Emptied and trimmed, the cache must hold no object and no slab. */
	pcache_invalidate(cache);
	pcache_reclaim(cache);
	pcache_get_stats(cache, &after);
	if ((error = pcache_destroy(cache)) != 0)
		return fail("pcache_destroy", error);
	/* Items are constructed on leaving the slab layer: INFLIGHT at most. */
	ok = st.in_use == 0 && st.ctor_calls <= INFLIGHT &&
	    st.ctor_calls - st.dtor_calls == st.cached_cpu + st.cached_depot &&
	    after.ctor_calls == after.dtor_calls && after.slabs == 0 &&
	    after.bytes == 0 && ndone == (unsigned long)NPRODUCERS * NITEMS &&
	    nbad == 0 && nctor == ndtor;
	if (!ok)
		fprintf(stderr, "workq: FAILED: %lu run, %lu damaged, "
		    "%lu constructed, %lu destructed\n", (unsigned long)ndone,
		    (unsigned long)nbad, (unsigned long)nctor,
		    (unsigned long)ndtor);
	return ok ? 0 : 1;
}
