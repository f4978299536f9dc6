// SPDX-License-Identifier: GPL-2.0
/*
 * What the recursion guard (rust/dispatch/guard.rs) needs from C besides the per-CPU
 * addresses in text.c: trace_recursion's offset, ftrace's recursion recorder for a refused
 * entry, and a build-time check that the bit numbers rust/dispatch/recursion.rs copies from
 * include/linux/trace_recursion.h are the kernel's (the preemption count's layout comes
 * from the kernel: helpers.h).
 */
#include <linux/build_bug.h>
#include <linux/ftrace.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/stddef.h>
#include <linux/trace_recursion.h>

#include "helpers.h"

static_assert(TRACE_LIST_START == 5, "dispatch/recursion.rs: LIST_START");
static_assert(TRACE_CTX_NORMAL == 3 && TRACE_CTX_TRANSITION == 4,
	      "dispatch/recursion.rs: CTX_NORMAL, CTX_TRANSITION");
static_assert(NMI_MASK <= 0xffffffffUL, "dispatch/guard.rs reads the count's low 32 bits");

unsigned long ftramp_trace_recursion_offset(void)
{
	/*
	 * From the compiler that built the kernel: bindgen's layout of task_struct is off by
	 * 48 bytes here on 7.3 (its libclang is not the kernel's compiler).
	 */
	return offsetof(struct task_struct, trace_recursion);
}

void ftramp_recursion_refused(unsigned long ip, unsigned long parent_ip)
{
	/* CONFIG_FTRACE_RECORD_RECURSION's record, as trace_test_and_set_recursion() keeps. */
	do_ftrace_record_recursion(ip, parent_ip);
}
