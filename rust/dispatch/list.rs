// SPDX-License-Identifier: GPL-2.0

//! A site's ops list, published with RCU: the writer (the engine, under its lock) and the
//! reader (the list iterator, from any context) in one place.
//!
//! A list is an immutable array once published, replaced whole (copy on write). The one change
//! made in place is a tombstone: an entry set to null, which the iterator skips. That is how
//! the engine removes an ops when it cannot allocate a new list (an unregister must not fail);
//! an iterator racing with it calls the leaving ops or not, at most once, and never misses
//! another entry.

use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{ffi, prelude::*};

use super::guard::Guard;
use crate::{engine::fault, sys};

/// One list entry: an ops, and its return id (0 for an entry-only ops).
struct ListEntry {
    op: AtomicPtr<sys::ftramp_ops>,
    id: u64,
}

/// One list: the ops of a site, in attach order.
pub(crate) struct OpsList {
    ops: KVec<ListEntry>,
}

impl OpsList {
    /// A list of `ops` with their return ids, not yet published.
    pub(crate) fn new(
        ops: impl ExactSizeIterator<Item = (*mut sys::ftramp_ops, u64)>,
    ) -> Result<KBox<Self>> {
        fault::point()?;
        let mut v = KVec::with_capacity(ops.len(), GFP_KERNEL)?;
        for (op, id) in ops {
            v.push(
                ListEntry {
                    op: AtomicPtr::new(op),
                    id,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(KBox::new(Self { ops: v }, GFP_KERNEL)?)
    }
}

/// The part of a site that its trampoline passes to the iterator (baked in as `%rdx`).
///
/// # Invariants
///
/// `list` is null or a leaked `KBox<OpsList>` owned by this value; a list it replaced is
/// handed back to the writer, who frees it only after the engine's wait (readers may still be
/// in it).
pub(crate) struct SiteHot {
    list: AtomicPtr<OpsList>,
}

impl SiteHot {
    /// An empty site (the iterator calls nothing).
    pub(crate) fn new() -> Result<KBox<Self>> {
        fault::point()?;
        Ok(KBox::new(
            Self {
                list: AtomicPtr::new(core::ptr::null_mut()),
            },
            GFP_KERNEL,
        )?)
    }

    /// Publishes `new` and returns the list it replaced, to be freed after the engine's wait.
    pub(crate) fn publish(&self, new: KBox<OpsList>) -> Option<KBox<OpsList>> {
        // INVARIANT: `new` is leaked into `list`; the old one is handed back.
        let old = self.list.swap(KBox::into_raw(new), Ordering::AcqRel);
        // SAFETY: `old` is null or a list leaked here before (type invariant), now unpublished.
        (!old.is_null()).then(|| unsafe { KBox::from_raw(old) })
    }

    /// Takes the list out (the site is retired and nothing can read it any more).
    pub(crate) fn take(&self) -> Option<KBox<OpsList>> {
        let old = self.list.swap(core::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: as in `publish`.
        (!old.is_null()).then(|| unsafe { KBox::from_raw(old) })
    }

    /// Calls `f(ops, return id)` for every live entry of the current list.
    ///
    /// # Safety
    ///
    /// Called by an iterator with preemption disabled: a replaced list is freed only after the
    /// engine's wait (RCU, RCU-tasks-rude and RCU-tasks).
    pub(crate) unsafe fn for_each(&self, mut f: impl FnMut(*mut sys::ftramp_ops, u64)) {
        let list = self.list.load(Ordering::Acquire);
        if list.is_null() {
            return;
        }
        // SAFETY: see the function's safety requirement.
        for e in unsafe { (*list).ops.iter() } {
            let op = e.op.load(Ordering::Relaxed);
            if !op.is_null() {
                f(op, e.id);
            }
        }
    }

    /// Nulls every entry of the current list that is `ops`, in place: no allocation. The ops
    /// may still be called by iterators already past the load until the engine's wait.
    pub(crate) fn tombstone(&self, ops: *mut sys::ftramp_ops) {
        let l = self.list.load(Ordering::Acquire);
        if l.is_null() {
            return;
        }
        // SAFETY: the writer (engine lock held) owns the published list until it replaces it.
        for e in unsafe { (*l).ops.iter() } {
            let _ = e.op.compare_exchange(
                ops,
                core::ptr::null_mut(),
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
    }
}

impl Drop for SiteHot {
    fn drop(&mut self) {
        // Only retired sites are dropped, after the wait: nobody reads the list.
        drop(self.take());
    }
}

/// The list iterator: calls every ops of `site`'s current list.
///
/// # Safety
///
/// Called only by a trampoline: `site` is the `SiteHot` baked into it, alive until the
/// engine's wait after the trampoline became unreachable.
pub(crate) unsafe extern "C" fn list_iter(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    site: *const SiteHot,
    regs: *mut sys::ftramp_regs,
) {
    // SAFETY: ftramp's dispatch code runs only after module init (`guard::init()`); the
    // guard is kept to the end of the function.
    let Some(_guard) = (unsafe { Guard::enter(ip, parent_ip) }) else {
        return;
    };
    // Test knob: widen the window between the call and the list load, where a switch away
    // from the iterator must still leave a list with every persistent ops.
    #[cfg(ftramp_test_knobs)]
    // SAFETY: no preconditions.
    unsafe {
        sys::ftramp_test_list_delay()
    };
    // SAFETY: `site` is valid (function safety requirement).
    let list = unsafe { (*site).list.load(Ordering::Acquire) };
    if !list.is_null() {
        // SAFETY: preemption is disabled, and a replaced list is freed only after the engine's
        // wait (RCU, RCU-tasks-rude and RCU-tasks: it covers readers where RCU is not
        // watching too), so `list` stays valid here.
        for e in unsafe { (*list).ops.iter() } {
            let op = e.op.load(Ordering::Relaxed);
            if op.is_null() {
                continue;
            }
            // SAFETY: `op` is a registered ops with a callback (checked at registration); it
            // stays valid until the engine's wait after it left every list.
            unsafe {
                if let Some(f) = (*op).func {
                    f(ip, parent_ip, op, regs);
                }
            }
        }
    }
}

/// Address of [`list_iter`], for encoding `call`s (opaque to the optimizer, see
/// `guard::fused_guard_addrs`).
pub(crate) fn addr_of_iter() -> usize {
    core::hint::black_box(list_iter as *const () as usize)
}
