//! Forward frames between two NICs in both directions, zero-copy: a buffer
//! received on one is sent on the other (every NIC a process opens shares
//! one IOMMU address space).
//!
//! ```sh
//! cargo run --release --example forward -- 0000:03:00.0 0000:04:00.0
//! ```

use vfio_e1000::{Config, IrqMode, Nic};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (a, b) = match (args.next(), args.next()) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err("usage: forward PCI-A PCI-B".into()),
    };
    let mut config = Config::default();
    config.irq = Some(IrqMode::Poll);
    let mut nics = [Nic::open(&a, &config)?, Nic::open(&b, &config)?];
    let mut batch = Vec::with_capacity(64);
    let mut forwarded = 0u64;
    loop {
        for from in 0..2 {
            // In poll mode `wait` returns at once; now and then it looks at
            // the kernel's release request (hot-unplug) and the TX watchdog.
            nics[from].wait(std::time::Duration::ZERO)?;
            if nics[from].rx_batch(&mut batch, 64) > 0 {
                forwarded += nics[1 - from].tx_batch(&mut batch) as u64;
                batch.clear();
            }
        }
        if forwarded > 0 && forwarded.is_multiple_of(1 << 20) {
            println!("{forwarded} frames forwarded");
        }
    }
}
