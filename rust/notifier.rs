// SPDX-License-Identifier: GPL-2.0

//! A registered `struct notifier_block`: the owning type behind the int3 handler (die chain)
//! and the module notifier (module chain).

use kernel::{ffi, prelude::*, types::Opaque};

use crate::sys;

/// A chain's `register_*_notifier()` / `unregister_*_notifier()`.
pub(crate) type ChainFn = unsafe extern "C" fn(*mut sys::notifier_block) -> ffi::c_int;

/// A notifier callback.
pub(crate) type CallFn =
    unsafe extern "C" fn(*mut sys::notifier_block, ffi::c_ulong, *mut ffi::c_void) -> ffi::c_int;

/// A notifier block registered on one chain; unregistered on drop (which, for every chain
/// ftramp uses, waits for a running call of it).
///
/// # Invariants
///
/// `nb` is pinned on the heap and registered with the chain of `unregister` until drop.
pub(crate) struct Notifier {
    nb: Pin<KBox<Opaque<sys::notifier_block>>>,
    unregister: ChainFn,
}

// SAFETY: the block is only handed to the chain, which synchronises its use.
unsafe impl Send for Notifier {}
// SAFETY: `&Notifier` gives no access to the block.
unsafe impl Sync for Notifier {}

impl Notifier {
    /// Registers `call` at `priority` with `register`.
    ///
    /// # Safety
    ///
    /// `register` and `unregister` belong to the same chain, and `call` is sound to run for
    /// every event of that chain, in the contexts the chain calls it in, until the drop.
    pub(crate) unsafe fn register(
        call: CallFn,
        priority: i32,
        register: ChainFn,
        unregister: ChainFn,
    ) -> Result<Self> {
        let nb = KBox::pin(
            Opaque::new(sys::notifier_block {
                notifier_call: Some(call),
                priority,
                ..Default::default()
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `nb` is pinned on the heap and stays registered until drop; `call` is fit
        // for the chain (the function's requirements).
        kernel::error::to_result(unsafe { register(nb.get()) })?;
        // INVARIANT: registered above.
        Ok(Self { nb, unregister })
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // SAFETY: registered with this chain (type invariant).
        unsafe { (self.unregister)(self.nb.get()) };
    }
}
