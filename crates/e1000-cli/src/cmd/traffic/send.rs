//! `e1000 send`: UDP, TCP or SCTP frames over IPv4 or IPv6 carrying a
//! sequence number, optionally checksummed or segmented by the NIC.

use super::pcap;
use super::*;
use crate::frame::Template;
use e1000_cli::cli::WIRE_OVERHEAD;
use e1000_wire::ip::{Headers, Network, Transport, TCP_PSH_ACK};
use e1000_wire::MIN_FRAME;
use std::ops::Range;

/// The verification tag of `--sctp` packets (any nonzero value: no
/// association is set up).
const SCTP_TAG: u32 = 0x0E10_0001;

/// What the NIC is asked to do to every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offload {
    /// Nothing: checksums, where the transport needs one, in software.
    None,
    /// Fill in the checksums.
    Checksums,
    /// Cut into TCP segments of this many payload bytes.
    Segmentation(u16),
}

/// The headers `args` ask for, from `src_mac`.
fn headers(args: &SendArgs, src_mac: [u8; 6]) -> Headers {
    let (src, dst) = (args.src_ip.octets(), args.dst_ip.octets());
    let embed = |v4: [u8; 4]| {
        let mut v6 = [0u8; 16];
        v6[0] = 0xfd;
        v6[12..].copy_from_slice(&v4);
        v6
    };
    let network = if args.ipv6 {
        Network::V6 {
            src: embed(src),
            dst: embed(dst),
        }
    } else {
        Network::V4 { src, dst, ident: 0 }
    };
    let transport = if args.tcp || args.tso.is_some() {
        Transport::Tcp {
            seq: 1,
            flags: TCP_PSH_ACK,
        }
    } else if args.sctp {
        Transport::Sctp { tag: SCTP_TAG }
    } else {
        Transport::Udp
    };
    Headers {
        dst_mac: args.dst_mac,
        src_mac,
        network,
        transport,
        src_port: args.src_port,
        dst_port: args.dst_port,
    }
}

/// Checks `--size` and `--tso` against the MTU and the NIC; returns the
/// offload to ask for.
fn offload(
    args: &SendArgs,
    size: usize,
    nic: &Nic,
    headers: &Headers,
) -> Result<Offload, CliError> {
    let largest = usize::from(args.traffic.mtu) + 14;
    if size < headers.len() + 8 {
        return Err(CliError::Usage(format!(
            "--size {size} leaves no room for the {} bytes of headers and the sequence number",
            headers.len()
        )));
    }
    let Some(mss) = args.tso else {
        if size > largest {
            return Err(CliError::Usage(format!(
                "--size {size} is over what --mtu {} allows ({largest} bytes): raise --mtu, or cut frames with --tso",
                args.traffic.mtu
            )));
        }
        if args.offload && args.sctp && !nic.capabilities().tx_sctp_crc {
            return Err(CliError::Usage(format!(
                "--sctp --offload: the {} cannot compute SCTP's CRC (see `e1000 info`); drop --offload to compute it in software",
                nic.model()
            )));
        }
        return Ok(if args.offload {
            Offload::Checksums
        } else {
            Offload::None
        });
    };
    if headers.len() + usize::from(mss) > largest {
        return Err(CliError::Usage(format!(
            "--tso {mss}: segments of {} bytes are over what --mtu {} allows ({largest} bytes)",
            headers.len() + usize::from(mss),
            args.traffic.mtu
        )));
    }
    let caps = nic.capabilities();
    if !(if args.ipv6 {
        caps.tso_ipv6
    } else {
        caps.tso_ipv4
    }) {
        return Err(CliError::Usage(format!(
            "--tso: the {} cannot segment TCP over {} (see `e1000 info`)",
            nic.model(),
            if args.ipv6 { "IPv6" } else { "IPv4" }
        )));
    }
    Ok(Offload::Segmentation(mss))
}

/// What `send` puts into each frame's buffers.
enum Frames {
    /// Generated frames: one template per size, sizes in turn. Only a
    /// single size may take several buffers per frame (`parts`).
    Generated {
        templates: Vec<Template>,
        parts: Vec<Range<usize>>,
        /// Every free buffer already holds the (single) template.
        prebuilt: bool,
        software_l4: bool,
        offload: Offload,
        flows: u64,
        src_port: u16,
    },
    /// The frames of a capture, in turn, as they are.
    Replayed(Vec<Vec<u8>>),
}

impl Frames {
    /// Buffers per frame.
    fn per_frame(&self) -> usize {
        match self {
            Frames::Generated { parts, .. } => parts.len(),
            Frames::Replayed(_) => 1,
        }
    }

    /// Bytes of frame `seq` (without FCS or tag).
    fn len_of(&self, seq: u64) -> usize {
        match self {
            Frames::Generated { templates, .. } => templates
                [(seq % templates.len() as u64) as usize]
                .bytes()
                .len(),
            Frames::Replayed(all) => all[(seq % all.len() as u64) as usize].len(),
        }
    }

    /// Bytes of the largest frame.
    fn largest(&self) -> usize {
        match self {
            Frames::Generated { templates, .. } => templates.iter().map(|t| t.bytes().len()).max(),
            Frames::Replayed(all) => all.iter().map(Vec::len).max(),
        }
        .unwrap_or(0)
    }

    /// Mean bytes per frame, for a bit rate.
    fn mean_len(&self) -> f64 {
        let lens: Vec<usize> = match self {
            Frames::Generated { templates, .. } => {
                templates.iter().map(|t| t.bytes().len()).collect()
            }
            Frames::Replayed(all) => all.iter().map(Vec::len).collect(),
        };
        lens.iter().sum::<usize>() as f64 / lens.len().max(1) as f64
    }

    /// Fills `frame` (its buffers) as frame `seq` and asks the NIC's
    /// offload, if any.
    fn fill(&self, seq: u64, frame: &mut [Packet]) {
        match self {
            Frames::Generated {
                templates,
                parts,
                prebuilt,
                software_l4,
                offload,
                flows,
                src_port,
            } => {
                let template = &templates[(seq % templates.len() as u64) as usize];
                let size = template.bytes().len();
                for (p, range) in frame.iter_mut().zip(parts) {
                    let range = if parts.len() == 1 {
                        0..size
                    } else {
                        range.clone()
                    };
                    p.set_len(range.len());
                    if !prebuilt {
                        p.copy_from_slice(&template.bytes()[range.clone()]);
                    }
                    p.set_continues(range.end < size);
                }
                let first = &mut frame[0];
                let port = src_port.wrapping_add((seq % flows) as u16);
                template.stamp(first, seq, port, *software_l4);
                match offload {
                    Offload::None => true,
                    Offload::Checksums => first.offload_checksums(),
                    Offload::Segmentation(mss) => first.offload_segmentation(*mss),
                };
            }
            Frames::Replayed(all) => {
                let bytes = &all[(seq % all.len() as u64) as usize];
                frame[0].set_len(bytes.len());
                frame[0].copy_from_slice(bytes);
                frame[0].set_continues(false);
            }
        }
    }

    /// Segments on the wire for `frames` frames.
    fn segments(&self, frames: u64) -> u64 {
        match self {
            Frames::Generated {
                templates,
                offload: Offload::Segmentation(mss),
                ..
            } => frames * templates[0].payload_len().div_ceil(usize::from(*mss)) as u64,
            _ => frames,
        }
    }
}

/// The generated frames `args` ask for, checked against the NIC.
fn generated(args: &SendArgs, nic: &mut Nic) -> Result<Frames, CliError> {
    let headers = headers(args, nic.mac());
    let sizes: Vec<usize> = if args.size.is_empty() {
        vec![MIN_FRAME.max(headers.len() + 8)]
    } else {
        args.size.iter().map(|&s| usize::from(s)).collect()
    };
    let mut offloads = sizes.iter().map(|&size| offload(args, size, nic, &headers));
    let offload = offloads.next().expect("one size at least")?;
    offloads.try_for_each(|o| o.map(drop))?;
    // A frame longer than a buffer goes in several packets (one
    // descriptor each), the headers in the first.
    let capacity = nic.queue(0)?.buffer_size();
    let parts: Vec<Range<usize>> = (0..sizes[0])
        .step_by(capacity)
        .map(|at| at..(at + capacity).min(sizes[0]))
        .collect();
    if sizes.len() > 1 {
        if args.tso.is_some() {
            return Err(CliError::Usage("--tso takes one --size".into()));
        }
        if let Some(big) = sizes.iter().find(|&&s| s > capacity) {
            return Err(CliError::Usage(format!(
                "--size {big}: a size list takes sizes of at most {capacity} bytes (one buffer each)"
            )));
        }
    }
    let payload: &[u8] = match &args.payload {
        Payload::Counter => &[],
        Payload::Repeat(bytes) => bytes,
    };
    let templates: Vec<Template> = sizes
        .iter()
        .map(|&size| Template::new(headers, size, payload))
        .collect();
    let software_l4 = offload == Offload::None && templates[0].needs_l4_checksum();
    // Frames built once, as testpmd's txonly does: every free buffer gets
    // the template now, and a buffer the NIC has sent comes back to the pool
    // still holding its frame, so only the sequence number (and source
    // port) change per frame, with no copy of the rest. Not when the driver
    // inserts a tag into the bytes (the frame moves in its buffer), nor for
    // several sizes, nor for a frame in several buffers.
    let tagged = args.vlan.is_some() && !args.traffic.vlan_strip;
    let prebuilt = !tagged && templates.len() == 1 && parts.len() == 1;
    if prebuilt {
        let mut all = Vec::new();
        nic.alloc_batch(usize::MAX, sizes[0], &mut all);
        for p in &mut all {
            p.copy_from_slice(templates[0].bytes());
        }
    }
    Ok(Frames::Generated {
        templates,
        parts,
        prebuilt,
        software_l4,
        offload,
        flows: u64::from(args.flows),
        src_port: args.src_port,
    })
}

/// The frames of the capture at `path`, checked against the NIC.
fn replayed(args: &SendArgs, path: &str, nic: &mut Nic) -> Result<Frames, CliError> {
    let records = pcap::read_file(path)?;
    if records.is_empty() {
        return Err(CliError::Failed(format!("{path} holds no frame")));
    }
    let capacity = nic.queue(0)?.buffer_size();
    let largest = (usize::from(args.traffic.mtu) + 14).min(capacity);
    for (i, r) in records.iter().enumerate() {
        if r.frame.len() < 14 || r.frame.len() > largest {
            return Err(CliError::Failed(format!(
                "{path}: frame {} is {} bytes; this NIC sends 14 to {largest} (raise --mtu for jumbo frames)",
                i + 1,
                r.frame.len()
            )));
        }
    }
    Ok(Frames::Replayed(
        records.into_iter().map(|r| r.frame).collect(),
    ))
}

/// `e1000 send`: generated frames with sequence numbers (sizes in turn,
/// optionally offloaded, spread over `--flows` source ports) or a
/// capture's frames, paced by `--rate` in bursts of `--burst`.
pub fn send(args: &SendArgs) -> Result<(), CliError> {
    let mut common = Common::new(&args.traffic, false, RING)?;
    let out = common.out;
    let mut nic = common.open("send", &args.pci)?;
    let frames = match &args.pcap {
        Some(path) => {
            let frames = replayed(args, path, &mut nic)?;
            if let Frames::Replayed(all) = &frames {
                common.count = common.count.or(Some(all.len() as u64));
            }
            frames
        }
        None => generated(args, &mut nic)?,
    };
    pin_thread(&[&nic.queue(0)?], &common, "send");
    let since = mmio_counts(&nic);
    let tci = args.vlan.map(|id| args.vlan_prio << 13 | id);
    let tag_bytes = if tci.is_some() { 4 } else { 0 };
    let fps = args
        .rate
        .frames_per_second(frames.mean_len() + tag_bytes as f64);
    let burst = args.burst.map(usize::from);
    let per_frame = frames.per_frame();
    let buffer = nic.queue(0)?.buffer_size().min(frames.largest());
    let (mut tx, mut pkts) = (Tally::default(), Vec::with_capacity(BATCH));
    let start = Instant::now();
    let budget = Budget::new(common.count);
    let live = [Live::default()];
    with_stats(&common, "send", &live, || {
        while !common.finished(&budget) {
            let mut want = burst.unwrap_or(BATCH).div_ceil(per_frame);
            if fps > 0.0 {
                let due = (start.elapsed().as_secs_f64() * fps) as u64 + 1;
                let allowed = due.saturating_sub(tx.frames) as usize;
                // With --burst, whole bursts only (the last may be short).
                let enough = match burst {
                    Some(b) => allowed >= b.min(budget.left().unwrap_or(usize::MAX)),
                    None => allowed > 0,
                };
                if !enough {
                    std::thread::sleep(Duration::from_micros(50));
                    continue;
                }
                want = want.min(allowed);
            }
            let want = budget.take(want);
            nic.alloc_batch(want * per_frame, buffer, &mut pkts);
            pkts.truncate(pkts.len() - pkts.len() % per_frame);
            if pkts.is_empty() {
                budget.settle(want, 0);
                nic.tx_flush(Duration::from_millis(1)); // reclaim, then retry
                continue;
            }
            for (k, frame) in pkts.chunks_mut(per_frame).enumerate() {
                frames.fill(tx.frames + k as u64, frame);
                frame[0].set_vlan_tag(tci);
            }
            let sent = nic.tx_batch(&mut pkts) / per_frame;
            tx.bytes += (0..sent as u64)
                .map(|k| (frames.len_of(tx.frames + k) + tag_bytes) as u64)
                .sum::<u64>();
            tx.frames += sent as u64;
            budget.settle(want, sent);
            pkts.clear(); // any that did not fit go back to the pool
            live[0].publish(&Tally::default(), &tx, 0, 0);
        }
    });
    let completed = nic.tx_flush(Duration::from_secs(5));
    let secs = start.elapsed().as_secs_f64();
    let segments = frames.segments(tx.frames);
    let cut = if segments == tx.frames {
        String::new()
    } else {
        format!(", cut into {segments} segments")
    };
    out.say(&format!(
        "send: {} frames in {secs:.3} s ({:.0} frames/s, {:.1} Mbit/s on the wire){cut}{}",
        tx.frames,
        tx.frames as f64 / secs,
        (tx.bytes + tx.frames * WIRE_OVERHEAD as u64) as f64 * 8.0 / secs / 1e6,
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
            "segments": segments,
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
