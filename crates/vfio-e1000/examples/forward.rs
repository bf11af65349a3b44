//! Forward frames between two NICs in both directions, zero-copy: a buffer
//! received on one is sent on the other (every NIC a process opens shares
//! one IOMMU address space). A stats line every second per NIC; Ctrl-C (or
//! SIGTERM) stops it cleanly.
//!
//! ```sh
//! cargo run --release --example forward -- 0000:03:00.0 0000:04:00.0
//! ```

use std::time::{Duration, Instant};
use vfio_e1000::{stop_on_signals, Config, IrqMode, Nic};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (a, b) = match (args.next(), args.next()) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err("usage: forward PCI-A PCI-B".into()),
    };
    let stop = stop_on_signals()?;
    let mut config = Config::default();
    config.irq = Some(IrqMode::Poll);
    let mut nics = [Nic::open(&a, &config)?, Nic::open(&b, &config)?];
    let mut batch = Vec::with_capacity(64);
    let mut last = [nics[0].stats(), nics[1].stats()];
    let mut shown = Instant::now();
    while !stop.requested() {
        for from in 0..2 {
            // In poll mode `wait` returns at once; now and then it looks at
            // the kernel's release request (hot-unplug) and the TX watchdog.
            nics[from].wait(Duration::ZERO)?;
            if nics[from].rx_batch(&mut batch, 64) > 0 {
                nics[1 - from].tx_batch(&mut batch);
                batch.clear(); // what did not fit goes back to the pool
            }
        }
        if shown.elapsed() >= Duration::from_secs(1) {
            for (nic, last) in nics.iter_mut().zip(&mut last) {
                let now = nic.stats();
                println!("forward: {}: {}", nic.pci(), now.since(last));
                *last = now;
            }
            shown = Instant::now();
        }
    }
    Ok(())
}
