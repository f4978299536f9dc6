// SPDX-License-Identifier: GPL-2.0

//! Switches live dispatch sites between targets without a CPU ever executing a torn
//! instruction or missing a call (Documentation/design.rst, "The lossless switch"), in the
//! order of `sequence.rs` (host-tested): publish the in-flight record, `int3` over every site,
//! sync, every tail, sync, every first byte, sync, clear the record.
//!
//! This is the order of the kernel's own `text_poke_bp_batch()`; ftramp carries its own so
//! that its int3 handler emulates a `call` to the *record's* target, which the kernel's
//! handler cannot do for code outside kernel text. While a site holds `int3`, a CPU that
//! executes it traps into `int3.rs`. Any number of sites switch in one round: three syncs.
//! This file is the kernel side of the sequence: the record's memory, and [`sequence::Text`]
//! on the live pool, the seqcount-published record and `text_poke_sync()`.
//!
//! A round is split for reserve-then-commit: [`Round::prepare`] allocates and encodes
//! everything (it can fail and changes nothing), [`Patcher::commit`] cannot fail.

use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use kernel::prelude::*;

pub(crate) use super::sequence::{Patch, PatchStats};
use crate::{
    arch::{pool, pool::Pool, sequence, sequence::Switch},
    engine::fault,
    symbols, sys, vec,
};

/// The in-flight record: the sites of one round and their new targets, sorted by site.
///
/// # Invariants
///
/// `ptr` is a `ftramp_patch_record` from `ftramp_record_alloc` with `nr` entries, owned by
/// this value; it is published to the int3 handler only inside [`Patcher::commit`], which
/// clears it again before returning.
pub(crate) struct Record {
    ptr: NonNull<sys::ftramp_patch_record>,
}

// SAFETY: the record is plain memory owned by this value.
unsafe impl Send for Record {}

impl Record {
    /// A record with room for `nr` entries.
    pub(crate) fn new(nr: usize) -> Result<Self> {
        fault::point()?;
        // SAFETY: plain allocation.
        let p = unsafe { sys::ftramp_record_alloc(nr.try_into().map_err(|_| E2BIG)?) };
        // INVARIANT: freshly allocated for `nr` entries.
        Ok(Self {
            ptr: NonNull::new(p).ok_or(ENOMEM)?,
        })
    }

    fn entries(&mut self) -> &mut [sys::ftramp_patch_entry] {
        // SAFETY: the record has `nr` entries (type invariant) and is not published here
        // (`&mut self` outside `commit`).
        unsafe {
            let r = self.ptr.as_ptr();
            (*r).entries.as_mut_slice((*r).nr as usize)
        }
    }

    /// Makes the record hold exactly `switches` (at most its capacity).
    fn fill(&mut self, switches: &[Switch]) {
        // SAFETY: as in `entries`; `nr` shrinks to the switches written.
        unsafe { (*self.ptr.as_ptr()).nr = switches.len() as u32 };
        for (e, s) in self.entries().iter_mut().zip(switches) {
            e.site = s.site;
            e.target = s.target;
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        // A handler may have loaded the pointer before `commit` cleared it: it reads the record
        // as an RCU reader (interrupts off), so free after a grace period.
        // SAFETY: owned (type invariant) and no longer published.
        unsafe { sys::ftramp_record_free_rcu(self.ptr.as_ptr()) };
    }
}

/// The switch of `p`, encoded for the kind of its site.
fn switch_of(pool: &Pool, p: &Patch) -> Option<Switch> {
    match pool.site_at(p.site)?.kind() {
        pool::SiteKind::Jmp => Switch::new_jmp(p.site, p.target),
        pool::SiteKind::Call | pool::SiteKind::RetCall => Switch::new(p.site, p.target),
    }
}

/// The current target of the live site at `site`, if it is one.
fn current(pool: &Pool, site: usize) -> Option<usize> {
    pool.site_at(site).map(|i| i.target.load(Ordering::Relaxed))
}

/// Everything one round needs, allocated and encoded: committing it cannot fail.
///
/// # Invariants
///
/// `record` holds exactly the sites and targets of `switches`, in the same order (by site).
pub(crate) struct Round {
    switches: KVec<Switch>,
    record: Record,
}

impl Round {
    /// Prepares the switch of every site in `patches` whose current target (per `pool`) is
    /// not already the new one. `None` if there is nothing to switch.
    pub(crate) fn prepare(pool: &Pool, mut patches: KVec<Patch>) -> Result<Option<Self>> {
        let n = sequence::select(&mut patches, |site| current(pool, site));
        if n == 0 {
            return Ok(None);
        }
        fault::point()?;
        let mut switches = KVec::with_capacity(n, GFP_KERNEL)?;
        for p in patches[..n].iter() {
            switches.push(switch_of(pool, p).ok_or(ERANGE)?, GFP_KERNEL)?;
        }
        let mut record = Record::new(n)?;
        record.fill(&switches);
        // INVARIANT: filled from `switches` just above.
        Ok(Some(Self { switches, record }))
    }

    /// A round of up to [`SPARE_SITES`] sites, allocated once and refilled
    /// ([`Round::refill`]) where nothing may be allocated (the engine's fallback for removals
    /// under memory pressure: one site's four patchable sites at most).
    pub(crate) fn spare() -> Result<Self> {
        fault::point()?;
        let mut switches = KVec::with_capacity(SPARE_SITES, GFP_KERNEL)?;
        for _ in 0..SPARE_SITES {
            switches.push(
                Switch {
                    site: 0,
                    target: 0,
                    insn: [0; 5],
                },
                GFP_KERNEL,
            )?;
        }
        let mut record = Record::new(SPARE_SITES)?;
        record.fill(&switches);
        // INVARIANT: filled from `switches` just above.
        Ok(Self { switches, record })
    }

    /// Makes this (spare) round switch `patches` (at most [`SPARE_SITES`]). The caller waited
    /// for RCU readers since its last use. `false` if no site needs switching (or a target is
    /// out of reach).
    pub(crate) fn refill(&mut self, pool: &Pool, patches: &mut [Patch]) -> bool {
        let n = sequence::select(patches, |site| current(pool, site));
        if n == 0 || n > SPARE_SITES {
            return false;
        }
        vec::clear(&mut self.switches);
        for p in patches[..n].iter() {
            let Some(switch) = switch_of(pool, p) else {
                return false;
            };
            // Within the capacity allocated by `spare`.
            if vec::push_within_capacity(&mut self.switches, switch).is_err() {
                return false;
            }
        }
        self.record.fill(&self.switches);
        // INVARIANT: refilled from `switches` just above.
        true
    }
}

/// Sites the spare round can switch at once.
pub(crate) const SPARE_SITES: usize = 4;

/// The kernel's side of a round: the live pool's text and slot infos, the round's record
/// published under the seqcount, and `text_poke_sync()`.
struct Live<'a> {
    pool: &'a Pool,
    record: &'a Record,
}

impl sequence::Text for Live<'_> {
    fn set_target(&mut self, site: usize, target: usize) {
        if let Some(info) = self.pool.site_at(site) {
            info.target.store(target, Ordering::Release);
        }
    }

    fn publish_record(&mut self) {
        // SAFETY: the record is fully initialised (`Round`'s invariant); the engine lock
        // serialises publishers.
        unsafe { sys::ftramp_record_publish(self.record.ptr.as_ptr()) };
    }

    fn clear_record(&mut self) {
        // SAFETY: clearing is always valid.
        unsafe { sys::ftramp_record_publish(core::ptr::null_mut()) };
    }

    fn poke(&mut self, addr: usize, bytes: &[u8]) {
        pool::poke(addr, bytes);
    }

    fn sync(&mut self) {
        // SAFETY: process context, no locks held that the IPI handlers need; the function is
        // `text_poke_sync()`: every CPU runs `sync_core()` before it returns.
        unsafe { symbols::text_poke_sync() };
    }
}

/// The patcher. Owned by the engine, whose lock serialises rounds.
#[derive(Default)]
pub(crate) struct Patcher {
    pub(crate) stats: PatchStats,
}

impl Patcher {
    /// Switches every site of `round` to its new target. Cannot fail.
    pub(crate) fn commit(&mut self, pool: &Pool, round: &mut Round) {
        let mut live = Live {
            pool,
            record: &round.record,
        };
        sequence::switch(&mut self.stats, &mut live, &round.switches);
    }
}
