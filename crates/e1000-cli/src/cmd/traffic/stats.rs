//! What the traffic commands count while they run: the tallies each
//! queue's thread publishes, the periodic stats lines and the summary.

use super::*;

/// Frame and byte counts of one direction, as the command saw them.
#[derive(Default, Clone, Copy)]
pub(super) struct Tally {
    pub(super) frames: u64,
    pub(super) bytes: u64,
}

impl Tally {
    pub(super) fn add(&mut self, pkts: &[Packet]) {
        self.frames += frames_in(pkts) as u64;
        self.bytes += pkts.iter().map(|p| p.len() as u64).sum::<u64>();
    }
}

/// One queue's (or NIC's) running totals, published after every batch for
/// the stats printer (plain stores: one writer each).
#[derive(Default)]
pub(super) struct Live {
    pub(super) rx_frames: AtomicU64,
    pub(super) rx_bytes: AtomicU64,
    pub(super) tx_frames: AtomicU64,
    pub(super) tx_bytes: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) ring_full: AtomicU64,
}

impl Live {
    /// `dropped`: by the command plus by the ring; `ring_full`: the queue's count.
    pub(super) fn publish(&self, rx: &Tally, tx: &Tally, dropped: u64, ring_full: u64) {
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
pub(super) struct Snapshot {
    pub(super) rx: Tally,
    pub(super) tx: Tally,
    pub(super) dropped: u64,
    pub(super) ring_full: u64,
}

pub(super) fn snapshot(live: &[Live]) -> Snapshot {
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
pub(super) fn stats_printer(
    what: &str,
    period: Duration,
    live: &[Live],
    done: &AtomicBool,
    out: Out,
) {
    let start = Instant::now();
    let (mut last, mut last_t) = (Snapshot::default(), start);
    let frames_of = |l: &Live| (l.rx_frames.load(Relaxed), l.tx_frames.load(Relaxed));
    let mut last_queues: Vec<(u64, u64)> = vec![(0, 0); live.len()];
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
        // Per queue, when there are several: where the frames went.
        let queues: Vec<(f64, f64)> = live
            .iter()
            .zip(&mut last_queues)
            .map(|(l, last)| {
                let (rx, tx) = frames_of(l);
                let rates = (rate(rx, last.0), rate(tx, last.1));
                *last = (rx, tx);
                rates
            })
            .collect();
        let per_queue = if queues.len() > 1 {
            let each: Vec<String> = queues
                .iter()
                .enumerate()
                .map(|(q, (rx, tx))| format!("q{q} {rx:.0}/{tx:.0}"))
                .collect();
            format!(", rx/tx fps per queue: {}", each.join(" "))
        } else {
            String::new()
        };
        out.say(&format!(
            "{what}: stats {elapsed:.1} s: rx {rx_fps:.0} fps {rx_mbps:.1} Mbit/s, tx {tx_fps:.0} fps {tx_mbps:.1} Mbit/s, drops {drops}, ring-full {ring_full}{per_queue}"
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
            "queues": queues.iter().enumerate().map(|(q, (rx, tx))| json!({
                "queue": q, "rx_fps": rx, "tx_fps": tx,
            })).collect::<Vec<_>>(),
        }));
        (last, last_t) = (s, now);
        next += period;
        if next < now {
            next = now + period;
        }
    }
}

/// Runs `body` with a stats printer beside it when `--stats-period` is set.
pub(super) fn with_stats<T>(
    common: &Common,
    what: &str,
    live: &[Live],
    body: impl FnOnce() -> T,
) -> T {
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
pub(super) struct RunTotals<'a> {
    pub(super) rx: Tally,
    pub(super) tx: Tally,
    pub(super) tx_dropped: u64,
    /// Per queue (rx, tx), when there are several.
    pub(super) queues: &'a [(Tally, Tally)],
    /// Extra fields for the JSON summary.
    pub(super) extra: serde_json::Value,
}

/// Prints the end-of-run summary: our counts, register accesses per frame,
/// then the NIC's counters (the human lines keep their wording: the bench
/// reads them), and the JSON summary.
pub(super) fn report(what: &str, nic: &mut Nic, since: (u64, u64), t: &RunTotals, out: Out) {
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
    if s.pf_resets > 0 {
        out.say(&format!(
            "{what}: the physical function reset the device {} time(s); the queues were armed again (frames in flight then lost)",
            s.pf_resets
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
