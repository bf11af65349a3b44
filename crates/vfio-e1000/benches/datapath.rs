//! The data path's own cost, with no VM: `cargo bench -p vfio-e1000 --bench
//! datapath --features model`.
//!
//! The driver's rings run against the software NIC model (`testing/`) of
//! each family, 64-byte frames, at batch sizes 1, 8 and 32:
//! - rx: the model fills the ring, the driver takes the frames
//!   (`rx_batch`, refilling the ring) and drops them back into the pool;
//! - tx: the driver takes buffers from the pool (`alloc_batch`) and posts
//!   them (`tx_batch`, reclaiming what completed), the model transmits;
//! - forward: rx, then the same packets posted for transmission, as `e1000
//!   echo` does.
//!
//! Only the driver's calls are timed. The model's own work (receiving,
//! transmitting) runs outside the timed sections, and what the model's
//! register file costs per write (a map under a lock, far more than a
//! posted write to a real NIC) and what reading the clock costs are
//! measured and subtracted. The last line is the headline: the forward
//! cost at batch 32, the worst of the three families.

use std::time::{Duration, Instant};
use vfio_e1000::model::Datapath;
use vfio_e1000::Packet;

/// Frames per measurement.
const FRAMES: usize = 100_000;
/// Measurements per figure: the median is reported.
const RUNS: usize = 5;
/// Descriptors per ring and buffers in the pool (the CLI's defaults).
const RING: usize = 512;
const POOL: usize = 2048;
/// Batch sizes measured.
const BATCHES: [usize; 3] = [1, 8, 32];
/// The families, by the model's name.
const FAMILIES: [&str; 3] = ["8254x", "82574L", "82576"];

/// A 60-byte (64 with FCS) IPv4/UDP frame with 18 bytes of payload
/// (checksums zero: the model checks them, the driver does not care).
fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45; // IPv4, 20-byte header
    f[16..18].copy_from_slice(&46u16.to_be_bytes()); // total length
    f[22] = 64; // TTL
    f[23] = 17; // UDP
    f[26..30].copy_from_slice(&[10, 11, 12, 1]);
    f[30..34].copy_from_slice(&[10, 11, 12, 2]);
    f[34..36].copy_from_slice(&9000u16.to_be_bytes());
    f[36..38].copy_from_slice(&9000u16.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes()); // UDP length
    f
}

/// Time spent in the driver's calls, and what to subtract from it.
#[derive(Default)]
struct Tally {
    driver: Duration,
    /// Timed sections (each costs one clock read more than it measures).
    sections: u64,
    /// Register writes the driver made in them.
    writes: u64,
    frames: u64,
}

impl Tally {
    /// Times `f`, a call of the driver.
    fn time<R>(&mut self, dp: &mut Datapath, f: impl FnOnce(&mut Datapath) -> R) -> R {
        let writes = dp.register_writes();
        let start = Instant::now();
        let r = f(dp);
        self.driver += start.elapsed();
        self.sections += 1;
        self.writes += dp.register_writes() - writes;
        r
    }

    /// Nanoseconds per frame, the model's register writes and the clock
    /// subtracted.
    fn ns_per_frame(&self, costs: &Costs) -> f64 {
        let overhead =
            self.writes as f64 * costs.register_write_ns + self.sections as f64 * costs.clock_ns;
        ((self.driver.as_nanos() as f64 - overhead) / self.frames as f64).max(0.0)
    }
}

/// What is subtracted: the clock read per timed section and the model's
/// cost per register write.
struct Costs {
    clock_ns: f64,
    register_write_ns: f64,
}

fn measure_costs(dp: &Datapath) -> Costs {
    const N: u32 = 200_000;
    let start = Instant::now();
    let mut last = start;
    for _ in 0..N {
        last = std::hint::black_box(Instant::now());
    }
    let clock_ns = last.duration_since(start).as_nanos() as f64 / N as f64;
    let register_write_ns = dp.time_register_writes(N).as_nanos() as f64 / N as f64;
    Costs {
        clock_ns,
        register_write_ns,
    }
}

/// Receive only: the model fills, the driver takes and drops.
fn rx(family: &str, batch: usize) -> Tally {
    let mut dp = Datapath::new(family, RING, POOL);
    let (f, mut pkts, mut t) = (frame(), Vec::with_capacity(batch), Tally::default());
    while (t.frames as usize) < FRAMES {
        dp.deliver(&f, batch);
        let n = t.time(&mut dp, |dp| dp.rx(&mut pkts, batch));
        t.time(&mut dp, |_| pkts.clear());
        t.frames += n as u64;
    }
    t
}

/// Transmit only: the driver takes buffers and posts them, the model sends.
fn tx(family: &str, batch: usize) -> Tally {
    let mut dp = Datapath::new(family, RING, POOL);
    let (f, mut pkts, mut t) = (frame(), Vec::with_capacity(batch), Tally::default());
    while (t.frames as usize) < FRAMES {
        t.time(&mut dp, |dp| dp.alloc_batch(batch, f.len(), &mut pkts));
        for p in pkts.iter_mut() {
            p.copy_from_slice(&f); // the application's part: not timed
        }
        let n = t.time(&mut dp, |dp| dp.tx(&mut pkts));
        t.time(&mut dp, |_| pkts.clear());
        dp.transmit();
        t.frames += n as u64;
    }
    t
}

/// Forward: what is received goes back out, as `e1000 echo` does.
fn forward(family: &str, batch: usize) -> Tally {
    let mut dp = Datapath::new(family, RING, POOL);
    let (f, mut pkts, mut t): (_, Vec<Packet>, _) =
        (frame(), Vec::with_capacity(batch), Tally::default());
    while (t.frames as usize) < FRAMES {
        dp.deliver(&f, batch);
        t.time(&mut dp, |dp| dp.rx(&mut pkts, batch));
        let n = t.time(&mut dp, |dp| dp.tx(&mut pkts));
        t.time(&mut dp, |_| pkts.clear());
        dp.transmit();
        t.frames += n as u64;
    }
    t
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let costs = measure_costs(&Datapath::new("82574L", RING, POOL));
    println!(
        "datapath: the driver's own cost per 64-byte frame on the software NIC, ring {RING}, pool {POOL}"
    );
    println!(
        "datapath: subtracted: {:.1} ns per clock read, {:.1} ns per register write of the model",
        costs.clock_ns, costs.register_write_ns
    );
    println!("family   batch   rx ns/frame   tx ns/frame   forward (rx+tx) ns/frame   (medians of {RUNS} runs)");
    let median = |run: fn(&str, usize) -> Tally, family: &str, batch: usize| {
        let mut v: Vec<f64> = (0..RUNS)
            .map(|_| run(family, batch).ns_per_frame(&costs))
            .collect();
        v.sort_by(f64::total_cmp);
        v[RUNS / 2]
    };
    let mut headline: f64 = 0.0;
    for family in FAMILIES {
        for batch in BATCHES {
            let fwd = median(forward, family, batch);
            println!(
                "{family:<8} {batch:>5}   {:>11.1}   {:>11.1}   {fwd:>11.1}",
                median(rx, family, batch),
                median(tx, family, batch),
            );
            if batch == 32 {
                headline = headline.max(fwd);
            }
        }
    }
    println!("datapath: rx+tx {headline:.0} ns/frame at batch 32");
}
