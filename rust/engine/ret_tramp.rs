// SPDX-License-Identifier: GPL-2.0

//! A site's return trampoline as an owned resource: its two slots, its in-flight counter and
//! the reference it holds on ftramp itself; and how it is freed, which is only once every call
//! that entered it has returned.
//!
//! Tasks sleep inside a hooked function's body for any time (the return trampoline's frame on
//! their stack), and RCU-tasks sees a sleeping task as quiescent, so no grace period tells
//! when the slot B they will return into is unused. The trampoline counts calls between its
//! entry and return dispatches instead (BPF's image percpu_ref plays the same part), and a
//! detached trampoline drains:
//!
//! 1. it is made unreachable (ftrace moved to the entry trampoline, or detached);
//! 2. after one full engine wait no task is still before the increment (RCU-tasks: a task
//!    preempted there is not quiescent until it reached the body), so from then on the count
//!    only falls;
//! 3. once the per-CPU sum is 0, one more wait covers the epilogue after the decrement;
//! 4. the slots go back to the pool.
//!
//! The engine checks draining trampolines at each operation and from a delayed work every
//! 100 ms while any is left. Each holds a reference on ftramp: `rmmod ftramp` is refused by
//! the kernel ("in use") until the last has drained, so module exit never meets one.

use kernel::prelude::*;

use super::{fault, retire};
use crate::{
    arch::{
        pool::{self, Pool, SiteKind, Slot},
        ret_trampoline::{Convention, RetLayout, RetTrampoline},
        trampoline::Template,
    },
    dispatch::ret,
    functions::Func,
    percpu::PerCpuCounter,
    sys,
};

/// A reference on ftramp itself.
struct SelfRef(bool);

impl SelfRef {
    fn get() -> Self {
        // SAFETY: plain read of a test knob (the mutant takes no reference).
        let held = unsafe { sys::ftramp_mutant_ret() } != 2;
        if held {
            // SAFETY: ftramp is live (this runs in its code, from init to exit).
            unsafe { sys::ftramp_self_get() };
        }
        Self(held)
    }
}

impl Drop for SelfRef {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: paired with `get`. The caller is ftramp's own code, which module exit
            // waits for (the drain work is cancelled synchronously, engine operations hold the
            // lock).
            unsafe { sys::ftramp_self_put() };
        }
    }
}

/// Where a trampoline is in its life.
#[derive(Clone, Copy)]
enum Stage {
    /// The function may enter it.
    Live,
    /// Unreachable since wait epoch `.0` started (step 1).
    Unreachable(u64),
    /// Drained, seen when wait epoch `.0` had started (step 3).
    Drained(u64),
}

/// One return trampoline.
///
/// # Invariants
///
/// `a` and `b` hold the code of [`Template::build_ret`] for `inflight`; the pool's infos name
/// their dispatch `call`s as live sites until [`RetTramp::free`]. While `stage` is `Live` the
/// function may enter `a`.
pub(crate) struct RetTramp {
    a: Slot,
    b: Slot,
    layout: RetLayout,
    inflight: PerCpuCounter,
    stage: Stage,
    /// The next draining trampoline (the engine's draining list needs no allocation).
    pub(crate) next: Option<KBox<RetTramp>>,
    _pin: SelfRef,
}

impl RetTramp {
    /// Builds the return trampoline of `func` (with calling convention `conv`), with `site` as
    /// the iterators' site pointer and its entry and return
    /// dispatch calling `entry` and `ret`. Nothing can reach it until ftrace is pointed at it.
    pub(crate) fn new(
        pool: &mut Pool,
        tmpl: &Template,
        func: &Func,
        site: usize,
        conv: Convention,
        entry: usize,
        ret_target: usize,
    ) -> Result<KBox<Self>> {
        let inflight = PerCpuCounter::new()?;
        fault::point()?;
        let boxed = KBox::<RetTramp>::new_uninit(GFP_KERNEL)?;
        fault::point()?;
        let a = pool.alloc()?;
        let b = match pool.alloc() {
            Ok(b) => b,
            Err(e) => {
                pool.free(a);
                return Err(e);
            }
        };
        let t = RetTrampoline {
            a: a.addr(),
            b: b.addr(),
            ip: func.ip,
            site,
            inflight: inflight.percpu_addr(),
            record: ret::RECORD_SIZE,
            conv,
        };
        let (ca, cb, layout) = match tmpl.build_ret(&t, entry, ret_target) {
            Ok(c) => c,
            Err(e) => {
                // Nothing was written: never reachable.
                pool.free(a);
                pool.free(b);
                return Err(e);
            }
        };
        pool::poke(a.addr(), ca.as_bytes());
        pool::poke(b.addr(), cb.as_bytes());
        // INVARIANT: the code is complete before the handler may see the sites as live.
        pool.info(&a).sites[0].set(a.addr() + layout.entry_call, SiteKind::Call, entry);
        pool.info(&b).sites[0].set(b.addr() + layout.ret_call, SiteKind::RetCall, ret_target);
        Ok(KBox::write(
            boxed,
            Self {
                a,
                b,
                layout,
                inflight,
                stage: Stage::Live,
                next: None,
                _pin: SelfRef::get(),
            },
        ))
    }

    /// Where ftrace's direct call enters.
    pub(crate) fn addr(&self) -> usize {
        self.a.addr()
    }

    /// Address of the entry dispatch `call`.
    pub(crate) fn entry_site(&self) -> usize {
        self.a.addr() + self.layout.entry_call
    }

    /// Address of the return dispatch `call`.
    pub(crate) fn ret_site(&self) -> usize {
        self.b.addr() + self.layout.ret_call
    }

    /// Where its halves are and how they are laid out (`stats`, for the tests that decode
    /// generated code).
    pub(crate) fn layout(&self) -> (usize, usize, RetLayout) {
        (self.a.addr(), self.b.addr(), self.layout)
    }

    /// Calls inside now (entered the body, not yet past the return dispatch).
    pub(crate) fn inflight(&self) -> u64 {
        self.inflight.sum()
    }

    /// The function can no longer enter it (step 1).
    pub(crate) fn set_unreachable(&mut self) {
        self.stage = Stage::Unreachable(retire::waits_started());
    }

    /// Advances the drain as far as the waits made so far allow. `Some(true)`: it can be
    /// freed; `Some(false)`: it needs another wait to progress; `None`: calls are inside.
    pub(crate) fn drain_step(&mut self) -> Option<bool> {
        match self.stage {
            Stage::Live => None,
            Stage::Unreachable(e) if !retire::waited_since(e) => Some(false),
            Stage::Unreachable(_) => {
                // SAFETY: plain read of a test knob (the mutant frees with calls inside).
                if self.inflight() != 0 && unsafe { sys::ftramp_mutant_ret() } != 3 {
                    return None;
                }
                self.stage = Stage::Drained(retire::waits_started());
                Some(false)
            }
            Stage::Drained(e) => Some(retire::waited_since(e)),
        }
    }

    /// Frees a drained trampoline ([`RetTramp::drain_step`] said so), or one nothing could
    /// ever enter (no mode site was switched to it).
    pub(crate) fn free(self, pool: &mut Pool) {
        let Self { a, b, .. } = self;
        pool.free(a);
        pool.free(b);
        // The counter and the reference on ftramp drop here.
    }
}
