// SPDX-License-Identifier: GPL-2.0
/* The built-in callbacks' per-CPU counters and trace instance, and tracefs file bits. */
#include <linux/fs.h>
#include <linux/kallsyms.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/sched/clock.h>
#include <linux/stacktrace.h>
#include <linux/trace.h>
#include <linux/trace_seq.h>

#include "../ftramp_api.h"
#include "helpers.h"

#define CREATE_TRACE_POINTS
#include "events.h"

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

/*
 * The hooked function's name, as event filters compare it, is formatted into a per-CPU
 * buffer per context level (see ftramp_func_name()). Allocated with the instance, not
 * static: modules' static per-CPU data comes from a small reserved area (8 KiB shared by
 * every module), where 2.6 KiB that outlive reloads fragment it.
 */
typedef char ftramp_names_t[4][KSYM_SYMBOL_LEN];
static ftramp_names_t __percpu *ftramp_name_buf;

struct trace_array *ftramp_instance_get(void)
{
	struct trace_array *tr;

	ftramp_name_buf = alloc_percpu(ftramp_names_t);
	if (!ftramp_name_buf)
		return NULL;
	tr = trace_array_get_by_name("ftramp", NULL);
	if (!tr) {
		free_percpu(ftramp_name_buf);
		ftramp_name_buf = NULL;
		return NULL;
	}

	/* The callbacks' events are on in ftramp's instance (and wherever a user enables them). */
	if (trace_array_set_clr_event(tr, "ftramp", "call", true) ||
	    trace_array_set_clr_event(tr, "ftramp", "stack", true) ||
	    trace_array_set_clr_event(tr, "ftramp", "ret", true)) {
		trace_array_put(tr);
		trace_array_destroy(tr);
		free_percpu(ftramp_name_buf);
		ftramp_name_buf = NULL;
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
	/* Every hook that used it was unregistered and waited for. */
	free_percpu(ftramp_name_buf);
	ftramp_name_buf = NULL;
}

/*
 * The hooked function's name, as event filters compare it (no offset, no module). The
 * callbacks run in any context, NMI included, on whatever stack the hooked function
 * has: the name goes into a per-CPU buffer per context level (task, softirq, hardirq,
 * NMI) rather than 600-odd bytes of stack. A level cannot nest into itself here: the
 * callbacks run under ftrace's per-context recursion guard. Only the callbacks of hooks
 * holding the instance call this, so the buffer exists.
 */
static const char *ftramp_func_name(unsigned long ip)
{
	char *buf = (*this_cpu_ptr(ftramp_name_buf))[interrupt_context_level()];
	char *space;

	sprint_symbol_no_offset(buf, ip);
	space = strchr(buf, ' ');	/* " [module]" */
	if (space)
		*space = '\0';
	return buf;
}

void ftramp_trace_hit(unsigned long ip, unsigned long parent_ip)
{
	/* Formatted only when some instance has the event on. */
	if (!trace_call_enabled())
		return;
	trace_call(ip, parent_ip, ftramp_func_name(ip));
}

void ftramp_trace_ret(unsigned long ip, unsigned long parent_ip, unsigned long retval,
		      unsigned long long ns)
{
	if (!trace_ret_enabled())
		return;
	trace_ret(ip, parent_ip, ftramp_func_name(ip), retval, ns);
}

const char *ftramp_print_stack(struct trace_seq *p, const unsigned long *stack, unsigned int n)
{
	const char *ret = trace_seq_buffer_ptr(p);
	unsigned int i;

	for (i = 0; i < n; i++)
		trace_seq_printf(p, "\n => %pS", (void *)stack[i]);
	trace_seq_putc(p, 0);
	return ret;
}

void ftramp_trace_stack(unsigned long ip, struct ftramp_regs *regs)
{
	unsigned long entries[FTRAMP_STACK_DEPTH];
	struct pt_regs pt = {};
	unsigned int n;

	if (!trace_stack_enabled())
		return;
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
	trace_stack(ip, regs->parent_ip, ftramp_func_name(ip), entries, n);
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

