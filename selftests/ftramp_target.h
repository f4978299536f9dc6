/* SPDX-License-Identifier: GPL-2.0 */
/* ftramp_target.ko's exports, for the test modules. */
#ifndef FTRAMP_TARGET_H
#define FTRAMP_TARGET_H

#include <linux/preempt.h>

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

#endif
