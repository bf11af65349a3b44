//! The commands that move frames: `dump`, `echo`, `send`, `forward`.
//! They share opening the NIC, the run loop (count, timeout, signals) and
//! the summary.

use super::{pci_arg, CliError};
use crate::args::Args;
use crate::frame::{build_udp, mac_str, parse_mac, set_seq, summary};
use crate::signal;
use std::io::Write;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};
use vfio_e1000::{Config, IovaPolicy, IrqMode, Nic, Packet, Queue};

/// Frames handled per `rx_batch`/`tx_batch` call.
const BATCH: usize = 64;

/// Options every traffic command takes.
struct Common {
    config: Config,
    count: Option<u64>,
    deadline: Option<Instant>,
    link_timeout: Duration,
    quiet: bool,
}

const COMMON: &[&str] = &[
    "irq",
    "ring",
    "irq-interval",
    "iova",
    "busy-poll",
    "link-timeout",
    "timeout",
    "count",
];

impl Common {
    fn parse(args: &Args, extra: &[&str]) -> Result<Common, CliError> {
        let known: Vec<&str> = COMMON.iter().chain(extra).copied().collect();
        args.only(&known).map_err(CliError::Usage)?;
        let usage = CliError::Usage;
        let irq = match args.get("irq") {
            None => None,
            Some(s) => Some(
                IrqMode::parse(s)
                    .ok_or_else(|| usage(format!("--irq {s}: expected poll, intx, msi or msix")))?,
            ),
        };
        let ring = args.num("ring", 512usize).map_err(usage)?;
        let mut config = super::default_config();
        config.irq = irq;
        config.rx_ring = ring;
        config.tx_ring = ring;
        config.pool_size = (4 * ring).max(2048);
        config.irq_interval_us = args.num("irq-interval", 128u32).map_err(usage)?;
        config.iova = match args.get("iova") {
            None | Some("allocated") => IovaPolicy::Allocated,
            Some("identity") => IovaPolicy::Identity,
            Some(other) => {
                return Err(usage(format!(
                    "--iova {other}: expected allocated or identity"
                )))
            }
        };
        config.busy_poll_us = args.num("busy-poll", 500u32).map_err(usage)?;
        let count = match args.get("count") {
            None => None,
            Some(_) => Some(args.num("count", 0u64).map_err(usage)?),
        };
        let timeout: Option<f64> = match args.get("timeout") {
            None => None,
            Some(_) => Some(args.num("timeout", 0f64).map_err(usage)?),
        };
        Ok(Common {
            config,
            count,
            deadline: timeout.map(|t| Instant::now() + Duration::from_secs_f64(t)),
            link_timeout: Duration::from_millis(
                args.num("link-timeout", 10_000u64).map_err(usage)?,
            ),
            quiet: args.flag("--quiet"),
        })
    }

    /// Opens the NIC, waits for the link, prints the ready line.
    fn open(&self, what: &str, pci: &str) -> Result<Nic, CliError> {
        let nic = Nic::open(pci, &self.config)?;
        let link = nic.wait_link(self.link_timeout)?;
        println!(
            "{what}: ready on {} ({}) mac {}, irq {}, link {link}",
            nic.pci(),
            nic.model(),
            mac_str(&nic.mac()),
            nic.irq_mode()
        );
        Ok(nic)
    }

    /// Whether the run should end after `done` frames.
    fn finished(&self, budget: &Budget) -> bool {
        signal::stopped()
            || budget.exhausted()
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Frame and byte counts of one direction, as the command saw them.
#[derive(Default)]
struct Tally {
    frames: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, pkts: &[Packet]) {
        self.frames += pkts.len() as u64;
        self.bytes += pkts.iter().map(|p| p.len() as u64).sum::<u64>();
    }
}

/// Register accesses of the data path: the counters at the ready line,
/// subtracted at the summary (before the statistics registers are read).
struct MmioSince {
    reads: u64,
    writes: u64,
}

impl MmioSince {
    fn now(nic: &Nic) -> MmioSince {
        let (reads, writes) = nic.register_accesses();
        MmioSince { reads, writes }
    }
}

/// Prints the end-of-run summary: our counts, register accesses per frame,
/// then the NIC's counters.
fn report(what: &str, nic: &mut Nic, since: &MmioSince, rx: &Tally, tx: &Tally, tx_dropped: u64) {
    let (reads, writes) = nic.register_accesses();
    let (reads, writes) = (reads - since.reads, writes - since.writes);
    let frames = (rx.frames + tx.frames).max(1) as f64;
    println!(
        "{what}: mmio in the data path: {reads} reads, {writes} writes for {} frames ({:.3} reads, {:.3} writes per frame)",
        rx.frames + tx.frames,
        reads as f64 / frames,
        writes as f64 / frames
    );
    let s = nic.stats();
    println!(
        "{what}: summary: rx {} frames {} bytes, tx {} frames {} bytes, dropped (tx ring full or runt frame) {tx_dropped}",
        rx.frames, rx.bytes, tx.frames, tx.bytes
    );
    println!(
        "{what}: nic counters: rx {} frames {} bytes, tx {} frames {} bytes, missed {}, no-buffer {}, crc-errors {}, driver-dropped {}, rx-ring-full {}, rx-early-dd {}",
        s.rx_packets, s.rx_bytes, s.tx_packets, s.tx_bytes, s.rx_missed, s.rx_no_buffer, s.rx_crc_errors, s.rx_driver_dropped, s.rx_ring_full, s.rx_early_dd
    );
    if s.tx_hangs > 0 {
        println!(
            "{what}: transmit hang: the NIC stopped completing frames; queue reset {} time(s), frames in flight lost",
            s.tx_hangs
        );
    }
    if s.link_down_events > 0 {
        println!(
            "{what}: link went down {} time(s), down for {} ms in all",
            s.link_down_events, s.link_down_ms
        );
    }
    if s.tx_runts > 0 {
        println!(
            "{what}: {} frame(s) shorter than an Ethernet header refused",
            s.tx_runts
        );
    }
}

/// Sleeps for the next interrupt (or returns at once in poll mode); a link
/// change is reported on stderr.
fn wait(nic: &mut Nic, what: &str) -> Result<(), CliError> {
    let wake = nic.wait(Duration::from_millis(100))?;
    if wake.link_changed {
        eprintln!("{what}: link {}", nic.link()?);
    }
    Ok(())
}

/// Sends `pkts` completely if the ring drains within a few ms; returns how
/// many had to be dropped.
fn send_all(queue: &mut Queue, pkts: &mut Vec<Packet>, tx: &mut Tally) -> u64 {
    let start = Instant::now();
    loop {
        tx.frames += queue.tx_batch(pkts) as u64;
        if pkts.is_empty() {
            return 0;
        }
        if start.elapsed() > Duration::from_millis(20) {
            let dropped = pkts.len() as u64;
            pkts.clear();
            return dropped;
        }
        std::hint::spin_loop();
    }
}
/// `e1000 dump`: one line per frame, or a pcap file.
pub fn dump(args: &Args) -> Result<(), CliError> {
    let common = Common::parse(args, &["pcap"])?;
    let pci = pci_arg(args, 0)?;
    let mut pcap = match args.get("pcap") {
        Some(path) => Some(Pcap::create(path)?),
        None => None,
    };
    let mut nic = common.open("dump", &pci)?;
    let since = MmioSince::now(&nic);
    let (mut rx, mut pkts) = (Tally::default(), Vec::with_capacity(BATCH));
    let stdout = std::io::stdout();
    let budget = Budget::new(common.count);
    while !common.finished(&budget) {
        wait(&mut nic, "dump")?;
        let want = budget.take(BATCH);
        let n = nic.rx_batch(0, &mut pkts, want);
        budget.give_back(want - n);
        let mut out = stdout.lock();
        for p in &pkts {
            if let Some(pcap) = &mut pcap {
                pcap.write(p)?;
            }
            if !common.quiet {
                let _ = writeln!(out, "#{} {}", rx.frames + 1, summary(p));
            }
            rx.frames += 1;
            rx.bytes += p.len() as u64;
        }
        pkts.clear();
    }
    report("dump", &mut nic, &since, &rx, &Tally::default(), 0);
    Ok(())
}

/// Prints how many packet buffers are free, over every queue's pool: the same
/// at the end of a run as at the start, or buffers leaked.
fn print_pool(nic: &mut Nic) {
    let (free, size) = (0..nic.queues()).fold((0, 0), |(f, s), q| {
        let queue = nic.queue(q);
        (f + queue.pool_free(), s + queue.pool_size())
    });
    println!("echo: pool: {free} of {size} buffers free");
}

/// Bytes of an Ethernet header: destination and source MAC, EtherType.
const ETHERNET_HEADER: usize = 14;

/// `e1000 echo`: every frame goes back with dst := its src, src := our MAC.
pub fn echo(args: &Args) -> Result<(), CliError> {
    let mut common = Common::parse(args, &["queues"])?;
    common.config.queues = args.num("queues", 1u16).map_err(CliError::Usage)?;
    let pci = pci_arg(args, 0)?;
    let mut nic = common.open("echo", &pci)?;
    print_pool(&mut nic);
    let since = MmioSince::now(&nic);
    let mac = nic.mac();
    let budget = Budget::new(common.count);
    let common = &common;
    let budget = &budget;
    // One thread per queue pair; each echoes what RSS steers to its queue.
    let per_queue: Vec<Result<(Tally, Tally, u64), CliError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = nic
            .split()
            .into_iter()
            .map(|queue| {
                scope.spawn(move || {
                    // One queue failing (e.g. hot-unplug seen on queue 0) ends them all.
                    echo_queue(queue, common, budget, mac).inspect_err(|_| budget.stop())
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("echo thread panicked"))
            .collect()
    });
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0);
    let several = per_queue.len() > 1;
    for (q, result) in per_queue.into_iter().enumerate() {
        let (qrx, qtx, qdropped) = result?;
        if several {
            println!(
                "echo: queue {q}: rx {} frames {} bytes, tx {} frames",
                qrx.frames, qrx.bytes, qtx.frames
            );
        }
        rx.frames += qrx.frames;
        rx.bytes += qrx.bytes;
        tx.frames += qtx.frames;
        tx.bytes += qtx.bytes;
        dropped += qdropped;
    }
    print_pool(&mut nic);
    report("echo", &mut nic, &since, &rx, &tx, dropped);
    Ok(())
}

/// The echo loop of one queue: every frame goes back with dst := its src,
/// src := our MAC.
fn echo_queue(
    mut queue: Queue,
    common: &Common,
    budget: &Budget,
    mac: [u8; 6],
) -> Result<(Tally, Tally, u64), CliError> {
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0);
    let mut pkts = Vec::with_capacity(BATCH);
    while !common.finished(budget) {
        let wake = queue.wait(Duration::from_millis(100))?;
        if wake.link_changed {
            eprintln!("echo: link changed");
        }
        loop {
            let want = budget.take(BATCH);
            let n = queue.rx_batch(&mut pkts, want);
            budget.give_back(want - n);
            if n == 0 {
                break;
            }
            rx.add(&pkts);
            // A frame too short for an Ethernet header cannot be echoed.
            let before = pkts.len();
            pkts.retain(|p| p.len() >= ETHERNET_HEADER);
            dropped += (before - pkts.len()) as u64;
            for p in pkts.iter_mut() {
                p.copy_within(6..12, 0);
                p[6..12].copy_from_slice(&mac);
            }
            tx.bytes += pkts.iter().map(|p| p.len() as u64).sum::<u64>();
            dropped += send_all(&mut queue, &mut pkts, &mut tx);
            if common.finished(budget) {
                break;
            }
        }
    }
    queue.tx_flush(Duration::from_secs(2));
    Ok((rx, tx, dropped))
}

/// How many frames the run may still take, shared by the queues' threads so
/// that `--count` is exact however the frames spread.
struct Budget {
    taken: AtomicU64,
    limit: Option<u64>,
    stopped: AtomicBool,
}

impl Budget {
    fn new(limit: Option<u64>) -> Budget {
        Budget {
            taken: AtomicU64::new(0),
            limit,
            stopped: AtomicBool::new(false),
        }
    }

    /// Reserves up to `max` frames; returns how many.
    fn take(&self, max: usize) -> usize {
        let Some(limit) = self.limit else { return max };
        let mut taken = self.taken.load(SeqCst);
        loop {
            let n = (limit.saturating_sub(taken) as usize).min(max);
            match self
                .taken
                .compare_exchange(taken, taken + n as u64, SeqCst, SeqCst)
            {
                Ok(_) => return n,
                Err(now) => taken = now,
            }
        }
    }

    /// Returns reserved frames that did not arrive.
    fn give_back(&self, n: usize) {
        if self.limit.is_some() {
            self.taken.fetch_sub(n as u64, SeqCst);
        }
    }

    /// Ends the run early for everyone.
    fn stop(&self) {
        self.stopped.store(true, SeqCst);
    }

    /// Whether the limit has been reached (or the run was stopped).
    fn exhausted(&self) -> bool {
        self.stopped.load(SeqCst) || self.limit.is_some_and(|l| self.taken.load(SeqCst) >= l)
    }
}

/// `e1000 send`: IPv4/UDP frames with sequence numbers, optionally paced.
pub fn send(args: &Args) -> Result<(), CliError> {
    let common = Common::parse(args, &["size", "rate", "dst-mac"])?;
    let pci = pci_arg(args, 0)?;
    let size: usize = args.num("size", 60).map_err(CliError::Usage)?;
    if !(60..=1514).contains(&size) {
        return Err(CliError::Usage(format!(
            "--size {size}: must be 60..=1514 (frame without FCS)"
        )));
    }
    let rate: f64 = args.num("rate", 0.0).map_err(CliError::Usage)?;
    let dst = match args.get("dst-mac") {
        None => [0xff; 6],
        Some(s) => parse_mac(s)
            .ok_or_else(|| CliError::Usage(format!("--dst-mac {s}: expected aa:bb:cc:dd:ee:ff")))?,
    };
    let mut nic = common.open("send", &pci)?;
    let since = MmioSince::now(&nic);
    let mut template = vec![0u8; size];
    build_udp(&mut template, dst, nic.mac(), 0);
    let (mut tx, mut pkts) = (Tally::default(), Vec::with_capacity(BATCH));
    let start = Instant::now();
    let budget = Budget::new(common.count);
    while !common.finished(&budget) {
        let mut want = BATCH;
        if rate > 0.0 {
            let allowed = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
            want = want.min(allowed.saturating_sub(tx.frames) as usize);
            if want == 0 {
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
        }
        let want = budget.take(want);
        nic.alloc_batch(want, size, &mut pkts);
        budget.give_back(want - pkts.len());
        if pkts.is_empty() {
            nic.tx_flush(0, Duration::from_millis(1)); // reclaim, then retry
            continue;
        }
        for (k, p) in pkts.iter_mut().enumerate() {
            p.copy_from_slice(&template);
            set_seq(p, tx.frames + k as u64);
        }
        let n = nic.tx_batch(0, &mut pkts);
        tx.frames += n as u64;
        tx.bytes += (n * size) as u64;
        budget.give_back(pkts.len());
        pkts.clear(); // any that did not fit go back to the pool
    }
    let completed = nic.tx_flush(0, Duration::from_secs(5));
    let secs = start.elapsed().as_secs_f64();
    println!(
        "send: {} frames in {secs:.3} s ({:.0} frames/s){}",
        tx.frames,
        tx.frames as f64 / secs,
        if completed { "" } else { ", NOT all completed" }
    );
    report("send", &mut nic, &since, &Tally::default(), &tx, 0);
    if completed {
        Ok(())
    } else {
        Err(CliError::Failed(
            "the NIC did not complete every frame within 5 s".into(),
        ))
    }
}

/// `e1000 forward`: frames from each NIC go out of the other (poll mode).
pub fn forward(args: &Args) -> Result<(), CliError> {
    let common = Common::parse(args, &[])?;
    let (a, b) = (pci_arg(args, 0)?, pci_arg(args, 1)?);
    let mut nics = [common.open("forward", &a)?, common.open("forward", &b)?];
    let since = [MmioSince::now(&nics[0]), MmioSince::now(&nics[1])];
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0);
    let mut pkts = Vec::with_capacity(BATCH);
    let budget = Budget::new(common.count);
    while !common.finished(&budget) {
        // A look, without waiting, at the release request (hot-unplug),
        // interrupts to acknowledge and the TX watchdog.
        for nic in nics.iter_mut() {
            nic.wait(Duration::ZERO)?;
        }
        let mut idle = true;
        for from in 0..2 {
            let want = budget.take(BATCH);
            let n = nics[from].rx_batch(0, &mut pkts, want);
            budget.give_back(want - n);
            if n > 0 {
                idle = false;
                rx.add(&pkts);
                tx.bytes += pkts.iter().map(|p| p.len() as u64).sum::<u64>();
                dropped += send_all(&mut nics[1 - from].queue(0), &mut pkts, &mut tx);
            }
        }
        if idle && nics[0].irq_mode() != IrqMode::Poll {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    for (nic, since) in nics.iter_mut().zip(&since) {
        nic.tx_flush(0, Duration::from_secs(2));
        report("forward", nic, since, &rx, &tx, dropped);
    }
    Ok(())
}

/// A pcap file (classic format, microsecond timestamps, Ethernet link type).
struct Pcap {
    out: std::io::BufWriter<std::fs::File>,
}

impl Pcap {
    fn create(path: &str) -> Result<Pcap, CliError> {
        let file = std::fs::File::create(path)
            .map_err(|e| CliError::Failed(format!("cannot create {path}: {e}")))?;
        let mut out = std::io::BufWriter::new(file);
        let mut header = Vec::new();
        {
            let v = 0xa1b2c3d4u32;
            header.extend_from_slice(&v.to_le_bytes());
        }
        header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // GMT offset
        header.extend_from_slice(&0u32.to_le_bytes()); // accuracy
        header.extend_from_slice(&65535u32.to_le_bytes()); // snap length
        header.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        out.write_all(&header)
            .map_err(|e| CliError::Failed(format!("writing {path}: {e}")))?;
        Ok(Pcap { out })
    }

    fn write(&mut self, frame: &[u8]) -> Result<(), CliError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut rec = Vec::with_capacity(16 + frame.len());
        rec.extend_from_slice(&(now.as_secs() as u32).to_le_bytes());
        rec.extend_from_slice(&now.subsec_micros().to_le_bytes());
        rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        rec.extend_from_slice(frame);
        self.out
            .write_all(&rec)
            .and_then(|_| self.out.flush())
            .map_err(|e| CliError::Failed(format!("writing pcap: {e}")))
    }
}
