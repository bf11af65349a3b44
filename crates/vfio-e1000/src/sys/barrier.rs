//! Memory barriers between the CPU and a DMA-capable device, named after
//! Linux's (`Documentation/memory-barriers.txt`), with the cost each really
//! needs on the architectures this crate has been reasoned for.
//!
//! The two orderings the rings depend on:
//! - [`dma_rmb`]: after reading a descriptor's DD bit, the reads of the rest
//!   of its write-back must not be satisfied earlier (they could see the
//!   descriptor as it was before the device wrote it);
//! - [`mmio_wmb`]: every store to DMA memory (descriptors, packet bytes)
//!   must be visible to the device before a later register write (the tail)
//!   that tells the device to look.
//!
//! On x86-64 both are compiler barriers only: loads are not reordered with
//! older loads, stores are not reordered with older stores, and a store to
//! uncached memory (a VFIO BAR mapping) is not reordered with older
//! write-back stores (Intel SDM vol. 3A §9.2.2, as Linux's `dma_rmb`,
//! `dma_wmb` and `writel` on x86 rely on). On AArch64 they are `dmb oshld`
//! and `dmb oshst`: the device is an observer in the outer-shareable domain,
//! which the inner-shareable `dmb ish` of Rust's atomic fences does not cover
//! (Linux arm64 `dma_rmb`, `__iowmb`). Any other architecture is refused at
//! build time rather than built with orderings nobody checked.

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "vfio-e1000's DMA barriers are reasoned for x86_64 and aarch64 only: see src/sys/barrier.rs"
);

/// Orders the read of a descriptor's "done" bit before the reads of the
/// rest of the descriptor and of the buffer it describes.
#[inline(always)]
pub(crate) fn dma_rmb() {
    #[cfg(target_arch = "x86_64")]
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier instruction: no memory access, no register change.
    unsafe {
        std::arch::asm!("dmb oshld", options(nostack, preserves_flags))
    };
}

/// Orders every earlier store to DMA memory before the next register (MMIO)
/// write, so that a tail update never overtakes the descriptors it posts.
#[inline(always)]
pub(crate) fn mmio_wmb() {
    #[cfg(target_arch = "x86_64")]
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    #[cfg(target_arch = "aarch64")]
    // SAFETY: a barrier instruction: no memory access, no register change.
    unsafe {
        std::arch::asm!("dmb oshst", options(nostack, preserves_flags))
    };
}
