/*
 * misuse.c -- a program that misuses malloc one way, named by its
 * argument, for expect_abort.sh to run under LD_PRELOAD of
 * libpcache-malloc (with PCACHE_DEBUG=1 where the misuse needs checked
 * mode to be seen):
 *   double-free     free() twice
 *   overrun         write past the end of a 64-byte block, then free it
 *   overrun-in-class  write one byte past a 60-byte block (inside its
 *                   64-byte class), then free it
 *   use-after-free  write into a freed block, then allocate until the
 *                   block would be handed out again
 *   foreign         free() a pointer malloc never returned
 * It exits 0 if nothing stopped it.  Built without optimisation, so that
 * the compiler keeps the misuse as written.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sink: keeps stores the compiler could otherwise drop. */
static void *volatile sink;

int
main(int argc, char **argv)
{
	static char not_ours[32];
	const char *how = argc > 1 ? argv[1] : "";
	char *p = malloc(64);

	sink = p;
	if (strcmp(how, "double-free") == 0) {
		free(p);
		free(sink);
	} else if (strcmp(how, "overrun") == 0) {
		char *q = sink;
		for (int i = 0; i < 72; i++)
			q[i] = 'x';
		free(p);
	} else if (strcmp(how, "overrun-in-class") == 0) {
		char *r = malloc(60);
		sink = r;
		((char *)sink)[60] = 'x';
		free(r);
	} else if (strcmp(how, "use-after-free") == 0) {
		free(p);
		((char *volatile)sink)[3] = 'x';
		for (int i = 0; i < 100000; i++)
			free(malloc(64));
	} else if (strcmp(how, "foreign") == 0) {
		sink = not_ours + 8;
		free(sink);
	} else {
		fprintf(stderr, "usage: misuse double-free|overrun|overrun-in-class|"
		    "use-after-free|foreign\n");
		return 2;
	}
	return 0;
}
