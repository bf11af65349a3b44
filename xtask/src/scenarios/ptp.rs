//! IEEE 1588 on QEMU's `igb`: two 82576s linked to each other through the
//! host (a relay between their link sockets) measure the one-way time with
//! the library's `ptp` example, and `e1000 dump --ptp` shows the NIC's own
//! receive time of PTP frames, in its lines and in the pcap it writes.

use super::common::{base64_decode, frame_lines, pcap_records};
use super::suite::Suite;
use crate::ensure;
use crate::error::Result;
use crate::link::peer::{Peer, TrafficSpec};
use crate::vm::guest::{Guest, GuestConfig, Nic, Placement};
use e1000_wire::ptp_event_frame;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Rounds of the `ptp` example.
const ROUNDS: usize = 20;

/// Two igb NICs, each behind its own root port (their VFs' routing IDs
/// would collide in neighbouring slots).
pub fn suite() -> Suite {
    let mut config = GuestConfig::with_nics(&["igb", "igb"]);
    config.placement = Placement::RootPorts;
    Suite::new(config)
        .test(
            "igb::ptp_example_measures_the_one_way_time_between_two_nics",
            one_way_time,
        )
        .test("igb::dump_shows_the_nics_receive_time_of_ptp_frames", dump)
}

/// Copies every frame one NIC sends to the other, both ways, until dropped:
/// a wire between two NICs of the guest.
struct Relay {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    fn between(a: &Nic, b: &Nic) -> Result<Relay> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (from, to) in [(a, b), (b, a)] {
            let (from, to) = (from.socket.try_clone()?, to.socket.try_clone()?);
            from.set_read_timeout(Some(Duration::from_millis(50)))?;
            let stop = Arc::clone(&stop);
            threads.push(std::thread::spawn(move || copy_frames(&from, &to, &stop)));
        }
        Ok(Relay { stop, threads })
    }
}

fn copy_frames(from: &UdpSocket, to: &UdpSocket, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        if let Ok(n) = from.recv(&mut buf) {
            let _ = to.send(&buf[..n]);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The `ptp` example between the two NICs: every round's four timestamps
/// in order and inside the master's clock readings around the round, a
/// one-way time between 0 and 50 ms, and once the slave's clock was
/// stepped, an offset within twice that time (each offset is off by at
/// most its own exchange's one-way time, the step by its shortest one's).
fn one_way_time(g: &mut Guest) -> Result<()> {
    let (a, b) = (g.nic(0), g.nic(1));
    let _wire = Relay::between(a, b)?;
    let r = g.run(
        &format!("example-ptp {} {} {ROUNDS}", a.pci, b.pci),
        Duration::from_secs(120),
    )?;
    let out = r.output();
    ensure!(r.status == 0, "ptp exited {}:\n{out}", r.status);
    let summary = r
        .lines
        .iter()
        .find(|l| l.starts_with("ptp: "))
        .ok_or_else(|| crate::error::Error::msg(format!("no summary:\n{out}")))?;
    let number_after = |what: &str| -> Option<i64> {
        summary
            .split(what)
            .nth(1)?
            .split_whitespace()
            .next()?
            .trim_end_matches(',')
            .parse()
            .ok()
    };
    let (delay, offset, disorder) = (
        number_after("one-way delay p50 "),
        number_after("after the step p50 "),
        number_after("out of order "),
    );
    ensure!(
        summary.contains(&format!("{ROUNDS} rounds")) && disorder == Some(0),
        "timestamps out of order:\n{out}"
    );
    let (Some(delay), Some(offset)) = (delay, offset) else {
        crate::bail!("cannot read the summary: {summary}");
    };
    ensure!(
        delay > 0 && delay < 50_000_000,
        "one-way time {delay} ns:\n{out}"
    );
    ensure!(
        offset.abs() <= 2 * delay,
        "offset {offset} ns after the step, one-way time {delay} ns:\n{out}"
    );
    println!("    {summary}");
    Ok(())
}

/// A PTPv2 Sync message from the host with sequenceId `seq`.
fn sync_frame(seq: u16) -> Vec<u8> {
    ptp_event_frame([0x02, 0, 0, 0, 0, 0x99], 0, seq)
}

/// Sync messages with a UDP frame after each, 20 ms apart: the NIC
/// latches one receive time at a time, and `dump` must have read it
/// before the next Sync arrives.
fn send_syncs(peer: &Peer, n: u16) -> Result<Vec<Vec<u8>>> {
    let mut sent = Vec::new();
    for seq in 0..n {
        for frame in [
            sync_frame(seq),
            peer.frame(&TrafficSpec::default(), seq as usize),
        ] {
            peer.send(&frame)?;
            sent.push(frame);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(sent)
}

/// `e1000 dump --ptp sync`: each Sync line carries the NIC's receive time,
/// no other line does, the times increase and lie within a second of the
/// guest's clock (the NIC's clock starts at it); then with `-w`, the pcap
/// holds every frame, its Sync records stamped in increasing order.
fn dump(g: &mut Guest) -> Result<()> {
    const SYNCS: u16 = 10;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    // `e1000 dump --ptp sync OUTPUT` for as many frames as the host sends,
    // once it receives and has settled.
    let start = |output: &str| -> Result<crate::vm::guest::Job<'_>> {
        let mut job = g.spawn(&format!(
            "e1000 dump {} --ptp sync {output} -c {} --timeout 60",
            nic.pci,
            2 * SYNCS
        ))?;
        job.wait_line(|l| l.contains("dump: ready"), Duration::from_secs(30))?;
        // The NIC holds one receive time until the driver reads it: frames
        // that reach a just-started dump in one burst would share it.
        std::thread::sleep(Duration::from_secs(1));
        Ok(job)
    };
    let job = start("--json")?;
    send_syncs(&peer, SYNCS)?;
    let r = job.wait(Duration::from_secs(60))?;
    let out = r.output();
    ensure!(r.status == 0, "dump exited {}:\n{out}", r.status);
    let frames = frame_lines(&out);
    ensure!(
        frames.len() == 2 * SYNCS as usize,
        "{} frames:\n{out}",
        frames.len()
    );
    let mut last = 0;
    for f in &frames {
        let is_sync = f["summary"]
            .as_str()
            .is_some_and(|s| s.contains("PTPv2 Sync"));
        let hw = f["hw_time_ns"].as_u64();
        ensure!(hw.is_some() == is_sync, "hw time on the wrong frame: {f}");
        let Some(hw) = hw else { continue };
        ensure!(hw > last, "receive times not increasing: {hw} after {last}");
        last = hw;
        ensure!(
            seconds_of_day_apart(hw, f["time"].as_str().unwrap_or("")) < 1.0,
            "the NIC's time {hw} ns is not the guest's clock: {f}"
        );
    }
    // The same into a pcap file.
    g.run_ok("rm -f /tmp/ptp.pcap", Duration::from_secs(10))?;
    let job = start("-w /tmp/ptp.pcap")?;
    let sent = send_syncs(&peer, SYNCS)?;
    let r = job.wait(Duration::from_secs(60))?;
    ensure!(
        r.status == 0,
        "dump -w exited {}:\n{}",
        r.status,
        r.output()
    );
    let pcap = base64_decode(
        &g.run_ok("base64 /tmp/ptp.pcap", Duration::from_secs(30))?
            .output(),
    )?;
    let records = pcap_records(&pcap)?;
    ensure!(
        records.iter().map(|(_, f)| f).eq(sent.iter()),
        "the pcap's frames differ from the {} sent",
        sent.len()
    );
    let sync_times: Vec<u64> = records.iter().step_by(2).map(|(t, _)| *t).collect();
    ensure!(
        sync_times.windows(2).all(|w| w[0] < w[1]),
        "pcap Sync times not increasing: {sync_times:?}"
    );
    Ok(())
}

/// How far apart, in s, the time of day of `ns` since the epoch and the
/// `HH:MM:SS.ffffff` of a `dump` line are (modulo a day).
fn seconds_of_day_apart(ns: u64, hms: &str) -> f64 {
    let parts: Vec<f64> = hms.split(':').filter_map(|p| p.parse().ok()).collect();
    let [h, m, s] = parts[..] else {
        return f64::INFINITY;
    };
    let line = h * 3600.0 + m * 60.0 + s;
    let nic = (ns % 86_400_000_000_000) as f64 / 1e9;
    let d = (line - nic).abs();
    d.min(86_400.0 - d)
}
