//! Descriptor formats: 16-byte records in DMA memory that the NIC reads and
//! writes back. Legacy (8254x SDM §3.2.3, §3.3.3; 82574 §7.1.4, §7.2.10) and
//! advanced (82576 §7.1.5, §7.2.2).

/// Size of every descriptor format.
pub(crate) const DESC_SIZE: usize = 16;

mod rx;
mod tx;

#[cfg(feature = "fuzzing")]
pub use rx::fuzz_rx_writeback;
pub use rx::HEADER_BUFFER_SIZE;
pub(crate) use rx::*;
pub(crate) use tx::*;

/// Volatile 32-bit read of descriptor word `word` (0..4).
///
/// # Safety
/// `desc` must point at a live 16-byte descriptor in DMA memory.
pub(super) unsafe fn read_word(desc: *const u8, word: usize) -> u32 {
    // SAFETY: within the 16 bytes (word < 4), 4-byte aligned (rings are 128-byte aligned).
    unsafe { std::ptr::read_volatile(desc.add(word * 4).cast::<u32>()) }
}

/// Volatile 32-bit write of descriptor word `word`.
///
/// # Safety
/// As [`read_word`], and the descriptor must be owned by software.
pub(super) unsafe fn write_word(desc: *mut u8, word: usize, value: u32) {
    // SAFETY: as in read_word.
    unsafe { std::ptr::write_volatile(desc.add(word * 4).cast::<u32>(), value) }
}
