//! Echo every frame back to its sender (dst := its src, src := our MAC),
//! batch by batch, zero-copy: the received buffers are the ones sent. A
//! stats line every second; Ctrl-C (or SIGTERM) stops it cleanly.
//!
//! ```sh
//! cargo run --release --example echo -- 0000:03:00.0
//! ```

use std::time::{Duration, Instant};
use vfio_e1000::{stop_on_signals, Config, Nic};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pci = std::env::args().nth(1).ok_or("usage: echo PCI-ADDRESS")?;
    let stop = stop_on_signals()?;
    let mut nic = Nic::open(&pci, &Config::default())?;
    println!(
        "{} on {}: link {}",
        nic.model(),
        nic.pci(),
        nic.wait_link(Duration::from_secs(5))?
    );
    let mac = nic.mac();
    let mut batch = Vec::with_capacity(64);
    let (mut last, mut shown) = (nic.stats(), Instant::now());
    while !stop.requested() {
        nic.wait(Duration::from_millis(100))?; // an interrupt, or at once in poll mode
        nic.rx_batch(&mut batch, 64);
        for frame in batch.iter_mut().filter(|f| f.len() >= 14) {
            frame.copy_within(6..12, 0);
            frame[6..12].copy_from_slice(&mac);
        }
        nic.tx_batch(&mut batch);
        batch.clear(); // frames the TX ring had no room for go back to the pool
        if shown.elapsed() >= Duration::from_secs(1) {
            let now = nic.stats();
            println!("echo: {}", now.since(&last));
            (last, shown) = (now, Instant::now());
        }
    }
    println!("echo: stopped; in all: {}", nic.stats());
    Ok(()) // dropping the Nic stops the device before its memory goes
}
