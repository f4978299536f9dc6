// SPDX-License-Identifier: GPL-2.0
/*
 * ftramp_sample.ko: hooks functions through ftramp's C API and prints what it sees.
 *
 *   insmod ftramp_sample.ko filter='vfs_read do_sys_openat2' show=5
 *
 * Prints the first @show calls (function, caller, first argument) and returns
 * (function, where it returns to, return value) and, at unload, how many calls
 * and returns it counted. The returns come from a second ops, a return ops
 * (ret_func, no entry_func: every call's return). A kernel whose ftramp cannot
 * hook a function's return (-EOPNOTSUPP, e.g. a variadic function) keeps the
 * entry hook and says so.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/module.h>

#include "../rust/ftramp_api.h"

static char *filter = "vfs_read";
module_param(filter, charp, 0444);
MODULE_PARM_DESC(filter, "Functions to hook (names and globs, set_ftrace_filter rules)");

static int show = 5;
module_param(show, int, 0444);
MODULE_PARM_DESC(show, "How many calls to print");

static atomic_long_t hits = ATOMIC_LONG_INIT(0);
static atomic_long_t returns = ATOMIC_LONG_INIT(0);
static bool ret_hooked;

static void sample_cb(unsigned long ip, unsigned long parent_ip,
		      struct ftramp_ops *ops, struct ftramp_regs *regs)
{
	long n = atomic_long_inc_return(&hits);

	if (n <= show)
		pr_info("call %ld: %ps from %pS, arg0=%#lx\n", n, (void *)ip,
			(void *)parent_ip, ftramp_regs_arg(regs, 0));
}

/* No FTRAMP_OPS_FL_RECURSION: printk may reach hooked functions, so let ftramp guard. */
static struct ftramp_ops sample_ops = {
	.func = sample_cb,
};

static void sample_ret_cb(unsigned long ip, unsigned long parent_ip,
			  struct ftramp_ops *ops, struct ftramp_ret_regs *ret, u64 cookie)
{
	long n = atomic_long_inc_return(&returns);

	if (n <= show)
		pr_info("return %ld: %ps to %pS, ret=%#lx\n", n, (void *)ip,
			(void *)parent_ip, ret->ax);
}

static struct ftramp_ops sample_ret_ops = {
	.ret_func = sample_ret_cb,
};

/* The return ops on the same functions; 0, or the error it was refused with. */
static int hook_returns(void)
{
	int ret = ftramp_set_filter(&sample_ret_ops, filter, 1);

	if (!ret)
		ret = ftramp_register_ops(&sample_ret_ops);
	if (ret)
		ftramp_unregister_ops(&sample_ret_ops);
	return ret;
}

static int __init sample_init(void)
{
	int ret = ftramp_set_filter(&sample_ops, filter, 1);

	if (!ret)
		ret = ftramp_register_ops(&sample_ops);
	if (ret) {
		pr_err("cannot hook '%s': %d\n", filter, ret);
		ftramp_unregister_ops(&sample_ops);
		return ret;
	}
	ret = hook_returns();
	ret_hooked = !ret;
	if (ret)
		pr_notice("no return hooks on '%s': %d\n", filter, ret);
	pr_info("hooked '%s'%s\n", filter, ret_hooked ? " (entries and returns)" : "");
	return 0;
}

static void __exit sample_exit(void)
{
	ftramp_unregister_ops(&sample_ops);
	if (ret_hooked) {
		ftramp_unregister_ops(&sample_ret_ops);
		pr_info("unhooked; %ld calls seen, %ld returns seen\n", atomic_long_read(&hits),
			atomic_long_read(&returns));
	} else {
		pr_info("unhooked; %ld calls seen\n", atomic_long_read(&hits));
	}
}

module_init(sample_init);
module_exit(sample_exit);
MODULE_DESCRIPTION("ftramp C API sample");
MODULE_LICENSE("GPL");
