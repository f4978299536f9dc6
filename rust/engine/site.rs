// SPDX-License-Identifier: GPL-2.0

//! One hooked function: its trampoline slot, its ftrace direct call, the reference on its
//! module, the list its iterator reads, and the ops attached to it.

use kernel::prelude::*;

use super::{
    direct::{DirectCall, ModuleRef},
    fault,
    ops::OpsPtr,
    plan::{self, Mode},
    ret_tramp::RetTramp,
};
use crate::{
    arch::{
        frame::Frame,
        fused::FusedStub,
        pool::{self, Pool, SiteKind, Slot},
        trampoline::{Template, LIST_ENTRY_AT, MODE_LEN},
    },
    dispatch::list::SiteHot,
    functions::Func,
};

/// One hooked function.
///
/// # Invariants
///
/// - `slot` holds this site's trampoline, built for `func.ip` and `hot`; the pool's info for
///   the slot names its dispatch `call` as a live site from [`Site::new`] until [`Site::free`].
/// - While `direct` is started, the function may enter the trampoline at any time.
/// - With two or more `attached`, `hot`'s list holds all of them (and possibly leaving ones
///   until the round that drops them is over).
pub(crate) struct Site {
    pub(crate) func: Func,
    pub(crate) direct: DirectCall,
    pub(crate) slot: Slot,
    pub(crate) hot: KBox<SiteHot>,
    pub(crate) attached: KVec<OpsPtr>,
    pub(crate) switches: u64,
    /// The return trampoline, while the function has (or just had) return ops: the function
    /// enters it instead of `slot` exactly while `direct` points at it.
    pub(crate) ret: Option<KBox<RetTramp>>,
    /// The fused stub its entry dispatch calls, while it has 2..`fused_max` entry ops.
    pub(crate) fused: Option<FusedStub>,
    /// What its trampoline saves (from the function's BTF model).
    pub(crate) frame: Frame,
    /// Offset of the trampoline's dispatch `call` (it follows the frame's save).
    pub(crate) call: usize,
    /// Length of the trampoline.
    pub(crate) len: usize,
    /// Dropped last: the function's module stays pinned until nothing refers to it.
    pub(crate) module: ModuleRef,
}

impl Site {
    /// Allocates a site for `func` with `ops` as its only ops and writes its trampoline, with
    /// entry frame `frame`, whose call goes to `target` (the nop target: the round that
    /// attaches `ops` switches it on). Not yet started with ftrace.
    pub(crate) fn new(
        pool: &mut Pool,
        tmpl: &Template,
        func: &Func,
        ops: OpsPtr,
        target: usize,
        frame: Frame,
    ) -> Result<KBox<Self>> {
        let name = func.try_clone()?;
        fault::point()?;
        let mut attached = KVec::with_capacity(1, GFP_KERNEL)?;
        attached.push(ops, GFP_KERNEL)?;
        let hot = SiteHot::new()?;
        let direct = DirectCall::new()?;
        let module = ModuleRef::get(func.ip)?;
        fault::point()?;
        let boxed = KBox::<Site>::new_uninit(GFP_KERNEL)?;
        fault::point()?;
        let slot = pool.alloc()?;
        let at = slot.addr();
        let hot_ptr: *const SiteHot = &*hot;
        let (code, call, len) = match tmpl.build(at, func.ip, hot_ptr as usize, target, frame) {
            Ok(c) => c,
            Err(e) => {
                // Nothing was written: the slot was never reachable.
                pool.free(slot);
                return Err(e);
            }
        };
        pool::poke(at, code.as_bytes());
        let info = pool.info(&slot);
        // INVARIANT: the trampoline is complete before the handler may see its sites as live.
        info.sites[0].set(at + call, SiteKind::Call, target);
        info.sites[1].set(at, SiteKind::Jmp, at + MODE_LEN);
        Ok(KBox::write(
            boxed,
            Self {
                func: name,
                direct,
                slot,
                hot,
                attached,
                switches: 0,
                ret: None,
                fused: None,
                frame,
                call,
                len,
                module,
            },
        ))
    }

    /// Address of the dispatch `call`.
    pub(crate) fn dispatch(&self) -> usize {
        self.slot.addr() + self.call
    }

    /// How the site dispatches now.
    pub(crate) fn mode(&self) -> Mode {
        plan::mode(self.attached.len())
    }

    /// What its entry dispatch `call` reaches in list mode: its slot's list entry, which loads
    /// the site pointer and jumps to the list iterator.
    pub(crate) fn list_entry(&self) -> usize {
        self.slot.addr() + LIST_ENTRY_AT
    }

    /// The site pointer baked into its trampolines (the iterators' argument).
    pub(crate) fn hot_addr(&self) -> usize {
        let hot: *const SiteHot = &*self.hot;
        hot as usize
    }

    /// Address of the mode site (the entry trampoline's first instruction).
    pub(crate) fn mode_site(&self) -> usize {
        self.slot.addr()
    }

    /// The mode site's target that runs the entry trampoline itself.
    pub(crate) fn mode_entry_only(&self) -> usize {
        self.slot.addr() + MODE_LEN
    }

    /// Makes ftrace call the trampoline from the function's fentry.
    pub(crate) fn start(&mut self) -> Result {
        let at = self.slot.addr();
        self.direct.start(self.func.ip, at)
    }

    /// Frees a retired site: stopped, and waited for.
    pub(crate) fn free(self, pool: &mut Pool) {
        let Self { slot, fused, .. } = self;
        pool.free(slot);
        if let Some(f) = fused {
            f.free(pool);
        }
        // The rest (list, module reference, the stopped direct call) drops here.
    }
}
