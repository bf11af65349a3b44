//! `e1000 tap`: the kernel exception path. A TAP interface with the NIC's
//! MAC address and MTU carries every frame both ways between the kernel's
//! own network stack and the NIC, so that ordinary programs (ping, ssh, a
//! DNS server) use a NIC this driver holds.

use super::*;
use crate::tun::Tap;
use e1000_cli::cli::TapArgs;
use std::os::fd::AsFd;

/// `e1000 tap`: creates the interface, then moves frames until the run
/// ends; the interface goes with the process, however it ends.
pub fn tap(args: &TapArgs) -> Result<(), CliError> {
    let common = Common::new(&args.traffic, false)?;
    let out = common.out;
    let mut tap = Tap::create(&args.name).map_err(|e| {
        CliError::Failed(format!(
            "cannot create TAP interface {}: {e} (it needs root or CAP_NET_ADMIN, and /dev/net/tun: modprobe tun)",
            args.name
        ))
    })?;
    let mut nic = common.open("tap", &args.pci)?;
    let setup = |what: &str, r: std::io::Result<()>| {
        r.map_err(|e| CliError::Failed(format!("setting the {what} of {}: {e}", tap.name())))
    };
    setup("MAC address", tap.set_mac(nic.mac()))?;
    setup("MTU", tap.set_mtu(nic.mtu()))?;
    setup("carrier", tap.set_carrier(true))?;
    setup("state (up)", tap.set_up())?;
    out.say(&format!(
        "tap: interface {} is up, mac {}, mtu {}: give it an address (ip addr add ADDR/PREFIX dev {})",
        tap.name(),
        mac_str(&nic.mac()),
        nic.mtu(),
        tap.name()
    ));
    let since = mmio_counts(&nic);
    let (mut rx, mut tx, mut dropped) = (Tally::default(), Tally::default(), 0u64);
    let budget = Budget::new(common.count);
    let live = [Live::default()];
    with_stats(&common, "tap", &live, || -> Result<(), CliError> {
        let mut queues = [nic.queue(0)?];
        // One sleep on the NIC's interrupt and the TAP's descriptor.
        let mut poller = Poller::new(&queues)?;
        poller.watch_fd(tap.as_fd())?;
        let mut wakes = [Wakeup::default()];
        let mut link = LinkReport::from(queues[0].link());
        let (mut inbound, mut outbound) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
        while !common.finished(&budget) {
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
            rx.add(&inbound);
            for p in inbound.drain(..) {
                if !tap
                    .write_frame(&p)
                    .map_err(|e| CliError::Failed(format!("writing to {}: {e}", tap.name())))?
                {
                    dropped += 1;
                }
            }
            // Kernel to NIC: read straight into pool buffers; frames the
            // TX ring has no room for wait for the next round, and nothing
            // more is read meanwhile (the TAP's own queue holds it).
            if outbound.is_empty() {
                while outbound.len() < BATCH {
                    let Some(mut p) = queue.alloc(queue.buffer_size()) else {
                        break;
                    };
                    let read = tap.read_frame(&mut p).map_err(|e| {
                        CliError::Failed(format!("reading from {}: {e}", tap.name()))
                    })?;
                    match read {
                        Some(len) => {
                            p.set_len(len);
                            outbound.push(p);
                        }
                        None => break, // `p` goes back to the pool
                    }
                }
            }
            if !outbound.is_empty() {
                send_some(queue, &mut outbound, &mut tx);
            }
            live[0].publish(&rx, &tx, dropped + queue.dropped(), queue.ring_full());
        }
        dropped += outbound.len() as u64;
        Ok(())
    })?;
    let totals = RunTotals {
        rx,
        tx,
        tx_dropped: dropped,
        queues: &[],
        extra: json!({ "interface": tap.name() }),
    };
    nic.tx_flush(Duration::from_secs(2));
    report("tap", &mut nic, since, &totals, out);
    Ok(())
}
