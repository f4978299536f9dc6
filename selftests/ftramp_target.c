// SPDX-License-Identifier: GPL-2.0
/*
 * ftramp_target.ko: functions for ftramp's tests to hook, which count their own
 * calls per CPU, and drivers that call them from every CPU in a chosen context.
 *
 * The counts are the oracle: a callback attached for a whole run must have seen
 * exactly as many calls as the target counted itself.
 *
 * debugfs (/sys/kernel/debug/ftramp_target/):
 *   run    write "<funcs> <context> <calls>": make <calls> calls of ftramp_target_<func>
 *          spread over all online CPUs, from <context> = kthread | timer | hrtimer |
 *          eqs | nmi, and return when they are done. <funcs> is one letter a-d, or several
 *          (up to 16, repeats allowed): each caller makes <calls> rounds of one call
 *          of each in turn, so "abbc kthread 100" calls a 100, b 200 and c 100 times.
 *   count  read: one line "<func> <calls>" per function, summed over CPUs, then
 *          "batch <calls>", "eqs_batches <n>" and "eqs_not_watching <n>" (see eqs),
 *          "nmi_sent <n>", "nmi_handled <n>", "nmi_lost <n>" (see nmi), then
 *          "cell <func> <cpu> <task> <softirq> <hardirq> <nmi>" for each function and
 *          online CPU with calls: the calls counted in each context the call ran in.
 *   reset  write anything: zero the counters.
 *   run    also: "psn on" / "psn off" puts / takes a kprobe on preempt_schedule_notrace,
 *          whose hits count reads as "psn_hits <n>".
 *   run    also: "start <funcs> <ctxmask>" starts callers that call until "stop"
 *          (ctxmask: 1 kthread, 2 timer, 4 hrtimer, 8 eqs, 16 nmi; <funcs> as above);
 *          "batch <n>" calls each of ftramp_target_batch_00..99 n times.
 *
 * Return hooks (issue 12). <funcs> may also hold "v": one round of the value
 * functions ftramp_target_v1, _v6, _v7, _v8 (1, 6, 7, 8 integer arguments), _v16
 * (returns a 16-byte struct) and _vs24 (takes a 24-byte struct by value, on the
 * stack), with arguments that change at every round, each result checked against
 * ftramp_v*_expect(): a wrong one counts in "values_wrong" (count). More of run:
 *   "rec <depth> <n>"   n calls of the recursive ftramp_target_rec(depth), with
 *                       preemption off (so a callback may keep per-CPU order state)
 *   "tail <n>"          n calls of ftramp_target_tail_top -> _tail_caller, which
 *                       tail-calls (jmp) ftramp_target_tail_callee
 *   "unwind <n>"        n calls of ftramp_target_unwind_caller -> _unwind, whose
 *                       body takes a stack trace that must name its caller
 *                       ("unwind_ok"/"unwind_bad")
 *   "sleep <n> <depth>" starts n kthreads, each calling ftramp_target_sleep(depth),
 *                       which recurses to 0 and sleeps there until "wake"; returns
 *                       at once ("sleepers": how many are asleep at the bottom now)
 *   "wake"              wakes them and returns once every one has returned and
 *                       checked its result ("sleep_done", "sleep_wrong")
 * Wrong results of rec, tail and unwind count in "rec_wrong", "tail_wrong",
 * "unwind_wrong".
 *
 * The eqs context: kthreads that make their calls in batches of EQS_BATCH with
 * interrupts disabled and the CPU in an RCU extended quiescent state
 * (ct_idle_enter(), as the idle loop does), so that RCU is not watching while
 * the hooked function runs. Each batch checks rcu_is_watching() right before
 * its first call and counts it in eqs_not_watching when it was false: the
 * proof that the calls really ran where RCU was not watching. Between batches
 * the thread may be preempted, and it sleeps a tick now and then like the
 * kthread callers. The module parameter eqs_noop leaves ct_idle_enter() out
 * (shows a test that eqs_not_watching catches callers that are not in an EQS).
 *
 * The nmi context: the calls run in NMI handlers. For each online CPU, a sender
 * kthread on the next online CPU (the same one if it is alone) marks the CPU's
 * caller pending and sends it an NMI through the local APIC
 * (apic->send_IPI(cpu, NMI_VECTOR)); an NMI_LOCAL handler claims an NMI only
 * while its CPU's caller is pending (so the kernel's other NMI users keep theirs),
 * makes up to NMI_BATCH calls there and clears the mark; the sender waits for
 * that before it sends the next one (an NMI sent while one is pending would merge
 * with it and arrive unclaimed), and pauses between them (see NMI_GAP_US). A sender that waits longer than a second counts
 * the NMI in nmi_lost and stops. completion and kthread work stay in the sender:
 * the NMI handler only calls and counts.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/context_tracking.h>
#include <linux/cpu.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/kprobes.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/stacktrace.h>
#include <linux/kallsyms.h>
#include <linux/timer.h>
#include <linux/wait.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include <asm/apic.h>
#include <asm/nmi.h>

#include "ftramp_target.h"

#define NR_TARGETS 4
#define BATCH_IDX FTRAMP_TARGET_BATCH

#define NR_COUNTED FTRAMP_TARGET_NR_COUNTED

/*
 * Per CPU and per context the call ran in: targets a-d, then the batch functions,
 * then the return-hook targets (ftramp_target.h).
 */
static DEFINE_PER_CPU(unsigned long, target_calls[NR_COUNTED][FTRAMP_NR_CTX]);

static __always_inline void count_call(int idx)
{
	this_cpu_inc(target_calls[idx][ftramp_target_ctx()]);
}

/*
 * The targets. noinline keeps a real function with an fentry site; the per-CPU
 * increment is their only work, so a hook's cost dominates when one is attached.
 */
#define DEFINE_TARGET(n, idx)					\
noinline void ftramp_target_##n(void)				\
{								\
	this_cpu_inc(target_calls[idx][ftramp_target_ctx()]);	\
}								\
EXPORT_SYMBOL_GPL(ftramp_target_##n)

DEFINE_TARGET(a, 0);
DEFINE_TARGET(b, 1);
DEFINE_TARGET(c, 2);
DEFINE_TARGET(d, 3);

/* 100 more, for switching many sites in one round: ftramp_target_batch_00..99. */
#define DEFINE_BATCH(n)						\
static noinline void ftramp_target_batch_##n(void)		\
{								\
	this_cpu_inc(target_calls[BATCH_IDX][ftramp_target_ctx()]);	\
}
#define DEFINE_BATCH10(d)					\
	DEFINE_BATCH(d##0) DEFINE_BATCH(d##1) DEFINE_BATCH(d##2)	\
	DEFINE_BATCH(d##3) DEFINE_BATCH(d##4) DEFINE_BATCH(d##5)	\
	DEFINE_BATCH(d##6) DEFINE_BATCH(d##7) DEFINE_BATCH(d##8)	\
	DEFINE_BATCH(d##9)
DEFINE_BATCH10(0) DEFINE_BATCH10(1) DEFINE_BATCH10(2) DEFINE_BATCH10(3) DEFINE_BATCH10(4)
DEFINE_BATCH10(5) DEFINE_BATCH10(6) DEFINE_BATCH10(7) DEFINE_BATCH10(8) DEFINE_BATCH10(9)

#define BATCH_PTR(n) ftramp_target_batch_##n,
#define BATCH_PTR10(d) BATCH_PTR(d##0) BATCH_PTR(d##1) BATCH_PTR(d##2) BATCH_PTR(d##3)	\
	BATCH_PTR(d##4) BATCH_PTR(d##5) BATCH_PTR(d##6) BATCH_PTR(d##7) BATCH_PTR(d##8)	\
	BATCH_PTR(d##9)
static void (*const batch_fns[100])(void) = {
	BATCH_PTR10(0) BATCH_PTR10(1) BATCH_PTR10(2) BATCH_PTR10(3) BATCH_PTR10(4)
	BATCH_PTR10(5) BATCH_PTR10(6) BATCH_PTR10(7) BATCH_PTR10(8) BATCH_PTR10(9)
};

static void (*const targets[NR_TARGETS])(void) = {
	ftramp_target_a, ftramp_target_b, ftramp_target_c, ftramp_target_d,
};
static const char *const target_names[NR_COUNTED] = {
	"a", "b", "c", "d", "batch", "v1", "v6", "v7", "v8", "v16", "vs24", "rec", "sleep",
	"tail", "unwind",
};

/* ---- return-hook targets (issue 12) ---- */

static int oracle_mutant;
module_param(oracle_mutant, int, 0644);
MODULE_PARM_DESC(oracle_mutant,
		 "Test only: 1 ftramp_target_v8 drops its 8th argument, 2 the unwind probe looks for a function not on the stack");

/*
 * noinline keeps a real function with an fentry site; OPTIMIZER_HIDE_VAR() makes
 * every argument and inner result opaque, so the compiler can neither fold a
 * call nor turn the recursion into a loop; the count is a side effect, so no two
 * calls with equal arguments can be merged.
 */
noinline long ftramp_target_v1(long a)
{
	count_call(FTRAMP_TARGET_V1);
	OPTIMIZER_HIDE_VAR(a);
	return ftramp_v1_expect(a);
}
EXPORT_SYMBOL_GPL(ftramp_target_v1);

noinline long ftramp_target_v6(long a, long b, long c, long d, long e, long f)
{
	count_call(FTRAMP_TARGET_V6);
	OPTIMIZER_HIDE_VAR(a);
	OPTIMIZER_HIDE_VAR(f);
	return ftramp_v6_expect(a, b, c, d, e, f);
}
EXPORT_SYMBOL_GPL(ftramp_target_v6);

/* The 7th argument is the first on the stack. */
noinline long ftramp_target_v7(long a, long b, long c, long d, long e, long f, long g)
{
	count_call(FTRAMP_TARGET_V7);
	OPTIMIZER_HIDE_VAR(a);
	OPTIMIZER_HIDE_VAR(g);
	return ftramp_v7_expect(a, b, c, d, e, f, g);
}
EXPORT_SYMBOL_GPL(ftramp_target_v7);

noinline long ftramp_target_v8(long a, long b, long c, long d, long e, long f, long g, long h)
{
	count_call(FTRAMP_TARGET_V8);
	OPTIMIZER_HIDE_VAR(a);
	OPTIMIZER_HIDE_VAR(h);
	/* The mutant: what a caller sees when the 2nd stack word is lost. */
	if (unlikely(READ_ONCE(oracle_mutant) == 1))
		h = 0;
	return ftramp_v8_expect(a, b, c, d, e, f, g, h);
}
EXPORT_SYMBOL_GPL(ftramp_target_v8);

noinline struct ftramp_pair ftramp_target_v16(long a, long b)
{
	count_call(FTRAMP_TARGET_V16);
	OPTIMIZER_HIDE_VAR(a);
	OPTIMIZER_HIDE_VAR(b);
	return ftramp_v16_expect(a, b);
}
EXPORT_SYMBOL_GPL(ftramp_target_v16);

/* k in di, m in si, t on the stack (3 words). */
noinline long ftramp_target_vs24(long k, struct ftramp_trio t, long m)
{
	count_call(FTRAMP_TARGET_VS24);
	OPTIMIZER_HIDE_VAR(k);
	OPTIMIZER_HIDE_VAR(t.c);
	return ftramp_vs24_expect(k, t.a, t.b, t.c, m);
}
EXPORT_SYMBOL_GPL(ftramp_target_vs24);

noinline unsigned long ftramp_target_rec(unsigned long depth)
{
	unsigned long r;

	count_call(FTRAMP_TARGET_REC);
	if (!depth)
		return FTRAMP_REC_BASE;
	r = ftramp_target_rec(depth - 1);
	OPTIMIZER_HIDE_VAR(r);
	return 3 * r + depth;
}
EXPORT_SYMBOL_GPL(ftramp_target_rec);

/* Sleepers of ftramp_target_sleep (see "sleep" and "wake"). */
static DECLARE_WAIT_QUEUE_HEAD(sleep_wq);
static bool sleep_release;
static atomic_t sleepers = ATOMIC_INIT(0);

noinline unsigned long ftramp_target_sleep(unsigned long depth)
{
	unsigned long r;

	count_call(FTRAMP_TARGET_SLEEP);
	if (depth) {
		r = ftramp_target_sleep(depth - 1);
		OPTIMIZER_HIDE_VAR(r);
		return 3 * r + depth;
	}
	atomic_inc(&sleepers);
	/* TASK_IDLE: a long sleep here is no hung task. */
	wait_event_idle(sleep_wq, READ_ONCE(sleep_release));
	atomic_dec(&sleepers);
	return FTRAMP_REC_BASE;
}
EXPORT_SYMBOL_GPL(ftramp_target_sleep);

noinline unsigned long ftramp_target_tail_callee(unsigned long x)
{
	count_call(FTRAMP_TARGET_TAIL);
	OPTIMIZER_HIDE_VAR(x);
	return x * 5 + 2;
}
EXPORT_SYMBOL_GPL(ftramp_target_tail_callee);

/*
 * A tail call: compiled as a jmp to the callee (no frame pointers, so sibling
 * calls are on; ftramp_ret_recursion.sh checks the disassembly), which then
 * returns straight to tail_top.
 */
noinline unsigned long ftramp_target_tail_caller(unsigned long x)
{
	return ftramp_target_tail_callee(x + 1);
}
EXPORT_SYMBOL_GPL(ftramp_target_tail_caller);

noinline unsigned long ftramp_target_tail_top(unsigned long x)
{
	unsigned long r = ftramp_target_tail_caller(x);

	/* Not a tail call itself: the callee's return must land here. */
	OPTIMIZER_HIDE_VAR(r);
	return r;
}
EXPORT_SYMBOL_GPL(ftramp_target_tail_top);

notrace bool ftramp_target_trace_has(const unsigned long *entries, unsigned int n,
				     const char *name)
{
	char sym[KSYM_SYMBOL_LEN];
	unsigned int i;

	for (i = 0; i < n; i++) {
		sprint_symbol_no_offset(sym, entries[i]);
		/* A module symbol reads "name [module]". */
		if (!strncmp(sym, name, strlen(name)) &&
		    (sym[strlen(name)] == '\0' || sym[strlen(name)] == ' '))
			return true;
	}
	return false;
}
EXPORT_SYMBOL_GPL(ftramp_target_trace_has);

#define UNWIND_DEPTH 32
static atomic_long_t unwind_ok = ATOMIC_LONG_INIT(0), unwind_bad = ATOMIC_LONG_INIT(0);

noinline unsigned long ftramp_target_unwind(unsigned long x)
{
	const char *want = READ_ONCE(oracle_mutant) == 2 ? "ftramp_target_unwind_nosuch" :
							    "ftramp_target_unwind_caller";
	unsigned long entries[UNWIND_DEPTH];
	unsigned int n, i;

	count_call(FTRAMP_TARGET_UNWIND);
	n = stack_trace_save(entries, UNWIND_DEPTH, 0);
	if (ftramp_target_trace_has(entries, n, want)) {
		atomic_long_inc(&unwind_ok);
	} else if (atomic_long_inc_return(&unwind_bad) == 1) {
		/* The first bad trace, for the log (info: the test reports the failure). */
		pr_info("unwind: no ftramp_target_unwind_caller in the body's trace:\n");
		for (i = 0; i < n; i++)
			pr_info("unwind:   %pS\n", (void *)entries[i]);
	}
	OPTIMIZER_HIDE_VAR(x);
	return x ^ 0x5a5a;
}
EXPORT_SYMBOL_GPL(ftramp_target_unwind);

noinline unsigned long ftramp_target_unwind_caller(unsigned long x)
{
	unsigned long r = ftramp_target_unwind(x);

	OPTIMIZER_HIDE_VAR(r);
	return r + 1;
}
EXPORT_SYMBOL_GPL(ftramp_target_unwind_caller);

/* Wrong results seen by the callers of the functions above. */
static DEFINE_PER_CPU(unsigned long, values_wrong[FTRAMP_NR_CTX]);
static atomic_long_t rec_wrong = ATOMIC_LONG_INIT(0), tail_wrong = ATOMIC_LONG_INIT(0);
static atomic_long_t unwind_wrong = ATOMIC_LONG_INIT(0);
static DEFINE_PER_CPU(unsigned long, values_seq[FTRAMP_NR_CTX]);

/* The arguments of round @s on this CPU in context @ctx: a..h, then the trio. */
static void values_of(unsigned long s, int ctx, unsigned long v[FTRAMP_VALUES_ARGS])
{
	unsigned long x = s * 0x9e3779b97f4a7c15UL ^ ((unsigned long)smp_processor_id() << 40) ^
			  ((unsigned long)ctx << 56);
	static const u8 shift[FTRAMP_VALUES_ARGS] = { 0, 3, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
	int i;

	for (i = 0; i < FTRAMP_VALUES_ARGS; i++)
		v[i] = x >> shift[i];
}

/*
 * The arguments the value functions are being called with in context @ctx on
 * this CPU (for an entry callback to compare its registers with). notrace: the
 * test ops' callbacks call it.
 */
notrace void ftramp_values_args(int ctx, unsigned long v[FTRAMP_VALUES_ARGS])
{
	values_of(this_cpu_read(values_seq[ctx]), ctx, v);
}
EXPORT_SYMBOL_GPL(ftramp_values_args);

/*
 * One call of each value function, from any context (NMI too), with arguments
 * from a per-CPU, per-context sequence mixed with the CPU and context: every
 * round differs. Not preemptible, so that the sequence (and the CPU) stays the
 * round's until its last call.
 */
static void values_round(void)
{
	unsigned long v[FTRAMP_VALUES_ARGS];
	int ctx;
	unsigned long a, b, c, d, e, f, g, h;
	struct ftramp_trio t;
	struct ftramp_pair p, pe;
	unsigned int bad = 0;

	preempt_disable();
	ctx = ftramp_target_ctx();
	values_of(this_cpu_inc_return(values_seq[ctx]), ctx, v);
	a = v[0], b = v[1], c = v[2], d = v[3], e = v[4], f = v[5], g = v[6], h = v[7];
	t = (struct ftramp_trio){ v[8], v[9], v[10] };
	bad += ftramp_target_v1(a) != ftramp_v1_expect(a);
	bad += ftramp_target_v6(a, b, c, d, e, f) != ftramp_v6_expect(a, b, c, d, e, f);
	bad += ftramp_target_v7(a, b, c, d, e, f, g) != ftramp_v7_expect(a, b, c, d, e, f, g);
	bad += ftramp_target_v8(a, b, c, d, e, f, g, h) !=
	       ftramp_v8_expect(a, b, c, d, e, f, g, h);
	p = ftramp_target_v16(a, b);
	pe = ftramp_v16_expect(a, b);
	bad += p.lo != pe.lo || p.hi != pe.hi;
	bad += ftramp_target_vs24(a, t, h) != ftramp_vs24_expect(a, t.a, t.b, t.c, h);
	if (bad)
		this_cpu_add(values_wrong[ctx], bad);
	preempt_enable();
}

/* notrace: the test ops' callbacks call it (a glob on ftramp_target_* must not recurse). */
notrace unsigned long ftramp_target_cell(int idx, int cpu, int ctx)
{
	return per_cpu(target_calls[idx][ctx], cpu);
}
EXPORT_SYMBOL_GPL(ftramp_target_cell);

unsigned long ftramp_target_count(int idx)
{
	unsigned long sum = 0;
	int cpu, ctx;

	for_each_possible_cpu(cpu)
		for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++)
			sum += per_cpu(target_calls[idx][ctx], cpu);
	return sum;
}
EXPORT_SYMBOL_GPL(ftramp_target_count);

/* ---- drivers: per-CPU callers in task, softirq and hardirq context ---- */

enum ctx { CTX_KTHREAD, CTX_TIMER, CTX_HRTIMER, CTX_EQS, CTX_NMI, NR_CTX };
static const char *const ctx_names[NR_CTX] = { "kthread", "timer", "hrtimer", "eqs", "nmi" };

/*
 * Calls made per timer or hrtimer expiry: bounded so one expiry stays short even
 * with hooks on the target under TCG, smaller when calling until stopped (so the
 * CPUs keep time for the thread that switches the hooks meanwhile).
 */
#define TIMER_BATCH(c)		((c)->remaining == ULONG_MAX ? 200 : 1000)
#define HRTIMER_BATCH(c)	((c)->remaining == ULONG_MAX ? 20 : 100)
#define HRTIMER_PERIOD_NS	(100 * NSEC_PER_USEC)
/*
 * kthread callers sleep a tick after KTHREAD_BATCH calls and, between chunks of
 * KTHREAD_CHUNK calls, report a quiescent state to RCU Tasks (cond_resched_tasks_rcu_qs:
 * between two calls the thread is outside every trampoline). Without the report a
 * caller is an RCU-Tasks holdout for a whole batch, which under TCG with the hooks'
 * callbacks slowed (list_window) or interrupt-heavy load lasted over 10 s: every
 * switch's retire waited for it, and the kernel printed "rcu_tasks grace period ...
 * jiffies old". A thread preempted inside a trampoline is still waited for: it reports
 * only after its call returned.
 */
#define KTHREAD_BATCH		10000
#define KTHREAD_CHUNK		250
/*
 * eqs callers: calls per batch with interrupts off and RCU not watching (short, so
 * RCU-tasks-rude and the tick are not held off for long), and batches between sleeps.
 */
#define EQS_BATCH		200
#define EQS_BATCHES_PER_SLEEP	(KTHREAD_BATCH / EQS_BATCH)
/*
 * nmi: calls per NMI (an NMI holds off everything on its CPU, IPIs included: ftramp's
 * syncs wait for it), and the least pause between two NMIs to one CPU. The sender
 * also pauses ten times as long as the last NMI took, keeping NMIs to a tenth of
 * the CPU at most however slow they are (under TCG one costs a millisecond or more).
 */
#define NMI_BATCH		20
#define NMI_GAP_US		1000

static bool eqs_noop;
module_param(eqs_noop, bool, 0644);
MODULE_PARM_DESC(eqs_noop,
		 "Test only: eqs callers stay where RCU is watching (shows the eqs check can fail)");

static DEFINE_PER_CPU(unsigned long, eqs_batches);
static DEFINE_PER_CPU(unsigned long, eqs_not_watching);
static DEFINE_PER_CPU(unsigned long, nmi_sent);
static DEFINE_PER_CPU(unsigned long, nmi_handled);
static DEFINE_PER_CPU(unsigned long, nmi_lost);

/* What a caller calls: fns[0], fns[1], ... in turn, per round. */
#define MAX_SEQ FTRAMP_TARGET_MAX_SEQ
struct seq {
	void (*fns[MAX_SEQ])(void);
	int n;
};

struct caller {
	void (*fns[MAX_SEQ])(void);	/* called in turn, nr_fns of them */
	int nr_fns;
	unsigned long remaining;	/* ULONG_MAX: until stopped; counts rounds of nr_fns calls */
	struct timer_list timer;
	struct hrtimer hrtimer;
	struct task_struct *task;
	bool active;
	/* nmi: this CPU's caller has an NMI sent to it that its handler did not finish. */
	atomic_t nmi_pending;
	int cpu;
	u64 nmi_ns;			/* how long the last NMI's calls took */
};

static DEFINE_PER_CPU(struct caller, callers[NR_CTX]);
static atomic_t callers_running;
static DECLARE_COMPLETION(callers_done);
static DEFINE_MUTEX(run_lock);
static bool callers_stop;
static unsigned int running_mask;

static void caller_finished(void)
{
	if (atomic_dec_and_test(&callers_running))
		complete(&callers_done);
}

static void caller_calls(struct caller *c, unsigned long n)
{
	int i;

	while (n--)
		for (i = 0; i < c->nr_fns; i++)
			c->fns[i]();
}

/* Makes up to @batch calls; returns true when the caller is done. */
static bool caller_step(struct caller *c, unsigned long batch)
{
	/*
	 * @batch counts calls, c->remaining rounds of nr_fns calls: a caller of ten
	 * functions makes a tenth of the rounds per step, so a timer expiry or an NMI
	 * lasts as long as with one function.
	 */
	unsigned long n = min(c->remaining, max(1UL, batch / c->nr_fns));

	if (READ_ONCE(callers_stop))
		return true;
	if (c->remaining != ULONG_MAX)
		c->remaining -= n;
	caller_calls(c, n);
	return c->remaining == 0;
}

static int kthread_caller(void *data)
{
	struct caller *c = data;
	unsigned long chunks = 0;

	while (!caller_step(c, KTHREAD_CHUNK)) {
		if (++chunks % (KTHREAD_BATCH / KTHREAD_CHUNK) == 0)
			schedule_timeout_uninterruptible(1);
		else
			cond_resched_tasks_rcu_qs();
	}
	caller_finished();
	/* Stay until kthread_stop() so the task can be reaped safely. */
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

/*
 * One eqs batch: the calls run with interrupts disabled and, unless eqs_noop, in an
 * RCU extended quiescent state. Nothing here may use RCU; the targets only do a
 * this_cpu_inc() and the hooks' callbacks must cope (that is what is tested).
 */
static bool eqs_step(struct caller *c)
{
	unsigned long n = min_t(unsigned long, c->remaining, EQS_BATCH);
	bool noop = READ_ONCE(eqs_noop), watching;

	if (READ_ONCE(callers_stop))
		return true;
	if (c->remaining != ULONG_MAX)
		c->remaining -= n;
	local_irq_disable();
	if (!noop)
		ct_idle_enter();
	watching = rcu_is_watching();
	caller_calls(c, n);
	if (!noop)
		ct_idle_exit();
	local_irq_enable();
	this_cpu_inc(eqs_batches);
	if (!watching)
		this_cpu_inc(eqs_not_watching);
	return c->remaining == 0;
}

static int eqs_caller(void *data)
{
	struct caller *c = data;
	unsigned long batches = 0;

	while (!eqs_step(c)) {
		if (++batches % EQS_BATCHES_PER_SLEEP == 0)
			schedule_timeout_uninterruptible(1);
		else
			cond_resched_tasks_rcu_qs();
	}
	caller_finished();
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

/* Claims only the NMIs a sender marked: the kernel's other NMI_LOCAL users keep theirs. */
static int nmi_caller(unsigned int type, struct pt_regs *regs)
{
	struct caller *c = this_cpu_ptr(&callers[CTX_NMI]);
	u64 t0;

	if (!atomic_read(&c->nmi_pending))
		return NMI_DONE;
	t0 = ktime_get_mono_fast_ns();	/* NMI-safe, unlike ktime_get() */
	this_cpu_inc(nmi_handled);
	caller_step(c, NMI_BATCH);
	c->nmi_ns = ktime_get_mono_fast_ns() - t0;
	/* Orders the calls, c->remaining and c->nmi_ns before the sender's next look. */
	atomic_set_release(&c->nmi_pending, 0);
	return NMI_HANDLED;
}

/* Runs on the CPU after c->cpu and drives c's NMIs until c is done or told to stop. */
static int nmi_sender(void *data)
{
	struct caller *c = data;
	unsigned long deadline, gap;

	while (!READ_ONCE(callers_stop) && c->remaining) {
		atomic_set(&c->nmi_pending, 1);
		this_cpu_inc(nmi_sent);
		apic->send_IPI(c->cpu, NMI_VECTOR);
		deadline = jiffies + HZ;
		while (atomic_read_acquire(&c->nmi_pending)) {
			if (time_after(jiffies, deadline)) {
				/* Left pending: if it comes after all, it is claimed. */
				this_cpu_inc(nmi_lost);
				goto out;
			}
			cond_resched();
		}
		gap = max_t(unsigned long, NMI_GAP_US, 10 * c->nmi_ns / NSEC_PER_USEC);
		usleep_range(gap, gap + gap / 2);
	}
out:
	caller_finished();
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

static void timer_caller(struct timer_list *t)
{
	struct caller *c = container_of(t, struct caller, timer);

	if (caller_step(c, TIMER_BATCH(c)))
		caller_finished();
	else
		mod_timer(&c->timer, jiffies + 1);
}

static enum hrtimer_restart hrtimer_caller(struct hrtimer *t)
{
	struct caller *c = container_of(t, struct caller, hrtimer);

	if (caller_step(c, HRTIMER_BATCH(c))) {
		caller_finished();
		return HRTIMER_NORESTART;
	}
	hrtimer_forward_now(t, ns_to_ktime(HRTIMER_PERIOD_NS));
	return HRTIMER_RESTART;
}

static void start_hrtimer_here(void *data)
{
	struct caller *c = data;

	hrtimer_start(&c->hrtimer, ns_to_ktime(HRTIMER_PERIOD_NS), HRTIMER_MODE_REL_PINNED_HARD);
}

/*
 * Starts callers of the targets of @sq on every online CPU in each context of
 * @mask, each making @calls rounds of calls in all (one call of each entry of @sq
 * per round; ULONG_MAX: until ftramp_target_stop()).
 */
static int start_callers(const struct seq *sq, unsigned int mask, unsigned long calls)
{
	unsigned int nr = 0, i = 0, ncpus;
	int cpu, ctx, f, ret = 0;

	cpus_read_lock();
	ncpus = num_online_cpus();
	for (ctx = 0; ctx < NR_CTX; ctx++)
		if (mask & BIT(ctx))
			nr += ncpus;
	WRITE_ONCE(callers_stop, false);
	reinit_completion(&callers_done);
	atomic_set(&callers_running, nr);
	running_mask = mask;

	for (ctx = 0; ctx < NR_CTX; ctx++) {
		if (!(mask & BIT(ctx)))
			continue;
		i = 0;
		for_each_online_cpu(cpu) {
			struct caller *c = per_cpu_ptr(&callers[ctx], cpu);

			for (f = 0; f < sq->n; f++)
				c->fns[f] = sq->fns[f];
			c->nr_fns = sq->n;
			c->remaining = calls == ULONG_MAX ? ULONG_MAX :
				       calls / ncpus + (i++ < calls % ncpus ? 1 : 0);
			c->task = NULL;
			c->active = true;
			if (!c->remaining) {
				caller_finished();
				continue;
			}
			switch (ctx) {
			case CTX_KTHREAD:
			case CTX_EQS:
				c->task = kthread_create_on_cpu(ctx == CTX_EQS ? eqs_caller :
								kthread_caller, c, cpu,
								"ftramp_target/%u");
				if (IS_ERR(c->task)) {
					ret = PTR_ERR(c->task);
					c->task = NULL;
					caller_finished();
					break;
				}
				wake_up_process(c->task);
				break;
			case CTX_NMI: {
				int sender = cpumask_next(cpu, cpu_online_mask);

				if (sender >= nr_cpu_ids)
					sender = cpumask_first(cpu_online_mask);
				c->cpu = cpu;
				atomic_set(&c->nmi_pending, 0);
				c->task = kthread_create_on_cpu(nmi_sender, c, sender,
								"ftramp_nmi/%u");
				if (IS_ERR(c->task)) {
					ret = PTR_ERR(c->task);
					c->task = NULL;
					caller_finished();
					break;
				}
				wake_up_process(c->task);
				break;
			}
			case CTX_TIMER:
				timer_setup(&c->timer, timer_caller, TIMER_PINNED);
				c->timer.expires = jiffies + 1;
				add_timer_on(&c->timer, cpu);
				break;
			case CTX_HRTIMER:
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
				hrtimer_setup(&c->hrtimer, hrtimer_caller, CLOCK_MONOTONIC,
					      HRTIMER_MODE_REL_PINNED_HARD);
#else
				hrtimer_init(&c->hrtimer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
				c->hrtimer.function = hrtimer_caller;
#endif
				smp_call_function_single(cpu, start_hrtimer_here, c, 1);
				break;
			}
		}
	}
	cpus_read_unlock();
	return ret;
}

/* Waits for the callers to finish (after asking them to stop if @stop) and reaps them. */
static void finish_callers(bool stop)
{
	int cpu, ctx;

	if (stop)
		WRITE_ONCE(callers_stop, true);
	wait_for_completion(&callers_done);
	for (ctx = 0; ctx < NR_CTX; ctx++) {
		if (!(running_mask & BIT(ctx)))
			continue;
		for_each_possible_cpu(cpu) {
			struct caller *c = per_cpu_ptr(&callers[ctx], cpu);

			if (!c->active)
				continue;
			if (c->task)
				kthread_stop(c->task);
			if (ctx == CTX_TIMER)
				timer_shutdown_sync(&c->timer);
			if (ctx == CTX_HRTIMER)
				hrtimer_cancel(&c->hrtimer);
			c->active = false;
		}
	}
	running_mask = 0;
}

static int run_callers(const struct seq *sq, enum ctx ctx, unsigned long calls)
{
	int ret = -EBUSY;

	mutex_lock(&run_lock);
	if (!running_mask) {
		ret = start_callers(sq, BIT(ctx), calls);
		finish_callers(false);
	}
	mutex_unlock(&run_lock);
	return ret;
}

static int start_seq(const struct seq *sq, unsigned int ctx_mask)
{
	int ret;

	if (!ctx_mask || ctx_mask >= BIT(NR_CTX))
		return -EINVAL;
	mutex_lock(&run_lock);
	if (running_mask) {
		mutex_unlock(&run_lock);
		return -EBUSY;
	}
	ret = start_callers(sq, ctx_mask, ULONG_MAX);
	if (ret)
		finish_callers(true);
	mutex_unlock(&run_lock);
	return ret;
}

/*
 * For stress tests in other modules: callers of ftramp_target_<fn> (0 = a) on
 * every CPU in each context of @ctx_mask (bit 0 kthread, 1 timer, 2 hrtimer,
 * 3 eqs), calling until ftramp_target_stop().
 */
int ftramp_target_start(int fn, unsigned int ctx_mask)
{
	struct seq sq = { .n = 1 };

	if (fn < 0 || fn >= NR_TARGETS)
		return -EINVAL;
	sq.fns[0] = targets[fn];
	return start_seq(&sq, ctx_mask);
}
EXPORT_SYMBOL_GPL(ftramp_target_start);

int ftramp_target_start_batch(int nr, unsigned int ctx_mask)
{
	struct seq sq = { .n = nr };
	int f;

	if (nr < 1 || nr > MAX_SEQ)
		return -EINVAL;
	for (f = 0; f < nr; f++)
		sq.fns[f] = batch_fns[f];
	return start_seq(&sq, ctx_mask);
}
EXPORT_SYMBOL_GPL(ftramp_target_start_batch);

int ftramp_target_stop(void)
{
	int ret = -EINVAL;

	mutex_lock(&run_lock);
	if (running_mask) {
		finish_callers(true);
		ret = 0;
	}
	mutex_unlock(&run_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(ftramp_target_stop);

/* ---- debugfs ---- */

static struct dentry *dir;

/* Parses "<funcs>": letters a-d and v, 1 to MAX_SEQ of them. */
static int parse_seq(const char *s, struct seq *sq)
{
	sq->n = 0;
	for (; *s; s++) {
		if (sq->n == MAX_SEQ)
			return -EINVAL;
		if (*s == 'v') {
			sq->fns[sq->n++] = values_round;
			continue;
		}
		if (*s < 'a' || *s >= 'a' + NR_TARGETS)
			return -EINVAL;
		sq->fns[sq->n++] = targets[*s - 'a'];
	}
	return sq->n ? 0 : -EINVAL;
}

static int lookup(const char *const *names, int n, const char *s)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

/* ---- sleepers: kthreads inside ftramp_target_sleep until "wake" ---- */

#define MAX_SLEEPERS 256
#define MAX_SLEEP_DEPTH 32
static DEFINE_MUTEX(sleep_lock);
static struct task_struct **sleep_tasks;
static unsigned int nr_sleep_tasks;
static unsigned long sleep_depth;
static atomic_t sleep_done = ATOMIC_INIT(0);
static atomic_long_t sleep_wrong = ATOMIC_LONG_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(sleep_done_wq);

static int sleep_thread(void *data)
{
	if (ftramp_target_sleep(sleep_depth) != ftramp_rec_expect(sleep_depth))
		atomic_long_inc(&sleep_wrong);
	atomic_inc(&sleep_done);
	wake_up(&sleep_done_wq);
	/* Stay until kthread_stop() so the task can be reaped safely. */
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

/* Wakes the sleepers and reaps them once all have returned. Under sleep_lock. */
static void sleep_finish(void)
{
	unsigned int i;

	WRITE_ONCE(sleep_release, true);
	wake_up_all(&sleep_wq);
	wait_event(sleep_done_wq, atomic_read(&sleep_done) == nr_sleep_tasks);
	for (i = 0; i < nr_sleep_tasks; i++)
		kthread_stop(sleep_tasks[i]);
	kfree(sleep_tasks);
	sleep_tasks = NULL;
	nr_sleep_tasks = 0;
}

static int sleep_start(unsigned int n, unsigned long depth)
{
	unsigned int i;
	int ret = 0;

	if (!n || n > MAX_SLEEPERS || depth > MAX_SLEEP_DEPTH)
		return -EINVAL;
	mutex_lock(&sleep_lock);
	if (sleep_tasks) {
		ret = -EBUSY;
		goto out;
	}
	sleep_tasks = kcalloc(n, sizeof(*sleep_tasks), GFP_KERNEL);
	if (!sleep_tasks) {
		ret = -ENOMEM;
		goto out;
	}
	WRITE_ONCE(sleep_release, false);
	atomic_set(&sleep_done, 0);
	sleep_depth = depth;
	for (i = 0; i < n; i++) {
		struct task_struct *t = kthread_run(sleep_thread, NULL, "ftramp_sleep/%u", i);

		if (IS_ERR(t)) {
			ret = PTR_ERR(t);
			break;
		}
		sleep_tasks[nr_sleep_tasks++] = t;
	}
	if (ret)
		sleep_finish();
out:
	mutex_unlock(&sleep_lock);
	return ret;
}

static int sleep_wake(void)
{
	int ret = -EINVAL;

	mutex_lock(&sleep_lock);
	if (sleep_tasks) {
		sleep_finish();
		ret = 0;
	}
	mutex_unlock(&sleep_lock);
	return ret;
}

/* The return-hook callers of run (see the top of the file); 0 or -errno. */
static int run_ret_cmd(const char *buf, bool *handled)
{
	unsigned long n, depth, i;
	unsigned int nt;

	*handled = true;
	if (sscanf(buf, "rec %lu %lu", &depth, &n) == 2) {
		if (depth > MAX_SLEEP_DEPTH)
			return -EINVAL;
		for (i = 0; i < n; i++) {
			unsigned long r;

			preempt_disable();
			r = ftramp_target_rec(depth);
			preempt_enable();
			if (r != ftramp_rec_expect(depth))
				atomic_long_inc(&rec_wrong);
			if (i % 256 == 255)
				cond_resched();
		}
		return 0;
	}
	if (sscanf(buf, "tail %lu", &n) == 1) {
		for (i = 0; i < n; i++)
			if (ftramp_target_tail_top(i) != ftramp_tail_expect(i))
				atomic_long_inc(&tail_wrong);
		return 0;
	}
	if (sscanf(buf, "unwind %lu", &n) == 1) {
		for (i = 0; i < n; i++)
			if (ftramp_target_unwind_caller(i) != ((i ^ 0x5a5a) + 1))
				atomic_long_inc(&unwind_wrong);
		return 0;
	}
	if (sscanf(buf, "sleep %u %lu", &nt, &depth) == 2)
		return sleep_start(nt, depth);
	if (!strcmp(buf, "wake"))
		return sleep_wake();
	*handled = false;
	return 0;
}

/*
 * "psn on|off": a kprobe on preempt_schedule_notrace (a raw one: kprobe events refuse
 * notrace functions), counting in "psn_hits" how often the scheduler is entered from a
 * preempt_enable_notrace() (ftramp_preempt_exit.sh).
 */
static atomic_long_t psn_hits = ATOMIC_LONG_INIT(0);

static int psn_pre(struct kprobe *p, struct pt_regs *regs)
{
	atomic_long_inc(&psn_hits);
	return 0;
}

static struct kprobe psn_probe = {
	.symbol_name = "preempt_schedule_notrace",
	.pre_handler = psn_pre,
};
static bool psn_on;

static int psn_ctl(bool on)
{
	int ret = 0;

	if (on && !psn_on)
		ret = register_kprobe(&psn_probe);
	else if (!on && psn_on)
		unregister_kprobe(&psn_probe);
	if (!ret)
		psn_on = on;
	/* A struct kprobe is registered once: make it new for the next "psn on". */
	if (!on)
		psn_probe = (struct kprobe){ .symbol_name = "preempt_schedule_notrace",
					      .pre_handler = psn_pre };
	return ret;
}

static ssize_t run_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char buf[64], fname[MAX_SEQ + 1], cname[16];
	unsigned long calls;
	unsigned int mask;
	struct seq sq;
	int ctx, ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (!strcmp(strim(buf), "stop")) {
		ret = ftramp_target_stop();
		return ret ? ret : len;
	}
	if (!strcmp(buf, "psn on") || !strcmp(buf, "psn off")) {
		ret = psn_ctl(buf[5] == 'n');
		return ret ? ret : len;
	}
	{
		bool handled;

		ret = run_ret_cmd(strim(buf), &handled);
		if (handled)
			return ret ? ret : len;
	}
	if (sscanf(buf, "batch %lu", &calls) == 1) {
		unsigned long i;
		int f;

		for (i = 0; i < calls; i++)
			for (f = 0; f < 100; f++)
				batch_fns[f]();
		return len;
	}
	if (sscanf(buf, "start %16s %u", fname, &mask) == 2) {
		if (parse_seq(fname, &sq))
			return -EINVAL;
		ret = start_seq(&sq, mask);
		return ret ? ret : len;
	}
	if (sscanf(buf, "%16s %15s %lu", fname, cname, &calls) != 3)
		return -EINVAL;
	ctx = lookup(ctx_names, NR_CTX, cname);
	if (parse_seq(fname, &sq) || ctx < 0)
		return -EINVAL;
	ret = run_callers(&sq, ctx, calls);
	return ret ? ret : len;
}

static unsigned long sum_cpus(unsigned long __percpu *v)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += *per_cpu_ptr(v, cpu);
	return sum;
}

static int count_show(struct seq_file *m, void *v)
{
	int i, cpu;

	for (i = 0; i < NR_COUNTED; i++)
		seq_printf(m, "%s %lu\n", target_names[i], ftramp_target_count(i));
	seq_printf(m, "eqs_batches %lu\neqs_not_watching %lu\n", sum_cpus(&eqs_batches),
		   sum_cpus(&eqs_not_watching));
	seq_printf(m, "nmi_sent %lu\nnmi_handled %lu\nnmi_lost %lu\n", sum_cpus(&nmi_sent),
		   sum_cpus(&nmi_handled), sum_cpus(&nmi_lost));
	seq_printf(m, "values_wrong %lu\nrec_wrong %ld\ntail_wrong %ld\nunwind_wrong %ld\n",
		   sum_cpus(&values_wrong[FTRAMP_CTX_TASK]) +
		   sum_cpus(&values_wrong[FTRAMP_CTX_SOFTIRQ]) +
		   sum_cpus(&values_wrong[FTRAMP_CTX_HARDIRQ]) +
		   sum_cpus(&values_wrong[FTRAMP_CTX_NMI]),
		   atomic_long_read(&rec_wrong), atomic_long_read(&tail_wrong),
		   atomic_long_read(&unwind_wrong));
	seq_printf(m, "unwind_ok %ld\nunwind_bad %ld\n", atomic_long_read(&unwind_ok),
		   atomic_long_read(&unwind_bad));
	seq_printf(m, "sleepers %d\nsleep_done %d\nsleep_wrong %ld\n", atomic_read(&sleepers),
		   atomic_read(&sleep_done), atomic_long_read(&sleep_wrong));
	seq_printf(m, "psn_hits %ld\n", atomic_long_read(&psn_hits));
	for (i = 0; i < NR_COUNTED; i++)
		for_each_online_cpu(cpu) {
			unsigned long *n = per_cpu(target_calls[i], cpu);

			if (n[0] || n[1] || n[2] || n[3])
				seq_printf(m, "cell %s %d %lu %lu %lu %lu\n", target_names[i], cpu,
					   n[FTRAMP_CTX_TASK], n[FTRAMP_CTX_SOFTIRQ],
					   n[FTRAMP_CTX_HARDIRQ], n[FTRAMP_CTX_NMI]);
		}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(count);

static void reset_counts(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		memset(per_cpu_ptr(&target_calls, cpu), 0, sizeof(target_calls));
		per_cpu(eqs_batches, cpu) = 0;
		per_cpu(eqs_not_watching, cpu) = 0;
		per_cpu(nmi_sent, cpu) = 0;
		per_cpu(nmi_handled, cpu) = 0;
		per_cpu(nmi_lost, cpu) = 0;
		memset(per_cpu_ptr(&values_wrong, cpu), 0, sizeof(values_wrong));
	}
	atomic_long_set(&rec_wrong, 0);
	atomic_long_set(&tail_wrong, 0);
	atomic_long_set(&unwind_wrong, 0);
	atomic_long_set(&unwind_ok, 0);
	atomic_long_set(&unwind_bad, 0);
	atomic_long_set(&sleep_wrong, 0);
}

void ftramp_target_reset(void)
{
	mutex_lock(&run_lock);
	reset_counts();
	mutex_unlock(&run_lock);
}
EXPORT_SYMBOL_GPL(ftramp_target_reset);

static ssize_t reset_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	ftramp_target_reset();
	return len;
}

static const struct file_operations run_fops = {
	.owner = THIS_MODULE,
	.write = run_write,
};

static const struct file_operations reset_fops = {
	.owner = THIS_MODULE,
	.write = reset_write,
};

/*
 * peek: write "ADDR LEN" (hex address, 1-16 bytes), then read those bytes of kernel
 * memory in hex (copy_from_kernel_nofault). The tests check with it that a function's
 * fentry site is the nop again after ftramp (or ftramp_test_ops) is gone, without any
 * help from them. The address is the open file's own: write and read through one
 * descriptor (lib.sh: peek).
 */
#define PEEK_MAX 16

struct peek {
	unsigned long addr;
	unsigned int len;
};

static int peek_open(struct inode *inode, struct file *file)
{
	file->private_data = kzalloc(sizeof(struct peek), GFP_KERNEL);
	return file->private_data ? 0 : -ENOMEM;
}

static int peek_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static ssize_t peek_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct peek *p = file->private_data;
	char buf[48];
	unsigned long addr;
	unsigned int n;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%lx %u", &addr, &n) != 2 || !n || n > PEEK_MAX)
		return -EINVAL;
	p->addr = addr;
	p->len = n;
	return len;
}

static ssize_t peek_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct peek *p = file->private_data;
	u8 bytes[PEEK_MAX];
	char out[2 * PEEK_MAX + 2];
	unsigned int i;

	if (!p->len)
		return -EINVAL;
	if (copy_from_kernel_nofault(bytes, (void *)p->addr, p->len))
		return -EFAULT;
	for (i = 0; i < p->len; i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	out[2 * i] = '\n';
	return simple_read_from_buffer(ubuf, len, ppos, out, 2 * i + 1);
}

static const struct file_operations peek_fops = {
	.owner = THIS_MODULE,
	.open = peek_open,
	.release = peek_release,
	.read = peek_read,
	.write = peek_write,
};

static int __init target_init(void)
{
	int ret = register_nmi_handler(NMI_LOCAL, nmi_caller, 0, "ftramp_target");

	if (ret)
		return ret;
	dir = debugfs_create_dir("ftramp_target", NULL);
	debugfs_create_file("peek", 0600, dir, NULL, &peek_fops);
	debugfs_create_file("run", 0200, dir, NULL, &run_fops);
	debugfs_create_file("count", 0400, dir, NULL, &count_fops);
	debugfs_create_file("reset", 0200, dir, NULL, &reset_fops);
	return 0;
}

static void __exit target_exit(void)
{
	ftramp_target_stop();
	sleep_wake();
	debugfs_remove(dir);
	psn_ctl(false);
	/* After every sender stopped: no NMI of ours is pending any more. */
	unregister_nmi_handler(NMI_LOCAL, "ftramp_target");
}

module_init(target_init);
module_exit(target_exit);
MODULE_DESCRIPTION("ftramp test target: self-counting functions and per-CPU callers");
MODULE_LICENSE("GPL");
