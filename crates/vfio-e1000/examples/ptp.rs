//! The one-way time between two NICs, from their IEEE 1588 hardware
//! timestamps: the first NIC (the master) sends PTPv2 Sync messages, the
//! second (the slave) answers each with a Delay_Req, and each NIC latches
//! when these leave and arrive. With t1 (Sync sent, master's clock), t2
//! (Sync received, slave's), t3 (Delay_Req sent, slave's) and t4
//! (Delay_Req received, master's), as IEEE 1588 computes them:
//! one-way delay = ((t2 - t1) + (t4 - t3)) / 2, and the slave's clock
//! offset = ((t2 - t1) - (t4 - t3)) / 2. After the first half of the
//! rounds the slave's clock is stepped by the offset of the exchange with
//! the shortest delay (the least queuing, so the most symmetric: each
//! offset is off by half the difference of its two ways), as PTP slaves
//! filter their samples; the second half shows what is left.
//!
//! The NICs must be linked to each other (82576 family: `Capabilities::timestamps`).
//!
//! ```sh
//! cargo run --release --example ptp -- 0000:03:00.0 0000:04:00.0 20
//! ```

use e1000_wire::{ptp_event_frame, ptp_sequence, PTP_MULTICAST};
use std::time::{Duration, Instant};
use vfio_e1000::{Clock, Config, IrqMode, Nic, PTP_DELAY_REQ, PTP_SYNC};

/// How long one message may take to arrive, or its timestamp to be latched.
const TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: ptp MASTER-PCI SLAVE-PCI [ROUNDS]";
    let (master_pci, slave_pci) = (args.next().ok_or(usage)?, args.next().ok_or(usage)?);
    let rounds: u16 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(10);
    let mut master = open(&master_pci, PTP_DELAY_REQ)?;
    let mut slave = open(&slave_pci, PTP_SYNC)?;
    for nic in [&master, &slave] {
        nic.wait_link(Duration::from_secs(5))?;
    }
    let (mut delays, mut offsets, mut out_of_order) = (Vec::new(), Vec::new(), 0);
    let mut last_t1 = 0;
    // The (delay, offset) of the shortest exchange before the step.
    let mut best: Option<(i128, i128)> = None;
    let step_after = (rounds / 2).max(1);
    for seq in 0..rounds {
        // The master's clock just before and after the Sync goes out: t1
        // must fall between them, as must t4 around the Delay_Req.
        let before = clock(&master).now()?;
        let t1 = send(&mut master, PTP_SYNC, seq)?;
        let t2 = receive(&mut slave, seq)?;
        let t3 = send(&mut slave, PTP_DELAY_REQ, seq)?;
        let t4 = receive(&mut master, seq)?;
        let after = clock(&master).now()?;
        if !(before <= t1 && t1 <= t4 && t4 <= after && t1 > last_t1) {
            out_of_order += 1;
        }
        last_t1 = t1;
        let (there, back) = (t2 as i128 - t1 as i128, t4 as i128 - t3 as i128);
        let (delay, offset) = ((there + back) / 2, (there - back) / 2);
        println!(
            "round {seq}: t1 {t1} t2 {t2} t3 {t3} t4 {t4}: delay {delay} ns, offset {offset} ns"
        );
        if seq < step_after {
            if best.is_none_or(|(d, _)| delay < d) {
                best = Some((delay, offset));
            }
            if seq + 1 == step_after {
                // Step the slave onto the master's time.
                let (_, offset) = best.expect("one round at least");
                clock(&slave).adjust(-(offset as i64));
            }
        } else {
            offsets.push(offset);
        }
        delays.push(delay);
    }
    delays.sort();
    offsets.sort();
    let median = |v: &[i128]| v.get(v.len() / 2).copied().unwrap_or(0);
    println!(
        "ptp: {rounds} rounds, one-way delay p50 {} ns (min {}, max {}), slave offset after the step p50 {} ns, timestamps out of order {out_of_order}",
        median(&delays),
        delays.first().unwrap_or(&0),
        delays.last().unwrap_or(&0),
        median(&offsets),
    );
    if out_of_order > 0 {
        return Err("timestamps out of order with the clock".into());
    }
    Ok(())
}

/// Opens a NIC that latches the receive time of `rx_message` frames and
/// accepts PTP's multicast address.
fn open(pci: &str, rx_message: u8) -> vfio_e1000::Result<Nic> {
    let mut config = Config::default();
    config.irq = Some(IrqMode::Poll);
    config.timestamps = Some(rx_message);
    config.multicast = vec![PTP_MULTICAST];
    Nic::open(pci, &config)
}

fn clock(nic: &Nic) -> Clock<'_> {
    nic.clock()
        .expect("the NIC has a clock: it opened with timestamps")
}

/// Sends a PTPv2 message of type `first_byte` with sequenceId `seq` and
/// returns when it went out, on the sender's clock.
fn send(nic: &mut Nic, first_byte: u8, seq: u16) -> Result<u64, Box<dyn std::error::Error>> {
    let frame = ptp_event_frame(nic.mac(), first_byte, seq);
    let mut p = nic.alloc(frame.len()).ok_or("pool empty")?;
    p.copy_from_slice(&frame);
    p.set_tx_timestamp(true);
    let mut batch = vec![p];
    if nic.tx_batch(&mut batch) != 1 {
        return Err("TX ring full".into());
    }
    let start = Instant::now();
    loop {
        if let Some(t) = clock(nic).tx_timestamp()? {
            return Ok(t);
        }
        if start.elapsed() > TIMEOUT {
            return Err(format!("no transmit timestamp for message {seq}").into());
        }
        std::thread::yield_now();
    }
}

/// Waits for the timestamped PTP message `seq` and returns when it
/// arrived, on the receiver's clock.
fn receive(nic: &mut Nic, seq: u16) -> Result<u64, Box<dyn std::error::Error>> {
    let (start, mut batch) = (Instant::now(), Vec::new());
    while start.elapsed() < TIMEOUT {
        nic.rx_batch(&mut batch, 32);
        for p in batch.drain(..) {
            if !p.rx_timestamped() {
                continue;
            }
            let latched = clock(nic)
                .rx_timestamp()?
                .ok_or("flagged but not latched")?;
            let frame_seq = ptp_sequence(&p).ok_or("a timestamped frame that is not PTP")?;
            if latched.sequence_id.is_some_and(|s| s != frame_seq) {
                return Err(format!(
                    "latched sequenceId {:?} for frame {frame_seq}",
                    latched.sequence_id
                )
                .into());
            }
            if frame_seq == seq {
                return Ok(latched.ns);
            }
        }
    }
    Err(format!("message {seq} did not arrive").into())
}
