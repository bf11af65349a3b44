//! Device registers: the [`Registers`] interface every layer above uses, and
//! [`Mmio`], its one real implementation: volatile 32-bit accesses to a BAR
//! mapped through VFIO. (The software NIC model of the tests is the other.)

use super::barrier::mmio_wmb;
use crate::error::{Error, Result};
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// 32-bit register access to one device. Implementations must make every
/// write visible to the device after every memory write that precedes it in
/// program order (descriptor contents before a tail update).
pub(crate) trait Registers: Send + Sync {
    /// Reads the register at byte offset `reg`.
    fn read(&self, reg: u32) -> u32;

    /// Writes the register at byte offset `reg`.
    fn write(&self, reg: u32, value: u32);

    /// Writes a queue's tail register: the data path's one register write
    /// per batch. Implementations may leave it out of [`Registers::accesses`]
    /// (the rings count their own, with no shared counter between queue
    /// threads); by default it is [`Registers::write`].
    fn write_tail(&self, reg: u32, value: u32) {
        self.write(reg, value);
    }

    /// Register reads and writes done so far through this accessor (tail
    /// writes perhaps excepted, see [`Registers::write_tail`]).
    fn accesses(&self) -> (u64, u64);

    /// Sets `bits` in register `reg` (read-modify-write).
    fn set_bits(&self, reg: u32, bits: u32) {
        self.write(reg, self.read(reg) | bits);
    }

    /// Clears `bits` in register `reg` (read-modify-write).
    fn clear_bits(&self, reg: u32, bits: u32) {
        self.write(reg, self.read(reg) & !bits);
    }

    /// Polls register `reg` every 100 µs until `done(value)` holds, or
    /// `timeout_ms` passes, or the register reads all ones (the device is gone).
    fn wait_for(&self, reg: u32, timeout_ms: u64, done: &dyn Fn(u32) -> bool) -> Option<u32> {
        let start = Instant::now();
        loop {
            let v = self.read(reg);
            if v == u32::MAX {
                return None;
            }
            if done(v) {
                return Some(v);
            }
            if start.elapsed() >= Duration::from_millis(timeout_ms) {
                return None;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// A mapped BAR: `len` bytes of device registers at `base`.
#[derive(Debug)]
pub(crate) struct Mmio {
    base: NonNull<u8>,
    len: usize,
    reads: AtomicU64,
    writes: AtomicU64,
}

// SAFETY: the mapping is device memory owned by this value; concurrent
// volatile accesses to registers are what the hardware expects, and the
// counters are atomics.
unsafe impl Send for Mmio {}
// SAFETY: as above; every access is a single volatile load or store.
unsafe impl Sync for Mmio {}

impl Mmio {
    /// Maps `len` bytes of the device file `fd` at `offset` (a VFIO region).
    pub(crate) fn map(fd: RawFd, offset: u64, len: usize) -> Result<Mmio> {
        // SAFETY: a fresh shared mapping of a VFIO region; the kernel checks
        // `offset`/`len` against the region. Nothing else is affected.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                offset as libc::off_t,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::last_os("mmap of BAR0"));
        }
        Ok(Mmio {
            base: NonNull::new(base.cast()).expect("mmap does not return null on success"),
            len,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        })
    }

    /// Pointer to register `reg`, after the bounds and alignment check that
    /// makes the volatile access below sound.
    #[inline]
    fn at(&self, reg: u32) -> *mut u32 {
        assert!(
            reg as usize + 4 <= self.len && reg.is_multiple_of(4),
            "register {reg:#x} outside the {} byte BAR",
            self.len
        );
        self.base.as_ptr().wrapping_add(reg as usize).cast()
    }
}

impl Registers for Mmio {
    #[inline]
    fn read(&self, reg: u32) -> u32 {
        let p = self.at(reg);
        self.reads.fetch_add(1, Ordering::Relaxed);
        // SAFETY: in bounds and aligned (checked by `at`); the mapping lives as long as `self`.
        unsafe { std::ptr::read_volatile(p) }
    }

    /// [`mmio_wmb`] comes first, so descriptor contents written before a
    /// tail-pointer update are visible to the device before the update.
    #[inline]
    fn write(&self, reg: u32, value: u32) {
        let p = self.at(reg);
        self.writes.fetch_add(1, Ordering::Relaxed);
        mmio_wmb();
        // SAFETY: in bounds and aligned (checked by `at`); the mapping lives as long as `self`.
        unsafe { std::ptr::write_volatile(p, value) }
    }

    /// As `write`, without the shared counter (an atomic read-modify-write
    /// that every queue thread would contend on).
    #[inline]
    fn write_tail(&self, reg: u32, value: u32) {
        let p = self.at(reg);
        mmio_wmb();
        // SAFETY: in bounds and aligned (checked by `at`); the mapping lives as long as `self`.
        unsafe { std::ptr::write_volatile(p, value) }
    }

    fn accesses(&self) -> (u64, u64) {
        (
            self.reads.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Mmio {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; no reference into it outlives `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
