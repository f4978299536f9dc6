// SPDX-License-Identifier: GPL-2.0

//! ftramp's int3 handler: a die notifier that claims only int3s at ftramp's own dispatch
//! sites and emulates the call they stand for, so no callback is skipped while a site is
//! being switched.
//!
//! It runs in NMI-like context (the int3 entry did `nmi_enter()`, interrupts are off): no
//! locks, no allocation, no printing. Order on x86 6.12: `poke_int3_handler()`, then
//! `kprobe_int3_handler()`, then the die chain, where this notifier has the highest priority.

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::{ffi, prelude::*};

use crate::{
    arch::{pool, pool::SiteKind},
    notifier::Notifier,
    sys,
};

/// How often to re-read the record when the seqcount changed under the reader (race (b)).
const RETRIES: usize = 8;

/// Handler counters, by interrupted context: task, softirq, hardirq, NMI.
pub(crate) struct Int3Stats {
    /// Hits emulated with the in-flight record.
    pub(crate) emulated: [AtomicU64; 4],
    /// Hits at a live site whose switch had already finished (race (a)).
    pub(crate) stale: [AtomicU64; 4],
    /// Seqcount retries (race (b)).
    pub(crate) retries: AtomicU64,
    /// Emulated hits whose record had more than one entry: the site was found by the binary
    /// search of a batched round (a test requires these, so the search is really exercised).
    pub(crate) searched: AtomicU64,
    /// Hits emulated (or stale) at return dispatch sites.
    pub(crate) ret: AtomicU64,
}

pub(crate) static STATS: Int3Stats = Int3Stats {
    emulated: [const { AtomicU64::new(0) }; 4],
    stale: [const { AtomicU64::new(0) }; 4],
    retries: AtomicU64::new(0),
    searched: AtomicU64::new(0),
    ret: AtomicU64::new(0),
};

impl Int3Stats {
    /// Snapshot: (emulated, stale) per context.
    pub(crate) fn read(&self) -> ([u64; 4], [u64; 4]) {
        let f = |a: &[AtomicU64; 4]| core::array::from_fn(|i| a[i].load(Ordering::Relaxed));
        (f(&self.emulated), f(&self.stale))
    }
}

/// Target of `site` in the in-flight record: `Ok(Some)` named, `Ok(None)` no record names it,
/// `Err` the record is being rewritten or kept changing.
fn record_target(site: usize) -> core::result::Result<Option<usize>, ()> {
    for _ in 0..RETRIES {
        // SAFETY: the seqcount helpers never block.
        let seq = unsafe { sys::ftramp_record_seq_begin() };
        if seq & 1 != 0 {
            // A writer is publishing or clearing: never spin (it may be the CPU we interrupted).
            return Err(());
        }
        // SAFETY: as above.
        let rec = unsafe { sys::ftramp_record_current() };
        let found = if rec.is_null() {
            None
        } else {
            // SAFETY: a record is freed only after an RCU grace period and this handler is an
            // RCU reader (interrupts off), so `rec` stays readable; a torn read is caught by
            // the seqcount re-check below.
            let entries = unsafe { (*rec).entries.as_slice((*rec).nr as usize) };
            entries
                .binary_search_by_key(&site, |e| e.site)
                .ok()
                .map(|i| (entries[i].target, entries.len() > 1))
        };
        // SAFETY: as above.
        if !unsafe { sys::ftramp_record_seq_retry(seq) } {
            return Ok(found.map(|(target, searched)| {
                if searched {
                    STATS.searched.fetch_add(1, Ordering::Relaxed);
                }
                target
            }));
        }
        STATS.retries.fetch_add(1, Ordering::Relaxed);
    }
    Err(())
}

/// The die notifier callback.
///
/// # Safety
///
/// Called by the die chain with a `struct die_args` for `DIE_INT3`.
unsafe extern "C" fn notify(
    _nb: *mut sys::notifier_block,
    val: ffi::c_ulong,
    data: *mut ffi::c_void,
) -> ffi::c_int {
    if val != sys::die_val_DIE_INT3 as ffi::c_ulong {
        return sys::NOTIFY_DONE as ffi::c_int;
    }
    // SAFETY: for DIE_INT3, `data` is a valid `struct die_args` with the trap's registers.
    let regs = unsafe { (*data.cast::<sys::die_args>()).regs };
    // SAFETY: `regs` is valid for the duration of the notifier call.
    if unsafe { sys::ftramp_regs_user_mode(regs) } {
        return sys::NOTIFY_DONE as ffi::c_int;
    }
    // SAFETY: as above.
    let ip = unsafe { (*regs).ip };
    let site = ip.wrapping_sub(1);
    // Only a live dispatch site of ours: anything else (including int3 filler in free slots)
    // is not ours to claim.
    let target = pool::with_slot_info(site, |info| {
        let s = info.find(site)?;
        let kind = s.kind();
        if kind == SiteKind::RetCall {
            STATS.ret.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: no preconditions.
        let ctx = unsafe { sys::ftramp_interrupted_context() } as usize & 3;
        Some((
            kind,
            match record_target(site) {
                Ok(Some(t)) => {
                    STATS.emulated[ctx].fetch_add(1, Ordering::Relaxed);
                    info.int3_hits.fetch_add(1, Ordering::Relaxed);
                    t
                }
                // The switch of this site finished under us (race (a)), or the record is in flux:
                // the site's current target is valid either way (the caller of a switch keeps old
                // and new targets valid until it is over).
                _ => {
                    STATS.stale[ctx].fetch_add(1, Ordering::Relaxed);
                    info.stale_hits.fetch_add(1, Ordering::Relaxed);
                    s.target.load(Ordering::Acquire)
                }
            },
        ))
    });
    let Some(Some((kind, target))) = target else {
        return sys::NOTIFY_DONE as ffi::c_int;
    };
    if kind == SiteKind::Jmp {
        // A trampoline's mode `jmp` (or its `nop`, whose target is the next instruction):
        // what `int3_emulate_jmp()` does.
        // SAFETY: `regs` is the trap frame, ours to change for this notifier call; `target`
        // is valid (as above).
        unsafe { (*regs).ip = target as ffi::c_ulong };
        return sys::NOTIFY_STOP as ffi::c_int;
    }
    let is_ret = kind == SiteKind::RetCall;
    // SAFETY: plain reads of module parameters.
    if unsafe { sys::ftramp_param_skip_mode() || (is_ret && sys::ftramp_param_skip_ret()) } {
        // Resuming after the 5-byte call is what the 2019 bug did (test knob only).
        // SAFETY: `regs` is the trap frame, valid and ours to change for this notifier call.
        unsafe { (*regs).ip += (crate::arch::encode::REL32_INSN_LEN - 1) as ffi::c_ulong };
    } else {
        // SAFETY: `regs` is a kernel-mode int3 frame, which has the entry gap
        // `int3_emulate_push()` needs; `target` is a valid function (see above).
        unsafe { sys::ftramp_int3_emulate_call(regs, target as ffi::c_ulong) };
    }
    sys::NOTIFY_STOP as ffi::c_int
}

/// The registered die notifier; unregistered (after its running calls, RCU) on drop.
pub(crate) struct Int3Handler {
    /// Held for its drop, which unregisters.
    _registered: Notifier,
}

impl Int3Handler {
    /// Registers the handler first in the die chain.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: the die chain's pair; `notify` handles every die event from any context
        // (it only claims DIE_INT3 at ftramp's own sites, without locks or allocation).
        let n = unsafe {
            Notifier::register(
                notify,
                i32::MAX,
                sys::register_die_notifier,
                sys::unregister_die_notifier,
            )
        }?;
        Ok(Self { _registered: n })
    }
}
