// SPDX-License-Identifier: GPL-2.0

//! Module lifetime: a module notifier that, when a module goes away
//! (`MODULE_STATE_GOING`, after its exit function and before its memory is freed), detaches
//! every ops whose struct or callback lies in it (an API user that forgot to unregister:
//! WARN naming it) and every site on its text (a module whose init failed while one of its
//! functions was hooked; a live module cannot go, the site pins it).

use kernel::{ffi, prelude::*, types::Opaque};

use crate::sys;

/// The registered notifier; unregistered on drop (which waits for a running call).
pub(crate) struct ModuleNotifier {
    nb: Pin<KBox<Opaque<sys::notifier_block>>>,
}

// SAFETY: the block is only handed to the notifier chain, which synchronises its use.
unsafe impl Send for ModuleNotifier {}
// SAFETY: `&ModuleNotifier` gives no access to the block.
unsafe impl Sync for ModuleNotifier {}

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
        let nb = KBox::pin(
            Opaque::new(sys::notifier_block {
                notifier_call: Some(notify),
                ..Default::default()
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `nb` is pinned on the heap and stays registered until `drop`.
        kernel::error::to_result(unsafe { sys::register_module_notifier(nb.get()) })?;
        Ok(Self { nb })
    }
}

impl Drop for ModuleNotifier {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; the chain's rwsem makes this wait for a running call.
        unsafe { sys::unregister_module_notifier(self.nb.get()) };
    }
}

/// Whether `addr` lies in module `m` (core or init memory).
pub(crate) fn within(addr: usize, m: *mut sys::module) -> bool {
    // SAFETY: `m` is a module that is still allocated (the notifier's argument).
    unsafe { sys::ftramp_within_module(addr as ffi::c_ulong, m) }
}
