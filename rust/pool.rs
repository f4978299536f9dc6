// SPDX-License-Identifier: GPL-2.0

//! Executable memory for generated code: one execmem region, made read-only + executable at
//! once and written only through `text_poke_copy()`, carved into fixed slots. A trampoline or
//! an ops entry stub takes one slot.
//!
//! One region makes "is this address ftramp's?" a range check that the int3 handler can do
//! in any context, and per-slot atomics ([`SlotInfo`]) tell it whether the address is a live
//! dispatch site and where that site currently calls.

use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use kernel::{ffi, prelude::*};

use crate::{symbols, sys};

/// Bytes per slot (a trampoline is about 70).
pub(crate) const SLOT_SIZE: usize = 128;
const PAGE_SIZE: usize = 4096;

/// What the int3 handler may read about a slot, lock-free.
#[derive(Default)]
pub(crate) struct SlotInfo {
    /// Address of the slot's dispatch `call` if it is a live trampoline, else 0.
    pub(crate) site: AtomicUsize,
    /// The dispatch target being written or last written there.
    pub(crate) target: AtomicUsize,
    /// int3 hits emulated at this site with the in-flight record.
    pub(crate) int3_hits: AtomicU64,
    /// int3 hits after the switch had finished (race (a)).
    pub(crate) stale_hits: AtomicU64,
}

/// The region, published for the int3 handler: [`POOL_BASE`] `..` `+ POOL_LEN`.
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

    /// The slot's handler-visible info.
    pub(crate) fn info(&self) -> &'static SlotInfo {
        // A live `Slot` implies the pool is published (`Pool::new` .. `Pool::drop`).
        info_at(self.0 as usize).expect("slot of a live pool")
    }
}

fn info_at(i: usize) -> Option<&'static SlotInfo> {
    let len = POOL_LEN.load(Ordering::Acquire) / SLOT_SIZE;
    let base = POOL_INFO.load(Ordering::Acquire);
    if i >= len || base.is_null() {
        return None;
    }
    // SAFETY: `base` points at `len` initialised `SlotInfo`s that live while the pool is
    // published; the pool unpublishes them only after every user is gone (see `Pool::drop`).
    Some(unsafe { &*base.add(i) })
}

/// The info of the slot containing `addr`, if `addr` is inside the pool.
pub(crate) fn slot_info_of(addr: usize) -> Option<&'static SlotInfo> {
    let base = POOL_BASE.load(Ordering::Acquire);
    let len = POOL_LEN.load(Ordering::Acquire);
    if base == 0 || addr < base || addr - base >= len {
        return None;
    }
    info_at((addr - base) / SLOT_SIZE)
}

/// The executable region and its free slots.
///
/// # Invariants
///
/// `base` is an execmem allocation of `len` bytes, read-only and executable, filled with
/// `int3` except where code was written; `info` has one entry per slot. Only one `Pool` exists
/// at a time and it is the one published in the statics above.
pub(crate) struct Pool {
    base: usize,
    len: usize,
    info: KVec<SlotInfo>,
    free: KVec<u32>,
}

impl Pool {
    /// Allocates `slots` slots of executable memory.
    pub(crate) fn new(slots: usize) -> Result<Self> {
        let len = (slots * SLOT_SIZE).next_multiple_of(PAGE_SIZE);
        let slots = len / SLOT_SIZE;
        // SAFETY: process context; the size is non-zero.
        let p = unsafe { symbols::execmem_alloc(sys::execmem_type_EXECMEM_FTRACE, len) };
        if p.is_null() {
            return Err(ENOMEM);
        }
        // Never-used bytes trap: a stray jump into the pool dies at once.
        // SAFETY: `p` is a fresh RW allocation of `len` bytes nobody else knows about.
        unsafe { core::ptr::write_bytes(p.cast::<u8>(), crate::encode::INT3, len) };
        // SAFETY: `p` is page aligned and `len` a page multiple (execmem allocations are).
        let r = unsafe { symbols::set_memory_rox(p as usize, (len / PAGE_SIZE) as ffi::c_int) };
        if r != 0 {
            // SAFETY: allocated above, never published.
            unsafe { symbols::execmem_free(p) };
            return Err(Error::from_errno(r));
        }
        let mut info = KVec::with_capacity(slots, GFP_KERNEL)?;
        let mut free = KVec::with_capacity(slots, GFP_KERNEL)?;
        for i in 0..slots {
            info.push(SlotInfo::default(), GFP_KERNEL)?;
            // Pop from the end hands out low slots first.
            free.push((slots - 1 - i) as u32, GFP_KERNEL)?;
        }
        POOL_INFO.store(info.as_mut_ptr(), Ordering::Release);
        POOL_BASE.store(p as usize, Ordering::Release);
        POOL_LEN.store(len, Ordering::Release);
        // INVARIANT: allocated, ROX, int3-filled and published above.
        Ok(Self {
            base: p as usize,
            len,
            info,
            free,
        })
    }

    /// Takes a free slot.
    pub(crate) fn alloc(&mut self) -> Result<Slot> {
        crate::vec::pop(&mut self.free).map(Slot).ok_or(ENOSPC)
    }

    /// Returns `slot`. The caller guarantees no CPU or task can still execute it (it was never
    /// reachable, or an RCU-tasks grace period passed since it became unreachable).
    pub(crate) fn free(&mut self, slot: Slot) {
        let info = slot.info();
        info.site.store(0, Ordering::Release);
        info.target.store(0, Ordering::Relaxed);
        info.int3_hits.store(0, Ordering::Relaxed);
        info.stale_hits.store(0, Ordering::Relaxed);
        // Cannot fail: capacity is the slot count.
        let _ = self.free.push(slot.0, GFP_KERNEL);
    }

    /// Free slots left.
    pub(crate) fn available(&self) -> usize {
        self.free.len()
    }

    /// Total slots.
    pub(crate) fn capacity(&self) -> usize {
        self.info.len()
    }

    /// Start and length of the region.
    pub(crate) fn region(&self) -> (usize, usize) {
        (self.base, self.len)
    }
}

/// Writes `bytes` at `addr` inside the pool through the kernel's text-patching path (which
/// takes `text_mutex` itself). Process context only.
pub(crate) fn poke(addr: usize, bytes: &[u8]) {
    debug_assert!(slot_info_of(addr).is_some() && slot_info_of(addr + bytes.len() - 1).is_some());
    // SAFETY: `addr..addr + len` is inside the live pool (the callers hold a slot there);
    // `text_poke_copy` maps the page writable for the copy and serialises on `text_mutex`.
    unsafe {
        symbols::text_poke_copy(addr as *mut ffi::c_void, bytes.as_ptr().cast(), bytes.len())
    };
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The engine drops the pool after every site was torn down and an RCU-tasks grace
        // period passed: no task is inside. The int3 notifier (unregistered after this) sees
        // an empty pool from here on and claims nothing.
        POOL_LEN.store(0, Ordering::Release);
        POOL_BASE.store(0, Ordering::Release);
        POOL_INFO.store(core::ptr::null_mut(), Ordering::Release);
        // SAFETY: `base` came from `execmem_alloc` (type invariant) and nothing uses it now.
        unsafe { symbols::execmem_free(self.base as *mut ffi::c_void) };
    }
}
