//! A pool of fixed-size DMA packet buffers and [`Packet`], the owned handle
//! to one of them that goes back to its pool when dropped.

use crate::dma::{DmaRegion, IovaPolicy};
use crate::error::{Error, Result};
use crate::vfio::Container;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

/// Size of each buffer: holds a 1518-byte frame (RCTL.BSIZE = 2048).
pub const BUFFER_SIZE: usize = 2048;

/// Fixed-size packet buffers in one DMA region.
///
/// Shared (`Arc`) between the RX and TX rings of a queue pair and every
/// [`Packet`] taken from it; the region stays mapped while any of them lives.
#[derive(Debug)]
pub struct Mempool {
    region: DmaRegion,
    count: usize,
    free: Mutex<Vec<u32>>,
}

impl Mempool {
    /// Allocates `count` buffers of [`BUFFER_SIZE`] bytes, mapped for DMA.
    pub fn new(
        container: &Arc<Container>,
        count: usize,
        policy: IovaPolicy,
    ) -> Result<Arc<Mempool>> {
        if count == 0 || count > u32::MAX as usize {
            return Err(Error::InvalidConfig(format!("mempool of {count} buffers")));
        }
        let region = DmaRegion::new(container, count * BUFFER_SIZE, policy)?;
        let free = (0..count as u32).rev().collect();
        Ok(Arc::new(Mempool {
            region,
            count,
            free: Mutex::new(free),
        }))
    }

    /// Total number of buffers.
    pub fn capacity(&self) -> usize {
        self.count
    }

    /// Buffers currently free.
    pub fn free_count(&self) -> usize {
        self.free.lock().unwrap().len()
    }

    /// Whether the buffers are in hugepages.
    pub fn hugepages(&self) -> bool {
        self.region.huge
    }

    /// Takes a free buffer as an empty [`Packet`] of `len` bytes, or `None` if exhausted.
    pub fn alloc(self: &Arc<Self>, len: usize) -> Option<Packet> {
        debug_assert!(len <= BUFFER_SIZE);
        let index = self.free.lock().unwrap().pop()?;
        Some(Packet {
            pool: Arc::clone(self),
            index,
            len: len as u32,
        })
    }

    /// Takes up to `n` buffers at once (one lock) and appends them to `out`.
    pub fn alloc_batch(self: &Arc<Self>, n: usize, len: usize, out: &mut Vec<Packet>) -> usize {
        let mut free = self.free.lock().unwrap();
        let take = n.min(free.len());
        for _ in 0..take {
            let index = free.pop().expect("counted");
            out.push(Packet {
                pool: Arc::clone(self),
                index,
                len: len as u32,
            });
        }
        take
    }

    fn buffer_ptr(&self, index: u32) -> *mut u8 {
        // In bounds: index < count, the region holds count * BUFFER_SIZE bytes.
        self.region
            .virt()
            .wrapping_add(index as usize * BUFFER_SIZE)
    }
}

/// One packet buffer, owned: readable and writable as `[u8]` of the packet's
/// length; returns to its [`Mempool`] on drop.
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
    pub fn iova(&self) -> u64 {
        self.pool.region.iova() + self.index as u64 * BUFFER_SIZE as u64
    }

    /// Sets the packet length (at most [`BUFFER_SIZE`]).
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= BUFFER_SIZE, "packet length {len} > {BUFFER_SIZE}");
        self.len = len as u32;
    }

    /// The pool this buffer belongs to.
    pub fn pool(&self) -> &Arc<Mempool> {
        &self.pool
    }
}

impl Deref for Packet {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is BUFFER_SIZE bytes inside the pool's mapping,
        // owned exclusively by this Packet (its index is off the free list),
        // and len <= BUFFER_SIZE.
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
        self.pool.free.lock().unwrap().push(self.index);
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
