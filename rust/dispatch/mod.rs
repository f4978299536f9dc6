// SPDX-License-Identifier: GPL-2.0

//! What a trampoline's dispatch `call` reaches besides a recursion-safe ops' own callback:
//!
//! - [`list`]: a site's RCU-published ops list, its writer and its reader, the list iterator
//!   (two or more ops on the function);
//! - [`assist`]: the recursion-guard wrapper of an ops that does not guard itself;
//! - [`guard`]: that guard, ftrace's list-level recursion bit, inline; [`recursion`]: its rule
//!   (`core`-only, host-tested).
//!
//! All run with preemption disabled (the trampoline disables it around every dispatch), and
//! none skips a call where RCU is not watching: what they read is freed only after the
//! engine's wait, which includes `synchronize_rcu_tasks_rude()`.

use core::sync::atomic::AtomicU64;

pub(crate) mod assist;
pub(crate) mod guard;
pub(crate) mod list;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod recursion;
pub(crate) mod ret;

/// Calls skipped because ftrace's recursion guard refused them.
pub(crate) static GUARD_SKIPS: AtomicU64 = AtomicU64::new(0);
