//! `e1000 dump`: received frames as tcpdump-style lines or a pcap stream.

use super::*;

/// `e1000 dump`: one timestamped line per frame (tcpdump style, `-x` adds
/// a hex dump), or a pcap file / stream with no per-frame lines.
pub fn dump(args: &DumpArgs) -> Result<(), CliError> {
    let to_stdout = args.write.as_deref() == Some("-");
    let common = Common::new(&args.traffic, to_stdout, RING)?;
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
