//! The Linux VFIO user ABI (`include/uapi/linux/vfio.h`): request numbers and
//! the `#[repr(C)]` structures passed through `ioctl(2)`.
//!
//! Only what the driver uses is declared. Every structure starts with `argsz`,
//! the size the caller passes in, so the kernel can extend them compatibly.

/// `VFIO_TYPE`: the ioctl "magic" character of the VFIO interface.
const VFIO_TYPE: u64 = b';' as u64;
/// `VFIO_BASE`: the first VFIO request number.
const VFIO_BASE: u64 = 100;

/// `_IO(VFIO_TYPE, VFIO_BASE + n)`: VFIO requests carry no size/direction bits.
const fn io(n: u64) -> u64 {
    (VFIO_TYPE << 8) | (VFIO_BASE + n)
}

pub const VFIO_GET_API_VERSION: u64 = io(0);
pub const VFIO_CHECK_EXTENSION: u64 = io(1);
pub const VFIO_SET_IOMMU: u64 = io(2);
pub const VFIO_GROUP_GET_STATUS: u64 = io(3);
pub const VFIO_GROUP_SET_CONTAINER: u64 = io(4);
pub const VFIO_GROUP_GET_DEVICE_FD: u64 = io(6);
pub const VFIO_DEVICE_GET_INFO: u64 = io(7);
pub const VFIO_DEVICE_GET_REGION_INFO: u64 = io(8);
pub const VFIO_DEVICE_GET_IRQ_INFO: u64 = io(9);
pub const VFIO_DEVICE_SET_IRQS: u64 = io(10);
pub const VFIO_IOMMU_MAP_DMA: u64 = io(13);
pub const VFIO_IOMMU_UNMAP_DMA: u64 = io(14);

/// `VFIO_API_VERSION`: the only version the kernel has ever reported.
pub const VFIO_API_VERSION: i32 = 0;
/// `VFIO_TYPE1_IOMMU`.
pub const VFIO_TYPE1_IOMMU: u64 = 1;
/// `VFIO_TYPE1v2_IOMMU`: type 1 with stricter unmap semantics; preferred.
pub const VFIO_TYPE1V2_IOMMU: u64 = 3;

/// `VFIO_GROUP_FLAGS_VIABLE`: every device of the group is bound to a VFIO driver (or none).
pub const VFIO_GROUP_FLAGS_VIABLE: u32 = 1 << 0;

/// `VFIO_DMA_MAP_FLAG_READ` | `VFIO_DMA_MAP_FLAG_WRITE`: the device may read and write.
pub const VFIO_DMA_MAP_FLAG_READ_WRITE: u32 = (1 << 0) | (1 << 1);

/// `VFIO_REGION_INFO_FLAG_MMAP`: the region can be mapped with `mmap(2)`.
pub const VFIO_REGION_INFO_FLAG_MMAP: u32 = 1 << 2;

/// `VFIO_IRQ_INFO_EVENTFD`: the interrupt can signal an eventfd.
pub const VFIO_IRQ_INFO_EVENTFD: u32 = 1 << 0;

pub const VFIO_IRQ_SET_DATA_NONE: u32 = 1 << 0;
pub const VFIO_IRQ_SET_DATA_EVENTFD: u32 = 1 << 2;
pub const VFIO_IRQ_SET_ACTION_UNMASK: u32 = 1 << 4;
pub const VFIO_IRQ_SET_ACTION_TRIGGER: u32 = 1 << 5;

/// Region indices of a `vfio-pci` device (`VFIO_PCI_*_REGION_INDEX`).
pub const VFIO_PCI_BAR0_REGION_INDEX: u32 = 0;
/// The PCI configuration space region.
pub const VFIO_PCI_CONFIG_REGION_INDEX: u32 = 7;

/// `struct vfio_group_status`.
#[repr(C)]
#[derive(Default)]
pub struct GroupStatus {
    pub argsz: u32,
    pub flags: u32,
}

/// `struct vfio_device_info`.
#[repr(C)]
#[derive(Default)]
pub struct DeviceInfo {
    pub argsz: u32,
    pub flags: u32,
    pub num_regions: u32,
    pub num_irqs: u32,
}

/// `struct vfio_region_info`.
#[repr(C)]
#[derive(Default)]
pub struct RegionInfo {
    pub argsz: u32,
    pub flags: u32,
    pub index: u32,
    pub cap_offset: u32,
    pub size: u64,
    pub offset: u64,
}

/// `struct vfio_irq_info`.
#[repr(C)]
#[derive(Default)]
pub struct IrqInfo {
    pub argsz: u32,
    pub flags: u32,
    pub index: u32,
    pub count: u32,
}

/// `struct vfio_irq_set` header; `count` 32-bit eventfds (or nothing) follow it.
#[repr(C)]
#[derive(Default)]
pub struct IrqSetHeader {
    pub argsz: u32,
    pub flags: u32,
    pub index: u32,
    pub start: u32,
    pub count: u32,
}

/// `struct vfio_iommu_type1_dma_map`.
#[repr(C)]
#[derive(Default)]
pub struct DmaMap {
    pub argsz: u32,
    pub flags: u32,
    pub vaddr: u64,
    pub iova: u64,
    pub size: u64,
}

/// `struct vfio_iommu_type1_dma_unmap`.
#[repr(C)]
#[derive(Default)]
pub struct DmaUnmap {
    pub argsz: u32,
    pub flags: u32,
    pub iova: u64,
    pub size: u64,
}

/// `argsz` for a structure: its own size.
pub fn argsz<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}
