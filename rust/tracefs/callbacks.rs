// SPDX-License-Identifier: GPL-2.0

//! The built-in callbacks (`count`, `trace`, `stacktrace`) and what one hook owns: its ops,
//! its per-CPU counter, and a reference to the shared trace instance.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use kernel::{ffi, prelude::*, types::Opaque};

use crate::{
    command::Callback,
    engine::{fault, ops::OpsPtr},
    functions::Func,
    glob,
    percpu::PerCpuCounter,
    sys,
};

/// ftramp's trace instance, `instances/ftramp`.
///
/// # Invariants
///
/// `0` is a trace array this value holds a reference on (`trace_array_get_by_name`).
pub(crate) struct TraceInstance(NonNull<sys::trace_array>);

// SAFETY: trace arrays are usable from any CPU and context that tracing allows.
unsafe impl Send for TraceInstance {}
// SAFETY: as above.
unsafe impl Sync for TraceInstance {}

impl TraceInstance {
    /// Gets (or creates) the instance.
    pub(crate) fn get() -> Result<Self> {
        // SAFETY: process context.
        let tr = unsafe { sys::ftramp_instance_get() };
        // INVARIANT: referenced by `ftramp_instance_get`.
        Ok(Self(NonNull::new(tr).ok_or(ENOMEM)?))
    }

    /// The instance, for hooks, which are all dropped before it.
    pub(crate) fn ptr(&self) -> NonNull<sys::trace_array> {
        self.0
    }
}

impl Drop for TraceInstance {
    fn drop(&mut self) {
        // SAFETY: referenced (type invariant); no hook uses it any more.
        unsafe { sys::ftramp_instance_destroy(self.0.as_ptr()) };
    }
}

/// One hook: an ops and what its callback needs.
///
/// # Invariants
///
/// `ops` is registered with the engine only while the hook is pinned in `Hooks` and is
/// unregistered (and waited for) before the hook is dropped; its `func` is one of the callbacks
/// below, which get `ops` and find the hook around it. `tr` is `Some` for `trace` and
/// `stacktrace` and outlives the hook.
#[pin_data]
pub(crate) struct Hook {
    #[pin]
    ops: Opaque<sys::ftramp_ops>,
    callback: Callback,
    arg: u32,
    hits: PerCpuCounter,
    tr: Option<NonNull<sys::trace_array>>,
    func: KVec<u8>,
    /// stacktrace's rate limit: window start and traces in it.
    window: AtomicU64,
    in_window: AtomicU32,
}

// SAFETY: the ops is only handed to the engine and callbacks (raw pointers); the counter and
// trace instance are usable from any CPU; the rest is plain data or atomics.
unsafe impl Send for Hook {}
// SAFETY: as above: `&Hook` gives shared access to atomics and read-only data only.
unsafe impl Sync for Hook {}

/// # Safety
///
/// `ops` is the `ops` field of a live `Hook`.
unsafe fn hook_of<'a>(ops: *mut sys::ftramp_ops) -> &'a Hook {
    // SAFETY: by the function's requirements; `Opaque<T>` has `T`'s address.
    unsafe { &*kernel::container_of!(ops.cast::<Opaque<sys::ftramp_ops>>(), Hook, ops) }
}

/// `count`: one per-CPU increment.
///
/// # Safety
///
/// Called by ftramp's dispatch with the ops of a live, registered `Hook`.
unsafe extern "C" fn count_cb(
    _ip: ffi::c_ulong,
    _parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    _regs: *mut sys::ftramp_regs,
) {
    // SAFETY: registered by `Hooks` with a `Hook`'s ops (function safety requirement).
    unsafe { hook_of(ops) }.hits.inc();
}

/// `trace`: one event per hit.
///
/// # Safety
///
/// Called by ftramp's dispatch with the ops of a live, registered `Hook`.
unsafe extern "C" fn trace_cb(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    _regs: *mut sys::ftramp_regs,
) {
    // SAFETY: as in `count_cb`.
    let h = unsafe { hook_of(ops) };
    h.hits.inc();
    // The event goes wherever it is enabled: instances/ftramp has it on while `h.tr` holds it.
    if h.tr.is_some() {
        // SAFETY: no preconditions (any context).
        unsafe { sys::ftramp_trace_hit(ip, parent_ip) };
    }
}

/// `stacktrace`: the stack, rate limited.
///
/// # Safety
///
/// Called by ftramp's dispatch with the ops of a live, registered `Hook`.
unsafe extern "C" fn stack_cb(
    ip: ffi::c_ulong,
    _parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    regs: *mut sys::ftramp_regs,
) {
    // SAFETY: as in `count_cb`.
    let h = unsafe { hook_of(ops) };
    h.hits.inc();
    // SAFETY: no preconditions.
    let now = unsafe { sys::ftramp_now_ns() };
    let start = h.window.load(Ordering::Relaxed);
    if now.wrapping_sub(start) >= 1_000_000_000
        && h.window
            .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        h.in_window.store(0, Ordering::Relaxed);
    }
    if h.in_window.fetch_add(1, Ordering::Relaxed) < h.arg {
        if h.tr.is_some() {
            // SAFETY: `regs` is the trampoline's frame; the symbols are bound (ftramp is
            // loaded).
            unsafe { sys::ftramp_trace_stack(ip, regs) };
        }
    }
}

/// `ret`, at entry: the cookie is the entry time.
///
/// # Safety
///
/// Called by ftramp's dispatch with the ops of a live, registered `Hook`.
unsafe extern "C" fn ret_entry_cb(
    _ip: ffi::c_ulong,
    _parent_ip: ffi::c_ulong,
    _ops: *mut sys::ftramp_ops,
    _regs: *mut sys::ftramp_regs,
    cookie: *mut u64,
) -> bool {
    // SAFETY: `cookie` is the call's cookie, valid for a write; no other preconditions.
    unsafe { *cookie = sys::ftramp_now_ns() };
    true
}

/// `ret`, at return: one event with the return value and the call's duration.
///
/// # Safety
///
/// Called by ftramp's return dispatch with the ops of a live, registered `Hook`.
unsafe extern "C" fn ret_cb(
    ip: ffi::c_ulong,
    parent_ip: ffi::c_ulong,
    ops: *mut sys::ftramp_ops,
    ret: *mut sys::ftramp_ret_regs,
    cookie: u64,
) {
    // SAFETY: as in `count_cb`.
    let h = unsafe { hook_of(ops) };
    h.hits.inc();
    if h.tr.is_some() {
        // SAFETY: `ret` is valid for this call; no other preconditions (any context).
        unsafe {
            let ns = sys::ftramp_now_ns().wrapping_sub(cookie);
            sys::ftramp_trace_ret(ip, parent_ip, (*ret).ax, ns);
        }
    }
}

impl Hook {
    /// A hook of `callback` on `func`, not yet registered.
    pub(crate) fn new(
        func: &Func,
        callback: Callback,
        arg: u32,
        tr: Option<NonNull<sys::trace_array>>,
    ) -> Result<Pin<KBox<Self>>> {
        type Entry = sys::ftramp_entry_func_t;
        type Ret = sys::ftramp_ret_func_t;
        let (f, entry, ret, flags): (sys::ftramp_func_t, Entry, Ret, _) = match callback {
            // A per-CPU increment cannot recurse: called straight from the trampoline.
            Callback::Count => (Some(count_cb), None, None, sys::FTRAMP_OPS_FL_RECURSION),
            // These reach printk-like code: let ftramp's recursion guard wrap them.
            Callback::Trace => (Some(trace_cb), None, None, 0),
            Callback::Stacktrace => (Some(stack_cb), None, None, 0),
            Callback::Ret => (None, Some(ret_entry_cb), Some(ret_cb), 0),
        };
        fault::point()?;
        let mut name = KVec::new();
        name.extend_from_slice(&func.name, GFP_KERNEL)?;
        let hits = PerCpuCounter::new()?;
        fault::point()?;
        KBox::try_pin_init(
            try_pin_init!(Self {
                ops <- Opaque::ffi_init(move |slot: *mut sys::ftramp_ops| {
                    // SAFETY: `slot` is the field's memory, valid for a write.
                    unsafe {
                        slot.write(sys::ftramp_ops {
                            func: f,
                            private: core::ptr::null_mut(),
                            flags: flags as ffi::c_ulong,
                            internal: core::ptr::null_mut(),
                            entry_func: entry,
                            ret_func: ret,
                        })
                    }
                }),
                callback,
                arg,
                hits,
                tr,
                func: name,
                window: AtomicU64::new(0),
                in_window: AtomicU32::new(0),
            }? Error),
            GFP_KERNEL,
        )
    }

    /// The hook's ops, for the engine.
    pub(crate) fn ops(&self) -> OpsPtr {
        // SAFETY: the hook is pinned and stays alive until after the engine forgot the ops
        // (type invariant: unregistered and waited for before the hook is dropped).
        unsafe { OpsPtr::new(self.ops.get()) }.expect("Opaque::get is never null")
    }

    /// The hooked function's name.
    pub(crate) fn func(&self) -> &[u8] {
        &self.func
    }

    /// Its callback.
    pub(crate) fn callback(&self) -> Callback {
        self.callback
    }

    /// Its argument (stacktrace's rate).
    pub(crate) fn arg(&self) -> u32 {
        self.arg
    }

    /// Total hits over all CPUs.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.sum()
    }

    /// Whether `pattern` matches the function and `cb` is its callback.
    pub(crate) fn matches(&self, pattern: &[u8], cb: Callback) -> bool {
        self.callback == cb && glob::matches(pattern, &self.func)
    }
}
