// SPDX-License-Identifier: GPL-2.0

//! ftramp's exported C API (`rust/ftramp_api.h`; the `EXPORT_SYMBOL_GPL`s are in
//! `exports.c`): parses and resolves filter text, then calls the engine, as the tracefs UI
//! does. Other modules can only call it between ftramp's init and exit: they hold a reference
//! on ftramp while loaded, so the engine published here outlives every caller.

use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{ffi, prelude::*, sync::Mutex};

use crate::{
    engine::{ops::OpsPtr, Engine},
    filter,
    functions::{self, Func},
    sys, vec,
};

static ENGINE: AtomicPtr<Mutex<Engine>> = AtomicPtr::new(core::ptr::null_mut());

/// Makes `engine` the one the C API and the module notifier use. It must stay valid until
/// [`unpublish`].
pub(crate) fn publish(engine: &Mutex<Engine>) {
    ENGINE.store(
        core::ptr::from_ref::<Mutex<Engine>>(engine).cast_mut(),
        Ordering::Release,
    );
}

/// Withdraws the engine (module exit), and waits for the drain work, which uses it.
pub(crate) fn unpublish() {
    ENGINE.store(core::ptr::null_mut(), Ordering::Release);
    // SAFETY: process context; the work finds no engine from now on and does not re-arm.
    unsafe { sys::ftramp_drain_stop() };
}

/// The drain work (`rust/helpers/ret.c`): frees drained return trampolines; returns whether
/// any is still draining (the work re-arms itself then).
#[no_mangle]
pub extern "C" fn ftramp_drain_tick() -> bool {
    with_engine(|e| e.drain(true)).unwrap_or(false)
}

/// Runs `f` on the published engine, under its lock; `None` if there is none.
pub(crate) fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> Option<R> {
    let e = ENGINE.load(Ordering::Acquire);
    if e.is_null() {
        return None;
    }
    // SAFETY: a published engine stays valid until `unpublish`, and module exit drops it only
    // after the module notifier is unregistered (which waits for a running call) and when no
    // module using this API is loaded (see the module comment).
    let engine = unsafe { &*e };
    Some(f(&mut engine.lock()))
}

fn errno(r: Option<Result>) -> ffi::c_int {
    match r {
        None => ENODEV.to_errno(),
        Some(Ok(())) => 0,
        Some(Err(e)) => e.to_errno(),
    }
}

/// The filter `text` applied to `current`: names and globs added, `!` ones removed.
fn apply_filter(current: Option<&[Func]>, text: &[u8], limit: usize) -> Result<KVec<Func>> {
    let mut new: KVec<Func> = KVec::new();
    for f in current.unwrap_or(&[]) {
        new.push(f.try_clone()?, GFP_KERNEL)?;
    }
    let mut err = None;
    filter::parse(text, |t| {
        if err.is_some() {
            return;
        }
        match functions::resolve(t.pattern, limit) {
            Ok(funcs) => {
                for f in funcs {
                    let at = new.iter().position(|n| n.ip == f.ip);
                    match (t.remove, at) {
                        (true, Some(i)) => drop(vec::remove(&mut new, i)),
                        (false, None) => {
                            if let Err(e) = new.push(f, GFP_KERNEL) {
                                err = Some(e.into());
                            }
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => err = Some(e),
        }
    })
    .map_err(|_| EINVAL)?;
    match err {
        Some(e) => Err(e),
        None if new.len() > limit => Err(E2BIG),
        None => Ok(new),
    }
}

/// `int ftramp_set_filter(struct ftramp_ops *ops, const char *filter, int reset)`.
///
/// # Safety
///
/// `ops` is a valid ops owned by the caller, kept valid until it is unregistered; `filter`
/// is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ftramp_set_filter(
    ops: *mut sys::ftramp_ops,
    filter: *const ffi::c_char,
    reset: ffi::c_int,
) -> ffi::c_int {
    // SAFETY: by the function's safety requirements.
    let Some(ops) = (unsafe { OpsPtr::new(ops) }) else {
        return EINVAL.to_errno();
    };
    let text: &[u8] = if filter.is_null() {
        &[]
    } else {
        // SAFETY: NUL-terminated by the function's safety requirements.
        unsafe { crate::compat::c_bytes(filter) }
    };
    errno(with_engine(|e| {
        let (_, limit) = e.slots();
        let current = if reset != 0 { None } else { e.funcs_of(ops) };
        let new = apply_filter(current, text, limit)?;
        e.set_funcs(ops, new)
    }))
}

/// `int ftramp_register_ops(struct ftramp_ops *ops)`.
///
/// # Safety
///
/// `ops` is a valid ops owned by the caller, unchanged until it is unregistered.
#[no_mangle]
pub unsafe extern "C" fn ftramp_register_ops(ops: *mut sys::ftramp_ops) -> ffi::c_int {
    // SAFETY: by the function's safety requirements.
    let Some(ops) = (unsafe { OpsPtr::new(ops) }) else {
        return EINVAL.to_errno();
    };
    errno(with_engine(|e| e.register(ops)))
}

/// `int ftramp_unregister_ops(struct ftramp_ops *ops)`: cannot fail (returns 0, or -ENODEV
/// with no engine, which cannot happen while the caller is loaded).
///
/// # Safety
///
/// `ops` is a valid ops owned by the caller.
#[no_mangle]
pub unsafe extern "C" fn ftramp_unregister_ops(ops: *mut sys::ftramp_ops) -> ffi::c_int {
    // SAFETY: by the function's safety requirements.
    let Some(ops) = (unsafe { OpsPtr::new(ops) }) else {
        return EINVAL.to_errno();
    };
    errno(with_engine(|e| {
        e.unregister(ops);
        Ok(())
    }))
}

// The Rust definitions above have exactly the prototypes bindgen generated from
// `ftramp_api.h` (`sys::ftramp_*`): a drift between header and code fails the build here.
const _: () = {
    let _ = [sys::ftramp_set_filter, ftramp_set_filter];
    let _ = [sys::ftramp_register_ops, ftramp_register_ops];
    let _ = [sys::ftramp_unregister_ops, ftramp_unregister_ops];
    let _ = [sys::ftramp_drain_tick, ftramp_drain_tick];
};
