// SPDX-License-Identifier: GPL-2.0

//! What a trampoline's dispatch `call` reaches besides a recursion-safe ops' own callback:
//! the list iterator (two or more ops on the function) and the recursion guard wrapper for an
//! ops that does not guard itself.

use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use kernel::ffi;

use crate::sys;

/// The part of a site that its trampoline passes to the iterator (baked in as `%rdx`).
pub(crate) struct SiteHot {
    /// The site's ops, an immutable array replaced with RCU (copy on write).
    pub(crate) list: AtomicPtr<sys::ftramp_list>,
}

/// Calls skipped because the recursion guard refused them or RCU was not watching.
pub(crate) static GUARD_SKIPS: AtomicU64 = AtomicU64::new(0);

type Regs = *mut sys::ftramp_regs;

/// The list iterator: calls every ops of `site`'s current list.
///
/// # Safety
///
/// Called only by a trampoline: `site` is the `SiteHot` baked into it, alive until an
/// RCU-tasks grace period after the trampoline became unreachable.
pub(crate) unsafe extern "C" fn list_iter(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    site: *const SiteHot,
    regs: Regs,
) {
    // SAFETY: no preconditions; on success preemption is disabled until the unlock.
    let bit = unsafe { sys::ftramp_recursion_trylock(ip, parent_ip) };
    if bit < 0 {
        GUARD_SKIPS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // SAFETY: no preconditions.
    if unsafe { sys::ftramp_rcu_is_watching() } {
        // SAFETY: `site` is valid (function safety requirement).
        let list = unsafe { (*site).list.load(Ordering::Acquire) };
        if !list.is_null() {
            // SAFETY: preemption is disabled, so this is an RCU reader and the list (freed
            // with `kfree_rcu`) stays valid; it holds `nr` ops, each registered until an
            // RCU-tasks grace period after it left every list.
            let ops = unsafe { (*list).ops.as_slice((*list).nr as usize) };
            for &op in ops {
                // SAFETY: `op` is a registered ops (above) with a callback (checked at
                // registration).
                unsafe {
                    if let Some(f) = (*op).func {
                        f(ip, parent_ip, op, regs);
                    }
                }
            }
        }
    } else {
        GUARD_SKIPS.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: `bit` came from the trylock above.
    unsafe { sys::ftramp_recursion_unlock(bit) };
}

/// Recursion guard around one ops' callback, for ops without `FTRAMP_OPS_FL_RECURSION`
/// (reached through the ops' entry stub, which loads `ops`).
///
/// # Safety
///
/// Called only through an ops entry stub: `ops` is registered.
pub(crate) unsafe extern "C" fn ops_assist(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    regs: Regs,
) {
    // SAFETY: no preconditions; on success preemption is disabled until the unlock.
    let bit = unsafe { sys::ftramp_recursion_trylock(ip, parent_ip) };
    if bit < 0 {
        GUARD_SKIPS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    // SAFETY: `ops` is registered (function safety requirement) and has a callback.
    unsafe {
        if let Some(f) = (*ops).func {
            f(ip, parent_ip, ops, regs);
        }
        sys::ftramp_recursion_unlock(bit);
    }
}

/// Address of a dispatch target function, for encoding `call`s.
pub(crate) fn addr_of_iter() -> usize {
    list_iter as *const () as usize
}

/// Address of [`ops_assist`].
pub(crate) fn addr_of_assist() -> usize {
    ops_assist as *const () as usize
}
