//! Linux, and nothing Intel: VFIO (container, group, device; one safe
//! wrapper per ioctl), the register accessor, DMA memory with its IOVAs and
//! memlock diagnosis, eventfds, and PCI devices as sysfs shows them.
//!
//! Most of the crate's `unsafe` lives here, each block with its argument.

pub(crate) mod barrier;
pub(crate) mod dma;
pub(crate) mod epoll;
pub(crate) mod eventfd;
pub(crate) mod irq;
pub(crate) mod mmio;
pub(crate) mod pci;
pub(crate) mod signal;
pub(crate) mod vfio;
