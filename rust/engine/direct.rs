// SPDX-License-Identifier: GPL-2.0

//! The two kernel resources a site holds besides its code: its ftrace direct-call
//! registration ([`DirectCall`]) and the reference on the module whose function it hooks
//! ([`ModuleRef`]).

use kernel::{ffi, prelude::*, types::Opaque};

use super::fault;
use crate::sys;

/// One function's ftrace direct call to a trampoline.
///
/// # Invariants
///
/// `fops` is a zeroed-then-ftrace-owned `ftrace_ops` on the heap. `started` is true exactly
/// while it is registered with `register_ftrace_direct()` for `addr`; then ftrace may call
/// `addr` from the function's fentry at any time.
pub(crate) struct DirectCall {
    fops: core::mem::ManuallyDrop<KBox<Opaque<sys::ftrace_ops>>>,
    addr: usize,
    started: bool,
}

// SAFETY: the `ftrace_ops` is only handed to ftrace's own (locked) API, from process context.
unsafe impl Send for DirectCall {}

impl DirectCall {
    /// An unregistered direct call.
    pub(crate) fn new() -> Result<Self> {
        fault::point()?;
        // INVARIANT: zeroed, not registered.
        Ok(Self {
            fops: core::mem::ManuallyDrop::new(KBox::new(
                Opaque::new(sys::ftrace_ops::default()),
                GFP_KERNEL,
            )?),
            addr: 0,
            started: false,
        })
    }

    /// Makes the function at fentry `ip` call `addr`. On error nothing is registered, but ftrace
    /// may have called `addr` for a moment (it adds its ops before it can refuse): `addr` must
    /// be retired, not freed at once.
    pub(crate) fn start(&mut self, ip: usize, addr: usize) -> Result {
        let fops = self.fops.get();
        fault::point()?;
        // SAFETY: `fops` is ours and unregistered; `ip` is a fentry site (checked by `resolve`).
        let r = unsafe { sys::ftrace_set_filter_ip(fops, ip as ffi::c_ulong, 0, 0) };
        kernel::error::to_result(r)?;
        // SAFETY: `fops` has its filter; the code at `addr` is complete. ftrace patches the
        // fentry site with its own synchronised text poke.
        let mut r = unsafe { sys::register_ftrace_direct(fops, addr as ffi::c_ulong) };
        if r == 0 && fault::point().is_err() {
            // Injected refusal after the call went live: the path of a late ftrace failure.
            // SAFETY: registered just above.
            r = match unsafe { sys::unregister_ftrace_direct(fops, addr as ffi::c_ulong, false) } {
                0 => EBUSY.to_errno(),
                e => {
                    // Still registered: keep it as started.
                    self.addr = addr;
                    self.started = true;
                    return Err(Error::from_errno(e));
                }
            };
        }
        if let Err(e) = kernel::error::to_result(r) {
            // SAFETY: `fops` is not registered; this frees its filter hash.
            unsafe { sys::ftrace_free_filter(fops) };
            return Err(e);
        }
        // INVARIANT: registered for `addr`.
        self.addr = addr;
        self.started = true;
        Ok(())
    }

    /// Detaches ftrace from the function. On error (ftrace refused, or the test knob) the
    /// function may still call `addr`: the caller must keep that code alive forever.
    pub(crate) fn stop(&mut self) -> Result {
        if !self.started {
            return Ok(());
        }
        let r = if fault::refuse_detach() {
            EBUSY.to_errno()
        } else {
            // SAFETY: registered for `addr` (type invariant); this also frees the filter.
            unsafe {
                sys::unregister_ftrace_direct(self.fops.get(), self.addr as ffi::c_ulong, true)
            }
        };
        kernel::error::to_result(r)?;
        // INVARIANT: unregistered.
        self.started = false;
        Ok(())
    }
}

impl Drop for DirectCall {
    fn drop(&mut self) {
        if self.started {
            // The engine stops every direct call before it drops one; if it did not, ftrace
            // still owns the ops: leak it rather than free memory ftrace uses.
            pr_warn!(
                "dropping a live direct call to {:#x}: leaking its ftrace_ops\n",
                self.addr
            );
        } else {
            // SAFETY: not registered (type invariant), so nobody else refers to it; dropped
            // exactly once, here.
            unsafe { core::mem::ManuallyDrop::drop(&mut self.fops) };
        }
    }
}

/// A reference on the module whose text holds a hooked function (none for vmlinux).
///
/// # Invariants
///
/// `0` is null or a module this value holds one reference on (`try_module_get()`).
pub(crate) struct ModuleRef(*mut sys::module);

// SAFETY: a module reference may be dropped from any process context.
unsafe impl Send for ModuleRef {}

impl ModuleRef {
    /// Pins the module of the function at `ip`: `ENOENT` if it is going away, `EPERM` if `ip`
    /// is in its `__init` text (freed after init, while a site would stay).
    pub(crate) fn get(ip: usize) -> Result<Self> {
        fault::point()?;
        // SAFETY: the symbols are bound (ftramp is loaded); `ftramp_module_get` calls
        // `__module_text_address` with preemption disabled, as that function requires.
        let m = unsafe { sys::ftramp_module_get(ip as ffi::c_ulong) };
        // INVARIANT: null, or referenced by `ftramp_module_get`.
        Ok(Self(kernel::error::from_err_ptr(m)?))
    }

    /// Whether the reference is on `m`.
    pub(crate) fn is(&self, m: *mut sys::module) -> bool {
        !self.0.is_null() && self.0 == m
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the reference taken in `get` (type invariant).
            unsafe { sys::ftramp_module_put(self.0) };
        }
    }
}
