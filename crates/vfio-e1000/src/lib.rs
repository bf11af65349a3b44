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
//!     nic.rx_batch(0, &mut batch, 64);
//!     // ... look at or rewrite the frames in `batch` ...
//!     nic.tx_batch(0, &mut batch); // send them back out
//!     batch.clear(); // whatever did not fit goes back to the pool
//! }
//! # Ok::<(), vfio_e1000::Error>(())
//! ```
//!
//! Layers, bottom up: [`vfio`] (container, group, device), [`mmio`] (the
//! register accessor), [`dma`] (pinned memory and IOVAs), [`mempool`]
//! ([`Packet`] buffers), [`ring`] (descriptor rings), [`family`] (what each
//! controller family does differently), [`Nic`] (all of it together).

pub mod dma;
pub mod error;
pub mod family;
pub mod irq;
pub mod mempool;
pub mod mmio;
mod nic;
pub mod pci;
mod queue;
pub mod ring;
#[cfg(feature = "smoltcp")]
pub mod smoltcp_phy;
pub mod vfio;

pub use dma::IovaPolicy;
pub use error::{Error, Result};
pub use irq::IrqMode;
pub use mempool::{Mempool, Packet, BUFFER_SIZE};
pub use nic::{irq_counts, Config, LinkStatus, Nic, Stats};
pub use queue::{Queue, Wakeup};
