//! The data path, written once for every family: the packet pool, and the
//! receive and transmit rings (descriptors in DMA memory, the packets the
//! NIC owns, the queue's head and tail registers).
//!
//! Fast-path rules: no register read; at most one tail write per batch;
//! receive completion is read from descriptor write-back; transmit
//! completion is requested (RS) only on the last descriptor of a batch and
//! reclaimed a batch at a time. Refilled receive descriptors go back to the
//! NIC in groups ([`rx::RxRing::post_threshold`]). Every loop is bounded by
//! the ring size and the caller's budget, whatever the device writes.

pub(crate) mod checksum;
pub(crate) mod mempool;
pub(crate) mod rx;
pub(crate) mod tx;

use crate::error::{Error, Result};
use crate::hw::desc::DESC_SIZE;
use crate::hw::regs::{Q_BAH, Q_BAL, Q_HEAD, Q_LEN, Q_TAIL};
use crate::sys::dma::{DmaMemory, DmaRegion};
use crate::sys::mmio::Registers;

/// Ring sizes must be a multiple of 8 descriptors (128 bytes, SDM §13.4.27).
pub(crate) const RING_ALIGN: usize = 8;
/// Largest ring: RDLEN/TDLEN hold up to 64 KiB of descriptors on every family.
pub(crate) const RING_MAX: usize = 4096;

/// Checks a ring size: a multiple of 8, between 8 and 4096.
pub(crate) fn check_ring_size(what: &str, n: usize) -> Result<()> {
    if !(RING_ALIGN..=RING_MAX).contains(&n) || !n.is_multiple_of(RING_ALIGN) {
        return Err(Error::InvalidConfig(format!(
            "{what} ring of {n} descriptors: must be a multiple of {RING_ALIGN} between {RING_ALIGN} and {RING_MAX}"
        )));
    }
    Ok(())
}

/// Descriptor memory of one ring.
#[derive(Debug)]
struct Descriptors {
    region: DmaRegion,
    count: usize,
}

impl Descriptors {
    fn new(dma: &DmaMemory, what: &str, count: usize) -> Result<Self> {
        check_ring_size(what, count)?;
        Ok(Descriptors {
            region: dma.alloc(count * DESC_SIZE)?,
            count,
        })
    }

    /// Pointer to descriptor `i`: inside the region for any `i < count`.
    fn at(&self, i: usize) -> *mut u8 {
        assert!(i < self.count, "descriptor {i} of {}", self.count);
        self.region.virt().wrapping_add(i * DESC_SIZE)
    }

    /// Zeroes every descriptor, with volatile stores as every other
    /// descriptor access. Only for a ring the device has confirmed it no
    /// longer uses (`TxRing::reset` quarantines the others instead).
    fn clear(&mut self) {
        let words = self.count * DESC_SIZE / 8;
        let base = self.region.virt().cast::<u64>();
        for i in 0..words {
            // SAFETY: the region holds count * DESC_SIZE bytes, so `i` words
            // of 8 bytes are in bounds; it is page-aligned, so each is
            // aligned; and the caller holds the ring exclusively (`&mut`)
            // with the device confirmed idle on it.
            unsafe { std::ptr::write_volatile(base.add(i), 0) };
        }
    }
}

/// Writes a ring's base, length, head and tail (head = tail = 0: empty)
/// into the queue register block at `block` (same layout on every family).
pub(crate) fn program_ring(r: &dyn Registers, block: u32, iova: u64, count: usize) {
    r.write(block + Q_BAL, iova as u32);
    r.write(block + Q_BAH, (iova >> 32) as u32);
    r.write(block + Q_LEN, (count * DESC_SIZE) as u32);
    r.write(block + Q_HEAD, 0);
    r.write(block + Q_TAIL, 0);
}
