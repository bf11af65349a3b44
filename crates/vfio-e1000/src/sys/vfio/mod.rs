//! Linux VFIO: the container (an IOMMU address space), the group (the unit of
//! isolation) and the device (regions and interrupts), as small safe wrappers,
//! one per ioctl. Knows nothing of Intel NICs.

mod ioctl;

use super::dma::IommuMap;
use super::mmio::Mmio;
use super::pci::{self, PciAddress};
use crate::error::{Error, Result};
use ioctl::*;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

pub(crate) use ioctl::{VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX};

/// Lowest IOVA the container's allocator hands out: above 4 GiB, clear of
/// the x86 interrupt window at 0xfee00000, well inside a 39-bit IOMMU.
const IOVA_BASE: u64 = 1 << 32;

/// Interrupt indices of a `vfio-pci` device (`VFIO_PCI_*_IRQ_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IrqIndex {
    /// Legacy line interrupt, masked by VFIO on every trigger.
    Intx = 0,
    /// Message-signalled interrupts.
    Msi = 1,
    /// MSI-X.
    Msix = 2,
    /// The kernel's request to release the device (hot-unplug, driver unbind).
    Req = 4,
}

/// Calls `ioctl(fd, request, arg)` and turns -1 into the OS error.
///
/// # Safety
/// `arg` must be what `request` expects: a pointer to a live structure of the
/// right layout (with `argsz` set) or a plain integer.
unsafe fn vfio_ioctl(fd: RawFd, request: u64, arg: usize) -> io::Result<i32> {
    // SAFETY: forwarded from the caller.
    let ret = unsafe { libc::ioctl(fd, request as _, arg) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A VFIO container: one IOMMU address space into which DMA memory is mapped.
#[derive(Debug)]
pub(crate) struct Container {
    fd: OwnedFd,
    /// Next free IOVA of this address space.
    next_iova: AtomicU64,
    /// Bytes pinned through this container.
    pinned: AtomicU64,
    /// The IOMMU groups attached, by number. They stay attached as long as
    /// the container lives, which is as long as any DMA region mapped
    /// through it (a `Packet` that outlived its `Nic` keeps one): detaching
    /// the last group would make the kernel drop the IOMMU model and every
    /// mapping, so later unmaps would fail and a reopened device would
    /// find a container without an IOMMU.
    groups: Mutex<HashMap<u32, OwnedFd>>,
}

impl Container {
    /// Opens `/dev/vfio/vfio` and checks the API version.
    fn open() -> Result<Self> {
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/vfio/vfio")
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::VfioMissing),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(Error::PermissionDenied {
                    path: "/dev/vfio/vfio".into(),
                })
            }
            Err(e) => return Err(Error::io("opening /dev/vfio/vfio", e)),
        };
        let fd = OwnedFd::from(file);
        // SAFETY: VFIO_GET_API_VERSION takes no argument.
        let version = unsafe { vfio_ioctl(fd.as_raw_fd(), VFIO_GET_API_VERSION, 0) }
            .map_err(|e| Error::io("VFIO_GET_API_VERSION", e))?;
        if version != VFIO_API_VERSION {
            return Err(Error::UnsupportedVfioApi { version });
        }
        Ok(Container {
            fd,
            next_iova: AtomicU64::new(IOVA_BASE),
            pinned: AtomicU64::new(0),
            groups: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the kernel supports IOMMU model `extension`.
    fn check_extension(&self, extension: u64) -> bool {
        // SAFETY: VFIO_CHECK_EXTENSION takes the extension number by value.
        matches!(unsafe { vfio_ioctl(self.fd.as_raw_fd(), VFIO_CHECK_EXTENSION, extension as usize) }, Ok(n) if n > 0)
    }

    /// Chooses the IOMMU model (type 1 v2 if offered); needs a group attached.
    fn set_iommu(&self) -> Result<()> {
        let model = if self.check_extension(VFIO_TYPE1V2_IOMMU) {
            VFIO_TYPE1V2_IOMMU
        } else {
            VFIO_TYPE1_IOMMU
        };
        // SAFETY: VFIO_SET_IOMMU takes the model number by value.
        unsafe { vfio_ioctl(self.fd.as_raw_fd(), VFIO_SET_IOMMU, model as usize) }
            .map_err(|e| Error::io("VFIO_SET_IOMMU", e))?;
        Ok(())
    }
}

impl IommuMap for Container {
    /// `VFIO_IOMMU_MAP_DMA` (pins the pages).
    unsafe fn map(&self, vaddr: *mut u8, iova: u64, size: usize) -> io::Result<()> {
        let map = DmaMap {
            argsz: argsz::<DmaMap>(),
            flags: VFIO_DMA_MAP_FLAG_READ_WRITE,
            vaddr: vaddr as u64,
            iova,
            size: size as u64,
        };
        // SAFETY: `map` is a live vfio_iommu_type1_dma_map; the caller keeps
        // the memory allocated until the matching unmap.
        unsafe {
            vfio_ioctl(
                self.fd.as_raw_fd(),
                VFIO_IOMMU_MAP_DMA,
                &map as *const DmaMap as usize,
            )
        }
        .map(|_| ())
    }

    /// `VFIO_IOMMU_UNMAP_DMA`.
    fn unmap(&self, iova: u64, size: usize) -> io::Result<()> {
        let unmap = DmaUnmap {
            argsz: argsz::<DmaUnmap>(),
            flags: 0,
            iova,
            size: size as u64,
        };
        // SAFETY: `unmap` is a live vfio_iommu_type1_dma_unmap; removing a
        // mapping cannot affect this process's memory.
        unsafe {
            vfio_ioctl(
                self.fd.as_raw_fd(),
                VFIO_IOMMU_UNMAP_DMA,
                &unmap as *const DmaUnmap as usize,
            )
        }
        .map(|_| ())
    }

    fn reserve_iova(&self, size: usize) -> u64 {
        self.next_iova.fetch_add(size as u64, Ordering::Relaxed)
    }

    fn pinned(&self) -> &AtomicU64 {
        &self.pinned
    }
}

/// The container the devices of this process share (see [`Device::open`]).
static SHARED_CONTAINER: Mutex<Weak<Container>> = Mutex::new(Weak::new());

/// A VFIO device: its regions, its interrupts, its configuration space.
///
/// Dropping it closes the device; its group stays attached to the container,
/// which (with the DMA mappings) lives as long as any [`Arc<Container>`] does.
#[derive(Debug)]
pub(crate) struct Device {
    file: File,
    container: Arc<Container>,
    /// The device's PCI address.
    pub(crate) address: PciAddress,
    /// The IOMMU group number.
    pub(crate) group: u32,
}

/// What VFIO says about one region (a BAR, the ROM, configuration space).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RegionInfo {
    /// Region index (0-5 BARs, 6 ROM, 7 config).
    pub index: u32,
    /// Size in bytes; 0 if the region does not exist.
    pub size: u64,
    /// Offset of the region in the device file.
    pub offset: u64,
    /// Whether it can be mmap-ed.
    pub mmap: bool,
}

/// What VFIO says about one interrupt index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IrqInfo {
    /// Number of vectors (0 if this kind is not offered).
    pub count: u32,
    /// Whether it can signal an eventfd.
    pub eventfd: bool,
}

/// Opens IOMMU group `group` (of `address`), checks that it is viable and
/// attaches it to `container`.
fn attach_group(container: &Container, group: u32, address: &PciAddress) -> Result<OwnedFd> {
    let path = format!("/dev/vfio/{group}");
    let group_file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(Error::PermissionDenied { path })
        }
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Err(Error::Busy { path }),
        Err(e) => return Err(Error::io(format!("opening {path}"), e)),
    };
    let group_fd = OwnedFd::from(group_file);
    let mut status = GroupStatus {
        argsz: argsz::<GroupStatus>(),
        flags: 0,
    };
    // SAFETY: `status` is a live vfio_group_status.
    unsafe {
        vfio_ioctl(
            group_fd.as_raw_fd(),
            VFIO_GROUP_GET_STATUS,
            &mut status as *mut GroupStatus as usize,
        )
    }
    .map_err(|e| Error::io("VFIO_GROUP_GET_STATUS", e))?;
    if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
        return Err(Error::GroupNotViable {
            group,
            others: pci::group_peers(group, address),
        });
    }
    let container_fd = container.fd.as_raw_fd();
    // SAFETY: VFIO_GROUP_SET_CONTAINER takes a pointer to the container's fd.
    unsafe {
        vfio_ioctl(
            group_fd.as_raw_fd(),
            VFIO_GROUP_SET_CONTAINER,
            &container_fd as *const RawFd as usize,
        )
    }
    .map_err(|e| Error::io("VFIO_GROUP_SET_CONTAINER", e))?;
    Ok(group_fd)
}

impl Device {
    /// Opens the VFIO group of `address` and the device in it, after checking
    /// every precondition a user can get wrong, each with its own error.
    /// Unsafe no-IOMMU mode is refused.
    pub(crate) fn open(address: &PciAddress) -> Result<Device> {
        let name = address.to_string();
        let (vendor, device) = address.ids()?;
        // Without an IOMMU group vfio-pci cannot bind at all: say that first.
        let group = address
            .iommu_group()
            .ok_or_else(|| Error::NoIommu { pci: name.clone() })?;
        let driver = address.driver();
        if driver.as_deref() != Some("vfio-pci") {
            return Err(Error::NotBoundToVfio {
                pci: name,
                driver,
                vendor,
                device,
            });
        }
        if !std::path::Path::new("/dev/vfio/vfio").exists() {
            return Err(Error::VfioMissing);
        }
        // Every device this process opens joins one container (one IOMMU
        // address space), so a buffer mapped for one NIC is valid for all:
        // forwarding between NICs stays zero-copy.
        let mut shared = SHARED_CONTAINER.lock().unwrap_or_else(|e| e.into_inner());
        let existing = shared.upgrade();
        let noiommu = format!("/dev/vfio/noiommu-{group}");
        if std::path::Path::new(&noiommu).exists() {
            return Err(Error::NoIommuModeUnsupported { pci: name });
        }
        let container = match existing {
            Some(c) => c,
            None => Arc::new(Container::open()?),
        };
        let mut groups = container.groups.lock().unwrap_or_else(|e| e.into_inner());
        if !groups.contains_key(&group) {
            let group_fd = attach_group(&container, group, address)?;
            if groups.is_empty() {
                // The first group of a container: now it can take an IOMMU model.
                container.set_iommu()?;
            }
            groups.insert(group, group_fd);
        }
        let group_fd = groups[&group].as_raw_fd();
        drop(groups);
        *shared = Arc::downgrade(&container);
        drop(shared);
        let cname = std::ffi::CString::new(name.clone()).expect("PCI address has no NUL");
        // SAFETY: the argument is a NUL-terminated device name that outlives the call.
        let dev_fd =
            unsafe { vfio_ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, cname.as_ptr() as usize) }
                .map_err(|e| Error::io(format!("VFIO_GROUP_GET_DEVICE_FD for {name}"), e))?;
        // SAFETY: the ioctl returned a new file descriptor that nothing else owns.
        let file = unsafe { File::from_raw_fd(dev_fd) };
        let mut info = DeviceInfo {
            argsz: argsz::<DeviceInfo>(),
            ..Default::default()
        };
        // SAFETY: `info` is a live vfio_device_info.
        unsafe {
            vfio_ioctl(
                file.as_raw_fd(),
                VFIO_DEVICE_GET_INFO,
                &mut info as *mut DeviceInfo as usize,
            )
        }
        .map_err(|e| Error::io("VFIO_DEVICE_GET_INFO", e))?;
        Ok(Device {
            file,
            container,
            address: *address,
            group,
        })
    }

    /// The container this device's DMA goes through.
    pub(crate) fn container(&self) -> &Arc<Container> {
        &self.container
    }

    /// `VFIO_DEVICE_GET_REGION_INFO` for region `index`.
    pub(crate) fn region_info(&self, index: u32) -> Result<RegionInfo> {
        let mut info = ioctl::RegionInfo {
            argsz: argsz::<ioctl::RegionInfo>(),
            index,
            ..Default::default()
        };
        // SAFETY: `info` is a live vfio_region_info.
        unsafe {
            vfio_ioctl(
                self.file.as_raw_fd(),
                VFIO_DEVICE_GET_REGION_INFO,
                &mut info as *mut ioctl::RegionInfo as usize,
            )
        }
        .map_err(|e| Error::io(format!("VFIO_DEVICE_GET_REGION_INFO {index}"), e))?;
        Ok(RegionInfo {
            index,
            size: info.size,
            offset: info.offset,
            mmap: info.flags & VFIO_REGION_INFO_FLAG_MMAP != 0,
        })
    }

    /// `VFIO_DEVICE_GET_IRQ_INFO` for interrupt index `index`.
    pub(crate) fn irq_info(&self, index: IrqIndex) -> Result<IrqInfo> {
        let mut info = ioctl::IrqInfo {
            argsz: argsz::<ioctl::IrqInfo>(),
            index: index as u32,
            ..Default::default()
        };
        // SAFETY: `info` is a live vfio_irq_info.
        unsafe {
            vfio_ioctl(
                self.file.as_raw_fd(),
                VFIO_DEVICE_GET_IRQ_INFO,
                &mut info as *mut ioctl::IrqInfo as usize,
            )
        }
        .map_err(|e| Error::io("VFIO_DEVICE_GET_IRQ_INFO", e))?;
        Ok(IrqInfo {
            count: info.count,
            eventfd: info.flags & VFIO_IRQ_INFO_EVENTFD != 0,
        })
    }

    /// `VFIO_DEVICE_SET_IRQS`: signal `eventfds[i]` for vector `i` of `index`.
    pub(crate) fn enable_irqs(&self, index: IrqIndex, eventfds: &[RawFd]) -> Result<()> {
        self.set_irqs(
            index,
            VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
            eventfds.len() as u32,
            eventfds,
        )
    }

    /// `VFIO_DEVICE_SET_IRQS` with count 0: tear down every vector of `index`.
    pub(crate) fn disable_irqs(&self, index: IrqIndex) -> Result<()> {
        self.set_irqs(
            index,
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
            0,
            &[],
        )
    }

    /// Unmasks INTx, which VFIO masks each time it fires.
    pub(crate) fn unmask_intx(&self) -> Result<()> {
        self.set_irqs(
            IrqIndex::Intx,
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
            1,
            &[],
        )
    }

    fn set_irqs(&self, index: IrqIndex, flags: u32, count: u32, fds: &[RawFd]) -> Result<()> {
        // Header followed by `fds`, laid out in a u32 buffer (both are 4-byte aligned).
        let header = std::mem::size_of::<IrqSetHeader>() / 4;
        let mut buf = vec![0u32; header + fds.len()];
        let hdr = IrqSetHeader {
            argsz: (buf.len() * 4) as u32,
            flags,
            index: index as u32,
            start: 0,
            count,
        };
        buf[..header].copy_from_slice(&[hdr.argsz, hdr.flags, hdr.index, hdr.start, hdr.count]);
        for (slot, fd) in buf[header..].iter_mut().zip(fds) {
            *slot = *fd as u32;
        }
        // SAFETY: `buf` holds a vfio_irq_set followed by `count` eventfds (or none for DATA_NONE).
        unsafe {
            vfio_ioctl(
                self.file.as_raw_fd(),
                VFIO_DEVICE_SET_IRQS,
                buf.as_mut_ptr() as usize,
            )
        }
        .map(|_| ())
        .map_err(|e| {
            Error::io(
                format!("VFIO_DEVICE_SET_IRQS ({index:?}, {count} vectors)"),
                e,
            )
        })
    }

    /// Reads `buf.len()` bytes of region `index` at `offset` (slow path: config space).
    pub(crate) fn read_region(&self, index: u32, offset: u64, buf: &mut [u8]) -> Result<()> {
        let region = self.region_info(index)?;
        self.file
            .read_exact_at(buf, region.offset + offset)
            .map_err(|e| Error::io(format!("reading region {index} at {offset:#x}"), e))
    }

    /// Writes `buf` to region `index` at `offset`.
    pub(crate) fn write_region(&self, index: u32, offset: u64, buf: &[u8]) -> Result<()> {
        let region = self.region_info(index)?;
        self.file
            .write_all_at(buf, region.offset + offset)
            .map_err(|e| Error::io(format!("writing region {index} at {offset:#x}"), e))
    }

    /// Reads a 16-bit configuration-space register.
    pub(crate) fn config_read16(&self, offset: u64) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read_region(VFIO_PCI_CONFIG_REGION_INDEX, offset, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Writes a 16-bit configuration-space register.
    pub(crate) fn config_write16(&self, offset: u64, value: u16) -> Result<()> {
        self.write_region(VFIO_PCI_CONFIG_REGION_INDEX, offset, &value.to_le_bytes())
    }

    /// The first `len` bytes of configuration space (for `info`).
    pub(crate) fn config_dump(&self, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.read_region(VFIO_PCI_CONFIG_REGION_INDEX, 0, &mut buf)?;
        Ok(buf)
    }

    /// Maps region `index` (a BAR) for MMIO.
    pub(crate) fn map_bar(&self, index: u32) -> Result<Mmio> {
        let region = self.region_info(index)?;
        if region.size == 0 || !region.mmap {
            return Err(Error::BarNotMappable {
                pci: self.address.to_string(),
                index,
            });
        }
        Mmio::map(self.file.as_raw_fd(), region.offset, region.size as usize)
    }
}
