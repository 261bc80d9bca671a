//! What every binary of the firmware shares: semihosting output and exit,
//! stack painting, and an in-memory transport that replays a recorded
//! response in small reads (blocking and, with the `async` feature, async).
//!
//! The size binaries (`src/bin/size_*.rs`) and the baseline (`empty.rs`) use
//! the same runtime, so the difference between them is what the crate adds.
#![no_std]

pub mod mem;
#[cfg(target_arch = "arm")]
pub mod rt;
#[cfg(target_arch = "arm")]
pub mod stack;

#[cfg(feature = "async")]
pub mod mem_async;
