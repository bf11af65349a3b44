//! Datasheet knowledge, and no system calls: register offsets and bits,
//! descriptor formats, the device table, what each controller family does
//! differently, interrupt modes, and the counters the NIC keeps.
//!
//! Everything here reaches the device only through
//! [`Registers`](crate::sys::mmio::Registers), so it runs unchanged against
//! the software NIC model of the tests.

pub(crate) mod counters;
#[allow(unsafe_code)] // descriptor words are volatile accesses to DMA memory
pub(crate) mod desc;
pub(crate) mod devices;
pub(crate) mod family;
pub(crate) mod filters;
pub(crate) mod irq;
pub(crate) mod mailbox;
pub(crate) mod offload;
pub(crate) mod ptp;
pub(crate) mod regs;
