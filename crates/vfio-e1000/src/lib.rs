//! A user-space driver for Intel gigabit Ethernet controllers (8254x,
//! 82574L, 82576) through Linux VFIO.
//!
//! ```no_run
//! use vfio_e1000::{Config, Nic};
//! let mut nic = Nic::open("0000:00:03.0", &Config::default())?;
//! nic.wait_link(std::time::Duration::from_secs(5))?;
//! let mut batch = Vec::new();
//! loop {
//!     nic.wait(std::time::Duration::from_millis(100))?;
//!     nic.rx_batch(&mut batch, 64);
//!     // ... look at or rewrite the frames in `batch` ...
//!     nic.tx_batch(&mut batch); // send them back out
//!     batch.clear(); // whatever did not fit goes back to the pool
//! }
//! # Ok::<(), vfio_e1000::Error>(())
//! ```
//!
//! Safe code cannot reach the device's registers, map memory for it, or see
//! a buffer the device may be writing: [`Packet`]s move into the rings by
//! value, and oversize buffers are refused.
//!
//! ```compile_fail
//! // The register accessor is private: no register can be written from outside.
//! use vfio_e1000::sys::mmio::Mmio;
//! ```
//!
//! ```compile_fail
//! // So are the VFIO container and DMA mappings: no memory can be mapped for the device.
//! use vfio_e1000::sys::dma::DmaMemory;
//! ```
//!
//! ```compile_fail
//! // And a `Nic` does not lend out its VFIO device (config space, BARs).
//! fn f(nic: &vfio_e1000::Nic) { let _ = nic.device(); }
//! ```
//!
//! ```
//! # fn f(nic: &vfio_e1000::Nic) {
//! // A buffer larger than a pool buffer is refused, not handed out.
//! assert!(nic.alloc(vfio_e1000::BUFFER_SIZE + 1).is_none());
//! # }
//! ```
//!
//! Layers, bottom up (a module imports only from the layers below it):
//! - `sys`: Linux, nothing Intel: VFIO container/group/device, the register
//!   accessor, DMA memory and IOVAs, eventfds, sysfs PCI;
//! - `hw`: the datasheets: registers, descriptor formats, the device table,
//!   what each family (8254x, 82574L, 82576) does differently;
//! - `datapath`: the packet pool and the RX/TX rings, written once;
//! - `nic`: [`Nic`], [`Config`], [`Queue`]: bring-up as named steps,
//!   interrupt vectors, diagnostics, teardown;
//! - `smoltcp_phy` (feature `smoltcp`): a `smoltcp::phy::Device` on a queue.
//!
//! `unsafe` is denied crate-wide and allowed only where the hardware or
//! the kernel requires it: `sys` (system calls, MMIO, DMA memory),
//! `hw::desc` (descriptors in DMA memory), `datapath` (buffers and
//! descriptor rings in DMA memory), and the software NIC of the tests.
//! Every block carries a `SAFETY` argument.

#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[allow(unsafe_code)] // packet buffers and descriptor rings in DMA memory
mod datapath;
mod error;
mod hw;
mod nic;
#[cfg(feature = "smoltcp")]
pub mod smoltcp_phy;
#[allow(unsafe_code)] // system calls, MMIO and DMA memory
mod sys;
#[cfg(any(test, feature = "model"))]
#[allow(unsafe_code)] // the model NIC reads and writes DMA memory as a device would
mod testing;

/// The software NIC driven by the driver's own rings, for the host-side
/// benchmark (`cargo bench -p vfio-e1000 --bench datapath`): not a stable
/// interface.
#[cfg(feature = "model")]
#[doc(hidden)]
pub use testing::bench as model;

/// Entry points for the fuzzer (`fuzz/`): not a stable interface.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::hw::desc::fuzz_rx_writeback;
}

/// The README's code, compiled by `cargo test --doc` so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

pub use datapath::mempool::{ChecksumStatus, Packet, BUFFER_SIZE};
pub use datapath::tx::MAX_PACKETS_PER_FRAME;
pub use error::{Error, Result};
pub use hw::counters::{LinkStatus, Stats};
pub use hw::desc::HEADER_BUFFER_SIZE;
pub use hw::irq::IrqMode;
pub use hw::offload::Capabilities;
pub use nic::clock::{RxTimestamp, ETHERTYPE_PTP, PTP_DELAY_REQ, PTP_SYNC};
pub use nic::config::{MAX_IRQ_INTERVAL_US, MAX_MTU};
pub use nic::diag::{bind_vfio, supported_devices, Bar, DeviceListing, Diagnostics};
pub use nic::{Clock, Config, Nic, Poller, Queue, Wakeup};
pub use sys::dma::IovaPolicy;
pub use sys::pci::PciAddress;
pub use sys::signal::{stop_on_signals, Stop};
