//! `e1000 info`: everything about one NIC, as text or (`--json`) one JSON
//! object with the same fields.

use super::{default_config, CliError};
use crate::frame::mac_str;
use crate::internals;
use e1000_cli::cli::InfoArgs;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use vfio_e1000::Nic;

/// Prints model, IDs, MAC, link, BARs, IRQs, config space and key registers.
pub fn run(args: &InfoArgs) -> Result<(), CliError> {
    let mut config = default_config();
    config.irq = Some(vfio_e1000::IrqMode::Poll);
    let nic = Nic::open(&args.pci, &config)?;
    let info = gather(&nic)?;
    if args.json {
        println!("{info}");
    } else {
        print_text(&info);
    }
    Ok(())
}

/// Everything `info` shows, read once.
fn gather(nic: &Nic) -> Result<Value, CliError> {
    let d = internals::diagnostics(nic)?;
    let ((vendor, device), (sv, sd)) = (d.ids, d.subsystem);
    let link = nic
        .wait_link(Duration::from_millis(3000))
        .or_else(|_| nic.link())?;
    let clock = match nic.clock() {
        // Two readings 10 ms apart on the host's clock: the NIC's must run.
        Some(clock) => {
            let (t0, host0) = (clock.now()?, Instant::now());
            std::thread::sleep(Duration::from_millis(10));
            let (t1, host) = (clock.now()?, host0.elapsed());
            json!({ "ns": t1, "ran_ns": t1.saturating_sub(t0), "host_ns": host.as_nanos() as u64 })
        }
        None => Value::Null,
    };
    Ok(json!({
        "pci": nic.pci(),
        "model": d.model,
        "vendor_id": format!("{vendor:04x}"),
        "device_id": format!("{device:04x}"),
        "subsystem": format!("{sv:04x}:{sd:04x}"),
        "family": d.family,
        "qemu_variant": d.qemu_variant,
        "tested": d.tested,
        "mac": mac_str(&nic.mac()),
        "link": link.to_string(),
        "link_up": link.up,
        "queues": nic.queues(),
        "max_queues": d.max_queues,
        "rx_descriptors": d.formats.0,
        "tx_descriptors": d.formats.1,
        "msix_vectors": d.msix_vectors,
        "offloads": nic.capabilities().list().iter().map(|(n, on)| (n.to_string(), json!(on))).collect::<serde_json::Map<_, _>>(),
        "ptp_clock": clock,
        "iommu_group": d.iommu_group,
        "hugepages": nic.hugepages(),
        "bars": d.bars.iter().map(|(i, size, mmap)| json!({ "index": i, "size": size, "mmap": mmap })).collect::<Vec<_>>(),
        "irqs": d.irqs,
        "irq_modes": d.irq_modes,
        "registers": d.registers.iter().map(|(name, off, value)| json!({ "name": name, "offset": off, "value": value })).collect::<Vec<_>>(),
        "config_space": d.config.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    }))
}

/// The text form, one field per line.
fn print_text(i: &Value) {
    let s = |k: &str| i[k].as_str().unwrap_or_default().to_string();
    println!("pci:        {}", s("pci"));
    println!(
        "model:      Intel {} ({}:{}, subsystem {})",
        s("model"),
        s("vendor_id"),
        s("device_id"),
        s("subsystem")
    );
    let variant = if i["qemu_variant"] == true {
        " (QEMU's model: the driver's variant for where it departs from the datasheet)"
    } else {
        ""
    };
    println!("family:     {}{variant}", s("family"));
    println!("tested:     {}", s("tested"));
    println!("mac:        {}", s("mac"));
    println!("link:       {}", s("link"));
    println!(
        "datapath:   {} queue(s) used of {}, rx descriptors {}, tx descriptors {}, msi-x vectors used {}",
        i["queues"], i["max_queues"], s("rx_descriptors"), s("tx_descriptors"), i["msix_vectors"]
    );
    println!("offloads:   (as `ethtool -k` names them)");
    for (name, on) in i["offloads"].as_object().into_iter().flatten() {
        println!("  {name}: {}", if on == true { "on" } else { "off" });
    }
    if let Some(c) = i["ptp_clock"].as_object() {
        let ns = c["ns"].as_u64().unwrap_or(0);
        println!(
            "ptp clock:  {}.{:09} s, ran {} ns in {} ns of the host's",
            ns / 1_000_000_000,
            ns % 1_000_000_000,
            c["ran_ns"],
            c["host_ns"]
        );
    }
    println!("iommu:      group {}", i["iommu_group"]);
    let pages = if i["hugepages"] == true {
        "2 MiB hugepages"
    } else {
        "4 KiB pages"
    };
    println!("dma:        {pages}");
    for bar in i["bars"].as_array().into_iter().flatten() {
        let mmap = if bar["mmap"] == true { ", mmap" } else { "" };
        println!("bar{}:       {} bytes{mmap}", bar["index"], bar["size"]);
    }
    let list = |k: &str| -> String {
        let items: Vec<String> = i[k]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect();
        items.join(", ")
    };
    println!("irqs:       {}", list("irqs"));
    println!("irq modes:  {}", list("irq_modes"));
    println!("registers:");
    for r in i["registers"].as_array().into_iter().flatten() {
        let (off, value) = (
            r["offset"].as_u64().unwrap_or(0),
            r["value"].as_u64().unwrap_or(0),
        );
        println!(
            "  {:<9} [{off:#06x}] = {value:#010x}",
            r["name"].as_str().unwrap_or_default()
        );
    }
    println!("config space:");
    let hex = s("config_space");
    for (row, chunk) in hex.as_bytes().chunks(32).enumerate() {
        let bytes: Vec<&str> = chunk
            .chunks(2)
            .map(|b| std::str::from_utf8(b).unwrap_or("??"))
            .collect();
        println!("  {:02x}: {}", row * 16, bytes.join(" "));
    }
}
