/*
 * test_malloc.c -- libpcache-malloc's calls at their edges, in a program
 * linked with the library (so that its malloc is the program's): zero
 * sizes, alignment, the class table's waste bound, calloc overflow and
 * zeroing, realloc's cases, the aligned calls, big blocks, frees across
 * threads and after a thread's exit, fork() while other threads
 * allocate, dlopen()/dlclose() of a library that allocates, and the abort
 * for a pointer that is not the library's.  Run plainly and with
 * PCACHE_DEBUG=1 (checked caches).
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * PCM_DLHELPER names the helper library dlopen()ed (dlhelper.c).
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Sizes the compiler cannot see, so that it does not refuse the calls
 * that test overflow at build time.
 */
static volatile size_t half_max = SIZE_MAX / 2;
static volatile size_t near_max = SIZE_MAX - 4096;
static volatile size_t align48 = 48;	/* not a power of two */

/* hide: p, as a pointer the compiler cannot follow (for bad frees). */
static void *
hide(void *p)
{
	void *volatile v = p;

	return v;
}

/* aligned: whether p is aligned to a. */
static int
aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* fill, check_fill: a pattern depending on the offset and a seed. */
static void
fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

/* check_fill: one assertion per block (each of Check's is costly). */
static void
check_fill(const unsigned char *p, size_t n, unsigned seed)
{
	size_t i = 0;

	while (i < n && p[i] == (unsigned char)(i * 31 + seed))
		i++;
	ck_assert_msg(i == n, "byte %zu of %zu changed", i, n);
}

/* all_zero: whether p[0 .. n) is all zero bytes. */
static bool
all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

/*
 * This library's malloc is the program's: glibc would say 104 here (and
 * checked mode the size asked for, since it checks the rest).
 */
START_TEST(test_ours)
{
	void *p = malloc(100);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(malloc_usable_size(p), getenv("PCACHE_DEBUG") ? 100 : 112);
	free(p);
	ck_assert_uint_eq(malloc_usable_size(NULL), 0);
}
END_TEST

/* malloc(0): distinct pointers, each freeable; free(NULL) does nothing. */
START_TEST(test_zero)
{
	void *p[64];

	for (int i = 0; i < 64; i++) {
		p[i] = malloc(0);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert(aligned(p[i], 16));
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(p[i], p[j]);
	}
	for (int i = 0; i < 64; i++)
		free(p[i]);
	free(NULL);
}
END_TEST

/*
 * Every size up to the largest class and past it: 16-byte alignment, the
 * usable size holds the request, and the waste stays within the class
 * table's bound (15 bytes to 128, a quarter above).
 */
START_TEST(test_classes)
{
	for (size_t n = 1; n <= 1500000; n += n < 2048 ? 1 : n / 37) {
		unsigned char *p = malloc(n);
		ck_assert_ptr_nonnull(p);
		ck_assert(aligned(p, 16));
		size_t u = malloc_usable_size(p);
		ck_assert_uint_ge(u, n);
		if (n <= 128)
			ck_assert_uint_lt(u - n, 16);
		else if (n <= 1 << 20)
			ck_assert_uint_le(u - n, n / 4);
		p[0] = 1;
		p[u - 1] = 2;
		free(p);
	}
}
END_TEST

/* calloc: ENOMEM on overflow; zeroed memory even where a block is reused. */
START_TEST(test_calloc)
{
	errno = 0;
	ck_assert_ptr_null(calloc(half_max, 3));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(calloc(3, half_max));
	static const size_t sizes[] = { 0, 1, 24, 100, 1000, 5000, 65536, 70000,
	    1 << 20 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		for (int round = 0; round < 4; round++) {
			unsigned char *d = malloc(n);
			ck_assert_ptr_nonnull(d);
			memset(d, 0xff, n);
			free(d);
			unsigned char *z = calloc(1, n);
			ck_assert_ptr_nonnull(z);
			ck_assert_msg(all_zero(z, n), "calloc(1, %zu) not zeroed", n);
			free(z);
		}
	}
}
END_TEST

/* realloc: NULL, size 0, in place within the class, moves keeping the contents. */
START_TEST(test_realloc)
{
	unsigned char *p = realloc(NULL, 100);

	ck_assert_ptr_nonnull(p);
	uintptr_t was = (uintptr_t)p;
	p = realloc(p, 97);				/* same class */
	ck_assert_uint_eq((uintptr_t)p, was);
	p = realloc(p, 112);				/* the class's size */
	ck_assert_uint_eq((uintptr_t)p, was);
	ck_assert_ptr_null(realloc(p, 0));		/* freed, as glibc does */

	/* Shrinking stays in place down to half the class, then moves. */
	p = malloc(1000);				/* the 1024-byte class */
	fill(p, 1000, 5);
	was = (uintptr_t)p;
	p = realloc(p, 512);
	ck_assert_uint_eq((uintptr_t)p, was);
	p = realloc(p, 500);
	ck_assert_uint_ne((uintptr_t)p, was);
	ck_assert_uint_lt(malloc_usable_size(p), 1024);
	check_fill(p, 500, 5);
	free(p);

	/* Up through the classes into big blocks, and down again. */
	size_t n = 1;
	p = malloc(n);
	fill(p, n, 7);
	for (; n < (size_t)4 << 20; n = n * 3 / 2 + 1) {
		size_t m = n * 3 / 2 + 1;
		p = realloc(p, m);
		ck_assert_ptr_nonnull(p);
		check_fill(p, n, 7);
		fill(p, m, 7);
	}
	for (; n > 1; n = n * 2 / 3) {
		p = realloc(p, n);
		ck_assert_ptr_nonnull(p);
		check_fill(p, n, 7);
	}
	free(p);

	/* A big block that shrinks in place, then into a class. */
	p = malloc(1 << 20);
	fill(p, 1 << 20, 3);
	p = realloc(p, 700000);
	check_fill(p, 700000, 3);
	p = realloc(p, 5000);
	check_fill(p, 5000, 3);
	ck_assert_uint_lt(malloc_usable_size(p), 65536);
	free(p);

	/* reallocarray: overflow leaves the block alone. */
	p = malloc(10);
	fill(p, 10, 1);
	errno = 0;
	ck_assert_ptr_null(reallocarray(p, half_max, 4));
	ck_assert_int_eq(errno, ENOMEM);
	check_fill(p, 10, 1);
	p = reallocarray(p, 100, 20);
	ck_assert_ptr_nonnull(p);
	check_fill(p, 10, 1);
	free(p);
}
END_TEST

/* The aligned calls, for every power of two from 16 to 2 MiB. */
START_TEST(test_aligned)
{
	void *p;

	for (size_t a = 16; a <= (size_t)2 << 20; a *= 2) {
		const size_t sizes[] = { 0, 1, a - 1, a, a + 1, 3 * a, 100 };
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			size_t n = sizes[k];
			ck_assert_int_eq(posix_memalign(&p, a, n), 0);
			ck_assert(aligned(p, a));
			ck_assert_uint_ge(malloc_usable_size(p), n);
			memset(p, 0x5a, n);
			free(p);
			p = aligned_alloc(a, n);
			ck_assert_ptr_nonnull(p);
			ck_assert(aligned(p, a));
			free(p);
			p = memalign(a, n);
			ck_assert_ptr_nonnull(p);
			ck_assert(aligned(p, a));
			free(p);
		}
	}
	ck_assert_int_eq(posix_memalign(&p, 24, 8), EINVAL);
	ck_assert_int_eq(posix_memalign(&p, sizeof(void *) / 2, 8), EINVAL);
	ck_assert_int_eq(posix_memalign(&p, 0, 8), EINVAL);
	errno = 0;
	ck_assert_ptr_null(aligned_alloc(align48, 96));
	ck_assert_int_eq(errno, EINVAL);
	p = memalign(align48, 10);			/* rounded up to 64 */
	ck_assert(aligned(p, 64));
	free(p);

	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	p = valloc(10);
	ck_assert(aligned(p, pg));
	free(p);
	p = pvalloc(10);
	ck_assert(aligned(p, pg));
	ck_assert_uint_ge(malloc_usable_size(p), pg);
	free(p);
	p = pvalloc(0);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_ge(malloc_usable_size(p), pg);
	free(p);
	errno = 0;
	ck_assert_ptr_null(pvalloc(SIZE_MAX - 1));
	ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* Big blocks: many at once (the table grows), freed in a scrambled order. */
START_TEST(test_big)
{
	enum { N = 3000 };
	static unsigned char *p[N];

	errno = 0;
	ck_assert_ptr_null(malloc(near_max));
	ck_assert_int_eq(errno, ENOMEM);
	for (int i = 0; i < N; i++) {
		size_t n = (1 << 20) + 1 + (size_t)(i % 7) * 40000;
		p[i] = malloc(n);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert(aligned(p[i], 4096));
		ck_assert_uint_ge(malloc_usable_size(p[i]), n);
		p[i][0] = (unsigned char)i;
		p[i][n - 1] = (unsigned char)i;
	}
	for (int k = 0; k < N; k++) {
		int i = (int)(((unsigned)k * 1237u) % N);
		ck_assert_uint_eq(p[i][0], (unsigned char)i);
		free(p[i]);
	}
}
END_TEST

/* rss_kb: this process's resident set, from /proc/self/statm. */
static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%ld %ld", &size, &res), 2);
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * The biggest classes keep freed blocks for reuse (no mapping per call);
 * malloc_trim() gives them back: of 128 MiB written and freed, at least
 * half leaves the resident set, and malloc_trim() says so.  A trim with
 * nothing freed since the last one says 0.
 */
START_TEST(test_trim)
{
	enum { N = 256, SZ = 512 * 1024 };
	static unsigned char *p[N];

	(void)malloc_trim(0);
	for (int i = 0; i < N; i++) {
		p[i] = malloc(SZ);
		ck_assert_ptr_nonnull(p[i]);
		memset(p[i], i, SZ);
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	long before = rss_kb();
	ck_assert_int_eq(malloc_trim(0), 1);
	long after = rss_kb();
	ck_assert_msg(before - after >= (long)N * SZ / 1024 / 2,
	    "RSS %ld kB before malloc_trim(), %ld kB after", before, after);
	(void)malloc_trim(0);		/* what rss_kb()'s stdio freed */
	ck_assert_int_eq(malloc_trim(0), 0);
	/* Reused after the trim, contents fresh to the program. */
	for (int i = 0; i < N; i++) {
		p[i] = malloc(SZ);
		ck_assert_ptr_nonnull(p[i]);
		p[i][SZ - 1] = 1;
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
}
END_TEST

/*
 * Cross-thread frees: producers allocate and hand blocks to consumers,
 * which free them; producers exit with blocks still out, which the main
 * thread frees after joining.
 */
#define XT_N		20000
#define XT_PAIRS	3

struct xt {
	void *_Atomic slots[XT_N];
	void *kept[64];
	unsigned seed;
};

static void *
xt_produce(void *arg)
{
	struct xt *x = arg;

	for (int i = 0; i < XT_N; i++) {
		size_t n = 1 + (x->seed * 2654435761u + (unsigned)i * 40503u) % 3000;
		unsigned char *p = malloc(n);
		ck_assert_ptr_nonnull(p);
		p[0] = (unsigned char)n;
		atomic_store_explicit(&x->slots[i], p, memory_order_release);
	}
	for (int i = 0; i < 64; i++)
		x->kept[i] = malloc((size_t)i * 100 + 1);	/* out at exit */
	return NULL;
}

static void *
xt_consume(void *arg)
{
	struct xt *x = arg;

	for (int i = 0; i < XT_N; i++) {
		void *p;
		while ((p = atomic_load_explicit(&x->slots[i],
		    memory_order_acquire)) == NULL)
			sched_yield();
		free(p);
	}
	return NULL;
}

START_TEST(test_threads)
{
	static struct xt x[XT_PAIRS];
	pthread_t pt[XT_PAIRS], ct[XT_PAIRS];

	for (int i = 0; i < XT_PAIRS; i++) {
		memset(&x[i], 0, sizeof(x[i]));
		x[i].seed = (unsigned)i + 1;
		ck_assert_int_eq(pthread_create(&pt[i], NULL, xt_produce, &x[i]), 0);
		ck_assert_int_eq(pthread_create(&ct[i], NULL, xt_consume, &x[i]), 0);
	}
	for (int i = 0; i < XT_PAIRS; i++) {
		pthread_join(pt[i], NULL);
		pthread_join(ct[i], NULL);
		for (int k = 0; k < 64; k++)
			free(x[i].kept[k]);
	}
}
END_TEST

/* fork() while other threads allocate: the child's malloc must work. */
static atomic_bool churn_stop;

static void *
churn(void *arg)
{
	void *held[32] = { 0 };
	unsigned s = (unsigned)(uintptr_t)arg;

	while (!atomic_load_explicit(&churn_stop, memory_order_relaxed)) {
		s = s * 1103515245u + 12345u;
		unsigned i = (s >> 8) % 32;
		free(held[i]);
		held[i] = malloc((s >> 12) % 2 ? (s >> 16) % 2000 : 70000 + (s >> 20));
	}
	for (int i = 0; i < 32; i++)
		free(held[i]);
	return NULL;
}

START_TEST(test_fork)
{
	pthread_t t[2];

	atomic_store(&churn_stop, false);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn,
		    (void *)(uintptr_t)(i + 1)), 0);
	for (int k = 0; k < 30; k++) {
		pid_t pid = fork();
		ck_assert_int_ne(pid, -1);
		if (pid == 0) {
			alarm(10);		/* a lock left held would hang */
			for (size_t n = 1; n < 300000; n = n * 2 + 1) {
				void *p = malloc(n), *q = calloc(1, n);
				if (p == NULL || q == NULL)
					_exit(2);
				free(p);
				free(q);
			}
			_exit(0);
		}
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFEXITED(status));
		ck_assert_int_eq(WEXITSTATUS(status), 0);
	}
	atomic_store(&churn_stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}
END_TEST

/* dlopen()/dlclose() of a library that allocates in its constructor. */
START_TEST(test_dlopen)
{
	const char *path = getenv("PCM_DLHELPER");

	ck_assert_ptr_nonnull(path);
	for (int i = 0; i < 10; i++) {
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
		char *(*greet)(int) = (char *(*)(int))(uintptr_t)dlsym(h, "pcm_dlhelper_greet");
		ck_assert_ptr_nonnull(greet);
		char *s = greet(i);
		ck_assert_str_eq(s, "hello from the helper");
		free(s);
		ck_assert_int_eq(dlclose(h), 0);
	}
}
END_TEST

/*
 * expect_abort: run fn in a child, and pass when it dies of SIGABRT with
 * `pattern` in what it wrote on stderr.
 */
static void
expect_abort(void (*fn)(void), const char *pattern)
{
	int fd[2];
	char buf[4096];
	size_t len = 0;

	ck_assert_int_eq(pipe(fd), 0);
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		fn();
		_exit(0);
	}
	close(fd[1]);
	/* Read to the end (the child must not die of SIGPIPE), keep the start. */
	for (;;) {
		char junk[512];
		ssize_t r = len < sizeof(buf) - 1 ?
		    read(fd[0], buf + len, sizeof(buf) - 1 - len) :
		    read(fd[0], junk, sizeof(junk));
		if (r <= 0)
			break;
		if (len < sizeof(buf) - 1)
			len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
	    "no abort; stderr: %.300s", buf);
	ck_assert_msg(strstr(buf, pattern) != NULL, "no '%s' in: %.300s", pattern, buf);
}

static void
free_foreign(void)
{
	static char not_ours[64];

	free(hide(not_ours + 16));
}

static void
free_inside(void)
{
	char *p = malloc(64);

	free(hide(p + 16));
}

static void
realloc_foreign(void)
{
	static char not_ours[64];
	void *volatile sink = realloc(hide(not_ours + 16), 100);

	(void)sink;
}

/*
 * free_far: a pointer a gigabyte (and 8 bytes) past a live 64-byte block:
 * in the span of the class area its class owns (or the next class's, or
 * past the area), in no slab that was ever carved and at no object's
 * start.
 */
static void
free_far(void)
{
	char *p = malloc(64);

	free(hide(p + ((size_t)1 << 30) + 8));
}

/*
 * free_other_span: near the same offset in the next class's span, 8 bytes
 * off, so that it is no object's start there either (every class is
 * 16-byte aligned).  Exactly the same offset could be the start of an
 * object of that class, which only checked mode tells from a bad free.
 */
static void
free_other_span(void)
{
	char *p = malloc(64);

	free(hide(p + ((size_t)1 << (sizeof(void *) > 4 ? 36 : 28)) + 8));
}

/* overrun_in_class: one byte past a 60-byte block, inside its 64-byte class. */
static void
overrun_in_class(void)
{
	char *p = hide(malloc(60));		/* the compiler must not see the overrun */

	((volatile char *)p)[60] = 'x';		/* nor drop the store */
	free(p);
}

/* overrun_then_realloc: the same, found by realloc() growing the block in place. */
static void
overrun_then_realloc(void)
{
	char *p = hide(malloc(50));

	((volatile char *)p)[50] = 'x';
	p = realloc(p, 60);
	free(p);
}

/*
 * Checked mode knows each block's requested size: a write one byte past
 * it aborts at free() or realloc() although the class has room; a block
 * grown or shrunk in place by realloc() is checked against its new size.
 * Without checked mode the same writes go unseen (the class has room).
 */
START_TEST(test_exact_bounds)
{
	if (getenv("PCACHE_DEBUG") == NULL) {
		/* The whole class is the block's: the same writes are in bounds. */
		char *p = malloc(60);
		ck_assert_uint_eq(malloc_usable_size(p), 64);
		free(p);
		overrun_in_class();
		overrun_then_realloc();
		return;
	}
	expect_abort(overrun_in_class, "write past the end of a 60-byte block at offset 60");
	expect_abort(overrun_then_realloc, "write past the end of a 50-byte block at offset 50");
	char *p = malloc(40);				/* the 48-byte class */
	memset(p, 1, 40);
	p = realloc(p, 48);				/* in place: 48 now usable */
	ck_assert_uint_eq(malloc_usable_size(p), 48);
	memset(p, 2, 48);
	p = realloc(p, 30);				/* in place again: 30 */
	ck_assert_uint_eq(malloc_usable_size(p), 30);
	free(p);
	p = calloc(1, 33);
	ck_assert_uint_eq(malloc_usable_size(p), 33);
	ck_assert(all_zero((unsigned char *)p, 33));
	free(p);
}
END_TEST

/* usable_inside, realloc_inside: a class block's interior, before anything reads it. */
static void
usable_inside(void)
{
	char *p = malloc(64);

	(void)malloc_usable_size(hide(p + 16));
}

static void
realloc_inside(void)
{
	char *p = malloc(64);
	void *volatile q = realloc(hide(p + 16), 32);

	(void)q;
}

START_TEST(test_bad_pointers)
{
	expect_abort(usable_inside, "not the start of an object");
	expect_abort(realloc_inside, "not the start of an object");
	expect_abort(free_foreign, "free(): pointer 0x");
	expect_abort(free_inside, "not the start of an object");
	expect_abort(realloc_foreign, "realloc(): pointer 0x");
	expect_abort(free_far, "pointer 0x");
	expect_abort(free_other_span, "pointer 0x");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("malloc");
	TCase *tc = tcase_create("calls");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_ours);
	tcase_add_test(tc, test_zero);
	tcase_add_test(tc, test_classes);
	tcase_add_test(tc, test_calloc);
	tcase_add_test(tc, test_realloc);
	tcase_add_test(tc, test_aligned);
	tcase_add_test(tc, test_big);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_fork);
	tcase_add_test(tc, test_dlopen);
	tcase_add_test(tc, test_bad_pointers);
	tcase_add_test(tc, test_exact_bounds);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
