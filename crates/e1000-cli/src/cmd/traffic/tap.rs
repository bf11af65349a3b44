//! `e1000 tap`: the kernel exception path. A TAP interface with the NIC's
//! MAC address and MTU carries every frame both ways between the kernel's
//! own network stack and the NIC, so that ordinary programs (ping, ssh, a
//! DNS server) use a NIC this driver holds.
//!
//! Every frame crosses the TAP behind a virtio-net header
//! ([`crate::vnet`]): the kernel hands over frames whose checksums are
//! still to fill in and TCP frames of up to 64 KiB still to cut into
//! segments, which the NIC's offloads finish (in software where the NIC
//! lacks one: the kernel is told only of those it has); a received frame
//! whose checksums the NIC verified goes up marked so, and the kernel
//! checks the others itself.
//!
//! With `--queues N` the TAP has N queues and each NIC queue pair its own,
//! one thread each: RSS spreads the received flows over the NIC's queues,
//! and the kernel sends each flow back through the TAP queue it came in on.

use super::*;
use crate::tun::{Tap, TapQueue};
use crate::vnet;
use e1000_cli::cli::TapArgs;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::AsFd;
use vfio_e1000::{Capabilities, ChecksumStatus, MAX_PACKETS_PER_FRAME};

/// The offloads the kernel may leave to us (`TUNSETOFFLOAD`): checksums if
/// the NIC fills them in over IPv4 and IPv6, and TCP segmentation where
/// it has it.
fn tun_offloads(caps: Capabilities) -> libc::c_uint {
    let mut flags = 0;
    if caps.tx_checksums_ipv4 && caps.tx_checksums_ipv6 {
        flags |= libc::TUN_F_CSUM;
        if caps.tso_ipv4 {
            flags |= libc::TUN_F_TSO4;
        }
        if caps.tso_ipv6 {
            flags |= libc::TUN_F_TSO6;
        }
    }
    flags
}

/// Reads the kernel's frames into `spare` pool buffers, moving each
/// frame's packets (several for a segmentation frame) to `out`, until `out`
/// holds `max` packets, the kernel has none, or the pool is empty; returns
/// the frames to be segmented by the NIC and those dropped (asking for what
/// we cannot do).
fn read_frames(
    tap: &TapQueue,
    queue: &Queue,
    spare: &mut Vec<Packet>,
    out: &mut Vec<Packet>,
    max: usize,
) -> Result<(u64, u64), CliError> {
    let capacity = queue.buffer_size();
    // Enough buffers for the longest frame: a 64 KiB IP datagram and an
    // Ethernet header with a tag.
    let per_frame = (65535 + 18usize)
        .div_ceil(capacity)
        .min(MAX_PACKETS_PER_FRAME);
    let (mut segmented, mut dropped) = (0, 0);
    while out.len() < max {
        if spare.len() < per_frame {
            queue.alloc_batch(per_frame - spare.len(), capacity, spare);
            if spare.is_empty() {
                break;
            }
        }
        let mut header = [0u8; vnet::SIZE];
        let read = {
            let mut slices: Vec<IoSliceMut<'_>> = Vec::with_capacity(spare.len() + 1);
            slices.push(IoSliceMut::new(&mut header));
            for p in spare.iter_mut() {
                p.set_len(capacity);
                slices.push(IoSliceMut::new(&mut p[..]));
            }
            tap.read_vectored(&mut slices)
                .map_err(|e| CliError::Failed(format!("reading from the TAP: {e}")))?
        };
        let Some(read) = read else { break };
        let len = read.saturating_sub(vnet::SIZE);
        if len == 0 {
            continue;
        }
        let parts = len.div_ceil(capacity);
        let mut frame: Vec<Packet> = spare.drain(..parts).collect();
        for (i, p) in frame.iter_mut().enumerate() {
            p.set_len((len - i * capacity).min(capacity));
            p.set_continues(i + 1 < parts);
        }
        let header = vnet::Header::from_bytes(&header);
        if prepare(&mut frame, &header) {
            segmented += u64::from(header.tcp_segmentation().is_some());
            out.append(&mut frame);
        } else {
            dropped += 1;
        }
    }
    Ok((segmented, dropped))
}

/// Asks the NIC for what the kernel's `header` leaves to do to `frame`:
/// segmentation, or a checksum (filled in here if the NIC cannot). False
/// if it cannot be done.
fn prepare(frame: &mut [Packet], header: &vnet::Header) -> bool {
    let parts = frame.len();
    let first = &mut frame[0];
    if let Some(mss) = header.tcp_segmentation() {
        return first.offload_segmentation(mss);
    }
    if header.other_segmentation() || parts > 1 {
        return false; // not offered to the kernel; longer than the MTU
    }
    header.flags & vnet::NEEDS_CSUM == 0
        || first.offload_checksums()
        || vnet::finish_checksum(first, header)
}

/// The virtio-net header for a received packet: checksums verified if the
/// NIC found them right.
fn rx_header(p: &Packet) -> [u8; vnet::SIZE] {
    let valid = p.l4_checksum() == ChecksumStatus::Good && p.ip_checksum() != ChecksumStatus::Bad;
    vnet::Header {
        flags: if valid { vnet::DATA_VALID } else { 0 },
        ..vnet::Header::default()
    }
    .to_bytes()
}

/// What one queue pair moved.
#[derive(Default)]
struct QueueTotals {
    rx: Tally,
    tx: Tally,
    /// Frames the TAP or the TX ring had no room for.
    dropped: u64,
    /// Frames the NIC cut into segments.
    segmented: u64,
    /// Frames the kernel asked for what we cannot do.
    refused: u64,
}

/// `e1000 tap`: creates the interface, then moves frames until the run
/// ends; the interface goes with the process, however it ends.
pub fn tap(args: &TapArgs) -> Result<(), CliError> {
    let mut common = Common::new(&args.traffic, false, STREAM_RX_RING)?;
    common.config.queues = args.queues;
    let out = common.out;
    let tap = Tap::create(&args.name, true, args.queues.into()).map_err(|e| {
        CliError::Failed(format!(
            "cannot create TAP interface {}: {e} (it needs root or CAP_NET_ADMIN, and /dev/net/tun: modprobe tun)",
            args.name
        ))
    })?;
    let mut nic = common.open("tap", &args.pci)?;
    let setup = |what: &str, r: std::io::Result<()>| {
        r.map_err(|e| CliError::Failed(format!("setting the {what} of {}: {e}", tap.name())))
    };
    setup(
        "offloads",
        tap.set_offload(tun_offloads(nic.capabilities())),
    )?;
    setup("MAC address", tap.set_mac(nic.mac()))?;
    setup("MTU", tap.set_mtu(nic.mtu()))?;
    setup("carrier", tap.set_carrier(true))?;
    setup("state (up)", tap.set_up())?;
    out.say(&format!(
        "tap: interface {} is up, mac {}, mtu {}, {} queue{}: give it an address (ip addr add ADDR/PREFIX dev {})",
        tap.name(),
        mac_str(&nic.mac()),
        nic.mtu(),
        args.queues,
        if args.queues == 1 { "" } else { "s" },
        tap.name()
    ));
    let since = mmio_counts(&nic);
    let budget = Budget::new(common.count);
    let live: Vec<Live> = (0..nic.queues()).map(|_| Live::default()).collect();
    let (common, budget, live, tap) = (&common, &budget, &live[..], &tap);
    // One thread per queue pair, each with its TAP queue.
    let per_queue: Vec<Result<QueueTotals, CliError>> = with_stats(common, "tap", live, || {
        per_queue_threads(&mut nic, budget, live, |i, queue, live| {
            tap_queue_loop(queue, tap, &tap.queues()[i], common, budget, live)
        })
    });
    let mut all = QueueTotals::default();
    let mut queues = Vec::new();
    let several = per_queue.len() > 1;
    for (q, result) in per_queue.into_iter().enumerate() {
        let t = result?;
        if several {
            out.say(&format!(
                "tap: queue {q}: rx {} frames {} bytes, tx {} frames",
                t.rx.frames, t.rx.bytes, t.tx.frames
            ));
            queues.push((t.rx, t.tx));
        }
        all.rx.frames += t.rx.frames;
        all.rx.bytes += t.rx.bytes;
        all.tx.frames += t.tx.frames;
        all.tx.bytes += t.tx.bytes;
        all.dropped += t.dropped;
        all.segmented += t.segmented;
        all.refused += t.refused;
    }
    let totals = RunTotals {
        rx: all.rx,
        tx: all.tx,
        tx_dropped: all.dropped,
        queues: &queues,
        extra: json!({
            "interface": tap.name(),
            "tx_segmented": all.segmented,
            "tx_refused": all.refused,
        }),
    };
    nic.tx_flush(Duration::from_secs(2));
    report("tap", &mut nic, since, &totals, out);
    Ok(())
}

/// One queue pair's loop: NIC queue `queue` and TAP queue `tap_queue` of
/// `tap`, until the run ends.
fn tap_queue_loop(
    queue: Queue,
    tap: &Tap,
    tap_queue: &TapQueue,
    common: &Common,
    budget: &Budget,
    live: &Live,
) -> Result<QueueTotals, CliError> {
    pin_thread(&[&queue], common, "tap");
    let mut t = QueueTotals::default();
    let mut queues = [queue];
    // One sleep on the queue's interrupt and the TAP queue's descriptor.
    let mut poller = Poller::new(&queues)?;
    poller.watch_fd(tap_queue.as_fd())?;
    let mut wakes = [Wakeup::default()];
    let mut link = LinkReport::from(queues[0].link());
    let (mut inbound, mut outbound) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    let mut spare = Vec::new();
    while !common.finished(budget) {
        poller.wait(&mut queues, Duration::from_millis(100), &mut wakes)?;
        let queue = &mut queues[0];
        if wakes[0].link_changed {
            let now = queue.link()?;
            link.report("tap", now);
            let _ = tap.set_carrier(now.up);
        }
        // NIC to kernel: one write per frame; a full TAP queue drops.
        let want = budget.take(BATCH);
        let n = queue.rx_batch(&mut inbound, want);
        budget.settle(want, n);
        t.rx.add(&inbound);
        for p in inbound.drain(..) {
            let header = rx_header(&p);
            let written = tap_queue
                .write_vectored(&[IoSlice::new(&header), IoSlice::new(&p)])
                .map_err(|e| CliError::Failed(format!("writing to {}: {e}", tap.name())))?;
            if !written {
                t.dropped += 1;
            }
        }
        // Kernel to NIC: read straight into pool buffers; frames the TX
        // ring has no room for wait for the next round, and nothing more is
        // read meanwhile (the TAP's own queue holds it).
        if outbound.is_empty() {
            let (cut, refused) = read_frames(tap_queue, queue, &mut spare, &mut outbound, BATCH)?;
            t.segmented += cut;
            t.refused += refused;
        }
        if !outbound.is_empty() {
            send_some(queue, &mut outbound, &mut t.tx);
        }
        live.publish(&t.rx, &t.tx, t.dropped + queue.dropped(), queue.ring_full());
    }
    t.dropped += outbound.len() as u64;
    Ok(t)
}
