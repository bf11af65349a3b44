//! `e1000 dump`: received frames as tcpdump-style lines or a pcap stream.

use super::filter::Filter;
use super::pcap::{self, Pcap};
use super::*;

/// `e1000 dump`: one timestamped line per frame (tcpdump style, `-x` adds
/// a hex dump), or a pcap file / stream with no per-frame lines. With
/// `--ptp`, PTP messages of that type carry the NIC's own receive time.
pub fn dump(args: &DumpArgs) -> Result<(), CliError> {
    let filter = Filter::parse(args.filter_words())
        .map_err(|e| CliError::Usage(format!("the filter: {e}")))?;
    if let Some(path) = &args.read {
        return read_back(args, path, &filter);
    }
    let pci = args.pci().ok_or_else(|| {
        CliError::Usage("dump needs a PCI address (or -i PCI, or -r FILE)".into())
    })?;
    let to_stdout = args.write.as_deref() == Some("-");
    let mut common = Common::new(&args.traffic, to_stdout, RING)?;
    common.config.timestamps = args.ptp;
    let out = common.out;
    let mut pcap = args.write.as_deref().map(Pcap::create).transpose()?;
    let mut nic = common.open("dump", pci)?;
    pin_thread(&[&nic.queue(0)?], &common, "dump");
    let since = mmio_counts(&nic);
    let (mut rx, mut pkts) = (Tally::default(), Vec::with_capacity(BATCH));
    let mut hw_times = Vec::with_capacity(BATCH);
    let mut shown = 0u64;
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
            hardware_times(&nic, &pkts, &mut hw_times)?;
            let mut views = Vec::with_capacity(n);
            for (i, (p, hw)) in pkts.iter().zip(&hw_times).enumerate() {
                // Each frame its own time: the batch was read at once, but
                // the host clock is read per frame, as tcpdump stamps.
                let time =
                    hw.map_or_else(SystemTime::now, |ns| UNIX_EPOCH + Duration::from_nanos(ns));
                if filter.matches(p, p.vlan_tag().is_some()) {
                    views.push(Shown {
                        n: rx.frames + 1 + i as u64,
                        time,
                        bytes: p,
                        vlan: p.vlan_tag(),
                        ip: p.ip_checksum(),
                        l4: p.l4_checksum(),
                        hw: *hw,
                    });
                }
            }
            shown += views.len() as u64;
            // A reader that went away (`| head`) ends the capture, as it ends tcpdump.
            let mut reader_gone = false;
            if let Some(pcap) = &mut pcap {
                for v in &views {
                    match v.vlan {
                        Some(tci) => pcap.write(&with_tag(v.bytes, tci), v.time)?,
                        None => pcap.write(v.bytes, v.time)?,
                    }
                }
                pcap.flush()?;
                reader_gone = pcap.closed;
            }
            if print_frames {
                reader_gone |= !print_frames_text(&views, args.hex, out);
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
        extra: json!({ "shown": shown }),
    };
    report("dump", &mut nic, since, &totals, out);
    Ok(())
}

/// `dump -r FILE`: the frames of a pcap file, printed (or written again
/// with `-w`) as a live capture would be, through the same filter.
fn read_back(args: &DumpArgs, path: &str, filter: &Filter) -> Result<(), CliError> {
    let out = Out::new(args.traffic.json, args.write.as_deref() == Some("-"));
    let records = pcap::read_file(path)?;
    let limit = args.traffic.count.unwrap_or(u64::MAX);
    let views: Vec<Shown> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| filter.matches(&r.frame, false))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(i, r)| Shown {
            n: i as u64 + 1,
            time: r.time,
            bytes: &r.frame,
            vlan: None,
            ip: ChecksumStatus::NotChecked,
            l4: ChecksumStatus::NotChecked,
            hw: None,
        })
        .collect();
    match args.write.as_deref() {
        Some(target) => {
            let mut pcap = Pcap::create(target)?;
            for v in &views {
                pcap.write(v.bytes, v.time)?;
            }
            pcap.flush()?;
        }
        None if !args.traffic.quiet => {
            print_frames_text(&views, args.hex, out);
        }
        None => {}
    }
    out.say(&format!(
        "dump: {} of {} frames of {path} shown",
        views.len(),
        records.len()
    ));
    out.json(&json!({
        "type": "summary",
        "command": "dump",
        "file": path,
        "frames": records.len(),
        "shown": views.len(),
    }));
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

/// A frame to show: its number in the capture, when it arrived, its bytes
/// and what the NIC said of it (tag stripped, checksum verdicts, its own
/// receive time where it latched one).
struct Shown<'a> {
    n: u64,
    time: SystemTime,
    bytes: &'a [u8],
    vlan: Option<u16>,
    ip: ChecksumStatus,
    l4: ChecksumStatus,
    hw: Option<u64>,
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

/// The text (or JSON) lines of `frames`. Returns false once stdout is a
/// closed pipe.
fn print_frames_text(frames: &[Shown], hex: bool, out: Out) -> bool {
    if out.json_mode() {
        for f in frames {
            let mut v = json!({
                "type": "frame",
                "n": f.n,
                "time": clock(f.time),
                "len": f.bytes.len(),
                "summary": summary(f.bytes),
                "vlan": f.vlan.map(|t| t & 0xFFF),
                "vlan_pcp": f.vlan.map(|t| t >> 13),
                "ip_checksum": checksum_word(f.ip),
                "l4_checksum": checksum_word(f.l4),
                "hw_time_ns": f.hw,
            });
            if hex {
                v["hex"] = json!(f
                    .bytes
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>());
            }
            out.json(&v);
        }
        return true;
    }
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let mut text = String::new();
    for f in frames {
        let _ = writeln!(
            text,
            "{} #{} {}{}{}{}",
            clock(f.time),
            f.n,
            vlan_prefix(f.vlan),
            summary(f.bytes),
            checksum_suffix(f.ip, f.l4),
            hw_time_suffix(f.hw)
        );
        if hex {
            for (row, chunk) in f.bytes.chunks(16).enumerate() {
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
fn vlan_prefix(tag: Option<u16>) -> String {
    tag.map(|t| format!("vlan {}, p {}, ", t & 0xFFF, t >> 13))
        .unwrap_or_default()
}

/// The NIC's checksum verdicts, where it checked: ` [hw cksum ip good, l4 bad]`.
fn checksum_suffix(ip: ChecksumStatus, l4: ChecksumStatus) -> String {
    let parts: Vec<String> = [("ip", ip), ("l4", l4)]
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
