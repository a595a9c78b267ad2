/*
 * dlhelper.c -- a library for test_malloc.c to dlopen() and dlclose():
 * it allocates in its constructor, hands out memory for the caller to
 * free, and frees in its destructor.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <stdlib.h>
#include <string.h>

char	*pcm_dlhelper_greet(int i);

static char *held;

#if defined(__GNUC__) || defined(__clang__)
#define HELPER_CTOR	__attribute__((constructor))
#define HELPER_DTOR	__attribute__((destructor))
#else
#define HELPER_CTOR	/* held_init() runs from the first greeting instead */
#define HELPER_DTOR	/* and the memory is not given back */
#endif

/* held_init: memory held while the library is loaded. */
HELPER_CTOR static void
held_init(void)
{
	held = malloc(1000);
	if (held != NULL)
		memset(held, 1, 1000);
}

/* held_fini: given back as the library is unloaded. */
HELPER_DTOR static void
held_fini(void)
{
	free(held);
	held = NULL;
}

/* pcm_dlhelper_greet: a string the caller frees. */
char *
pcm_dlhelper_greet(int i)
{
	(void)i;
	if (held == NULL)
		held_init();
	return strdup(held != NULL ? "hello from the helper" : "no memory");
}
