// SPDX-License-Identifier: GPL-2.0

//! A fused stub in the pool: one site's 2..`fused_max` entry ops called in turn by direct
//! calls (the code is `fused_layout.rs`). It is immutable: a change of the site's ops builds
//! a new stub, the round switches the dispatch `call` to it, and the old one is retired like
//! any code (freed after the engine's wait).

use kernel::prelude::*;

use super::{
    encode,
    fused_layout::{self, Call, GuardFns},
    pool::{self, Pool, Slot, SLOT_SIZE},
    trampoline::{return_insn, Template},
};
use crate::{dispatch::guard, vec};

/// Most slots a stub may take (16 guarded ops take 3 with call depth tracking, see the host
/// tests).
const MAX_SLOTS: usize = 4;

/// A fused stub: the slots its code is in, the first one entered.
///
/// # Invariants
///
/// `slots` is non-empty and holds the complete stub, written before anything can reach it.
pub(crate) struct FusedStub {
    slots: KVec<Slot>,
    calls: KVec<Call>,
}

impl FusedStub {
    /// Slots a stub of `calls` would take, if it can be built.
    pub(crate) fn slots_needed(tmpl: &Template, calls: &[Call]) -> Option<usize> {
        fused_layout::slots_needed(calls, tmpl.call_depth != 0, SLOT_SIZE)
            .filter(|&n| n <= MAX_SLOTS)
    }

    /// Writes a stub calling `calls` in order into fresh slots. Not reachable until a round
    /// switches a dispatch `call` to [`FusedStub::addr`]; on error nothing is left allocated.
    pub(crate) fn new(pool: &mut Pool, tmpl: &Template, calls: &[Call]) -> Result<Self> {
        let n = Self::slots_needed(tmpl, calls).ok_or(E2BIG)?;
        let mut kept = KVec::with_capacity(calls.len(), GFP_KERNEL)?;
        kept.extend_from_slice(calls, GFP_KERNEL)?;
        let mut slots = KVec::with_capacity(n, GFP_KERNEL)?;
        let mut code = KVec::with_capacity(n * SLOT_SIZE, GFP_KERNEL)?;
        for _ in 0..n {
            code.extend_from_slice(&[encode::INT3; SLOT_SIZE], GFP_KERNEL)?;
        }
        let mut addrs = [0usize; MAX_SLOTS];
        for a in addrs.iter_mut().take(n) {
            let slot = match pool.alloc() {
                Ok(s) => s,
                Err(e) => {
                    Self::free_slots(pool, slots);
                    return Err(e);
                }
            };
            *a = slot.addr();
            // Within the capacity reserved above.
            if let Err(slot) = vec::push_within_capacity(&mut slots, slot) {
                pool.free(slot);
                Self::free_slots(pool, slots);
                return Err(ENOMEM);
            }
        }
        let ret = |at| return_insn(at).ok();
        let (take, release) = guard::fused_guard_addrs();
        if fused_layout::build(
            &addrs[..n],
            &mut code,
            SLOT_SIZE,
            calls,
            tmpl.call_depth,
            GuardFns { take, release },
            ret,
        )
        .is_none()
        {
            Self::free_slots(pool, slots);
            return Err(ERANGE);
        }
        // (No `chunks()`: objtool on 6.12 does not know its panic path as noreturn.)
        let mut off = 0;
        for slot in slots.iter() {
            if let Some(bytes) = code.get(off..off + SLOT_SIZE) {
                pool::poke(slot.addr(), bytes);
            }
            off += SLOT_SIZE;
        }
        // INVARIANT: `n >= 1` slots, all written above.
        Ok(Self { slots, calls: kept })
    }

    fn free_slots(pool: &mut Pool, mut slots: KVec<Slot>) {
        while let Some(s) = vec::pop(&mut slots) {
            pool.free(s);
        }
    }

    /// The address the dispatch `call` targets.
    pub(crate) fn addr(&self) -> usize {
        self.slots[0].addr()
    }

    /// Slots it takes.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Whether it makes exactly `calls`.
    pub(crate) fn calls(&self, calls: &[Call]) -> bool {
        self.calls.as_slice() == calls
    }

    /// Its slots, for the retire list (freed after the engine's wait).
    pub(crate) fn into_slots(self) -> KVec<Slot> {
        self.slots
    }

    /// Frees a stub nothing can be executing: never reachable, or waited for.
    pub(crate) fn free(self, pool: &mut Pool) {
        Self::free_slots(pool, self.slots);
    }
}
