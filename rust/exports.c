// SPDX-License-Identifier: GPL-2.0
/* Exports of ftramp's C API, which is implemented in Rust (rust/api.rs). */
#include <linux/export.h>

#include "ftramp_api.h"

EXPORT_SYMBOL_GPL(ftramp_set_filter);
EXPORT_SYMBOL_GPL(ftramp_register_ops);
EXPORT_SYMBOL_GPL(ftramp_unregister_ops);
