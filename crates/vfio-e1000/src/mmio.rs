//! The one way the driver touches device registers: volatile 32-bit accesses
//! to a BAR mapped through VFIO.

use crate::error::{Error, Result};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// MMIO reads and writes done so far by this process, for the benchmarks'
/// "register accesses per packet" figure. Relaxed counters: a few ns each.
pub static MMIO_READS: AtomicU64 = AtomicU64::new(0);
/// See [`MMIO_READS`].
pub static MMIO_WRITES: AtomicU64 = AtomicU64::new(0);

/// A mapped BAR: `len` bytes of device registers at `base`.
#[derive(Debug)]
pub struct Mmio {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is process-wide device memory; concurrent volatile
// accesses to distinct registers are what the hardware expects, and `Mmio`
// holds no other state.
unsafe impl Send for Mmio {}
// SAFETY: as above; every access is a single volatile load or store.
unsafe impl Sync for Mmio {}

impl Mmio {
    /// Maps `len` bytes of the device file `fd` at `offset` (a VFIO region).
    pub(crate) fn map(fd: RawFd, offset: u64, len: usize) -> Result<Mmio> {
        // SAFETY: a fresh shared mapping of a VFIO region; the kernel checks
        // `offset`/`len` against the region.
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
            base: base.cast(),
            len,
        })
    }

    /// Size of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never true for a real BAR).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the 32-bit register at byte offset `reg`.
    #[inline]
    pub fn read(&self, reg: u32) -> u32 {
        assert!(
            reg as usize + 4 <= self.len && reg.is_multiple_of(4),
            "register {reg:#x} outside BAR"
        );
        MMIO_READS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: in bounds and aligned (checked above); the mapping lives as long as `self`.
        unsafe { std::ptr::read_volatile(self.base.add(reg as usize).cast::<u32>()) }
    }

    /// Writes the 32-bit register at byte offset `reg`.
    ///
    /// A release fence comes first, so descriptor contents written before a
    /// tail-pointer update are visible to the device before the update.
    #[inline]
    pub fn write(&self, reg: u32, value: u32) {
        assert!(
            reg as usize + 4 <= self.len && reg.is_multiple_of(4),
            "register {reg:#x} outside BAR"
        );
        MMIO_WRITES.fetch_add(1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::SeqCst);
        // SAFETY: in bounds and aligned (checked above); the mapping lives as long as `self`.
        unsafe { std::ptr::write_volatile(self.base.add(reg as usize).cast::<u32>(), value) }
    }

    /// Sets `bits` in register `reg` (read-modify-write).
    pub fn set_bits(&self, reg: u32, bits: u32) {
        self.write(reg, self.read(reg) | bits);
    }

    /// Clears `bits` in register `reg` (read-modify-write).
    pub fn clear_bits(&self, reg: u32, bits: u32) {
        self.write(reg, self.read(reg) & !bits);
    }

    /// Polls register `reg` every `step_us` µs until `done(value)` or `timeout_ms`.
    pub fn wait_for(&self, reg: u32, timeout_ms: u64, done: impl Fn(u32) -> bool) -> Option<u32> {
        let start = std::time::Instant::now();
        loop {
            let v = self.read(reg);
            if v == u32::MAX {
                return None;
            }
            if done(v) {
                return Some(v);
            }
            if start.elapsed().as_millis() as u64 >= timeout_ms {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
    }
}

impl Drop for Mmio {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; no reference into it outlives `self`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}
