//! The machine under test: QEMU and its guest. Assets (QEMU, the guest
//! kernel, busybox, DPDK) and the initramfs built from them, the QEMU
//! command line, the guest agent's console and its jobs, QMP.
//!
//! Nothing here knows about frames or scenarios: [`crate::link`] and the
//! layers above use it.

pub mod assets;
pub mod config;
pub mod console;
pub mod cpio;
pub mod dpdk;
pub mod guest;
pub mod initramfs;
pub mod job;
pub mod kmod;
pub mod models;
pub mod qemu;
pub mod qmp;
pub mod sriov;

pub use config::GUEST_CPUS;
