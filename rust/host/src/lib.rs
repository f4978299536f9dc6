//! Host build of the `core`-only files of the ftramp module, so their logic is unit-tested
//! with `cargo test` in seconds. The kernel build compiles the very same files.

#[path = "../../engine/batch.rs"]
pub mod batch;
#[path = "../../tracefs/command.rs"]
pub mod command;
#[path = "../../resolve/denylist.rs"]
pub mod denylist;
#[path = "../../arch/x86/encode.rs"]
pub mod encode;
#[path = "../../arch/x86/frame.rs"]
pub mod frame;
#[path = "../../resolve/filter.rs"]
pub mod filter;
#[path = "../../arch/x86/fused_layout.rs"]
pub mod fused_layout;
#[path = "../../resolve/glob.rs"]
pub mod glob;
#[path = "../../btf/model.rs"]
pub mod model;
#[path = "../../engine/plan.rs"]
pub mod plan;
#[path = "../../dispatch/recursion.rs"]
pub mod recursion;
#[path = "../../arch/x86/sequence.rs"]
pub mod sequence;

#[cfg(test)]
mod frame_tests;
#[cfg(test)]
mod fused_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod recursion_tests;
#[cfg(test)]
mod ret_tests;
#[cfg(test)]
mod tests;
