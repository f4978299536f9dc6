// SPDX-License-Identifier: GPL-2.0

//! ftramp's exported C API (`rust/ftramp_api.h`; the `EXPORT_SYMBOL_GPL`s are in
//! `exports.c`). Other modules can only call it between ftramp's init and exit: they hold a
//! reference on ftramp while loaded, so the engine published here outlives every caller.

use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{ffi, prelude::*, str::CStr, sync::Mutex};

use crate::{registry::Engine, sys};

static ENGINE: AtomicPtr<Mutex<Engine>> = AtomicPtr::new(core::ptr::null_mut());

/// Makes `engine` the one the C API uses. It must stay valid until [`unpublish`].
pub(crate) fn publish(engine: &Mutex<Engine>) {
    ENGINE.store(
        (engine as *const Mutex<Engine>).cast_mut(),
        Ordering::Release,
    );
}

/// Withdraws the engine (module exit).
pub(crate) fn unpublish() {
    ENGINE.store(core::ptr::null_mut(), Ordering::Release);
}

fn with_engine(f: impl FnOnce(&mut Engine) -> Result) -> ffi::c_int {
    let e = ENGINE.load(Ordering::Acquire);
    if e.is_null() {
        return ENODEV.to_errno();
    }
    // SAFETY: published engines stay valid until `unpublish`, which happens only when no
    // module using this API is loaded (see the module comment).
    let engine = unsafe { &*e };
    match f(&mut engine.lock()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `int ftramp_set_filter(struct ftramp_ops *ops, const char *filter, int reset)`.
///
/// # Safety
///
/// `ops` is a valid ops owned by the caller; `filter` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ftramp_set_filter(
    ops: *mut sys::ftramp_ops,
    filter: *const ffi::c_char,
    reset: ffi::c_int,
) -> ffi::c_int {
    if ops.is_null() {
        return EINVAL.to_errno();
    }
    let text: &[u8] = if filter.is_null() {
        &[]
    } else {
        // SAFETY: NUL-terminated by the function's safety requirements.
        unsafe { CStr::from_char_ptr(filter) }.as_bytes()
    };
    with_engine(|e| e.set_filter(ops, text, reset != 0))
}

/// `int ftramp_register_ops(struct ftramp_ops *ops)`.
///
/// # Safety
///
/// `ops` is a valid ops owned by the caller, unchanged until it is unregistered.
#[no_mangle]
pub unsafe extern "C" fn ftramp_register_ops(ops: *mut sys::ftramp_ops) -> ffi::c_int {
    if ops.is_null() {
        return EINVAL.to_errno();
    }
    with_engine(|e| e.register(ops))
}

/// `int ftramp_unregister_ops(struct ftramp_ops *ops)`.
///
/// # Safety
///
/// `ops` is a valid ops owned by the caller.
#[no_mangle]
pub unsafe extern "C" fn ftramp_unregister_ops(ops: *mut sys::ftramp_ops) -> ffi::c_int {
    if ops.is_null() {
        return EINVAL.to_errno();
    }
    with_engine(|e| e.unregister(ops))
}
