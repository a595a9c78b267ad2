/*
 * use_after_put.c -- reads an object after giving it back, the bug an
 * object cache otherwise hides.  Run under AddressSanitizer or Valgrind's
 * memcheck, a libpcache built for them must make the checker report it.
 * Exits 0 when it was not caught (the read "worked").
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <pcache.h>
#include <stdio.h>

int
main(void)
{
	struct pcache_config cfg = { .size = 64 };
	pcache_t *pc = pcache_create("uap", &cfg);
	volatile char *obj;

	if (pc == NULL)
		return 2;
	obj = pcache_get(pc, PCACHE_WAITOK);
	obj[3] = 'x';
	pcache_put(pc, (void *)obj);
	char c = obj[3];			/* use after put */
	printf("read %d after put: not caught\n", c);
	return 0;
}
