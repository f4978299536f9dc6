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

/* The saved registers, lowest address first, as the trampoline pushes them. */
struct ftramp_regs {
	unsigned long r9, r8, cx, dx, si, di, ax;
	unsigned long bp;		/* the function's caller's frame pointer */
	unsigned long ret_ip;		/* return address into the function */
	unsigned long parent_ip;	/* the function's return address */
};

typedef void (*ftramp_func_t)(unsigned long ip, unsigned long parent_ip,
			      struct ftramp_ops *ops, struct ftramp_regs *regs);

/* The callback guards its own recursion: call it with no wrapper. */
#define FTRAMP_OPS_FL_RECURSION	(1UL << 0)

struct ftramp_ops {
	ftramp_func_t func;
	void *private;
	unsigned long flags;
	void *internal;		/* ftramp's: non-NULL while ftramp holds state for the ops */
};

/* Argument @n (0-5) of the traced function. */
static inline unsigned long ftramp_regs_arg(const struct ftramp_regs *regs, unsigned int n)
{
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
 * Starts calling @ops->func on every function of its filter. Returns 0, -EBUSY
 * (already registered, or ftrace refused a function), -EINVAL (no func),
 * -ENOSPC, -ERANGE or -ENOMEM; on failure nothing changed.
 */
int ftramp_register_ops(struct ftramp_ops *ops);

/*
 * Detaches @ops everywhere and returns once no CPU or task can still be inside
 * its callback or its stub: @ops may be freed and its module unloaded
 * afterwards. Cannot fail (returns 0). Required for every ops that was given a
 * filter or registered: ftramp keeps state for it (ops->internal) until then.
 */
int ftramp_unregister_ops(struct ftramp_ops *ops);

#endif
