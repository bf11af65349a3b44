//! EVERY use of `vfio_e1000`'s internal modules (`mmio`, `family`, `pci`,
//! `vfio`) and of `Nic::entry`/`Nic::device`/`irq_counts` lives in this one
//! file, so that re-pointing the command at the library's public
//! device-listing, diagnostics and per-NIC MMIO-counter API touches nothing
//! else. The rest of the command sees only the plain types defined here.

use crate::cmd::CliError;
use vfio_e1000::Nic;

/// Register reads and writes made so far (process-wide counters today; a
/// per-NIC method after the redesign).
pub fn mmio_counts(_nic: &Nic) -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        vfio_e1000::mmio::MMIO_READS.load(Relaxed),
        vfio_e1000::mmio::MMIO_WRITES.load(Relaxed),
    )
}

/// The controller's marketing name, e.g. `82574L`.
pub fn model_name(nic: &Nic) -> &'static str {
    nic.entry().name
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

/// Every supported Intel NIC on this machine, sorted by PCI address.
pub fn supported_nics() -> Vec<SupportedNic> {
    vfio_e1000::pci::all_devices()
        .into_iter()
        .filter_map(|addr| {
            let (vendor, device) = addr.ids().ok()?;
            let entry = vfio_e1000::family::lookup(vendor, device)?;
            Some(SupportedNic {
                pci: addr.to_string(),
                vendor,
                device,
                model: entry.name,
                family: entry.family.name(),
            })
        })
        .collect()
}

/// Checks `pci` is a well-formed address of a supported NIC present on this
/// machine and returns its canonical form (the driver's own messages).
pub fn check_supported(pci: &str) -> Result<SupportedNic, CliError> {
    let addr = vfio_e1000::pci::PciAddress::parse(pci)?;
    let (vendor, device) = addr.ids()?;
    let entry = vfio_e1000::family::lookup(vendor, device).ok_or_else(|| {
        CliError::Failed(format!(
            "{addr} ({vendor:04x}:{device:04x}) is not a supported Intel 1GbE NIC"
        ))
    })?;
    Ok(SupportedNic {
        pci: addr.to_string(),
        vendor,
        device,
        model: entry.name,
        family: entry.family.name(),
    })
}

/// Binds `pci` to vfio-pci (unbinding its current driver first).
pub fn bind_to_vfio(pci: &str) -> Result<(), CliError> {
    let addr = vfio_e1000::pci::PciAddress::parse(pci)?;
    vfio_e1000::pci::bind_to_vfio(&addr)?;
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
}

/// Gathers [`Diagnostics`] from an open NIC.
pub fn diagnostics(nic: &Nic) -> Result<Diagnostics, CliError> {
    use vfio_e1000::family::Tested;
    let entry = nic.entry();
    let dev = nic.device();
    let mut bars = Vec::new();
    for i in 0..6 {
        if let Ok(r) = dev.region_info(i) {
            if r.size > 0 {
                bars.push((i, r.size, r.mmap));
            }
        }
    }
    Ok(Diagnostics {
        model: entry.name,
        ids: dev.address.ids()?,
        subsystem: dev.address.subsystem_ids()?,
        family: entry.family.name(),
        tested: match entry.tested {
            Tested::QemuModel(m) => format!("tested on QEMU model {m}"),
            Tested::Untested => "untested on hardware".into(),
        },
        max_queues: entry.family.max_queues(),
        formats: (
            format!("{:?}", entry.family.rx_format()),
            format!("{:?}", entry.family.tx_format()),
        ),
        msix_vectors: entry.family.msix_vectors(nic.queues()),
        irq_modes: entry
            .family
            .irq_modes()
            .iter()
            .map(|m| m.to_string())
            .collect(),
        iommu_group: dev.group,
        bars,
        irqs: vfio_e1000::irq_counts(dev)
            .iter()
            .map(|(i, n)| format!("{i:?} {n}"))
            .collect(),
        config: dev.config_dump(256)?,
    })
}
