// SPDX-License-Identifier: GPL-2.0

//! The recursion guard around one ops' callback, for ops without `FTRAMP_OPS_FL_RECURSION`,
//! reached through the ops' entry stub (which loads `ops`). It takes ftrace's list-level
//! recursion bit, as ftrace's own `ftrace_ops_assist_func()` does.

use kernel::ffi;

use super::guard::Guard;
use crate::sys;

/// # Safety
///
/// Called only through an ops entry stub: `ops` is registered, with a callback.
pub(crate) unsafe extern "C" fn ops_assist(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    regs: *mut sys::ftramp_regs,
) {
    // SAFETY: ftramp's dispatch code runs only after module init (`guard::init()`); the
    // guard is kept to the end of the function.
    let Some(_guard) = (unsafe { Guard::enter(ip, parent_ip) }) else {
        return;
    };
    // SAFETY: `ops` is registered (function safety requirement) and has a callback.
    unsafe {
        if let Some(f) = (*ops).func {
            f(ip, parent_ip, ops, regs);
        }
    }
}

/// Address of [`ops_assist`], for encoding stubs.
pub(crate) fn addr() -> usize {
    ops_assist as *const () as usize
}

/// Whether an ops with `flags` guards itself (`FTRAMP_OPS_FL_RECURSION`).
pub(crate) fn guards_itself(flags: ffi::c_ulong) -> bool {
    flags & sys::FTRAMP_OPS_FL_RECURSION as ffi::c_ulong != 0
}

/// What an ops' entry stub reaches: its callback `func` when its `flags` say it guards itself,
/// else [`ops_assist`]. (A fused stub calls the callback and guards it itself.)
pub(crate) fn entry_target(func: usize, flags: ffi::c_ulong) -> usize {
    if guards_itself(flags) {
        func
    } else {
        addr()
    }
}
