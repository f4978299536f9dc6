// SPDX-License-Identifier: GPL-2.0

//! Rust sample of ftramp's C API: one ops per function (`vfs_read`, `vfs_write`), each
//! counting its calls, and a return ops counting the returns of `vfs_read`; prints the
//! counts at unload. Where ftramp refuses the return hook, the sample says so and keeps
//! the entry hooks.

use core::sync::atomic::{AtomicUsize, Ordering};

use kernel::{ffi, prelude::*, str::CStr, types::Opaque};

module! {
    type: FtrampSampleRust,
    name: "ftramp_sample_rust",
    description: "ftramp C API sample in Rust",
    license: "GPL",
}

// The C types' own names: with kCFI (CONFIG_CFI_CLANG) ftramp's iterators call these
// callbacks indirectly, and rustc encodes a `#[repr(C)]` struct pointer in the function's type
// hash by the struct's name, as C does; another name (or `c_void`) would fail the check.

/// `struct ftramp_regs` (rust/ftramp_api.h), opaque here.
#[repr(C)]
#[allow(non_camel_case_types)]
struct ftramp_regs {
    _opaque: [u8; 0],
}

/// `struct ftramp_ret_regs` (rust/ftramp_api.h).
#[repr(C)]
#[allow(non_camel_case_types)]
struct ftramp_ret_regs {
    ax: ffi::c_ulong,
    dx: ffi::c_ulong,
    regs: *mut ftramp_regs,
}

/// `struct ftramp_ops` (rust/ftramp_api.h).
#[repr(C)]
#[allow(non_camel_case_types)]
struct ftramp_ops {
    func:
        Option<unsafe extern "C" fn(ffi::c_ulong, ffi::c_ulong, *mut ftramp_ops, *mut ftramp_regs)>,
    private: *mut ffi::c_void,
    flags: ffi::c_ulong,
    internal: *mut ffi::c_void,
    entry_func: Option<
        unsafe extern "C" fn(
            ffi::c_ulong,
            ffi::c_ulong,
            *mut ftramp_ops,
            *mut ftramp_regs,
            *mut u64,
        ) -> bool,
    >,
    ret_func: Option<
        unsafe extern "C" fn(
            ffi::c_ulong,
            ffi::c_ulong,
            *mut ftramp_ops,
            *mut ftramp_ret_regs,
            u64,
        ),
    >,
}

/// `FTRAMP_OPS_FL_RECURSION`: the callback only does an atomic add.
const FTRAMP_OPS_FL_RECURSION: ffi::c_ulong = 1;

extern "C" {
    fn ftramp_set_filter(
        ops: *mut ftramp_ops,
        filter: *const ffi::c_char,
        reset: ffi::c_int,
    ) -> ffi::c_int;
    fn ftramp_register_ops(ops: *mut ftramp_ops) -> ffi::c_int;
    fn ftramp_unregister_ops(ops: *mut ftramp_ops) -> ffi::c_int;
}

/// An ops with its counter. The ops is `Opaque`: ftramp and its callbacks reach it through
/// raw pointers on other CPUs, so no `&`/`&mut` to it is ever made on the Rust side.
#[pin_data]
struct Counter {
    #[pin]
    ops: Opaque<ftramp_ops>,
    hits: AtomicUsize,
    name: &'static CStr,
}

/// # Safety
///
/// Called by ftramp's trampolines with an ops registered by this module.
unsafe extern "C" fn count(
    _ip: ffi::c_ulong,
    _parent_ip: ffi::c_ulong,
    ops: *mut ftramp_ops,
    _regs: *mut ftramp_regs,
) {
    // SAFETY: every ops of this module is the `ops` field of a live, pinned `Counter`
    // (`Opaque<T>` has `T`'s address).
    let c = unsafe { &*kernel::container_of!(ops.cast::<Opaque<ftramp_ops>>(), Counter, ops) };
    c.hits.fetch_add(1, Ordering::Relaxed);
}

/// # Safety
///
/// Called by ftramp's return trampolines with an ops registered by this module.
unsafe extern "C" fn count_return(
    _ip: ffi::c_ulong,
    _parent_ip: ffi::c_ulong,
    ops: *mut ftramp_ops,
    _ret: *mut ftramp_ret_regs,
    _cookie: u64,
) {
    // SAFETY: as in `count`.
    let c = unsafe { &*kernel::container_of!(ops.cast::<Opaque<ftramp_ops>>(), Counter, ops) };
    c.hits.fetch_add(1, Ordering::Relaxed);
}

/// Hooks `c.name` with `c.ops` (quietly: the caller says what a failure means).
fn hook(c: &Counter) -> Result {
    let ops = c.ops.get();
    // SAFETY: `ops` is valid and pinned until `unhook`; the name is NUL-terminated.
    let mut r = unsafe { ftramp_set_filter(ops, c.name.as_char_ptr(), 1) };
    if r == 0 {
        // SAFETY: as above.
        r = unsafe { ftramp_register_ops(ops) };
    }
    if r != 0 {
        // SAFETY: releases whatever ftramp kept for this ops (it cannot fail).
        unsafe { ftramp_unregister_ops(ops) };
        return Err(Error::from_errno(r));
    }
    Ok(())
}

fn unhook(c: &Counter) {
    // SAFETY: hooked by `hook`; returns once no CPU can be in `count` for it.
    unsafe { ftramp_unregister_ops(c.ops.get()) };
}

struct FtrampSampleRust {
    counters: [Pin<KBox<Counter>>; 2],
    /// Counts the returns of `vfs_read`, if ftramp took the return hook.
    returns: Option<Pin<KBox<Counter>>>,
}

// SAFETY: the ops are only handed to ftramp, which synchronises their use; the rest is an
// atomic and a static string.
unsafe impl Send for FtrampSampleRust {}
// SAFETY: as above.
unsafe impl Sync for FtrampSampleRust {}

/// A counter of `name`'s calls, or of its returns if `ret`.
fn counter(name: &'static CStr, ret: bool) -> Result<Pin<KBox<Counter>>> {
    KBox::try_pin_init(
        try_pin_init!(Counter {
            ops <- Opaque::ffi_init(|slot: *mut ftramp_ops| {
                // SAFETY: `slot` is the field's memory, valid for a write.
                unsafe {
                    slot.write(ftramp_ops {
                        // A return ops has no entry func (and here no entry_func: every
                        // call's return is counted).
                        func: if ret { None } else { Some(count) },
                        private: core::ptr::null_mut(),
                        flags: FTRAMP_OPS_FL_RECURSION,
                        internal: core::ptr::null_mut(),
                        entry_func: None,
                        ret_func: if ret { Some(count_return) } else { None },
                    })
                }
            }),
            hits: AtomicUsize::new(0),
            name,
        }? Error),
        GFP_KERNEL,
    )
}

impl kernel::Module for FtrampSampleRust {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let counters = [
            counter(kernel::c_str!("vfs_read"), false)?,
            counter(kernel::c_str!("vfs_write"), false)?,
        ];
        let rets = counter(kernel::c_str!("vfs_read"), true)?;
        if let Err(e) = hook(&counters[0]) {
            pr_err!("cannot hook {}: {:?}\n", counters[0].name, e);
            return Err(e);
        }
        if let Err(e) = hook(&counters[1]) {
            pr_err!("cannot hook {}: {:?}\n", counters[1].name, e);
            unhook(&counters[0]);
            return Err(e);
        }
        let returns = match hook(&rets) {
            Ok(()) => Some(rets),
            Err(e) => {
                pr_notice!("no return hook on vfs_read: {:?}\n", e);
                None
            }
        };
        pr_info!(
            "counting vfs_read and vfs_write{}\n",
            if returns.is_some() {
                " (and vfs_read's returns)"
            } else {
                ""
            }
        );
        Ok(Self { counters, returns })
    }
}

impl Drop for FtrampSampleRust {
    fn drop(&mut self) {
        for c in self.counters.iter() {
            unhook(c);
            pr_info!("{}: {} calls\n", c.name, c.hits.load(Ordering::Relaxed));
        }
        if let Some(c) = &self.returns {
            unhook(c);
            pr_info!("{}: {} returns\n", c.name, c.hits.load(Ordering::Relaxed));
        }
    }
}
