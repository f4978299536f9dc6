// SPDX-License-Identifier: GPL-2.0
/*
 * Static inlines, macros and module parameters of ftramp.ko that the Rust side
 * cannot reach directly (6.12's module! has no parameters).
 */
#include <linux/bug.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/utsname.h>

#include "helpers.h"

static bool force_missing_symbol;
module_param(force_missing_symbol, bool, 0444);
MODULE_PARM_DESC(force_missing_symbol,
		 "Test only: also resolve a symbol that does not exist, so the load fails");

static bool plant_warn;
module_param(plant_warn, bool, 0444);
MODULE_PARM_DESC(plant_warn, "Test only: WARN once at load (checks the test harness)");

bool ftramp_param_force_missing_symbol(void)
{
	return force_missing_symbol;
}

bool ftramp_param_plant_warn(void)
{
	return plant_warn;
}

struct module *ftramp_this_module(void)
{
	return THIS_MODULE;
}

const char *ftramp_kernel_release(void)
{
	return init_utsname()->release;
}

void ftramp_plant_warn(void)
{
	WARN_ON(1);
}

/* ---- the engine's static-inline needs ---- */

#include <linux/ftrace.h>
#include <linux/hardirq.h>
#include <linux/rcupdate.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/trace_recursion.h>
#include <asm/sync_core.h>
#include <asm/text-patching.h>

#ifdef FTRAMP_TEST_KNOBS
static bool skip_mode;
module_param(skip_mode, bool, 0644);
MODULE_PARM_DESC(skip_mode,
		 "Test only: the int3 handler skips the call (the 2019 bug) instead of emulating it");
#endif

static unsigned int max_sites = 2048;
module_param(max_sites, uint, 0444);
MODULE_PARM_DESC(max_sites, "Trampoline slots (sites plus ops entry stubs), 128 bytes each");

bool ftramp_param_skip_mode(void)
{
#ifdef FTRAMP_TEST_KNOBS
	return READ_ONCE(skip_mode);
#else
	return false;
#endif
}

bool ftramp_test_knobs(void)
{
	return IS_ENABLED(FTRAMP_TEST_KNOBS);
}

bool ftramp_is_own_text(unsigned long addr)
{
	return within_module(addr, THIS_MODULE);
}

unsigned int ftramp_param_max_sites(void)
{
	return clamp(max_sites, 16U, 65536U);
}

struct ftramp_list *ftramp_list_alloc(unsigned int nr)
{
	struct ftramp_list *l = kzalloc(struct_size(l, ops, nr), GFP_KERNEL);

	if (l)
		l->nr = nr;
	return l;
}

void ftramp_list_free_rcu(struct ftramp_list *list)
{
	if (list)
		kfree_rcu(list, rcu);
}

struct ftramp_patch_record *ftramp_record_alloc(unsigned int nr)
{
	struct ftramp_patch_record *r = kzalloc(struct_size(r, entries, nr), GFP_KERNEL);

	if (r)
		r->nr = nr;
	return r;
}

void ftramp_record_free_rcu(struct ftramp_patch_record *rec)
{
	if (rec)
		kfree_rcu(rec, rcu);
}

static seqcount_t record_seq = SEQCNT_ZERO(record_seq);
static struct ftramp_patch_record *record;

void ftramp_record_publish(struct ftramp_patch_record *rec)
{
	/* Writers are serialised by the patcher's mutex; readers never wait. */
	preempt_disable();
	raw_write_seqcount_begin(&record_seq);
	WRITE_ONCE(record, rec);
	raw_write_seqcount_end(&record_seq);
	preempt_enable();
}

unsigned int ftramp_record_seq_begin(void)
{
	return raw_read_seqcount(&record_seq);
}

struct ftramp_patch_record *ftramp_record_current(void)
{
	return READ_ONCE(record);
}

bool ftramp_record_seq_retry(unsigned int seq)
{
	return read_seqcount_retry(&record_seq, seq);
}

static void do_sync_core(void *info)
{
	sync_core();
}

void ftramp_sync_all_cpus(void)
{
	on_each_cpu(do_sync_core, NULL, 1);
}

bool ftramp_regs_user_mode(struct pt_regs *regs)
{
	return user_mode(regs);
}

unsigned long ftramp_regs_ip(struct pt_regs *regs)
{
	return regs->ip;
}

void ftramp_int3_emulate_call(struct pt_regs *regs, unsigned long func)
{
	int3_emulate_call(regs, func);
}

void ftramp_int3_skip_call(struct pt_regs *regs)
{
	regs->ip += CALL_INSN_SIZE - INT3_INSN_SIZE;
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

int ftramp_recursion_trylock(unsigned long ip, unsigned long parent_ip)
{
	return ftrace_test_recursion_trylock(ip, parent_ip);
}

void ftramp_recursion_unlock(int bit)
{
	ftrace_test_recursion_unlock(bit);
}

bool ftramp_rcu_is_watching(void)
{
	return rcu_is_watching();
}

/* ---- built-in callbacks and the tracefs files ---- */

#include <linux/fs.h>
#include <linux/sched/clock.h>
#include <linux/stacktrace.h>
#include <linux/trace.h>

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

#define FTRAMP_STACK_DEPTH 16

#include "ftramp_api.h"

void ftramp_trace_stack(struct trace_array *tr, unsigned long ip, struct ftramp_regs *regs,
			unsigned int (*save_regs)(struct pt_regs *, unsigned long *,
						  unsigned int, unsigned int))
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
	n = save_regs(&pt, entries, ARRAY_SIZE(entries), 0);
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

struct module *ftramp_module_get(unsigned long ip,
				 struct module *(*text_address)(unsigned long))
{
	struct module *mod;

	preempt_disable();
	mod = text_address(ip);
	if (mod && !try_module_get(mod))
		mod = ERR_PTR(-ENOENT);
	preempt_enable();
	return mod;
}

void ftramp_module_put(struct module *mod)
{
	module_put(mod);
}
