/* SPDX-License-Identifier: GPL-2.0 */
/* ftramp_target.ko's exports, for the test modules. */
#ifndef FTRAMP_TARGET_H
#define FTRAMP_TARGET_H

void ftramp_target_a(void);
void ftramp_target_b(void);
void ftramp_target_c(void);
void ftramp_target_d(void);

/* Calls of target @idx (0 = a) counted by the target itself, all CPUs. */
unsigned long ftramp_target_count(int idx);
/*
 * Callers of target @fn on every CPU in each context of @ctx_mask (1 kthread,
 * 2 timer, 4 hrtimer, 8 eqs: kthreads calling where RCU is not watching) until
 * ftramp_target_stop().
 */
int ftramp_target_start(int fn, unsigned int ctx_mask);
int ftramp_target_stop(void);

#endif
