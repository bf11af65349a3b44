//! `e1000 send`: UDP, TCP or SCTP frames over IPv4 or IPv6 carrying a
//! sequence number, optionally checksummed or segmented by the NIC.

use super::*;
use crate::frame::Template;
use e1000_wire::ip::{Headers, Network, Transport, TCP_PSH_ACK};
use e1000_wire::MIN_FRAME;

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

/// `e1000 send`: frames with sequence numbers, optionally paced, spread
/// over `--flows` source ports.
pub fn send(args: &SendArgs) -> Result<(), CliError> {
    let common = Common::new(&args.traffic, false, RING)?;
    let out = common.out;
    let rate = args.rate;
    let mut nic = common.open("send", &args.pci)?;
    let headers = headers(args, nic.mac());
    let size = args
        .size
        .map_or(MIN_FRAME.max(headers.len() + 8), usize::from);
    let offload = offload(args, size, &nic, &headers)?;
    pin_queue_thread(&nic.queue(0)?, &common, "send");
    let since = mmio_counts(&nic);
    let payload: &[u8] = match &args.payload {
        Payload::Counter => &[],
        Payload::Repeat(bytes) => bytes,
    };
    let template = Template::new(headers, size, payload);
    let software_l4 = offload == Offload::None && template.needs_l4_checksum();
    let tci = args.vlan.map(|id| args.vlan_prio << 13 | id);
    // A frame longer than a buffer goes in several packets (one
    // descriptor each), the headers in the first.
    let capacity = nic.queue(0)?.buffer_size();
    let parts: Vec<std::ops::Range<usize>> = (0..size)
        .step_by(capacity)
        .map(|at| at..(at + capacity).min(size))
        .collect();
    let per_frame = parts.len();
    // Frames built once, as testpmd's txonly does: every free buffer gets
    // the template now, and a buffer the NIC has sent comes back to the pool
    // still holding its frame, so only the sequence number (and source
    // port) change per frame, with no copy of the rest. Not when the driver
    // inserts a tag into the bytes (the frame moves in its buffer), nor for
    // a frame in several buffers.
    let prebuilt = (tci.is_none() || common.config.vlan_strip) && per_frame == 1;
    if prebuilt {
        let mut all = Vec::new();
        nic.alloc_batch(usize::MAX, size, &mut all);
        for p in &mut all {
            p.copy_from_slice(template.bytes());
        }
    }
    let flows = u64::from(args.flows);
    let (mut tx, mut pkts) = (Tally::default(), Vec::with_capacity(BATCH));
    let start = Instant::now();
    let budget = Budget::new(common.count);
    let live = [Live::default()];
    with_stats(&common, "send", &live, || {
        while !common.finished(&budget) {
            let mut want = BATCH.div_ceil(per_frame);
            if rate > 0.0 {
                let allowed = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
                want = want.min(allowed.saturating_sub(tx.frames) as usize);
                if want == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                    continue;
                }
            }
            let want = budget.take(want);
            nic.alloc_batch(want * per_frame, capacity.min(size), &mut pkts);
            pkts.truncate(pkts.len() - pkts.len() % per_frame);
            if pkts.is_empty() {
                budget.settle(want, 0);
                nic.tx_flush(Duration::from_millis(1)); // reclaim, then retry
                continue;
            }
            for (k, frame) in pkts.chunks_mut(per_frame).enumerate() {
                let seq = tx.frames + k as u64;
                for (p, range) in frame.iter_mut().zip(&parts) {
                    p.set_len(range.len());
                    if !prebuilt {
                        p.copy_from_slice(&template.bytes()[range.clone()]);
                    }
                    p.set_continues(range.end < size);
                }
                let first = &mut frame[0];
                let port = args.src_port.wrapping_add((seq % flows) as u16);
                template.stamp(first, seq, port, software_l4);
                match offload {
                    Offload::None => true,
                    Offload::Checksums => first.offload_checksums(),
                    Offload::Segmentation(mss) => first.offload_segmentation(mss),
                };
                first.set_vlan_tag(tci);
            }
            let frames = nic.tx_batch(&mut pkts) / per_frame;
            tx.frames += frames as u64;
            tx.bytes += (frames * (size + if tci.is_some() { 4 } else { 0 })) as u64;
            budget.settle(want, frames);
            pkts.clear(); // any that did not fit go back to the pool
            live[0].publish(&Tally::default(), &tx, 0, 0);
        }
    });
    let completed = nic.tx_flush(Duration::from_secs(5));
    let secs = start.elapsed().as_secs_f64();
    let segments = match offload {
        Offload::Segmentation(mss) => {
            tx.frames * template.payload_len().div_ceil(usize::from(mss)) as u64
        }
        _ => tx.frames,
    };
    let cut = if segments == tx.frames {
        String::new()
    } else {
        format!(", cut into {segments} segments")
    };
    out.say(&format!(
        "send: {} frames in {secs:.3} s ({:.0} frames/s){cut}{}",
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
