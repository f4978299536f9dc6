// SPDX-License-Identifier: GPL-2.0

//! A per-CPU counter (`alloc_percpu(unsigned long)`), for hit counts and the return
//! trampolines' in-flight counts. Summed with wrapping: one CPU's increment and another's
//! decrement cancel.

use core::ptr::NonNull;

use kernel::{ffi, prelude::*};

use crate::{engine::fault, sys};

/// A per-CPU `unsigned long` counter.
///
/// # Invariants
///
/// `0` is a live `alloc_percpu(unsigned long)` owned by this value.
pub(crate) struct PerCpuCounter(NonNull<ffi::c_ulong>);

// SAFETY: a per-CPU counter may be incremented, summed and freed from any CPU.
unsafe impl Send for PerCpuCounter {}
// SAFETY: as above (each CPU increments its own copy).
unsafe impl Sync for PerCpuCounter {}

impl PerCpuCounter {
    /// A zeroed counter.
    pub(crate) fn new() -> Result<Self> {
        fault::point()?;
        // SAFETY: plain allocation.
        let p = unsafe { sys::ftramp_counter_alloc() };
        // INVARIANT: freshly allocated.
        Ok(Self(NonNull::new(p).ok_or(ENOMEM)?))
    }

    /// Adds one on this CPU.
    pub(crate) fn inc(&self) {
        // SAFETY: live (type invariant).
        unsafe { sys::ftramp_counter_inc(self.0.as_ptr()) };
    }

    /// The `__percpu` address (generated code updates it with `%gs:`-relative instructions).
    pub(crate) fn percpu_addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Sum over all CPUs.
    pub(crate) fn sum(&self) -> u64 {
        // SAFETY: live (type invariant).
        unsafe { sys::ftramp_counter_sum(self.0.as_ptr()) as u64 }
    }
}

impl Drop for PerCpuCounter {
    fn drop(&mut self) {
        // SAFETY: live and owned (type invariant); nobody increments it any more (the hook it
        // belongs to was unregistered and waited for before it is dropped).
        unsafe { sys::ftramp_counter_free(self.0.as_ptr()) };
    }
}
