// SPDX-License-Identifier: GPL-2.0

//! Sites (hooked functions) and ops, and every change of which ops run where.
//!
//! A site owns one ftrace direct-call `ftrace_ops` pointing at its trampoline, and the list of
//! ops attached to it. Its dispatch `call` reaches, with one ops, that ops' entry stub
//! (`movabs $ops, %rdx; jmp callback`), with two or more the list iterator:
//!
//! ```text
//!   0 ops --attach--> 1 [stub] --attach--> N [iterator] --detach--> 1 [survivor's stub]
//!     ^                                                                   |
//!     +------------------- detach: unregister, RCU-tasks, free ----------+
//! ```
//!
//! Every change follows the lossless-switch order: the new state is made valid first (the list
//! holds all N ops before the call moves to the iterator; the survivor's stub exists before
//! the call moves to it), one patch round switches all affected sites, and only then is what
//! the old state needed retired (lists with `kfree_rcu`, code after RCU-tasks).

use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use kernel::{ffi, prelude::*, types::Opaque};

use crate::{
    filter,
    functions::{self, Func},
    iterator::{self, SiteHot},
    patcher::{Patch, Patcher},
    pool::{self, Pool, Slot},
    sys, trampoline,
    trampoline::Template,
    vec,
};

type TextAddressFn = unsafe extern "C" fn(ffi::c_ulong) -> *mut sys::module;

/// How a site dispatches.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One ops: its entry stub.
    Direct,
    /// Several ops: the list iterator.
    List,
}

/// One hooked function.
struct Site {
    func: Func,
    /// The module holding the function, pinned while the site exists (null: vmlinux).
    module: *mut sys::module,
    fops: KBox<Opaque<sys::ftrace_ops>>,
    slot: Slot,
    hot: KBox<SiteHot>,
    attached: KVec<*mut sys::ftramp_ops>,
    switches: u64,
}

/// ftramp's state of one ops, reached through `ftramp_ops.internal`.
struct OpsRec {
    /// The functions of the ops' filter, sorted by ip.
    filter: KVec<Func>,
    /// The ops' entry stub, while registered.
    stub: Option<Slot>,
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
}

/// All sites and ops. Lives in a mutex: every change is made by one thread at a time, in
/// process context.
pub(crate) struct Engine {
    tmpl: Template,
    pool: Pool,
    pub(crate) patcher: Patcher,
    /// Sorted by ip.
    sites: KVec<KBox<Site>>,
    /// Every ops with an `OpsRec`.
    ops: KVec<NonNull<sys::ftramp_ops>>,
    /// Stopped sites and stubs of unregistered ops, freed by `flush_retired` after one wait
    /// for all of them (so detaching many costs one set of grace periods, not one each).
    retired_sites: KVec<KBox<Site>>,
    retired_stubs: KVec<Slot>,
}

// SAFETY: the raw pointers are to ops registered by their owners and to kernel objects; all
// access is under the engine's mutex.
unsafe impl Send for Engine {}

impl Site {
    fn dispatch(&self, tmpl: &Template) -> usize {
        self.slot.addr() + tmpl.call
    }

    fn mode(&self) -> Mode {
        if self.attached.len() > 1 {
            Mode::List
        } else {
            Mode::Direct
        }
    }

    /// Replaces the iterator's list with `attached`; the old list is freed after RCU.
    fn publish_list(&self) -> Result {
        let n = self.attached.len();
        // SAFETY: plain allocation.
        let list = unsafe { sys::ftramp_list_alloc(n as u32) };
        if list.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `list` has room for `n` entries and is not yet published.
        unsafe { (*list).ops.as_mut_slice(n) }.copy_from_slice(&self.attached);
        let old = self.hot.list.swap(list, Ordering::AcqRel);
        // SAFETY: `old` is unpublished; iterators still reading it are RCU readers.
        unsafe { sys::ftramp_list_free_rcu(old) };
        Ok(())
    }
}

/// The entry of a registered ops: its stub.
fn entry_of(ops: *mut sys::ftramp_ops) -> usize {
    // SAFETY: callers pass registered ops, whose `internal` is their `OpsRec` with a stub.
    unsafe { rec_of(ops) }
        .and_then(|r| r.stub.as_ref())
        .map_or(0, |s| s.addr())
}

/// # Safety
///
/// `ops` is valid and its `internal` is null or an `OpsRec` of this engine; the engine lock is
/// held for the lifetime of the result.
unsafe fn rec_of<'a>(ops: *mut sys::ftramp_ops) -> Option<&'a mut OpsRec> {
    // SAFETY: by the function's requirements.
    unsafe { (*ops).internal.cast::<OpsRec>().as_mut() }
}

/// Waits until no CPU or task can be executing code or data retired before the call: code
/// reached from preemptible tasks (RCU-tasks), from where RCU is not watching (the rude
/// flavour), and RCU readers.
fn wait_for_retired_code() {
    // SAFETY: process context, no locks that RCU callbacks need.
    unsafe {
        sys::synchronize_rcu();
        sys::synchronize_rcu_tasks_rude();
        sys::synchronize_rcu_tasks();
    }
}

impl Engine {
    /// An engine with `slots` slots of trampoline memory.
    pub(crate) fn new(slots: usize) -> Result<Self> {
        Ok(Self {
            tmpl: Template::get()?,
            pool: Pool::new(slots)?,
            patcher: Patcher::default(),
            sites: KVec::new(),
            ops: KVec::new(),
            retired_sites: KVec::new(),
            retired_stubs: KVec::new(),
        })
    }

    fn site_index(&self, ip: usize) -> core::result::Result<usize, usize> {
        self.sites.binary_search_by_key(&ip, |s| s.func.ip)
    }

    /// Creates and starts the site of `func` with `ops` (registered) as its only ops.
    fn create_site(&mut self, func: &Func, ops: *mut sys::ftramp_ops) -> Result {
        let Err(pos) = self.site_index(func.ip) else {
            return Err(EEXIST);
        };
        let mut name = KVec::new();
        name.extend_from_slice(&func.name, GFP_KERNEL)?;
        let mut attached = KVec::new();
        attached.push(ops, GFP_KERNEL)?;
        let hot = KBox::new(
            SiteHot {
                list: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
            },
            GFP_KERNEL,
        )?;
        let fops = KBox::new(Opaque::new(sys::ftrace_ops::default()), GFP_KERNEL)?;
        self.sites.reserve(1, GFP_KERNEL)?;
        // Allocated before the slot and the module reference, so nothing below can fail
        // with those held.
        let boxed = KBox::<Site>::new_uninit(GFP_KERNEL)?;
        let lookup = crate::symbols::address(kernel::c_str!("__module_text_address"));
        // SAFETY: `lookup` is `__module_text_address` (resolved at load, so non-zero), which
        // has this prototype; the reference taken is dropped when the site goes.
        let module = unsafe {
            sys::ftramp_module_get(
                func.ip as ffi::c_ulong,
                Some(core::mem::transmute::<usize, TextAddressFn>(lookup)),
            )
        };
        if module as usize >= usize::MAX - 4094 {
            return Err(ENOENT);
        }
        let slot = match self.pool.alloc() {
            Ok(s) => s,
            Err(e) => {
                // SAFETY: taken above.
                unsafe { sys::ftramp_module_put(module) };
                return Err(e);
            }
        };
        let site = KBox::write(
            boxed,
            Site {
                func: Func { ip: func.ip, name },
                module,
                fops,
                slot,
                hot,
                attached,
                switches: 0,
            },
        );
        match self.start_site(&site) {
            Ok(()) => vec::insert(&mut self.sites, pos, site),
            Err(e) => {
                // Never reachable (ftrace refused it): free at once.
                let site = KBox::into_inner(site);
                self.pool.free(site.slot);
                // SAFETY: taken when the site was made.
                unsafe { sys::ftramp_module_put(site.module) };
                Err(e)
            }
        }
    }

    /// Writes the site's trampoline and attaches it to the function with ftrace.
    fn start_site(&self, site: &Site) -> Result {
        site.publish_list()?;
        let target = entry_of(site.attached[0]);
        let at = site.slot.addr();
        let hot: *const SiteHot = &*site.hot;
        let code = self.tmpl.build(at, site.func.ip, hot as usize, target)?;
        pool::poke(at, code.as_bytes());
        let info = site.slot.info();
        info.target.store(target, Ordering::Release);
        info.site
            .store(site.dispatch(&self.tmpl), Ordering::Release);
        let fops = site.fops.get();
        // SAFETY: `fops` is a zeroed `ftrace_ops` on the heap, owned by the site until it is
        // unregistered; `ip` is a fentry site (checked by `functions`).
        let r = unsafe { sys::ftrace_set_filter_ip(fops, site.func.ip as ffi::c_ulong, 0, 0) };
        if let Err(e) = kernel::error::to_result(r) {
            info.site.store(0, Ordering::Release);
            return Err(e);
        }
        // SAFETY: `fops` has its filter; the trampoline at `at` is complete. ftrace patches
        // the fentry site with its own synchronised text poke.
        let r = unsafe { sys::register_ftrace_direct(fops, at as ffi::c_ulong) };
        if let Err(e) = kernel::error::to_result(r) {
            // SAFETY: `fops` is not registered; this frees its filter hash.
            unsafe { sys::ftrace_free_filter(fops) };
            info.site.store(0, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    /// Detaches ftrace from `site`'s function. Its code stays until `wait_for_retired_code`.
    /// Returns false if ftrace refused: the function may still call the trampoline.
    fn stop_site(site: &Site) -> bool {
        // SAFETY: the site was registered with this trampoline by `start_site`.
        let r = unsafe {
            sys::unregister_ftrace_direct(site.fops.get(), site.slot.addr() as ffi::c_ulong, true)
        };
        if r != 0 {
            pr_warn!(
                "unregister_ftrace_direct failed ({}): its trampoline is kept forever\n",
                r
            );
        }
        r == 0
    }

    /// Moves `ops` (registered) from the functions `old` to the functions `new`: attaches where
    /// it is new, detaches where it is gone, switching every affected live site in one round.
    /// On error nothing changed.
    fn apply(&mut self, ops: *mut sys::ftramp_ops, old: &[Func], new: &[Func]) -> Result {
        let mut adds: KVec<&Func> = KVec::new();
        for f in new.iter().filter(|f| !old.iter().any(|o| o.ip == f.ip)) {
            adds.push(f, GFP_KERNEL)?;
        }
        let removes = old.iter().filter(|f| !new.iter().any(|n| n.ip == f.ip));

        // New sites first: the only step that can fail for reasons outside our control
        // (ftrace refusing, e.g. another direct caller on the function). Undo them on error.
        let fresh = adds
            .iter()
            .filter(|f| self.site_index(f.ip).is_err())
            .count();
        if fresh > self.pool.available() {
            return Err(E2BIG);
        }
        let mut created: KVec<usize> = KVec::with_capacity(fresh, GFP_KERNEL)?;
        for f in adds.iter() {
            if self.site_index(f.ip).is_ok() {
                continue;
            }
            if let Err(e) = self.create_site(f, ops) {
                self.retire_sites(&created);
                return Err(e);
            }
            created.push(f.ip, GFP_KERNEL)?;
        }

        let mut batch = KVec::new();
        let mut shrunk: KVec<usize> = KVec::new();
        let mut emptied: KVec<usize> = KVec::new();
        let iter = iterator::addr_of_iter();
        // Attach to existing sites: the list gets all ops before the call moves to the
        // iterator (the lossless order).
        for f in adds.iter().filter(|f| !created.contains(&f.ip)) {
            let Ok(i) = self.site_index(f.ip) else {
                continue;
            };
            let site = &mut self.sites[i];
            site.attached.push(ops, GFP_KERNEL)?;
            site.publish_list()?;
            if site.attached.len() == 2 {
                site.switches += 1;
            }
            batch.push(
                Patch {
                    site: site.dispatch(&self.tmpl),
                    info: site.slot.info(),
                    target: iter,
                },
                GFP_KERNEL,
            )?;
        }
        // Detach: the leaving ops stays in the list until the switch is over.
        for f in removes {
            let Ok(i) = self.site_index(f.ip) else {
                continue;
            };
            let site = &mut self.sites[i];
            let Some(pos) = site.attached.iter().position(|&o| o == ops) else {
                continue;
            };
            vec::remove(&mut site.attached, pos);
            match site.attached.len() {
                0 => emptied.push(f.ip, GFP_KERNEL)?,
                1 => {
                    site.switches += 1;
                    batch.push(
                        Patch {
                            site: site.dispatch(&self.tmpl),
                            info: site.slot.info(),
                            target: entry_of(site.attached[0]),
                        },
                        GFP_KERNEL,
                    )?;
                    shrunk.push(f.ip, GFP_KERNEL)?;
                }
                // Still a list: the iterator picks the shorter one up at once.
                _ => site.publish_list()?,
            }
        }
        let r = self.patcher.switch(&mut batch);
        for ip in shrunk.iter() {
            if let Ok(i) = self.site_index(*ip) {
                // On failure the old list stays; a direct site does not use it, and it is
                // rebuilt before the site next becomes a list.
                let _ = self.sites[i].publish_list();
            }
        }
        self.retire_sites(&emptied);
        r
    }

    /// Stops the sites of `ips`; their code is freed by the next `flush_retired`.
    fn retire_sites(&mut self, ips: &[usize]) {
        for ip in ips {
            let Ok(i) = self.site_index(*ip) else {
                continue;
            };
            if self.retired_sites.reserve(1, GFP_KERNEL).is_err() {
                // Keep the site rather than free code that may still run.
                pr_warn!("out of memory while removing a site; it stays\n");
                continue;
            }
            if let Some(site) = vec::remove(&mut self.sites, i) {
                if Self::stop_site(&site) {
                    let _ = self.retired_sites.push(site, GFP_KERNEL);
                } else {
                    // The function may still call this code: never free it.
                    core::mem::forget(site);
                }
            }
        }
    }

    /// Frees every retired site and stub, after one wait for code that may still run them.
    fn flush_retired(&mut self) {
        if self.retired_sites.is_empty() && self.retired_stubs.is_empty() {
            return;
        }
        wait_for_retired_code();
        while let Some(site) = vec::pop(&mut self.retired_sites) {
            let site = KBox::into_inner(site);
            let list = site.hot.list.swap(core::ptr::null_mut(), Ordering::AcqRel);
            // SAFETY: unreachable after the grace periods above.
            unsafe { sys::ftramp_list_free_rcu(list) };
            self.pool.free(site.slot);
            // SAFETY: taken when the site was made; nothing runs its code any more.
            unsafe { sys::ftramp_module_put(site.module) };
        }
        while let Some(slot) = vec::pop(&mut self.retired_stubs) {
            self.pool.free(slot);
        }
    }

    /// Registers `ops` if it has no record yet; returns its record.
    fn rec_or_new(&mut self, ops: *mut sys::ftramp_ops) -> Result<&mut OpsRec> {
        // SAFETY: `ops` is valid (API contract); the engine lock is held.
        if unsafe { rec_of(ops) }.is_none() {
            let nn = NonNull::new(ops).ok_or(EINVAL)?;
            self.ops.reserve(1, GFP_KERNEL)?;
            let rec = KBox::new(
                OpsRec {
                    filter: KVec::new(),
                    stub: None,
                },
                GFP_KERNEL,
            )?;
            // SAFETY: `ops` is valid and its `internal` is ours.
            unsafe { (*ops).internal = KBox::into_raw(rec).cast() };
            self.ops.push(nn, GFP_KERNEL)?;
        }
        // SAFETY: as above; just set.
        unsafe { rec_of(ops) }.ok_or(EINVAL)
    }

    /// `ftramp_set_filter()`.
    pub(crate) fn set_filter(
        &mut self,
        ops: *mut sys::ftramp_ops,
        text: &[u8],
        reset: bool,
    ) -> Result {
        let limit = self.pool.capacity();
        // Resolve everything before changing anything.
        let mut new: KVec<Func> = KVec::new();
        // SAFETY: `ops` is valid (API contract); the engine lock is held.
        if let (false, Some(rec)) = (reset, unsafe { rec_of(ops) }) {
            for f in rec.filter.iter() {
                let mut name = KVec::new();
                name.extend_from_slice(&f.name, GFP_KERNEL)?;
                new.push(Func { ip: f.ip, name }, GFP_KERNEL)?;
            }
        }
        let mut err = None;
        let parsed = filter::parse(text, |t| {
            if err.is_some() {
                return;
            }
            match functions::resolve(t.pattern, limit) {
                Ok(funcs) => {
                    for f in funcs {
                        let at = new.iter().position(|n| n.ip == f.ip);
                        match (t.remove, at) {
                            (true, Some(i)) => drop(vec::remove(&mut new, i)),
                            (false, None) => {
                                if let Err(e) = new.push(f, GFP_KERNEL) {
                                    err = Some(e.into());
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Err(e) => err = Some(e),
            }
        });
        parsed.map_err(|_| EINVAL)?;
        if let Some(e) = err {
            return Err(e);
        }
        if new.len() > limit {
            return Err(E2BIG);
        }
        new.sort_unstable_by_key(|f| f.ip);

        let rec = self.rec_or_new(ops)?;
        let registered = rec.stub.is_some();
        let old = core::mem::replace(&mut rec.filter, KVec::new());
        let r = if registered {
            self.apply(ops, &old, &new)
        } else {
            Ok(())
        };
        self.flush_retired();
        // SAFETY: the record exists (created above).
        let rec = unsafe { rec_of(ops) }.ok_or(EINVAL)?;
        rec.filter = if r.is_ok() { new } else { old };
        r
    }

    /// `ftramp_register_ops()`.
    pub(crate) fn register(&mut self, ops: *mut sys::ftramp_ops) -> Result {
        // SAFETY: `ops` is valid (API contract).
        let (func, flags) = unsafe { ((*ops).func, (*ops).flags) };
        let func = func.ok_or(EINVAL)? as *const () as usize;
        let rec = self.rec_or_new(ops)?;
        if rec.stub.is_some() {
            return Err(EBUSY);
        }
        let target = if flags & sys::FTRAMP_OPS_FL_RECURSION as ffi::c_ulong != 0 {
            func
        } else {
            iterator::addr_of_assist()
        };
        let slot = self.pool.alloc()?;
        let stub = match trampoline::ops_stub(slot.addr(), ops as usize, target) {
            Ok(s) => s,
            Err(e) => {
                self.pool.free(slot);
                return Err(e);
            }
        };
        // Not reachable before a site's call moves to it, which happens after a sync.
        pool::poke(slot.addr(), &stub);
        // SAFETY: the record exists.
        let rec = unsafe { rec_of(ops) }.ok_or(EINVAL)?;
        rec.stub = Some(slot);
        let filter = core::mem::replace(&mut rec.filter, KVec::new());
        let r = self.apply(ops, &[], &filter);
        self.flush_retired();
        // SAFETY: the record exists.
        let rec = unsafe { rec_of(ops) }.ok_or(EINVAL)?;
        rec.filter = filter;
        if r.is_err() {
            if let Some(slot) = rec.stub.take() {
                self.pool.free(slot);
            }
        }
        r
    }

    /// Registers `ops` on exactly `funcs` (already resolved).
    pub(crate) fn register_funcs(
        &mut self,
        ops: *mut sys::ftramp_ops,
        funcs: KVec<Func>,
    ) -> Result {
        let rec = self.rec_or_new(ops)?;
        if rec.stub.is_some() {
            return Err(EBUSY);
        }
        let mut funcs = funcs;
        funcs.sort_unstable_by_key(|f| f.ip);
        rec.filter = funcs;
        self.register(ops)
    }

    /// `ftramp_unregister_ops()`: detaches everywhere, waits until no CPU or task can be in
    /// the callback, and forgets the ops.
    pub(crate) fn unregister(&mut self, ops: *mut sys::ftramp_ops) -> Result {
        self.unregister_many(&[ops])
    }

    /// Unregisters several ops with one wait for retired code.
    pub(crate) fn unregister_many(&mut self, many: &[*mut sys::ftramp_ops]) -> Result {
        // Allocated up front: nothing below may fail half way through.
        self.retired_stubs.reserve(many.len(), GFP_KERNEL)?;
        let mut res = Ok(());
        for &ops in many {
            // SAFETY: `ops` is valid (API contract); the engine lock is held.
            let Some(rec) = (unsafe { rec_of(ops) }) else {
                res = Err(ENOENT);
                continue;
            };
            let filter = core::mem::replace(&mut rec.filter, KVec::new());
            // The stub stays allocated until the wait below: sites may still run it.
            if let Some(stub) = rec.stub.take() {
                if let Err(e) = self.apply(ops, &filter, &[]) {
                    pr_warn!("detaching ops failed: {:?}\n", e);
                }
                // Within the capacity reserved above.
                let _ = self.retired_stubs.push(stub, GFP_KERNEL);
            }
            if let Some(i) = self.ops.iter().position(|p| p.as_ptr() == ops) {
                vec::remove(&mut self.ops, i);
            }
            // SAFETY: `internal` is the `OpsRec` leaked by `rec_or_new`; nothing refers to it
            // now (the stub was moved out).
            unsafe {
                drop(KBox::from_raw((*ops).internal.cast::<OpsRec>()));
                (*ops).internal = core::ptr::null_mut();
            }
        }
        self.flush_retired();
        res
    }

    /// Every site, for the tracefs files.
    pub(crate) fn sites(&self) -> impl Iterator<Item = SiteView<'_>> {
        self.sites.iter().map(|s| {
            let info = s.slot.info();
            SiteView {
                name: &s.func.name,
                ops: s.attached.len(),
                mode: s.mode(),
                trampoline: s.slot.addr(),
                switches: s.switches,
                int3_hits: info.int3_hits.load(Ordering::Relaxed),
                stale_hits: info.stale_hits.load(Ordering::Relaxed),
            }
        })
    }

    /// (used, total) trampoline slots.
    pub(crate) fn slots(&self) -> (usize, usize) {
        (
            self.pool.capacity() - self.pool.available(),
            self.pool.capacity(),
        )
    }

    /// The trampoline region.
    pub(crate) fn region(&self) -> (usize, usize) {
        self.pool.region()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Ops of other modules cannot be left (they hold a reference on ftramp); whatever
        // remains is ftramp's own or an ops that was given a filter but never unregistered.
        while let Some(ops) = self.ops.last().copied() {
            let _ = self.unregister(ops.as_ptr());
        }
        let ips: KVec<usize> = {
            let mut v = KVec::new();
            for s in self.sites.iter() {
                let _ = v.push(s.func.ip, GFP_KERNEL);
            }
            v
        };
        self.retire_sites(&ips);
        self.flush_retired();
    }
}
