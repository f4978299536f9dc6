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
 *                         calls all ten in turn.
 *                 The oracle (see tally()): per CPU and per context, P (and R)
 *                 saw exactly the calls the target counted, Q at most as many,
 *                 and no ops was called twice for one call (doubles: a
 *                 callback that finds the target's count where it was at its
 *                 previous call on this CPU in this context; exact while each
 *                 CPU has one task-context caller, i.e. not kthread and eqs
 *                 together).
 *             misuse              the C API's answers to a caller's mistakes (see
 *                                  misuse()); -EPROTO, with a pr_err per wrong answer
 *             fprobe on|off        a kernel fprobe on ftramp_target_a (fprobe_ctl())
 *             errors are returned as the write's errno.
 *   counts  read: "K calls preemptible resched" per ops (ops_count in lib.sh
 *           reads the second field), then "poisoned N" (never reset by zero).
 *   result  read: the last stress run: calls, persistent, drops, switches, seconds.
 *   fprobe  read: that fprobe's counts.
 *   peek    write "ADDR LEN" (hex address, 1-128 bytes), then read: those bytes in
 *           hex (copy_from_kernel_nofault), e.g. a freed trampoline slot's int3 filler.
 *
 * Module parameter leak_on_exit (a deliberately broken API user, for
 * ftramp_forgetful_user.sh): module exit leaves every ops registered. See
 * test_ops_exit() for what it may and may not free then.
 *
 * Module parameter oracle_mutant (shows that the stress oracle can fail where
 * totals would not): 1 counts a callback's hardirq calls as task calls (a drop in
 * one context and a double call in another that cancel in the totals); 2 makes
 * the toggled ops' callback run its body twice per call (a double call of the
 * toggled ops, which is never compared exactly).
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
#define STRESS_SITES	10

struct test_ops {
	struct ftramp_ops ops;
	bool registered;
	bool dead;		/* poisoned: must never be called */
	unsigned int spin_us;
};

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

static int oracle_mutant;
module_param(oracle_mutant, int, 0644);
MODULE_PARM_DESC(oracle_mutant,
		 "Test only: 1 files hardirq calls under task, 2 calls the toggled ops' body twice");

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
}

/* What a dead ops' func points to: any call of it is a call after unregister. */
static void poison_cb(unsigned long ip, unsigned long parent_ip,
		      struct ftramp_ops *ops, struct ftramp_regs *regs)
{
	atomic_long_inc(&poisoned);
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
	int cpu;

	for_each_possible_cpu(cpu) {
		memset(per_cpu_ptr(&calls, cpu), 0, sizeof(calls));
		memset(per_cpu_ptr(&preempt_seen, cpu), 0, sizeof(preempt_seen));
		memset(per_cpu_ptr(&resched_seen, cpu), 0, sizeof(resched_seen));
		memset(per_cpu_ptr(&last_seen, cpu), 0, sizeof(last_seen));
		memset(per_cpu_ptr(&doubles, cpu), 0, sizeof(doubles));
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

/* The oracle, at a quiescent point: target @idx against P (@p), Q (@q) and R (@r, or -1). */
static void tally(int idx, int p, int q, int r)
{
	int cpu, ctx;

	for_each_possible_cpu(cpu) {
		for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++) {
			unsigned long t = ftramp_target_cell(idx, cpu, ctx);
			unsigned long np = per_cpu(calls[p][ctx], cpu);
			unsigned long nq = per_cpu(calls[q][ctx], cpu);

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
		result.doubles += per_cpu(doubles[p], cpu) + per_cpu(doubles[q], cpu) +
				  (r >= 0 ? per_cpu(doubles[r], cpu) : 0);
	}
	for (ctx = 0; ctx < FTRAMP_NR_CTX; ctx++) {
		result.calls += result.calls_ctx[ctx];
		result.persistent += result.persistent_ctx[ctx];
	}
	result.drops = (long)result.calls - (long)result.persistent;
}

static int stress(unsigned long switches, unsigned int mask, unsigned long mincalls)
{
	int base = mask & STRESS_GUARDED ? 4 : 0, p = base, q = base + 1;
	int r = mask & STRESS_THIRD ? base + 2 : -1;
	bool batch = mask & STRESS_BATCH;
	int idx = batch ? FTRAMP_TARGET_BATCH : 0;
	const char *on = batch ? "ftramp_target_batch_0?" : "ftramp_target_a";
	const char *off = batch ? "!ftramp_target_batch_0?" : "!ftramp_target_a";
	unsigned long i;
	ktime_t t0;
	int ret;

	memset(&result, 0, sizeof(result));
	result.sites = batch ? STRESS_SITES : 1;
	revive(p);
	revive(q);
	ret = ftramp_set_filter(&tops[p].ops, on, 1) ?:
	      ftramp_set_filter(&tops[q].ops, "", 1) ?:
	      do_register(p) ?: do_register(q);
	if (!ret && r >= 0) {
		revive(r);
		ret = ftramp_set_filter(&tops[r].ops, on, 1) ?: do_register(r);
	}
	if (ret)
		goto out;
	/* Nobody calls the targets now: a quiescent point to start the counts from. */
	zero_calls();
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
		ret = ftramp_set_filter(&tops[q].ops, (i & 1) ? off : on, 0);
		if (!ret)
			result.switches++;
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

static ssize_t ctl_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char *buf, cmd[16];
	unsigned long a;
	unsigned int b;
	int k, n = 0, ret = -EINVAL;

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
		ret = 0;
	} else if (!strcmp(cmd, "stress")) {
		unsigned long c = 0;

		if (sscanf(buf + n, "%lu %i %lu", &a, &b, &c) >= 2)
			ret = stress(a, b, c);
	} else if (!strcmp(cmd, "misuse")) {
		ret = misuse();
	} else if (!strcmp(cmd, "fprobe")) {
		ret = fprobe_ctl(buf + n);
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
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(result);

/* peek: the bytes at a kernel address (ftramp's trampoline slots), for the tests. */
#define PEEK_MAX 128
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

	for (k = 0; k < NR_OPS; k++) {
		tops[k].ops.func = count_cb;
		tops[k].ops.flags = k < 4 ? FTRAMP_OPS_FL_RECURSION : 0;
	}
	dir = debugfs_create_dir("ftramp_test", NULL);
	debugfs_create_file("ctl", 0200, dir, NULL, &ctl_fops);
	debugfs_create_file("counts", 0400, dir, NULL, &counts_fops);
	debugfs_create_file("result", 0400, dir, NULL, &result_fops);
	debugfs_create_file("peek", 0600, dir, NULL, &peek_fops);
	debugfs_create_file("fprobe", 0400, dir, NULL, &fprobe_fops);
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
 *     they would have to be leaked. That is why they are static per-CPU data of
 *     the module (freed with it, after the notifier) and nothing needs leaking;
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
		return;
	}
	for (k = 0; k < NR_OPS; k++) {
		/* Also releases a filter set on an ops never registered. */
		if (tops[k].registered || tops[k].ops.internal)
			ftramp_unregister_ops(&tops[k].ops);
	}
}

module_init(test_ops_init);
module_exit(test_ops_exit);
MODULE_DESCRIPTION("ftramp test ops: counting callbacks driven from debugfs");
MODULE_LICENSE("GPL");
