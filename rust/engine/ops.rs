// SPDX-License-Identifier: GPL-2.0

//! The engine's side of an ops: a checked pointer to the caller's `struct ftramp_ops`, and the
//! record the engine keeps for it (owned by the engine, keyed by the ops' address).

use core::ptr::NonNull;

use kernel::{ffi, prelude::*};

use crate::{arch::pool::Slot, functions::Func, sys};

/// A pointer to an ops the engine knows.
///
/// # Invariants
///
/// Points at a `struct ftramp_ops` that its owner keeps valid, with `func` and `flags`
/// unchanged, while the engine has a record for it (until `unregister` returns, or until the
/// owning module's `MODULE_STATE_GOING` notification force-detached it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpsPtr(NonNull<sys::ftramp_ops>);

// SAFETY: the pointee is only read (func, flags) or written (`internal`) under the engine lock,
// from any CPU; callbacks get the raw pointer.
unsafe impl Send for OpsPtr {}

impl OpsPtr {
    /// # Safety
    ///
    /// `ops` is null or valid for the engine's use as stated in the type invariants, from now
    /// until the engine forgets it.
    pub(crate) unsafe fn new(ops: *mut sys::ftramp_ops) -> Option<Self> {
        // INVARIANT: the caller guarantees validity.
        NonNull::new(ops).map(Self)
    }

    /// The raw pointer (what callbacks receive).
    pub(crate) fn as_ptr(self) -> *mut sys::ftramp_ops {
        self.0.as_ptr()
    }

    /// The key of its record: the ops' address.
    pub(crate) fn key(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The callback's address (0 if none) and the flags.
    pub(crate) fn func_and_flags(self) -> (usize, ffi::c_ulong) {
        // SAFETY: valid (type invariant); plain reads of fields the owner does not change.
        unsafe {
            let o = self.0.as_ptr();
            ((*o).func.map_or(0, |f| f as usize), (*o).flags)
        }
    }

    /// The addresses of its callbacks (0 where it has none), for the module-going check.
    pub(crate) fn callbacks(self) -> [usize; 3] {
        // SAFETY: valid (type invariant); plain reads of fields the owner does not change.
        unsafe {
            let o = self.0.as_ptr();
            [
                (*o).func.map_or(0, |f| f as usize),
                (*o).entry_func.map_or(0, |f| f as usize),
                (*o).ret_func.map_or(0, |f| f as usize),
            ]
        }
    }

    /// What the ops does at a site, or `None` if its callbacks are not a valid combination:
    /// `func` alone (entry-only), or `ret_func` with an optional `entry_func` (return ops).
    pub(crate) fn kind(self) -> Option<super::plan::Kind> {
        // SAFETY: valid (type invariant); plain reads of fields the owner does not change.
        let (func, entry, ret) = unsafe {
            let o = self.0.as_ptr();
            (
                (*o).func.is_some(),
                (*o).entry_func.is_some(),
                (*o).ret_func.is_some(),
            )
        };
        match (func, entry, ret) {
            (true, false, false) => Some(super::plan::Kind::Entry),
            (false, _, true) => Some(super::plan::Kind::Return),
            _ => None,
        }
    }

    /// Tells the owner whether ftramp holds state for the ops (`ops->internal`, non-null while
    /// it does; nothing reads it back).
    pub(crate) fn mark(self, held: bool) {
        let v = if held {
            self.0.as_ptr().cast()
        } else {
            core::ptr::null_mut()
        };
        // SAFETY: valid (type invariant); `internal` is ftramp's field and is read by no CPU
        // while ftramp writes it (callbacks never look at it).
        unsafe { (*self.0.as_ptr()).internal = v };
    }
}

/// What the engine keeps for one ops.
///
/// # Invariants
///
/// `stub` is `Some` exactly while the ops is registered, and then `filter` is exactly the set
/// of functions whose site lists the ops; otherwise it is what registering will attach to.
/// `filter` is sorted by ip, without duplicates. `ret_id` is the return ops' id in the return
/// table while it is registered (`dispatch::ret`), 0 otherwise and for entry-only ops; its
/// stub slot then holds its entry stub and its return stub.
pub(crate) struct OpsRec {
    pub(crate) ops: OpsPtr,
    pub(crate) filter: KVec<Func>,
    pub(crate) stub: Option<Slot>,
    pub(crate) kind: super::plan::Kind,
    pub(crate) ret_id: u64,
}
