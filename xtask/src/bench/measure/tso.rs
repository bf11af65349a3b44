//! TCP segmentation offload: `e1000 send --tso` against the same segments
//! handed to the NIC one frame each, against UDP frames of the segments'
//! size from `e1000 send` and from testpmd's `txonly` (the cheapest frame
//! for QEMU's models: no checksum to compute), and, where DPDK's PMD has
//! TSO (the 82576's `igb`; `em` has none), against testpmd's `csum` engine
//! with `tso set`.
//!
//! Every sender runs until the host has counted its segments, and the
//! guest's busy vCPUs are read over a window in the middle of the flow, so
//! that the cost per segment leaves out each program's start-up.

use super::*;
use e1000_wire::ip::{self, Headers, Network, Transport, TCP_PSH_ACK};

/// Payload bytes per segment: what a 1,500-byte MTU leaves a TCP
/// segment with timestamps, as Linux sends it.
pub const TSO_MSS: usize = 1448;
/// Ethernet, IPv4 and TCP headers, no options.
const TCP_HEADERS: usize = 14 + 20 + 20;
/// One segment on the wire, without FCS (1,502 bytes).
pub const SEGMENT: usize = TCP_HEADERS + TSO_MSS;
/// Segments per frame handed to the NIC.
pub const SEGMENTS_PER_FRAME: usize = 6;
/// The frame handed to the NIC with TSO (8,742 bytes): whole segments only,
/// so that every segment on the wire is [`SEGMENT`] bytes, and small
/// enough for one 9 KiB buffer on both sides (ours at `--mtu 9000`,
/// testpmd's mbufs), so that neither driver splits it over descriptors.
pub const TSO_FRAME: usize = TCP_HEADERS + SEGMENTS_PER_FRAME * TSO_MSS;
/// The MTU that gives a [`TSO_FRAME`] one buffer.
const JUMBO_MTU: usize = 9000;
// Whole segments, and one frame within the MTU.
const _: () =
    assert!(TSO_FRAME - TCP_HEADERS == SEGMENTS_PER_FRAME * TSO_MSS && TSO_FRAME <= JUMBO_MTU + 14);
/// Seconds of the window over which the guest's busy vCPUs are read.
pub const TSO_CPU_WINDOW_SECS: f64 = 0.5;

/// Who sent the segments, and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SegmentSender {
    /// `e1000 send --tso`.
    #[default]
    OursTso,
    /// `e1000 send --tcp --offload`, one frame per segment.
    OursTcp,
    /// `e1000 send` of UDP frames of the segments' size: what testpmd's
    /// `txonly` sends.
    OursUdp,
    /// testpmd's `txonly` of UDP frames of the segments' size.
    DpdkUdp,
    /// testpmd's `csum` engine with `tso set`, fed by the host.
    DpdkTso,
}

impl SegmentSender {
    /// The senders measured on QEMU `model`, in the order they run.
    pub fn all(model: &str) -> Vec<SegmentSender> {
        use SegmentSender::*;
        let mut v = vec![OursTso, OursTcp, OursUdp, DpdkUdp];
        if crate::vm::dpdk::pmd_has_tso(model) {
            v.push(DpdkTso);
        }
        v
    }
}

/// One sender of TCP segments, counted at the host peer.
#[derive(Clone, Debug, Default)]
pub struct SegmentRun {
    /// Who sent them.
    pub sender: SegmentSender,
    /// Segments of [`SEGMENT`] bytes at the peer, and their rate.
    pub tx: TxCount,
    /// Guest vCPUs busy in the middle of the flow (1.0 = one vCPU).
    pub busy_cpus: Option<f64>,
    /// Frames per second the host offered to a sender that forwards.
    pub fed: Option<f64>,
}

impl SegmentRun {
    /// Megabits per second on the wire (frames with their FCS).
    pub fn mbit_per_s(&self) -> f64 {
        self.tx.fps * ((SEGMENT + 4) * 8) as f64 / 1e6
    }

    /// Whether a forwarder sent nearly every segment it was fed (95 % or
    /// more), so that the host's offer, not the forwarder, may be its limit.
    pub fn fed_limited(&self) -> bool {
        self.fed
            .is_some_and(|f| self.tx.fps >= 0.95 * f * SEGMENTS_PER_FRAME as f64)
    }

    /// Guest CPU per segment, ns.
    pub fn ns_per_segment(&self) -> Option<f64> {
        let busy = self.busy_cpus?;
        (self.tx.fps > 0.0).then(|| busy / self.tx.fps * 1e9)
    }
}

/// Segments per run.
pub fn segment_count(effort: Effort) -> u64 {
    if effort.quick {
        60_000
    } else {
        300_000
    }
}

/// One run of `sender` until the host has counted `count` segments; a
/// forwarder is fed `feed` frames/s.
pub fn segment_run(
    g: &Guest,
    nic: &Nic,
    sender: SegmentSender,
    count: u64,
    feed: f64,
) -> Result<SegmentRun> {
    let ours = |args: String| {
        let cmd = format!("exec e1000 send {} {args} --dst-mac {TX_DST}", nic.pci);
        segments(g, nic, sender, count, &cmd, "killall -INT e1000", None)
    };
    let batches = "batches of up to 64 frames per tail write";
    let (mut run, settings) = match sender {
        SegmentSender::OursTso => (
            ours(format!("--mtu {JUMBO_MTU} --tso {TSO_MSS} --size {TSO_FRAME}"))?,
            format!(
                "`e1000 send --tso {TSO_MSS} --size {TSO_FRAME} --mtu {JUMBO_MTU}`: one {TSO_FRAME}-byte TCP frame \
                 per buffer, cut by the NIC into {SEGMENTS_PER_FRAME} segments; {batches}"
            ),
        ),
        SegmentSender::OursTcp => (
            ours(format!("--tcp --offload --size {SEGMENT}"))?,
            format!(
                "`e1000 send --tcp --offload --size {SEGMENT}`: one frame per segment, checksums by the NIC; {batches}"
            ),
        ),
        SegmentSender::OursUdp => (
            ours(format!("--size {SEGMENT}"))?,
            format!(
                "`e1000 send --size {SEGMENT}`: UDP frames of the segments' size, no UDP checksum, as testpmd's \
                 `txonly` sends; {batches}"
            ),
        ),
        SegmentSender::DpdkUdp => {
            let cmd = crate::vm::dpdk::testpmd_command(
                &[&nic.pci],
                "txonly",
                &format!("--txpkts={SEGMENT} --eth-peer=0,{TX_DST}"),
            );
            (
                segments(g, nic, sender, count, &cmd, "killall -INT dpdk-testpmd", None)?,
                format!(
                    "{}, `--txpkts={SEGMENT}`: UDP frames of the segments' size, no UDP checksum \
                     (`txonly` builds no TCP)",
                    crate::vm::dpdk::testpmd_settings("txonly")
                ),
            )
        }
        SegmentSender::DpdkTso => return tso_testpmd(g, nic, count, feed),
    };
    run.tx.settings = settings;
    Ok(run)
}

/// testpmd's `csum` engine with `tso set`, fed [`TSO_FRAME`]-byte TCP
/// frames by the host at `feed` frames/s, which it sends back out with TSO
/// to [`TX_DST`]: DPDK's TSO as testpmd offers it.
fn tso_testpmd(g: &Guest, nic: &Nic, count: u64, feed: f64) -> Result<SegmentRun> {
    let script = "/tmp/testpmd-tso.cmd";
    let commands = [
        "port stop 0".to_string(),
        "csum set ip hw 0".into(),
        "csum set tcp hw 0".into(),
        format!("tso set {TSO_MSS} 0"),
        "port start 0".into(),
    ];
    g.run_ok(
        &format!("printf '{}\\n' > {script}", commands.join("\\n")),
        Duration::from_secs(10),
    )?;
    // 9 KiB of data room per mbuf, as ours gets at --mtu 9000.
    let cmd = crate::vm::dpdk::testpmd_command(
        &[&nic.pci],
        "csum",
        &format!(
            "--eth-peer=0,{TX_DST} --max-pkt-len={} --mbuf-size={} --cmdline-file={script}",
            JUMBO_MTU + 18,
            9216 + 128
        ),
    );
    let frame = tcp_frame(nic.mac.0);
    let mut run = segments(
        g,
        nic,
        SegmentSender::DpdkTso,
        count,
        &cmd,
        "killall -INT dpdk-testpmd",
        Some((&frame, feed)),
    )?;
    run.fed = Some(feed);
    run.tx.settings = format!(
        "{}, with `csum set ip hw`, `csum set tcp hw`, `tso set {TSO_MSS}`, \
         `--max-pkt-len={}`, 9 KiB mbufs; fed {TSO_FRAME}-byte TCP frames by the host at {feed:.0} frames/s \
         (so it also receives each frame it sends)",
        crate::vm::dpdk::testpmd_settings("csum"),
        JUMBO_MTU + 18
    );
    Ok(run)
}

/// An Ethernet/IPv4/TCP frame of [`TSO_FRAME`] bytes from the host to
/// `dst`, checksums right.
fn tcp_frame(dst: [u8; 6]) -> Vec<u8> {
    let mut f: Vec<u8> = (0..TSO_FRAME).map(|i| i as u8).collect();
    let h = Headers {
        dst_mac: dst,
        src_mac: Mac::HOST.0,
        network: Network::V4 {
            src: [10, 11, 12, 1],
            dst: [10, 11, 12, 2],
            ident: 1,
        },
        transport: Transport::Tcp {
            seq: 1,
            flags: TCP_PSH_ACK,
        },
        src_port: 5001,
        dst_port: 5002,
    };
    h.write(&mut f, TSO_FRAME);
    ip::fill_l4_checksum(&mut f);
    f
}

/// Runs `cmd` (`sender`) in the guest until the host has counted `count` segments of
/// [`SEGMENT`] bytes, reading the guest's busy vCPUs once the flow is
/// steady, then `stop`s it; with `feed`, a host thread offers that frame at
/// that rate meanwhile (see [`feed`]).
fn segments(
    g: &Guest,
    nic: &Nic,
    sender: SegmentSender,
    count: u64,
    cmd: &str,
    stop: &str,
    feed_with: Option<(&[u8], f64)>,
) -> Result<SegmentRun> {
    // What the previous sender left in QEMU's queue would count as this
    // one's: start on a quiet link.
    count_late(&nic.socket);
    let mut busy = None;
    let feeder = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
    let tx = count_tx(nic, SEGMENT, count, |seen| {
        let job = g.spawn(cmd)?;
        let done = AtomicBool::new(false);
        thread::scope(|scope| {
            if let Some((frame, rate)) = feed_with {
                let (feeder, done) = (&feeder, &done);
                scope.spawn(move || feed(feeder, frame, rate, seen, done));
            }
            // The guest's busy vCPUs once a tenth has arrived.
            await_count(seen, count, |n| {
                if busy.is_none() && n >= count / 10 {
                    busy = Some(busy_cpus_now(g));
                }
            });
            done.store(true, Ordering::Release);
        });
        g.run(stop, Duration::from_secs(20))?;
        let r = job.wait(Duration::from_secs(60))?;
        ensure!(
            seen.load(Ordering::Relaxed) >= count,
            "`{cmd}` stopped sending or never started; it printed:\n{}",
            r.output()
        );
        Ok(r.output())
    });
    Ok(SegmentRun {
        sender,
        tx: tx?,
        busy_cpus: busy.and_then(Result::ok),
        fed: None,
    })
}

/// Sends `frame` into the NIC through `peer` until `done`: one every 50 ms
/// until the first segment has come back (`seen`), then at `rate` frames/s.
///
/// Why the trickle first: until the forwarder has enabled its receiver,
/// QEMU does not read its socket, which then holds up to 16 MiB of frames
/// that would all be forwarded at once when it starts and count as a rate.
fn feed(peer: &Peer, frame: &[u8], rate: f64, seen: &AtomicU64, done: &AtomicBool) {
    while seen.load(Ordering::Relaxed) == 0 && !done.load(Ordering::Acquire) {
        let _ = peer.send(frame);
        thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let mut sent = 0u64;
    while !done.load(Ordering::Acquire) {
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        if sent >= due {
            thread::sleep(Duration::from_micros(200));
            continue;
        }
        // A full socket drops the frame: offered load lost on the host,
        // which the segments counted show.
        let _ = peer.send(frame);
        sent += 1;
    }
}

/// The guest's busy vCPUs over the next [`TSO_CPU_WINDOW_SECS`] (see
/// [`uptime_idle`]).
fn busy_cpus_now(g: &Guest) -> Result<f64> {
    let r = g.run(
        &format!("cat /proc/uptime; sleep {TSO_CPU_WINDOW_SECS}; cat /proc/uptime"),
        Duration::from_secs(10),
    )?;
    let samples: Vec<(f64, f64)> = r.lines.iter().filter_map(|l| uptime_idle(l)).collect();
    let [first, last] = samples[..] else {
        bail!("no /proc/uptime lines: {}", r.output());
    };
    Ok(busy_cpus(crate::vm::GUEST_CPUS as f64, first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fed_frame_is_valid_tcp_cut_into_whole_segments() {
        let f = tcp_frame([2, 0, 0, 0, 0, 9]);
        assert_eq!(f.len(), TSO_FRAME);
        assert_eq!(ip::checksums_ok(&f), Some(true));
    }

    #[test]
    fn cost_and_feed_limit_follow_the_rate() {
        let mut run = SegmentRun {
            busy_cpus: Some(1.0),
            fed: Some(10_000.0),
            ..SegmentRun::default()
        };
        run.tx.fps = 60_000.0;
        assert!(run.fed_limited());
        assert_eq!(run.ns_per_segment().map(f64::round), Some(16_667.0));
        run.tx.fps = 30_000.0;
        assert!(!run.fed_limited());
        run.tx.fps = 0.0;
        assert_eq!(run.ns_per_segment(), None);
    }
}
