//! Closes and reopens one NIC in one process, as a long-running program
//! that restarts its data path does, in both orders: packets that outlive
//! their `Nic`, and a `Nic` that outlives its packets. Checks that each
//! reopen works, that a closed NIC's packets are refused (not sent) by the
//! new one, that a fresh packet still goes out, and that no DMA memory stays
//! pinned once everything is dropped (`VmLck` back to where it started).
//!
//! `reopen PCI` prints one line per step and `reopen: ok` at the end; exits
//! 1 with the reason otherwise.

use std::time::Duration;
use vfio_e1000::{Config, Nic};

type Error = Box<dyn std::error::Error>;

/// Locked memory of this process in KiB (VFIO accounts pinned DMA memory here).
fn locked_kib() -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .ok_or("no VmLck in /proc/self/status")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

/// Sends one 60-byte broadcast frame and waits for it to complete.
fn send_one(nic: &mut Nic) -> Result<(), Error> {
    let mut batch = Vec::new();
    if nic.alloc_batch(1, 60, &mut batch) != 1 {
        return Err("the pool is empty".into());
    }
    batch[0].fill(0);
    batch[0][..6].fill(0xff);
    batch[0][6..12].copy_from_slice(&nic.mac());
    batch[0][12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
    if nic.tx_batch(&mut batch) != 1 || !nic.tx_flush(Duration::from_secs(2)) {
        return Err("a fresh packet was not sent".into());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let pci = std::env::args().nth(1).ok_or("usage: reopen PCI")?;
    let config = Config::default();
    let locked_at_start = locked_kib()?;

    // 1. Packets outlive their Nic; the NIC is opened again meanwhile.
    let nic = Nic::open(&pci, &config)?;
    let mut old = Vec::new();
    nic.alloc_batch(8, 60, &mut old);
    drop(nic);
    let mut nic = Nic::open(&pci, &config)?;
    nic.wait_link(Duration::from_secs(5))?;
    let queued = nic.tx_batch(&mut old);
    let refused = nic.stats().tx_dead_pool;
    if queued != 0 || refused != 8 || !old.is_empty() {
        return Err(
            format!("old packets: {queued} queued, {refused} refused (want 0 and 8)").into(),
        );
    }
    send_one(&mut nic)?;
    println!("reopen: reopened with 8 packets of the closed NIC alive; they were refused");

    // 2. The Nic outlives its packets.
    let mut held = Vec::new();
    nic.alloc_batch(8, 60, &mut held);
    drop(held);
    drop(nic);
    let mut nic = Nic::open(&pci, &config)?;
    nic.wait_link(Duration::from_secs(5))?;
    send_one(&mut nic)?;
    println!("reopen: reopened after its packets went first");

    // 3. Packets outlive the last Nic, then go too: nothing stays pinned.
    let mut last = Vec::new();
    nic.alloc_batch(8, 60, &mut last);
    drop(nic);
    drop(last);
    let locked = locked_kib()?;
    if locked != locked_at_start {
        return Err(format!("{locked} KiB still locked (at start: {locked_at_start} KiB)").into());
    }
    println!("reopen: everything dropped, locked memory back to {locked} KiB");
    println!("reopen: ok");
    Ok(())
}
