// SPDX-License-Identifier: GPL-2.0
/*
 * ftramp_test_ops.ko: ops for ftramp's kselftests, through ftramp's exported C API.
 *
 * Eight ops count their callback's calls per CPU. Ops 0-3 guard their own
 * recursion (FTRAMP_OPS_FL_RECURSION: called straight from the trampoline),
 * ops 4-7 do not (ftramp wraps them in ftrace's recursion guard).
 *
 * The callback also counts, per ops, the calls in which it found itself
 * preemptible (ftramp promises it never is) and the calls that ended with
 * need_resched() set: those tasks are preempted in the trampoline's epilogue
 * right after, i.e. with a return address into ftramp's generated code on
 * their stack. "spin K USEC" makes ops K's callback udelay() to widen that
 * window. An ops marked dead ("poison K", once the test unregistered it) must
 * never be called again: if it is, the global "poisoned" counter goes up.
 *
 * debugfs (/sys/kernel/debug/ftramp_test/):
 *   ctl     write one command:
 *             filter K <filter>    ftramp_set_filter(ops K, filter, reset=1)
 *             filter+ K <filter>   the same with reset=0 ("!glob" removes)
 *             register K | unregister K | zero
 *             spin K USEC          ops K's callback spins USEC (0-5000) us per call
 *             poison K             ops K (unregistered, ftramp holding nothing
 *                                  for it: EBUSY otherwise) is dead:
 *                                  its callback counts a call in "poisoned"
 *                                  instead, and its func is swapped to a poison
 *                                  callback that does the same (for the list
 *                                  iterator and the guard wrapper, which read
 *                                  ops->func); "filter K ..." or "register K"
 *                                  revives it. The callback also looks at the
 *                                  mark at its end: a call in flight when
 *                                  unregister returned counts too
 *             retire K             unregister K, then poison K at once (in the
 *                                  same write: a callback still running when
 *                                  unregister returned is caught at its end)
 *             stress SWITCHES CTXMASK [MINCALLS]
 *                 ops 0 (the persistent ops P) counts ftramp_target_a for the
 *                 whole run while ops 1 (the toggled ops Q) is attached and
 *                 detached SWITCHES times (the site flips direct <-> list) and
 *                 callers run on every CPU in the contexts of CTXMASK (1
 *                 kthread, 2 timer, 4 hrtimer, 8 eqs: where RCU is not
 *                 watching, 16 nmi). Switching goes on past SWITCHES until the
 *                 target made MINCALLS calls. Flags in CTXMASK:
 *                   0x100 ops 2 (R) is attached throughout as well: the site
 *                         flips list(2) <-> list(3);
 *                   0x200 the ops are 4, 5 (and 6): the guarded kind, which
 *                         ftramp calls through ops_assist;
 *                   0x400 the site is ten sites, ftramp_target_batch_00..09,
 *                         switched together in each round while every caller
 *                         calls all ten in turn;
 *                   0x800 return hooks: P is return ops 8 (count mode: entry
 *                         and return counted, both exact), and the toggles
 *                         alternate between the entry-only Q (flips the entry
 *                         dispatch) and return ops 9 (flips both dispatch sites);
 *                   0x1000 return hooks, moving: P is the entry-only ops and
 *                         only return ops 9 toggles, so the function moves
 *                         between the entry-only and the return trampoline in
 *                         every round (P must still be exact).
 *                 With 0x800/0x1000 the result also has the ret_* lines.
 *                 The oracle (see tally()): per CPU and per context, P (and R)
 *                 saw exactly the calls the target counted, Q at most as many,
 *                 and no ops was called twice for one call (doubles: a
 *                 callback that finds the target's count where it was at its
 *                 previous call on this CPU in this context; exact while each
 *                 CPU has one task-context caller, i.e. not kthread and eqs
 *                 together).
 *             mode K MODE          what ops K does: entry ops (0-7): count |
 *                                  parent (also keeps the last parent_ip); return
 *                                  ops (8-17): see "Return ops" below
 *             misuse              the C API's answers to a caller's mistakes (see
 *                                  misuse()); -EPROTO, with a pr_err per wrong answer
 *             fprobe on|off        a kernel fprobe on ftramp_target_a (fprobe_ctl())
 *             errors are returned as the write's errno.
 *   counts  read: "K calls preemptible resched" per ops (ops_count in lib.sh
 *           reads the second field), then "poisoned N" (never reset by zero), then
 *           "addr K ADDRESS" per ops (its struct ftramp_ops).
 *   result  read: the last stress run: calls, persistent, drops, switches, seconds.
 *   fprobe  read: that fprobe's counts.
 *   peek    write "ADDR LEN" (hex address, 1-256 bytes: a slot), then read: those bytes in
 *           hex (copy_from_kernel_nofault), e.g. a freed trampoline slot's int3 filler.
 *
 * Return ops (issue 12): ops 8-17 of ctl (filter, filter+, register, unregister,
 * poison, retire and mode as for the others) have a ret_func, and an entry_func
 * except in mode noentry. Their counts are in debugfs "ret": per ops entries,
 * returns, wrong (a bad return value, cookie, order, parent or unwind), regs_wrong
 * (ret->regs are not the entry's), unentered (a return whose cookie this
 * registration of the ops never left: a stale delivery) and ok (tail, unwind).
 * A count-mode cookie names the ops, its registration (a generation bumped by
 * every register) and the CPU and context of the entry; the return is counted in
 * that CPU's and context's cell, so the stress oracle compares entries and
 * returns per CPU and context too. Modes:
 *   count    entry and return counted (the oracle's kind)
 *   value    for the value functions (ftramp_target_v*): the entry computes the
 *            expected return value from its registers and stack words
 *            (ftramp_regs_stack()) into the cookie; the return compares ax (and
 *            dx for the 16-byte return) with it, and with the value recomputed
 *            from ret->regs (regs_wrong)
 *   noentry  no entry_func: the cookie must be 0; the return compares ax/dx
 *            with the value recomputed from ret->regs
 *   order    for ftramp_target_rec (called with preemption off): the entry
 *            pushes its depth on a per-CPU stack and leaves it as the cookie;
 *            each return must pop its own depth (innermost first) and return
 *            r(depth); the first 64 entries and returns are logged
 *   tail     for ftramp_target_tail_callee: the return's parent_ip must equal the
 *            entry's and lie in ftramp_target_tail_top (the tail-caller's caller)
 *   unwind   for ftramp_target_unwind: a stack trace taken in the return
 *            callback must contain ftramp_target_unwind_caller
 *
 * Module parameter leak_on_exit (a deliberately broken API user, for
 * ftramp_forgetful_user.sh): module exit leaves every ops registered. See
 * test_ops_exit() for what it may and may not free then.
 *
 * Module parameter oracle_mutant (shows that the stress oracle can fail where
 * totals would not): 1 counts a callback's hardirq calls as task calls (a drop in
 * one context and a double call in another that cancel in the totals); 2 makes
 * the toggled ops' callback run its body twice per call (a double call of the
 * toggled ops, which is never compared exactly). For the return ops: 3 leaves a
 * value-mode cookie off by one (a wrong cookie delivered), 4 leaves count-mode
 * cookies of the previous registration (a stale delivery: unentered), 5 makes
 * the order mode pop the outermost depth (returns out of order).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fprobe.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/kallsyms.h>
#include <linux/stacktrace.h>
#include <linux/uaccess.h>
#include <linux/version.h>

#include "../rust/ftramp_api.h"
#include "ftramp_target.h"

#define NR_OPS 8
#define MAX_SPIN_US 5000

#define STRESS_CTX	0x1f	/* callers: 1 kthread, 2 timer, 4 hrtimer, 8 eqs, 16 nmi */
#define STRESS_THIRD	0x100	/* R attached throughout: list(2) <-> list(3) */
#define STRESS_GUARDED	0x200	/* ops 4-6: the guarded kind (through ops_assist) */
#define STRESS_BATCH	0x400	/* ten sites switched together */
#define STRESS_RET	0x800	/* P is a return ops; Q and return ops 9 toggle in turn */
#define STRESS_RET_MOVE	0x1000	/* P entry-only; return ops 9 toggles: trampolines change */
#define STRESS_SITES	10

/* Return ops: ctl's K NR_OPS .. NR_OPS + NR_ROPS - 1 (more than FTRAMP_MAX_RET_OPS). */
#define NR_ROPS		10
#define ROPS_P		0	/* the persistent return ops of stress (ctl 8) */
#define ROPS_T		1	/* the toggled return ops of stress (ctl 9) */

struct test_ops {
	struct ftramp_ops ops;
	bool registered;
	bool dead;		/* poisoned: must never be called */
	bool record_parent;	/* mode parent: keep the last parent_ip */
	bool check_args;	/* mode args: check the value functions' registers */
	unsigned int spin_us;
	unsigned long last_parent;
};

enum rmode { RM_COUNT, RM_VALUE, RM_NOENTRY, RM_ORDER, RM_TAIL, RM_UNWIND, NR_RMODES };
static const char *const rmode_names[NR_RMODES] = {
	"count", "value", "noentry", "order", "tail", "unwind",
};

struct ret_ops {
	struct ftramp_ops ops;
	bool registered;
	bool dead;		/* poisoned: must never be called */
	enum rmode mode;
	u32 gen;		/* bumped by every register: names the registration */
};

static struct ret_ops rops[NR_ROPS];

static struct test_ops tops[NR_OPS];
static DEFINE_MUTEX(ctl_lock);

/*
 * The counters are static per-CPU data of this module, not alloc_percpu(): they
 * live exactly as long as the module's text and data, which is what a misbehaving
 * exit (leak_on_exit) needs. See test_ops_exit().
 */
static DEFINE_PER_CPU(unsigned long, calls[NR_OPS][FTRAMP_NR_CTX]);
static DEFINE_PER_CPU(unsigned long, preempt_seen[NR_OPS]);
static DEFINE_PER_CPU(unsigned long, resched_seen[NR_OPS]);
static atomic_long_t poisoned = ATOMIC_LONG_INIT(0);
/*
 * Double-call detection during a stress run: the target's count (of track_idx,
 * + 1) each ops' callback found at its last call on this CPU in this context.
 * Two calls of one ops for one call of the target find the same count.
 */
static int track_idx = -1;
static DEFINE_PER_CPU(unsigned long, last_seen[NR_OPS][FTRAMP_NR_CTX]);
static DEFINE_PER_CPU(unsigned long, doubles[NR_OPS]);

/*
 * Return ops' counters. Entries count on the entry's CPU; returns count in the
 * cell of the entry's CPU and context (from the cookie, count mode), on whatever
 * CPU the return runs: atomics.
 */
static atomic_long_t r_wrong[NR_ROPS], r_regs_wrong[NR_ROPS], r_unentered[NR_ROPS];
static atomic_long_t r_ok[NR_ROPS];
/* tail: the last parent_ip a return saw; unwind: the first bad trace is printed. */
static unsigned long r_last_parent[NR_ROPS];
/* order: a per-CPU stack of the depths entered, and the first ORDER_LOG events. */
#define ORDER_MAX 64
struct order_stack {
	unsigned int n;
	unsigned long depth[ORDER_MAX];
};
/*
 * Allocated at load (alloc_percpu), not static: modules' static per-CPU data comes
 * from a small reserved area that ftramp, ftramp_target and this module share, and
 * ftramp_preempt_callback.sh reloads this module 30 times.
 */
struct rpc {
	unsigned long entries[NR_ROPS][FTRAMP_NR_CTX];
	atomic_long_t returns[NR_ROPS][FTRAMP_NR_CTX];
	unsigned long last_seen[NR_ROPS][FTRAMP_NR_CTX];
	unsigned long doubles[NR_ROPS];
	struct order_stack order;
};
static struct rpc __percpu *rpc;
#define ORDER_LOG 64
static long order_log_entry[ORDER_LOG], order_log_ret[ORDER_LOG];
static atomic_t order_log_entries = ATOMIC_INIT(0), order_log_rets = ATOMIC_INIT(0);

static int oracle_mutant;
module_param(oracle_mutant, int, 0644);
MODULE_PARM_DESC(oracle_mutant,
		 "Test only: 1 files hardirq calls under task, 2 calls the toggled ops' body twice, 3-5 see ftramp_test_ops.c");

static bool leak_on_exit;
module_param(leak_on_exit, bool, 0644);
MODULE_PARM_DESC(leak_on_exit,
		 "Test only: module exit does not unregister its ops (ftramp must detach them)");

static struct {
	unsigned long calls, persistent, switches, ns;
	long drops;
	int err;
	/* Per context (enum ftramp_target_ctx), summed over CPUs. */
	unsigned long calls_ctx[FTRAMP_NR_CTX], persistent_ctx[FTRAMP_NR_CTX];
	unsigned long toggled_ctx[FTRAMP_NR_CTX], third_ctx[FTRAMP_NR_CTX];
	/* Sum over CPUs and contexts of |target - P| and |target - R|; of max(0, Q - target). */
	unsigned long mismatch, toggled_excess, doubles;
	unsigned int sites;
	/* STRESS_RET / STRESS_RET_MOVE: 1 / 2 (0: none). */
	int ret_mode;
	/* P's returns (ret mode 1), T's entries and returns, per context. */
	unsigned long ret_returns_ctx[FTRAMP_NR_CTX];
	unsigned long tret_entries_ctx[FTRAMP_NR_CTX], tret_returns_ctx[FTRAMP_NR_CTX];
	/* Sum of |target - P returns|; of T returns beyond T entries, T entries beyond target. */
	unsigned long ret_mismatch, tret_excess;
	unsigned long ret_unentered, ret_wrong;
} result;

static void count_one(int k)
{
	int ctx = ftramp_target_ctx(), idx = READ_ONCE(track_idx);

	if (idx >= 0) {
		unsigned long now = ftramp_target_cell(idx, smp_processor_id(), ctx) + 1;

		if (this_cpu_read(last_seen[k][ctx]) == now)
			this_cpu_inc(doubles[k]);
		this_cpu_write(last_seen[k][ctx], now);
	}
	if (unlikely(oracle_mutant == 1) && ctx == FTRAMP_CTX_HARDIRQ)
		ctx = FTRAMP_CTX_TASK;
	this_cpu_inc(calls[k][ctx]);
}

/*
 * Every count_cb leaves the registers a C callee may clobber scrambled, so that
 * a trampoline that fails to restore one of its function's argument registers
 * shows in the callers' checks (ftramp_target's values_wrong) instead of
 * hiding behind a callback that happened to leave it alone.
 */
static __always_inline void clobber_caller_saved(void)
{
	asm volatile("mov $0x5ca7f00d, %%eax\n\t"
		     "mov %%rax, %%rcx\n\tmov %%rax, %%rdx\n\tmov %%rax, %%rsi\n\t"
		     "mov %%rax, %%rdi\n\tmov %%rax, %%r8\n\tmov %%rax, %%r9\n\t"
		     "mov %%rax, %%r10\n\tmov %%rax, %%r11"
		     ::: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

/* Mode args: value function calls whose registers were checked, and found wrong. */
static atomic_long_t args_checked[NR_OPS], args_wrong[NR_OPS];

/* Which value function @ip (its fentry address, past an endbr) is in; -1: none. */
enum { VF_V1, VF_V6, VF_V7, VF_V8, VF_V16, VF_VS24, NR_VF };
static int value_fn(unsigned long ip)
{
	static const void *const fns[NR_VF] = {
		ftramp_target_v1, ftramp_target_v6, ftramp_target_v7, ftramp_target_v8,
		ftramp_target_v16, ftramp_target_vs24,
	};
	int i;

	for (i = 0; i < NR_VF; i++)
		if (ip - (unsigned long)fns[i] < 16)
			return i;
	return -1;
}

/*
 * What the entry frame of a value function must hold: exactly the argument
 * registers its BTF model says its arguments take (v1: 1, v6..v8: 6, vs24: 2,
 * its struct being on the stack; v16: its 2 and one more, saved because it
 * returns a 16-byte struct, which a packed one would make a hidden pointer in
 * di), the arguments holding what the caller passed (ftramp_values_args()), and
 * 0 from ftramp_regs_arg() past them.
 */
static void check_args(int k, unsigned long ip, const struct ftramp_regs *regs)
{
	static const unsigned int saved[NR_VF] = {
		[VF_V1] = 1, [VF_V6] = 6, [VF_V7] = 6, [VF_V8] = 6, [VF_V16] = 3, [VF_VS24] = 2,
	};
	unsigned long v[FTRAMP_VALUES_ARGS], want[6];
	int fn = value_fn(ip), n, args, i;
	bool bad;

	if (fn < 0)
		return;
	ftramp_values_args(ftramp_target_ctx(), v);
	for (i = 0; i < 6; i++)
		want[i] = v[i];
	if (fn == VF_VS24)	/* vs24(k = a, trio, m = h) */
		want[1] = v[7];
	n = saved[fn];
	args = fn == VF_V16 ? 2 : n;
	bad = regs->frame != n || ftramp_regs_nr_args(regs) != n;
	for (i = 0; i < args; i++)
		bad |= ftramp_regs_arg(regs, i) != want[i];
	if (n < 6)
		bad |= ftramp_regs_arg(regs, n) != 0;
	if (bad)
		atomic_long_inc(&args_wrong[k]);
	atomic_long_inc(&args_checked[k]);
}

static void count_cb(unsigned long ip, unsigned long parent_ip,
		     struct ftramp_ops *ops, struct ftramp_regs *regs)
{
	struct test_ops *t = container_of(ops, struct test_ops, ops);
	int k = t - tops;
	unsigned int spin;

	if (unlikely(READ_ONCE(t->dead))) {
		atomic_long_inc(&poisoned);
		return;
	}
	count_one(k);
	if (unlikely(oracle_mutant == 2) && (k == 1 || k == 5))
		count_one(k);
	if (unlikely(preemptible()))
		this_cpu_inc(preempt_seen[k]);
	spin = READ_ONCE(t->spin_us);
	if (spin)
		udelay(spin);
	/* Still running although the unregister that preceded "poison" returned? */
	if (unlikely(READ_ONCE(t->dead)))
		atomic_long_inc(&poisoned);
	if (need_resched())
		this_cpu_inc(resched_seen[k]);
	if (unlikely(t->record_parent))
		WRITE_ONCE(t->last_parent, parent_ip);
	if (unlikely(READ_ONCE(t->check_args)))
		check_args(k, ip, regs);
	clobber_caller_saved();
}

/* What a dead ops' func points to: any call of it is a call after unregister. */
static void poison_cb(unsigned long ip, unsigned long parent_ip,
		      struct ftramp_ops *ops, struct ftramp_regs *regs)
{
	atomic_long_inc(&poisoned);
}

/* ---- return ops ---- */

/* Count-mode cookie: tag (0xa0 + ops), generation, context, CPU. */
#define COOKIE_TAG(k)		((u64)(0xa0 + (k)) << 56)
#define COOKIE_GEN(g)		((u64)((g) & 0xffff) << 40)
#define COOKIE_HEAD_MASK	(~0ULL << 40)

static u64 count_cookie(int k, int ctx, int cpu)
{
	u32 gen = READ_ONCE(rops[k].gen) - (READ_ONCE(oracle_mutant) == 4);

	return COOKIE_TAG(k) | COOKIE_GEN(gen) | ((u64)ctx << 16) | cpu;
}

/* The value function @fn returns for the arguments in @r (and its stack words). */
static u64 value_expect(int fn, const struct ftramp_regs *r, unsigned long *dx)
{
	unsigned long a = r->di, b = r->si, c = r->dx, d = r->cx, e = r->r8, f = r->r9;
	struct ftramp_pair p;

	*dx = 0;
	switch (fn) {
	case VF_V1:
		return ftramp_v1_expect(a);
	case VF_V6:
		return ftramp_v6_expect(a, b, c, d, e, f);
	case VF_V7:
		return ftramp_v7_expect(a, b, c, d, e, f, ftramp_regs_stack(r, 0));
	case VF_V8:
		return ftramp_v8_expect(a, b, c, d, e, f, ftramp_regs_stack(r, 0),
					ftramp_regs_stack(r, 1));
	case VF_V16:
		p = ftramp_v16_expect(a, b);
		*dx = p.hi;
		/* Both halves in the cookie (each fits 32 bits). */
		return p.lo | (u64)p.hi << 32;
	case VF_VS24:
		/* k in di, m in si, the struct's three words on the stack. */
		return ftramp_vs24_expect(a, ftramp_regs_stack(r, 0), ftramp_regs_stack(r, 1),
					  ftramp_regs_stack(r, 2), b);
	}
	return 0;
}

/* Whether ax (and dx) are what @fn returns, given @want from value_expect(). */
static bool value_ok(int fn, const struct ftramp_ret_regs *ret, u64 want, unsigned long dx)
{
	if (fn == VF_V16)
		return ret->ax == (u32)want && ret->dx == want >> 32 && ret->dx == dx;
	return ret->ax == want;
}

static void r_count_entry(int k, int ctx)
{
	int idx = READ_ONCE(track_idx);

	if (idx >= 0) {
		unsigned long now = ftramp_target_cell(idx, smp_processor_id(), ctx) + 1;

		if (this_cpu_read(rpc->last_seen[k][ctx]) == now)
			this_cpu_inc(rpc->doubles[k]);
		this_cpu_write(rpc->last_seen[k][ctx], now);
	}
	this_cpu_inc(rpc->entries[k][ctx]);
}

static bool ret_entry(unsigned long ip, unsigned long parent_ip, struct ftramp_ops *ops,
		      struct ftramp_regs *regs, u64 *cookie)
{
	struct ret_ops *t = container_of(ops, struct ret_ops, ops);
	int k = t - rops, ctx = ftramp_target_ctx(), cpu = smp_processor_id(), fn, n;
	struct order_stack *os;
	unsigned long dx;

	if (unlikely(READ_ONCE(t->dead))) {
		atomic_long_inc(&poisoned);
		return false;
	}
	r_count_entry(k, ctx);
	switch (t->mode) {
	case RM_VALUE:
		fn = value_fn(ip);
		if (fn < 0) {
			atomic_long_inc(&r_wrong[k]);
			return false;
		}
		*cookie = value_expect(fn, regs, &dx) ^ (READ_ONCE(oracle_mutant) == 3);
		break;
	case RM_ORDER:
		os = &this_cpu_ptr(rpc)->order;
		if (os->n == ORDER_MAX) {
			atomic_long_inc(&r_wrong[k]);
			return false;
		}
		os->depth[os->n++] = regs->di;
		n = atomic_inc_return(&order_log_entries) - 1;
		if (n < ORDER_LOG)
			order_log_entry[n] = regs->di;
		*cookie = regs->di;
		break;
	case RM_TAIL:
		*cookie = parent_ip;
		break;
	default:
		*cookie = count_cookie(k, ctx, cpu);
		break;
	}
	return true;
}

static void ret_cb(unsigned long ip, unsigned long parent_ip, struct ftramp_ops *ops,
		   struct ftramp_ret_regs *ret, u64 cookie)
{
	struct ret_ops *t = container_of(ops, struct ret_ops, ops);
	int k = t - rops, ctx = ftramp_target_ctx(), cpu = smp_processor_id(), fn, n;
	unsigned long entries[32], dx;
	char sym[KSYM_SYMBOL_LEN];
	struct order_stack *os;
	unsigned int i, nr;
	u64 want;

	if (unlikely(READ_ONCE(t->dead))) {
		atomic_long_inc(&poisoned);
		return;
	}
	switch (t->mode) {
	case RM_COUNT:
		/* A return this registration never entered: another's cookie, or 0. */
		if ((cookie & COOKIE_HEAD_MASK) !=
		    (COOKIE_TAG(k) | COOKIE_GEN(READ_ONCE(t->gen)))) {
			atomic_long_inc(&r_unentered[k]);
			goto out;
		}
		ctx = (cookie >> 16) & 0xff;
		cpu = cookie & 0xffff;
		if (ctx >= FTRAMP_NR_CTX || cpu >= nr_cpu_ids) {
			atomic_long_inc(&r_unentered[k]);
			goto out;
		}
		break;
	case RM_VALUE:
	case RM_NOENTRY:
		fn = value_fn(ip);
		if (fn < 0) {
			atomic_long_inc(&r_wrong[k]);
			break;
		}
		want = value_expect(fn, ret->regs, &dx);
		if (t->mode == RM_NOENTRY) {
			if (cookie != 0 || !value_ok(fn, ret, want, dx))
				atomic_long_inc(&r_wrong[k]);
			break;
		}
		if (!value_ok(fn, ret, cookie, fn == VF_V16 ? cookie >> 32 : 0))
			atomic_long_inc(&r_wrong[k]);
		if (want != cookie)
			atomic_long_inc(&r_regs_wrong[k]);
		break;
	case RM_ORDER:
		os = &this_cpu_ptr(rpc)->order;
		n = atomic_inc_return(&order_log_rets) - 1;
		if (n < ORDER_LOG)
			order_log_ret[n] = cookie;
		/* Innermost first: the depth on top of the stack, left by this very call. */
		if (os->n && unlikely(READ_ONCE(oracle_mutant) == 5)) {
			/* The mutant takes the outermost depth, not the innermost. */
			unsigned long outer = os->depth[0];

			memmove(os->depth, os->depth + 1, --os->n * sizeof(os->depth[0]));
			if (outer != cookie)
				atomic_long_inc(&r_wrong[k]);
		} else if (!os->n || os->depth[--os->n] != cookie ||
		    ret->ax != ftramp_rec_expect(cookie))
			atomic_long_inc(&r_wrong[k]);
		if (ret->regs->di != cookie)
			atomic_long_inc(&r_regs_wrong[k]);
		break;
	case RM_TAIL:
		WRITE_ONCE(r_last_parent[k], parent_ip);
		sprint_symbol_no_offset(sym, parent_ip);
		if (parent_ip != cookie || strncmp(sym, "ftramp_target_tail_top", 22) ||
		    (sym[22] && sym[22] != ' ') || ret->ax != ftramp_tail_expect(ret->regs->di - 1))
			atomic_long_inc(&r_wrong[k]);
		else
			atomic_long_inc(&r_ok[k]);
		break;
	case RM_UNWIND:
		nr = stack_trace_save(entries, ARRAY_SIZE(entries), 0);
		if (ftramp_target_trace_has(entries, nr, "ftramp_target_unwind_caller")) {
			atomic_long_inc(&r_ok[k]);
		} else if (atomic_long_inc_return(&r_wrong[k]) == 1) {
			pr_info("unwind: no ftramp_target_unwind_caller in the return callback's trace:\n");
			for (i = 0; i < nr; i++)
				pr_info("unwind:   %pS\n", (void *)entries[i]);
		}
		break;
	default:
		break;
	}
	atomic_long_inc(&per_cpu_ptr(rpc, cpu)->returns[k][ctx]);
out:
	/* Still running although the unregister that preceded "poison" returned? */
	if (unlikely(READ_ONCE(t->dead)))
		atomic_long_inc(&poisoned);
}

static bool poison_entry(unsigned long ip, unsigned long parent_ip, struct ftramp_ops *ops,
			 struct ftramp_regs *regs, u64 *cookie)
{
	atomic_long_inc(&poisoned);
	return false;
}

static void poison_ret(unsigned long ip, unsigned long parent_ip, struct ftramp_ops *ops,
		       struct ftramp_ret_regs *ret, u64 cookie)
{
	atomic_long_inc(&poisoned);
}

static unsigned long r_entries_of(int k)
{
	unsigned long sum = 0;
	int cpu, ctx;

	for_each_possible_cpu(cpu)
		for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++)
			sum += per_cpu_ptr(rpc, cpu)->entries[k][ctx];
	return sum;
}

static unsigned long r_returns_of(int k)
{
	unsigned long sum = 0;
	int cpu, ctx;

	for_each_possible_cpu(cpu)
		for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++)
			sum += atomic_long_read(&per_cpu_ptr(rpc, cpu)->returns[k][ctx]);
	return sum;
}

static void zero_ret_counts(void)
{
	int cpu, k, ctx;

	for_each_possible_cpu(cpu) {
		memset(per_cpu_ptr(rpc, cpu)->entries, 0, sizeof(rpc->entries));
		memset(per_cpu_ptr(rpc, cpu)->last_seen, 0, sizeof(rpc->last_seen));
		memset(per_cpu_ptr(rpc, cpu)->doubles, 0, sizeof(rpc->doubles));
		for (k = 0; k < NR_ROPS; k++)
			for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++)
				atomic_long_set(&per_cpu_ptr(rpc, cpu)->returns[k][ctx], 0);
		per_cpu_ptr(rpc, cpu)->order.n = 0;
	}
	for (k = 0; k < NR_ROPS; k++) {
		atomic_long_set(&r_wrong[k], 0);
		atomic_long_set(&r_regs_wrong[k], 0);
		atomic_long_set(&r_unentered[k], 0);
		atomic_long_set(&r_ok[k], 0);
		r_last_parent[k] = 0;
	}
	atomic_set(&order_log_entries, 0);
	atomic_set(&order_log_rets, 0);
}

/* The callbacks of return ops @k for its mode (not while ftramp holds it). */
static void r_revive(int k)
{
	if (READ_ONCE(rops[k].ops.internal))
		return;
	WRITE_ONCE(rops[k].ops.entry_func, rops[k].mode == RM_NOENTRY ? NULL : ret_entry);
	WRITE_ONCE(rops[k].ops.ret_func, ret_cb);
	WRITE_ONCE(rops[k].dead, false);
}

static int r_poison(int k)
{
	if (rops[k].registered || READ_ONCE(rops[k].ops.internal))
		return -EBUSY;
	WRITE_ONCE(rops[k].dead, true);
	WRITE_ONCE(rops[k].ops.entry_func, poison_entry);
	WRITE_ONCE(rops[k].ops.ret_func, poison_ret);
	return 0;
}

static int r_register(int k)
{
	int ret;

	r_revive(k);
	/* Before ftramp can call it: this registration's cookies carry the new gen. */
	WRITE_ONCE(rops[k].gen, rops[k].gen + 1);
	ret = ftramp_register_ops(&rops[k].ops);
	if (!ret)
		rops[k].registered = true;
	return ret;
}

static int r_unregister(int k)
{
	int ret = ftramp_unregister_ops(&rops[k].ops);

	rops[k].registered = false;
	return ret;
}

static int r_set_mode(int k, const char *name)
{
	int m;

	for (m = 0; m < NR_RMODES; m++)
		if (!strcmp(name, rmode_names[m]))
			break;
	if (m == NR_RMODES)
		return -EINVAL;
	/* The callbacks change with the mode: only while ftramp holds nothing. */
	if (rops[k].registered || READ_ONCE(rops[k].ops.internal))
		return -EBUSY;
	rops[k].mode = m;
	r_revive(k);
	return 0;
}

static unsigned long sum_cpus(unsigned long __percpu *v)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += *per_cpu_ptr(v, cpu);
	return sum;
}

static unsigned long ops_calls(int k)
{
	unsigned long sum = 0;
	int cpu, ctx;

	for_each_possible_cpu(cpu)
		for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++)
			sum += per_cpu(calls[k][ctx], cpu);
	return sum;
}

static void zero_calls(void)
{
	int cpu, k;

	for_each_possible_cpu(cpu) {
		memset(per_cpu_ptr(&calls, cpu), 0, sizeof(calls));
		memset(per_cpu_ptr(&preempt_seen, cpu), 0, sizeof(preempt_seen));
		memset(per_cpu_ptr(&resched_seen, cpu), 0, sizeof(resched_seen));
		memset(per_cpu_ptr(&last_seen, cpu), 0, sizeof(last_seen));
		memset(per_cpu_ptr(&doubles, cpu), 0, sizeof(doubles));
	}
	for (k = 0; k < NR_OPS; k++) {
		atomic_long_set(&args_checked[k], 0);
		atomic_long_set(&args_wrong[k], 0);
	}
}

/*
 * Only for an ops ftramp holds nothing for (unregistered, and ftramp cleared
 * ops->internal): its func may change then.
 */
static int do_poison(int k)
{
	if (tops[k].registered || READ_ONCE(tops[k].ops.internal))
		return -EBUSY;
	WRITE_ONCE(tops[k].dead, true);
	WRITE_ONCE(tops[k].ops.func, poison_cb);
	return 0;
}

/*
 * Revives a poisoned ops before ftramp gets it again (a filter or a registration
 * creates ftramp's record, and func must not change while it exists).
 */
static void revive(int k)
{
	if (READ_ONCE(tops[k].ops.internal))
		return;
	WRITE_ONCE(tops[k].ops.func, count_cb);
	WRITE_ONCE(tops[k].dead, false);
}

static int do_register(int k)
{
	int ret;

	revive(k);
	ret = ftramp_register_ops(&tops[k].ops);

	if (!ret)
		tops[k].registered = true;
	return ret;
}

static int do_unregister(int k)
{
	int ret = ftramp_unregister_ops(&tops[k].ops);

	tops[k].registered = false;
	return ret;
}

static unsigned long diff(unsigned long a, unsigned long b)
{
	return a > b ? a - b : b - a;
}

/*
 * The oracle, at a quiescent point: target @idx against P (@p), Q (@q) and R (@r,
 * or -1). Return hooks (result.ret_mode): in mode 1 P is return ops ROPS_P (its
 * entries stand for P's calls, its returns are compared in ret_mismatch), in
 * mode 2 the toggled ops is return ops ROPS_T (its entries stand for Q's calls);
 * in both, ROPS_T's returns may be fewer than its entries (a call entered before
 * a toggle-off may return after it), never more, per CPU and context.
 */
static void tally(int idx, int p, int q, int r)
{
	int cpu, ctx, rm = result.ret_mode, k;

	for_each_possible_cpu(cpu) {
		for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++) {
			unsigned long t = ftramp_target_cell(idx, cpu, ctx);
			unsigned long np = rm == 1 ? per_cpu_ptr(rpc, cpu)->entries[ROPS_P][ctx] :
					   per_cpu(calls[p][ctx], cpu);
			unsigned long nq = rm == 2 ? per_cpu_ptr(rpc, cpu)->entries[ROPS_T][ctx] :
					   per_cpu(calls[q][ctx], cpu);

			if (rm == 1) {
				unsigned long nr =
					atomic_long_read(&per_cpu_ptr(rpc, cpu)->returns[ROPS_P][ctx]);

				result.ret_returns_ctx[ctx] += nr;
				result.ret_mismatch += diff(t, nr);
			}
			if (rm) {
				unsigned long te = per_cpu_ptr(rpc, cpu)->entries[ROPS_T][ctx];
				unsigned long tr =
					atomic_long_read(&per_cpu_ptr(rpc, cpu)->returns[ROPS_T][ctx]);

				result.tret_entries_ctx[ctx] += te;
				result.tret_returns_ctx[ctx] += tr;
				if (tr > te)
					result.tret_excess += tr - te;
				if (te > t)
					result.tret_excess += te - t;
			}

			result.calls_ctx[ctx] += t;
			result.persistent_ctx[ctx] += np;
			result.toggled_ctx[ctx] += nq;
			result.mismatch += diff(t, np);
			if (nq > t)
				result.toggled_excess += nq - t;
			if (r >= 0) {
				unsigned long nr = per_cpu(calls[r][ctx], cpu);

				result.third_ctx[ctx] += nr;
				result.mismatch += diff(t, nr);
			}
		}
		result.doubles += (rm == 1 ? per_cpu_ptr(rpc, cpu)->doubles[ROPS_P] :
				   per_cpu(doubles[p], cpu)) +
				  (rm == 2 ? 0 : per_cpu(doubles[q], cpu)) +
				  (rm ? per_cpu_ptr(rpc, cpu)->doubles[ROPS_T] : 0) +
				  (r >= 0 ? per_cpu(doubles[r], cpu) : 0);
	}
	for (k = ROPS_P; rm && k <= ROPS_T; k++) {
		result.ret_unentered += atomic_long_read(&r_unentered[k]);
		result.ret_wrong += atomic_long_read(&r_wrong[k]);
	}
	for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++) {
		result.calls += result.calls_ctx[ctx];
		result.persistent += result.persistent_ctx[ctx];
	}
	result.drops = (long)result.calls - (long)result.persistent;
}

/* ftramp_set_filter() of the toggled ops (return ops ROPS_T if @ret), on or off. */
static int toggle(int q, bool ret, bool on, const char *fon, const char *foff)
{
	return ftramp_set_filter(ret ? &rops[ROPS_T].ops : &tops[q].ops, on ? fon : foff, 0);
}

static int stress(unsigned long switches, unsigned int mask, unsigned long mincalls)
{
	int base = mask & STRESS_GUARDED ? 4 : 0, p = base, q = base + 1;
	int r = mask & STRESS_THIRD ? base + 2 : -1;
	int rm = mask & STRESS_RET ? 1 : mask & STRESS_RET_MOVE ? 2 : 0;
	bool batch = mask & STRESS_BATCH, q_on = false, t_on = false, t_turn;
	int idx = batch ? FTRAMP_TARGET_BATCH : 0;
	const char *on = batch ? "ftramp_target_batch_0?" : "ftramp_target_a";
	const char *off = batch ? "!ftramp_target_batch_0?" : "!ftramp_target_a";
	unsigned long i;
	ktime_t t0;
	int ret = 0;

	memset(&result, 0, sizeof(result));
	result.sites = batch ? STRESS_SITES : 1;
	result.ret_mode = rm;
	if ((mask & STRESS_RET) && (mask & STRESS_RET_MOVE))
		return -EINVAL;
	revive(p);
	revive(q);
	if (rm)
		ret = r_set_mode(ROPS_P, "count") ?: r_set_mode(ROPS_T, "count");
	/* P: entry-only unless ret mode 1; Q: entry-only unless ret mode 2; T: with ret. */
	if (!ret)
		ret = rm == 1 ? ftramp_set_filter(&rops[ROPS_P].ops, on, 1) ?: r_register(ROPS_P) :
				ftramp_set_filter(&tops[p].ops, on, 1) ?: do_register(p);
	if (!ret && rm != 2)
		ret = ftramp_set_filter(&tops[q].ops, "", 1) ?: do_register(q);
	if (!ret && rm)
		ret = ftramp_set_filter(&rops[ROPS_T].ops, "", 1) ?: r_register(ROPS_T);
	if (!ret && r >= 0) {
		revive(r);
		ret = ftramp_set_filter(&tops[r].ops, on, 1) ?: do_register(r);
	}
	if (ret)
		goto out;
	/* Nobody calls the targets now: a quiescent point to start the counts from. */
	zero_calls();
	zero_ret_counts();
	ftramp_target_reset();
	WRITE_ONCE(track_idx, idx);
	t0 = ktime_get();
	ret = batch ? ftramp_target_start_batch(STRESS_SITES, mask & STRESS_CTX) :
		      ftramp_target_start(0, mask & STRESS_CTX);
	if (ret)
		goto out;
	for (i = 0; !ret && (i < switches || ftramp_target_count(idx) < mincalls); i++) {
		/* A test's timeout (SIGTERM) ends the run rather than finding it stuck in D state. */
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		/*
		 * Which ops flips: Q (the entry dispatch), or return ops T (both
		 * dispatch sites; in ret mode 2 the trampoline too): in ret mode 1 in
		 * turn, so every mix of the two is visited.
		 */
		t_turn = rm == 2 || (rm == 1 && (i & 1));
		ret = toggle(q, t_turn, t_turn ? !t_on : !q_on, on, off);
		if (!ret) {
			result.switches++;
			if (t_turn)
				t_on = !t_on;
			else
				q_on = !q_on;
		}
		/* Sleep now and then: RCU-tasks waits for voluntary switches. */
		if (i % 32 == 31)
			schedule_timeout_uninterruptible(1);
	}
	/* Returns once every caller's last call has returned: quiescent again. */
	ftramp_target_stop();
	result.ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	tally(idx, p, q, r);
out:
	WRITE_ONCE(track_idx, -1);
	result.err = ret;
	for (i = base; i < base + 3; i++)
		if (tops[i].registered)
			do_unregister(i);
	for (i = ROPS_P; i <= ROPS_T; i++)
		if (rops[i].registered)
			r_unregister(i);
	return ret;
}

/*
 * "misuse": a caller's mistakes get the errno api.rs gives them and change nothing.
 * Its own ops (not one of tops[]), on ftramp_target_a and _b, which it calls
 * itself: its callback must run exactly once per call of a function of its
 * filter. A wrong answer is reported (pr_err "misuse: <step>: got X, want Y")
 * and the rest still runs; ftramp holds nothing for the ops afterwards.
 */
static atomic_long_t misuse_hits = ATOMIC_LONG_INIT(0);
static int misuse_wrong;

static void misuse_cb(unsigned long ip, unsigned long parent_ip,
		      struct ftramp_ops *ops, struct ftramp_regs *regs)
{
	atomic_long_inc(&misuse_hits);
}

static bool misuse_check(const char *step, long got, long want)
{
	if (got == want)
		return true;
	pr_err("misuse: %s: got %ld, want %ld\n", step, got, want);
	misuse_wrong++;
	return false;
}

/* Whether a and b, called once each, run the callback @a and @b times. */
static void misuse_calls(const char *step, long a, long b)
{
	long n = atomic_long_read(&misuse_hits);
	char what[96];

	ftramp_target_a();
	snprintf(what, sizeof(what), "%s: callback calls from ftramp_target_a", step);
	misuse_check(what, atomic_long_read(&misuse_hits) - n, a);
	n = atomic_long_read(&misuse_hits);
	ftramp_target_b();
	snprintf(what, sizeof(what), "%s: callback calls from ftramp_target_b", step);
	misuse_check(what, atomic_long_read(&misuse_hits) - n, b);
}

static int misuse(void)
{
	static struct ftramp_ops ops;
	/* Refused filters for the registered ops on {a}: none may attach b or drop a. */
	static const struct {
		const char *filter;
		int reset, err;
	} bad[] = {
		{ "ftramp_target_b no_such_function_xyz", 0, -ENOENT },
		{ "no_such_function_xyz", 1, -ENOENT },
		{ "ftramp_target_b no_such_fn_*_xyz", 0, -ENOENT },
		{ "ftramp_target_b ftramp_target_(a", 0, -EINVAL },
		{ "ftramp_target_b !", 1, -EINVAL },
		{ "ftramp_target_b ftramp_set_filter", 0, -EPERM },	/* ftramp's code */
		{ "ftramp_target_b text_poke_copy", 1, -EPERM },	/* denylist */
		{ "ftramp_target_b exc_nmi", 0, -EPERM },		/* kprobe blacklist */
		{ "*", 0, -E2BIG },		/* more functions than trampoline slots */
	};
	char step[96];
	unsigned int i;

	misuse_wrong = 0;
	misuse_check("NULL ops: set_filter", ftramp_set_filter(NULL, "ftramp_target_a", 1),
		     -EINVAL);
	misuse_check("NULL ops: register", ftramp_register_ops(NULL), -EINVAL);
	misuse_check("NULL ops: unregister", ftramp_unregister_ops(NULL), -EINVAL);
	ops.func = NULL;
	misuse_check("NULL callback: register", ftramp_register_ops(&ops), -EINVAL);
	misuse_check("NULL callback: ftramp holds nothing", !!READ_ONCE(ops.internal), 0);
	misuse_check("unregister of an ops ftramp never saw", ftramp_unregister_ops(&ops), 0);
	ops.func = misuse_cb;
	misuse_check("refused filter on a new ops",
		     ftramp_set_filter(&ops, "no_such_function_xyz", 1), -ENOENT);
	misuse_check("refused filter on a new ops: ftramp holds nothing",
		     !!READ_ONCE(ops.internal), 0);
	if (!misuse_check("filter {a}", ftramp_set_filter(&ops, "ftramp_target_a", 1), 0))
		goto out;
	misuse_calls("filtered, not registered", 0, 0);
	if (!misuse_check("register", ftramp_register_ops(&ops), 0))
		goto out;
	misuse_calls("registered", 1, 0);
	misuse_check("double register", ftramp_register_ops(&ops), -EBUSY);
	misuse_calls("after double register", 1, 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(step, sizeof(step), "set_filter \"%s\" reset=%d", bad[i].filter,
			 bad[i].reset);
		misuse_check(step, ftramp_set_filter(&ops, bad[i].filter, bad[i].reset),
			     bad[i].err);
		misuse_calls(step, 1, 0);
	}
	misuse_check("removing a function not in the filter",
		     ftramp_set_filter(&ops, "!ftramp_target_c", 0), 0);
	misuse_calls("after removing a function not in the filter", 1, 0);
	/* Still fully usable after all that. */
	misuse_check("filter+ b", ftramp_set_filter(&ops, "ftramp_target_b", 0), 0);
	misuse_calls("filter {a, b}", 1, 1);
out:
	misuse_check("unregister", ftramp_unregister_ops(&ops), 0);
	misuse_check("unregistered: ftramp holds nothing", !!READ_ONCE(ops.internal), 0);
	misuse_calls("unregistered", 0, 0);
	misuse_check("double unregister", ftramp_unregister_ops(&ops), 0);
	return misuse_wrong ? -EPROTO : 0;
}

/*
 * "guard N": ftrace's recursion rule as ftramp's guard applies it to an ops that does not
 * guard itself. Its own ops (no FTRAMP_OPS_FL_RECURSION) on ftramp_target_a, _b and _c,
 * whose callback calls b from a's call and c from b's (it knows which by its nesting
 * depth on this CPU). N calls of a, made here in task context. The callback must run for
 * a (the task context's bit is free) and for the b that a's callback calls (the bit is
 * held: the one transition entry) but never for the c that b's callback calls (bit and
 * transition held: refused), as trace_test_and_set_recursion() rules. pr_err and -EPROTO
 * when not; the targets count every call themselves (ftramp_recursion_guard.sh checks).
 * "guard N list": a second ops on a puts a's site in list mode, so the list iterator's
 * guard takes the first bit (b and c stay one-ops sites, through the assist wrapper).
 */
static atomic_long_t guard_seen[3];
static DEFINE_PER_CPU(int, guard_depth);

static void guard_cb(unsigned long ip, unsigned long parent_ip,
		     struct ftramp_ops *ops, struct ftramp_regs *regs)
{
	int d = this_cpu_inc_return(guard_depth) - 1;

	if (d < ARRAY_SIZE(guard_seen))
		atomic_long_inc(&guard_seen[d]);
	if (d == 0)
		ftramp_target_b();
	else if (d == 1)
		ftramp_target_c();
	this_cpu_dec(guard_depth);
}

static void guard_extra_cb(unsigned long ip, unsigned long parent_ip,
			   struct ftramp_ops *ops, struct ftramp_regs *regs)
{
}

static atomic_long_t guard_self_seen;

static void guard_self_cb(unsigned long ip, unsigned long parent_ip,
			  struct ftramp_ops *ops, struct ftramp_regs *regs)
{
	atomic_long_inc(&guard_self_seen);
}

/*
 * "guard N mixed": besides, a self-guarded ops (FTRAMP_OPS_FL_RECURSION) on c, so c's
 * site has a fused stub with one guarded and one self-guarded ops: with the guard
 * refused at c the stub skips the guarded callback and still calls the self-guarded
 * one, N times.
 */
static int guard_run(unsigned long n, bool list, bool mixed)
{
	static struct ftramp_ops ops = { .func = guard_cb };
	static struct ftramp_ops extra = { .func = guard_extra_cb };
	static struct ftramp_ops self = { .func = guard_self_cb, .flags = FTRAMP_OPS_FL_RECURSION };
	unsigned long i;
	long seen[3], self_seen;
	int ret, k;

	for (k = 0; k < ARRAY_SIZE(guard_seen); k++)
		atomic_long_set(&guard_seen[k], 0);
	atomic_long_set(&guard_self_seen, 0);
	ret = ftramp_set_filter(&ops, "ftramp_target_a ftramp_target_b ftramp_target_c", 1);
	if (!ret)
		ret = ftramp_register_ops(&ops);
	if (!ret && list) {
		ret = ftramp_set_filter(&extra, "ftramp_target_a", 1);
		if (!ret)
			ret = ftramp_register_ops(&extra);
	}
	if (!ret && mixed) {
		ret = ftramp_set_filter(&self, "ftramp_target_c", 1);
		if (!ret)
			ret = ftramp_register_ops(&self);
	}
	if (ret) {
		ftramp_unregister_ops(&self);
		ftramp_unregister_ops(&extra);
		ftramp_unregister_ops(&ops);
		return ret;
	}
	for (i = 0; i < n; i++) {
		/* One CPU for the whole nest: the callback's depth count is per CPU. */
		preempt_disable();
		ftramp_target_a();
		preempt_enable();
		if (i % 256 == 255)
			cond_resched();
	}
	ret = ftramp_unregister_ops(&ops);
	if (list && !ret)
		ret = ftramp_unregister_ops(&extra);
	if (mixed && !ret)
		ret = ftramp_unregister_ops(&self);
	for (k = 0; k < ARRAY_SIZE(guard_seen); k++)
		seen[k] = atomic_long_read(&guard_seen[k]);
	if (seen[0] != n || seen[1] != n || seen[2] != 0) {
		pr_err("guard%s: the callback ran for a %ld, b %ld, c %ld times in %lu calls; want %lu, %lu, 0\n",
		       list ? " (a in list mode)" : "", seen[0], seen[1], seen[2], n, n, n);
		return -EPROTO;
	}
	self_seen = atomic_long_read(&guard_self_seen);
	if (mixed && self_seen != n) {
		pr_err("guard mixed: the self-guarded ops on c ran %ld times in %lu calls; want %lu (the stub's guard refused, only the guarded ops skipped)\n",
		       self_seen, n, n);
		return -EPROTO;
	}
	return ret;
}

/*
 * A kernel fprobe with an entry and an exit handler on ftramp_target_a, beside
 * ftramp's direct call on the same function (ftramp_coexistence.sh): ctl
 * "fprobe on" zeroes its counts and registers it, "fprobe off" unregisters it.
 * debugfs fprobe (read): "entry N", "exit N" (handler calls, summed over CPUs)
 * and "missed N" (the fprobe's own nmissed). On 6.12 the exit handler rides on
 * a rethook with a pool of nr_maxactive nodes; since 6.14 on the function graph
 * shadow stack, and the handlers take ftrace_regs instead of pt_regs.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
#define FPROBE_REGS struct ftrace_regs
#else
#define FPROBE_REGS struct pt_regs
#endif

static struct fprobe coex_fprobe;
static bool coex_fprobe_on;
static DEFINE_PER_CPU(unsigned long, fprobe_hits[2]);	/* entry, exit */

static int coex_fprobe_entry(struct fprobe *fp, unsigned long ip, unsigned long ret_ip,
			     FPROBE_REGS *regs, void *data)
{
	this_cpu_inc(fprobe_hits[0]);
	return 0;	/* 0: call the exit handler too */
}

static void coex_fprobe_exit(struct fprobe *fp, unsigned long ip, unsigned long ret_ip,
			     FPROBE_REGS *regs, void *data)
{
	this_cpu_inc(fprobe_hits[1]);
}

static int fprobe_ctl(const char *arg)
{
	int cpu, ret;

	if (!strcmp(arg, "off")) {
		ret = coex_fprobe_on ? unregister_fprobe(&coex_fprobe) : 0;
		if (!ret)
			coex_fprobe_on = false;
		return ret;
	}
	if (strcmp(arg, "on"))
		return -EINVAL;
	if (coex_fprobe_on)
		return -EBUSY;
	for_each_possible_cpu(cpu) {
		per_cpu(fprobe_hits[0], cpu) = 0;
		per_cpu(fprobe_hits[1], cpu) = 0;
	}
	coex_fprobe.entry_handler = coex_fprobe_entry;
	coex_fprobe.exit_handler = coex_fprobe_exit;
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 14, 0)
	/*
	 * The default pool is 2 per possible CPU; the stress callers can have 3 calls
	 * in flight per CPU (kthread, timer, hrtimer): a miss must not be a short pool.
	 */
	coex_fprobe.nr_maxactive = 16 * num_possible_cpus();
#endif
	ret = register_fprobe(&coex_fprobe, "ftramp_target_a", NULL);
	if (!ret)
		coex_fprobe_on = true;
	return ret;
}

static int fprobe_show(struct seq_file *m, void *v)
{
	seq_printf(m, "entry %lu\nexit %lu\nmissed %lu\n", sum_cpus(&fprobe_hits[0]),
		   sum_cpus(&fprobe_hits[1]), READ_ONCE(coex_fprobe.nmissed));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(fprobe);

/* Argument of a "CMD K ARG" line (after K). */
static char *ctl_arg(char *buf)
{
	char *arg = skip_spaces(buf);

	while (*arg && *arg != ' ')	/* CMD */
		arg++;
	arg = skip_spaces(arg);
	while (*arg && *arg != ' ')	/* K */
		arg++;
	return skip_spaces(arg);
}

/* ctl's commands for return ops @k (0 .. NR_ROPS - 1). */
static int ret_ctl(const char *cmd, int k, char *buf)
{
	char *arg = ctl_arg(buf);
	int ret = -EINVAL;

	if (!strcmp(cmd, "filter")) {
		r_revive(k);
		ret = ftramp_set_filter(&rops[k].ops, arg, 1);
	} else if (!strcmp(cmd, "filter+")) {
		r_revive(k);
		ret = ftramp_set_filter(&rops[k].ops, arg, 0);
	} else if (!strcmp(cmd, "register")) {
		ret = r_register(k);
	} else if (!strcmp(cmd, "unregister")) {
		ret = r_unregister(k);
	} else if (!strcmp(cmd, "poison")) {
		ret = r_poison(k);
	} else if (!strcmp(cmd, "retire")) {
		/* The dead mark right after unregister returned: a later callback sees it. */
		ret = r_unregister(k) ?: r_poison(k);
	} else if (!strcmp(cmd, "mode")) {
		ret = r_set_mode(k, arg);
	}
	return ret;
}

static ssize_t ctl_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char *buf, cmd[16];
	unsigned long a;
	unsigned int b;
	int k, kr, n = 0, ret = -EINVAL;

	if (len >= PAGE_SIZE)
		return -E2BIG;
	buf = memdup_user_nul(ubuf, len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	strim(buf);
	mutex_lock(&ctl_lock);
	if (sscanf(buf, "%15s %n", cmd, &n) < 1)
		goto out;
	if (!strcmp(cmd, "zero")) {
		zero_calls();
		zero_ret_counts();
		ret = 0;
	} else if (!strcmp(cmd, "stress")) {
		unsigned long c = 0;

		if (sscanf(buf + n, "%lu %i %lu", &a, &b, &c) >= 2)
			ret = stress(a, b, c);
	} else if (!strcmp(cmd, "misuse")) {
		ret = misuse();
	} else if (!strcmp(cmd, "guard")) {
		char mode[8] = "";

		if (sscanf(buf + n, "%lu %7s", &a, mode) >= 1 &&
		    (!*mode || !strcmp(mode, "list") || !strcmp(mode, "mixed")))
			ret = guard_run(a, !strcmp(mode, "list"), !strcmp(mode, "mixed"));
	} else if (!strcmp(cmd, "fprobe")) {
		ret = fprobe_ctl(buf + n);
	} else if (sscanf(buf + n, "%d", &kr) == 1 && kr >= NR_OPS && kr < NR_OPS + NR_ROPS) {
		ret = ret_ctl(cmd, kr - NR_OPS, buf);
	} else if (sscanf(buf + n, "%d %n", &k, &n) >= 1 && k >= 0 && k < NR_OPS) {
		char *arg = buf + strlen(cmd) + 1;

		arg = strim(skip_spaces(arg) + (n ? 0 : 0));
		while (*arg && *arg != ' ')	/* skip K */
			arg++;
		arg = skip_spaces(arg);
		if (!strcmp(cmd, "filter")) {
			revive(k);
			ret = ftramp_set_filter(&tops[k].ops, arg, 1);
		} else if (!strcmp(cmd, "filter+")) {
			revive(k);
			ret = ftramp_set_filter(&tops[k].ops, arg, 0);
		} else if (!strcmp(cmd, "register")) {
			ret = do_register(k);
		} else if (!strcmp(cmd, "unregister")) {
			ret = do_unregister(k);
		} else if (!strcmp(cmd, "poison")) {
			ret = do_poison(k);
		} else if (!strcmp(cmd, "retire")) {
			ret = do_unregister(k) ?: do_poison(k);
		} else if (!strcmp(cmd, "mode")) {
			if (!strcmp(arg, "count") || !strcmp(arg, "parent") || !strcmp(arg, "args")) {
				WRITE_ONCE(tops[k].record_parent, !strcmp(arg, "parent"));
				WRITE_ONCE(tops[k].check_args, !strcmp(arg, "args"));
				ret = 0;
			}
		} else if (!strcmp(cmd, "spin")) {
			unsigned int us;

			if (kstrtouint(arg, 0, &us) == 0 && us <= MAX_SPIN_US) {
				WRITE_ONCE(tops[k].spin_us, us);
				ret = 0;
			}
		}
	}
out:
	mutex_unlock(&ctl_lock);
	kfree(buf);
	return ret ? ret : len;
}

static int counts_show(struct seq_file *m, void *v)
{
	int k;

	for (k = 0; k < NR_OPS; k++)
		seq_printf(m, "%d %lu %lu %lu\n", k, ops_calls(k), sum_cpus(&preempt_seen[k]),
			   sum_cpus(&resched_seen[k]));
	seq_printf(m, "poisoned %ld\n", atomic_long_read(&poisoned));
	/* Where each ops is, for tests that decode generated code (ftramp_fused.sh). */
	for (k = 0; k < NR_OPS; k++)
		seq_printf(m, "addr %d %px\n", k, &tops[k].ops);
	for (k = 0; k < NR_OPS; k++)
		seq_printf(m, "args %d checked=%ld wrong=%ld\n", k,
			   atomic_long_read(&args_checked[k]), atomic_long_read(&args_wrong[k]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(counts);

static void show_ctx(struct seq_file *m, const char *name, const unsigned long *v)
{
	seq_printf(m, "%s task=%lu softirq=%lu hardirq=%lu nmi=%lu\n", name,
		   v[FTRAMP_CTX_TASK], v[FTRAMP_CTX_SOFTIRQ], v[FTRAMP_CTX_HARDIRQ],
		   v[FTRAMP_CTX_NMI]);
}

static int result_show(struct seq_file *m, void *v)
{
	unsigned long toggled = 0;
	int ctx;

	for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++)
		toggled += result.toggled_ctx[ctx];
	seq_printf(m, "calls %lu\npersistent %lu\ndrops %ld\nswitches %lu\nms %lu\nerr %d\n",
		   result.calls, result.persistent, result.drops, result.switches,
		   result.ns / NSEC_PER_MSEC, result.err);
	seq_printf(m, "sites %u\ntoggled %lu\nmismatch %lu\ntoggled_excess %lu\ndoubles %lu\n",
		   result.sites, toggled, result.mismatch, result.toggled_excess, result.doubles);
	show_ctx(m, "calls_ctx", result.calls_ctx);
	show_ctx(m, "persistent_ctx", result.persistent_ctx);
	show_ctx(m, "toggled_ctx", result.toggled_ctx);
	show_ctx(m, "third_ctx", result.third_ctx);
	{
		unsigned long rr = 0, te = 0, tr = 0;

		for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++) {
			rr += result.ret_returns_ctx[ctx];
			te += result.tret_entries_ctx[ctx];
			tr += result.tret_returns_ctx[ctx];
		}
		seq_printf(m, "ret_mode %d\nret_returns %lu\nret_drops %ld\nret_mismatch %lu\n",
			   result.ret_mode, rr,
			   result.ret_mode == 1 ? (long)result.calls - (long)rr : 0,
			   result.ret_mismatch);
		seq_printf(m, "ret_unentered %lu\nret_wrong %lu\n", result.ret_unentered,
			   result.ret_wrong);
		seq_printf(m, "tret_entries %lu\ntret_returns %lu\ntret_excess %lu\n", te, tr,
			   result.tret_excess);
	}
	show_ctx(m, "ret_returns_ctx", result.ret_returns_ctx);
	show_ctx(m, "tret_entries_ctx", result.tret_entries_ctx);
	show_ctx(m, "tret_returns_ctx", result.tret_returns_ctx);
	return 0;
}

/* debugfs "ret": the return ops' counts, the parents seen, the order logs. */
static int ret_show(struct seq_file *m, void *v)
{
	int k, i, n;

	for (k = 0; k < NR_ROPS; k++)
		seq_printf(m, "rops %d entries=%lu returns=%lu wrong=%ld regs_wrong=%ld unentered=%ld ok=%ld mode=%s registered=%d\n",
			   NR_OPS + k, r_entries_of(k), r_returns_of(k),
			   atomic_long_read(&r_wrong[k]), atomic_long_read(&r_regs_wrong[k]),
			   atomic_long_read(&r_unentered[k]), atomic_long_read(&r_ok[k]),
			   rmode_names[rops[k].mode], rops[k].registered);
	for (k = 0; k < NR_OPS; k++)
		if (READ_ONCE(tops[k].last_parent))
			seq_printf(m, "parent %d %pS\n", k, (void *)READ_ONCE(tops[k].last_parent));
	for (k = 0; k < NR_ROPS; k++)
		if (READ_ONCE(r_last_parent[k]))
			seq_printf(m, "parent %d %pS\n", NR_OPS + k,
				   (void *)READ_ONCE(r_last_parent[k]));
	n = min(atomic_read(&order_log_entries), ORDER_LOG);
	seq_puts(m, "order_entries");
	for (i = 0; i < n; i++)
		seq_printf(m, " %ld", order_log_entry[i]);
	n = min(atomic_read(&order_log_rets), ORDER_LOG);
	seq_puts(m, "\norder_returns");
	for (i = 0; i < n; i++)
		seq_printf(m, " %ld", order_log_ret[i]);
	seq_printf(m, "\npoisoned %ld\n", atomic_long_read(&poisoned));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ret);
DEFINE_SHOW_ATTRIBUTE(result);

/* peek: the bytes at a kernel address (ftramp's trampoline slots), for the tests. */
#define PEEK_MAX 256
static DEFINE_MUTEX(peek_lock);
static unsigned long peek_addr;
static unsigned int peek_len;

static ssize_t peek_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char buf[64];
	unsigned long addr;
	unsigned int n;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%lx %u", &addr, &n) != 2 || !n || n > PEEK_MAX)
		return -EINVAL;
	mutex_lock(&peek_lock);
	peek_addr = addr;
	peek_len = n;
	mutex_unlock(&peek_lock);
	return len;
}

static int peek_show(struct seq_file *m, void *v)
{
	u8 bytes[PEEK_MAX];
	unsigned int i;
	int ret = 0;

	mutex_lock(&peek_lock);
	if (!peek_len) {
		ret = -EINVAL;
	} else if (copy_from_kernel_nofault(bytes, (void *)peek_addr, peek_len)) {
		ret = -EFAULT;
	} else {
		for (i = 0; i < peek_len; i++)
			seq_printf(m, "%02x", bytes[i]);
		seq_putc(m, '\n');
	}
	mutex_unlock(&peek_lock);
	return ret;
}

static int peek_open(struct inode *inode, struct file *file)
{
	return single_open(file, peek_show, NULL);
}

static const struct file_operations peek_fops = {
	.owner = THIS_MODULE,
	.open = peek_open,
	.read = seq_read,
	.write = peek_write,
	.llseek = seq_lseek,
	.release = single_release,
};

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.write = ctl_write,
};

static struct dentry *dir;

static int __init test_ops_init(void)
{
	int k;

	rpc = alloc_percpu(struct rpc);
	if (!rpc)
		return -ENOMEM;
	for (k = 0; k < NR_OPS; k++) {
		tops[k].ops.func = count_cb;
		tops[k].ops.flags = k < 4 ? FTRAMP_OPS_FL_RECURSION : 0;
	}
	/* Guarded (no FTRAMP_OPS_FL_RECURSION): the unwind and tail modes call kallsyms. */
	for (k = 0; k < NR_ROPS; k++) {
		rops[k].mode = RM_COUNT;
		r_revive(k);
	}
	dir = debugfs_create_dir("ftramp_test", NULL);
	debugfs_create_file("ctl", 0200, dir, NULL, &ctl_fops);
	debugfs_create_file("counts", 0400, dir, NULL, &counts_fops);
	debugfs_create_file("result", 0400, dir, NULL, &result_fops);
	debugfs_create_file("peek", 0600, dir, NULL, &peek_fops);
	debugfs_create_file("fprobe", 0400, dir, NULL, &fprobe_fops);
	debugfs_create_file("ret", 0400, dir, NULL, &ret_fops);
	return 0;
}

/*
 * With leak_on_exit this is an API user that forgets to unregister. Think about
 * what it may still do: the module's exit runs BEFORE the MODULE_STATE_GOING
 * notifier in which ftramp detaches the forgotten ops (and waits until no CPU or
 * task is in them), and the module's memory is freed only after that notifier.
 * So until exit has returned and the notifier has run, the callbacks keep being
 * called on every CPU. Whatever they touch must outlive exit:
 *   - tops[] (the ops themselves) and the callbacks' code: module memory, freed
 *     after the notifier: fine;
 *   - the counters: had they been alloc_percpu()'d, freeing them here would be
 *     the very use-after-free ftramp's notifier cannot prevent (it runs too late);
 *     they would have to be leaked. That is why the entry ops' counters are static
 *     per-CPU data of the module (freed with it, after the notifier); the return
 *     ops' (rpc, too big for the modules' reserved per-CPU area) are leaked then;
 *   - debugfs: the callbacks do not use it, and an open file pins the module, so
 *     it is removed as always.
 */
static void __exit test_ops_exit(void)
{
	int k;

	debugfs_remove(dir);
	fprobe_ctl("off");
	if (leak_on_exit) {
		pr_info("leak_on_exit: leaving the ops registered\n");
		/* rpc leaks if a forgotten return ops may still count into it. */
		for (k = 0; k < NR_ROPS; k++)
			if (rops[k].registered)
				return;
		free_percpu(rpc);
		return;
	}
	for (k = 0; k < NR_OPS; k++) {
		/* Also releases a filter set on an ops never registered. */
		if (tops[k].registered || tops[k].ops.internal)
			ftramp_unregister_ops(&tops[k].ops);
	}
	for (k = 0; k < NR_ROPS; k++)
		if (rops[k].registered || rops[k].ops.internal)
			ftramp_unregister_ops(&rops[k].ops);
	/* Nothing runs the callbacks any more (unregister waited). */
	free_percpu(rpc);
}

module_init(test_ops_init);
module_exit(test_ops_exit);
MODULE_DESCRIPTION("ftramp test ops: counting callbacks driven from debugfs");
MODULE_LICENSE("GPL");
