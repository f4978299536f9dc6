/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ftramp's exported API: attach callbacks ("ops") to kernel functions through
 * ftramp's generated ftrace direct-call trampolines. Shaped like ftrace's
 * register_ftrace_function()/ftrace_set_filter().
 *
 * A callback runs at the entry of every function in its ops' filter:
 *
 *	void cb(unsigned long ip, unsigned long parent_ip,
 *		struct ftramp_ops *ops, struct ftramp_regs *regs);
 *
 * ip is the function's fentry address, parent_ip the address it returns to,
 * regs the function's argument registers (ftramp_regs_arg()).
 *
 * Callbacks run with preemption disabled and must not sleep or block (ftrace's
 * rule; a sleeping callback gets "scheduling while atomic"). They may run in any
 * context, NMI included, and where RCU is not watching.
 *
 * Return hooks: an ops with a ret_func (and no func) is called at the return
 * of every call it asked for. Its optional entry_func runs at entry and returns
 * true to ask for this call's return, leaving a per-call cookie that ret_func
 * receives; without entry_func every call's return is delivered (cookie 0).
 * ret_func gets the return value (ax; dx too for 16-byte returns) and the
 * registers as they were at entry. A return is delivered only to the ops whose
 * entry asked for it: an ops that unregistered is never called for a call it
 * entered before, and an ops registered later (even into a reused slot) never
 * gets the return of a call it did not enter. At most FTRAMP_MAX_RET_OPS return
 * ops per function. A function with return hooks runs its body from ftramp's
 * trampoline, so its arguments must follow a model ftramp knows from BTF
 * (variadic functions and unknown models are refused with -EOPNOTSUPP).
 * Tasks may sleep in the body: the trampoline stays until every call that
 * entered has returned, and ftramp cannot be unloaded (it holds a reference on
 * itself) until then.
 *
 * With FTRAMP_OPS_FL_RECURSION the callback is called directly from the
 * function's trampoline (with one ops on the function, no loop and no indirect
 * call) and must guard itself against recursion; without it ftramp wraps the
 * call in ftrace's recursion guard.
 *
 * Every call changes nothing when it fails. An ops must stay valid (and its
 * func and flags unchanged) from the first ftramp_set_filter() or
 * ftramp_register_ops() until ftramp_unregister_ops() returns. A module that
 * unloads with an ops still registered is detached by ftramp with a WARN naming
 * it, before its memory goes: a bug in that module, not a crash. ftramp pins
 * the module of every hooked function, so a module that hooks its own
 * functions cannot be unloaded until it unregisters them (not from its exit).
 */
#ifndef FTRAMP_API_H
#define FTRAMP_API_H

#include <linux/types.h>

struct ftramp_ops;

/*
 * The saved registers, lowest address first, as the trampoline lays them out.
 *
 * With the function's BTF model known, the trampoline saves only the registers
 * its arguments take (a two-argument function: di and si), as BPF's trampolines
 * do; without one (no BTF, a variadic function) it saves all six argument
 * registers and ax (FTRAMP_FRAME_FULL). Read arguments with ftramp_regs_arg(),
 * which returns 0 past ftramp_regs_nr_args(): a field that was not saved holds
 * whatever was on the stack. The same holds for a function with return ops
 * (its return trampoline saves its argument registers; it always has a model).
 */
struct ftramp_regs {
	unsigned long frame;		/* argument registers saved (0-6) | FTRAMP_FRAME_FULL */
	unsigned long r9, r8, cx, dx, si, di;
	unsigned long ax;		/* saved only with FTRAMP_FRAME_FULL */
	unsigned long bp;		/* the function's caller's frame pointer */
	unsigned long ret_ip;		/* return address into the function */
	unsigned long parent_ip;	/* the function's return address */
};

/* regs->frame: every register was saved (no BTF model of the function). */
#define FTRAMP_FRAME_FULL	0x10UL

typedef void (*ftramp_func_t)(unsigned long ip, unsigned long parent_ip,
			      struct ftramp_ops *ops, struct ftramp_regs *regs);

/* What a return callback gets besides ip, parent_ip, ops and the cookie. */
struct ftramp_ret_regs {
	unsigned long ax;		/* the return value */
	unsigned long dx;		/* its second half, for 16-byte returns */
	struct ftramp_regs *regs;	/* the registers as they were at entry */
};

/* Entry of a return ops: true asks for this call's return; *cookie goes to it. */
typedef bool (*ftramp_entry_func_t)(unsigned long ip, unsigned long parent_ip,
				    struct ftramp_ops *ops, struct ftramp_regs *regs,
				    u64 *cookie);
typedef void (*ftramp_ret_func_t)(unsigned long ip, unsigned long parent_ip,
				  struct ftramp_ops *ops, struct ftramp_ret_regs *ret,
				  u64 cookie);

/* The callback guards its own recursion: call it with no wrapper. */
#define FTRAMP_OPS_FL_RECURSION	(1UL << 0)

/* Return ops (with ret_func) on one function at most. */
#define FTRAMP_MAX_RET_OPS	8

struct ftramp_ops {
	ftramp_func_t func;		/* entry callback of an entry-only ops */
	void *private;
	unsigned long flags;
	void *internal;		/* ftramp's: non-NULL while ftramp holds state for the ops */
	ftramp_entry_func_t entry_func;	/* return ops: optional entry callback */
	ftramp_ret_func_t ret_func;	/* return ops: the return callback */
};

/*
 * Argument registers saved: those the function's arguments take (a 16-byte
 * struct takes two, a stack-passed argument none), or 6 with FTRAMP_FRAME_FULL
 * (like ftrace_regs_get_argument(), an argument register whether or not the
 * function uses it).
 */
static inline unsigned int ftramp_regs_nr_args(const struct ftramp_regs *regs)
{
	return regs->frame & (FTRAMP_FRAME_FULL - 1);
}

/* Argument register @n (0-5: di si dx cx r8 r9), or 0 if it was not saved. */
static inline unsigned long ftramp_regs_arg(const struct ftramp_regs *regs, unsigned int n)
{
	if (n >= ftramp_regs_nr_args(regs))
		return 0;
	switch (n) {
	case 0: return regs->di;
	case 1: return regs->si;
	case 2: return regs->dx;
	case 3: return regs->cx;
	case 4: return regs->r8;
	case 5: return regs->r9;
	default: return 0;
	}
}

/*
 * Word @n of the function's stack-passed arguments (the 7th and later
 * integer arguments, structs too large for registers), which lie just above
 * the saved registers at entry. Only as many words as the function has.
 */
static inline unsigned long ftramp_regs_stack(const struct ftramp_regs *regs, unsigned int n)
{
	return ((const unsigned long *)(regs + 1))[n];
}

/*
 * Changes the set of functions of @ops. @filter is a space- or comma-separated
 * list of function names and globs (set_ftrace_filter's rules); "!glob" removes.
 * @reset: clear the set first. On a registered ops this attaches and detaches at
 * once, switching live trampolines without dropping any other ops' calls.
 * Returns 0, or on failure (nothing changed):
 *   -ENOENT  a name that no function has, or a glob matching no hookable function
 *   -EINVAL  a malformed filter, or a function ftrace cannot trace (notrace,
 *            noinstr, inlined)
 *   -EPERM   a function ftramp refuses: its own code, __init text, the kprobe
 *            blacklist, the int3 and patching paths (see Documentation/ftramp.rst)
 *   -E2BIG   more functions than trampoline slots
 *   -ENOSPC  the trampoline pool is full (registered ops only)
 *   -EBUSY   ftrace refused the function (e.g. another direct caller on it)
 *   -ERANGE  generated code out of reach of its target (should not happen)
 *   -ENOMEM
 */
int ftramp_set_filter(struct ftramp_ops *ops, const char *filter, int reset);

/*
 * Starts calling @ops on every function of its filter. Returns 0, -EBUSY
 * (already registered, or ftrace refused a function), -EINVAL (neither func nor
 * ret_func, or func with ret_func or entry_func), -EOPNOTSUPP (a return ops on a
 * function whose calling convention ftramp cannot reproduce), -ENOSPC (the pool,
 * the return ops table, or more than FTRAMP_MAX_RET_OPS return ops on one
 * function), -ERANGE or -ENOMEM; on failure nothing changed.
 */
int ftramp_register_ops(struct ftramp_ops *ops);

/*
 * Detaches @ops everywhere and returns once no CPU or task can still be inside
 * its callbacks or its stub (return callbacks included: calls still inside a
 * function return without calling them): @ops may be freed and its module
 * unloaded afterwards. Cannot fail (returns 0). Required for every ops that was given a
 * filter or registered: ftramp keeps state for it (ops->internal) until then.
 */
int ftramp_unregister_ops(struct ftramp_ops *ops);

#endif
