// SPDX-License-Identifier: GPL-2.0

//! Return dispatch: which return ops asked for a call's return, and calling exactly those.
//!
//! The design follows the function_graph rewrite for several users (Rostedt/Hiramatsu,
//! ../shared/seeds/003: "a counter array ... save the counter to the shadow stack index as
//! well ... only call the return if the counter on the stack matches"), with the record in the
//! return trampoline's frame instead of a per-task shadow stack, and a 64-bit id instead of
//! an index plus a wrapping counter:
//!
//! - every registered return ops holds one slot of [`TABLE`] and an id `generation << 8 |
//!   slot`, where the generation is a 56-bit counter never reused (a slot freed and taken by
//!   another ops gets a new id);
//! - at entry, each return ops that wants this call's return appends `(id, cookie)` to the
//!   call record in the trampoline's frame ([`CallRecord`]);
//! - at return, an entry is delivered only if its slot still holds that id. Unregistering an
//!   ops clears its slot's id first and then waits until no return dispatch can be running
//!   (the engine's wait), so after `unregister` returns its return callback is never called
//!   again, and an ops that later takes the slot never receives a return it did not enter.
//!
//! Upstream's fgraph keeps no generation: a reused index can receive a return it never saw
//! enter (it only makes reuse unlikely with an LRU of indexes). Here reuse is immediate (the
//! lowest free slot) and harmless.

use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use kernel::{ffi, prelude::*};

use super::guard::Guard;
use crate::{dispatch::list::SiteHot, sys};

/// Return ops one call can record (`FTRAMP_MAX_RET_OPS`), and so on one function.
pub(crate) const MAX_PER_CALL: usize = sys::FTRAMP_MAX_RET_OPS as usize;
/// Return ops registered at once.
pub(crate) const SLOTS: usize = 256;

/// One recorded return.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    id: u64,
    cookie: u64,
}

/// The call record: in the return trampoline's frame, just below the saved registers.
#[repr(C)]
pub(crate) struct CallRecord {
    nr: u64,
    entries: [Entry; MAX_PER_CALL],
}

/// Bytes the return trampoline reserves for the record.
pub(crate) const RECORD_SIZE: usize = core::mem::size_of::<CallRecord>();

/// One slot of the return ops table.
struct RetSlot {
    /// The id of the ops holding the slot, 0 if none.
    id: AtomicU64,
    ops: AtomicPtr<sys::ftramp_ops>,
}

/// The return ops table, read by the return dispatch from any context.
static TABLE: [RetSlot; SLOTS] = [const {
    RetSlot {
        id: AtomicU64::new(0),
        ops: AtomicPtr::new(core::ptr::null_mut()),
    }
}; SLOTS];

/// Return dispatch counters.
pub(crate) struct RetStats {
    /// Return callbacks called.
    pub(crate) calls: AtomicU64,
    /// Recorded returns not delivered: the ops unregistered while the call was inside.
    pub(crate) stale: AtomicU64,
    /// Returns an entry wanted but the record was full (cannot happen: the engine refuses a
    /// site more return ops than a record holds).
    pub(crate) overflow: AtomicU64,
}

pub(crate) static STATS: RetStats = RetStats {
    calls: AtomicU64::new(0),
    stale: AtomicU64::new(0),
    overflow: AtomicU64::new(0),
};

pub(crate) fn slot_of(id: u64) -> usize {
    (id & 0xff) as usize
}

/// The generation part of an id.
pub(crate) fn generation_of(id: u64) -> u64 {
    id >> 8
}

/// Which slots are free, and the generation counter. Owned by the engine (its lock).
///
/// # Invariants
///
/// A slot is `Used` exactly while [`TABLE`] holds a registered ops' id there. A `Pending`
/// slot was cleared when wait epoch `.0` had begun; it is reused only once a wait begun after
/// that has completed (no return dispatch still reads it).
pub(crate) struct RetTable {
    state: [SlotState; SLOTS],
    generation: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Used,
    Pending(u64),
}

impl RetTable {
    /// An empty table.
    pub(crate) const fn new() -> Self {
        Self {
            state: [SlotState::Free; SLOTS],
            generation: 0,
        }
    }

    fn reusable(s: SlotState) -> bool {
        match s {
            SlotState::Free => true,
            SlotState::Used => false,
            SlotState::Pending(e) => crate::engine::retire::waited_since(e),
        }
    }

    /// Gives `ops` the lowest reusable slot and a new id (0 never is one).
    pub(crate) fn alloc(&mut self, ops: *mut sys::ftramp_ops) -> Result<u64> {
        let slot = self
            .state
            .iter()
            .position(|s| Self::reusable(*s))
            .ok_or(ENOSPC)?;
        self.generation += 1;
        let id = (self.generation << 8) | slot as u64;
        self.state[slot] = SlotState::Used;
        TABLE[slot].ops.store(ops, Ordering::Relaxed);
        // INVARIANT: the ops is stored before its id makes the slot match.
        TABLE[slot].id.store(id, Ordering::Release);
        Ok(id)
    }

    /// Withdraws `id`: from now on no return is delivered for it; the slot is reused after the
    /// engine's next wait.
    pub(crate) fn release(&mut self, id: u64) {
        let slot = slot_of(id);
        if TABLE[slot].id.load(Ordering::Relaxed) == id {
            TABLE[slot].id.store(0, Ordering::Release);
            // INVARIANT: cleared now; reusable after a wait that begins from now on.
            self.state[slot] = SlotState::Pending(crate::engine::retire::waits_started());
        }
    }

    /// Slots held by registered return ops.
    pub(crate) fn used(&self) -> usize {
        self.state.iter().filter(|s| **s == SlotState::Used).count()
    }

    /// The ids of the registered return ops, lowest slot first (for `stats`: a test sees
    /// which slot a new ops took and that its generation is new).
    pub(crate) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.state
            .iter()
            .zip(TABLE.iter())
            .filter(|(s, _)| **s == SlotState::Used)
            .map(|(_, t)| t.id.load(Ordering::Relaxed))
    }
}

/// The record of the call whose saved registers are at `regs`.
///
/// # Safety
///
/// `regs` is the `ftramp_regs` of a return trampoline's frame (only the return trampoline
/// calls the functions below with a record-bearing frame).
unsafe fn record_of<'a>(regs: *mut sys::ftramp_regs) -> &'a mut CallRecord {
    // SAFETY: the record lies just below the saved registers in the same frame, owned by this
    // call and used only in its own context.
    unsafe { &mut *regs.cast::<u8>().sub(RECORD_SIZE).cast::<CallRecord>() }
}

/// Runs the entry of return ops `ops` (id `id`) for one call and records the return if it
/// asks for it.
///
/// # Safety
///
/// As [`record_of`]; `ops` is a registered return ops.
unsafe fn enter(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    regs: *mut sys::ftramp_regs,
    id: u64,
) {
    let mut cookie = 0u64;
    // SAFETY: `ops` is registered (function safety requirement); its callbacks are valid.
    let want = match unsafe { (*ops).entry_func } {
        // SAFETY: as above.
        Some(f) => unsafe { f(ip, parent_ip, ops, regs, &mut cookie) },
        None => true,
    };
    if !want {
        return;
    }
    // SAFETY: function safety requirement.
    let rec = unsafe { record_of(regs) };
    let n = rec.nr as usize;
    if let Some(e) = rec.entries.get_mut(n) {
        *e = Entry { id, cookie };
        rec.nr += 1;
    } else {
        STATS.overflow.fetch_add(1, Ordering::Relaxed);
    }
}

/// Entry stub target of a guarded return ops: `movabs $ops,%rdx; movabs $id,%r8; jmp here`.
///
/// # Safety
///
/// Called only through a return ops' entry stub, from a return trampoline's entry dispatch.
pub(crate) unsafe extern "C" fn ret_entry(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    regs: *mut sys::ftramp_regs,
    id: u64,
) {
    // SAFETY: ftramp's dispatch code runs only after module init (`guard::init()`); the
    // guard is kept to the end of the function (or of the match arm).
    let Some(_guard) = (unsafe { Guard::enter(ip, parent_ip) }) else {
        return;
    };
    // SAFETY: function safety requirement.
    unsafe { enter(ip, parent_ip, ops, regs, id) };
}

/// Entry stub target of a return ops that guards its own recursion.
///
/// # Safety
///
/// As [`ret_entry`].
pub(crate) unsafe extern "C" fn ret_entry_raw(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    regs: *mut sys::ftramp_regs,
    id: u64,
) {
    // SAFETY: function safety requirement.
    unsafe { enter(ip, parent_ip, ops, regs, id) };
}

/// The list iterator of a return trampoline's entry dispatch: every ops of the site's list,
/// entry-only ops called, return ops entered and recorded.
///
/// # Safety
///
/// Called only by a return trampoline: `site` is the `SiteHot` baked into it, alive until the
/// engine's wait after the trampoline's entry became unreachable.
pub(crate) unsafe extern "C" fn list_iter_ret(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    site: *const SiteHot,
    regs: *mut sys::ftramp_regs,
) {
    // SAFETY: ftramp's dispatch code runs only after module init (`guard::init()`); the
    // guard is kept to the end of the function (or of the match arm).
    let Some(_guard) = (unsafe { Guard::enter(ip, parent_ip) }) else {
        return;
    };
    // SAFETY: `site` is valid (function safety requirement); the list stays valid while
    // preemption is disabled (see `list::list_iter`).
    unsafe {
        (*site).for_each(|op, id| {
            if id != 0 {
                enter(ip, parent_ip, op, regs, id);
            } else if let Some(f) = (*op).func {
                f(ip, parent_ip, op, regs);
            }
        })
    };
}

/// The record of the call whose return registers are at `ret`.
///
/// # Safety
///
/// `ret` is the `ftramp_ret_regs` a return trampoline's return dispatch passes.
unsafe fn record_of_ret<'a>(ret: *mut sys::ftramp_ret_regs) -> &'a CallRecord {
    // SAFETY: `ret->regs` points at the saved registers of the same frame.
    unsafe { record_of((*ret).regs) }
}

/// Delivers the recorded returns of one call, those with `only` if it is non-zero, those of
/// self-guarded ops only if `self_guarded_only`.
///
/// # Safety
///
/// As [`record_of_ret`]; preemption is disabled.
unsafe fn deliver(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    ret: *mut sys::ftramp_ret_regs,
    only: u64,
    self_guarded_only: bool,
) {
    // SAFETY: function safety requirement.
    let rec = unsafe { record_of_ret(ret) };
    let n = (rec.nr as usize).min(MAX_PER_CALL);
    for e in &rec.entries[..n] {
        let slot = &TABLE[slot_of(e.id)];
        let id = slot.id.load(Ordering::Acquire);
        // SAFETY: plain read of a test knob (the mutant compares slots only: no generation).
        let stale = if unsafe { sys::ftramp_mutant_ret() } == 1 {
            id == 0
        } else {
            id != e.id
        };
        if stale {
            STATS.stale.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if only != 0 && e.id != only {
            // Another ops' entry, still registered but no longer on this site (it left while
            // the call was inside): it was being detached, so at most once is its due.
            continue;
        }
        let op = slot.ops.load(Ordering::Relaxed);
        // SAFETY: the slot still holds the id, so `op` is registered; an unregister clears
        // the id and then waits for every return dispatch (they run with preemption disabled),
        // so `op` stays valid until this returns.
        unsafe {
            if self_guarded_only && (*op).flags & sys::FTRAMP_OPS_FL_RECURSION as ffi::c_ulong == 0
            {
                continue;
            }
            if let Some(f) = (*op).ret_func {
                f(ip, parent_ip, op, ret, e.cookie);
                STATS.calls.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Return dispatch with several return ops on the site (or none left): every recorded return.
///
/// # Safety
///
/// Called only by a return trampoline's return dispatch.
pub(crate) unsafe extern "C" fn ret_iter(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    _site: *const SiteHot,
    ret: *mut sys::ftramp_ret_regs,
) {
    // SAFETY: function safety requirement.
    if unsafe { record_of_ret(ret) }.nr == 0 {
        return;
    }
    // SAFETY: ftramp's dispatch code runs only after module init (`guard::init()`); the
    // guard is kept to the end of the function (or of the match arm).
    match unsafe { Guard::enter(ip, parent_ip) } {
        // SAFETY: function safety requirement.
        Some(_guard) => unsafe { deliver(ip, parent_ip, ret, 0, false) },
        // The call entered inside a guarded callback. A self-guarded ops alone on the site
        // was entered without the guard (its raw stub) and the site went list meanwhile: its
        // return is still its due; a guarded ops' entry was refused the same way.
        // SAFETY: function safety requirement.
        None => unsafe { deliver(ip, parent_ip, ret, 0, true) },
    }
}

/// Return stub target of a guarded return ops alone on its site: its own recorded return.
///
/// # Safety
///
/// Called only through a return ops' return stub, from a return dispatch.
pub(crate) unsafe extern "C" fn ret_one(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    _ops: *mut sys::ftramp_ops,
    ret: *mut sys::ftramp_ret_regs,
    id: u64,
) {
    // SAFETY: function safety requirement.
    if unsafe { record_of_ret(ret) }.nr == 0 {
        return;
    }
    // SAFETY: ftramp's dispatch code runs only after module init (`guard::init()`); the
    // guard is kept to the end of the function (or of the match arm).
    let Some(_guard) = (unsafe { Guard::enter(ip, parent_ip) }) else {
        return;
    };
    // SAFETY: function safety requirement.
    unsafe { deliver(ip, parent_ip, ret, id, false) };
}

/// Return stub target of a return ops alone on its site that guards its own recursion.
///
/// # Safety
///
/// As [`ret_one`].
pub(crate) unsafe extern "C" fn ret_one_raw(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    _ops: *mut sys::ftramp_ops,
    ret: *mut sys::ftramp_ret_regs,
    id: u64,
) {
    // SAFETY: function safety requirement.
    unsafe { deliver(ip, parent_ip, ret, id, false) };
}

/// Addresses for encoding: (entry stub target, return stub target) of an ops with `flags`.
pub(crate) fn stub_targets(self_guarded: bool) -> (usize, usize) {
    if self_guarded {
        (
            ret_entry_raw as *const () as usize,
            ret_one_raw as *const () as usize,
        )
    } else {
        (
            ret_entry as *const () as usize,
            ret_one as *const () as usize,
        )
    }
}

/// Address of [`list_iter_ret`].
pub(crate) fn addr_of_list_iter() -> usize {
    list_iter_ret as *const () as usize
}

/// Address of [`ret_iter`].
pub(crate) fn addr_of_ret_iter() -> usize {
    ret_iter as *const () as usize
}
