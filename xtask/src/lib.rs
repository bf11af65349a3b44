//! The project's test bench, as a library used by the `xtask` binary:
//! guest assets and initramfs, the QEMU guest and its agent, the host-side
//! traffic peer, and the end-to-end scenarios with their runner.

#![warn(missing_docs)]

pub mod assets;
pub mod bench;
pub mod console;
pub mod cpio;
pub mod demo;
pub mod docs;
pub mod error;

pub use anyhow::{bail, ensure};
pub mod frame;
pub mod fuzz;
pub mod guest;
pub mod host_stack;
pub mod initramfs;
pub mod job;
pub mod kmod;
pub mod mmsg;
pub mod models;
pub mod peer;
pub mod qemu;
pub mod qmp;
pub mod responder;
pub mod run;
pub mod scenarios;
pub mod soak;
pub mod tests;
