/*
 * peak.c -- memory held, not speed: allocate a large working set of
 * mixed sizes, free a random 90% of it, allocate the same amount again in
 * other sizes, and report the peak resident set (maxrss_kb) and the
 * resident set at the end (rss_kb), against the bytes the program held
 * at its peak (live_kb).  An allocator that cannot reuse or give back the
 * freed memory shows it here.
 *
 *   peak [SCALE]   (1: about 200 MB requested at the peak)
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <unistd.h>

#include "mbench.h"

/* rss_kb: the resident set now, from /proc/self/statm; 0 where unknown. */
static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = 0;
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

int
main(int argc, char **argv)
{
	double scale = mb_arg(argc, argv, 1, 1);
	size_t n = (size_t)(1000000 * scale);
	void **blk = calloc(n, sizeof(void *));
	size_t *len = calloc(n, sizeof(size_t));
	uint64_t rng = 7;
	size_t live = 0, peak = 0;
	double t0 = mb_now();

	for (size_t i = 0; i < n; i++) {
		len[i] = 16 + mb_rand(&rng) % 300;
		blk[i] = malloc(len[i]);
		memset(blk[i], 1, len[i]);
		live += len[i];
	}
	peak = live;
	for (size_t i = 0; i < n; i++) {
		if (mb_rand(&rng) % 10 != 0) {
			free(blk[i]);
			live -= len[i];
			blk[i] = NULL;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (blk[i] == NULL) {
			len[i] = 200 + mb_rand(&rng) % 2000;
			if (mb_rand(&rng) % 4 != 0)
				continue;		/* a quarter, in bigger blocks */
			blk[i] = malloc(len[i]);
			memset(blk[i], 2, len[i]);
			live += len[i];
		}
	}
	if (live > peak)
		peak = live;
	long end_rss = rss_kb();
	mb_report("peak", 1, n, mb_now() - t0);
	printf("bench=peak live_kb=%zu rss_kb=%ld\n", peak / 1024, end_rss);
	for (size_t i = 0; i < n; i++)
		free(blk[i]);
	free(blk);
	free(len);
	return 0;
}
