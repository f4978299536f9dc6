// SPDX-License-Identifier: GPL-2.0

//! Rust sample of ftramp's C API: one ops per function (`vfs_read`, `vfs_write`), each
//! counting its calls; prints the counts at unload.

use core::sync::atomic::{AtomicUsize, Ordering};

use kernel::{ffi, prelude::*, str::CStr};

module! {
    type: FtrampSampleRust,
    name: "ftramp_sample_rust",
    description: "ftramp C API sample in Rust",
    license: "GPL",
}

/// `struct ftramp_ops` (rust/ftramp_api.h).
#[repr(C)]
struct FtrampOps {
    func:
        Option<unsafe extern "C" fn(ffi::c_ulong, ffi::c_ulong, *mut FtrampOps, *mut ffi::c_void)>,
    private: *mut ffi::c_void,
    flags: ffi::c_ulong,
    internal: *mut ffi::c_void,
}

/// `FTRAMP_OPS_FL_RECURSION`: the callback only does an atomic add.
const FTRAMP_OPS_FL_RECURSION: ffi::c_ulong = 1;

extern "C" {
    fn ftramp_set_filter(
        ops: *mut FtrampOps,
        filter: *const ffi::c_char,
        reset: ffi::c_int,
    ) -> ffi::c_int;
    fn ftramp_register_ops(ops: *mut FtrampOps) -> ffi::c_int;
    fn ftramp_unregister_ops(ops: *mut FtrampOps) -> ffi::c_int;
}

/// An ops with its counter; `ops` first, so the callback's ops pointer is the counter's.
#[repr(C)]
struct Counter {
    ops: FtrampOps,
    hits: AtomicUsize,
    name: &'static CStr,
}

/// # Safety
///
/// Called by ftramp's trampolines with an ops registered by this module.
unsafe extern "C" fn count(
    _ip: ffi::c_ulong,
    _parent_ip: ffi::c_ulong,
    ops: *mut FtrampOps,
    _regs: *mut ffi::c_void,
) {
    // SAFETY: every ops of this module is the first field of a live `Counter`.
    let c = unsafe { &*ops.cast::<Counter>() };
    c.hits.fetch_add(1, Ordering::Relaxed);
}

/// Hooks `c.name` with `c.ops`.
fn hook(c: &mut Pin<KBox<Counter>>) -> Result {
    // SAFETY: the counter stays pinned until `unhook`; only a raw pointer escapes.
    let c = unsafe { c.as_mut().get_unchecked_mut() };
    let ops: *mut FtrampOps = &mut c.ops;
    // SAFETY: `ops` is valid and pinned; the name is NUL-terminated.
    let mut r = unsafe { ftramp_set_filter(ops, c.name.as_char_ptr(), 1) };
    if r == 0 {
        // SAFETY: as above.
        r = unsafe { ftramp_register_ops(ops) };
    }
    if r != 0 {
        // SAFETY: releases whatever ftramp kept for this ops.
        unsafe { ftramp_unregister_ops(ops) };
        pr_err!("cannot hook {}: {}\n", c.name, r);
        return Err(Error::from_errno(r));
    }
    Ok(())
}

fn unhook(c: &mut Pin<KBox<Counter>>) {
    // SAFETY: hooked by `hook`; returns once no CPU can be in `count` for it.
    unsafe { ftramp_unregister_ops(&mut c.as_mut().get_unchecked_mut().ops) };
}

struct FtrampSampleRust {
    counters: [Pin<KBox<Counter>>; 2],
}

// SAFETY: the ops are only handed to ftramp, which synchronises their use.
unsafe impl Send for FtrampSampleRust {}
// SAFETY: as above.
unsafe impl Sync for FtrampSampleRust {}

fn counter(name: &'static CStr) -> Result<Pin<KBox<Counter>>> {
    Ok(KBox::pin(
        Counter {
            ops: FtrampOps {
                func: Some(count),
                private: core::ptr::null_mut(),
                flags: FTRAMP_OPS_FL_RECURSION,
                internal: core::ptr::null_mut(),
            },
            hits: AtomicUsize::new(0),
            name,
        },
        GFP_KERNEL,
    )?)
}

impl kernel::Module for FtrampSampleRust {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut counters = [
            counter(kernel::c_str!("vfs_read"))?,
            counter(kernel::c_str!("vfs_write"))?,
        ];
        hook(&mut counters[0])?;
        if let Err(e) = hook(&mut counters[1]) {
            unhook(&mut counters[0]);
            return Err(e);
        }
        pr_info!("counting vfs_read and vfs_write\n");
        Ok(Self { counters })
    }
}

impl Drop for FtrampSampleRust {
    fn drop(&mut self) {
        for c in self.counters.iter_mut() {
            unhook(c);
            pr_info!("{}: {} calls\n", c.name, c.hits.load(Ordering::Relaxed));
        }
    }
}
