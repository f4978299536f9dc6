// SPDX-License-Identifier: GPL-2.0
/*
 * ftramp_sample.ko: hooks functions through ftramp's C API and prints what it sees.
 *
 *   insmod ftramp_sample.ko filter='vfs_read do_sys_openat2' show=5
 *
 * Prints the first @show calls (function, caller, first argument) and, at unload,
 * how many calls it counted.
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
	pr_info("hooked '%s'\n", filter);
	return 0;
}

static void __exit sample_exit(void)
{
	ftramp_unregister_ops(&sample_ops);
	pr_info("unhooked; %ld calls seen\n", atomic_long_read(&hits));
}

module_init(sample_init);
module_exit(sample_exit);
MODULE_DESCRIPTION("ftramp C API sample");
MODULE_LICENSE("GPL");
