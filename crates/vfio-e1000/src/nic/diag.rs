//! What `e1000 info` and `e1000 list` show: a [`Nic`]'s identity, resources
//! and key registers, and the supported NICs present in the system.

use super::Nic;
use crate::error::Result;
use crate::hw::devices::{self, Tested};
use crate::hw::family::BASE_REGISTERS;
use crate::sys::mmio::Registers;
use crate::sys::pci::{self, PciAddress};
use crate::sys::vfio::IrqIndex;

/// A supported NIC found in sysfs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceListing {
    /// Its PCI address.
    pub address: PciAddress,
    /// PCI vendor ID (always Intel's, 0x8086).
    pub vendor: u16,
    /// PCI device ID.
    pub device: u16,
    /// The controller's name, e.g. "82574L".
    pub name: &'static str,
    /// The driver family: "8254x", "82574L" or "82576".
    pub family: &'static str,
    /// The kernel driver bound now, if any.
    pub driver: Option<String>,
    /// The IOMMU group, if the device has one.
    pub iommu_group: Option<u32>,
    /// The QEMU model this device ID was tested on, if any.
    pub tested_on: Option<&'static str>,
}

/// Every NIC in `/sys/bus/pci/devices` that this driver supports, by address.
pub fn supported_devices() -> Vec<DeviceListing> {
    pci::all_devices()
        .into_iter()
        .filter_map(|address| {
            let (vendor, device) = address.ids().ok()?;
            let entry = devices::lookup(vendor, device)?;
            Some(DeviceListing {
                address,
                vendor,
                device,
                name: entry.name,
                family: entry.family.name(),
                driver: address.driver(),
                iommu_group: address.iommu_group(),
                tested_on: match entry.tested {
                    Tested::QemuModel(m) => Some(m),
                    Tested::Untested => None,
                },
            })
        })
        .collect()
}

/// Binds `address` to `vfio-pci` (unbinding its current driver) through
/// `driver_override`; needs root.
pub fn bind_vfio(address: &PciAddress) -> Result<()> {
    pci::bind_to_vfio(address)
}

/// One PCI BAR as VFIO reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bar {
    /// BAR number, 0 to 5.
    pub index: u32,
    /// Size in bytes.
    pub size: u64,
    /// Whether it can be memory-mapped.
    pub mmap: bool,
}

/// Everything `e1000 info` shows about an open NIC.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Diagnostics {
    /// The device as listed (name, IDs, driver, group).
    pub device: DeviceListing,
    /// Subsystem vendor and device ID.
    pub subsystem: (u16, u16),
    /// Whether the driver runs its variant for QEMU's model of the family:
    /// the subsystem IDs are QEMU's and that model departs from the
    /// datasheet in something the driver programs (the 82576's EITR).
    pub qemu_variant: bool,
    /// Queue pairs the family can drive.
    pub max_queues: u16,
    /// Receive and transmit descriptor formats.
    pub descriptor_formats: (String, String),
    /// MSI-X vectors used with the queues in use.
    pub msix_vectors_used: u32,
    /// The family's interrupt modes, best first.
    pub irq_modes: Vec<String>,
    /// Vectors VFIO offers per interrupt kind ("Intx", "Msi", "Msix").
    pub irq_counts: Vec<(&'static str, u32)>,
    /// The BARs that exist.
    pub bars: Vec<Bar>,
    /// Key registers: name, offset, value now.
    pub registers: Vec<(&'static str, u32, u32)>,
    /// The first 256 bytes of PCI configuration space.
    pub config_space: Vec<u8>,
}

impl Nic {
    /// Identity, resources and key registers, for diagnostics.
    pub fn diagnostics(&self) -> Result<Diagnostics> {
        let hw = &self.hw;
        let address = hw.device.address;
        let (vendor, device) = address.ids()?;
        let family = hw.family;
        let listing = DeviceListing {
            address,
            vendor,
            device,
            name: hw.entry.name,
            family: family.name(),
            driver: address.driver(),
            iommu_group: Some(hw.device.group),
            tested_on: match hw.entry.tested {
                Tested::QemuModel(m) => Some(m),
                Tested::Untested => None,
            },
        };
        let bars = (0..6)
            .filter_map(|i| hw.device.region_info(i).ok())
            .filter(|r| r.size > 0)
            .map(|r| Bar {
                index: r.index,
                size: r.size,
                mmap: r.mmap,
            })
            .collect();
        let irq_counts = [
            ("Intx", IrqIndex::Intx),
            ("Msi", IrqIndex::Msi),
            ("Msix", IrqIndex::Msix),
        ]
        .into_iter()
        .map(|(name, i)| {
            (
                name,
                hw.device.irq_info(i).map(|info| info.count).unwrap_or(0),
            )
        })
        .collect();
        let registers = BASE_REGISTERS
            .iter()
            .chain(family.extra_registers())
            .map(|&(name, off)| (name, off, hw.regs.read(off)))
            .collect();
        let config_space = hw.device.config_dump(256)?;
        Ok(Diagnostics {
            device: listing,
            subsystem: address.subsystem_ids()?,
            qemu_variant: !std::ptr::addr_eq(hw.family, hw.entry.family),
            max_queues: family.max_queues(),
            descriptor_formats: (
                format!("{:?}", family.rx_format()),
                format!("{:?}", family.tx_format()),
            ),
            msix_vectors_used: family.msix_vectors(self.queues()),
            irq_modes: family.irq_modes().iter().map(|m| m.to_string()).collect(),
            irq_counts,
            bars,
            registers,
            config_space,
        })
    }
}
