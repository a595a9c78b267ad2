/*
 * xmalloc.c -- producers and consumers in the manner of xmalloc-test:
 * producer threads allocate blocks and pass them in batches through a
 * locked queue to consumer threads, which free them.  Every free is a
 * cross-thread free; the allocator must move memory back to where it is
 * allocated.
 *
 *   xmalloc [SECONDS [PAIRS [BATCH [MAXSIZE]]]]   (1 1 64 256)
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include "mbench.h"

#define QUEUE_MAX	64		/* batches in flight, at most */

struct batch {
	struct batch *next;
	unsigned n;
	void *blk[];
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_nonempty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_nonfull = PTHREAD_COND_INITIALIZER;
static struct batch *q_head, *q_tail;
static unsigned q_len, producers_left;
static unsigned batch_size;
static size_t max_size;
static double deadline;
static atomic_uint_fast64_t total_ops;

/* producer: batches of fresh blocks onto the queue until the deadline. */
static void *
producer(void *arg)
{
	uint64_t rng = 0x1234567u + (uintptr_t)arg, ops = 0;

	while (mb_now() < deadline) {
		struct batch *b = malloc(sizeof(*b) + batch_size * sizeof(void *));
		b->next = NULL;
		b->n = batch_size;
		for (unsigned i = 0; i < batch_size; i++) {
			size_t n = 8 + mb_rand(&rng) % max_size;
			b->blk[i] = malloc(n);
			mb_touch(b->blk[i], n);
		}
		ops += batch_size;
		pthread_mutex_lock(&q_lock);
		while (q_len >= QUEUE_MAX)
			pthread_cond_wait(&q_nonfull, &q_lock);
		if (q_tail != NULL)
			q_tail->next = b;
		else
			q_head = b;
		q_tail = b;
		q_len++;
		pthread_cond_signal(&q_nonempty);
		pthread_mutex_unlock(&q_lock);
	}
	pthread_mutex_lock(&q_lock);
	producers_left--;
	pthread_cond_broadcast(&q_nonempty);
	pthread_mutex_unlock(&q_lock);
	atomic_fetch_add(&total_ops, ops);
	return NULL;
}

/* consumer: frees what comes off the queue until producers are done. */
static void *
consumer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&q_lock);
		while (q_head == NULL && producers_left > 0)
			pthread_cond_wait(&q_nonempty, &q_lock);
		struct batch *b = q_head;
		if (b == NULL) {
			pthread_mutex_unlock(&q_lock);
			return NULL;
		}
		q_head = b->next;
		if (q_head == NULL)
			q_tail = NULL;
		q_len--;
		pthread_cond_signal(&q_nonfull);
		pthread_mutex_unlock(&q_lock);
		for (unsigned i = 0; i < b->n; i++)
			free(b->blk[i]);
		free(b);
	}
}

int
main(int argc, char **argv)
{
	double secs = mb_arg(argc, argv, 1, 1);
	unsigned pairs = (unsigned)mb_arg(argc, argv, 2, 1);
	batch_size = (unsigned)mb_arg(argc, argv, 3, 64);
	max_size = (size_t)mb_arg(argc, argv, 4, 256);
	if (pairs == 0 || batch_size == 0 || max_size == 0)
		return 2;
	pthread_t *tid = calloc(2 * pairs, sizeof(*tid));
	producers_left = pairs;
	double t0 = mb_now();
	deadline = t0 + secs;
	for (unsigned i = 0; i < pairs; i++) {
		pthread_create(&tid[2 * i], NULL, producer, (void *)(uintptr_t)i);
		pthread_create(&tid[2 * i + 1], NULL, consumer, NULL);
	}
	for (unsigned i = 0; i < 2 * pairs; i++)
		pthread_join(tid[i], NULL);
	double t1 = mb_now();
	mb_report("xmalloc", 2 * pairs, atomic_load(&total_ops), t1 - t0);
	free(tid);
	return 0;
}
