//! `e1000 list`, `e1000 bind` and `e1000 unbind`: dpdk-devbind's
//! conventions for the NICs this driver supports.

use super::CliError;
use crate::internals::{self, SupportedNic};
use crate::sysfs;
use e1000_cli::cli::{BindArgs, ListArgs, UnbindArgs};
use std::time::Duration;

/// The guest kernel's driver for a family (what `unbind` gives the NIC back to).
pub fn kernel_driver(family: &str) -> &'static str {
    match family {
        "82574L" => "e1000e",
        "82576" => "igb",
        "82576 VF" => "igbvf",
        _ => "e1000",
    }
}

/// Lists supported NICs: PCI address, model, IDs, driver, interface, IOMMU
/// group, and "*Active*" when the interface is up with addresses.
pub fn list(args: &ListArgs) -> Result<(), CliError> {
    let nics = internals::supported_nics();
    for nic in &nics {
        let driver = sysfs::driver(&nic.pci);
        let interface = sysfs::interfaces(&nic.pci).into_iter().next();
        let active = sysfs::active_interface(&nic.pci);
        let group = sysfs::iommu_group(&nic.pci);
        // A VF's PF and the PF's driver, which must serve the VF's mailbox.
        let pf = sysfs::physical_function(&nic.pci).map(|pf| {
            let pf_driver = sysfs::driver(&pf);
            (pf, pf_driver)
        });
        if args.json {
            let v = serde_json::json!({
                "pci": nic.pci,
                "model": nic.model,
                "family": nic.family,
                "vendor_id": format!("{:04x}", nic.vendor),
                "device_id": format!("{:04x}", nic.device),
                "driver": driver,
                "kernel_driver": kernel_driver(nic.family),
                "interface": interface,
                "iommu_group": group,
                "active": active.is_some(),
                "addresses": active.map(|a| a.1).unwrap_or_default(),
                "physical_function": pf.as_ref().map(|(pf, d)| serde_json::json!({"pci": pf, "driver": d})),
            });
            println!("{v}");
            continue;
        }
        let vf_of = pf.map_or(String::new(), |(pf, d)| {
            format!(" vf_of={pf}(drv={})", d.as_deref().unwrap_or("none"))
        });
        println!(
            "{} '{}' {:04x}:{:04x} drv={} unused={} if={} iommu_group={}{vf_of}{}",
            nic.pci,
            nic.model,
            nic.vendor,
            nic.device,
            driver.as_deref().unwrap_or("none"),
            if driver.as_deref() == Some("vfio-pci") {
                kernel_driver(nic.family)
            } else {
                "vfio-pci"
            },
            interface.as_deref().unwrap_or("none"),
            group.map_or("none".into(), |g| g.to_string()),
            if active.is_some() { " *Active*" } else { "" }
        );
    }
    if nics.is_empty() && !args.json {
        println!("no supported Intel 1GbE NIC found");
    }
    Ok(())
}

/// Runs `each` on every address, reporting every failure; fails with the first.
fn for_each(
    pcis: &[String],
    mut each: impl FnMut(&SupportedNic) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut first = None;
    for pci in pcis {
        let result = internals::check_supported(pci).and_then(|nic| each(&nic));
        if let Err(e) = result {
            if first.is_some() {
                eprintln!("e1000: {pci}: {e}");
            } else {
                first = Some(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// Binds NICs to vfio-pci; an interface up with addresses is refused
/// unless `--force`.
pub fn bind(args: &BindArgs) -> Result<(), CliError> {
    for_each(&args.pci, |nic| {
        let pci = &nic.pci;
        if let Some((name, addrs)) = sysfs::active_interface(pci) {
            if !args.force {
                return Err(CliError::Failed(format!(
                    "{pci} is active: interface {name} is up with address {}; binding it to vfio-pci \
                     would cut that traffic (use --force to bind anyway)",
                    addrs.join(", ")
                )));
            }
            eprintln!("e1000: {pci}: interface {name} is active; binding anyway (--force)");
        }
        internals::bind_to_vfio(pci)?;
        println!(
            "{pci} bound to vfio-pci (IOMMU group {})",
            sysfs::iommu_group(pci).map_or("-".into(), |g| g.to_string())
        );
        Ok(())
    })
}

/// Gives NICs back to their kernel driver.
pub fn unbind(args: &UnbindArgs) -> Result<(), CliError> {
    for_each(&args.pci, |nic| {
        let pci = &nic.pci;
        let was = sysfs::driver(pci);
        let now = sysfs::unbind(pci, args.driver.as_deref(), kernel_driver(nic.family))?;
        let interface = sysfs::wait_interface(pci, Duration::from_secs(3));
        println!(
            "{pci} bound to {now}{} (was {}), interface {}",
            if was.as_deref() == Some(now.as_str()) {
                " already"
            } else {
                ""
            },
            was.as_deref().unwrap_or("none"),
            interface.as_deref().unwrap_or("none")
        );
        Ok(())
    })
}
