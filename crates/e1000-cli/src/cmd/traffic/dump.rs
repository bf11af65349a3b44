//! `e1000 dump`: received frames as tcpdump-style lines or a pcap stream.

use super::*;

/// `e1000 dump`: one timestamped line per frame (tcpdump style, `-x` adds
/// a hex dump), or a pcap file / stream with no per-frame lines. With
/// `--ptp`, PTP messages of that type carry the NIC's own receive time.
pub fn dump(args: &DumpArgs) -> Result<(), CliError> {
    let to_stdout = args.write.as_deref() == Some("-");
    let mut common = Common::new(&args.traffic, to_stdout, RING)?;
    common.config.timestamps = args.ptp;
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
    let mut hw_times = Vec::with_capacity(BATCH);
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
            hardware_times(&nic, &pkts, &mut hw_times)?;
            // A reader that went away (`| head`) ends the capture, as it ends tcpdump.
            let mut reader_gone = false;
            if let Some(pcap) = &mut pcap {
                for (p, hw) in pkts.iter().zip(&hw_times) {
                    let t = hw.map_or(now, |ns| UNIX_EPOCH + Duration::from_nanos(ns));
                    match p.vlan_tag() {
                        Some(tci) => pcap.write(&with_tag(p, tci), t)?,
                        None => pcap.write(p, t)?,
                    }
                }
                pcap.flush()?;
                reader_gone = pcap.closed;
            }
            if print_frames {
                let frames = Frames {
                    pkts: &pkts,
                    hw_times: &hw_times,
                    before: rx.frames,
                };
                reader_gone |= !print_frames_text(&frames, now, args.hex, out);
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

/// Sets `times` to the NIC's receive time of each of `pkts` that it
/// latched one for, in ns.
fn hardware_times(
    nic: &Nic,
    pkts: &[Packet],
    times: &mut Vec<Option<u64>>,
) -> Result<(), CliError> {
    let clock = nic.clock();
    times.clear();
    for p in pkts {
        times.push(match &clock {
            Some(c) if p.rx_timestamped() => c.rx_timestamp()?.map(|t| t.ns),
            _ => None,
        });
    }
    Ok(())
}

/// Received frames to print: the packets, the NIC's receive time of each
/// (where it latched one), and how many frames came before them.
struct Frames<'a> {
    pkts: &'a [Packet],
    hw_times: &'a [Option<u64>],
    before: u64,
}

/// ` [hw time S.NNNNNNNNN]`: the NIC's receive time, where it latched one.
fn hw_time_suffix(hw: Option<u64>) -> String {
    hw.map(|ns| {
        format!(
            " [hw time {}.{:09}]",
            ns / 1_000_000_000,
            ns % 1_000_000_000
        )
    })
    .unwrap_or_default()
}

/// The text lines of received `frames`. Returns false once stdout is a
/// closed pipe.
fn print_frames_text(frames: &Frames, now: SystemTime, hex: bool, out: Out) -> bool {
    let time = clock(now);
    let (pkts, before) = (frames.pkts, frames.before);
    if out.json_mode() {
        for (i, (p, hw)) in pkts.iter().zip(frames.hw_times).enumerate() {
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
                "hw_time_ns": hw,
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
    for (i, (p, hw)) in pkts.iter().zip(frames.hw_times).enumerate() {
        let _ = writeln!(
            text,
            "{time} #{} {}{}{}{}",
            before + 1 + i as u64,
            vlan_prefix(p),
            summary(p),
            checksum_suffix(p),
            hw_time_suffix(*hw)
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

/// The magic number of a classic pcap file whose timestamps count ns.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;

/// A pcap stream (classic format, nanosecond timestamps, Ethernet link
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
        header.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
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
        rec[4..8].copy_from_slice(&t.subsec_nanos().to_le_bytes());
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
