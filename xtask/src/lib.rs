//! The project's test bench, as a library used by the `xtask` binary.
//!
//! Layers, each importing only those before it:
//! - [`vm`]: QEMU, the guest and its assets;
//! - [`link`]: the host's end of each NIC's link (frames, peers, stacks);
//! - [`scenarios`] and [`bench`]: the end-to-end tests and the benchmark,
//!   which never import each other;
//! - [`cmd`]: the commands (`test`, `run`, `demo`, `soak`, ...).

#![warn(missing_docs)]

pub mod error;
pub mod mac;

pub use anyhow::{bail, ensure};

pub mod vm;

pub mod link;

pub mod bench;
pub mod scenarios;

pub mod cmd;
