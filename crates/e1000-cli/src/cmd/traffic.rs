//! The commands that move frames: `dump`, `echo`, `send`, `forward`.
//! They share opening the NIC, the run loop (count, timeout, signals), the
//! periodic stats lines and the summary.

use super::CliError;
use crate::frame::{build_udp, mac_str, set_seq, set_src_port, summary};
use crate::internals::{mmio_counts, model_name};
use crate::out::{clock, Out};
use crate::signal;
use e1000_cli::cli::{DumpArgs, EchoArgs, ForwardArgs, IovaArg, Payload, SendArgs, TrafficArgs};
use serde_json::json;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant, SystemTime};
use vfio_e1000::{ChecksumStatus, Config, IovaPolicy, IrqMode, LinkStatus, Nic, Packet, Queue};

/// Frames handled per `rx_batch`/`tx_batch` call.
const BATCH: usize = 64;

/// Options every traffic command takes, resolved.
struct Common {
    config: Config,
    count: Option<u64>,
    deadline: Option<Instant>,
    link_timeout: Duration,
    quiet: bool,
    period: Option<Duration>,
    out: Out,
    /// Test hook: stop the transmitter after this many frames.
    inject_tx_stall_after: Option<u64>,
    /// Where each queue's thread runs.
    pin: Pin,
}

/// Where each queue's thread runs (`--cpus`, `--no-pin`).
#[derive(Debug, Clone, PartialEq)]
enum Pin {
    /// Where the scheduler puts it.
    Free,
    /// In interrupt modes, on the CPU that takes the queue's interrupt.
    Auto,
    /// Queue N on the N-th CPU of the list (wrapping).
    List(Vec<usize>),
}

impl Common {
    /// `data_on_stdout`: stdout carries data other than JSON (a pcap stream).
    fn new(t: &TrafficArgs, data_on_stdout: bool) -> Result<Common, CliError> {
        if t.json && data_on_stdout {
            return Err(CliError::Usage(
                "--json and `-w -` both want stdout: write the pcap to a file".into(),
            ));
        }
        let mut config = super::default_config();
        config.irq = super::irq_mode(t.irq);
        config.rx_ring = t.rxd.unwrap_or(t.ring);
        config.tx_ring = t.txd.unwrap_or(t.ring);
        config.pool_size = t
            .pool
            .unwrap_or((2 * (config.rx_ring + config.tx_ring)).max(2048));
        config.irq_interval_us = t.irq_interval;
        config.adaptive_irq = t.adaptive_irq;
        config.iova = match t.iova {
            IovaArg::Allocated => IovaPolicy::Allocated,
            IovaArg::Identity => IovaPolicy::Identity,
        };
        config.busy_poll_us = t.busy_poll;
        config.mtu = t.mtu;
        config.promiscuous = !t.no_promisc;
        config.mac = t.mac;
        config.unicast = t.unicast.clone();
        config.multicast = t.multicast.clone();
        config.vlan_strip = t.vlan_strip;
        config.vlan_filter = t.vlan_filter.clone();
        Ok(Common {
            config,
            count: t.count,
            deadline: t
                .timeout
                .map(|s| Instant::now() + Duration::from_secs_f64(s)),
            link_timeout: Duration::from_millis(t.link_timeout),
            quiet: t.quiet,
            period: t.stats_period.map(Duration::from_secs_f64),
            out: Out::new(t.json, data_on_stdout),
            inject_tx_stall_after: t.inject_tx_stall_after,
            pin: match (t.no_pin, &t.cpus) {
                (true, _) => Pin::Free,
                (false, None) => Pin::Auto,
                (false, Some(cpus)) => Pin::List(cpus.0.clone()),
            },
        })
    }

    /// Opens the NIC, waits for the link, prints the ready line.
    fn open(&self, what: &str, pci: &str) -> Result<Nic, CliError> {
        let nic = Nic::open(pci, &self.config)?;
        let link = super::wait_link(&nic, self.link_timeout)?;
        self.out.say(&format!(
            "{what}: ready on {} ({}) mac {}, irq {}, link {link}",
            nic.pci(),
            model_name(&nic),
            mac_str(&nic.mac()),
            nic.irq_mode()
        ));
        self.out.json(&json!({
            "type": "ready",
            "command": what,
            "pci": nic.pci(),
            "model": model_name(&nic),
            "mac": mac_str(&nic.mac()),
            "irq": nic.irq_mode().to_string(),
            "link": link.to_string(),
        }));
        Ok(nic)
    }

    /// Whether the run should end.
    fn finished(&self, budget: &Budget) -> bool {
        signal::stopped()
            || budget.exhausted()
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Frame and byte counts of one direction, as the command saw them.
#[derive(Default, Clone, Copy)]
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

/// One queue's (or NIC's) running totals, published after every batch for
/// the stats printer (plain stores: one writer each).
#[derive(Default)]
struct Live {
    rx_frames: AtomicU64,
    rx_bytes: AtomicU64,
    tx_frames: AtomicU64,
    tx_bytes: AtomicU64,
    dropped: AtomicU64,
    ring_full: AtomicU64,
}

impl Live {
    /// `dropped`: by the command plus by the ring; `ring_full`: the queue's count.
    fn publish(&self, rx: &Tally, tx: &Tally, dropped: u64, ring_full: u64) {
        self.rx_frames.store(rx.frames, Relaxed);
        self.rx_bytes.store(rx.bytes, Relaxed);
        self.tx_frames.store(tx.frames, Relaxed);
        self.tx_bytes.store(tx.bytes, Relaxed);
        self.dropped.store(dropped, Relaxed);
        self.ring_full.store(ring_full, Relaxed);
    }
}

/// Totals over several [`Live`]s.
#[derive(Default, Clone, Copy)]
struct Snapshot {
    rx: Tally,
    tx: Tally,
    dropped: u64,
    ring_full: u64,
}

fn snapshot(live: &[Live]) -> Snapshot {
    let mut s = Snapshot::default();
    for l in live {
        s.rx.frames += l.rx_frames.load(Relaxed);
        s.rx.bytes += l.rx_bytes.load(Relaxed);
        s.tx.frames += l.tx_frames.load(Relaxed);
        s.tx.bytes += l.tx_bytes.load(Relaxed);
        s.dropped += l.dropped.load(Relaxed);
        s.ring_full += l.ring_full.load(Relaxed);
    }
    s
}

/// Prints one stats line per `period` until `done`: rates over the period
/// (frames/s, Mbit/s of frame bytes without FCS), drops and ring-full counts
/// in the period. Reads only the command's own counters: no register access.
fn stats_printer(what: &str, period: Duration, live: &[Live], done: &AtomicBool, out: Out) {
    let start = Instant::now();
    let (mut last, mut last_t) = (Snapshot::default(), start);
    let mut next = start + period;
    while !done.load(SeqCst) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(20)));
            continue;
        }
        let s = snapshot(live);
        let secs = now.duration_since(last_t).as_secs_f64().max(1e-9);
        let rate = |a: u64, b: u64| (a - b) as f64 / secs;
        let mbit = |a: u64, b: u64| (a - b) as f64 * 8.0 / 1e6 / secs;
        let (rx_fps, tx_fps) = (
            rate(s.rx.frames, last.rx.frames),
            rate(s.tx.frames, last.tx.frames),
        );
        let (rx_mbps, tx_mbps) = (
            mbit(s.rx.bytes, last.rx.bytes),
            mbit(s.tx.bytes, last.tx.bytes),
        );
        let (drops, ring_full) = (s.dropped - last.dropped, s.ring_full - last.ring_full);
        let elapsed = now.duration_since(start).as_secs_f64();
        out.say(&format!(
            "{what}: stats {elapsed:.1} s: rx {rx_fps:.0} fps {rx_mbps:.1} Mbit/s, tx {tx_fps:.0} fps {tx_mbps:.1} Mbit/s, drops {drops}, ring-full {ring_full}"
        ));
        out.json(&json!({
            "type": "stats",
            "command": what,
            "elapsed_s": elapsed,
            "rx_fps": rx_fps,
            "rx_mbps": rx_mbps,
            "tx_fps": tx_fps,
            "tx_mbps": tx_mbps,
            "drops": drops,
            "rx_ring_full": ring_full,
            "rx_frames": s.rx.frames,
            "tx_frames": s.tx.frames,
        }));
        (last, last_t) = (s, now);
        next += period;
        if next < now {
            next = now + period;
        }
    }
}

/// Runs `body` with a stats printer beside it when `--stats-period` is set.
fn with_stats<T>(common: &Common, what: &str, live: &[Live], body: impl FnOnce() -> T) -> T {
    let Some(period) = common.period else {
        return body();
    };
    let done = AtomicBool::new(false);
    let out = common.out;
    std::thread::scope(|scope| {
        let done = &done;
        scope.spawn(move || stats_printer(what, period, live, done, out));
        let result = body();
        done.store(true, SeqCst);
        result
    })
}

/// What a run did, for the summary.
struct RunTotals<'a> {
    rx: Tally,
    tx: Tally,
    tx_dropped: u64,
    /// Per queue (rx, tx), when there are several.
    queues: &'a [(Tally, Tally)],
    /// Extra fields for the JSON summary.
    extra: serde_json::Value,
}

/// Prints the end-of-run summary: our counts, register accesses per frame,
/// then the NIC's counters (the human lines keep their wording: the bench
/// reads them), and the JSON summary.
fn report(what: &str, nic: &mut Nic, since: (u64, u64), t: &RunTotals, out: Out) {
    let now = mmio_counts(nic);
    let (reads, writes) = (now.0 - since.0, now.1 - since.1);
    let (rx, tx) = (t.rx, t.tx);
    let frames = (rx.frames + tx.frames).max(1) as f64;
    out.say(&format!(
        "{what}: mmio in the data path: {reads} reads, {writes} writes for {} frames ({:.3} reads, {:.3} writes per frame)",
        rx.frames + tx.frames,
        reads as f64 / frames,
        writes as f64 / frames
    ));
    let s = nic.stats();
    out.say(&format!(
        "{what}: summary: rx {} frames {} bytes, tx {} frames {} bytes, dropped (tx ring full or runt frame) {}",
        rx.frames, rx.bytes, tx.frames, tx.bytes, t.tx_dropped
    ));
    out.say(&format!(
        "{what}: nic counters: rx {} frames {} bytes, tx {} frames {} bytes, missed {}, no-buffer {}, crc-errors {}, driver-dropped {}, rx-ring-full {}, rx-early-dd {}",
        s.rx_packets, s.rx_bytes, s.tx_packets, s.tx_bytes, s.rx_missed, s.rx_no_buffer, s.rx_crc_errors, s.rx_driver_dropped, s.rx_ring_full, s.rx_early_dd
    ));
    if s.tx_hangs > 0 {
        out.say(&format!(
            "{what}: transmit hang: the NIC stopped completing frames; queue reset {} time(s), frames in flight lost",
            s.tx_hangs
        ));
    }
    if s.tx_runts > 0 {
        out.say(&format!(
            "{what}: {} frame(s) shorter than an Ethernet header refused",
            s.tx_runts
        ));
    }
    if s.link_down_events > 0 {
        out.say(&format!(
            "{what}: link went down {} time(s), down for {} ms in all",
            s.link_down_events, s.link_down_ms
        ));
    }
    let fields = s.named();
    out.say(&format!("{what}: nic statistics ({}):", nic.pci()));
    for (name, value) in fields {
        out.say(&format!("     {name}: {value}"));
    }
    let mut summary = json!({
        "type": "summary",
        "command": what,
        "pci": nic.pci(),
        "rx_frames": rx.frames,
        "rx_bytes": rx.bytes,
        "tx_frames": tx.frames,
        "tx_bytes": tx.bytes,
        "dropped": t.tx_dropped,
        "mmio_reads": reads,
        "mmio_writes": writes,
        "mmio_reads_per_frame": reads as f64 / frames,
        "mmio_writes_per_frame": writes as f64 / frames,
        "nic": fields.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "queues": t.queues.iter().enumerate().map(|(q, (r, x))| json!({
            "queue": q, "rx_frames": r.frames, "rx_bytes": r.bytes, "tx_frames": x.frames, "tx_bytes": x.bytes,
        })).collect::<Vec<_>>(),
    });
    if let (Some(m), Some(extra)) = (summary.as_object_mut(), t.extra.as_object()) {
        m.extend(extra.clone());
    }
    out.json(&summary);
}

/// Sleeps for the next interrupt (or returns at once in poll mode); a link
/// change is reported on stderr (see [`LinkReport`]).
fn wait(nic: &mut Nic, what: &str, link: &mut LinkReport) -> Result<(), CliError> {
    let wake = nic.wait(Duration::from_millis(100))?;
    if wake.link_changed {
        link.report(what, nic.link()?);
    }
    Ok(())
}

/// The link state last reported, so that a change is reported once per
/// change of state however many interrupts announce it.
#[derive(Debug)]
struct LinkReport {
    up: Option<bool>,
}

impl LinkReport {
    /// Starts from the state the "ready" line showed (the 82576 raises a
    /// link interrupt for the link that came up before it).
    fn from(now: Result<LinkStatus, vfio_e1000::Error>) -> LinkReport {
        LinkReport {
            up: now.ok().map(|l| l.up),
        }
    }

    /// Prints `what: link ...` on stderr if `now` differs from the last report.
    fn report(&mut self, what: &str, now: LinkStatus) {
        if self.up != Some(now.up) {
            self.up = Some(now.up);
            eprintln!("{what}: link {now}");
        }
    }
}

/// Moves the calling thread, which serves `queue`, to its CPU (threads it
/// spawns later inherit it): with `--cpus`, the queue's CPU of the list; by
/// default, in interrupt modes, the CPU that takes the queue's interrupt, as
/// Linux's NAPI serves a queue where its interrupt lands. Every wake-up is
/// then local: in the QEMU guest with 2 vCPUs, an unpinned `echo --irq msix
/// --busy-poll 0` at 20,000 frames/s had about 6,000 cross-CPU wake-ups a
/// second (function-call IPIs) and none pinned. In poll mode there is no
/// interrupt to follow and the default leaves the thread to the scheduler
/// (pinning it to either vCPU measured no better). Not fatal: a CPU that
/// cannot be had leaves the thread where it is, with a note.
fn pin_queue_thread(queue: &Queue, common: &Common, what: &str) {
    let q = queue.index() as usize;
    let (cpu, why) = match &common.pin {
        Pin::Free => return,
        Pin::List(cpus) => (cpus[q % cpus.len()], "as --cpus asks"),
        Pin::Auto => match queue.irq_cpu() {
            Some(cpu) => (cpu, "which takes its interrupt"),
            None => return,
        },
    };
    match crate::affinity::pin_current_thread(cpu) {
        Ok(()) => common
            .out
            .say(&format!("{what}: queue {q} runs on CPU {cpu}, {why}")),
        Err(e) => eprintln!("{what}: queue {q} stays unpinned (CPU {cpu}: {e})"),
    }
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

/// `e1000 dump`: one timestamped line per frame (tcpdump style, `-x` adds
/// a hex dump), or a pcap file / stream with no per-frame lines.
pub fn dump(args: &DumpArgs) -> Result<(), CliError> {
    let to_stdout = args.write.as_deref() == Some("-");
    let common = Common::new(&args.traffic, to_stdout)?;
    let out = common.out;
    let mut pcap = match args.write.as_deref() {
        Some("-") => Some(Pcap::new(Box::new(std::io::stdout()), "stdout")?),
        Some(path) => Some(Pcap::new(
            Box::new(
                std::fs::File::create(path)
                    .map_err(|e| CliError::Failed(format!("cannot create {path}: {e}")))?,
            ),
            path,
        )?),
        None => None,
    };
    let mut nic = common.open("dump", &args.pci)?;
    pin_queue_thread(&nic.queue(0)?, &common, "dump");
    let since = mmio_counts(&nic);
    let (mut rx, mut pkts) = (Tally::default(), Vec::with_capacity(BATCH));
    let budget = Budget::new(common.count);
    let live = [Live::default()];
    let print_frames = pcap.is_none() && !common.quiet;
    let mut link = LinkReport::from(nic.link());
    with_stats(&common, "dump", &live, || -> Result<(), CliError> {
        while !common.finished(&budget) {
            wait(&mut nic, "dump", &mut link)?;
            let want = budget.take(BATCH);
            let n = nic.rx_batch(&mut pkts, want);
            budget.settle(want, n);
            if n == 0 {
                continue;
            }
            let now = SystemTime::now();
            // A reader that went away (`| head`) ends the capture, as it ends tcpdump.
            let mut reader_gone = false;
            if let Some(pcap) = &mut pcap {
                for p in &pkts {
                    match p.vlan_tag() {
                        Some(tci) => pcap.write(&with_tag(p, tci), now)?,
                        None => pcap.write(p, now)?,
                    }
                }
                pcap.flush()?;
                reader_gone = pcap.closed;
            }
            if print_frames {
                reader_gone |= !print_frames_text(&pkts, rx.frames, now, args.hex, out);
            }
            rx.add(&pkts);
            pkts.clear();
            let q = nic.queue(0)?;
            live[0].publish(&rx, &Tally::default(), q.dropped(), q.ring_full());
            if reader_gone {
                break;
            }
        }
        Ok(())
    })?;
    let totals = RunTotals {
        rx,
        tx: Tally::default(),
        tx_dropped: 0,
        queues: &[],
        extra: json!({}),
    };
    report("dump", &mut nic, since, &totals, out);
    Ok(())
}

/// The text lines of received frames `pkts`, numbered after `before`.
/// Returns false once stdout is a closed pipe.
fn print_frames_text(pkts: &[Packet], before: u64, now: SystemTime, hex: bool, out: Out) -> bool {
    let time = clock(now);
    if out.json_mode() {
        for (i, p) in pkts.iter().enumerate() {
            let mut v = json!({
                "type": "frame",
                "n": before + 1 + i as u64,
                "time": time,
                "len": p.len(),
                "summary": summary(p),
                "vlan": p.vlan_tag().map(|t| t & 0xFFF),
                "vlan_pcp": p.vlan_tag().map(|t| t >> 13),
                "ip_checksum": checksum_word(p.ip_checksum()),
                "l4_checksum": checksum_word(p.l4_checksum()),
            });
            if hex {
                v["hex"] = json!(p.iter().map(|b| format!("{b:02x}")).collect::<String>());
            }
            out.json(&v);
        }
        return true;
    }
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let mut text = String::new();
    for (i, p) in pkts.iter().enumerate() {
        let _ = writeln!(
            text,
            "{time} #{} {}{}{}",
            before + 1 + i as u64,
            vlan_prefix(p),
            summary(p),
            checksum_suffix(p)
        );
        if hex {
            for (row, chunk) in p.chunks(16).enumerate() {
                let words: Vec<String> = chunk
                    .chunks(2)
                    .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
                    .collect();
                let _ = writeln!(text, "\t0x{:04x}:  {}", row * 16, words.join(" "));
            }
        }
    }
    !matches!(
        w.write_all(text.as_bytes()).and_then(|_| w.flush()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe
    )
}

/// tcpdump's `vlan ID, p PCP, ` for a frame whose tag the NIC stripped.
fn vlan_prefix(p: &Packet) -> String {
    p.vlan_tag()
        .map(|t| format!("vlan {}, p {}, ", t & 0xFFF, t >> 13))
        .unwrap_or_default()
}

/// The NIC's checksum verdicts, where it checked: ` [hw cksum ip good, l4 bad]`.
fn checksum_suffix(p: &Packet) -> String {
    let parts: Vec<String> = [("ip", p.ip_checksum()), ("l4", p.l4_checksum())]
        .into_iter()
        .filter_map(|(what, s)| checksum_word(s).map(|w| format!("{what} {w}")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [hw cksum {}]", parts.join(", "))
    }
}

fn checksum_word(s: ChecksumStatus) -> Option<&'static str> {
    match s {
        ChecksumStatus::NotChecked => None,
        ChecksumStatus::Good => Some("good"),
        ChecksumStatus::Bad => Some("bad"),
    }
}

/// `frame` with the 802.1Q tag `tci` put back after the addresses, as the
/// wire carried it (for pcap files).
fn with_tag(frame: &[u8], tci: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(frame.len() + 4);
    f.extend_from_slice(&frame[..12.min(frame.len())]);
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&tci.to_be_bytes());
    f.extend_from_slice(&frame[12.min(frame.len())..]);
    f
}

/// `e1000 echo`: every frame goes back with dst := its src, src := our MAC.
pub fn echo(args: &EchoArgs) -> Result<(), CliError> {
    let mut common = Common::new(&args.traffic, false)?;
    common.config.queues = args.queues;
    let out = common.out;
    let mut nic = common.open("echo", &args.pci)?;
    print_pool(&mut nic, out);
    let since = mmio_counts(&nic);
    let mac = nic.mac();
    let budget = Budget::new(common.count);
    let live: Vec<Live> = (0..nic.queues()).map(|_| Live::default()).collect();
    let (common, budget, live) = (&common, &budget, &live[..]);
    // One thread per queue pair; each echoes what RSS steers to its queue.
    let per_queue: Vec<Result<(Tally, Tally, u64), CliError>> =
        with_stats(common, "echo", live, || {
            std::thread::scope(|scope| {
                let threads: Vec<_> = nic
                    .split()
                    .into_iter()
                    .zip(live)
                    .map(|(queue, live)| {
                        scope.spawn(move || {
                            // One queue failing (e.g. hot-unplug seen on queue 0) ends them all.
                            echo_queue(queue, common, budget, mac, live)
                                .inspect_err(|_| budget.stop())
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("echo thread panicked"))
                    .collect()
            })
        });
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0);
    let several = per_queue.len() > 1;
    let mut queues = Vec::new();
    for (q, result) in per_queue.into_iter().enumerate() {
        let (qrx, qtx, qdropped) = result?;
        if several {
            out.say(&format!(
                "echo: queue {q}: rx {} frames {} bytes, tx {} frames",
                qrx.frames, qrx.bytes, qtx.frames
            ));
            queues.push((qrx, qtx));
        }
        rx.frames += qrx.frames;
        rx.bytes += qrx.bytes;
        tx.frames += qtx.frames;
        tx.bytes += qtx.bytes;
        dropped += qdropped;
    }
    let totals = RunTotals {
        rx,
        tx,
        tx_dropped: dropped,
        queues: &queues,
        extra: json!({}),
    };
    print_pool(&mut nic, out);
    report("echo", &mut nic, since, &totals, out);
    Ok(())
}

/// The `--inject-tx-stall-after` hook: the NIC's transmitter stops, as if
/// hung; the library's TX watchdog must recover it.
#[cfg(feature = "fault-injection")]
fn inject_tx_stall(queue: &mut Queue) -> Result<(), CliError> {
    eprintln!("echo: injecting a transmit stall (test hook)");
    queue.inject_tx_stall();
    Ok(())
}

/// Without the fault-injection feature the hook is refused.
#[cfg(not(feature = "fault-injection"))]
fn inject_tx_stall(_queue: &mut Queue) -> Result<(), CliError> {
    Err(CliError::Usage(
        "--inject-tx-stall-after needs an e1000 built with the fault-injection feature".into(),
    ))
}

/// Prints how many packet buffers are free over every queue's pool: the
/// same at the end of a run as at the start, or buffers leaked.
fn print_pool(nic: &mut Nic, out: Out) {
    let (free, size) = (0..nic.queues()).fold((0, 0), |(f, s), q| {
        nic.queue(q).map_or((f, s), |queue| {
            (f + queue.pool_free(), s + queue.pool_size())
        })
    });
    out.say(&format!("echo: pool: {free} of {size} buffers free"));
}

/// The echo loop of one queue: every frame goes back with dst := its src,
/// src := our MAC.
fn echo_queue(
    mut queue: Queue,
    common: &Common,
    budget: &Budget,
    mac: [u8; 6],
    live: &Live,
) -> Result<(Tally, Tally, u64), CliError> {
    pin_queue_thread(&queue, common, "echo");
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0);
    let mut pkts = Vec::with_capacity(BATCH);
    let mut stall_after = common.inject_tx_stall_after;
    let mut link = LinkReport::from(queue.link());
    while !common.finished(budget) {
        let wake = queue.wait(Duration::from_millis(100))?;
        if wake.link_changed {
            link.report("echo", queue.link()?);
        }
        if stall_after.is_some_and(|n| tx.frames >= n) {
            stall_after = None;
            inject_tx_stall(&mut queue)?;
        }
        loop {
            // With a count, reserve only for frames that are there: a queue
            // that holds the last of the count while it finds nothing (and
            // its thread is preempted there) starves the queue that has
            // them, as two poll-mode threads on one CPU showed.
            if budget.limit.is_some() && !queue.rx_pending() {
                break;
            }
            let want = budget.take(BATCH);
            let n = queue.rx_batch(&mut pkts, want);
            budget.settle(want, n);
            if n == 0 {
                break;
            }
            rx.add(&pkts);
            // The echo rule; a frame too short for an Ethernet header cannot be echoed.
            let before = pkts.len();
            pkts.retain_mut(|p| e1000_wire::echo_in_place(p, mac));
            dropped += (before - pkts.len()) as u64;
            tx.bytes += pkts.iter().map(|p| p.len() as u64).sum::<u64>();
            dropped += send_all(&mut queue, &mut pkts, &mut tx);
            live.publish(&rx, &tx, dropped + queue.dropped(), queue.ring_full());
            if common.finished(budget) {
                break;
            }
        }
    }
    queue.tx_flush(Duration::from_secs(2));
    Ok((rx, tx, dropped))
}

/// How many frames the run may still take, shared by the queues' threads so
/// that `--count` is exact however the frames spread. A thread reserves
/// frames ([`Budget::take`]) before it looks, then settles what it used
/// ([`Budget::settle`]); the run ends when the frames used, not the ones
/// merely reserved, reach the count (a thread that saw another's passing
/// reservation as the end would stop with frames still on its queue).
struct Budget {
    /// Frames used plus frames reserved and not yet settled.
    taken: AtomicU64,
    /// Frames used.
    used: AtomicU64,
    limit: Option<u64>,
    stopped: AtomicBool,
}

impl Budget {
    fn new(limit: Option<u64>) -> Budget {
        Budget {
            taken: AtomicU64::new(0),
            used: AtomicU64::new(0),
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

    /// Of `reserved` frames taken, `used` were used; the rest go back.
    fn settle(&self, reserved: usize, used: usize) {
        if self.limit.is_some() {
            self.taken.fetch_sub((reserved - used) as u64, SeqCst);
            self.used.fetch_add(used as u64, SeqCst);
        }
    }

    /// Ends the run early for everyone.
    fn stop(&self) {
        self.stopped.store(true, SeqCst);
    }

    /// Whether the frames used have reached the limit (or the run was stopped).
    fn exhausted(&self) -> bool {
        self.stopped.load(SeqCst) || self.limit.is_some_and(|l| self.used.load(SeqCst) >= l)
    }
}

/// `e1000 send`: IPv4/UDP frames with sequence numbers, optionally paced,
/// spread over `--flows` source ports.
pub fn send(args: &SendArgs) -> Result<(), CliError> {
    let common = Common::new(&args.traffic, false)?;
    let out = common.out;
    let size = usize::from(args.size);
    let rate = args.rate;
    let mut nic = common.open("send", &args.pci)?;
    pin_queue_thread(&nic.queue(0)?, &common, "send");
    let since = mmio_counts(&nic);
    let spec = e1000_wire::Ipv4Udp {
        dst_mac: args.dst_mac,
        src_mac: nic.mac(),
        src_ip: args.src_ip.octets(),
        dst_ip: args.dst_ip.octets(),
        src_port: args.src_port,
        dst_port: args.dst_port,
        ident: 0,
        udp_checksum: false,
    };
    let payload: &[u8] = match &args.payload {
        Payload::Counter => &[],
        Payload::Repeat(bytes) => bytes,
    };
    let mut template = vec![0u8; size];
    build_udp(&mut template, &spec, payload, 0);
    let tci = args.vlan.map(|id| args.vlan_prio << 13 | id);
    // Frames built once, as testpmd's txonly does: every free buffer gets
    // the template now, and a buffer the NIC has sent comes back to the pool
    // still holding its frame, so only the sequence number (and source
    // port) change per frame, with no copy of the rest. Not when the driver
    // inserts a tag into the bytes (the frame moves in its buffer).
    let prebuilt = tci.is_none() || common.config.vlan_strip;
    if prebuilt {
        let mut all = Vec::new();
        nic.alloc_batch(usize::MAX, size, &mut all);
        for p in &mut all {
            p.copy_from_slice(&template);
        }
    }
    let flows = u64::from(args.flows);
    let (mut tx, mut pkts) = (Tally::default(), Vec::with_capacity(BATCH));
    let start = Instant::now();
    let budget = Budget::new(common.count);
    let live = [Live::default()];
    with_stats(&common, "send", &live, || {
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
            if pkts.is_empty() {
                budget.settle(want, 0);
                nic.tx_flush(Duration::from_millis(1)); // reclaim, then retry
                continue;
            }
            for (k, p) in pkts.iter_mut().enumerate() {
                let seq = tx.frames + k as u64;
                if !prebuilt {
                    p.copy_from_slice(&template);
                }
                set_seq(p, seq);
                if flows > 1 {
                    set_src_port(p, args.src_port.wrapping_add((seq % flows) as u16));
                }
                if args.offload {
                    p.offload_checksums();
                }
                p.set_vlan_tag(tci);
            }
            let n = nic.tx_batch(&mut pkts);
            tx.frames += n as u64;
            tx.bytes += (n * (size + if tci.is_some() { 4 } else { 0 })) as u64;
            budget.settle(want, n);
            pkts.clear(); // any that did not fit go back to the pool
            live[0].publish(&Tally::default(), &tx, 0, 0);
        }
    });
    let completed = nic.tx_flush(Duration::from_secs(5));
    let secs = start.elapsed().as_secs_f64();
    out.say(&format!(
        "send: {} frames in {secs:.3} s ({:.0} frames/s){}",
        tx.frames,
        tx.frames as f64 / secs,
        if completed { "" } else { ", NOT all completed" }
    ));
    let totals = RunTotals {
        rx: Tally::default(),
        tx,
        tx_dropped: 0,
        queues: &[],
        extra: json!({
            "elapsed_s": secs,
            "fps": tx.frames as f64 / secs,
            "completed": completed,
        }),
    };
    report("send", &mut nic, since, &totals, out);
    if completed {
        Ok(())
    } else {
        Err(CliError::Failed(
            "the NIC did not complete every frame within 5 s".into(),
        ))
    }
}

/// `e1000 forward`: frames from each NIC go out of the other (poll mode).
pub fn forward(args: &ForwardArgs) -> Result<(), CliError> {
    let common = Common::new(&args.traffic, false)?;
    let out = common.out;
    let mut nics = [
        common.open("forward", &args.pci_a)?,
        common.open("forward", &args.pci_b)?,
    ];
    let since = [mmio_counts(&nics[0]), mmio_counts(&nics[1])];
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0);
    let mut pkts = Vec::with_capacity(BATCH);
    let budget = Budget::new(common.count);
    let live = [Live::default()];
    with_stats(&common, "forward", &live, || -> Result<(), CliError> {
        while !common.finished(&budget) {
            // A look, without waiting, at the release request (hot-unplug),
            // interrupts to acknowledge and the TX watchdog.
            for nic in nics.iter_mut() {
                nic.wait(Duration::ZERO)?;
            }
            let mut idle = true;
            for from in 0..2 {
                let want = budget.take(BATCH);
                let n = nics[from].rx_batch(&mut pkts, want);
                budget.settle(want, n);
                if n > 0 {
                    idle = false;
                    rx.add(&pkts);
                    tx.bytes += pkts.iter().map(|p| p.len() as u64).sum::<u64>();
                    dropped += send_all(&mut nics[1 - from].queue(0)?, &mut pkts, &mut tx);
                    let queue0 =
                        |n: &mut Nic| n.queue(0).map_or((0, 0), |q| (q.ring_full(), q.dropped()));
                    let (ring, ring_dropped) = nics
                        .iter_mut()
                        .map(queue0)
                        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
                    live[0].publish(&rx, &tx, dropped + ring_dropped, ring);
                }
            }
            if idle && nics[0].irq_mode() != IrqMode::Poll {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        Ok(())
    })?;
    let totals = RunTotals {
        rx,
        tx,
        tx_dropped: dropped,
        queues: &[],
        extra: json!({}),
    };
    for (nic, since) in nics.iter_mut().zip(since) {
        nic.tx_flush(Duration::from_secs(2));
        report("forward", nic, since, &totals, out);
    }
    Ok(())
}

/// A pcap stream (classic format, microsecond timestamps, Ethernet link
/// type) to a file or stdout.
struct Pcap {
    out: std::io::BufWriter<Box<dyn Write>>,
    name: String,
    /// The reader closed the pipe: nothing more can be written.
    closed: bool,
}

impl Pcap {
    fn new(sink: Box<dyn Write>, name: &str) -> Result<Pcap, CliError> {
        let mut pcap = Pcap {
            out: std::io::BufWriter::with_capacity(256 * 1024, sink),
            name: name.to_string(),
            closed: false,
        };
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes()); // magic: µs timestamps
        header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // GMT offset
        header.extend_from_slice(&0u32.to_le_bytes()); // accuracy
        header.extend_from_slice(&65535u32.to_le_bytes()); // snap length
        header.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        pcap.put(&header)?;
        pcap.flush()?;
        Ok(pcap)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        if self.closed {
            return Ok(());
        }
        let result = self.out.write_all(bytes);
        self.check(result)
    }

    /// A closed pipe marks the stream closed; other errors fail the run.
    fn check(&mut self, result: std::io::Result<()>) -> Result<(), CliError> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(CliError::Failed(format!(
                "writing pcap to {}: {e}",
                self.name
            ))),
            Ok(()) => Ok(()),
        }
    }

    /// Appends one frame received at `t`.
    fn write(&mut self, frame: &[u8], t: SystemTime) -> Result<(), CliError> {
        let t = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(t.as_secs() as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&t.subsec_micros().to_le_bytes());
        rec[8..12].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.put(&rec)?;
        self.put(frame)
    }

    fn flush(&mut self) -> Result<(), CliError> {
        if self.closed {
            return Ok(());
        }
        let result = self.out.flush();
        self.check(result)
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;

    /// What CI caught: with 37 frames of the count left, one queue's thread
    /// reserved them while its ring was empty; the other queue's thread saw
    /// the count reached and stopped, leaving its frames unanswered.
    #[test]
    fn a_passing_reservation_does_not_end_the_run() {
        let b = Budget::new(Some(100));
        let first = b.take(64);
        b.settle(first, first);
        let idle = b.take(64);
        assert_eq!(idle, 36, "the rest is reserved");
        assert!(!b.exhausted(), "reserved is not used");
        assert_eq!(b.take(64), 0, "nothing left to reserve meanwhile");
        b.settle(idle, 0);
        let busy = b.take(64);
        assert_eq!(busy, 36);
        b.settle(busy, 36);
        assert!(b.exhausted());
    }

    #[test]
    fn no_limit_never_ends() {
        let b = Budget::new(None);
        let n = b.take(64);
        b.settle(n, n);
        assert_eq!(n, 64);
        assert!(!b.exhausted());
        b.stop();
        assert!(b.exhausted());
    }
}
