// SPDX-License-Identifier: GPL-2.0
/*
 * ftramp_bench.ko: measures what it costs to call a hooked function, and to switch
 * hooks, with ftramp and with the kernel's own ways of getting control at a function
 * entry, side by side in one boot (`make bench`, Documentation/benchmark.rst).
 *
 * Not a test: nothing here asserts a timing. Run under QEMU's `-icount shift=0` the
 * guest clock advances one nanosecond per executed instruction, so the ktime deltas
 * printed here are instruction counts.
 *
 * debugfs /sys/kernel/debug/ftramp_bench/ctl: write one command, then read the file
 * for its result (one line of numbers). Errors are the write's errno.
 *
 *   percall TRACEE KIND NOPS CALLS REPS
 *	attach NOPS hooks of KIND to TRACEE, call it CALLS times with interrupts off
 *	REPS times, detach; result: the REPS guest-ns deltas of the loops.
 *	TRACEE: bench (this module's empty noinline function) | target
 *	(ftramp_target_a, ftramp_target.ko's counting function).
 *	KIND: none | ftramp (FTRAMP_OPS_FL_RECURSION: called straight from the
 *	trampoline) | ftramp_assist (ftramp's recursion guard) | ftrace (flags 0:
 *	ftrace calls the callback straight from its trampoline) | ftrace_assist
 *	(FTRACE_OPS_FL_RECURSION: ftrace's recursion guard) | kprobe | fprobe |
 *	direct (the floor: register_ftrace_direct with the samples' minimal
 *	trampoline) | direct_regs (the same, with the frame ftramp's trampoline
 *	builds for the two-argument bench tracee: 2 registers and the frame word) | busy_ftramp / busy_ftrace (TRACEE itself stays
 *	unhooked while NOPS ops hook ftramp_target_a and, for ftramp, a second
 *	ops hooks the 100 ftramp_target_batch_* functions).
 *	Entry+return kinds (every handler empty, every entry asks for the
 *	return): ftramp_ret (NOPS return ops, FTRAMP_OPS_FL_RECURSION) |
 *	ftramp_ret_assist (the same, ftramp's recursion guard) |
 *	ftramp_ret_noentry (self-guarded return ops without entry_func: every
 *	return delivered) | ftramp_ret_skip (self-guarded, the entry_func
 *	returns false: the return trampoline runs, no return is delivered;
 *	these two split the cost, Documentation/benchmark.rst) | kretprobe
 *	(empty handler, no entry_handler) | fprobe_exit (entry_handler and
 *	exit_handler; rethook on 6.12, fgraph from 6.15). For kprobe, kretprobe,
 *	fprobe and fprobe_exit the result ends with "; missed M": the probe's
 *	nmissed after the loops (0: no call went unhooked).
 *   sw_setup FILTER	ops A on FILTER (each site direct), ops B registered with
 *			nothing; FILTER is "bench" for this module's tracee or any
 *			ftramp filter (names, globs)
 *   sw_attach		B's filter := FILTER (every site direct -> list, one round)
 *   sw_detach		B's filter := "" (every site list -> direct, one round)
 *   sw_resolve		FILTER resolved by an unregistered ops (what set_filter
 *			costs before any switching)
 *   sw_teardown [keep]	unregister B and A (keep: leave them, e.g. 1000 sites
 *			whose teardown costs one RCU-tasks grace period per site)
 *	result of each: guest ns of the call; the script reads ftramp's stats file
 *	around it for rounds and syncs.
 *   modify REPS	register_ftrace_direct(floor) on the bench tracee, then REPS
 *			times modify_ftrace_direct() to a second trampoline and back;
 *			result: "ns syncs" per modify (syncs: all-CPU serialising
 *			IPIs of text_poke_bp(), counted by a kprobe on the kernel's
 *			do_sync_core() / online CPUs), then unregister.
 *   arm NOPS [assist]	hook ftrace-ops.ko's tracee_relevant with NOPS ftramp ops
 *			while that module loads (module notifier: attached when it is
 *			COMING, detached when it is GOING), so the kernel sample's own
 *			loop measures ftramp; NOPS 0 disarms.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fprobe.h>
#include <linux/version.h>
#include <linux/ftrace.h>
#include <linux/irqflags.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include <asm/ibt.h>
#include <asm/nospec-branch.h>

#include "../../rust/ftramp_api.h"
#include "../ftramp_target.h"

#define MAX_OPS		8
#define MAX_REPS	32
#define RESULT_LEN	(MAX_REPS * 48 + 64)

/* ---- the tracee and the empty callbacks ---- */

/*
 * Like ftrace-ops.ko's tracee_relevant: a real function with an fentry site,
 * with two arguments (what a trampoline with the function's BTF model saves, as
 * ftramp's and BPF's do; issue 13's goals are for a two-argument tracee).
 */
void ftramp_bench_tracee(unsigned long a, unsigned long b);
noinline void ftramp_bench_tracee(unsigned long a, unsigned long b)
{
	asm volatile("" : : "r"(a), "r"(b));
}

/* Every callback is empty and traceable, like ftrace-ops.ko's ops_func_nop. */
static void bench_ftramp_nop(unsigned long ip, unsigned long parent_ip,
			     struct ftramp_ops *ops, struct ftramp_regs *regs)
{
}

static void bench_ftrace_nop(unsigned long ip, unsigned long parent_ip,
			     struct ftrace_ops *op, struct ftrace_regs *fregs)
{
}

static int bench_kprobe_pre(struct kprobe *p, struct pt_regs *regs)
{
	return 0;
}

/* Return ops: the entry asks for every return, the return does nothing. */
static bool bench_ret_entry(unsigned long ip, unsigned long parent_ip,
			    struct ftramp_ops *ops, struct ftramp_regs *regs, u64 *cookie)
{
	return true;
}

static bool bench_ret_entry_skip(unsigned long ip, unsigned long parent_ip,
				 struct ftramp_ops *ops, struct ftramp_regs *regs, u64 *cookie)
{
	return false;
}

static void bench_ret_nop(unsigned long ip, unsigned long parent_ip, struct ftramp_ops *ops,
			  struct ftramp_ret_regs *ret, u64 cookie)
{
}

static int bench_kretprobe_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return 0;
}

/* 6.14 passes fprobe handlers ftrace_regs instead of pt_regs. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
#define BENCH_FPROBE_REGS struct ftrace_regs
#else
#define BENCH_FPROBE_REGS struct pt_regs
#endif
static int bench_fprobe_entry(struct fprobe *fp, unsigned long entry_ip,
			      unsigned long ret_ip, BENCH_FPROBE_REGS *regs, void *data)
{
	return 0;	/* 0: call the exit handler too, if there is one */
}

static void bench_fprobe_exit(struct fprobe *fp, unsigned long entry_ip,
			      unsigned long ret_ip, BENCH_FPROBE_REGS *regs, void *data)
{
}

/* The direct trampolines' callee (samples/ftrace/ftrace-direct-modify.c's shape). */
void ftramp_bench_floor_fn(void);
noinline void ftramp_bench_floor_fn(void)
{
}

/*
 * The floor: samples/ftrace/ftrace-direct-modify.c's x86_64 trampoline, the least code
 * that gets control at a function entry and returns (push rbp; mov rsp,rbp; call; leave;
 * ret). floor2 is the same, the target of modify_ftrace_direct(). floor_regs also saves
 * and restores the argument registers and rax, as a trampoline that passes arguments to a
 * C callback must (ftramp's does).
 */
void ftramp_bench_floor1(void);
void ftramp_bench_floor2(void);
void ftramp_bench_floor_regs(void);
asm(
"	.pushsection	.text, \"ax\", @progbits\n"
"	.type		ftramp_bench_floor1, @function\n"
"	.globl		ftramp_bench_floor1\n"
"ftramp_bench_floor1:\n"
	ASM_ENDBR
"	pushq %rbp\n"
"	movq %rsp, %rbp\n"
	CALL_DEPTH_ACCOUNT
"	call ftramp_bench_floor_fn\n"
"	leave\n"
	ASM_RET
"	.size		ftramp_bench_floor1, .-ftramp_bench_floor1\n"
"	.type		ftramp_bench_floor2, @function\n"
"	.globl		ftramp_bench_floor2\n"
"ftramp_bench_floor2:\n"
	ASM_ENDBR
"	pushq %rbp\n"
"	movq %rsp, %rbp\n"
	CALL_DEPTH_ACCOUNT
"	call ftramp_bench_floor_fn\n"
"	leave\n"
	ASM_RET
"	.size		ftramp_bench_floor2, .-ftramp_bench_floor2\n"
"	.type		ftramp_bench_floor_regs, @function\n"
"	.globl		ftramp_bench_floor_regs\n"
"ftramp_bench_floor_regs:\n"
	ASM_ENDBR
"	pushq %rbp\n"
"	movq %rsp, %rbp\n"
"	subq $56, %rsp\n"
"	movq %rdi, -16(%rbp)\n"
"	movq %rsi, -24(%rbp)\n"
"	pushq $2\n"
	CALL_DEPTH_ACCOUNT
"	call ftramp_bench_floor_fn\n"
"	movq -16(%rbp), %rdi\n"
"	movq -24(%rbp), %rsi\n"
"	leave\n"
	ASM_RET
"	.size		ftramp_bench_floor_regs, .-ftramp_bench_floor_regs\n"
"	.popsection\n"
);

/* ---- hooks ---- */

enum kind {
	K_NONE, K_FTRAMP, K_FTRAMP_ASSIST, K_FTRACE, K_FTRACE_ASSIST, K_KPROBE, K_FPROBE,
	K_DIRECT, K_DIRECT_REGS, K_BUSY_FTRAMP, K_BUSY_FTRACE, K_FTRAMP_RET,
	K_FTRAMP_RET_ASSIST, K_FTRAMP_RET_NOENTRY, K_FTRAMP_RET_SKIP, K_KRETPROBE,
	K_FPROBE_EXIT, NR_KINDS
};

static const char *const kind_names[NR_KINDS] = {
	"none", "ftramp", "ftramp_assist", "ftrace", "ftrace_assist", "kprobe", "fprobe",
	"direct", "direct_regs", "busy_ftramp", "busy_ftrace", "ftramp_ret",
	"ftramp_ret_assist", "ftramp_ret_noentry", "ftramp_ret_skip", "kretprobe",
	"fprobe_exit",
};

struct tracee {
	const char *name;
	void *fn;		/* its address (time_calls() calls it with its own type) */
};

static const struct tracee tracees[] = {
	{ "ftramp_bench_tracee", ftramp_bench_tracee },
	{ "ftramp_target_a", ftramp_target_a },
};

static struct ftramp_ops bops[MAX_OPS + 1];
static struct ftrace_ops *fops;		/* kcalloc'ed, like ftrace-ops.ko's */
static int nr_bops, nr_fops;
static struct kprobe bkp;
static struct kretprobe bkrp;
static struct fprobe bfp;
static struct ftrace_ops direct_ops;
static unsigned long direct_addr;

static DEFINE_MUTEX(bench_lock);
static char result[RESULT_LEN];

static void unhook_all(void)
{
	int i;

	for (i = 0; i < nr_bops; i++)
		ftramp_unregister_ops(&bops[i]);
	nr_bops = 0;
	for (i = 0; i < nr_fops; i++) {
		unregister_ftrace_function(&fops[i]);
		ftrace_free_filter(&fops[i]);
	}
	kfree(fops);
	fops = NULL;
	nr_fops = 0;
	if (bkp.addr) {
		unregister_kprobe(&bkp);
		memset(&bkp, 0, sizeof(bkp));
	}
	if (bkrp.kp.addr) {
		unregister_kretprobe(&bkrp);
		memset(&bkrp, 0, sizeof(bkrp));
	}
	if (bfp.entry_handler) {
		unregister_fprobe(&bfp);
		memset(&bfp, 0, sizeof(bfp));
	}
	if (direct_addr) {
		unregister_ftrace_direct(&direct_ops, direct_addr, true);
		direct_addr = 0;
	}
}

/*
 * Up to @n ftramp ops on @filter: entry-only if @ret_ops is false, else return ops
 * whose entry_func is @entry (NULL: none).
 */
static int hook_ftramp(const char *filter, int n, unsigned long flags, bool ret_ops,
		       ftramp_entry_func_t entry)
{
	int ret = 0;

	while (!ret && nr_bops < n) {
		struct ftramp_ops *o = &bops[nr_bops];

		memset(o, 0, sizeof(*o));
		if (ret_ops) {
			o->entry_func = entry;
			o->ret_func = bench_ret_nop;
		} else {
			o->func = bench_ftramp_nop;
		}
		o->flags = flags;
		ret = ftramp_set_filter(o, filter, 1) ?: ftramp_register_ops(o);
		if (!ret)
			nr_bops++;
	}
	return ret;
}

static int hook_ftrace(void *fn, int n, unsigned long flags)
{
	int ret = 0;

	fops = kcalloc(n, sizeof(*fops), GFP_KERNEL);
	if (!fops)
		return -ENOMEM;
	while (!ret && nr_fops < n) {
		struct ftrace_ops *o = &fops[nr_fops];

		o->func = bench_ftrace_nop;
		o->flags = flags;
		ret = ftrace_set_filter_ip(o, (unsigned long)fn, 0, 0);
		if (!ret) {
			ret = register_ftrace_function(o);
			if (ret)
				ftrace_free_filter(o);
		}
		if (!ret)
			nr_fops++;
	}
	return ret;
}

static int hook_direct(void *fn, unsigned long tramp)
{
	int ret;

	memset(&direct_ops, 0, sizeof(direct_ops));
	ret = ftrace_set_filter_ip(&direct_ops, (unsigned long)fn, 0, 0);
	if (ret)
		return ret;
	ret = register_ftrace_direct(&direct_ops, tramp);
	if (ret) {
		ftrace_free_filter(&direct_ops);
		return ret;
	}
	direct_addr = tramp;
	return 0;
}

static int hook(const struct tracee *t, enum kind k, int n)
{
	unsigned long addr = (unsigned long)t->fn;

	switch (k) {
	case K_NONE:
		return 0;
	case K_FTRAMP:
		return hook_ftramp(t->name, n, FTRAMP_OPS_FL_RECURSION, false, NULL);
	case K_FTRAMP_ASSIST:
		return hook_ftramp(t->name, n, 0, false, NULL);
	case K_FTRAMP_RET:
		return hook_ftramp(t->name, n, FTRAMP_OPS_FL_RECURSION, true, bench_ret_entry);
	case K_FTRAMP_RET_ASSIST:
		return hook_ftramp(t->name, n, 0, true, bench_ret_entry);
	case K_FTRAMP_RET_NOENTRY:
		return hook_ftramp(t->name, n, FTRAMP_OPS_FL_RECURSION, true, NULL);
	case K_FTRAMP_RET_SKIP:
		return hook_ftramp(t->name, n, FTRAMP_OPS_FL_RECURSION, true,
				   bench_ret_entry_skip);
	case K_FTRACE:
		return hook_ftrace(t->fn, n, 0);
	case K_FTRACE_ASSIST:
		return hook_ftrace(t->fn, n, FTRACE_OPS_FL_RECURSION);
	case K_KPROBE:
		memset(&bkp, 0, sizeof(bkp));
		bkp.addr = (kprobe_opcode_t *)addr;
		bkp.pre_handler = bench_kprobe_pre;
		if (register_kprobe(&bkp)) {
			memset(&bkp, 0, sizeof(bkp));
			return -EINVAL;
		}
		return 0;
	case K_FPROBE:
	case K_FPROBE_EXIT:
		memset(&bfp, 0, sizeof(bfp));
		bfp.entry_handler = bench_fprobe_entry;
		if (k == K_FPROBE_EXIT)
			bfp.exit_handler = bench_fprobe_exit;
		if (register_fprobe_ips(&bfp, &addr, 1)) {
			memset(&bfp, 0, sizeof(bfp));
			return -EINVAL;
		}
		return 0;
	case K_KRETPROBE:
		memset(&bkrp, 0, sizeof(bkrp));
		bkrp.kp.addr = (kprobe_opcode_t *)addr;
		bkrp.handler = bench_kretprobe_ret;
		if (register_kretprobe(&bkrp)) {
			memset(&bkrp, 0, sizeof(bkrp));
			return -EINVAL;
		}
		return 0;
	case K_DIRECT:
		return hook_direct(t->fn, (unsigned long)ftramp_bench_floor1);
	case K_DIRECT_REGS:
		return hook_direct(t->fn, (unsigned long)ftramp_bench_floor_regs);
	case K_BUSY_FTRAMP:
		/* Others hooked, the tracee not: n ops on target_a, one more on 100 functions. */
		if (t->fn == ftramp_target_a)
			return -EINVAL;
		return hook_ftramp("ftramp_target_a", n, FTRAMP_OPS_FL_RECURSION, false, NULL) ?:
		       hook_ftramp("ftramp_target_batch_*", n + 1, FTRAMP_OPS_FL_RECURSION,
				   false, NULL);
	case K_BUSY_FTRACE:
		if (t->fn == ftramp_target_a)
			return -EINVAL;
		return hook_ftrace(ftramp_target_a, n, 0);
	default:
		return -EINVAL;
	}
}

/* ---- measurement ---- */

/*
 * Guest ns for @n direct calls of @t, interrupts off (no tick lands in the
 * window); the bench tracee gets two arguments.
 */
static noinline u64 time_calls(const struct tracee *t, unsigned long n)
{
	unsigned long flags, i;
	u64 t0, t1;

	local_irq_save(flags);
	t0 = ktime_get_ns();
	if (t->fn == ftramp_bench_tracee)
		for (i = 0; i < n; i++)
			ftramp_bench_tracee(i, n);
	else
		for (i = 0; i < n; i++)
			ftramp_target_a();
	t1 = ktime_get_ns();
	local_irq_restore(flags);
	return t1 - t0;
}

static int do_percall(const struct tracee *t, enum kind k, int n, unsigned long calls,
		      int reps)
{
	size_t len = 0;
	int ret, r;

	if (n < 0 || n > MAX_OPS || reps < 1 || reps > MAX_REPS || !calls)
		return -EINVAL;
	ret = hook(t, k, n);
	if (ret) {
		unhook_all();
		return ret;
	}
	time_calls(t, min(calls, 1000UL));	/* warm up */
	for (r = 0; r < reps; r++) {
		len += scnprintf(result + len, sizeof(result) - len, "%s%llu", r ? " " : "",
				 time_calls(t, calls));
		cond_resched();
	}
	if (k == K_KRETPROBE)
		len += scnprintf(result + len, sizeof(result) - len, "; missed %d",
				 bkrp.nmissed);
	else if (k == K_FPROBE || k == K_FPROBE_EXIT)
		len += scnprintf(result + len, sizeof(result) - len, "; missed %lu",
				 bfp.nmissed);
	else if (k == K_KPROBE)
		len += scnprintf(result + len, sizeof(result) - len, "; missed %lu",
				 bkp.nmissed);
	scnprintf(result + len, sizeof(result) - len, "\n");
	unhook_all();
	return 0;
}

/* ---- switching ---- */

static char sw_filter[512];
static struct ftramp_ops sw_ops[3];	/* A (stays), B (switches the sites), C (resolves) */
static bool sw_up, sw_kept;

static u64 timed_set_filter(struct ftramp_ops *o, const char *filter, int *err)
{
	u64 t0 = ktime_get_ns();

	*err = ftramp_set_filter(o, filter, 1);
	return ktime_get_ns() - t0;
}

static int sw_cmd(const char *cmd, const char *arg)
{
	u64 ns;
	int ret = 0;

	if (!strcmp(cmd, "sw_setup")) {
		if (sw_up || sw_kept)
			return -EBUSY;
		strscpy(sw_filter, strcmp(arg, "bench") ? arg : tracees[0].name);
		memset(sw_ops, 0, sizeof(sw_ops));
		for (int i = 0; i < 3; i++) {
			sw_ops[i].func = bench_ftramp_nop;
			sw_ops[i].flags = FTRAMP_OPS_FL_RECURSION;
		}
		ret = ftramp_set_filter(&sw_ops[0], sw_filter, 1) ?:
		      ftramp_register_ops(&sw_ops[0]);
		if (ret)
			return ret;
		ret = ftramp_set_filter(&sw_ops[1], "", 1) ?: ftramp_register_ops(&sw_ops[1]);
		if (ret) {
			ftramp_unregister_ops(&sw_ops[0]);
			return ret;
		}
		sw_up = true;
		ns = 0;
	} else if (!sw_up) {
		return -ENOENT;
	} else if (!strcmp(cmd, "sw_attach")) {
		ns = timed_set_filter(&sw_ops[1], sw_filter, &ret);
	} else if (!strcmp(cmd, "sw_detach")) {
		ns = timed_set_filter(&sw_ops[1], "", &ret);
	} else if (!strcmp(cmd, "sw_resolve")) {
		ns = timed_set_filter(&sw_ops[2], sw_filter, &ret);
		ftramp_unregister_ops(&sw_ops[2]);	/* drops its record */
	} else if (!strcmp(cmd, "sw_teardown")) {
		if (strcmp(arg, "keep")) {
			ftramp_unregister_ops(&sw_ops[1]);
			ftramp_unregister_ops(&sw_ops[0]);
		} else {
			sw_kept = true;	/* unregistered at rmmod */
		}
		sw_up = false;
		ns = 0;
	} else {
		return -EINVAL;
	}
	if (ret)
		return ret;
	scnprintf(result, sizeof(result), "%llu\n", ns);
	return 0;
}

/* ---- modify_ftrace_direct ---- */

static atomic_t poke_syncs;

static int count_sync(struct kprobe *p, struct pt_regs *regs)
{
	atomic_inc(&poke_syncs);
	return 0;
}

static int do_modify(int reps)
{
	struct kprobe kp = { .symbol_name = "do_sync_core", .pre_handler = count_sync };
	bool counting;
	size_t len = 0;
	int ret, r;

	if (reps < 1 || reps > MAX_REPS)
		return -EINVAL;
	ret = hook_direct(ftramp_bench_tracee, (unsigned long)ftramp_bench_floor1);
	if (ret)
		return ret;
	counting = !register_kprobe(&kp);
	for (r = 0; !ret && r < 2 * reps; r++) {
		unsigned long to = (r & 1) ? (unsigned long)ftramp_bench_floor1 :
					     (unsigned long)ftramp_bench_floor2;
		u64 t0;
		int s0 = atomic_read(&poke_syncs);

		t0 = ktime_get_ns();
		ret = modify_ftrace_direct(&direct_ops, to);
		t0 = ktime_get_ns() - t0;
		if (!ret) {
			direct_addr = to;
			len += scnprintf(result + len, sizeof(result) - len, "%s%llu %d",
					 r ? " " : "", t0,
					 counting ? (atomic_read(&poke_syncs) - s0) /
						    (int)num_online_cpus() : -1);
		}
	}
	scnprintf(result + len, sizeof(result) - len, "\n");
	if (counting)
		unregister_kprobe(&kp);
	unhook_all();
	return ret;
}

/* ---- ftrace-ops.ko's own tracee ---- */

static int arm_ops;
static unsigned long arm_flags;

static int bench_module_cb(struct notifier_block *nb, unsigned long state, void *data)
{
	struct module *mod = data;

	if (strcmp(mod->name, "ftrace_ops"))
		return NOTIFY_DONE;
	mutex_lock(&bench_lock);
	if (state == MODULE_STATE_COMING && arm_ops && !nr_bops) {
		if (hook_ftramp("tracee_relevant", arm_ops, arm_flags, false, NULL)) {
			pr_warn("hooking ftrace_ops's tracee_relevant failed\n");
			unhook_all();
		}
	} else if (state == MODULE_STATE_GOING) {
		unhook_all();
	}
	mutex_unlock(&bench_lock);
	return NOTIFY_DONE;
}

static struct notifier_block bench_module_nb = { .notifier_call = bench_module_cb };

/* ---- debugfs ---- */

static int parse_kind(const char *s)
{
	for (int k = 0; k < NR_KINDS; k++)
		if (!strcmp(s, kind_names[k]))
			return k;
	return -1;
}

static ssize_t ctl_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char buf[600], cmd[16], a[512], b[32];
	unsigned long calls;
	int n, reps, k, ret = -EINVAL, words;

	if (len >= sizeof(buf))
		return -E2BIG;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;
	a[0] = b[0] = 0;
	words = sscanf(buf, "%15s %511s %31s", cmd, a, b);
	if (words < 1)
		return -EINVAL;

	mutex_lock(&bench_lock);
	result[0] = 0;
	if (!strcmp(cmd, "percall")) {
		const struct tracee *t = NULL;

		if (sscanf(buf, "%*s %*s %*s %d %lu %d", &n, &calls, &reps) == 3) {
			if (!strcmp(a, "bench"))
				t = &tracees[0];
			else if (!strcmp(a, "target"))
				t = &tracees[1];
			k = parse_kind(b);
			if (t && k >= 0)
				ret = do_percall(t, k, n, calls, reps);
		}
	} else if (!strncmp(cmd, "sw_", 3)) {
		ret = sw_cmd(cmd, a);
	} else if (!strcmp(cmd, "modify")) {
		if (kstrtoint(a, 10, &reps) == 0)
			ret = do_modify(reps);
	} else if (!strcmp(cmd, "arm")) {
		if (kstrtoint(a, 10, &n) == 0 && n >= 0 && n <= MAX_OPS && !nr_bops) {
			arm_ops = n;
			arm_flags = strcmp(b, "assist") ? FTRAMP_OPS_FL_RECURSION : 0;
			ret = 0;
		}
	}
	mutex_unlock(&bench_lock);
	return ret ?: len;
}

static ssize_t ctl_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	ssize_t r;

	mutex_lock(&bench_lock);
	r = simple_read_from_buffer(ubuf, len, ppos, result, strlen(result));
	mutex_unlock(&bench_lock);
	return r;
}

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.write = ctl_write,
	.read = ctl_read,
	.llseek = default_llseek,
};

static struct dentry *dir;

static int __init ftramp_bench_init(void)
{
	int ret = register_module_notifier(&bench_module_nb);

	if (ret)
		return ret;
	dir = debugfs_create_dir("ftramp_bench", NULL);
	debugfs_create_file("ctl", 0600, dir, NULL, &ctl_fops);
	return 0;
}

static void __exit ftramp_bench_exit(void)
{
	debugfs_remove_recursive(dir);
	unregister_module_notifier(&bench_module_nb);
	mutex_lock(&bench_lock);
	unhook_all();
	if (sw_up || sw_kept) {
		ftramp_unregister_ops(&sw_ops[1]);
		ftramp_unregister_ops(&sw_ops[0]);
		sw_up = sw_kept = false;
	}
	mutex_unlock(&bench_lock);
}

module_init(ftramp_bench_init);
module_exit(ftramp_bench_exit);
MODULE_DESCRIPTION("ftramp benchmark: per-call and switching cost against ftrace, kprobes, fprobes");
MODULE_LICENSE("GPL");
