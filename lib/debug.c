/*
 * debug.c -- abort messages and the switches of checked mode.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcache_impl.h"

/*
 * pc_panic: print "libpcache: cache 'NAME': pointer P: MESSAGE" on stderr
 * and abort.  Used for misuse that would otherwise corrupt the cache, such
 * as a put of a pointer the cache does not own.  Takes no lock, so it is
 * safe from any context that still has a usable stderr.
 */
void
pc_panic(const pcache_t *pc, const void *obj, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "libpcache: cache '%s': pointer %p: %s\n",
	    pc != NULL ? pc->name : "?", obj, msg);
	fflush(stderr);
	abort();
}

/*
 * pc_env_debug: true when the environment asks for checked mode in every
 * cache (PCACHE_DEBUG set to anything but "" or "0").
 */
bool
pc_env_debug(void)
{
	const char *v = getenv("PCACHE_DEBUG");

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}
