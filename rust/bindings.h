/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Headers ftramp needs raw bindings for. The kernel's own rust/bindings cover
 * few of them (struct ftrace_ops is opaque there on 6.12), so the module runs
 * bindgen on this header with the kernel's own C flags (see Kbuild).
 */
#include <linux/btf.h>
#include <linux/execmem.h>
#include <linux/fs.h>
#include <linux/ftrace.h>
#include <linux/kdebug.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/tracefs.h>
#include <asm/text-patching.h>

#include "ftramp_api.h"
#include "helpers/helpers.h"
