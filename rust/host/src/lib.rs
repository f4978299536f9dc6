//! Host build of the `core`-only files of the ftramp module, so their logic is unit-tested
//! with `cargo test` in seconds. The kernel build compiles the very same files.

#[path = "../../encode.rs"]
pub mod encode;
#[path = "../../command.rs"]
pub mod command;
#[path = "../../denylist.rs"]
pub mod denylist;
#[path = "../../filter.rs"]
pub mod filter;
#[path = "../../glob.rs"]
pub mod glob;

#[cfg(test)]
mod tests;
