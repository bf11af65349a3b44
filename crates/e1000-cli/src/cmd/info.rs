//! `e1000 info`: everything about one NIC.

use super::{default_config, CliError};
use crate::frame::mac_str;
use crate::internals;
use e1000_cli::cli::InfoArgs;
use vfio_e1000::Nic;

/// Prints model, IDs, MAC, link, BARs, IRQs, config space and key registers.
pub fn run(args: &InfoArgs) -> Result<(), CliError> {
    let mut config = default_config();
    config.irq = Some(vfio_e1000::IrqMode::Poll);
    let nic = Nic::open(&args.pci, &config)?;
    let d = internals::diagnostics(&nic)?;
    let ((vendor, device), (sv, sd)) = (d.ids, d.subsystem);
    println!("pci:        {}", nic.pci());
    println!(
        "model:      Intel {} ({vendor:04x}:{device:04x}, subsystem {sv:04x}:{sd:04x})",
        d.model
    );
    let variant = if d.qemu_variant {
        " (QEMU's model: the driver's variant for where it departs from the datasheet)"
    } else {
        ""
    };
    println!("family:     {}{variant}", d.family);
    println!("tested:     {}", d.tested);
    println!("mac:        {}", mac_str(&nic.mac()));
    let link = nic
        .wait_link(std::time::Duration::from_millis(3000))
        .or_else(|_| nic.link())?;
    println!("link:       {link}");
    println!(
        "datapath:   {} queue(s) used of {}, rx descriptors {}, tx descriptors {}, msi-x vectors used {}",
        nic.queues(),
        d.max_queues,
        d.formats.0,
        d.formats.1,
        d.msix_vectors
    );
    println!("offloads:   (as `ethtool -k` names them)");
    for (name, on) in nic.capabilities().list() {
        println!("  {name}: {}", if on { "on" } else { "off" });
    }
    if let Some(clock) = nic.clock() {
        // Two readings 10 ms apart on the host's clock: the NIC's must run.
        let (t0, host0) = (clock.now()?, std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(10));
        let (t1, host) = (clock.now()?, host0.elapsed());
        println!(
            "ptp clock:  {}.{:09} s, ran {} ns in {} ns of the host's",
            t1 / 1_000_000_000,
            t1 % 1_000_000_000,
            t1.saturating_sub(t0),
            host.as_nanos()
        );
    }
    println!("iommu:      group {}", d.iommu_group);
    println!(
        "dma:        {}",
        if nic.hugepages() {
            "2 MiB hugepages"
        } else {
            "4 KiB pages"
        }
    );
    for (i, size, mmap) in &d.bars {
        println!(
            "bar{i}:       {size} bytes{}",
            if *mmap { ", mmap" } else { "" }
        );
    }
    println!("irqs:       {}", d.irqs.join(", "));
    println!("irq modes:  {}", d.irq_modes.join(", "));
    println!("registers:");
    for (name, off, value) in &d.registers {
        println!("  {name:<9} [{off:#06x}] = {value:#010x}");
    }
    println!("config space:");
    for (i, row) in d.config.chunks(16).enumerate() {
        let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
        println!("  {:02x}: {}", i * 16, hex.join(" "));
    }
    Ok(())
}
