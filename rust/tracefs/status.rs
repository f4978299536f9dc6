// SPDX-License-Identifier: GPL-2.0

//! The read-only `status` file: versions, resolved symbols, and what the kernel offers.

use kernel::{prelude::*, str::CStr};

use crate::{
    compat::{c_bytes, Bytes},
    output::Text,
    symbols, sys,
    tracefs::File,
    State,
};

/// `/sys/kernel/tracing/ftramp/status`.
pub(crate) struct Status;

impl File<State> for Status {
    const NAME: &'static CStr = kernel::c_str!("status");
    const MODE: u16 = 0o400;

    fn show(state: &State, out: &mut Text) -> Result {
        // SAFETY: returns `init_utsname()->release`, a NUL-terminated string that lives as long
        // as the kernel.
        let release = Bytes(unsafe { c_bytes(sys::ftramp_kernel_release()) });
        out.line(format_args!("version: {}", crate::VERSION))?;
        out.line(format_args!("kernel: {}", release))?;
        out.line(format_args!(
            "direct_calls: {}",
            if cfg!(CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS) {
                "yes"
            } else {
                "no"
            }
        ))?;
        out.line(format_args!(
            "test_knobs: {}",
            // SAFETY: no preconditions.
            if unsafe { sys::ftramp_test_knobs() } {
                "yes"
            } else {
                "no"
            }
        ))?;
        {
            let e = state.engine.lock();
            let (base, len) = e.region();
            let (used, total) = e.slots();
            out.line(format_args!(
                "trampolines: {:#x}-{:#x} slots {}/{}",
                base,
                base + len,
                used,
                total
            ))?;
        }
        let (checked, total) = symbols::direct_checked();
        out.line(format_args!(
            "direct_branches: {}/{} checked",
            checked, total
        ))?;
        // SAFETY: no preconditions.
        let (depth, rethunk) =
            unsafe { (sys::ftramp_call_depth_addr(), sys::ftramp_return_thunk(0)) };
        out.line(format_args!(
            "call_depth_tracking: {}",
            if depth != 0 { "yes" } else { "no" }
        ))?;
        out.line(format_args!("return_thunk: {:#x}", rethunk))?;
        for (name, addr) in symbols::resolved() {
            // SAFETY: `name` is a NUL-terminated string of `bind.c`.
            let name = Bytes(unsafe { c_bytes(name.as_char_ptr()) });
            out.line(format_args!("symbol: {} {:#x}", name, addr))?;
        }
        Ok(())
    }
}
