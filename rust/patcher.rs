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
//! While a site holds `int3`, a CPU that executes it traps into `int3.rs`, which emulates the
//! call to the record's target. Any number of sites switch in one round: three syncs in all.

use core::sync::atomic::Ordering;

use kernel::prelude::*;

use crate::{encode, pool, sys};

/// One site to switch.
pub(crate) struct Patch {
    /// Address of the 5-byte dispatch `call`.
    pub(crate) site: usize,
    /// The handler-visible info of the site's slot.
    pub(crate) info: &'static pool::SlotInfo,
    /// The new call target.
    pub(crate) target: usize,
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
        // SAFETY: process context, no locks held that the IPI handlers need.
        unsafe { sys::ftramp_sync_all_cpus() };
        self.stats.syncs += 1;
        self.stats.last_round_syncs += 1;
    }

    /// Switches every site in `batch` to its new target in one round.
    pub(crate) fn switch(&mut self, batch: &mut KVec<Patch>) -> Result {
        let mut i = 0;
        while i < batch.len() {
            if batch[i].info.target.load(Ordering::Relaxed) == batch[i].target {
                crate::vec::remove(batch, i);
            } else {
                i += 1;
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        batch.sort_unstable_by_key(|p| p.site);
        let mut insns = KVec::with_capacity(batch.len(), GFP_KERNEL)?;
        for p in batch.iter() {
            insns.push(encode::call(p.site, p.target).ok_or(ERANGE)?, GFP_KERNEL)?;
        }
        // SAFETY: plain allocation.
        let rec = unsafe { sys::ftramp_record_alloc(batch.len() as u32) };
        if rec.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `rec` was allocated for `batch.len()` entries and is not yet published.
        let entries = unsafe { (*rec).entries.as_mut_slice(batch.len()) };
        for (e, p) in entries.iter_mut().zip(batch.iter()) {
            e.site = p.site;
            e.target = p.target;
        }
        self.stats.last_round_syncs = 0;
        self.stats.last_round_sites = batch.len() as u64;

        // Step 2. The site's current target (read by the handler when the record no longer
        // names the site: race (a)) moves to the new one too; both are valid throughout.
        for p in batch.iter() {
            p.info.target.store(p.target, Ordering::Release);
        }
        // SAFETY: `rec` is fully initialised; the engine lock serialises publishers.
        unsafe { sys::ftramp_record_publish(rec) };

        // Step 3.
        for p in batch.iter() {
            pool::poke(p.site, &[encode::INT3]);
        }
        self.sync();
        // Step 4.
        for (p, insn) in batch.iter().zip(insns.iter()) {
            pool::poke(p.site + 1, &insn[1..]);
        }
        self.sync();
        // Step 5. After this sync no CPU is between an int3 of ours and the end of the
        // handler (the handler runs with interrupts off, so it holds the IPI off).
        for (p, insn) in batch.iter().zip(insns.iter()) {
            pool::poke(p.site, &insn[..1]);
        }
        self.sync();

        // Step 6. A handler that still holds `rec` is an RCU reader (interrupts off).
        // SAFETY: clearing is always valid; `rec` is freed only after a grace period.
        unsafe {
            sys::ftramp_record_publish(core::ptr::null_mut());
            sys::ftramp_record_free_rcu(rec);
        }
        self.stats.rounds += 1;
        self.stats.sites += batch.len() as u64;
        Ok(())
    }
}
