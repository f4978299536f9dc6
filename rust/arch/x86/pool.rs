// SPDX-License-Identifier: GPL-2.0

//! Executable memory for generated code: one execmem region, made read-only + executable at
//! once and written only through `text_poke_copy()`, carved into fixed slots. A trampoline, an
//! ops entry stub or the do-nothing target takes one slot.
//!
//! One region makes "is this address ftramp's?" a range check that the int3 handler can do
//! in any context, and per-slot atomics ([`SlotInfo`]) tell it whether the address is a live
//! dispatch site and where that site currently calls.
//!
//! A freed slot is refilled with `int3` and goes to the back of a FIFO: it is reused only
//! after every other free slot, so code freed too early traps visibly (a stray jump into it
//! dies on `int3`) instead of running stale or someone else's bytes.

use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use kernel::{ffi, prelude::*};

use crate::{arch::encode, symbols, sys};

/// Bytes per slot (an entry trampoline is about 85, each half of a return trampoline up to
/// about 240).
pub(crate) const SLOT_SIZE: usize = 256;
const PAGE_SIZE: usize = 4096;

/// What a freed slot is refilled with.
static INT3_FILL: [u8; SLOT_SIZE] = [encode::INT3; SLOT_SIZE];

/// What a patchable site is.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum SiteKind {
    /// A dispatch `call` (entry, or a return trampoline's entry dispatch).
    Call = 0,
    /// A return trampoline's return dispatch `call`.
    RetCall = 1,
    /// An entry trampoline's first instruction: `jmp` to its return trampoline, or a 5-byte
    /// `nop` (its "target" is then the next instruction).
    Jmp = 2,
}

/// One patchable site of a slot.
#[derive(Default)]
pub(crate) struct SiteInfo {
    /// Address of the 5-byte instruction if it is live, else 0.
    pub(crate) site: AtomicUsize,
    /// The target being written or last written there.
    pub(crate) target: AtomicUsize,
    kind: AtomicU8,
}

impl SiteInfo {
    /// What the site is.
    pub(crate) fn kind(&self) -> SiteKind {
        match self.kind.load(Ordering::Relaxed) {
            1 => SiteKind::RetCall,
            2 => SiteKind::Jmp,
            _ => SiteKind::Call,
        }
    }

    /// Makes the site live: `site` with `kind`, currently at `target`. The code there must be
    /// complete.
    pub(crate) fn set(&self, site: usize, kind: SiteKind, target: usize) {
        self.target.store(target, Ordering::Release);
        self.kind.store(kind as u8, Ordering::Relaxed);
        self.site.store(site, Ordering::Release);
    }
}

/// What the int3 handler may read about a slot, lock-free: up to two patchable sites.
#[derive(Default)]
pub(crate) struct SlotInfo {
    pub(crate) sites: [SiteInfo; 2],
    /// int3 hits emulated at the slot's sites with the in-flight record.
    pub(crate) int3_hits: AtomicU64,
    /// int3 hits after the switch had finished (race (a)).
    pub(crate) stale_hits: AtomicU64,
}

impl SlotInfo {
    /// The live site at `addr`, if the slot has one there.
    pub(crate) fn find(&self, addr: usize) -> Option<&SiteInfo> {
        self.sites
            .iter()
            .find(|s| s.site.load(Ordering::Acquire) == addr)
    }
}

/// The region, published for the int3 handler: [`POOL_BASE`] `..` `+ POOL_LEN`, with one
/// [`SlotInfo`] per slot at [`POOL_INFO`].
static POOL_BASE: AtomicUsize = AtomicUsize::new(0);
static POOL_LEN: AtomicUsize = AtomicUsize::new(0);
static POOL_INFO: AtomicPtr<SlotInfo> = AtomicPtr::new(core::ptr::null_mut());

/// A slot index owned by whoever holds it (not `Copy`: freed exactly once).
pub(crate) struct Slot(u32);

impl Slot {
    /// Start address of the slot.
    pub(crate) fn addr(&self) -> usize {
        POOL_BASE.load(Ordering::Relaxed) + self.0 as usize * SLOT_SIZE
    }
}

/// Calls `f` with the info of the slot containing `addr`, if `addr` is inside the pool.
///
/// For the int3 handler: it runs with interrupts off (an RCU reader), and [`Pool`]'s drop
/// unpublishes the region and waits for RCU readers before it frees the infos.
pub(crate) fn with_slot_info<R>(addr: usize, f: impl FnOnce(&SlotInfo) -> R) -> Option<R> {
    let base = POOL_BASE.load(Ordering::Acquire);
    let len = POOL_LEN.load(Ordering::Acquire);
    let info = POOL_INFO.load(Ordering::Acquire);
    if base == 0 || info.is_null() || addr < base || addr - base >= len {
        return None;
    }
    // SAFETY: `info` points at `len / SLOT_SIZE` initialised `SlotInfo`s while published, and
    // the caller is an RCU reader, so they outlive this call (see `Pool::drop`).
    Some(f(unsafe { &*info.add((addr - base) / SLOT_SIZE) }))
}

/// The executable region and its free slots.
///
/// # Invariants
///
/// - `base` is an execmem allocation of `len` bytes, read-only and executable; every byte of
///   a slot on the free ring is `int3`.
/// - `info` has one entry per slot and is what [`POOL_INFO`] publishes; only one `Pool` exists
///   at a time.
/// - `ring[head..head + free]` (mod capacity) are the free slots, oldest first.
pub(crate) struct Pool {
    base: usize,
    len: usize,
    info: KVec<SlotInfo>,
    ring: KVec<u32>,
    head: usize,
    free: usize,
}

impl Pool {
    /// Allocates `slots` slots of executable memory.
    pub(crate) fn new(slots: usize) -> Result<Self> {
        let len = (slots * SLOT_SIZE).next_multiple_of(PAGE_SIZE);
        let slots = len / SLOT_SIZE;
        // Everything that can fail without executable memory held goes first.
        let mut info = KVec::with_capacity(slots, GFP_KERNEL)?;
        let mut ring = KVec::with_capacity(slots, GFP_KERNEL)?;
        for i in 0..slots {
            info.push(SlotInfo::default(), GFP_KERNEL)?;
            ring.push(i as u32, GFP_KERNEL)?;
        }
        // SAFETY: process context; the size is non-zero. (`execmem_alloc_rw` from 6.17 on:
        // see `bind.c`.)
        let p = unsafe { symbols::execmem_alloc(sys::execmem_type_EXECMEM_FTRACE, len) };
        if p.is_null() {
            return Err(ENOMEM);
        }
        // Never-used bytes trap: a stray jump into the pool dies at once.
        // SAFETY: `p` is a fresh RW allocation of `len` bytes nobody else knows about.
        unsafe { core::ptr::write_bytes(p.cast::<u8>(), encode::INT3, len) };
        // SAFETY: `p` is page aligned and `len` a page multiple (execmem allocations are).
        let r = unsafe { symbols::set_memory_rox(p as usize, (len / PAGE_SIZE) as ffi::c_int) };
        if r != 0 {
            // SAFETY: allocated above, never published.
            unsafe { symbols::execmem_free(p) };
            return Err(Error::from_errno(r));
        }
        // Kernel text for unwinders and kallsyms ("ftramp_trampolines"): a stack trace taken
        // in a callback or in a hooked function's body walks through the trampolines' frame
        // pointers to the real caller. Optional (a kernel without BPF JIT has no table).
        // SAFETY: the region is allocated and stays until `unpublish` removes the symbol.
        if !unsafe { sys::ftramp_pool_ksym_add(p as ffi::c_ulong, len as ffi::c_ulong) } {
            pr_info!("no BPF symbol table: stack traces stop at ftramp's trampolines\n");
        }
        POOL_INFO.store(info.as_mut_ptr(), Ordering::Release);
        POOL_BASE.store(p as usize, Ordering::Release);
        POOL_LEN.store(len, Ordering::Release);
        // INVARIANT: allocated, ROX, int3-filled and published above; every slot is free.
        Ok(Self {
            base: p as usize,
            len,
            info,
            ring,
            head: 0,
            free: slots,
        })
    }

    /// The handler-visible info of `slot`.
    pub(crate) fn info(&self, slot: &Slot) -> &SlotInfo {
        &self.info[slot.0 as usize]
    }

    /// The live site at `addr` (inside a slot of this pool), if there is one.
    pub(crate) fn site_at(&self, addr: usize) -> Option<&SiteInfo> {
        self.info
            .get(addr.checked_sub(self.base)? / SLOT_SIZE)?
            .find(addr)
    }

    /// Takes the free slot that has been free longest.
    pub(crate) fn alloc(&mut self) -> Result<Slot> {
        if self.free == 0 {
            return Err(ENOSPC);
        }
        let slot = Slot(self.ring[self.head]);
        // (No `%`: objtool on 6.12 does not know Rust's divide-by-zero panic as noreturn.)
        self.head = if self.head + 1 == self.ring.len() {
            0
        } else {
            self.head + 1
        };
        self.free -= 1;
        Ok(slot)
    }

    /// Returns `slot`, refilled with `int3`, to the back of the ring.
    ///
    /// The caller guarantees no CPU or task can still execute it: it was never reachable, or
    /// it went through the engine's retire list and its wait.
    pub(crate) fn free(&mut self, slot: Slot) {
        let info = self.info(&slot);
        for s in info.sites.iter() {
            s.site.store(0, Ordering::Release);
            s.target.store(0, Ordering::Relaxed);
            s.kind.store(0, Ordering::Relaxed);
        }
        info.int3_hits.store(0, Ordering::Relaxed);
        info.stale_hits.store(0, Ordering::Relaxed);
        poke(slot.addr(), &INT3_FILL);
        let cap = self.ring.len();
        let at = self.head + self.free;
        // INVARIANT: at most `cap` slots exist, so the ring has room; the slot is int3 again.
        self.ring[if at >= cap { at - cap } else { at }] = slot.0;
        self.free += 1;
    }

    /// Free slots left.
    pub(crate) fn available(&self) -> usize {
        self.free
    }

    /// Total slots.
    pub(crate) fn capacity(&self) -> usize {
        self.info.len()
    }

    /// Start and length of the region.
    pub(crate) fn region(&self) -> (usize, usize) {
        (self.base, self.len)
    }

    /// Gives up the region without freeing it: code in it may still be reached (a site ftrace
    /// would not detach). The int3 handler stops claiming anything in it.
    pub(crate) fn leak(self) {
        let this = core::mem::ManuallyDrop::new(self);
        unpublish();
        pr_warn!(
            "keeping {} bytes of trampoline memory at {:#x}: a function may still call it\n",
            this.len,
            this.base
        );
        // The infos are not freed either: `this` is never dropped.
    }
}

fn unpublish() {
    // SAFETY: no preconditions; lookups are RCU readers, waited for below.
    unsafe { sys::ftramp_pool_ksym_del() };
    POOL_LEN.store(0, Ordering::Release);
    POOL_BASE.store(0, Ordering::Release);
    POOL_INFO.store(core::ptr::null_mut(), Ordering::Release);
    // SAFETY: process context. Every int3 handler that saw the pool published has finished
    // after this (it runs with interrupts off).
    unsafe { sys::synchronize_rcu() };
}

/// Writes `bytes` at `addr` inside the pool through the kernel's text-patching path (which
/// takes `text_mutex` itself). Process context only.
pub(crate) fn poke(addr: usize, bytes: &[u8]) {
    debug_assert!(with_slot_info(addr, |_| ()).is_some());
    // SAFETY: `addr..addr + len` is inside the live pool (the callers hold a slot there);
    // `text_poke_copy` maps the page writable for the copy and serialises on `text_mutex`.
    unsafe {
        symbols::text_poke_copy(addr as *mut ffi::c_void, bytes.as_ptr().cast(), bytes.len())
    };
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The engine drops the pool after every site was torn down and its wait passed: no
        // task is inside. The handler sees no pool from here on and claims nothing.
        unpublish();
        // SAFETY: `base` came from `execmem_alloc` (type invariant) and nothing uses it now.
        unsafe { symbols::execmem_free(self.base as *mut ffi::c_void) };
    }
}
