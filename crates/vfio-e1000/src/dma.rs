//! DMA memory: anonymous memory (2 MiB hugepages when the system has them,
//! else 4 KiB pages) mapped into the device's IOMMU address space in a few
//! large mappings, with the IOVA chosen by a policy.

use crate::error::{Error, Result};
use crate::vfio::Container;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Size of an x86-64 huge page.
pub const HUGE_PAGE: usize = 2 << 20;
const PAGE: usize = 4096;
/// Lowest IOVA handed out by [`IovaPolicy::Allocated`]: above 4 GiB, clear of
/// the x86 interrupt window at 0xfee00000, well inside a 39-bit IOMMU.
const IOVA_BASE: u64 = 1 << 32;

/// Bytes this process has pinned through VFIO (for the memlock diagnosis).
static LOCKED: AtomicU64 = AtomicU64::new(0);
/// Next IOVA for [`IovaPolicy::Allocated`]; process-wide, so two NICs in one
/// container never overlap.
static NEXT_IOVA: AtomicU64 = AtomicU64::new(IOVA_BASE);

/// How device-visible addresses (IOVAs) are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IovaPolicy {
    /// A bump allocator from 4 GiB up (default; fits any IOMMU address width).
    #[default]
    Allocated,
    /// IOVA = the buffer's virtual address (needs an IOMMU with ≥ 47-bit width).
    Identity,
}

/// The `RLIMIT_MEMLOCK` soft limit in bytes (`u64::MAX` if unlimited).
pub fn memlock_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return u64::MAX;
    }
    lim.rlim_cur
}

/// Bytes already pinned by this process's DMA regions.
pub fn locked_bytes() -> u64 {
    LOCKED.load(Ordering::Relaxed)
}

/// Whether this process may lock memory regardless of `RLIMIT_MEMLOCK`.
fn has_cap_ipc_lock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:").map(|v| v.trim().to_string()))
        })
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// Fails early, with the numbers, if pinning `bytes` more would exceed the limit.
pub fn check_memlock(bytes: u64) -> Result<()> {
    let limit = memlock_limit();
    let needed = locked_bytes() + bytes;
    if needed > limit && !has_cap_ipc_lock() {
        return Err(Error::MemlockTooLow { needed, limit });
    }
    Ok(())
}

/// One contiguous range of DMA memory, mapped for the device.
///
/// Unmapped from the IOMMU and freed on drop; anything that DMAs into it must
/// be stopped first (the NIC's teardown does that).
#[derive(Debug)]
pub struct DmaRegion {
    virt: *mut u8,
    size: usize,
    iova: u64,
    /// Whether the memory is backed by 2 MiB hugepages.
    pub huge: bool,
    container: Arc<Container>,
}

// SAFETY: the region is plain memory owned by this value; access to its
// contents is coordinated by the ring and mempool code that hands out slices.
unsafe impl Send for DmaRegion {}
// SAFETY: as above.
unsafe impl Sync for DmaRegion {}

impl DmaRegion {
    /// Allocates at least `size` bytes, zeroed, and maps them for DMA.
    pub fn new(container: &Arc<Container>, size: usize, policy: IovaPolicy) -> Result<DmaRegion> {
        if container.no_iommu {
            return Err(Error::InvalidConfig(
                "unsafe no-IOMMU mode is not supported: enable the IOMMU (intel_iommu=on)".into(),
            ));
        }
        let (virt, size, huge) = alloc(size)?;
        let iova = match policy {
            IovaPolicy::Allocated => {
                NEXT_IOVA.fetch_add(size.next_multiple_of(HUGE_PAGE) as u64, Ordering::Relaxed)
            }
            IovaPolicy::Identity => virt as u64,
        };
        if let Err(e) = check_memlock(size as u64).and_then(|_| container.map_dma(virt, iova, size))
        {
            // SAFETY: `virt`/`size` is the mapping `alloc` made; nothing refers to it yet.
            unsafe { libc::munmap(virt.cast(), size) };
            return Err(e);
        }
        LOCKED.fetch_add(size as u64, Ordering::Relaxed);
        Ok(DmaRegion {
            virt,
            size,
            iova,
            huge,
            container: Arc::clone(container),
        })
    }

    /// Virtual address of the first byte.
    pub fn virt(&self) -> *mut u8 {
        self.virt
    }

    /// Device address of the first byte.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// mmap-s `size` bytes: hugepages if possible, else normal pages; populated.
fn alloc(size: usize) -> Result<(*mut u8, usize, bool)> {
    let try_map = |len: usize, extra: i32| {
        // SAFETY: an anonymous mapping with no address hint; nothing else is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_POPULATE | extra,
                -1,
                0,
            )
        };
        (p != libc::MAP_FAILED).then_some(p.cast::<u8>())
    };
    let huge_len = size.next_multiple_of(HUGE_PAGE);
    if std::env::var_os("E1000_NO_HUGEPAGES").is_none() {
        if let Some(p) = try_map(huge_len, libc::MAP_HUGETLB) {
            return Ok((p, huge_len, true));
        }
    }
    let len = size.next_multiple_of(PAGE);
    try_map(len, 0)
        .map(|p| (p, len, false))
        .ok_or_else(|| Error::last_os(format!("mmap of {len} bytes of DMA memory")))
}

impl Drop for DmaRegion {
    fn drop(&mut self) {
        if let Err(e) = self.container.unmap_dma(self.iova, self.size) {
            eprintln!("warning: {e}");
        }
        LOCKED.fetch_sub(self.size as u64, Ordering::Relaxed);
        // SAFETY: unmaps the mapping made in `alloc`; the IOMMU no longer refers to it.
        unsafe { libc::munmap(self.virt.cast(), self.size) };
    }
}
