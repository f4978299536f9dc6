// SPDX-License-Identifier: GPL-2.0

//! What an engine operation took out of service and frees only once nothing can still run it:
//! stopped sites (trampoline slot, list, module reference), ops stubs, replaced lists and
//! replaced fused stubs. One wait covers everything retired by one operation.
//!
//! Capacity is reserved in an operation's prepare phase; should it be missing anyway (the
//! allocation-free fallback paths reserve nothing), the item is freed after a wait right away,
//! so retiring never fails and never frees early.
//!
//! Replaced lists, and replaced fused stubs, name only ops that are still registered or whose
//! unregister retires their own stub (which waits before it returns): nothing anyone may free
//! after an operation that retired only those. So they are freed in batches: at the next
//! operation that waits anyway, or once [`batch::LIST_BATCH`] have piled up (the decision is
//! `batch.rs`, host-tested). A site switched 1 <-> 2 continuously then costs one wait per 64
//! switches, not one per switch. (A batch of fused stubs holds their slots until then; the
//! engine builds no stub in the pool's last quarter, so sites and ops stubs still find one.)

use core::sync::atomic::{AtomicU64, Ordering};

use kernel::prelude::*;

use super::{batch, fault, site::Site};
use crate::{arch::pool::Pool, arch::pool::Slot, dispatch::list::OpsList, sys, vec};

/// Waits until no CPU or task can be executing code or data retired before the call:
/// preemptible tasks in a trampoline (RCU-tasks), non-preemptible regions including where RCU
/// is not watching (RCU-tasks-rude: every CPU schedules), and RCU readers (the int3 handler).
pub(crate) fn wait_for_retired_code() {
    let epoch = WAITS_STARTED.fetch_add(1, Ordering::AcqRel) + 1;
    // SAFETY: process context, no locks that RCU callbacks or the IPIs need.
    unsafe {
        // A test knob leaves the wait out on purpose, to show a test catching the bug.
        if !sys::ftramp_mutant_no_wait() {
            sys::synchronize_rcu();
            sys::synchronize_rcu_tasks_rude();
            sys::synchronize_rcu_tasks();
        }
    }
    WAITS_DONE.fetch_max(epoch, Ordering::AcqRel);
}

/// Waits begun, and the latest begun that has completed: something made unreachable when
/// [`waits_started`] was `e` is covered once [`waited_since`]`(e)`.
static WAITS_STARTED: AtomicU64 = AtomicU64::new(0);
static WAITS_DONE: AtomicU64 = AtomicU64::new(0);

/// The number of waits begun so far.
pub(crate) fn waits_started() -> u64 {
    WAITS_STARTED.load(Ordering::Acquire)
}

/// Whether a wait that began after [`waits_started`] returned `epoch` has completed.
pub(crate) fn waited_since(epoch: u64) -> bool {
    WAITS_DONE.load(Ordering::Acquire) > epoch
}

/// The retire lists.
#[derive(Default)]
pub(crate) struct Retired {
    sites: KVec<KBox<Site>>,
    stubs: KVec<Slot>,
    lists: KVec<KBox<OpsList>>,
    /// The slots of replaced fused stubs (batched like lists).
    fused: KVec<Slot>,
}

impl Retired {
    /// Room for this many more of each (`fused`: slots of fused stubs).
    pub(crate) fn reserve(
        &mut self,
        sites: usize,
        stubs: usize,
        lists: usize,
        fused: usize,
    ) -> Result {
        fault::point()?;
        self.sites.reserve(sites, GFP_KERNEL)?;
        self.stubs.reserve(stubs, GFP_KERNEL)?;
        self.lists.reserve(lists, GFP_KERNEL)?;
        self.fused.reserve(fused, GFP_KERNEL)?;
        Ok(())
    }

    /// Retires a stopped site.
    pub(crate) fn site(&mut self, pool: &mut Pool, site: KBox<Site>) {
        if let Err(site) = vec::push_within_capacity(&mut self.sites, site) {
            wait_for_retired_code();
            KBox::into_inner(site).free(pool);
        }
    }

    /// Retires an ops stub.
    pub(crate) fn stub(&mut self, pool: &mut Pool, stub: Slot) {
        if let Err(stub) = vec::push_within_capacity(&mut self.stubs, stub) {
            wait_for_retired_code();
            pool.free(stub);
        }
    }

    /// Retires a slot of a replaced fused stub.
    pub(crate) fn fused(&mut self, pool: &mut Pool, slot: Slot) {
        if let Err(slot) = vec::push_within_capacity(&mut self.fused, slot) {
            wait_for_retired_code();
            pool.free(slot);
        }
    }

    /// Slots retired in batches (fused stubs'), not yet freed.
    pub(crate) fn batched_slots(&self) -> usize {
        self.fused.len()
    }

    /// Retires a replaced list.
    pub(crate) fn list(&mut self, list: KBox<OpsList>) {
        if let Err(list) = vec::push_within_capacity(&mut self.lists, list) {
            wait_for_retired_code();
            drop(list);
        }
    }

    /// Frees everything retired, after one wait; lists and fused stubs' slots alone wait
    /// until there are [`batch::LIST_BATCH`] of them.
    pub(crate) fn flush(&mut self, pool: &mut Pool) {
        let batched = self.lists.len() + self.fused.len();
        if !batch::flush_now(self.sites.len(), self.stubs.len(), batched) {
            return;
        }
        self.flush_all(pool);
    }

    /// Frees everything retired, after one wait.
    pub(crate) fn flush_all(&mut self, pool: &mut Pool) {
        if self.sites.is_empty()
            && self.stubs.is_empty()
            && self.lists.is_empty()
            && self.fused.is_empty()
        {
            return;
        }
        wait_for_retired_code();
        while let Some(site) = vec::pop(&mut self.sites) {
            KBox::into_inner(site).free(pool);
        }
        while let Some(stub) = vec::pop(&mut self.stubs) {
            pool.free(stub);
        }
        while let Some(slot) = vec::pop(&mut self.fused) {
            pool.free(slot);
        }
        vec::clear(&mut self.lists);
    }
}
