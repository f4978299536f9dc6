// SPDX-License-Identifier: GPL-2.0

//! The engine: every site (hooked function) and every ops, and every change of which ops
//! run where. The C API (`api.rs`) and the tracefs UI (`tracefs/hooks.rs`) both resolve names
//! to functions first and then call the same few methods here.
//!
//! Every operation is **reserve, then commit**:
//!
//! - *prepare* does everything that can fail and is undoable: new ops lists and attached
//!   vectors for every touched site, new sites (allocated, their trampolines written with the
//!   do-nothing target, then started with ftrace, the one external failure), the patch round
//!   (record and instructions) and room in the retire lists. On error it undoes that (started
//!   sites are stopped and retired, never freed at once) and nothing changed.
//! - *commit* cannot fail and allocates nothing: publish the lists, swap the vectors, run the
//!   round, drop lists of sites gone direct, stop and retire emptied sites.
//!
//! Then one wait, and everything retired is freed (`retire.rs`). `unregister` cannot fail:
//! when its prepare cannot allocate it falls back to an allocation-free path, one site at a
//! time ([`Engine::detach_in_place`]): tombstone in the list, or one switch with the
//! preallocated spare round, then a wait.
//!
//! A site ftrace refuses to detach has already been switched to the do-nothing target (that
//! is how every emptied site leaves) and holds no ops: it is kept, never freed, and at unload
//! the trampoline memory is leaked with a warning.
//!
//! Lock order: the tracefs `hooks` lock, then the engine's; the engine calls into ftrace
//! (`direct_mutex`, `ftrace_lock`) and text patching (`text_mutex`) with its lock held.

use core::mem::ManuallyDrop;

use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNode, RBTreeNodeReservation},
};

#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod batch;
pub(crate) mod direct;
pub(crate) mod fault;
pub(crate) mod module;
pub(crate) mod ops;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod plan;
pub(crate) mod ret_tramp;
pub(crate) mod retire;
pub(crate) mod site;

use crate::{
    arch::{
        frame::Frame,
        fused::FusedStub,
        fused_layout::Call,
        patcher::{Patch, PatchStats, Patcher, Round},
        pool::{self, Pool, Slot},
        ret_trampoline::{self, Convention, RET_STUB_AT},
        trampoline::{self, Template},
    },
    btf::{self, FuncIndex, FuncModel, Refusal},
    dispatch::{assist, list::OpsList, ret, ret::RetTable},
    functions::Func,
    sys, vec,
};
use ops::{OpsPtr, OpsRec};
pub(crate) use plan::Mode;
use plan::{Dir, Kind, ListStep, Target, Targets, To};
use ret_tramp::RetTramp;
use retire::{wait_for_retired_code, Retired};
use site::Site;

/// `EOPNOTSUPP` (6.12's kernel crate has no constant for it): return ops on a function whose
/// calling convention ftramp cannot reproduce.
fn eopnotsupp() -> Error {
    Error::from_errno(-95)
}

/// What `func`'s return trampoline reproduces of its calling convention, from its BTF
/// `model`; why it cannot have one, if it has no model ftramp can use (the rule is
/// `core`-only, shared with the host's `ret_census`).
fn ret_convention(
    func: &Func,
    model: core::result::Result<FuncModel, Refusal>,
) -> core::result::Result<Convention, &'static str> {
    let stack_words =
        crate::btf::model::ret_stack_words(crate::denylist::never_returns(&func.name), || model)?;
    Ok(Convention {
        stack_words,
        frame: Frame::of(model.ok().map(|m| m.arg_regs)),
    })
}

/// One of a site's three dispatch `call`s (see [`plan::Targets`]).
#[derive(Clone, Copy)]
enum Dispatch {
    /// The entry trampoline's, with the site's list entry (what it calls in list mode).
    EntryOnly(usize),
    /// The return trampoline's entry dispatch.
    Entry,
    /// The return trampoline's return dispatch.
    Ret,
}

/// Read-only view of a site for the tracefs files.
pub(crate) struct SiteView<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) ops: usize,
    pub(crate) mode: Mode,
    pub(crate) trampoline: usize,
    pub(crate) switches: u64,
    pub(crate) int3_hits: u64,
    pub(crate) stale_hits: u64,
    /// The function enters its return trampoline.
    pub(crate) ret: bool,
    /// Calls inside its return trampoline now.
    pub(crate) inflight: u64,
    /// Its return trampoline: (slot A, slot B, layout).
    pub(crate) ret_layout: Option<(usize, usize, crate::arch::ret_trampoline::RetLayout)>,
    /// Its entry dispatch calls a fused stub of this many slots (0: none).
    pub(crate) fused: usize,
    /// What its trampoline saves.
    pub(crate) frame: Frame,
    /// Offset of its trampoline's dispatch `call`, and the trampoline's length.
    pub(crate) dispatch: usize,
    pub(crate) len: usize,
}

/// What a change does to a site's fused stub.
enum FusedStep {
    /// Keeps it (or keeps having none): the entry dispatch's ops are the same.
    Keep,
    /// Replaces it with this one, or with none (the entry dispatch calls a stub, the nop
    /// target or the list iterator); the old one is retired.
    Replace(Option<FusedStub>),
}

/// A change of one existing site, prepared.
struct SiteStep {
    ip: usize,
    change: plan::Change,
    attached: KVec<OpsPtr>,
    list: Option<KBox<OpsList>>,
    /// A return trampoline built for this change (the site had none): the round switches the
    /// entry trampoline's mode site to it.
    ret_new: Option<KBox<RetTramp>>,
    /// No return ops is left: the round switches the mode site back to the entry trampoline,
    /// and the return trampoline drains.
    ret_done: bool,
    /// The entry dispatch's fused stub.
    fused: FusedStep,
    /// The stub it replaced, retired after the round (which switches away from it).
    fused_old: Option<FusedStub>,
}

/// A new site, prepared: allocated, trampoline written, started with ftrace at the nop target.
struct NewSite {
    site: KBox<Site>,
    node: RBTreeNodeReservation<usize, KBox<Site>>,
}

/// Everything one operation will do, allocated; committing it cannot fail.
struct Prepared {
    steps: KVec<SiteStep>,
    created: KVec<NewSite>,
    round: Option<Round>,
}

/// All sites and ops. Lives in a mutex: every change is made by one thread at a time, in
/// process context.
///
/// # Invariants
///
/// - Every ops in a site's `attached` has a record in `ops` with a stub.
/// - A registered ops' filter is exactly the set of sites that list it.
/// - `nop` holds the do-nothing target; `spare` is a one-site round not in use, whose record no
///   RCU reader still holds.
/// - `kept` counts sites ftrace would not detach: their slots are never freed, so at drop the
///   pool is leaked if it is non-zero.
pub(crate) struct Engine {
    tmpl: Template,
    pool: ManuallyDrop<Pool>,
    patcher: Patcher,
    nop: Slot,
    spare: Round,
    sites: RBTree<usize, KBox<Site>>,
    ops: RBTree<usize, OpsRec>,
    retired: Retired,
    kept: usize,
    rets: RetTable,
    /// Why the last operation refused a function return ops (for error_log).
    refusal: Option<&'static str>,
    /// Return trampolines detached and waiting for their calls to return ([`RetTramp`]).
    draining: Option<KBox<RetTramp>>,
    /// vmlinux's functions in its BTF, to find a function's model fast.
    btf_funcs: FuncIndex,
}

// SAFETY: the raw pointers are to ops registered by their owners and to kernel objects; all
// access is under the engine's mutex.
unsafe impl Send for Engine {}

impl Engine {
    /// An engine with `slots` slots of trampoline memory.
    pub(crate) fn new(slots: usize) -> Result<Self> {
        let tmpl = Template::get()?;
        let spare = Round::spare()?;
        let mut pool = Pool::new(slots)?;
        let nop = pool.alloc()?;
        let code = tmpl.nop_target(nop.addr())?;
        pool::poke(nop.addr(), code.as_bytes());
        // INVARIANT: nothing is registered yet; `nop` and `spare` are ready.
        Ok(Self {
            tmpl,
            pool: ManuallyDrop::new(pool),
            patcher: Patcher::default(),
            nop,
            spare,
            sites: RBTree::new(),
            ops: RBTree::new(),
            retired: Retired::default(),
            kept: 0,
            rets: RetTable::new(),
            refusal: None,
            btf_funcs: FuncIndex::new(),
            draining: None,
        })
    }

    /// The entry stub address of the registered ops `o`, if any.
    fn stub_of(&self, o: OpsPtr) -> Option<usize> {
        self.ops.get(&o.key())?.stub.as_ref().map(Slot::addr)
    }

    /// What the registered ops `o` does (entry-only if unknown).
    fn kind_of(&self, o: OpsPtr) -> Kind {
        self.ops.get(&o.key()).map_or(Kind::Entry, |r| r.kind)
    }

    /// The address dispatch `d` calls for target `to`; `cur` is the ops being changed with its
    /// stub (it may have no record yet).
    fn resolve(&self, to: To<OpsPtr>, d: Dispatch, cur: (OpsPtr, usize)) -> Result<usize> {
        let stub = |o: OpsPtr| {
            if o == cur.0 {
                Some(cur.1)
            } else {
                self.stub_of(o)
            }
        };
        Ok(match (to, d) {
            (To::Nop, _) => self.nop.addr(),
            (To::Stub(o), Dispatch::EntryOnly(_) | Dispatch::Entry) => stub(o).ok_or(EINVAL)?,
            (To::Stub(o), Dispatch::Ret) => stub(o).ok_or(EINVAL)? + RET_STUB_AT,
            (To::Iter, Dispatch::EntryOnly(list_entry)) => list_entry,
            (To::Iter, Dispatch::Entry) => ret::addr_of_list_iter(),
            (To::Iter, Dispatch::Ret) => ret::addr_of_ret_iter(),
        })
    }

    /// The patches that bring `site`'s dispatch calls (and those of `ret_new`, a return
    /// trampoline it is getting) to `t`.
    /// The entry dispatch goes to `fused` when there is one, else where `t` says.
    fn patches_for(
        &self,
        site: &Site,
        ret_new: Option<&RetTramp>,
        fused: Option<usize>,
        t: &Targets<OpsPtr>,
        cur: (OpsPtr, usize),
        out: &mut KVec<Patch>,
    ) -> Result {
        let entry_only = match fused {
            Some(stub) => stub,
            None => self.resolve(t.entry_only, Dispatch::EntryOnly(site.list_entry()), cur)?,
        };
        out.push(
            Patch {
                site: site.dispatch(),
                target: entry_only,
            },
            GFP_KERNEL,
        )?;
        let r = ret_new.or(site.ret.as_deref());
        out.push(
            Patch {
                site: site.mode_site(),
                target: match r {
                    Some(r) if t.returns > 0 => r.addr(),
                    _ => site.mode_entry_only(),
                },
            },
            GFP_KERNEL,
        )?;
        if let Some(r) = r {
            out.push(
                Patch {
                    site: r.entry_site(),
                    target: self.resolve(t.entry, Dispatch::Entry, cur)?,
                },
                GFP_KERNEL,
            )?;
            out.push(
                Patch {
                    site: r.ret_site(),
                    target: self.resolve(t.ret, Dispatch::Ret, cur)?,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(())
    }

    /// Creates the record of `ops` with `filter` if it has none. Returns whether it did.
    fn ensure_record(&mut self, ops: OpsPtr) -> Result<bool> {
        if self.ops.get(&ops.key()).is_some() {
            return Ok(false);
        }
        fault::point()?;
        let rec = OpsRec {
            ops,
            filter: KVec::new(),
            stub: None,
            kind: ops.kind().unwrap_or(Kind::Entry),
            ret_id: 0,
        };
        self.ops
            .insert(RBTreeNode::new(ops.key(), rec, GFP_KERNEL)?);
        ops.mark(true);
        Ok(true)
    }

    /// Drops the record of `ops` (which must not be registered).
    fn drop_record(&mut self, ops: OpsPtr) {
        if self.ops.remove(&ops.key()).is_some() {
            ops.mark(false);
        }
    }

    // ---- prepare and commit ----

    /// Prepares moving `ops` (of `kind`, whose stub is at `stub`) to or from each function of
    /// `changes`; `new` has the functions being added (sorted). On error nothing changed.
    fn prepare(
        &mut self,
        ops: OpsPtr,
        kind: Kind,
        stub: usize,
        changes: &[(usize, Dir)],
        new: &[Func],
    ) -> Result<Prepared> {
        let mut p = Prepared {
            steps: KVec::new(),
            created: KVec::new(),
            round: None,
        };
        match self.prepare_into(&mut p, ops, kind, stub, changes, new) {
            Ok(()) => Ok(p),
            Err(e) => {
                self.abort(p);
                Err(e)
            }
        }
    }

    fn prepare_into(
        &mut self,
        p: &mut Prepared,
        ops: OpsPtr,
        kind: Kind,
        stub: usize,
        changes: &[(usize, Dir)],
        new: &[Func],
    ) -> Result {
        fault::point()?;
        p.steps.reserve(changes.len(), GFP_KERNEL)?;
        let mut patches = KVec::with_capacity(changes.len(), GFP_KERNEL)?;
        let (mut lists, mut retiring, mut old_fused) = (0, 0, 0);
        let nop = self.nop.addr();
        let cur = (ops, stub);
        for &(ip, dir) in changes {
            let site = self.sites.get(&ip);
            let has = site.is_some_and(|s| s.attached.contains(&ops));
            if has == (dir == Dir::Add) {
                continue; // already where it should be
            }
            let before = site.map_or(0, |s| s.attached.len());
            let Some(change) = plan::change(before, dir) else {
                continue;
            };
            let kind_of = |o: OpsPtr| if o == ops { kind } else { self.kind_of(o) };
            let after: &[OpsPtr] = site.map_or(&[], |s| &s.attached);
            let t = plan::targets(plan::attached_after(after, ops, dir).map(|o| (o, kind_of(o))));
            if t.returns > ret::MAX_PER_CALL {
                return Err(ENOSPC);
            }
            let Some(site) = site else {
                // A new site: it starts at the nop target and the round switches it on.
                let func = new
                    .binary_search_by_key(&ip, |f| f.ip)
                    .map(|i| &new[i])
                    .map_err(|_| EINVAL)?;
                fault::point()?;
                p.created.reserve(1, GFP_KERNEL)?;
                fault::point()?;
                let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
                // The model gives the entry frame (lean with one, full without) and, for return
                // ops, the stack arguments.
                let model = btf::model_of(func, &mut self.btf_funcs);
                let frame = Frame::of(model.ok().map(|m| m.arg_regs));
                let mut site = Site::new(&mut self.pool, &self.tmpl, func, ops, nop, frame)?;
                if t.returns > 0 {
                    let conv = ret_convention(func, model).map_err(|why| {
                        self.refusal = Some(why);
                        eopnotsupp()
                    });
                    let r = conv.and_then(|conv| {
                        RetTramp::new(
                            &mut self.pool,
                            &self.tmpl,
                            func,
                            site.hot_addr(),
                            conv,
                            nop,
                            ret::addr_of_ret_iter(),
                        )
                    });
                    match r {
                        Ok(r) => site.ret = Some(r),
                        Err(e) => {
                            self.retire_site(site);
                            return Err(e);
                        }
                    }
                }
                if let Err(e) = self.patches_for(&site, None, None, &t, cur, &mut patches) {
                    self.retire_site(site);
                    return Err(e);
                }
                // Within the capacity reserved above.
                if let Err(n) = vec::push_within_capacity(&mut p.created, NewSite { site, node }) {
                    self.retire_site(n.site);
                    return Err(ENOMEM);
                }
                continue;
            };
            fault::point()?;
            let mut attached = KVec::with_capacity(change.after, GFP_KERNEL)?;
            for o in plan::attached_after(&site.attached, ops, dir) {
                attached.push(o, GFP_KERNEL)?;
            }
            let list = match change.list {
                ListStep::Before | ListStep::After => Some(OpsList::new(
                    attached.iter().map(|&o| (o.as_ptr(), self.ret_id_of(o))),
                )?),
                ListStep::None => None,
            };
            if change.list != ListStep::None {
                lists += 1;
            }
            if change.retire {
                retiring += 1;
            }
            let ret_new = if t.returns > 0 && site.ret.is_none() {
                // The function moves to a return trampoline whose entry dispatch calls what
                // the entry trampoline calls now; the round then switches both.
                let old = plan::targets(site.attached.iter().map(|&o| (o, kind_of(o))));
                let entry = self.resolve(old.entry, Dispatch::Entry, cur)?;
                let model = btf::model_of(&site.func, &mut self.btf_funcs);
                let conv = ret_convention(&site.func, model).map_err(|why| {
                    self.refusal = Some(why);
                    eopnotsupp()
                })?;
                let hot = site.hot_addr();
                Some(RetTramp::new(
                    &mut self.pool,
                    &self.tmpl,
                    &site.func,
                    hot,
                    conv,
                    entry,
                    ret::addr_of_ret_iter(),
                )?)
            } else {
                None
            };
            let site = self.sites.get(&ip).ok_or(EINVAL)?;
            let step = SiteStep {
                ip,
                change,
                attached,
                list,
                ret_done: t.returns == 0 && site.ret.is_some() && !change.retire,
                ret_new,
                fused: FusedStep::Keep,
                fused_old: None,
            };
            // The step goes in first: on error, abort finds its return trampoline (and its
            // fused stub) there.
            p.steps.push(step, GFP_KERNEL)?;
            let last = p.steps.len() - 1;
            if !change.retire {
                // (A retiring site's stub, if any, is freed with the site.)
                let attached = &p.steps[last].attached;
                let fused = self.fused_step(ip, attached, t.entry_only, (ops, kind))?;
                p.steps[last].fused = fused;
            }
            let site = self.sites.get(&ip).ok_or(EINVAL)?;
            if let (FusedStep::Replace(_), Some(old)) = (&p.steps[last].fused, &site.fused) {
                old_fused += old.slots();
            }
            let step = &p.steps[last];
            let fused = match &step.fused {
                FusedStep::Keep => site.fused.as_ref(),
                FusedStep::Replace(f) => f.as_ref(),
            };
            let fused = fused.map(FusedStub::addr);
            self.patches_for(site, step.ret_new.as_deref(), fused, &t, cur, &mut patches)?;
        }
        self.retired
            .reserve(retiring + p.created.len(), 1, lists, old_fused)?;
        p.round = Round::prepare(&self.pool, patches)?;
        // Last, as the only failure outside our control: ftrace attaching the new sites.
        for n in p.created.iter_mut() {
            n.site.start()?;
        }
        Ok(())
    }

    /// What a site whose ops become `attached` does with its fused stub: with 2..`fused_max`
    /// entry ops its entry dispatch calls a new stub (unless it already calls one making the
    /// same calls), else none. A stub that cannot be built (no slot, the parameter at 0)
    /// leaves the site on the list iterator, as past `fused_max` and when the pool is down
    /// to its last quarter.
    fn fused_step(
        &mut self,
        ip: usize,
        attached: &[OpsPtr],
        entry_only: To<OpsPtr>,
        cur: (OpsPtr, Kind),
    ) -> Result<FusedStep> {
        let had = self.sites.get(&ip).is_some_and(|s| s.fused.is_some());
        // No stub (any the site had is retired).
        let none = if had {
            FusedStep::Replace(None)
        } else {
            FusedStep::Keep
        };
        if entry_only != To::Iter {
            return Ok(none);
        }
        // SAFETY: no preconditions.
        let max = unsafe { sys::ftramp_param_fused_max() } as usize;
        // As in `prepare_into`: the changing ops may have no record yet.
        let kind_of = |o: OpsPtr| if o == cur.0 { cur.1 } else { self.kind_of(o) };
        let n = attached
            .iter()
            .filter(|&&o| kind_of(o) == Kind::Entry)
            .count();
        if n > max {
            return Ok(none);
        }
        fault::point()?;
        let mut calls = KVec::with_capacity(n, GFP_KERNEL)?;
        for &o in attached.iter().filter(|&&o| kind_of(o) == Kind::Entry) {
            let (func, flags) = o.func_and_flags();
            calls.push(
                Call {
                    ops: o.key() as u64,
                    target: func,
                    guarded: !assist::guards_itself(flags),
                },
                GFP_KERNEL,
            )?;
        }
        // Fused stubs never take the last quarter of the pool: sites and ops stubs, which
        // cannot do without a slot, keep it.
        let room = |need: usize| self.pool.available() >= need + self.pool.capacity() / 4;
        if !FusedStub::slots_needed(&self.tmpl, &calls).is_some_and(room) {
            return Ok(none);
        }
        if let Some(f) = self.sites.get(&ip).and_then(|s| s.fused.as_ref()) {
            if f.calls(&calls) {
                return Ok(FusedStep::Keep);
            }
        }
        // A stub that cannot be built leaves the list iterator (the failure is not the
        // operation's).
        Ok(FusedStub::new(&mut self.pool, &self.tmpl, &calls)
            .map_or(none, |f| FusedStep::Replace(Some(f))))
    }

    /// The return id of `o` (0 for entry-only ops; the ops being attached has its record,
    /// with its id, before prepare runs).
    fn ret_id_of(&self, o: OpsPtr) -> u64 {
        self.ops.get(&o.key()).map_or(0, |r| r.ret_id)
    }

    /// Undoes a failed prepare: new sites are stopped and retired (ftrace may have run them);
    /// return trampolines built for existing sites were never reachable.
    fn abort(&mut self, p: Prepared) {
        let Prepared { created, steps, .. } = p;
        // No mode site was switched to a return trampoline built here: nothing can have
        // entered one, so it goes at once (no drain, no reference on ftramp left behind).
        for mut n in created {
            if let Some(r) = n.site.ret.take() {
                KBox::into_inner(r).free(&mut self.pool);
            }
            self.retire_site(n.site);
        }
        for mut step in steps {
            if let Some(r) = step.ret_new.take() {
                KBox::into_inner(r).free(&mut self.pool);
            }
            // Never reachable: no round ran.
            if let FusedStep::Replace(Some(f)) =
                core::mem::replace(&mut step.fused, FusedStep::Keep)
            {
                f.free(&mut self.pool);
            }
        }
        self.flush();
    }

    /// Commits a prepared operation. Cannot fail, allocates nothing.
    fn commit(&mut self, p: Prepared) {
        let Prepared {
            mut steps,
            created,
            round,
        } = p;
        for n in created {
            let ip = n.site.func.ip;
            // No other site has this ip: prepare only creates where there was none.
            self.sites.insert(n.node.into_node(ip, n.site));
        }
        // Lists first (the lossless order): a site about to call an iterator, or staying a
        // list, gets its complete new list before any call moves.
        for step in steps.iter_mut() {
            let Some(site) = self.sites.get_mut(&step.ip) else {
                continue;
            };
            core::mem::swap(&mut site.attached, &mut step.attached);
            if let Some(r) = step.ret_new.take() {
                site.ret = Some(r);
            }
            // The round below switches the entry dispatch to the new stub (or off the old
            // one); the old one is retired after it.
            if let FusedStep::Replace(f) = core::mem::replace(&mut step.fused, FusedStep::Keep) {
                step.fused_old = core::mem::replace(&mut site.fused, f);
            }
            if matches!(step.change.target, Target::Iterator | Target::Survivor) {
                site.switches += 1;
            }
            if step.change.list == ListStep::Before {
                if let Some(old) = step.list.take().and_then(|l| site.hot.publish(l)) {
                    self.retired.list(old);
                }
            }
        }
        if let Some(mut round) = round {
            self.patcher.commit(&self.pool, &mut round);
        }
        // After the round: a site gone direct gets the survivor's list (the leaving ops was in
        // it until now; an iterator called before the switch may still load it), a site with
        // no return ops left goes back to its entry trampoline, an emptied site calls the nop
        // target and is stopped.
        for step in steps.iter_mut() {
            // Freed after a later wait (batched like lists), within the room reserved.
            if let Some(old) = step.fused_old.take() {
                for slot in old.into_slots() {
                    self.retired.fused(&mut self.pool, slot);
                }
            }
            if step.change.list == ListStep::After {
                let site = self.sites.get(&step.ip);
                if let Some(old) = step.list.take().and_then(|l| site?.hot.publish(l)) {
                    self.retired.list(old);
                }
            }
            if step.change.retire {
                if let Some(site) = self.sites.remove(&step.ip) {
                    self.retire_site(site);
                }
            } else if step.ret_done {
                self.leave_ret(step.ip);
            }
        }
    }

    /// Drains the return trampoline of site `ip`, which the round just made unreachable (its
    /// mode site calls the entry trampoline again).
    fn leave_ret(&mut self, ip: usize) {
        let Some(site) = self.sites.get_mut(&ip) else {
            return;
        };
        if let Some(mut r) = site.ret.take() {
            r.set_unreachable();
            self.drain_push(r);
        }
    }

    /// Starts draining `r` (already unreachable).
    fn drain_push(&mut self, mut r: KBox<RetTramp>) {
        r.next = self.draining.take();
        self.draining = Some(r);
        // SAFETY: no preconditions (queues ftramp's drain work if it is not queued).
        unsafe { sys::ftramp_drain_kick() };
    }

    /// Frees every draining return trampoline whose calls have returned, as far as the waits
    /// made so far allow; with `wait`, makes the one wait that lets the others progress.
    /// Returns whether any is left.
    pub(crate) fn drain(&mut self, wait: bool) -> bool {
        let mut need_wait = self.drain_pass();
        if need_wait && wait {
            wait_for_retired_code();
            need_wait = self.drain_pass();
            if need_wait {
                wait_for_retired_code();
                self.drain_pass();
            }
        }
        self.draining.is_some()
    }

    /// One pass over the draining list; returns whether a wait would let one progress.
    fn drain_pass(&mut self) -> bool {
        let mut rest = self.draining.take();
        let mut keep: Option<KBox<RetTramp>> = None;
        let mut need_wait = false;
        while let Some(mut r) = rest {
            rest = r.next.take();
            match r.drain_step() {
                Some(true) => KBox::into_inner(r).free(&mut self.pool),
                step => {
                    need_wait |= step == Some(false);
                    r.next = keep;
                    keep = Some(r);
                }
            }
        }
        self.draining = keep;
        need_wait
    }

    /// Stops `site` (already calling the nop target, or never switched on) and retires it. If
    /// ftrace refuses, the site is kept forever: it is neutral, and its memory stays.
    fn retire_site(&mut self, mut site: KBox<Site>) {
        // Its mode site calls the entry trampoline again (the round that emptied it switched
        // it, or it was never switched): the return trampoline drains whether or not ftrace
        // lets the function go.
        if let Some(mut r) = site.ret.take() {
            r.set_unreachable();
            self.drain_push(r);
        }
        match site.direct.stop() {
            Ok(()) => self.retired.site(&mut self.pool, site),
            Err(e) => {
                pr_warn!(
                    "ftrace would not detach {} ({:?}): its trampoline is kept, calling nothing\n",
                    kernel::str::BStr::from_bytes(&site.func.name),
                    e
                );
                self.kept += 1;
                // INVARIANT: counted in `kept`; its slot is never returned to the pool.
                core::mem::forget(site);
            }
        }
    }

    fn flush(&mut self) {
        self.retired.flush(&mut self.pool);
        self.drain(false);
    }

    /// Removes `ops` from the site of `ip` without allocating, then waits: the fallback of
    /// `unregister` and the module-going path. A list loses the ops by a tombstone, and a list
    /// of two also switches to the survivor's stub; a lone ops' site switches to the nop target
    /// and is stopped; each switch with the spare round.
    fn detach_in_place(&mut self, ip: usize, ops: OpsPtr) {
        let Some(site) = self.sites.get(&ip) else {
            return;
        };
        let Some(pos) = site.attached.iter().position(|&o| o == ops) else {
            return;
        };
        let Some(step) = plan::in_place(site.attached.len()) else {
            return;
        };
        let t = plan::targets(
            site.attached
                .iter()
                .copied()
                .filter(|&o| o != ops)
                .map(|o| (o, self.kind_of(o))),
        );
        // Where each of the site's dispatch calls goes now, without allocating (the leaving
        // ops is never a target).
        let cur = (ops, 0);
        let to = |d, t| self.resolve(t, d, cur).unwrap_or(self.nop.addr());
        let mut patches = [
            Patch {
                site: site.dispatch(),
                target: to(Dispatch::EntryOnly(site.list_entry()), t.entry_only),
            },
            Patch { site: 0, target: 0 },
            Patch { site: 0, target: 0 },
            Patch { site: 0, target: 0 },
        ];
        let mut n = 1;
        if let Some(r) = site.ret.as_deref() {
            patches[1] = Patch {
                site: r.entry_site(),
                target: to(Dispatch::Entry, t.entry),
            };
            patches[2] = Patch {
                site: r.ret_site(),
                target: to(Dispatch::Ret, t.ret),
            };
            patches[3] = Patch {
                site: site.mode_site(),
                target: if t.returns > 0 {
                    r.addr()
                } else {
                    site.mode_entry_only()
                },
            };
            n = 4;
        }
        let Some(site) = self.sites.get_mut(&ip) else {
            return;
        };
        let _ = vec::remove(&mut site.attached, pos);
        // The entry dispatch moves off a fused stub to the iterator (or a stub, or the nop
        // target): no stub is built without allocating. Freed after the wait below.
        let old_fused = site.fused.take();
        if step.tombstone {
            // In place: a list of three stays one; with two, iterators called before the
            // switch below may still load it after it and must find the survivor.
            site.hot.tombstone(ops.as_ptr());
        }
        if step.target == Target::Survivor {
            site.switches += 1;
        }
        if self.spare.refill(&self.pool, &mut patches[..n]) {
            self.patcher.commit(&self.pool, &mut self.spare);
        }
        let stopped = if step.stop {
            self.sites
                .remove(&ip)
                .map(|mut s| {
                    // Unreachable since the switch above: drains, whether ftrace lets go or not.
                    if let Some(mut r) = s.ret.take() {
                        r.set_unreachable();
                        self.drain_push(r);
                    }
                    s
                })
                .and_then(|mut s| match s.direct.stop() {
                    Ok(()) => Some(s),
                    Err(_) => {
                        pr_warn!("ftrace would not detach a site: kept, calling nothing\n");
                        self.kept += 1;
                        core::mem::forget(s);
                        None
                    }
                })
        } else {
            if t.returns == 0 {
                self.leave_ret(ip);
            }
            None
        };
        // INVARIANT: the spare round's record is free for reuse after this (RCU included).
        wait_for_retired_code();
        if let Some(f) = old_fused {
            f.free(&mut self.pool);
        }
        if let Some(s) = stopped {
            KBox::into_inner(s).free(&mut self.pool);
        }
    }

    /// Detaches `ops` from every site that lists it, found by scanning the sites (not by its
    /// filter). Cannot fail.
    fn detach_everywhere(&mut self, ops: OpsPtr, kind: Kind) {
        let prepared = (|| {
            let mut changes = KVec::new();
            for (ip, s) in self.sites.iter() {
                if s.attached.contains(&ops) {
                    fault::point()?;
                    changes.push((*ip, Dir::Remove), GFP_KERNEL)?;
                }
            }
            Ok::<_, Error>(changes)
        })()
        .and_then(|changes| self.prepare(ops, kind, 0, &changes, &[]));
        match prepared {
            Ok(p) => self.commit(p),
            Err(_) => {
                // Allocation-free, one site at a time.
                while let Some(ip) = self
                    .sites
                    .iter()
                    .find(|(_, s)| s.attached.contains(&ops))
                    .map(|(ip, _)| *ip)
                {
                    self.detach_in_place(ip, ops);
                }
            }
        }
    }

    // ---- the operations ----

    /// Makes `funcs` the functions of `ops` (creating its record if needed); if it is
    /// registered, attaches and detaches at once. On error nothing changed.
    pub(crate) fn set_funcs(&mut self, ops: OpsPtr, mut funcs: KVec<Func>) -> Result {
        if funcs.len() > self.pool.capacity() {
            return Err(E2BIG);
        }
        funcs.sort_unstable_by_key(|f| f.ip);
        let created = self.ensure_record(ops)?;
        let Some(rec) = self.ops.get_mut(&ops.key()) else {
            return Err(EINVAL);
        };
        let Some(stub) = rec.stub.as_ref().map(Slot::addr) else {
            rec.filter = funcs;
            return Ok(());
        };
        let kind = rec.kind;
        let r = (|| {
            let (mut old, mut new) = (KVec::new(), KVec::new());
            fault::point()?;
            for f in rec.filter.iter() {
                old.push(f.ip, GFP_KERNEL)?;
            }
            for f in funcs.iter() {
                new.push(f.ip, GFP_KERNEL)?;
            }
            let mut changes = KVec::new();
            for c in plan::diff(&old, &new) {
                changes.push(c, GFP_KERNEL)?;
            }
            Ok::<_, Error>(changes)
        })()
        .and_then(|changes| self.prepare(ops, kind, stub, &changes, &funcs));
        match r {
            Ok(p) => {
                self.commit(p);
                if let Some(rec) = self.ops.get_mut(&ops.key()) {
                    rec.filter = funcs;
                }
                self.flush();
                Ok(())
            }
            Err(e) => {
                if created {
                    self.drop_record(ops);
                }
                Err(e)
            }
        }
    }

    /// Starts calling `ops` on every function of its filter. On error nothing changed.
    pub(crate) fn register(&mut self, ops: OpsPtr) -> Result {
        let (func, flags) = ops.func_and_flags();
        let kind = ops.kind().ok_or(EINVAL)?;
        let created = self.ensure_record(ops)?;
        let r = self.register_recorded(ops, kind, func, flags);
        if r.is_err() && created {
            self.drop_record(ops);
        }
        r
    }

    fn register_recorded(
        &mut self,
        ops: OpsPtr,
        kind: Kind,
        func: usize,
        flags: kernel::ffi::c_ulong,
    ) -> Result {
        let rec = self.ops.get_mut(&ops.key()).ok_or(EINVAL)?;
        if rec.stub.is_some() {
            return Err(EBUSY);
        }
        rec.kind = kind;
        let filter = core::mem::replace(&mut rec.filter, KVec::new());
        let id = match kind {
            Kind::Return => self.rets.alloc(ops.as_ptr()),
            Kind::Entry => Ok(0),
        };
        let r = id.and_then(|id| {
            if let Some(rec) = self.ops.get_mut(&ops.key()) {
                rec.ret_id = id;
            }
            self.attach_new(ops, kind, id, func, flags, &filter)
        });
        let res = r.as_ref().map(|_| ()).map_err(|e| *e);
        if let Some(rec) = self.ops.get_mut(&ops.key()) {
            rec.filter = filter;
            match r {
                Ok(stub) => rec.stub = Some(stub),
                Err(_) => {
                    if rec.ret_id != 0 {
                        self.rets.release(rec.ret_id);
                        rec.ret_id = 0;
                    }
                }
            }
        }
        self.flush();
        res
    }

    /// Writes the stub of `ops` (a return ops' two stubs, with its return id `id`) and
    /// attaches it to `filter`; returns the stub.
    fn attach_new(
        &mut self,
        ops: OpsPtr,
        kind: Kind,
        id: u64,
        func: usize,
        flags: kernel::ffi::c_ulong,
        filter: &[Func],
    ) -> Result<Slot> {
        let self_guarded = assist::guards_itself(flags);
        let target = assist::entry_target(func, flags);
        fault::point()?;
        let slot = self.pool.alloc()?;
        let prepared = (|| {
            let mut code = [0u8; ret_trampoline::RET_STUBS_LEN];
            let code = match kind {
                Kind::Entry => {
                    let stub = trampoline::ops_stub(slot.addr(), ops.key(), target)?;
                    code[..stub.len()].copy_from_slice(&stub);
                    &code[..stub.len()]
                }
                Kind::Return => {
                    let (entry, ret) = ret::stub_targets(self_guarded);
                    code = ret_trampoline::ret_stubs(slot.addr(), ops.key(), id, entry, ret)?;
                    &code[..]
                }
            };
            fault::point()?;
            let mut changes = KVec::with_capacity(filter.len(), GFP_KERNEL)?;
            for f in filter {
                changes.push((f.ip, Dir::Add), GFP_KERNEL)?;
            }
            // Not reachable before a site's call moves to it, in the round at commit.
            pool::poke(slot.addr(), code);
            Ok::<_, Error>(changes)
        })()
        .and_then(|changes| self.prepare(ops, kind, slot.addr(), &changes, filter));
        match prepared {
            Ok(p) => {
                self.commit(p);
                Ok(slot)
            }
            Err(e) => {
                // No site ever switched to the stub: prepare's sites start at the nop target.
                self.pool.free(slot);
                Err(e)
            }
        }
    }

    /// Registers a new `ops` (one the engine has no record of) on exactly `funcs`: all or
    /// nothing (the tracefs hooks' path).
    pub(crate) fn register_funcs(&mut self, ops: OpsPtr, funcs: KVec<Func>) -> Result {
        if self.ops.get(&ops.key()).is_some() {
            return Err(EEXIST);
        }
        self.set_funcs(ops, funcs)?;
        self.register(ops).inspect_err(|_| self.drop_record(ops))
    }

    /// Detaches `ops` everywhere, waits until no CPU or task can be in its stub or callback,
    /// and forgets it: the caller may free it afterwards. Cannot fail.
    pub(crate) fn unregister(&mut self, ops: OpsPtr) {
        self.unregister_many(&[ops]);
    }

    /// Unregisters several ops with one wait for all of them.
    pub(crate) fn unregister_many(&mut self, many: &[OpsPtr]) {
        for &ops in many {
            self.unregister_deferred(ops);
        }
        self.finish_unregister();
    }

    /// Detaches `ops` everywhere and forgets it, but leaves the wait to
    /// [`Engine::finish_unregister`]: until then the ops may still be running.
    pub(crate) fn unregister_deferred(&mut self, ops: OpsPtr) {
        let Some(rec) = self.ops.remove(&ops.key()) else {
            return;
        };
        ops.mark(false);
        if rec.ret_id != 0 {
            // First: from here on no return is delivered to it, even of calls still inside.
            self.rets.release(rec.ret_id);
        }
        if let Some(stub) = rec.stub {
            self.detach_everywhere(ops, rec.kind);
            self.retired.stub(&mut self.pool, stub);
        }
    }

    /// Waits for every ops unregistered with [`Engine::unregister_deferred`] and frees what
    /// they used: after this nothing can be running them.
    pub(crate) fn finish_unregister(&mut self) {
        self.flush();
    }

    /// `MODULE_STATE_GOING` of `m`: its text and data are about to be freed.
    pub(crate) fn module_going(&mut self, m: *mut sys::module) {
        // An API user that forgot to unregister.
        while let Some(ops) = self.find_ops(|o| {
            module::within(o.key(), m) || o.callbacks().iter().any(|&f| module::within(f, m))
        }) {
            // SAFETY: `m` is the going module; `ops` is still allocated (its memory goes only
            // after this notification).
            unsafe { sys::ftramp_warn_forgotten_ops(m, ops.as_ptr()) };
            self.unregister(ops);
        }
        // A site on the module's text (its init failed while a function was hooked).
        while let Some((ip, first)) = self
            .sites
            .iter()
            .find(|(_, s)| s.module.is(m))
            .map(|(ip, s)| (*ip, s.attached.first().copied()))
        {
            // SAFETY: `m` is still allocated.
            unsafe { sys::ftramp_warn_going_site(m, ip as kernel::ffi::c_ulong) };
            match first {
                Some(ops) => self.detach_in_place(ip, ops),
                None => {
                    if let Some(site) = self.sites.remove(&ip) {
                        self.retire_site(site);
                    }
                }
            }
        }
        // No filter keeps a function of the module (every registered one is detached above).
        for rec in self.ops.values_mut() {
            vec::retain(&mut rec.filter, |f| !module::within(f.ip, m));
        }
        self.flush();
    }

    /// The first ops with a record that satisfies `pred`.
    fn find_ops(&self, mut pred: impl FnMut(OpsPtr) -> bool) -> Option<OpsPtr> {
        let found = self.ops.values().map(|r| r.ops).find(|&o| pred(o));
        found
    }

    // ---- views ----

    /// The functions of `ops`' filter, if it has a record.
    pub(crate) fn funcs_of(&self, ops: OpsPtr) -> Option<&[Func]> {
        self.ops.get(&ops.key()).map(|r| r.filter.as_slice())
    }

    /// Every site, in ip order, for the tracefs files.
    pub(crate) fn sites(&self) -> impl Iterator<Item = SiteView<'_>> {
        self.sites.values().map(|s| {
            let info = self.pool.info(&s.slot);
            SiteView {
                name: &s.func.name,
                ops: s.attached.len(),
                mode: s.mode(),
                trampoline: s.slot.addr(),
                switches: s.switches,
                int3_hits: info.int3_hits.load(core::sync::atomic::Ordering::Relaxed),
                stale_hits: info.stale_hits.load(core::sync::atomic::Ordering::Relaxed),
                ret: s.ret.is_some(),
                inflight: s.ret.as_ref().map_or(0, |r| r.inflight()),
                ret_layout: s.ret.as_ref().map(|r| r.layout()),
                fused: s.fused.as_ref().map_or(0, FusedStub::slots),
                frame: s.frame,
                dispatch: s.call,
                len: s.len,
            }
        })
    }

    /// Why the last failed operation refused return ops on a function, once.
    pub(crate) fn take_refusal(&mut self) -> Option<&'static str> {
        self.refusal.take()
    }

    /// Return trampolines: (calls inside them now, draining ones, return ops registered).
    pub(crate) fn ret_stats(&self) -> (u64, usize, usize) {
        let mut inflight: u64 = self
            .sites
            .values()
            .filter_map(|s| s.ret.as_ref())
            .map(|r| r.inflight())
            .sum();
        let mut draining = 0;
        let mut d = self.draining.as_deref();
        while let Some(r) = d {
            inflight = inflight.wrapping_add(r.inflight());
            draining += 1;
            d = r.next.as_deref();
        }
        (inflight, draining, self.rets.used())
    }

    /// The ids of the registered return ops (slot and generation), lowest slot first.
    pub(crate) fn ret_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.rets.ids()
    }

    /// The patcher's counters.
    pub(crate) fn patch_stats(&self) -> PatchStats {
        self.patcher.stats
    }

    /// Sites ftrace would not detach (kept forever).
    pub(crate) fn kept(&self) -> usize {
        self.kept
    }

    /// (used, total) trampoline slots.
    pub(crate) fn slots(&self) -> (usize, usize) {
        (
            self.pool.capacity() - self.pool.available(),
            self.pool.capacity(),
        )
    }

    /// Slots of replaced fused stubs waiting for a batched flush (in use until then).
    pub(crate) fn slots_retired(&self) -> usize {
        self.retired.batched_slots()
    }

    /// The trampoline region.
    pub(crate) fn region(&self) -> (usize, usize) {
        self.pool.region()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Whatever is left: ftramp's own ops, or one given a filter and never unregistered
        // (API users are gone: each held a reference on ftramp). Each pass removes a record.
        while let Some(ops) = self.find_ops(|_| true) {
            self.unregister(ops);
        }
        // No site is left (each lists a registered ops); should one be, stop it anyway.
        while let Some((ip, first)) = self
            .sites
            .iter()
            .next()
            .map(|(ip, s)| (*ip, s.attached.first().copied()))
        {
            match first {
                Some(ops) => self.detach_in_place(ip, ops),
                None => {
                    if let Some(site) = self.sites.remove(&ip) {
                        self.retire_site(site);
                    }
                }
            }
        }
        self.retired.flush_all(&mut self.pool);
        // Each return trampoline holds a reference on ftramp, so none is left at exit; after a
        // failed init one just made unreachable may be: let it drain here.
        while self.draining.is_some() {
            if !self.drain(true) {
                break;
            }
            if self.draining.as_ref().is_some_and(|r| r.inflight() != 0) {
                pr_warn!("calls are still inside a return trampoline: keeping its memory\n");
                self.kept += 1;
                core::mem::forget(self.draining.take());
            }
        }
        // SAFETY: `pool` is taken exactly once, here, and not used after.
        let pool = unsafe { ManuallyDrop::take(&mut self.pool) };
        if self.kept > 0 {
            // A kept site's trampoline (and the nop target it calls) may still run.
            pool.leak();
        } else {
            drop(pool);
        }
    }
}
