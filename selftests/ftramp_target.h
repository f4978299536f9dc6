/* SPDX-License-Identifier: GPL-2.0 */
/* ftramp_target.ko's exports, for the test modules. */
#ifndef FTRAMP_TARGET_H
#define FTRAMP_TARGET_H

#include <linux/preempt.h>
#include <linux/types.h>

void ftramp_target_a(void);
void ftramp_target_b(void);
void ftramp_target_c(void);
void ftramp_target_d(void);

/* Counter index of the batch functions ftramp_target_batch_00..99 (all of them together). */
#define FTRAMP_TARGET_BATCH 4
/* How many of the batch functions a batch caller may call in turn. */
#define FTRAMP_TARGET_MAX_SEQ 16

/*
 * The context a call runs in, as the target and a callback both see it: the
 * oracle compares counts per CPU and per context, so a call dropped in one
 * context cannot be made up for by a call counted twice in another.
 */
enum ftramp_target_ctx {
	FTRAMP_CTX_TASK,
	FTRAMP_CTX_SOFTIRQ,
	FTRAMP_CTX_HARDIRQ,
	FTRAMP_CTX_NMI,
	FTRAMP_NR_CTX,
};

static __always_inline int ftramp_target_ctx(void)
{
	if (in_nmi())
		return FTRAMP_CTX_NMI;
	if (in_hardirq())
		return FTRAMP_CTX_HARDIRQ;
	if (in_serving_softirq())
		return FTRAMP_CTX_SOFTIRQ;
	return FTRAMP_CTX_TASK;
}

/* Calls of target @idx (0 = a, FTRAMP_TARGET_BATCH) counted by the target itself, all CPUs. */
unsigned long ftramp_target_count(int idx);
/* The same, on one CPU in one context (enum ftramp_target_ctx). */
unsigned long ftramp_target_cell(int idx, int cpu, int ctx);
/* Zeroes every count (no callers may be running). */
void ftramp_target_reset(void);
/*
 * Callers of target @fn on every CPU in each context of @ctx_mask (1 kthread,
 * 2 timer, 4 hrtimer, 8 eqs: kthreads calling where RCU is not watching,
 * 16 nmi: NMIs sent by the next CPU) until ftramp_target_stop().
 */
int ftramp_target_start(int fn, unsigned int ctx_mask);
/* The same, each caller calling ftramp_target_batch_00 .. _<@nr - 1> in turn. */
int ftramp_target_start_batch(int nr, unsigned int ctx_mask);
int ftramp_target_stop(void);

/*
 * Return hooks (issue 12): functions whose return value is a known function of
 * their arguments, each counting its own calls (counter index below). The
 * ftramp_v*_expect() helpers are that function, for the callers here and the
 * return callbacks of ftramp_test_ops (which recompute it from the registers).
 * Weights differ per argument, so a swapped or shifted argument shows.
 */
enum {
	FTRAMP_TARGET_V1 = FTRAMP_TARGET_BATCH + 1,
	FTRAMP_TARGET_V6,
	FTRAMP_TARGET_V7,
	FTRAMP_TARGET_V8,
	FTRAMP_TARGET_V16,
	FTRAMP_TARGET_VS24,
	FTRAMP_TARGET_REC,	/* ftramp_target_rec, every level */
	FTRAMP_TARGET_SLEEP,	/* ftramp_target_sleep, every level */
	FTRAMP_TARGET_TAIL,	/* ftramp_target_tail_callee */
	FTRAMP_TARGET_UNWIND,	/* ftramp_target_unwind */
	FTRAMP_TARGET_NR_COUNTED,
};

/* Returned in ax:dx (two eightbytes of class INTEGER). */
struct ftramp_pair {
	unsigned long lo, hi;
};

/* 24 bytes: passed by value in memory, on the stack (class MEMORY). */
struct ftramp_trio {
	unsigned long a, b, c;
};

static __always_inline unsigned long ftramp_v1_expect(unsigned long a)
{
	return a * 3 + 1;
}

static __always_inline unsigned long ftramp_v6_expect(unsigned long a, unsigned long b,
						      unsigned long c, unsigned long d,
						      unsigned long e, unsigned long f)
{
	return a + 3 * b + 5 * c + 7 * d + 9 * e + 11 * f;
}

static __always_inline unsigned long ftramp_v7_expect(unsigned long a, unsigned long b,
						      unsigned long c, unsigned long d,
						      unsigned long e, unsigned long f,
						      unsigned long g)
{
	return ftramp_v6_expect(a, b, c, d, e, f) + 13 * g;
}

static __always_inline unsigned long ftramp_v8_expect(unsigned long a, unsigned long b,
						      unsigned long c, unsigned long d,
						      unsigned long e, unsigned long f,
						      unsigned long g, unsigned long h)
{
	return ftramp_v7_expect(a, b, c, d, e, f, g) + 15 * h;
}

/* Both halves fit 32 bits, so a return callback's cookie can hold the pair. */
static __always_inline struct ftramp_pair ftramp_v16_expect(unsigned long a, unsigned long b)
{
	struct ftramp_pair p = { (u32)(a * 3 + b), (u32)(a ^ (b << 1)) };

	return p;
}

static __always_inline unsigned long ftramp_vs24_expect(unsigned long k, unsigned long a,
							unsigned long b, unsigned long c,
							unsigned long m)
{
	return 17 * k + a + 19 * b + 23 * c + 29 * m;
}

/* ftramp_target_rec(d) and ftramp_target_sleep(d): r(0) = BASE, r(d) = 3 r(d - 1) + d. */
#define FTRAMP_REC_BASE 1000UL
static __always_inline unsigned long ftramp_rec_expect(unsigned long depth)
{
	unsigned long r = FTRAMP_REC_BASE, d;

	for (d = 1; d <= depth; d++)
		r = 3 * r + d;
	return r;
}

static __always_inline unsigned long ftramp_tail_expect(unsigned long x)
{
	return (x + 1) * 5 + 2;
}

long ftramp_target_v1(long a);
long ftramp_target_v6(long a, long b, long c, long d, long e, long f);
long ftramp_target_v7(long a, long b, long c, long d, long e, long f, long g);
long ftramp_target_v8(long a, long b, long c, long d, long e, long f, long g, long h);
struct ftramp_pair ftramp_target_v16(long a, long b);
long ftramp_target_vs24(long k, struct ftramp_trio t, long m);
/*
 * The arguments the value functions above are being called with ("v" in run)
 * in context @ctx on this CPU: a..h (v1 takes a, v6 a..f, v7 a..g, v8 a..h,
 * v16 a and b), then the trio vs24 gets with a and h.
 */
#define FTRAMP_VALUES_ARGS	11
void ftramp_values_args(int ctx, unsigned long v[FTRAMP_VALUES_ARGS]);
/* Recursive, r(d) above; the caller ("rec" in run) calls it with preemption off. */
unsigned long ftramp_target_rec(unsigned long depth);
/* The same recursion, sleeping at the bottom until "wake" ("sleep" in run). */
unsigned long ftramp_target_sleep(unsigned long depth);
/* tail_top calls tail_caller, which tail-calls (jmp) tail_callee: (x + 1) * 5 + 2. */
unsigned long ftramp_target_tail_callee(unsigned long x);
unsigned long ftramp_target_tail_caller(unsigned long x);
unsigned long ftramp_target_tail_top(unsigned long x);
/* Takes a stack trace in its body; called by ftramp_target_unwind_caller. */
unsigned long ftramp_target_unwind(unsigned long x);
unsigned long ftramp_target_unwind_caller(unsigned long x);
/* Whether one of the @n addresses in @entries is in the function named @name. */
bool ftramp_target_trace_has(const unsigned long *entries, unsigned int n, const char *name);

#endif
