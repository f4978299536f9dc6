// SPDX-License-Identifier: GPL-2.0

//! ftramp: attach callbacks to kernel functions through ftrace direct calls, with generated
//! per-function trampolines that switch losslessly between a direct call and a list iterator.
//!
//! This file is the module's entry point: it resolves what the engine needs and sets up the
//! tracefs interface. See `Documentation/design.rst`.

use kernel::{c_str, prelude::*, sync::Arc};

mod status;
mod symbols;
mod sys;
mod text;
mod tracefs;

module! {
    type: Ftramp,
    name: "ftramp",
    description: "Generated ftrace direct-call trampolines with lossless live switching",
    license: "GPL",
}

/// Module version, shown in `status`.
pub(crate) const VERSION: &str = "0.1.0";

/// State shared by the tracefs files.
pub(crate) struct State {}

struct Ftramp {
    _dir: tracefs::Dir<State>,
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

        let state = Arc::new(State {}, GFP_KERNEL)?;
        let mut dir = tracefs::Dir::create(c_str!("ftramp"), state)?;
        dir.add::<status::Status>()?;
        pr_info!("loaded, version {}\n", VERSION);
        Ok(Self { _dir: dir })
    }
}

impl Drop for Ftramp {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
