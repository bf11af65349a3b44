//! `e1000 forward`: frames between two NICs, both ways, zero-copy.

use super::*;

/// `e1000 forward`: frames from each NIC go out of the other (addressed to
/// `--peer-a`/`--peer-b` from the sending NIC, if given); one thread, on
/// the CPU their interrupts land on, sleeps on both NICs' interrupts
/// ([`Poller`]), and a full TX ring holds frames back instead of dropping
/// them.
pub fn forward(args: &ForwardArgs) -> Result<(), CliError> {
    let common = Common::new(&args.traffic, false, STREAM_RX_RING)?;
    let out = common.out;
    let mut nics = [
        common.open("forward", &args.pci_a)?,
        common.open("forward", &args.pci_b)?,
    ];
    let since = [mmio_counts(&nics[0]), mmio_counts(&nics[1])];
    // Per NIC a frame leaves from: (destination, source) to write, if asked.
    let rewrite = [
        args.peer_a.map(|dst| (dst, nics[0].mac())),
        args.peer_b.map(|dst| (dst, nics[1].mac())),
    ];
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0);
    let budget = Budget::new(common.count);
    let live = [Live::default()];
    with_stats(&common, "forward", &live, || -> Result<(), CliError> {
        let [a, b] = &mut nics;
        let mut queues = [a.queue(0)?, b.queue(0)?];
        pin_thread(&[&queues[0], &queues[1]], &common, "forward");
        // One sleep on both NICs' interrupts (none in poll mode).
        let mut poller = Poller::new(&queues)?;
        let mut wakes = [Wakeup::default(); 2];
        // Frames from NIC `from` that the other NIC's TX ring has no room
        // for yet: kept for the next round, and nothing more is taken from
        // `from` meanwhile, so that its own RX ring, not this program, holds
        // (and at worst drops) what the other side cannot take yet.
        let mut pending: [Vec<Packet>; 2] = [Vec::with_capacity(BATCH), Vec::with_capacity(BATCH)];
        while !common.finished(&budget) {
            // With frames waiting for TX room, only look; else sleep.
            let waiting = pending.iter().any(|p| !p.is_empty());
            let timeout = if waiting {
                Duration::ZERO
            } else {
                Duration::from_millis(100)
            };
            poller.wait(&mut queues, timeout, &mut wakes)?;
            for from in 0..2 {
                if pending[from].is_empty() {
                    let want = budget.take(BATCH);
                    let n = queues[from].rx_batch(&mut pending[from], want);
                    budget.settle(want, n);
                    rx.add(&pending[from]);
                    if let Some((dst, src)) = rewrite[1 - from] {
                        for p in pending[from].iter_mut().filter(|p| p.len() >= 12) {
                            p[0..6].copy_from_slice(&dst);
                            p[6..12].copy_from_slice(&src);
                        }
                    }
                }
                if !pending[from].is_empty() {
                    send_some(&mut queues[1 - from], &mut pending[from], &mut tx);
                }
            }
            let ring: u64 = queues.iter().map(Queue::ring_full).sum();
            let ring_dropped: u64 = queues.iter().map(Queue::dropped).sum();
            live[0].publish(&rx, &tx, dropped + ring_dropped, ring);
        }
        // What still waits when the run ends is not sent: counted.
        dropped += pending.iter().map(|p| p.len() as u64).sum::<u64>();
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
