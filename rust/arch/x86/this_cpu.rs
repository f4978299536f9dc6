// SPDX-License-Identifier: GPL-2.0

//! Two of the kernel's per-CPU variables read from Rust inline, as `%gs`-relative `mov`s: the
//! running task and the preemption count. The recursion guard ([`crate::dispatch::guard`])
//! runs on every guarded dispatch and so reads them without calling C. Their `%gs`-relative
//! addresses (zero-based offsets into `pcpu_hot` on 6.12, per-CPU symbols at kernel addresses
//! from 6.15) are taken once at load, before any code that dispatches exists.

use core::sync::atomic::{AtomicUsize, Ordering};

use kernel::prelude::*;

use crate::sys;

static CURRENT_TASK: AtomicUsize = AtomicUsize::new(0);
static PREEMPT_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Takes the variables' addresses; called by module init before anything can dispatch.
/// `EINVAL` if C gives no address (the readers below would read `%gs:0`).
pub(crate) fn init() -> Result {
    // SAFETY: no preconditions.
    let (task, pc) = unsafe {
        (
            sys::ftramp_current_task_addr(),
            sys::ftramp_preempt_count_addr(),
        )
    };
    if task == 0 || pc == 0 {
        return Err(EINVAL);
    }
    CURRENT_TASK.store(task, Ordering::Relaxed);
    PREEMPT_COUNT.store(pc, Ordering::Relaxed);
    Ok(())
}

/// The `%gs`-relative load of the 64-bit per-CPU variable at `var`.
///
/// # Safety
///
/// `var` is the `%gs`-relative address of a live per-CPU variable of at least 8 bytes.
#[inline(always)]
unsafe fn read_u64(var: usize) -> u64 {
    let v: u64;
    // SAFETY: `%gs` is this CPU's per-CPU base in the kernel and `var` a per-CPU variable
    // (function safety requirement): the load reads this CPU's copy. It writes nothing and
    // touches no stack or flags.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr gs:[{a}]",
            a = in(reg) var,
            v = out(reg) v,
            options(nostack, readonly, preserves_flags)
        )
    };
    v
}

/// The `%gs`-relative load of the 32-bit per-CPU variable at `var`.
///
/// # Safety
///
/// As [`read_u64`], with at least 4 bytes.
#[inline(always)]
unsafe fn read_u32(var: usize) -> u32 {
    let v: u32;
    // SAFETY: as in `read_u64`.
    unsafe {
        core::arch::asm!(
            "mov {v:e}, dword ptr gs:[{a}]",
            a = in(reg) var,
            v = out(reg) v,
            options(nostack, readonly, preserves_flags)
        )
    };
    v
}

/// The task running on this CPU (`current`).
///
/// # Safety
///
/// [`init()`] succeeded.
#[inline(always)]
pub(crate) unsafe fn current_task() -> *mut sys::task_struct {
    // SAFETY: `init()` stored `current_task`'s address (function safety requirement).
    unsafe { read_u64(CURRENT_TASK.load(Ordering::Relaxed)) as *mut sys::task_struct }
}

/// The low 32 bits of this CPU's preemption count: every nesting field (preemption, softirq,
/// hardirq, NMI). Little-endian, so the same load serves 6.12's 32-bit count and 7.x's 64-bit
/// one; the need-resched bit (31 or 63) is no nesting level and is not looked at.
///
/// # Safety
///
/// [`init()`] succeeded.
#[inline(always)]
pub(crate) unsafe fn preempt_count_low() -> u32 {
    // SAFETY: `init()` stored the preemption count's address (function safety requirement).
    unsafe { read_u32(PREEMPT_COUNT.load(Ordering::Relaxed)) }
}
