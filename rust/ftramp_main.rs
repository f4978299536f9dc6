// SPDX-License-Identifier: GPL-2.0

//! ftramp: attach callbacks to kernel functions through ftrace direct calls, with generated
//! per-function trampolines that switch losslessly between a direct call and a list iterator.
//!
//! This file is the module's entry point: it resolves what the engine needs and sets up the
//! tracefs interface. See `Documentation/design.rst`.

use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    types::ScopeGuard,
};

#[allow(unreachable_pub)] // `#[no_mangle]` functions exported to C (exports.c).
mod api;
#[path = "arch/x86/mod.rs"]
mod arch;
// The function model of return hooks (issue 12): used by the return trampoline, next.
#[allow(dead_code)]
mod btf;
mod compat;
mod dispatch;
mod engine;
mod notifier;
mod percpu;
mod resolve;
mod sys;
mod tracefs;
mod vec;

// Short paths for what every layer uses (the `core`-only files name them this way in the host
// crate too).
use resolve::{denylist, filter, functions, glob, symbols};
use tracefs::{command, output};

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
#[pin_data]
pub(crate) struct State {
    #[pin]
    pub(crate) engine: Mutex<engine::Engine>,
    #[pin]
    pub(crate) hooks: Mutex<tracefs::hooks::Hooks>,
    #[pin]
    pub(crate) errors: Mutex<tracefs::error_log::ErrorLog>,
}

/// The module. Fields drop in declaration order: the tracefs files, the module notifier
/// (unregistering waits for a running call), the state (the engine tears every site down and
/// frees trampoline memory after its wait), then the int3 handler, last.
struct Ftramp {
    dir: tracefs::Dir<State>,
    modules: engine::module::ModuleNotifier,
    state: Arc<State>,
    int3: arch::int3::Int3Handler,
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

        // What the recursion guard reads inline, before anything can dispatch.
        dispatch::guard::init()?;
        // The handler exists before any site and goes after all of them.
        let int3 = arch::int3::Int3Handler::register()?;
        // SAFETY: plain read of a module parameter.
        let slots = unsafe { sys::ftramp_param_max_sites() } as usize;
        let engine = engine::Engine::new(slots)?;
        let state = Arc::pin_init(
            pin_init!(State {
                engine <- new_mutex!(engine, "ftramp_engine"),
                hooks <- new_mutex!(tracefs::hooks::Hooks::default(), "ftramp_hooks"),
                errors <- new_mutex!(tracefs::error_log::ErrorLog::default(), "ftramp_errors"),
            }),
            GFP_KERNEL,
        )?;
        api::publish(&state.engine);
        // Until init succeeds, a failure withdraws the engine again.
        let published = ScopeGuard::new(api::unpublish);
        let modules = engine::module::ModuleNotifier::register()?;
        let dir = tracefs::create(state.clone())?;
        published.dismiss();
        pr_info!("loaded, version {}\n", VERSION);
        Ok(Self {
            dir,
            modules,
            state,
            int3,
        })
    }
}

impl Drop for Ftramp {
    fn drop(&mut self) {
        // No module using the C API is loaded any more (each held a reference on us).
        api::unpublish();
        // The built-in hooks go first, while the files are still there but unopenable.
        let mut hooks = self.state.hooks.lock();
        hooks.clear(&mut self.state.engine.lock());
        drop(hooks);
        let _ = (&self.dir, &self.modules, &self.int3);
        pr_info!("unloading\n");
    }
}
