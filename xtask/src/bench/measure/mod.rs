//! The measurements, each against a booted guest (or, for the host peer's
//! own ceiling, against a socket on the host): TX counted at the host peer,
//! the echo rate ladder, ping-pong latency, and the CLI's MMIO line.

mod cost;
mod echo;
mod host;
mod latency;
mod split;
mod tso;
mod tx;

pub use cost::*;
pub use echo::*;
pub use host::*;
pub use latency::*;
pub use split::*;
pub use tso::*;
pub use tx::*;

use super::attribution::watch_cpu;
use super::ladder::{self, Rung};
use super::profile::{self, Profile};
use super::Effort;
use crate::error::{Error, Result};
use crate::link::drops::{wait_drained, LinkDrops};
use crate::link::frame::{expected_echo, Mac};
use crate::link::mmsg::RecvBatch;
use crate::link::peer::{small_frames, wait_echoing, Peer, TrafficSpec};
use crate::vm::guest::{Guest, Nic};
use crate::{bail, ensure};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Ping-pong round trips: p50, p99 (µs), frames lost.
pub type Ping = (f64, f64, u64);

/// (reads, writes) per frame from the CLI's `mmio in the data path` line.
pub fn mmio_per_frame(output: &str) -> Option<(f64, f64)> {
    let line = output
        .lines()
        .find(|l| l.contains("mmio in the data path"))?;
    let inside = line.rsplit_once('(')?.1;
    let nums: Vec<f64> = inside
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|w| w.parse().ok())
        .collect();
    match nums.as_slice() {
        [reads, writes, ..] => Some((*reads, *writes)),
        _ => None,
    }
}

/// The `rx-ring-full N` count from the CLI's `nic counters` line: how often
/// the driver found its RX ring full (it fell behind).
pub fn ring_full_count(output: &str) -> Option<u64> {
    nic_counter(output, "rx-ring-full")
}

/// Counter `name` (`driver-dropped`, `rx-early-dd`, …) from the CLI's
/// `nic counters` line.
pub fn nic_counter(output: &str, name: &str) -> Option<u64> {
    let line = output.lines().find(|l| l.contains("nic counters"))?;
    line.split(", ")
        .find_map(|part| part.trim().strip_prefix(name)?.strip_prefix(' '))?
        .trim()
        .parse()
        .ok()
}

/// Turns a failed measurement into a note instead of aborting the model.
pub fn note<T>(what: &str, r: Result<T>, notes: &mut Vec<String>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            let e: Error = e;
            let msg = format!("{what}: {}", format!("{e:#}").lines().next().unwrap_or(""));
            println!("    ! {msg}");
            notes.push(msg);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        busy_cpus, median_by, median_tx, reaction_p50, split_cost, uptime_idle, vfio_interrupts,
        Cost, EchoResult, Run, TxCount, REPEATED_COST_RATE,
    };

    #[test]
    fn busy_vcpus_are_the_cpus_less_the_idle_time() {
        assert_eq!(uptime_idle("1234.56 2400.10\n"), Some((1234.56, 2400.10)));
        assert_eq!(uptime_idle("cpu  1 2 3 4"), None);
        assert_eq!(uptime_idle("12.5"), None);
        let a = uptime_idle("100.00 150.00").unwrap();
        // 2 s later, 2 vCPUs, 3.4 s of them idle: 0.3 vCPUs busy.
        let b = uptime_idle("102.00 153.40").unwrap();
        assert!((busy_cpus(2.0, a, b) - 0.3).abs() < 1e-9);
        // Rounding in the last digit never gives less than 0 or more than all.
        let c = uptime_idle("102.00 154.01").unwrap();
        assert_eq!(busy_cpus(2.0, a, c), 0.0);
        assert_eq!(busy_cpus(2.0, a, a), 2.0);
    }

    #[test]
    fn median_keeps_every_rate_in_order() {
        let (m, rates) = median_by(vec![3.0, 1.0, 2.0], |&r| r).unwrap();
        assert_eq!((m, rates), (2.0, vec![3.0, 1.0, 2.0]));
        assert!(median_by(Vec::<f64>::new(), |&r| r).is_none());
    }

    #[test]
    fn tx_runs_settle_on_the_median_run() {
        let run = |fps: f64, received: u64| TxCount {
            fps,
            received,
            ..TxCount::default()
        };
        let t = median_tx(vec![run(200.0, 3), run(100.0, 1), run(150.0, 2)]).unwrap();
        assert_eq!((t.fps, t.received), (150.0, 2));
        assert_eq!(t.runs_fps, vec![200.0, 100.0, 150.0]);
        // Two runs: the lower, so that one lucky run does not decide.
        assert_eq!(median_tx(vec![run(9.0, 1), run(7.0, 1)]).unwrap().fps, 7.0);
        assert!(median_tx(Vec::new()).is_none());
    }

    #[test]
    fn counts_vfio_interrupts_over_all_cpus() {
        let msix = " 24:       1200         30  IR-PCI-MSIX-0000:00:03.0    0-edge      vfio-msix[0](0000:00:03.0)";
        assert_eq!(vfio_interrupts(msix), Some(1230));
        let intx = " 11:          7          0   IO-APIC  11-fasteoi   vfio-intx(0000:00:03.0)";
        assert_eq!(vfio_interrupts(intx), Some(7));
        assert_eq!(vfio_interrupts(" 4:  99  0  IO-APIC  4-edge  ttyS0"), None);
        assert_eq!(vfio_interrupts("102.00 153.40"), None);
    }

    #[test]
    fn cost_splits_into_a_part_per_frame_and_a_part_per_interrupt() {
        // 11 µs per frame plus 80 µs per interrupt, at 1/2 … 1/40 interrupts per frame.
        let points: Vec<(f64, f64)> = [2.0, 5.0, 10.0, 20.0, 40.0]
            .iter()
            .map(|frames: &f64| (1.0 / frames, 11.0 + 80.0 / frames))
            .collect();
        let (per_frame, per_irq) = split_cost(&points).unwrap();
        assert!((per_frame - 11.0).abs() < 1e-9, "{per_frame}");
        assert!((per_irq - 80.0).abs() < 1e-9, "{per_irq}");
        assert_eq!(split_cost(&points[..1]), None);
        assert_eq!(split_cost(&[(0.1, 20.0), (0.1, 22.0)]), None);
    }

    #[test]
    fn runs_settle_on_their_medians_and_a_lossy_run_shows() {
        let cost = |us: f64, perfect: bool| Cost {
            rate: REPEATED_COST_RATE,
            perfect,
            guest_cpus: us / 50.0,
            guest_us: us,
            vcpu_us: None,
            interrupts_per_frame: None,
        };
        let mut e = EchoResult {
            ping: Some((40.0, 300.0, 0)),
            cost: vec![
                Cost {
                    rate: 5_000,
                    ..cost(90.0, true)
                },
                cost(30.0, true),
            ],
            ..EchoResult::default()
        };
        e.first_run();
        e.runs.push(Run {
            ping: Some((55.0, 200.0, 1)),
            reaction: Some(9.0),
            cost: Some(cost(20.0, false)),
        });
        e.runs.push(Run {
            ping: Some((35.0, 900.0, 0)),
            reaction: Some(12.0),
            cost: Some(cost(25.0, true)),
        });
        e.runs.push(Run::default()); // a run that failed
        e.settle_runs();
        assert_eq!(e.ping, Some((40.0, 300.0, 1)));
        assert_eq!(e.reaction, Some(9.0), "the lower middle of 9 and 12");
        assert_eq!(e.run_p50s(), [40.0, 55.0, 35.0]);
        let at = |rate| e.cost.iter().find(|c| c.rate == rate).unwrap();
        assert_eq!(at(REPEATED_COST_RATE).guest_us, 25.0);
        assert!(!at(REPEATED_COST_RATE).perfect, "the lossy run shows");
        assert_eq!(at(5_000).guest_us, 90.0, "the other rate untouched");
        assert_eq!(e.cost.len(), 2);
    }

    #[test]
    fn reaction_runs_from_a_received_frame_to_the_next_tail_write() {
        let trace = "\
7@100.000010:e1000e_rx_receive_iov Received vector of 1 fragments
7@100.000015:e1000e_core_write Write to register 0x2818, 4 byte(s), value: 0x5
7@100.000030:e1000e_core_write Write to register 0x3818, 4 byte(s), value: 0x62
7@100.000040:e1000e_core_write Write to register 0x3818, 4 byte(s), value: 0x63
7@100.000100:e1000e_rx_receive_iov Received vector of 1 fragments
7@100.000150:e1000e_rx_receive_iov Received vector of 1 fragments
7@100.000160:e1000e_core_write Write to register 0x3818, 4 byte(s), value: 0x64
e1000e_core_write a line without a time
7@100.000200:e1000e_rx_receive_iov Received vector of 1 fragments
7@100.000240:e1000e_core_write Write to register 0x3818, 4 byte(s), value: 0x65
";
        // Gaps: 20 µs (the RDT write in between does not end it), 10 µs
        // (from the later of two frames), 40 µs; the lone second write ends nothing.
        let p50 =
            reaction_p50(&super::reactions(trace, super::tx_tail("e1000e").unwrap())).unwrap();
        assert!((p50 - 20.0).abs() < 1e-6, "{p50}");
        assert_eq!(
            reaction_p50(&super::reactions(trace, super::tx_tail("igb").unwrap())),
            None
        );
    }

    #[test]
    fn each_reaction_knows_how_quiet_the_link_was_before_it() {
        let trace = "\
7@100.000000:e1000e_rx_receive_iov Received vector of 1 fragments
7@100.000030:e1000e_core_write Write to register 0xe018, 4 byte(s), value: 0x1
7@100.000100:e1000e_rx_receive_iov Received vector of 1 fragments
7@100.000105:e1000e_core_write Write to register 0xe010, 4 byte(s), value: 0x2
7@100.000110:e1000e_core_write Write to register 0xe058, 4 byte(s), value: 0x2
7@100.020100:e1000e_rx_receive_iov Received vector of 1 fragments
7@100.020150:e1000e_core_write Write to register 0xe018, 4 byte(s), value: 0x3
";
        // Queue 1's tail (0xe058) ends a reaction, a head (0xe010) does not.
        let r = super::reactions(trace, super::tx_tail("igb").unwrap());
        let got: Vec<(f64, f64)> = r.iter().map(|r| (r.us, r.quiet_us)).collect();
        assert_eq!(got.len(), 3);
        assert!(got[0].1.is_infinite() && (got[0].0 - 30.0).abs() < 1e-3);
        assert!((got[1].0 - 10.0).abs() < 1e-3 && (got[1].1 - 100.0).abs() < 1e-3);
        assert!((got[2].0 - 50.0).abs() < 1e-3 && (got[2].1 - 20_000.0).abs() < 1e-3);
    }

    #[test]
    fn parses_the_mmio_line() {
        let out = "x\necho: mmio in the data path: 0 reads, 12 writes for 96 frames (0.000 reads, 0.125 writes per frame)\n";
        assert_eq!(super::mmio_per_frame(out), Some((0.0, 0.125)));
        assert_eq!(super::mmio_per_frame("nothing"), None);
    }

    #[test]
    fn parses_the_received_count() {
        let out = "dump: summary: rx 1234 frames 74040 bytes, tx 0 frames 0 bytes, dropped (tx ring full or runt frame) 0\n";
        assert_eq!(super::received_count(out), Some(1234));
        assert_eq!(super::received_count("dump: ready"), None);
    }

    #[test]
    fn parses_the_ring_full_count() {
        let out = "echo: nic counters: rx 5 frames 300 bytes, tx 5 frames 300 bytes, missed 0, no-buffer 0, crc-errors 0, driver-dropped 0, rx-ring-full 17\n";
        assert_eq!(super::ring_full_count(out), Some(17));
        assert_eq!(super::nic_counter(out, "driver-dropped"), Some(0));
        assert_eq!(super::nic_counter(out, "rx-early"), None);
        assert_eq!(super::ring_full_count("echo: nic counters: rx 5"), None);
    }
}
