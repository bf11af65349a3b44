//! DMA memory: anonymous memory (2 MiB hugepages when asked for and
//! available, else 4 KiB pages) made visible to the device through an IOMMU
//! address space ([`IommuMap`]), at an IOVA chosen by an [`IovaPolicy`].
//! Also the locked-memory diagnosis, since pinning is what fails first.

use crate::error::{Error, Result};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Size of an x86-64 huge page.
pub(crate) const HUGE_PAGE: usize = 2 << 20;
const PAGE: usize = 4096;

/// How device-visible addresses (IOVAs) are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IovaPolicy {
    /// From a per-address-space allocator above 4 GiB (default; fits any
    /// IOMMU address width).
    #[default]
    Allocated,
    /// IOVA = the buffer's virtual address (needs an IOMMU with at least
    /// 47-bit input addresses).
    Identity,
}

/// An IOMMU address space into which memory is mapped for device access: a
/// VFIO container in real use, the software NIC model in tests.
pub(crate) trait IommuMap: Send + Sync + std::fmt::Debug {
    /// Makes `size` bytes at `vaddr` readable and writable by devices at `iova`.
    ///
    /// # Safety
    /// The memory must stay allocated until [`IommuMap::unmap`] of the same
    /// range: the device may access it at any time until then.
    unsafe fn map(&self, vaddr: *mut u8, iova: u64, size: usize) -> io::Result<()>;

    /// Removes a mapping made by [`IommuMap::map`].
    fn unmap(&self, iova: u64, size: usize) -> io::Result<()>;

    /// Reserves `size` bytes of IOVA space that no other allocation in this
    /// address space gets.
    fn reserve_iova(&self, size: usize) -> u64;

    /// Bytes pinned through this address space so far (for the memlock diagnosis).
    fn pinned(&self) -> &AtomicU64;
}

/// The `RLIMIT_MEMLOCK` soft limit in bytes (`u64::MAX` if unlimited).
pub(crate) fn memlock_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return u64::MAX;
    }
    lim.rlim_cur
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

/// Allocates DMA memory in one IOMMU address space: from an arena mapped
/// once ([`DmaMemory::with_arena`]) while it lasts, else one mapping per
/// allocation.
#[derive(Debug, Clone)]
pub(crate) struct DmaMemory {
    space: Arc<dyn IommuMap>,
    policy: IovaPolicy,
    hugepages: bool,
    arena: Option<Arc<Arena>>,
}

/// One mapping carved into page-aligned parts, first come first served.
#[derive(Debug)]
struct Arena {
    mapping: Arc<Mapping>,
    /// Offset of the first byte not handed out yet.
    next: Mutex<usize>,
}

impl Arena {
    /// The offset of `size` more bytes (a multiple of a page), if they fit.
    fn take(&self, size: usize) -> Option<usize> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let offset = *next;
        (offset + size <= self.mapping.size).then(|| {
            *next = offset + size;
            offset
        })
    }
}

/// Bytes an arena needs for parts of `sizes` bytes: each rounded up to a
/// page, as [`DmaMemory::alloc`] takes them.
pub(crate) fn arena_bytes(sizes: impl IntoIterator<Item = usize>) -> usize {
    sizes
        .into_iter()
        .map(|s| s.max(1).next_multiple_of(PAGE))
        .sum()
}

impl DmaMemory {
    /// An allocator mapping into `space`; `hugepages` tries 2 MiB pages first.
    pub(crate) fn new(space: Arc<dyn IommuMap>, policy: IovaPolicy, hugepages: bool) -> Self {
        DmaMemory {
            space,
            policy,
            hugepages,
            arena: None,
        }
    }

    /// The same allocator, with `size` bytes mapped (and pinned) at once for
    /// the allocations to come: one memlock check for everything a NIC
    /// needs, so [`Error::MemlockTooLow`] names the whole amount, and one
    /// hugepage rounding instead of one per ring and pool. Allocations past
    /// the arena get mappings of their own.
    pub(crate) fn with_arena(&self, size: usize) -> Result<DmaMemory> {
        Ok(DmaMemory {
            arena: Some(Arc::new(Arena {
                mapping: self.map(size)?,
                next: Mutex::new(0),
            })),
            ..self.clone()
        })
    }

    /// Fails early, with the numbers, if pinning `bytes` more would exceed the limit.
    fn check_memlock(&self, bytes: u64) -> Result<()> {
        let limit = memlock_limit();
        let needed = self.space.pinned().load(Ordering::Relaxed) + bytes;
        if needed > limit && !has_cap_ipc_lock() {
            return Err(Error::MemlockTooLow { needed, limit });
        }
        Ok(())
    }

    /// Allocates at least `size` bytes, zeroed, page-aligned, mapped for
    /// the device: from the arena if it has room, else a mapping of its own.
    pub(crate) fn alloc(&self, size: usize) -> Result<DmaRegion> {
        let size = size.max(1).next_multiple_of(PAGE);
        if let Some(arena) = &self.arena {
            if let Some(offset) = arena.take(size) {
                return Ok(DmaRegion {
                    mapping: Arc::clone(&arena.mapping),
                    offset,
                });
            }
        }
        Ok(DmaRegion {
            mapping: self.map(size)?,
            offset: 0,
        })
    }

    /// Maps at least `size` bytes, zeroed, for the device.
    fn map(&self, size: usize) -> Result<Arc<Mapping>> {
        let (virt, size, huge) = alloc_pages(size.max(1), self.hugepages)?;
        let iova = match self.policy {
            IovaPolicy::Allocated => self.space.reserve_iova(size.next_multiple_of(HUGE_PAGE)),
            IovaPolicy::Identity => virt.as_ptr() as u64,
        };
        let mapped = self.check_memlock(size as u64).and_then(|()| {
            // SAFETY: the pages stay allocated until `DmaRegion::drop`, which unmaps first.
            unsafe { self.space.map(virt.as_ptr(), iova, size) }
                .map_err(|e| self.map_error(e, iova, size))
        });
        if let Err(e) = mapped {
            // SAFETY: `virt`/`size` is the mapping `alloc_pages` made; nothing refers to it yet.
            unsafe { libc::munmap(virt.as_ptr().cast(), size) };
            return Err(e);
        }
        self.space
            .pinned()
            .fetch_add(size as u64, Ordering::Relaxed);
        Ok(Arc::new(Mapping {
            virt,
            size,
            iova,
            huge,
            space: Arc::clone(&self.space),
        }))
    }

    /// Names what a failed map means for the user.
    fn map_error(&self, e: io::Error, iova: u64, size: usize) -> Error {
        match e.raw_os_error() {
            Some(libc::ENOMEM) => Error::MemlockTooLow {
                needed: self.space.pinned().load(Ordering::Relaxed) + size as u64,
                limit: memlock_limit(),
            },
            Some(libc::EINVAL) => Error::IovaRefused { iova, size },
            _ => Error::io(
                format!("VFIO_IOMMU_MAP_DMA of {size} bytes at IOVA {iova:#x}"),
                e,
            ),
        }
    }
}

/// Pages mapped for the device: unmapped from the IOMMU and freed when the
/// last [`DmaRegion`] in them goes; anything that DMAs into them must be
/// stopped first (the NIC's teardown does that).
#[derive(Debug)]
struct Mapping {
    virt: NonNull<u8>,
    size: usize,
    iova: u64,
    huge: bool,
    space: Arc<dyn IommuMap>,
}

// SAFETY: the mapping is plain memory owned by this value; who may touch which
// bytes of it is decided by the mempool and ring code, which hand out access
// only through owned packets and software-owned descriptors.
unsafe impl Send for Mapping {}
// SAFETY: as above; `Mapping` itself only hands out raw pointers.
unsafe impl Sync for Mapping {}

/// One contiguous, page-aligned range of DMA memory, mapped for the device:
/// a mapping of its own or a part of an arena. The pages stay mapped while
/// any region in them lives.
#[derive(Debug)]
pub(crate) struct DmaRegion {
    mapping: Arc<Mapping>,
    offset: usize,
}

impl DmaRegion {
    /// Virtual address of the first byte.
    pub(crate) fn virt(&self) -> *mut u8 {
        self.mapping.virt.as_ptr().wrapping_add(self.offset)
    }

    /// Device address of the first byte.
    pub(crate) fn iova(&self) -> u64 {
        self.mapping.iova + self.offset as u64
    }

    /// Whether the memory is backed by 2 MiB hugepages.
    pub(crate) fn huge(&self) -> bool {
        self.mapping.huge
    }
}

/// mmap-s `size` bytes, populated: hugepages if wanted and possible, else
/// normal pages. Returns the address, the mapped size and whether it is huge.
fn alloc_pages(size: usize, hugepages: bool) -> Result<(NonNull<u8>, usize, bool)> {
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
        (p != libc::MAP_FAILED)
            .then_some(p.cast::<u8>())
            .and_then(NonNull::new)
    };
    if hugepages {
        let huge_len = size.next_multiple_of(HUGE_PAGE);
        if let Some(p) = try_map(huge_len, libc::MAP_HUGETLB) {
            return Ok((p, huge_len, true));
        }
    }
    let len = size.next_multiple_of(PAGE);
    try_map(len, 0)
        .map(|p| (p, len, false))
        .ok_or_else(|| Error::last_os(format!("mmap of {len} bytes of DMA memory")))
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Err(e) = self.space.unmap(self.iova, self.size) {
            // The device may still reach these pages: leak them rather than
            // hand them back to the allocator.
            log::warn!("VFIO_IOMMU_UNMAP_DMA failed ({e}); leaking the region");
            return;
        }
        self.space
            .pinned()
            .fetch_sub(self.size as u64, Ordering::Relaxed);
        // SAFETY: unmaps the mapping made in `alloc_pages`; the IOMMU no longer
        // refers to it and no reference into it outlives `self`.
        unsafe { libc::munmap(self.virt.as_ptr().cast(), self.size) };
    }
}
