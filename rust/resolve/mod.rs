// SPDX-License-Identifier: GPL-2.0

//! From names to hookable functions:
//!
//! - [`symbols`]: the unexported kernel functions ftramp calls, resolved once at load;
//! - [`functions`]: names and globs to fentry sites, with the refusals;
//! - [`denylist`], [`glob`], [`filter`]: the `core`-only parts (host-tested).

#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod denylist;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod filter;
pub(crate) mod functions;
#[allow(unreachable_pub, dead_code)] // `core`-only, shared with the host tests.
pub(crate) mod glob;
pub(crate) mod symbols;
