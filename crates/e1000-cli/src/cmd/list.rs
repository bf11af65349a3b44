//! `e1000 list` and `e1000 bind`.

use super::{pci_arg, CliError};
use crate::args::Args;
use vfio_e1000::family;
use vfio_e1000::pci::{self, PciAddress};

/// Lists Intel NICs the driver supports, with driver and IOMMU group.
pub fn run(args: &Args) -> Result<(), CliError> {
    args.only(&[]).map_err(CliError::Usage)?;
    let mut found = 0;
    for addr in pci::all_devices() {
        let Ok((vendor, device)) = addr.ids() else {
            continue;
        };
        let Some(entry) = family::lookup(vendor, device) else {
            continue;
        };
        found += 1;
        println!(
            "{addr}  {vendor:04x}:{device:04x}  {:<24} family {:<7} driver {:<10} iommu group {}",
            entry.name,
            entry.family.name(),
            addr.driver().unwrap_or_else(|| "-".into()),
            addr.iommu_group()
                .map_or("-".to_string(), |g| g.to_string())
        );
    }
    if found == 0 {
        println!("no supported Intel 1GbE NIC found");
    }
    Ok(())
}

/// Binds a NIC to vfio-pci.
pub fn bind(args: &Args) -> Result<(), CliError> {
    args.only(&[]).map_err(CliError::Usage)?;
    let addr = PciAddress::parse(&pci_arg(args, 0)?)?;
    pci::bind_to_vfio(&addr)?;
    println!(
        "{addr} bound to vfio-pci (IOMMU group {})",
        addr.iommu_group().map_or("-".into(), |g| g.to_string())
    );
    Ok(())
}
