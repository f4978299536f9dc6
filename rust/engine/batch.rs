// SPDX-License-Identifier: GPL-2.0

//! When a flush of the retire lists (`retire.rs`) waits and frees. `core`-only, unit-tested on
//! the host.
//!
//! Retired sites and ops stubs: the operation that retired them waits for them before it
//! returns (its caller may free the ops right after). Replaced lists and fused stubs name no
//! ops anyone may free before a wait (see `retire.rs`), so they wait for a batch: a site
//! switched 1 <-> 2 continuously then costs one wait per [`LIST_BATCH`] switches, not one per
//! switch.

/// Replaced lists (and fused stubs' slots) kept before a flush waits just for them.
pub const LIST_BATCH: usize = 64;

/// Whether a flush with `sites` sites, `stubs` ops stubs and `lists` lists and fused stubs'
/// slots retired waits and frees them now.
pub fn flush_now(sites: usize, stubs: usize, lists: usize) -> bool {
    sites != 0 || stubs != 0 || lists >= LIST_BATCH
}
