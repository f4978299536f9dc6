// SPDX-License-Identifier: GPL-2.0
/* The int3 frame and the per-CPU facts generated code needs. */
#include <linux/hardirq.h>
#include <linux/version.h>
#include <linux/preempt.h>
#include <linux/static_call.h>
#include <asm/text-patching.h>

#include "helpers.h"

bool ftramp_regs_user_mode(struct pt_regs *regs)
{
	return user_mode(regs);
}

void ftramp_int3_emulate_call(struct pt_regs *regs, unsigned long func)
{
	int3_emulate_call(regs, func);
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

unsigned long ftramp_preempt_count_addr(void)
{
	/* What `%gs:` is added to: a zero-based per-CPU offset or a per-CPU symbol. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
	return (unsigned long)&__preempt_count;
#else
	return (unsigned long)&pcpu_hot.preempt_count;
#endif
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
