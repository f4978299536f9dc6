/* SPDX-License-Identifier: GPL-2.0 */
/* C helpers of ftramp.ko: static inlines and module parameters Rust cannot reach. */
#ifndef FTRAMP_HELPERS_H
#define FTRAMP_HELPERS_H

#include <linux/types.h>

struct file_operations;
struct pt_regs;

/* Module parameters (test-only knobs, off by default). */
bool ftramp_param_force_missing_symbol(void);
bool ftramp_param_plant_warn(void);

/* THIS_MODULE of ftramp.ko, for file_operations.owner. */
struct module *ftramp_this_module(void);

/* The running kernel's release string (init_utsname() is a static inline). */
const char *ftramp_kernel_release(void);

/* WARN_ON(1) from C, so the planted fault looks exactly like a real one. */
void ftramp_plant_warn(void);

#endif
