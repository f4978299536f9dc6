// SPDX-License-Identifier: GPL-2.0

//! Module lifetime: a module notifier that, when a module goes away
//! (`MODULE_STATE_GOING`, after its exit function and before its memory is freed), detaches
//! every ops whose struct or callback lies in it (an API user that forgot to unregister:
//! WARN naming it) and every site on its text (a module whose init failed while one of its
//! functions was hooked; a live module cannot go, the site pins it).

use kernel::{ffi, prelude::*};

use crate::{notifier::Notifier, sys};

/// The registered notifier; unregistered on drop (which waits for a running call).
pub(crate) struct ModuleNotifier {
    /// Held for its drop, which unregisters.
    _registered: Notifier,
}

/// # Safety
///
/// Called by the module notifier chain; for `MODULE_STATE_GOING`, `data` is the module.
unsafe extern "C" fn notify(
    _nb: *mut sys::notifier_block,
    val: ffi::c_ulong,
    data: *mut ffi::c_void,
) -> ffi::c_int {
    if val == sys::module_state_MODULE_STATE_GOING as ffi::c_ulong {
        crate::api::with_engine(|e| e.module_going(data.cast()));
    }
    sys::NOTIFY_DONE as ffi::c_int
}

impl ModuleNotifier {
    /// Registers the notifier.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: the module chain's pair; `notify` runs in process context, where it may
        // take the engine's lock (no module chain call happens under it).
        let n = unsafe {
            Notifier::register(
                notify,
                0,
                sys::register_module_notifier,
                sys::unregister_module_notifier,
            )
        }?;
        Ok(Self { _registered: n })
    }
}

/// Whether `addr` lies in module `m` (core or init memory).
pub(crate) fn within(addr: usize, m: *mut sys::module) -> bool {
    // SAFETY: `m` is a module that is still allocated (the notifier's argument).
    unsafe { sys::ftramp_within_module(addr as ffi::c_ulong, m) }
}
