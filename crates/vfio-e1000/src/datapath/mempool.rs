//! A pool of fixed-size DMA packet buffers, and [`Packet`], the owned handle
//! to one of them that goes back to its pool when dropped.

use crate::error::{Error, Result};
use crate::sys::dma::{DmaMemory, DmaRegion};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

/// Size of each packet buffer at the standard MTU: holds a 1522-byte frame
/// (RCTL.BSIZE = 2048). Jumbo MTUs get larger buffers ([`Packet::capacity`]).
pub const BUFFER_SIZE: usize = 2048;
/// The largest buffer: 16 KiB (RCTL.BSIZE 01 with BSEX).
pub(crate) const MAX_BUFFER_SIZE: usize = 16384;

/// Fixed-size packet buffers in one DMA region.
///
/// Shared (`Arc`) between the RX and TX rings of a queue pair and every
/// [`Packet`] taken from it; the region stays mapped while any of them lives.
#[derive(Debug)]
pub(crate) struct Mempool {
    region: DmaRegion,
    count: usize,
    /// Bytes per buffer: a power of two from 2 KiB to 16 KiB.
    buffer_size: usize,
    /// Indices of the buffers nobody holds.
    free: Mutex<Vec<u32>>,
}

impl Mempool {
    /// Allocates `count` buffers of `buffer_size` bytes (a power of two,
    /// [`BUFFER_SIZE`] to 16 KiB) from `dma`.
    pub(crate) fn new(dma: &DmaMemory, count: usize, buffer_size: usize) -> Result<Arc<Mempool>> {
        if count == 0 || count > u32::MAX as usize {
            return Err(Error::InvalidConfig(format!(
                "a pool of {count} buffers: must be 1 to 2^32 - 1"
            )));
        }
        assert!(
            buffer_size.is_power_of_two() && (BUFFER_SIZE..=MAX_BUFFER_SIZE).contains(&buffer_size),
            "buffer size {buffer_size}"
        );
        let region = dma.alloc(count * buffer_size)?;
        let free = (0..count as u32).rev().collect();
        Ok(Arc::new(Mempool {
            region,
            count,
            buffer_size,
            free: Mutex::new(free),
        }))
    }

    fn free_list(&self) -> MutexGuard<'_, Vec<u32>> {
        // A panic elsewhere while holding the lock leaves the list intact
        // (push and pop do not unwind half-way).
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes per buffer.
    pub(crate) fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// Total number of buffers.
    pub(crate) fn capacity(&self) -> usize {
        self.count
    }

    /// Buffers currently free.
    pub(crate) fn free_count(&self) -> usize {
        self.free_list().len()
    }

    /// Whether the buffers are in hugepages.
    pub(crate) fn hugepages(&self) -> bool {
        self.region.huge()
    }

    /// Takes a free buffer as a [`Packet`] of `len` bytes; `None` if the
    /// pool is exhausted or `len` is over the buffer size.
    pub(crate) fn alloc(self: &Arc<Self>, len: usize) -> Option<Packet> {
        if len > self.buffer_size {
            return None;
        }
        let index = self.free_list().pop()?;
        Some(Packet {
            pool: Arc::clone(self),
            index,
            len: len as u32,
        })
    }

    /// Takes up to `n` buffers of `len` bytes at once (one lock) and appends
    /// them to `out`; returns how many (0 if `len` is over the buffer size).
    pub(crate) fn alloc_batch(
        self: &Arc<Self>,
        n: usize,
        len: usize,
        out: &mut Vec<Packet>,
    ) -> usize {
        if len > self.buffer_size {
            return 0;
        }
        let mut free = self.free_list();
        let take = n.min(free.len());
        let start = free.len() - take;
        out.extend(free.drain(start..).map(|index| Packet {
            pool: Arc::clone(self),
            index,
            len: len as u32,
        }));
        take
    }

    /// Pointer to buffer `index`; in bounds because `index < count` and the
    /// region holds `count * buffer_size` bytes.
    fn buffer_ptr(&self, index: u32) -> *mut u8 {
        assert!((index as usize) < self.count);
        self.region
            .virt()
            .wrapping_add(index as usize * self.buffer_size)
    }

    /// Whether `p` is one of this pool's buffers.
    #[cfg(test)]
    pub(crate) fn owns(&self, p: &Packet) -> bool {
        std::ptr::eq(Arc::as_ptr(&p.pool), self)
    }
}

/// One packet buffer, owned: readable and writable as a `[u8]` of the
/// packet's length; returns to its pool on drop.
///
/// The rings take `Packet`s by value when they hand them to the NIC, so safe
/// code can never touch a buffer while the device may be writing it.
pub struct Packet {
    pool: Arc<Mempool>,
    index: u32,
    len: u32,
}

impl Packet {
    /// The device address of the buffer.
    pub(crate) fn iova(&self) -> u64 {
        self.pool.region.iova() + (self.index as usize * self.pool.buffer_size) as u64
    }

    /// The largest length the buffer can hold: [`BUFFER_SIZE`] at the
    /// standard MTU, more with a jumbo [`Config::mtu`](crate::Config::mtu).
    pub fn capacity(&self) -> usize {
        self.pool.buffer_size
    }

    /// Sets the packet length. Bytes that become part of the packet keep
    /// whatever the buffer held (a previous frame): write them.
    ///
    /// # Panics
    /// If `len` is over [`Packet::capacity`].
    pub fn set_len(&mut self, len: usize) {
        let cap = self.pool.buffer_size;
        assert!(len <= cap, "packet length {len} > the buffer's {cap}");
        self.len = len as u32;
    }

    /// The buffer's index in its pool (tests).
    #[cfg(test)]
    pub(crate) fn index(&self) -> u32 {
        self.index
    }
}

impl Deref for Packet {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is buffer_size bytes inside the pool's mapping,
        // which lives as long as `self.pool`; this Packet owns it exclusively
        // (its index is off the free list and no ring holds it); and
        // len <= buffer_size (every path that sets `len` checks it).
        unsafe { std::slice::from_raw_parts(self.pool.buffer_ptr(self.index), self.len as usize) }
    }
}

impl DerefMut for Packet {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe {
            std::slice::from_raw_parts_mut(self.pool.buffer_ptr(self.index), self.len as usize)
        }
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        self.pool.free_list().push(self.index);
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}
