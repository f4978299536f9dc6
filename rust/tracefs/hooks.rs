// SPDX-License-Identifier: GPL-2.0

//! The `hooks` / `available_callbacks` files and the set of hooks behind them.
//!
//! One hook is one (function, callback) pair, backed by one ftramp ops (`callbacks.rs`): the
//! ops' filter is that one function, so its counter is its own and `hooks` lists exactly the
//! ops there are. A write is all or nothing: additions first (each one an engine operation
//! that changes nothing when it fails, and undone if a later one fails), removals last (they
//! cannot fail).

use kernel::{prelude::*, str::CStr};

use super::callbacks::{Hook, TraceInstance};
use crate::{
    command::{self, errno, Callback, CmdError},
    engine::Engine,
    functions::{self, Func},
    output::Text,
    tracefs::File,
    vec, State,
};

/// Most functions one command may hook (a glob beyond it is refused with `E2BIG`).
pub(crate) const MAX_PER_COMMAND: usize = 512;

/// Every hook, sorted by function then callback.
#[derive(Default)]
pub(crate) struct Hooks {
    list: KVec<Pin<KBox<Hook>>>,
    /// `instances/ftramp`, created with the first trace or stacktrace hook; dropped after
    /// every hook using it.
    tr: Option<TraceInstance>,
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
            .map(|h| (h.func(), h.callback(), h.arg(), h.hits()))
    }

    fn find(&self, func: &[u8], cb: Callback) -> Option<usize> {
        self.list
            .iter()
            .position(|h| h.func() == func && h.callback() == cb)
    }

    fn instance(&mut self) -> Result<&TraceInstance> {
        if self.tr.is_none() {
            self.tr = Some(TraceInstance::get()?);
        }
        self.tr.as_ref().ok_or(ENOMEM)
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
                gone.push(core::ptr::from_ref::<Hook>(&**h), GFP_KERNEL)?;
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
                    let msg = match (-e.to_errno(), engine.take_refusal()) {
                        (errno::EOPNOTSUPP, Some(why)) => why,
                        (errno::ENOSPC, _) => {
                            "no room (trampoline slots, return ops, or 8 return ops on the function)"
                        }
                        _ => "cannot attach (ftrace refused the function, or out of memory)",
                    };
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
            Callback::Count => None,
            _ => Some(self.instance()?.ptr()),
        };
        added.reserve(funcs.len(), GFP_KERNEL)?;
        for f in funcs.iter() {
            self.add_one(engine, f, cb, arg, tr, added)?;
        }
        Ok(())
    }

    /// Registers one hook and keeps `hooks` sorted by function, then callback.
    fn add_one(
        &mut self,
        engine: &mut Engine,
        f: &Func,
        cb: Callback,
        arg: u32,
        tr: Option<core::ptr::NonNull<crate::sys::trace_array>>,
        added: &mut KVec<*const Hook>,
    ) -> Result {
        let h = Hook::new(f, cb, arg, tr)?;
        let mut one = KVec::new();
        one.push(f.try_clone()?, GFP_KERNEL)?;
        let at = self
            .list
            .iter()
            .position(|o| (o.func(), o.callback() as u8) > (h.func(), h.callback() as u8))
            .unwrap_or(self.list.len());
        let ops = h.ops();
        let p: *const Hook = &*h;
        // Listed before it is registered: nothing that can fail comes after the engine call.
        vec::insert(&mut self.list, at, h)?;
        if let Err(e) = engine.register_funcs(ops, one) {
            // The engine changed nothing and kept no record: the hook can just go.
            drop(vec::remove(&mut self.list, at));
            return Err(e);
        }
        // Within the capacity `add` reserved.
        let _ = added.push(p, GFP_KERNEL);
        Ok(())
    }

    /// Unregisters and frees the hooks at the given addresses, with one wait for all. Cannot
    /// fail and allocates nothing: the engine's unregister cannot fail, and the hooks are found
    /// by address in place.
    fn remove_hooks(&mut self, engine: &mut Engine, which: &[*const Hook]) {
        for &p in which {
            if let Some(h) = self.list.iter().find(|h| core::ptr::eq(p, &***h)) {
                engine.unregister_deferred(h.ops());
            }
        }
        engine.finish_unregister();
        // Nothing reaches any of them now: free them.
        vec::retain(&mut self.list, |h| {
            !which.iter().any(|&p| core::ptr::eq(p, &**h))
        });
    }

    /// Removes every hook and the trace instance (module exit).
    pub(crate) fn clear(&mut self, engine: &mut Engine) {
        for h in self.list.iter() {
            engine.unregister_deferred(h.ops());
        }
        engine.finish_unregister();
        vec::clear(&mut self.list);
        // No hook uses the instance any more.
        self.tr = None;
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
            let func = crate::compat::Bytes(func);
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
