//! `e1000 forward`: frames between two NICs, both ways, zero-copy.

use super::*;

/// `e1000 forward`: frames from each NIC go out of the other (poll mode).
pub fn forward(args: &ForwardArgs) -> Result<(), CliError> {
    let common = Common::new(&args.traffic, false)?;
    let out = common.out;
    let mut nics = [
        common.open("forward", &args.pci_a)?,
        common.open("forward", &args.pci_b)?,
    ];
    let since = [mmio_counts(&nics[0]), mmio_counts(&nics[1])];
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0);
    let mut pkts = Vec::with_capacity(BATCH);
    let budget = Budget::new(common.count);
    let live = [Live::default()];
    with_stats(&common, "forward", &live, || -> Result<(), CliError> {
        while !common.finished(&budget) {
            // A look, without waiting, at the release request (hot-unplug),
            // interrupts to acknowledge and the TX watchdog.
            for nic in nics.iter_mut() {
                nic.wait(Duration::ZERO)?;
            }
            let mut idle = true;
            for from in 0..2 {
                let want = budget.take(BATCH);
                let n = nics[from].rx_batch(&mut pkts, want);
                budget.settle(want, n);
                if n > 0 {
                    idle = false;
                    rx.add(&pkts);
                    tx.bytes += pkts.iter().map(|p| p.len() as u64).sum::<u64>();
                    dropped += send_all(&mut nics[1 - from].queue(0)?, &mut pkts, &mut tx);
                    let queue0 =
                        |n: &mut Nic| n.queue(0).map_or((0, 0), |q| (q.ring_full(), q.dropped()));
                    let (ring, ring_dropped) = nics
                        .iter_mut()
                        .map(queue0)
                        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
                    live[0].publish(&rx, &tx, dropped + ring_dropped, ring);
                }
            }
            if idle && nics[0].irq_mode() != IrqMode::Poll {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
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
