//! Echo every frame back to its sender (source and destination MAC swapped),
//! batch by batch, zero-copy: the received buffers are the ones sent.
//!
//! ```sh
//! cargo run --release --example echo -- 0000:03:00.0
//! ```

use std::time::Duration;
use vfio_e1000::{Config, Nic};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pci = std::env::args().nth(1).ok_or("usage: echo PCI-ADDRESS")?;
    let mut nic = Nic::open(&pci, &Config::default())?;
    println!(
        "{} on {}: link {}",
        nic.model(),
        nic.pci(),
        nic.wait_link(Duration::from_secs(5))?
    );
    let mut batch = Vec::with_capacity(64);
    loop {
        nic.wait(Duration::from_millis(100))?; // an interrupt, or at once in poll mode
        nic.rx_batch(&mut batch, 64);
        for frame in batch.iter_mut().filter(|f| f.len() >= 12) {
            let mut macs = [0u8; 12];
            macs.copy_from_slice(&frame[..12]);
            frame[..6].copy_from_slice(&macs[6..]);
            frame[6..12].copy_from_slice(&macs[..6]);
        }
        nic.tx_batch(&mut batch);
        batch.clear(); // frames the TX ring had no room for go back to the pool
    }
}
