//! A packet generator: builds one 60-byte broadcast frame in every pool
//! buffer it takes, then sends as fast as the ring takes them, one tail
//! write per batch. Ctrl-C (or SIGTERM) stops it early, cleanly.
//!
//! ```sh
//! cargo run --release --example pktgen -- 0000:03:00.0 1000000
//! ```

use std::time::{Duration, Instant};
use vfio_e1000::{stop_on_signals, Config, IrqMode, Nic};

const LEN: usize = 60;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pci = args.next().ok_or("usage: pktgen PCI-ADDRESS [FRAMES]")?;
    let total: u64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let stop = stop_on_signals()?;
    let mut config = Config::default();
    config.irq = Some(IrqMode::Poll);
    let mut nic = Nic::open(&pci, &config)?;
    nic.wait_link(Duration::from_secs(5))?;
    let mut frame = [0u8; LEN];
    frame[..6].fill(0xff); // broadcast
    frame[6..12].copy_from_slice(&nic.mac());
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental EtherType
    let (mut sent, start) = (0u64, Instant::now());
    let mut batch = Vec::with_capacity(64);
    while sent < total && !stop.requested() {
        let want = (total - sent).min(64) as usize;
        nic.alloc_batch(want - batch.len().min(want), LEN, &mut batch);
        for (i, p) in batch.iter_mut().enumerate() {
            p.copy_from_slice(&frame);
            p[14..22].copy_from_slice(&(sent + i as u64).to_be_bytes());
        }
        sent += nic.tx_batch(&mut batch) as u64;
    }
    nic.tx_flush(Duration::from_secs(2));
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{sent} frames in {secs:.3} s: {:.0} frames/s",
        sent as f64 / secs
    );
    Ok(())
}
