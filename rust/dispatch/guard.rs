// SPDX-License-Identifier: GPL-2.0

//! The recursion guard of ops without `FTRAMP_OPS_FL_RECURSION` and of the list iterators:
//! ftrace's list-level bit of the running task ([`super::recursion`]), taken and released
//! inline. ftrace's own list function and recursion assist take the same bit through
//! `trace_test_and_set_recursion()`, so a callback that reaches a function hooked by either
//! is refused in the same context by both.
//!
//! Unlike `trace_test_and_set_recursion()`, the guard leaves the preemption count alone: every
//! dispatch that reaches a guard already runs with preemption disabled by its trampoline
//! (`arch/x86/trampoline.rs`), so the guard is two per-CPU loads, a test and a store of the
//! task's word. It does not refuse where RCU is not watching either (`trace_warn_on_no_rcu`,
//! a debug option): ftramp's waits cover those callers.

use core::sync::atomic::{compiler_fence, AtomicUsize, Ordering};

use kernel::{ffi, prelude::*};

use super::recursion::{self, Layout};
use crate::{arch::this_cpu, sys};

/// Where `trace_recursion` is in `struct task_struct`: from C, not from bindgen, whose layout
/// of the task differs from the kernel's on 7.3 (by 48 bytes before this field).
static TRACE_RECURSION: AtomicUsize = AtomicUsize::new(0);

/// Takes the field's offset and the per-CPU addresses the guard reads; called by module init
/// before anything can dispatch.
pub(crate) fn init() -> Result {
    this_cpu::init()?;
    // SAFETY: no preconditions.
    let off = unsafe { sys::ftramp_trace_recursion_offset() };
    if off == 0 {
        return Err(EINVAL);
    }
    TRACE_RECURSION.store(off, Ordering::Relaxed);
    Ok(())
}

/// This kernel's preemption count layout (bindgen's copy of the kernel's macros).
const LAYOUT: Layout = Layout {
    softirq_offset: sys::ftramp_preempt_layout_FTRAMP_SOFTIRQ_OFFSET,
    hardirq_mask: sys::ftramp_preempt_layout_FTRAMP_HARDIRQ_MASK,
    nmi_mask: sys::ftramp_preempt_layout_FTRAMP_NMI_MASK,
};

/// The list-level recursion bit of the running task, held until drop.
///
/// # Invariants
///
/// `word` is the `trace_recursion` of the task that took the guard, and bit `bit` of it was set
/// by this guard. The guard is dropped by that task in the context that took it: it lives in
/// one dispatch function's frame and is not `Send` (a raw pointer), so the task is alive and
/// still owns the word (preempted or not, a task is its own `current`).
pub(crate) struct Guard {
    word: *mut ffi::c_ulong,
    bit: u32,
}

/// The running task's `trace_recursion`.
///
/// # Safety
///
/// [`init()`] succeeded.
#[inline(always)]
unsafe fn running_word() -> *mut ffi::c_ulong {
    // SAFETY: `init()` succeeded (function safety requirement).
    let task = unsafe { this_cpu::current_task() };
    // SAFETY: `task` is the running task, alive while it runs, and `TRACE_RECURSION` the
    // offset of its `trace_recursion` from C's `offsetof` (set by `init()`), inside the
    // task_struct.
    unsafe {
        task.cast::<u8>()
            .add(TRACE_RECURSION.load(Ordering::Relaxed))
            .cast::<ffi::c_ulong>()
    }
}

impl Guard {
    /// Takes the bit for the current context, or refuses (`None`, counted in
    /// [`super::GUARD_SKIPS`] and recorded as ftrace records a refusal) when ftrace's rule
    /// does: the callback being run has, in this context, reached a hooked function again.
    ///
    /// # Safety
    ///
    /// [`init()`] succeeded (module init runs it before anything can dispatch), and the guard
    /// is kept in the caller's frame (bound to a name: `let Some(_guard) = ...`, not `_`).
    #[inline(always)]
    pub(crate) unsafe fn enter(ip: ffi::c_ulong, parent_ip: ffi::c_ulong) -> Option<Self> {
        // SAFETY: `init()` succeeded (function safety requirement).
        let word = unsafe { running_word() };
        // SAFETY: the running task's word, which only the task itself changes
        // (include/linux/trace_recursion.h); an interrupt that does restores it before
        // returning.
        let val = unsafe { word.read_volatile() };
        // SAFETY: `init()` succeeded (function safety requirement).
        let pc = unsafe { this_cpu::preempt_count_low() };
        let Some(bit) = recursion::claim(val as u64, pc, LAYOUT) else {
            super::GUARD_SKIPS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: no preconditions.
            unsafe { sys::ftramp_recursion_refused(ip, parent_ip) };
            return None;
        };
        // SAFETY: as for the read.
        unsafe { word.write_volatile(val | (1 << bit)) };
        // What the callback does comes after the bit is set (a compiler barrier, as the
        // kernel's: the bit is only ever read by this task).
        compiler_fence(Ordering::SeqCst);
        // INVARIANT: the running task's word, bit set here; the caller keeps the guard in its
        // frame (function safety requirement).
        Some(Self { word, bit })
    }

    /// Hands the guard over to generated code as its bit (a fused stub keeps it in a
    /// register): released by [`Guard::release_bit`], not by drop.
    fn into_bit(self) -> u32 {
        let bit = self.bit;
        core::mem::forget(self);
        bit
    }

    /// Releases bit `bit` of the running task's word.
    ///
    /// # Safety
    ///
    /// `bit` came from [`Guard::into_bit`] in this task and context, and was not released.
    unsafe fn release_bit(bit: u32) {
        // SAFETY: `init()` succeeded before the guard was taken.
        let word = unsafe { running_word() };
        // INVARIANT: the running task's word, whose bit `bit` the guard handed over by
        // `into_bit` set (function safety requirement); dropped right here.
        drop(Self { word, bit });
    }
}

/// The recursion guard of a fused stub's ops that do not guard themselves
/// (`arch/x86/fused_layout.rs`): taken once before its first ops, for all of them, instead of
/// one `ops_assist` call each. Returns the bit taken, or -1 if ftrace's rule refuses (the
/// stub then skips those ops, and still calls the ones that guard themselves).
///
/// # Safety
///
/// Called only by a fused stub, which releases a bit it got with [`fused_guard_release`] in
/// the same context before it returns.
pub(crate) unsafe extern "C" fn fused_guard_take(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
) -> ffi::c_int {
    // SAFETY: ftramp's dispatch code runs only after module init (`init()`); the bit is
    // released by the stub (function safety requirement).
    match unsafe { Guard::enter(ip, parent_ip) } {
        Some(g) => g.into_bit() as ffi::c_int,
        None => -1,
    }
}

/// Releases what [`fused_guard_take`] took.
///
/// # Safety
///
/// `bit` is what `fused_guard_take` returned in this context (not -1), not yet released.
pub(crate) unsafe extern "C" fn fused_guard_release(bit: ffi::c_int) {
    // SAFETY: by the function's safety requirements.
    unsafe { Guard::release_bit(bit as u32) };
}

/// Addresses of [`fused_guard_take`] and [`fused_guard_release`], for encoding `call`s.
///
/// Opaque to the optimizer (`black_box`): folded into the encoder's rel32 range check, an
/// address became `function + 0x80000000 - 5`, a relocation into the middle of the function
/// that objtool (IBT, 7.x) reports as "relocation to !ENDBR".
pub(crate) fn fused_guard_addrs() -> (usize, usize) {
    core::hint::black_box((
        fused_guard_take as *const () as usize,
        fused_guard_release as *const () as usize,
    ))
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the task that took the guard is still the running one and owns `word`
        // (type invariant).
        unsafe {
            let val = self.word.read_volatile();
            self.word.write_volatile(val & !(1 << self.bit));
        }
    }
}
