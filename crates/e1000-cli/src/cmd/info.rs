//! `e1000 info`: everything about one NIC.

use super::{default_config, pci_arg, CliError};
use crate::args::Args;
use crate::frame::mac_str;
use vfio_e1000::{IrqMode, Nic};

/// Prints model, IDs, MAC, link, BARs, IRQs, config space and key registers.
pub fn run(args: &Args) -> Result<(), CliError> {
    args.only(&["irq"]).map_err(CliError::Usage)?;
    let pci = pci_arg(args, 0)?;
    let mut config = default_config();
    config.irq = Some(IrqMode::Poll);
    let nic = Nic::open(&pci, &config)?;
    let d = nic.diagnostics()?;
    let dev = &d.device;
    println!("pci:        {}", nic.pci());
    println!(
        "model:      Intel {} ({:04x}:{:04x}, subsystem {:04x}:{:04x})",
        dev.name, dev.vendor, dev.device, d.subsystem.0, d.subsystem.1
    );
    println!("family:     {}", dev.family);
    println!(
        "tested:     {}",
        match dev.tested_on {
            Some(m) => format!("tested on QEMU model {m}"),
            None => "untested on hardware".into(),
        }
    );
    println!("mac:        {}", mac_str(&nic.mac()));
    let link = nic
        .wait_link(std::time::Duration::from_millis(3000))
        .or_else(|_| nic.link())?;
    println!("link:       {link}");
    println!(
        "datapath:   {} queue(s) used of {}, rx descriptors {}, tx descriptors {}, msi-x vectors used {}",
        nic.queues(),
        d.max_queues,
        d.descriptor_formats.0,
        d.descriptor_formats.1,
        d.msix_vectors_used
    );
    println!(
        "iommu:      group {}",
        dev.iommu_group.map_or("-".into(), |g| g.to_string())
    );
    println!(
        "dma:        {}",
        if nic.hugepages() {
            "2 MiB hugepages"
        } else {
            "4 KiB pages"
        }
    );
    for bar in &d.bars {
        println!(
            "bar{}:       {} bytes{}",
            bar.index,
            bar.size,
            if bar.mmap { ", mmap" } else { "" }
        );
    }
    let irqs: Vec<String> = d
        .irq_counts
        .iter()
        .map(|(i, n)| format!("{i} {n}"))
        .collect();
    println!("irqs:       {}", irqs.join(", "));
    println!("irq modes:  {}", d.irq_modes.join(", "));
    println!("registers:");
    for (name, off, value) in &d.registers {
        println!("  {name:<9} [{off:#06x}] = {value:#010x}");
    }
    println!("config space:");
    for (i, row) in d.config_space.chunks(16).enumerate() {
        let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
        println!("  {:02x}: {}", i * 16, hex.join(" "));
    }
    Ok(())
}
