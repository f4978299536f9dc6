// SPDX-License-Identifier: GPL-2.0

//! The built-in callbacks and the `hooks` / `available_callbacks` files.
//!
//! One hook is one (function, callback) pair, backed by one ftramp ops: the ops' filter is
//! that one function, so its counter is its own and `hooks` lists exactly the ops there are.

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use kernel::{ffi, prelude::*, str::CStr};

use crate::{
    command::{self, errno, Callback, CmdError},
    functions::{self, Func},
    glob,
    registry::Engine,
    sys,
    text::Text,
    tracefs::File,
    vec, State,
};

type SaveRegsFn = unsafe extern "C" fn(
    *mut sys::pt_regs,
    *mut ffi::c_ulong,
    ffi::c_uint,
    ffi::c_uint,
) -> ffi::c_uint;

/// Most functions one command may hook (a glob beyond it is refused with `E2BIG`).
pub(crate) const MAX_PER_COMMAND: usize = 512;

/// One hook. `ops` comes first: callbacks get `&ops` and read the rest through it.
#[repr(C)]
pub(crate) struct Hook {
    ops: sys::ftramp_ops,
    callback: Callback,
    arg: u32,
    /// Per-CPU hit counter.
    hits: *mut ffi::c_ulong,
    /// The trace instance (trace, stacktrace).
    tr: *mut sys::trace_array,
    func: KVec<u8>,
    /// stacktrace's rate limit: window start and traces in it.
    window: AtomicU64,
    in_window: AtomicU32,
}

// SAFETY: the raw pointers are a per-CPU counter and the trace instance, both usable from any
// CPU; the rest is plain data.
unsafe impl Send for Hook {}
// SAFETY: as above.
unsafe impl Sync for Hook {}

/// # Safety
///
/// Called by ftramp's dispatch with an ops that is the first field of a live `Hook`.
unsafe fn hook_of<'a>(ops: *mut sys::ftramp_ops) -> &'a Hook {
    // SAFETY: by the function's requirements.
    unsafe { &*ops.cast::<Hook>() }
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
    // SAFETY: registered by `Hooks` with a `Hook`'s ops; the counter lives as long.
    unsafe { sys::ftramp_counter_inc(hook_of(ops).hits) };
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
    // SAFETY: as in `count_cb`; `tr` is the live trace instance.
    unsafe {
        let h = hook_of(ops);
        sys::ftramp_counter_inc(h.hits);
        sys::ftramp_trace_hit(h.tr, ip, parent_ip);
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
    // SAFETY: as in `trace_cb`.
    let h = unsafe { hook_of(ops) };
    // SAFETY: as in `count_cb`.
    unsafe { sys::ftramp_counter_inc(h.hits) };
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
        let save = crate::symbols::address(kernel::c_str!("stack_trace_save_regs"));
        // SAFETY: `tr` is the live trace instance; `regs` is the trampoline's frame; `save`
        // is `stack_trace_save_regs` (resolved at load), which has this prototype.
        unsafe {
            sys::ftramp_trace_stack(
                h.tr,
                ip,
                regs,
                Some(core::mem::transmute::<usize, SaveRegsFn>(save)),
            )
        };
    }
}

impl Hook {
    fn new(
        func: &Func,
        callback: Callback,
        arg: u32,
        tr: *mut sys::trace_array,
    ) -> Result<Pin<KBox<Self>>> {
        let (f, flags): (sys::ftramp_func_t, _) = match callback {
            // A per-CPU increment cannot recurse: called straight from the trampoline.
            Callback::Count => (Some(count_cb), sys::FTRAMP_OPS_FL_RECURSION),
            // These reach printk-like code: let ftramp's recursion guard wrap them.
            Callback::Trace => (Some(trace_cb), 0),
            Callback::Stacktrace => (Some(stack_cb), 0),
        };
        let mut name = KVec::new();
        name.extend_from_slice(&func.name, GFP_KERNEL)?;
        // SAFETY: plain allocation.
        let hits = unsafe { sys::ftramp_counter_alloc() };
        if hits.is_null() {
            return Err(ENOMEM);
        }
        let h = KBox::pin(
            Hook {
                ops: sys::ftramp_ops {
                    func: f,
                    private: core::ptr::null_mut(),
                    flags: flags as ffi::c_ulong,
                    internal: core::ptr::null_mut(),
                },
                callback,
                arg,
                hits,
                tr,
                func: name,
                window: AtomicU64::new(0),
                in_window: AtomicU32::new(0),
            },
            GFP_KERNEL,
        );
        if h.is_err() {
            // SAFETY: allocated above, never shared.
            unsafe { sys::ftramp_counter_free(hits) };
        }
        Ok(h?)
    }

    fn ops_ptr(self: &mut Pin<KBox<Self>>) -> *mut sys::ftramp_ops {
        // SAFETY: only a raw pointer escapes; the hook is never moved out of its box.
        unsafe { &mut self.as_mut().get_unchecked_mut().ops }
    }

    /// Total hits over all CPUs.
    pub(crate) fn hits(&self) -> u64 {
        // SAFETY: the counter lives as long as the hook.
        unsafe { sys::ftramp_counter_sum(self.hits) as u64 }
    }

    fn matches(&self, pattern: &[u8], cb: Callback) -> bool {
        self.callback == cb && glob::matches(pattern, &self.func)
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        // SAFETY: unregistered (and waited for) before a hook is dropped.
        unsafe { sys::ftramp_counter_free(self.hits) };
    }
}

/// Every hook, sorted by function then callback.
#[derive(Default)]
pub(crate) struct Hooks {
    list: KVec<Pin<KBox<Hook>>>,
    /// `instances/ftramp`, created with the first trace or stacktrace hook.
    tr: AtomicPtr<sys::trace_array>,
}

/// A validated change.
enum Plan {
    Add {
        funcs: KVec<Func>,
        callback: Callback,
        arg: u32,
    },
    Remove(KVec<usize>),
}

fn resolve_error(e: Error) -> (i32, &'static str) {
    let n = -e.to_errno();
    let msg = match n {
        errno::ENOENT => "no such function (or a glob matching no hookable function)",
        errno::EINVAL => "ftrace cannot trace this function (notrace, noinstr or inlined)",
        errno::EPERM => "ftramp refuses this function (its own code, the int3 or patching path)",
        errno::E2BIG => "the glob matches more than 512 functions",
        _ => "cannot resolve the function",
    };
    (n, msg)
}

impl Hooks {
    /// Hooks in `hooks` order, for the tracefs files.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], Callback, u32, u64)> {
        self.list
            .iter()
            .map(|h| (h.func.as_slice(), h.callback, h.arg, h.hits()))
    }

    fn find(&self, func: &[u8], cb: Callback) -> Option<usize> {
        self.list
            .iter()
            .position(|h| h.func.as_slice() == func && h.callback == cb)
    }

    fn instance(&self) -> Result<*mut sys::trace_array> {
        let tr = self.tr.load(Ordering::Relaxed);
        if !tr.is_null() {
            return Ok(tr);
        }
        // SAFETY: process context.
        let tr = unsafe { sys::ftramp_instance_get() };
        if tr.is_null() {
            return Err(ENOMEM);
        }
        self.tr.store(tr, Ordering::Relaxed);
        Ok(tr)
    }

    /// Validates one command against the current hooks (`trunc`: they are about to go).
    fn plan(
        &self,
        line: &[u8],
        trunc: bool,
        planned: &[Plan],
    ) -> core::result::Result<Plan, CmdError> {
        let cmd = command::parse_line(line)?;
        let at = cmd.pattern_pos;
        if cmd.remove {
            let mut idx = KVec::new();
            for (i, h) in self.list.iter().enumerate() {
                if h.matches(cmd.pattern, cmd.callback) && !trunc {
                    idx.push(i, GFP_KERNEL).map_err(|_| nomem(at))?;
                }
            }
            if idx.is_empty() {
                return Err(CmdError {
                    errno: errno::ENOENT,
                    msg: "no such hook",
                    pos: at,
                });
            }
            return Ok(Plan::Remove(idx));
        }
        let found = functions::resolve(cmd.pattern, MAX_PER_COMMAND);
        let found = found.map_err(|e| {
            let (errno, msg) = resolve_error(e);
            CmdError {
                errno,
                msg,
                pos: at,
            }
        })?;
        let mut funcs = KVec::new();
        for f in found {
            let exists = (!trunc && self.find(&f.name, cmd.callback).is_some())
                || planned.iter().any(|p| match p {
                    Plan::Add {
                        funcs, callback, ..
                    } => *callback == cmd.callback && funcs.iter().any(|g| g.ip == f.ip),
                    Plan::Remove(_) => false,
                });
            if !exists {
                funcs.push(f, GFP_KERNEL).map_err(|_| nomem(at))?;
            }
        }
        if funcs.is_empty() {
            return Err(CmdError {
                errno: errno::EEXIST,
                msg: "already hooked with this callback",
                pos: at,
            });
        }
        Ok(Plan::Add {
            funcs,
            callback: cmd.callback,
            arg: cmd.arg,
        })
    }

    /// Runs the commands of one write: every line is validated before anything changes.
    pub(crate) fn write(&mut self, state: &State, input: &[u8], trunc: bool) -> Result {
        let mut plans: KVec<Plan> = KVec::new();
        let mut any = false;
        for line in input.split(|&c| c == b'\n') {
            if command::is_blank(line) {
                continue;
            }
            any = true;
            match self.plan(line, trunc, &plans) {
                Ok(p) => plans.push(p, GFP_KERNEL)?,
                Err(e) => {
                    state.errors.lock().add(e.msg, line, e.pos);
                    return Err(Error::from_errno(-e.errno));
                }
            }
        }
        if !any && !trunc {
            let shown = input.strip_suffix(b"\n").unwrap_or(input);
            state.errors.lock().add("empty command", shown, 0);
            return Err(EINVAL);
        }
        let mut engine = state.engine.lock();
        // Additions first, all undone if one fails; removals (and `>`'s drop of every old
        // hook) last, once nothing can fail any more: a failed write changes nothing.
        let mut gone: KVec<*const Hook> = KVec::new();
        for (i, h) in self.list.iter().enumerate() {
            let removed = plans
                .iter()
                .any(|p| matches!(p, Plan::Remove(idx) if idx.contains(&i)));
            if trunc || removed {
                gone.push(&**h as *const Hook, GFP_KERNEL)?;
            }
        }
        let mut added: KVec<*const Hook> = KVec::new();
        for p in plans {
            if let Plan::Add {
                funcs,
                callback,
                arg,
            } = p
            {
                if let Err(e) = self.add(&mut engine, funcs, callback, arg, &mut added) {
                    self.remove_hooks(&mut engine, &added);
                    let msg = "cannot attach (ftrace refused the function, or out of memory)";
                    state.errors.lock().add(msg, input, 0);
                    return Err(e);
                }
            }
        }
        self.remove_hooks(&mut engine, &gone);
        Ok(())
    }

    fn add(
        &mut self,
        engine: &mut Engine,
        funcs: KVec<Func>,
        cb: Callback,
        arg: u32,
        added: &mut KVec<*const Hook>,
    ) -> Result {
        let tr = match cb {
            Callback::Count => core::ptr::null_mut(),
            _ => self.instance()?,
        };
        added.reserve(funcs.len(), GFP_KERNEL)?;
        let mut r = Ok(());
        for f in funcs.iter() {
            r = (|| {
                let mut h = Hook::new(f, cb, arg, tr)?;
                let mut one = KVec::new();
                let mut name = KVec::new();
                name.extend_from_slice(&f.name, GFP_KERNEL)?;
                one.push(Func { ip: f.ip, name }, GFP_KERNEL)?;
                self.list.reserve(1, GFP_KERNEL)?;
                engine.register_funcs(h.ops_ptr(), one).inspect_err(|_| {
                    let _ = engine.unregister(h.ops_ptr());
                })?;
                // Keep `hooks` sorted by function, then callback.
                fn key(x: &Hook) -> (&[u8], u8) {
                    (x.func.as_slice(), x.callback as u8)
                }
                let at = self
                    .list
                    .iter()
                    .position(|o| key(o) > key(&h))
                    .unwrap_or(self.list.len());
                let p: *const Hook = &*h;
                vec::insert(&mut self.list, at, h)?;
                let _ = added.push(p, GFP_KERNEL);
                Ok(())
            })();
            if r.is_err() {
                break;
            }
        }
        r
    }

    /// Removes the hooks at the given addresses (one wait for all).
    fn remove_hooks(&mut self, engine: &mut Engine, which: &[*const Hook]) {
        let mut idx = KVec::new();
        for (i, h) in self.list.iter().enumerate() {
            if which.iter().any(|&p| core::ptr::eq(p, &**h)) && idx.push(i, GFP_KERNEL).is_err() {
                // Out of memory: keep the hook rather than free one still registered.
                continue;
            }
        }
        let _ = self.remove(engine, &mut idx);
    }

    /// Unregisters and frees the hooks at `idx` (one wait for all).
    fn remove(&mut self, engine: &mut Engine, idx: &mut KVec<usize>) -> Result {
        if idx.is_empty() {
            return Ok(());
        }
        let mut ops = KVec::with_capacity(idx.len(), GFP_KERNEL)?;
        for &i in idx.iter() {
            ops.push(self.list[i].ops_ptr(), GFP_KERNEL)?;
        }
        let r = engine.unregister_many(&ops);
        idx.sort_unstable();
        while let Some(i) = vec::pop(idx) {
            drop(vec::remove(&mut self.list, i));
        }
        r
    }

    /// Removes every hook and the trace instance (module exit).
    pub(crate) fn clear(&mut self, engine: &mut Engine) {
        let mut all = KVec::new();
        for i in 0..self.list.len() {
            let _ = all.push(i, GFP_KERNEL);
        }
        let _ = self.remove(engine, &mut all);
        let tr = self.tr.swap(core::ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: no hook uses the instance any more.
        unsafe { sys::ftramp_instance_destroy(tr) };
    }
}

fn nomem(pos: usize) -> CmdError {
    CmdError {
        errno: 12,
        msg: "out of memory",
        pos,
    }
}

/// `/sys/kernel/tracing/ftramp/hooks`.
pub(crate) struct HooksFile;

impl File<State> for HooksFile {
    const NAME: &'static CStr = kernel::c_str!("hooks");
    const MODE: u16 = 0o600;

    fn show(state: &State, out: &mut Text) -> Result {
        for (func, cb, arg, _) in state.hooks.lock().iter() {
            let func = core::str::from_utf8(func).unwrap_or("?");
            if cb == Callback::Stacktrace {
                out.line(format_args!("{} {}:{}", func, cb.name(), arg))?;
            } else {
                out.line(format_args!("{} {}", func, cb.name()))?;
            }
        }
        Ok(())
    }

    fn write(state: &State, input: &[u8], trunc: bool) -> Result {
        state.hooks.lock().write(state, input, trunc)
    }

    fn reject(state: &State, msg: &'static str, input: &[u8]) {
        state.errors.lock().add(msg, input, 0);
    }
}

/// `/sys/kernel/tracing/ftramp/available_callbacks`.
pub(crate) struct AvailableCallbacks;

impl File<State> for AvailableCallbacks {
    const NAME: &'static CStr = kernel::c_str!("available_callbacks");
    const MODE: u16 = 0o400;

    fn show(_state: &State, out: &mut Text) -> Result {
        for (_, name, arg, what) in command::CALLBACKS {
            out.line(format_args!("{}{}\t{}", name, arg, what))?;
        }
        Ok(())
    }
}
