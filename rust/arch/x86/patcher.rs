// SPDX-License-Identifier: GPL-2.0

//! Switches live dispatch sites between targets without a CPU ever executing a torn
//! instruction or missing a call (Documentation/design.rst, "The lossless switch"):
//!
//! 1. the caller has made both the old and the new target valid;
//! 2. publish the in-flight record {site, new target} under the seqcount;
//! 3. write `int3` over each site's first byte; sync all CPUs;
//! 4. write each site's 4 tail bytes (the new rel32); sync;
//! 5. write each site's new first byte (`call`); sync;
//! 6. clear the record under the seqcount (and free it after an RCU grace period).
//!
//! This is the order of the kernel's own `text_poke_bp_batch()`; ftramp carries its own so
//! that its int3 handler emulates a `call` to the *record's* target, which the kernel's
//! handler cannot do for code outside kernel text. While a site holds `int3`, a CPU that
//! executes it traps into `int3.rs`. Any number of sites switch in one round: three syncs.
//!
//! A round is split for reserve-then-commit: [`Round::prepare`] allocates and encodes
//! everything (it can fail and changes nothing), [`Patcher::commit`] cannot fail.

use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use kernel::prelude::*;

use crate::{
    arch::{encode, pool, pool::Pool},
    engine::fault,
    symbols, sys,
};

/// One site to switch. (Not `Copy`: core's small-sort path for `Copy` types has a panic that
/// 6.12's objtool does not know as noreturn.)
pub(crate) struct Patch {
    /// Address of the 5-byte dispatch `call`.
    pub(crate) site: usize,
    /// The new call target.
    pub(crate) target: usize,
}

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

    /// Makes the record hold exactly `patches` (at most its capacity).
    fn fill(&mut self, patches: &[Patch]) {
        // SAFETY: as in `entries`; `nr` shrinks to the patches written.
        unsafe { (*self.ptr.as_ptr()).nr = patches.len() as u32 };
        for (e, p) in self.entries().iter_mut().zip(patches) {
            e.site = p.site;
            e.target = p.target;
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

/// Everything one round needs, allocated and encoded: committing it cannot fail.
pub(crate) struct Round {
    patches: KVec<Patch>,
    insns: KVec<[u8; 5]>,
    record: Record,
}

impl Round {
    /// Prepares the switch of every site in `patches` whose current target (per `pool`) is
    /// not already the new one. `None` if there is nothing to switch.
    pub(crate) fn prepare(pool: &Pool, mut patches: KVec<Patch>) -> Result<Option<Self>> {
        crate::vec::retain(&mut patches, |p| {
            pool.info_at(p.site)
                .is_some_and(|i| i.target.load(Ordering::Relaxed) != p.target)
        });
        if patches.is_empty() {
            return Ok(None);
        }
        crate::vec::sort_by_key(&mut patches, |p| p.site);
        fault::point()?;
        let mut insns = KVec::with_capacity(patches.len(), GFP_KERNEL)?;
        for p in patches.iter() {
            insns.push(encode::call(p.site, p.target).ok_or(ERANGE)?, GFP_KERNEL)?;
        }
        let mut record = Record::new(patches.len())?;
        record.fill(&patches);
        Ok(Some(Self {
            patches,
            insns,
            record,
        }))
    }

    /// A one-site round, allocated once and refilled ([`Round::refill`]) where nothing may be
    /// allocated (the engine's fallback for removals under memory pressure).
    pub(crate) fn spare() -> Result<Self> {
        fault::point()?;
        let mut patches = KVec::with_capacity(1, GFP_KERNEL)?;
        patches.push(Patch { site: 0, target: 0 }, GFP_KERNEL)?;
        let mut insns = KVec::with_capacity(1, GFP_KERNEL)?;
        insns.push([0; 5], GFP_KERNEL)?;
        Ok(Self {
            patches,
            insns,
            record: Record::new(1)?,
        })
    }

    /// Makes this (spare) round switch `patch` alone. The caller waited for RCU readers since
    /// its last use. `false` if the site is already there (or the target is out of reach).
    pub(crate) fn refill(&mut self, pool: &Pool, patch: Patch) -> bool {
        let current = pool
            .info_at(patch.site)
            .map(|i| i.target.load(Ordering::Relaxed));
        let Some(insn) = encode::call(patch.site, patch.target) else {
            return false;
        };
        if current == Some(patch.target) || current.is_none() {
            return false;
        }
        self.patches[0] = patch;
        self.insns[0] = insn;
        self.record.fill(&self.patches);
        true
    }
}

/// Counters of the patcher.
#[derive(Default, Clone, Copy)]
pub(crate) struct PatchStats {
    /// Switch rounds made.
    pub(crate) rounds: u64,
    /// All-CPU syncs made (3 per round).
    pub(crate) syncs: u64,
    /// Sites switched.
    pub(crate) sites: u64,
    /// Syncs of the last round.
    pub(crate) last_round_syncs: u64,
    /// Sites of the last round.
    pub(crate) last_round_sites: u64,
}

/// The patcher. Owned by the engine, whose lock serialises rounds.
#[derive(Default)]
pub(crate) struct Patcher {
    pub(crate) stats: PatchStats,
}

impl Patcher {
    fn sync(&mut self) {
        // SAFETY: process context, no locks held that the IPI handlers need; the function is
        // `text_poke_sync()`: every CPU runs `sync_core()` before it returns.
        unsafe { symbols::text_poke_sync() };
        self.stats.syncs += 1;
        self.stats.last_round_syncs += 1;
    }

    /// Switches every site of `round` to its new target. Cannot fail.
    pub(crate) fn commit(&mut self, pool: &Pool, round: &mut Round) {
        let n = round.patches.len();
        self.stats.last_round_syncs = 0;
        self.stats.last_round_sites = n as u64;

        // Step 2. The site's current target (read by the handler when the record no longer
        // names the site: race (a)) moves to the new one too; both are valid throughout.
        for p in round.patches.iter() {
            if let Some(info) = pool.info_at(p.site) {
                info.target.store(p.target, Ordering::Release);
            }
        }
        // SAFETY: the record is fully initialised; the engine lock serialises publishers.
        unsafe { sys::ftramp_record_publish(round.record.ptr.as_ptr()) };

        // Step 3.
        for p in round.patches.iter() {
            pool::poke(p.site, &[encode::INT3]);
        }
        self.sync();
        // Step 4.
        for (p, insn) in round.patches.iter().zip(round.insns.iter()) {
            pool::poke(p.site + 1, &insn[1..]);
        }
        self.sync();
        // Step 5. After this sync no CPU is between an int3 of ours and the end of the
        // handler (the handler runs with interrupts off, so it holds the IPI off).
        for (p, insn) in round.patches.iter().zip(round.insns.iter()) {
            pool::poke(p.site, &insn[..1]);
        }
        self.sync();

        // Step 6. A handler that still holds the record is an RCU reader (interrupts off):
        // the record is freed (or reused, by the spare round) only after a grace period.
        // SAFETY: clearing is always valid.
        unsafe { sys::ftramp_record_publish(core::ptr::null_mut()) };
        self.stats.rounds += 1;
        self.stats.sites += n as u64;
    }
}
