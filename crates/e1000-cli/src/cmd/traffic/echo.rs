//! `e1000 echo`: every frame back to its sender, one thread per queue.

use super::*;

/// `e1000 echo`: every frame goes back with dst := its src, src := our MAC.
pub fn echo(args: &EchoArgs) -> Result<(), CliError> {
    let mut common = Common::new(&args.traffic, false, RING)?;
    common.config.queues = args.queues;
    if args.header_split {
        let config = &mut common.config;
        config.header_split = true;
        // Two buffers per RX descriptor.
        if args.traffic.pool.is_none() {
            config.pool_size = config
                .pool_size
                .max(2 * (2 * config.rx_ring + config.tx_ring));
        }
    }
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
            per_queue_threads(&mut nic, budget, live, |_, queue, live| {
                echo_queue(queue, common, budget, mac, live)
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
    // Frames whose headers the NIC put in a buffer of their own.
    let split: u64 = (0..nic.queues())
        .filter_map(|q| nic.queue(q).ok().map(|queue| queue.rx_split()))
        .sum();
    if args.header_split {
        out.say(&format!("echo: header split: {split} frames"));
    }
    let totals = RunTotals {
        rx,
        tx,
        tx_dropped: dropped,
        queues: &queues,
        extra: json!({ "rx_split": split }),
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
    pin_thread(&[&queue], common, "echo");
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
            if queue.rx_batch(&mut pkts, want) == 0 {
                budget.settle(want, 0);
                break;
            }
            rx.add(&pkts);
            let before = frames_in(&pkts);
            budget.settle(want, before);
            // The echo rule, on the first packet of each frame (the only
            // one with header split, which puts the headers there); a frame
            // too short for an Ethernet header cannot be echoed.
            let mut first = true;
            let mut keep = true;
            pkts.retain_mut(|p| {
                if first {
                    keep = e1000_wire::echo_in_place(p, mac);
                }
                first = !p.continues();
                keep
            });
            dropped += (before - frames_in(&pkts)) as u64;
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
