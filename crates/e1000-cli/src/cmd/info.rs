//! `e1000 info`: everything about one NIC.

use super::{pci_arg, CliError};
use crate::args::Args;
use crate::frame::mac_str;
use vfio_e1000::family::Tested;
use vfio_e1000::{irq_counts, Config, Nic};

/// Prints model, IDs, MAC, link, BARs, IRQs, config space and key registers.
pub fn run(args: &Args) -> Result<(), CliError> {
    args.only(&["irq"]).map_err(CliError::Usage)?;
    let pci = pci_arg(args, 0)?;
    let config = Config {
        irq: Some(vfio_e1000::IrqMode::Poll),
        ..Config::default()
    };
    let nic = Nic::open(&pci, &config)?;
    let entry = nic.entry();
    let dev = nic.device();
    let (vendor, device) = dev.address.ids()?;
    let (sv, sd) = dev.address.subsystem_ids()?;
    println!("pci:        {}", nic.pci());
    println!(
        "model:      Intel {} ({vendor:04x}:{device:04x}, subsystem {sv:04x}:{sd:04x})",
        entry.name
    );
    println!("family:     {}", entry.family.name());
    println!(
        "tested:     {}",
        match entry.tested {
            Tested::QemuModel(m) => format!("tested on QEMU model {m}"),
            Tested::Untested => "untested on hardware".into(),
        }
    );
    println!("mac:        {}", mac_str(&nic.mac()));
    let link = nic
        .wait_link(std::time::Duration::from_millis(3000))
        .or_else(|_| nic.link())?;
    println!("link:       {link}");
    println!(
        "datapath:   {} queue(s) used of {}, rx descriptors {:?}, tx descriptors {:?}, msi-x vectors used {}",
        nic.queues(),
        entry.family.max_queues(),
        entry.family.rx_format(),
        entry.family.tx_format(),
        entry.family.msix_vectors(nic.queues())
    );
    println!("iommu:      group {}", dev.group);
    println!(
        "dma:        {}",
        if nic.hugepages() {
            "2 MiB hugepages"
        } else {
            "4 KiB pages"
        }
    );
    for i in 0..6 {
        if let Ok(r) = dev.region_info(i) {
            if r.size > 0 {
                println!(
                    "bar{i}:       {} bytes{}",
                    r.size,
                    if r.mmap { ", mmap" } else { "" }
                );
            }
        }
    }
    let irqs: Vec<String> = irq_counts(dev)
        .iter()
        .map(|(i, n)| format!("{i:?} {n}"))
        .collect();
    println!("irqs:       {}", irqs.join(", "));
    let modes: Vec<String> = entry
        .family
        .irq_modes()
        .iter()
        .map(|m| m.to_string())
        .collect();
    println!("irq modes:  {}", modes.join(", "));
    println!("registers:");
    for (name, off, value) in nic.key_registers() {
        println!("  {name:<9} [{off:#06x}] = {value:#010x}");
    }
    println!("config space:");
    for (i, row) in dev.config_dump(256)?.chunks(16).enumerate() {
        let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
        println!("  {:02x}: {}", i * 16, hex.join(" "));
    }
    Ok(())
}
