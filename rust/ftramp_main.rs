// SPDX-License-Identifier: GPL-2.0

//! ftramp: attach callbacks to kernel functions through ftrace direct calls, with generated
//! per-function trampolines that switch losslessly between a direct call and a list iterator.
//!
//! This file is the module's entry point: it resolves what the engine needs and sets up the
//! tracefs interface. See `Documentation/design.rst`.

use kernel::{
    c_str, new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

#[allow(unreachable_pub)] // `#[no_mangle]` functions exported to C (exports.c).
mod api;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
mod command;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
mod denylist;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
mod encode;
mod error_log;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
mod filter;
mod functions;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
mod glob;
mod hooks;
mod int3;
mod iterator;
mod patcher;
mod pool;
mod registry;
mod stats;
mod status;
mod symbols;
mod sys;
mod text;
mod tracefs;
mod trampoline;
mod vec;

module! {
    type: Ftramp,
    name: "ftramp",
    description: "Generated ftrace direct-call trampolines with lossless live switching",
    license: "GPL",
}

/// Module version, shown in `status`.
pub(crate) const VERSION: &str = "0.1.0";

/// State shared by the tracefs files and the C API.
///
/// Lock order: `hooks`, then `engine`; `errors` is taken alone or innermost.
pub(crate) struct State {
    pub(crate) engine: Pin<KBox<Mutex<registry::Engine>>>,
    pub(crate) hooks: Pin<KBox<Mutex<hooks::Hooks>>>,
    pub(crate) errors: Pin<KBox<Mutex<error_log::ErrorLog>>>,
}

/// The module. Fields drop in order: the tracefs files, then the engine (every site torn
/// down, trampoline memory freed after RCU-tasks), then the int3 handler, last.
struct Ftramp {
    _dir: tracefs::Dir<State>,
    _state: Arc<State>,
    _int3: int3::Int3Handler,
}

impl kernel::Module for Ftramp {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: plain reads of this module's parameters.
        let (force_missing, plant_warn) = unsafe {
            (
                sys::ftramp_param_force_missing_symbol(),
                sys::ftramp_param_plant_warn(),
            )
        };
        symbols::resolve(force_missing)?;
        if plant_warn {
            // SAFETY: no preconditions.
            unsafe { sys::ftramp_plant_warn() };
        }

        // The handler exists before any site and goes after all of them.
        let int3 = int3::Int3Handler::register()?;
        // SAFETY: plain read of a module parameter.
        let slots = unsafe { sys::ftramp_param_max_sites() } as usize;
        let engine = KBox::pin_init(
            new_mutex!(registry::Engine::new(slots)?, "ftramp_engine"),
            GFP_KERNEL,
        )?;
        let hooks = KBox::pin_init(
            new_mutex!(hooks::Hooks::default(), "ftramp_hooks"),
            GFP_KERNEL,
        )?;
        let errors = KBox::pin_init(
            new_mutex!(error_log::ErrorLog::default(), "ftramp_errors"),
            GFP_KERNEL,
        )?;
        let state = Arc::new(
            State {
                engine,
                hooks,
                errors,
            },
            GFP_KERNEL,
        )?;
        let mut dir = tracefs::Dir::create(c_str!("ftramp"), state.clone())?;
        dir.add::<status::Status>()?;
        dir.add::<stats::EnabledFunctions>()?;
        dir.add::<stats::Stats>()?;
        dir.add::<hooks::HooksFile>()?;
        dir.add::<hooks::AvailableCallbacks>()?;
        dir.add::<error_log::ErrorLogFile>()?;
        api::publish(&state.engine);
        pr_info!("loaded, version {}\n", VERSION);
        Ok(Self {
            _dir: dir,
            _state: state,
            _int3: int3,
        })
    }
}

impl Drop for Ftramp {
    fn drop(&mut self) {
        // No module using the C API is loaded any more (each held a reference on us).
        api::unpublish();
        // The built-in hooks go first, while the files are still there but unopenable.
        let mut hooks = self._state.hooks.lock();
        hooks.clear(&mut self._state.engine.lock());
        drop(hooks);
        pr_info!("unloading\n");
    }
}
