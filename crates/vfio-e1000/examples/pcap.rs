//! Write received frames to a pcap file (classic format, microsecond
//! timestamps, Ethernet), readable by tcpdump, tshark and Wireshark. Stops
//! after FRAMES frames, or cleanly on Ctrl-C (or SIGTERM).
//!
//! ```sh
//! cargo run --release --example pcap -- 0000:03:00.0 capture.pcap 1000
//! ```

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vfio_e1000::{stop_on_signals, Config, Nic};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (pci, path) = match (args.next(), args.next()) {
        (Some(p), Some(f)) => (p, f),
        _ => return Err("usage: pcap PCI-ADDRESS FILE [FRAMES]".into()),
    };
    let count: u64 = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    // Global header: magic, version 2.4, UTC, accuracy, snaplen, LINKTYPE_ETHERNET.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    for field in [0u32, 0, 65535, 1] {
        out.write_all(&field.to_le_bytes())?;
    }
    let stop = stop_on_signals()?;
    let mut nic = Nic::open(&pci, &Config::default())?;
    let mut batch = Vec::with_capacity(64);
    let mut written = 0u64;
    while written < count && !stop.requested() {
        nic.wait(Duration::from_millis(100))?;
        let want = (count - written).min(64) as usize;
        nic.rx_batch(&mut batch, want);
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
        for frame in batch.drain(..) {
            let len = frame.len() as u32;
            for field in [now.as_secs() as u32, now.subsec_micros(), len, len] {
                out.write_all(&field.to_le_bytes())?;
            }
            out.write_all(&frame)?;
            written += 1;
        }
    }
    out.flush()?;
    println!("{written} frames written to {path}");
    Ok(())
}
