// SPDX-License-Identifier: GPL-2.0
/* The int3 frame and the per-CPU facts generated code needs. */
#include <linux/hardirq.h>
#include <linux/version.h>
#include <linux/preempt.h>
#include <linux/static_call.h>
#include <asm/cpufeature.h>
#include <asm/current.h>
#include <asm/nospec-branch.h>
#include <asm/text-patching.h>

#include "helpers.h"

bool ftramp_regs_user_mode(struct pt_regs *regs)
{
	return user_mode(regs);
}

void ftramp_int3_emulate_call(struct pt_regs *regs, unsigned long func)
{
	/* The int3 sits on the first byte of a 5-byte call: return after the call. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
	int3_emulate_call(regs, regs->ip - INT3_INSN_SIZE + CALL_INSN_SIZE, func);
#else
	int3_emulate_call(regs, func);
#endif
}

int ftramp_interrupted_context(void)
{
	/* The int3 entry did nmi_enter(): take out its NMI and hardirq levels. */
	unsigned long pc = preempt_count() - (NMI_OFFSET + HARDIRQ_OFFSET);

	if (pc & NMI_MASK)
		return 3;
	if (pc & HARDIRQ_MASK)
		return 2;
	if (pc & SOFTIRQ_OFFSET)
		return 1;
	return 0;
}

/*
 * What `%gs:` is added to for a per-CPU variable: a field of pcpu_hot at a zero-based
 * per-CPU offset before 6.15, a per-CPU symbol from then on.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define FTRAMP_PCPU_ADDR(hot_field, var) ((unsigned long)&(var))
#else
#define FTRAMP_PCPU_ADDR(hot_field, var) ((unsigned long)&pcpu_hot.hot_field)
#endif

unsigned long ftramp_preempt_count_addr(void)
{
	return FTRAMP_PCPU_ADDR(preempt_count, __preempt_count);
}

unsigned long ftramp_current_task_addr(void)
{
	return FTRAMP_PCPU_ADDR(current_task, current_task);
}

bool ftramp_preempt_count_wide(void)
{
	/*
	 * asm/preempt.h: with HAS_SEPARATE_PREEMPT_RESCHED_BITS the count is 64 bits with the
	 * inverted PREEMPT_NEED_RESCHED in bit 63, and preempt_enable() decrements all 64.
	 */
	return IS_ENABLED(CONFIG_HAS_SEPARATE_PREEMPT_RESCHED_BITS);
}

unsigned long ftramp_preempt_schedule_addr(void)
{
	/* What preempt_enable_notrace() calls when the count drops to zero. */
#if defined(CONFIG_PREEMPT_DYNAMIC)
	/* The static call's trampoline: a plain return while the boot option says "none". */
	return (unsigned long)&STATIC_CALL_TRAMP(preempt_schedule_notrace);
#elif defined(CONFIG_PREEMPTION)
	return (unsigned long)preempt_schedule_notrace_thunk;
#else
	return 0;
#endif
}

/* x86_return_thunk as chosen at boot (__ro_after_init, not exported), 0 if none. */
static unsigned long ftramp_rethunk;

int ftramp_return_thunk_init(void)
{
#ifdef CONFIG_MITIGATION_RETHUNK
	void (**thunk)(void);

	if (ftramp_mutant_rethunk()) {
		/* The bug this replaces: the placeholder, which warns and taints when run. */
		ftramp_rethunk = (unsigned long)__x86_return_thunk;
		return 0;
	}

	if (!cpu_feature_enabled(X86_FEATURE_RETHUNK))
		return 0;
	thunk = (void *)ftramp_call_kallsyms_lookup_name("x86_return_thunk");
	if (!thunk) {
		pr_err("ftramp: cannot resolve kernel symbol x86_return_thunk\n");
		return -ENOENT;
	}
	ftramp_rethunk = (unsigned long)*thunk;
#endif
	return 0;
}

unsigned long ftramp_return_thunk(unsigned long at)
{
	/* cpu_wants_rethunk_at() (not exported): which return the kernel would emit at @at. */
	if (!ftramp_rethunk)
		return 0;
#ifdef CONFIG_MITIGATION_ITS
	/* ITS: a return in the upper half of a cache line is safe as a plain ret. */
	if (ftramp_rethunk == (unsigned long)its_return_thunk && (at & 0x20))
		return 0;
#endif
	return ftramp_rethunk;
}

unsigned long ftramp_call_depth_addr(void)
{
	/* With retbleed=stuff every call does `sarq $5, %gs:<depth>` (INCREMENT_CALL_DEPTH). */
#ifdef CONFIG_MITIGATION_CALL_DEPTH_TRACKING
	if (cpu_feature_enabled(X86_FEATURE_CALL_DEPTH) && !ftramp_mutant_rethunk()) {
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
		return (unsigned long)&__x86_call_depth;
#else
		return (unsigned long)&pcpu_hot.call_depth;
#endif
	}
#endif
	return 0;
}
