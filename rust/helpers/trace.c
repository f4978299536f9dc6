// SPDX-License-Identifier: GPL-2.0
/* The built-in callbacks' per-CPU counters and trace instance, and tracefs file bits. */
#include <linux/fs.h>
#include <linux/percpu.h>
#include <linux/sched/clock.h>
#include <linux/stacktrace.h>
#include <linux/trace.h>

#include "../ftramp_api.h"
#include "helpers.h"

#define FTRAMP_STACK_DEPTH 16

unsigned long *ftramp_counter_alloc(void)
{
	return (unsigned long __force *)alloc_percpu(unsigned long);
}

void ftramp_counter_free(unsigned long *c)
{
	free_percpu((unsigned long __percpu __force *)c);
}

void ftramp_counter_inc(unsigned long *c)
{
	this_cpu_inc(*(unsigned long __percpu __force *)c);
}

unsigned long ftramp_counter_sum(unsigned long *c)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += *per_cpu_ptr((unsigned long __percpu __force *)c, cpu);
	return sum;
}

struct trace_array *ftramp_instance_get(void)
{
	struct trace_array *tr = trace_array_get_by_name("ftramp", NULL);

	if (tr && trace_array_init_printk(tr)) {
		trace_array_put(tr);
		trace_array_destroy(tr);
		return NULL;
	}
	return tr;
}

void ftramp_instance_destroy(struct trace_array *tr)
{
	if (!tr)
		return;
	trace_array_put(tr);
	trace_array_destroy(tr);
}

void ftramp_trace_hit(struct trace_array *tr, unsigned long ip, unsigned long parent_ip)
{
	/* The event already starts with the function (ip). */
	trace_array_printk(tr, ip, "caller=%pS cpu=%d\n", (void *)parent_ip,
			   raw_smp_processor_id());
}



void ftramp_trace_stack(struct trace_array *tr, unsigned long ip, struct ftramp_regs *regs)
{
	unsigned long entries[FTRAMP_STACK_DEPTH];
	struct pt_regs pt = {};
	unsigned int n, i;

	/*
	 * Unwind from the hooked function's entry, as if the trampoline had returned: the
	 * unwinder cannot walk generated code (it is not kernel text to
	 * __kernel_text_address()), but it can walk from the function's own ORC data.
	 */
	pt.ip = regs->ret_ip;
	pt.sp = (unsigned long)&regs->parent_ip;
	pt.bp = regs->bp;
	pt.cs = __KERNEL_CS;
	pt.flags = X86_EFLAGS_FIXED;
	n = ftramp_call_stack_trace_save_regs(&pt, entries, ARRAY_SIZE(entries), 0);
	trace_array_printk(tr, ip, "stack (%u frames):\n", n);
	for (i = 0; i < n; i++)
		trace_array_printk(tr, ip, " => %pS\n", (void *)entries[i]);
}

unsigned long long ftramp_now_ns(void)
{
	return local_clock();
}

bool ftramp_file_reading(struct file *file)
{
	return file->f_mode & FMODE_READ;
}

bool ftramp_file_writing(struct file *file)
{
	return file->f_mode & FMODE_WRITE;
}

bool ftramp_file_trunc(struct file *file)
{
	return file->f_flags & O_TRUNC;
}

