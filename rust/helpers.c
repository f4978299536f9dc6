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
