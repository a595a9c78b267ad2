/*
 * rseq_x86_64.h -- the restartable critical sections of the per-CPU fast
 * path, for x86-64.  Included by percpu.h only.
 *
 * Copyright (c) 2026 The libpcache developers.  BSD-2-Clause; see LICENSE.
 *
 * Each section follows the kernel's rseq protocol: it stores the address
 * of its descriptor (start, length, abort address) in the thread's struct
 * rseq, reads the CPU number, works on that CPU's slot, and ends in one
 * committing store.  If the thread is preempted, migrated or signalled
 * before the commit, the kernel moves it to the abort handler, which
 * starts the section over; nothing it did before the commit is visible as
 * a change of the slot, because the count `n` is the only word that says
 * which entries of objs[] are live.  The abort handler must be preceded by
 * the signature the thread registered (RSEQ_SIG).
 *
 * Slot layout (pc_rslot_t): the commit word at 0, divert at 8, the CPU's
 * capacity (32 bits) at 12, objs[] from 32.  The commit word holds the count of live entries n in its low
 * 16 bits and, above them, how many objects were pushed (the puts this
 * CPU served, single and bulk): a push adds 1 + 2^16, a pop subtracts 1,
 * so the one committing store keeps both, and the hit path writes no
 * counter of its own.  A slot with `divert` set belongs to a remote
 * drainer: every section gives up (returns failure) without touching it.
 *
 * The struct rseq is reached through %fs plus its offset from the thread
 * pointer: cpu_id at +4, rseq_cs at +8.
 */
#ifndef PC_RSEQ_X86_64_H
#define PC_RSEQ_X86_64_H

#define PC_RSEQ_SIG_ASM	"0x53053053"

/*
 * The descriptor and the abort handler of one section.  Labels: 1 start,
 * 2 end (post-commit), 3 descriptor, 4 abort handler, 0 the (re)entry that
 * arms the descriptor.  Numeric labels keep each inlined copy distinct.
 */
#define PC_RSEQ_PROLOGUE(roff)						\
	"	.pushsection __rseq_cs, \"aw\"\n"			\
	"	.balign 32\n"						\
	"3:	.long 0, 0\n"						\
	"	.quad 1f, 2f - 1f, 4f\n"				\
	"	.popsection\n"						\
	"	.pushsection __rseq_failure, \"ax\"\n"			\
	"	.long " PC_RSEQ_SIG_ASM "\n"				\
	"4:	jmp 0f\n"						\
	"	.popsection\n"						\
	"0:	leaq 3b(%%rip), %%rax\n"				\
	"	movq %%rax, %%fs:8(%[" roff "])\n"			\
	"1:	movl %%fs:4(%[" roff "]), %%eax\n"			\
	"	cmpl %[ncpu], %%eax\n"					\
	"	jae 5f\n"						\
	"	imulq %[stride], %%rax\n"				\
	"	addq %[base], %%rax\n"					\
	"	cmpl $0, 8(%%rax)\n"					\
	"	jne 5f\n"

/*
 * rseq_pop: the top object of the current CPU's slot, or NULL when the
 * slot is empty, diverted, or the thread has no usable rseq registration.
 */
static inline void *
rseq_pop(ptrdiff_t roff, char *base, size_t stride, unsigned ncpu)
{
	void *obj;

	__asm__ __volatile__(
	    PC_RSEQ_PROLOGUE("roff")
	    "	movq (%%rax), %%rcx\n"		/* the commit word */
	    "	movzwl %%cx, %%edx\n"		/* n */
	    "	testl %%edx, %%edx\n"
	    "	jz 5f\n"
	    "	movq 24(%%rax,%%rdx,8), %[obj]\n"	/* objs[n - 1] */
	    "	decq %%rcx\n"
	    "	movq %%rcx, (%%rax)\n"		/* commit n - 1 */
	    "2:	jmp 6f\n"
	    "5:	xorl %k[obj], %k[obj]\n"
	    "6:\n"
	    : [obj] "=&r" (obj)
	    : [roff] "r" (roff), [ncpu] "rm" (ncpu), [stride] "rm" (stride),
	      [base] "r" (base)
	    : "rax", "rcx", "rdx", "memory", "cc");
	return obj;
}

/*
 * rseq_push: put obj on the current CPU's slot.  False when the slot is
 * full (its capacity reached), diverted, or rseq is unusable for this
 * thread.
 */
static inline bool
rseq_push(ptrdiff_t roff, char *base, size_t stride, unsigned ncpu, void *obj)
{
	unsigned ok;

	__asm__ __volatile__(
	    PC_RSEQ_PROLOGUE("roff")
	    "	movq (%%rax), %%rcx\n"		/* the commit word */
	    "	movzwl %%cx, %%edx\n"		/* n */
	    "	cmpl 12(%%rax), %%edx\n"		/* the CPU's capacity */
	    "	jae 5f\n"
	    "	movq %[obj], 32(%%rax,%%rdx,8)\n"	/* objs[n], not yet live */
	    "	addq $0x10001, %%rcx\n"		/* one more live, one more put */
	    "	movq %%rcx, (%%rax)\n"		/* commit */
	    "2:	movl $1, %[ok]\n"
	    "	jmp 6f\n"
	    "5:	movl $0, %[ok]\n"
	    "6:\n"
	    : [ok] "=&r" (ok)
	    : [roff] "r" (roff), [ncpu] "rm" (ncpu), [stride] "rm" (stride),
	      [base] "r" (base), [obj] "r" (obj)
	    : "rax", "rcx", "rdx", "memory", "cc");
	return ok != 0;
}

/*
 * rseq_refill: append src[0..k-1] to the current CPU's slot in one commit
 * that adds `add` to the commit word: k, or k + (k << 16) when the objects
 * are puts (a bulk put) rather than a refill from the depot.  False (slot
 * untouched) when they do not fit, or as for rseq_push.  The copy before
 * the commit writes only entries past n, which are not live.  *slot is
 * the slot it went into (NULL on failure), for the caller's counts.
 */
static inline bool
rseq_refill(ptrdiff_t roff, char *base, size_t stride, unsigned ncpu,
    void *const *src, size_t k, uint64_t add, char **slot)
{
	unsigned ok;
	char *where;

	__asm__ __volatile__(
	    PC_RSEQ_PROLOGUE("roff")
	    "	movq (%%rax), %%rcx\n"		/* the commit word */
	    "	movzwl %%cx, %%edx\n"		/* n */
	    "	leaq (%%rdx,%[k]), %%r11\n"	/* n + k */
	    "	movl 12(%%rax), %%r8d\n"		/* the CPU's capacity */
	    "	cmpq %%r8, %%r11\n"
	    "	ja 5f\n"
	    "	leaq 32(%%rax,%%rdx,8), %%r10\n"	/* &objs[n] */
	    "	xorl %%r8d, %%r8d\n"
	    "7:	cmpq %[k], %%r8\n"
	    "	jae 8f\n"
	    "	movq (%[src],%%r8,8), %%r9\n"
	    "	movq %%r9, (%%r10,%%r8,8)\n"
	    "	incq %%r8\n"
	    "	jmp 7b\n"
	    "8:	addq %[add], %%rcx\n"
	    "	movq %%rcx, (%%rax)\n"		/* commit n + k */
	    "2:	movl $1, %[ok]\n"
	    "	movq %%rax, %[where]\n"
	    "	jmp 6f\n"
	    "5:	movl $0, %[ok]\n"
	    "6:\n"
	    : [ok] "=&r" (ok), [where] "=&r" (where)
	    : [roff] "r" (roff), [ncpu] "rm" (ncpu), [stride] "rm" (stride),
	      [base] "r" (base), [src] "r" (src), [k] "r" (k), [add] "rm" (add)
	    : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "memory", "cc");
	*slot = ok ? where : NULL;
	return ok != 0;
}

/*
 * rseq_take: move the top min(n, kmax) objects of the current CPU's slot
 * to dst[] in one commit.  Returns how many moved; 0 when the slot is
 * empty, diverted, or rseq is unusable.  The copy before the commit only
 * reads the slot.
 */
static inline size_t
rseq_take(ptrdiff_t roff, char *base, size_t stride, unsigned ncpu,
    void **dst, size_t kmax, char **slot)
{
	size_t moved;
	char *where;

	__asm__ __volatile__(
	    PC_RSEQ_PROLOGUE("roff")
	    "	movq (%%rax), %%rcx\n"		/* the commit word */
	    "	movzwl %%cx, %%r10d\n"		/* n */
	    "	movq %[kmax], %%rdx\n"
	    "	cmpq %%r10, %%rdx\n"
	    "	cmovaq %%r10, %%rdx\n"		/* k = min(n, kmax) */
	    "	subq %%rdx, %%r10\n"		/* n - k */
	    "	leaq 32(%%rax,%%r10,8), %%r11\n"	/* &objs[n - k] */
	    "	xorl %%r8d, %%r8d\n"
	    "7:	cmpq %%rdx, %%r8\n"
	    "	jae 8f\n"
	    "	movq (%%r11,%%r8,8), %%r9\n"
	    "	movq %%r9, (%[dst],%%r8,8)\n"
	    "	incq %%r8\n"
	    "	jmp 7b\n"
	    "8:	subq %%rdx, %%rcx\n"
	    "	movq %%rcx, (%%rax)\n"		/* commit n - k */
	    "2:	movq %%rdx, %[moved]\n"
	    "	movq %%rax, %[where]\n"
	    "	jmp 6f\n"
	    "5:	xorl %k[moved], %k[moved]\n"
	    "	xorl %k[where], %k[where]\n"
	    "6:\n"
	    : [moved] "=&r" (moved), [where] "=&r" (where)
	    : [roff] "r" (roff), [ncpu] "rm" (ncpu), [stride] "rm" (stride),
	      [base] "r" (base), [dst] "r" (dst), [kmax] "rm" (kmax)
	    : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "memory", "cc");
	*slot = where;
	return moved;
}

#endif /* PC_RSEQ_X86_64_H */
