//! The command's view of the NICs on this machine and of an open NIC's
//! identity, on the library's public device-listing and diagnostics API:
//! the plain types the rest of the command uses.

use crate::cmd::CliError;
use vfio_e1000::{Nic, PciAddress};

/// Register reads and writes this NIC has made so far.
pub fn mmio_counts(nic: &Nic) -> (u64, u64) {
    nic.register_accesses()
}

/// The controller's marketing name, e.g. `82574L`.
pub fn model_name(nic: &Nic) -> &'static str {
    nic.model()
}

/// A supported NIC found in sysfs.
#[derive(Debug, Clone)]
pub struct SupportedNic {
    /// `0000:00:03.0` style.
    pub pci: String,
    /// PCI vendor ID.
    pub vendor: u16,
    /// PCI device ID.
    pub device: u16,
    /// Marketing name, e.g. `82574L`.
    pub model: &'static str,
    /// Family name: `8254x`, `82574L`, `82576`.
    pub family: &'static str,
}

impl From<&vfio_e1000::DeviceListing> for SupportedNic {
    fn from(d: &vfio_e1000::DeviceListing) -> Self {
        SupportedNic {
            pci: d.address.to_string(),
            vendor: d.vendor,
            device: d.device,
            model: d.name,
            family: d.family,
        }
    }
}

/// Every supported Intel NIC on this machine, sorted by PCI address.
pub fn supported_nics() -> Vec<SupportedNic> {
    vfio_e1000::supported_devices()
        .iter()
        .map(SupportedNic::from)
        .collect()
}

/// Checks `pci` is a well-formed address of a supported NIC present on this
/// machine and returns its canonical form (the driver's own messages).
pub fn check_supported(pci: &str) -> Result<SupportedNic, CliError> {
    let addr = PciAddress::parse(pci)?;
    let (vendor, device) = addr.ids()?;
    vfio_e1000::supported_devices()
        .iter()
        .find(|d| d.address == addr)
        .map(SupportedNic::from)
        .ok_or_else(|| {
            CliError::Failed(format!(
                "{addr} ({vendor:04x}:{device:04x}) is not a supported Intel 1GbE NIC"
            ))
        })
}

/// Binds `pci` to vfio-pci (unbinding its current driver first).
pub fn bind_to_vfio(pci: &str) -> Result<(), CliError> {
    vfio_e1000::bind_vfio(&PciAddress::parse(pci)?)?;
    Ok(())
}

/// What `e1000 info` shows beyond the public `Nic` API.
pub struct Diagnostics {
    /// Marketing name.
    pub model: &'static str,
    /// Vendor and device ID.
    pub ids: (u16, u16),
    /// Subsystem vendor and device ID.
    pub subsystem: (u16, u16),
    /// Family name.
    pub family: &'static str,
    /// Whether the driver runs its variant for QEMU's model of the family.
    pub qemu_variant: bool,
    /// "tested on QEMU model X" or "untested on hardware".
    pub tested: String,
    /// Queue pairs the family has.
    pub max_queues: u16,
    /// RX and TX descriptor formats.
    pub formats: (String, String),
    /// MSI-X vectors used with the NIC's current queue count.
    pub msix_vectors: u32,
    /// Interrupt modes the family supports.
    pub irq_modes: Vec<String>,
    /// IOMMU group number.
    pub iommu_group: u32,
    /// (BAR index, size, mmap-able) of every non-empty BAR.
    pub bars: Vec<(u32, u64, bool)>,
    /// VFIO IRQ indexes and their vector counts.
    pub irqs: Vec<String>,
    /// The first 256 bytes of config space.
    pub config: Vec<u8>,
    /// Key registers: name, offset, value.
    pub registers: Vec<(&'static str, u32, u32)>,
}

/// Gathers [`Diagnostics`] from an open NIC.
pub fn diagnostics(nic: &Nic) -> Result<Diagnostics, CliError> {
    let d = nic.diagnostics()?;
    Ok(Diagnostics {
        model: d.device.name,
        ids: (d.device.vendor, d.device.device),
        subsystem: d.subsystem,
        family: d.device.family,
        qemu_variant: d.qemu_variant,
        tested: match d.device.tested_on {
            Some(m) => format!("tested on QEMU model {m}"),
            None => "untested on hardware".into(),
        },
        max_queues: d.max_queues,
        formats: d.descriptor_formats,
        msix_vectors: d.msix_vectors_used,
        irq_modes: d.irq_modes,
        iommu_group: d.device.iommu_group.unwrap_or(0),
        bars: d.bars.iter().map(|b| (b.index, b.size, b.mmap)).collect(),
        irqs: d
            .irq_counts
            .iter()
            .map(|(i, n)| format!("{i} {n}"))
            .collect(),
        config: d.config_space,
        registers: d.registers,
    })
}
