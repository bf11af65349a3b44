//! `e1000 send`: IPv4/UDP frames carrying a sequence number.

use super::*;

/// `e1000 send`: IPv4/UDP frames with sequence numbers, optionally paced,
/// spread over `--flows` source ports.
pub fn send(args: &SendArgs) -> Result<(), CliError> {
    let common = Common::new(&args.traffic, false)?;
    let out = common.out;
    let size = usize::from(args.size);
    let largest = usize::from(args.traffic.mtu) + 14;
    if size > largest {
        return Err(CliError::Usage(format!(
            "--size {size} is over what --mtu {} allows ({largest} bytes): raise --mtu",
            args.traffic.mtu
        )));
    }
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
