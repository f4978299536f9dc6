// SPDX-License-Identifier: GPL-2.0

//! x86-64: the code ftramp generates and how it changes it while it runs.
//!
//! - [`encode`]: instruction encoding (`core`-only, host-tested);
//! - [`trampoline`]: the per-function trampoline and the ops entry stub;
//! - [`frame`]: the registers a trampoline saves, all or only the arguments' (`core`-only,
//!   host-tested);
//! - [`fused`]: the fused stub of a site with several ops, direct calls to each
//!   ([`fused_layout`]: its code, `core`-only, host-tested);
//! - [`ret_trampoline`]: the trampoline of a function with return ops, and their stubs;
//! - [`pool`]: the executable region the code lives in, with slot quarantine;
//! - [`sequence`]: the order of one switch round (`core`-only, host-tested);
//! - [`patcher`]: the 3-phase int3 switch of dispatch sites, on the live text;
//! - [`int3`]: the int3 handler that emulates a call caught mid-switch;
//! - [`this_cpu`]: inline reads of the running task and the preemption count.

#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod encode;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod frame;
pub(crate) mod fused;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod fused_layout;
pub(crate) mod int3;
pub(crate) mod patcher;
pub(crate) mod pool;
pub(crate) mod ret_trampoline;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod sequence;
pub(crate) mod this_cpu;
pub(crate) mod trampoline;
