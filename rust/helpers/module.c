// SPDX-License-Identifier: GPL-2.0
/* Module references of hooked functions and the module checks of the engine. */
#include <linux/bug.h>
#include <linux/err.h>
#include <linux/module.h>

#include "../ftramp_api.h"
#include "helpers.h"

struct module *ftramp_module_get(unsigned long ip)
{
	struct module *mod;

	preempt_disable();
	mod = ftramp_call_module_text_address(ip);
	if (mod && within_module_init(ip, mod))
		mod = ERR_PTR(-EPERM);
	else if (mod && !try_module_get(mod))
		mod = ERR_PTR(-ENOENT);
	preempt_enable();
	return mod;
}

void ftramp_module_put(struct module *mod)
{
	module_put(mod);
}

bool ftramp_within_module(unsigned long addr, struct module *mod)
{
	return within_module(addr, mod);
}

void ftramp_warn_forgotten_ops(struct module *mod, const struct ftramp_ops *ops)
{
	WARN(1, "ftramp: module %s is going away with ops %px (%ps) still registered: detached\n",
	     mod->name, ops, ops->func);
}

void ftramp_warn_going_site(struct module *mod, unsigned long ip)
{
	pr_warn("ftramp: module %s is going away with %ps hooked: detached\n",
		mod->name, (void *)ip);
}
