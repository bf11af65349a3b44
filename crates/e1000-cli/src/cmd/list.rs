//! `e1000 list` and `e1000 bind`.

use super::{pci_arg, CliError};
use crate::args::Args;
use vfio_e1000::PciAddress;

/// Lists Intel NICs the driver supports, with driver and IOMMU group.
pub fn run(args: &Args) -> Result<(), CliError> {
    args.only(&[]).map_err(CliError::Usage)?;
    let found = vfio_e1000::supported_devices();
    for d in &found {
        println!(
            "{}  {:04x}:{:04x}  {:<24} family {:<7} driver {:<10} iommu group {}",
            d.address,
            d.vendor,
            d.device,
            d.name,
            d.family,
            d.driver.as_deref().unwrap_or("-"),
            d.iommu_group.map_or("-".to_string(), |g| g.to_string())
        );
    }
    if found.is_empty() {
        println!("no supported Intel 1GbE NIC found");
    }
    Ok(())
}

/// Binds a NIC to vfio-pci.
pub fn bind(args: &Args) -> Result<(), CliError> {
    args.only(&[]).map_err(CliError::Usage)?;
    let addr = PciAddress::parse(&pci_arg(args, 0)?)?;
    vfio_e1000::bind_vfio(&addr)?;
    println!(
        "{addr} bound to vfio-pci (IOMMU group {})",
        addr.iommu_group().map_or("-".into(), |g| g.to_string())
    );
    Ok(())
}
