// SPDX-License-Identifier: GPL-2.0

//! Fault injection for the engine's failure paths (test knobs only: `fail_nth`).
//!
//! A fault point stands before every step of an engine operation that can fail: each
//! allocation, each module reference, each ftrace call. With `fail_nth=N` the N-th point from
//! then on fails once with `ENOMEM` (a refused ftrace call with its own errno), so a test can
//! walk N = 1, 2, ... over an operation and see every failure path taken. Without the knobs it
//! is a call that returns `Ok`.

use kernel::prelude::*;

use crate::sys;

/// Fails if the fault injector says so.
#[inline]
pub(crate) fn point() -> Result {
    // SAFETY: no preconditions (atomic counters).
    if unsafe { sys::ftramp_fault_point() } {
        Err(ENOMEM)
    } else {
        Ok(())
    }
}

/// Whether the next detach must report that ftrace refused it (test knob `fail_detach`).
pub(crate) fn refuse_detach() -> bool {
    // SAFETY: no preconditions.
    unsafe { sys::ftramp_fault_detach() }
}
