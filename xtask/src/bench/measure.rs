//! The measurements, each against a booted guest (or, for the host peer's
//! own ceiling, against a socket on the host): TX counted at the host peer,
//! the echo rate ladder, ping-pong latency, and the CLI's MMIO line.

use super::attribution::{wait_drained, watch_cpu, LinkDrops};
use super::ladder::{self, Rung};
use super::profile::{self, Profile};
use super::Effort;
use crate::error::{Error, Result};
use crate::frame::{expected_echo, FrameKind, Mac};
use crate::guest::{Guest, Nic};
use crate::mmsg::RecvBatch;
use crate::peer::{Peer, TrafficSpec};
use crate::{bail, ensure};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The destination MAC of generated traffic (the host peer's).
pub const TX_DST: &str = "02:00:00:00:00:01";

/// Echo traffic: raw test frames of 60 bytes (64 on the wire with the FCS),
/// the packets-per-second worst case.
pub fn small_frames() -> TrafficSpec {
    TrafficSpec {
        kind: FrameKind::Raw,
        size: |_| 60,
    }
}

/// Frames a transmitter delivered to the host peer.
#[derive(Clone, Debug, Default)]
pub struct TxCount {
    /// Frame size without FCS.
    pub size: usize,
    /// Frames the transmitter was asked to send.
    pub asked: u64,
    /// Frames of that size received at the host peer.
    pub received: u64,
    /// Received frames per second, between the first and the last.
    pub fps: f64,
    /// What the guest side printed (the CLI's or pktgen's own result).
    pub guest_says: String,
    /// MMIO (reads, writes) per frame, for our driver.
    pub mmio: Option<(f64, f64)>,
    /// The sender and its settings.
    pub settings: String,
    /// Each run's frames/s, in the order measured, when the sender ran
    /// more than once (this count is the median run's; see [`median_tx`]).
    pub runs_fps: Vec<f64>,
}

/// The run with the median rate among `runs` of one sender and size, with
/// every run's rate kept in [`TxCount::runs_fps`]; `None` if none succeeded.
pub fn median_tx(runs: Vec<TxCount>) -> Option<TxCount> {
    let fps: Vec<f64> = runs.iter().map(|t| t.fps).collect();
    let mut sorted = runs;
    sorted.sort_by(|a, b| a.fps.total_cmp(&b.fps));
    let mid = sorted.len().checked_sub(1)? / 2;
    let mut t = sorted.swap_remove(mid);
    t.runs_fps = fps;
    Some(t)
}

/// Counts IPv4 frames to [`TX_DST`] arriving on `nic`'s link while `run`
/// makes the guest send `asked` frames of `size` bytes; `run` sees the
/// count so far (a sender that runs until stopped waits for it).
pub fn count_tx(
    nic: &Nic,
    size: usize,
    asked: u64,
    run: impl FnOnce(&AtomicU64) -> Result<String>,
) -> Result<TxCount> {
    let socket = nic.socket.try_clone()?;
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let progress = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&progress);
    let counter = thread::spawn(move || {
        // Many datagrams per system call, so that the counter itself costs
        // the host little CPU: on 2 cores it competes with QEMU.
        let mut batch = RecvBatch::new(64, 2048);
        let (mut n, mut first, mut last) = (0u64, None::<(u64, Instant)>, None::<Instant>);
        // When the counter gets a core late (2 shared cores), it reads a
        // backlog at once: the rate uses the kernel's arrival time of the
        // last frame of each batch, not the time it was read.
        let (mut first_at, mut last_at) = (None::<f64>, None::<f64>);
        arrival_time(&socket);
        // The rate is taken from the first tenth of the frames on: the
        // sender's start (and a start-up burst) is not its steady rate.
        let warm = (asked / 10).max(1);
        let dst = [0x02, 0, 0, 0, 0, 0x01];
        while n < asked {
            let got = batch.recv(&socket);
            if got == 0 {
                // Idle: stop once told to and nothing came for a second.
                let idle = last.is_none_or(|t: Instant| t.elapsed() > Duration::from_secs(1));
                if flag.load(Ordering::Acquire) && idle {
                    break;
                }
                continue;
            }
            let now = Instant::now();
            let arrived = arrival_time(&socket);
            let before = n;
            for frame in batch.frames(got) {
                if frame.len() == size && frame[0..6] == dst && frame[12..14] == [0x08, 0x00] {
                    n += 1;
                    last = Some(now);
                }
            }
            if n > before {
                if n >= warm && first.is_none() {
                    first = Some((n, now));
                    first_at = arrived;
                }
                last_at = arrived;
            }
            seen.store(n, Ordering::Relaxed);
        }
        let fps = match (first, last, first_at, last_at) {
            (Some((n0, _)), _, Some(a), Some(b)) if b > a => (n - n0) as f64 / (b - a),
            (Some((n0, a)), Some(b), _, _) if b > a => (n - n0) as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        };
        (n, fps)
    });
    let result = run(&progress);
    stop.store(true, Ordering::Release);
    let (received, fps) = counter
        .join()
        .map_err(|_| anyhow::anyhow!("TX counter panicked"))?;
    let guest_says = result?;
    Ok(TxCount {
        size,
        asked,
        received,
        fps,
        mmio: mmio_per_frame(&guest_says),
        guest_says,
        settings: String::new(),
        runs_fps: Vec::new(),
    })
}

/// The kernel's arrival time (seconds, real-time clock) of the last datagram
/// read from `socket` (`SIOCGSTAMPNS`; the first call turns the socket's
/// receive timestamps on).
fn arrival_time(socket: &UdpSocket) -> Option<f64> {
    use std::os::fd::AsRawFd;
    const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: SIOCGSTAMPNS writes one timespec to the valid pointer given.
    let r = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMPNS, &mut ts) };
    (r == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

/// `e1000 send` as fast as it goes.
pub fn tx_ours(g: &Guest, size: usize, count: u64) -> Result<TxCount> {
    let nic = g.nic(0);
    let cmd = format!(
        "e1000 send {} --count {count} --size {size} --dst-mac {TX_DST}",
        nic.pci
    );
    // A time limit inside the guest too: a run that hangs must not hold
    // the guest's console (its agent runs one foreground job at a time).
    count_tx(nic, size, count, |_| {
        let r = g.run(&format!("timeout 120 {cmd}"), Duration::from_secs(150))?;
        if r.status != 0 {
            let state = g
                .run(
                    "ps -o pid,stat,args | grep -v ' \\[' ; dmesg | tail -8",
                    Duration::from_secs(20),
                )
                .map(|d| d.output())
                .unwrap_or_default();
            bail!(
                "`{cmd}` exited {}:\n{}\nguest state after it:\n{state}",
                r.status,
                r.output()
            );
        }
        Ok(r.output())
    })
}

/// pktgen's settings, as the report shows them beside its numbers.
pub fn pktgen_settings(burst: u32) -> String {
    format!("`pktgen` `delay 0`, `clone_skb 1000`, `burst {burst}`, one kernel thread")
}

/// The guest kernel's pktgen on interface `netdev`, as fast as it goes
/// (`delay 0`, one skb cloned 1000 times), handing the driver `burst`
/// frames at a time (`xmit_more`: one tail write per burst).
pub fn tx_pktgen(g: &Guest, netdev: &str, size: usize, count: u64, burst: u32) -> Result<TxCount> {
    let nic = g.nic(0);
    let script = format!(
        "load-kernel-driver pktgen || exit 1; P=/proc/net/pktgen; \
         echo rem_device_all > $P/kpktgend_0 && echo 'add_device {netdev}' > $P/kpktgend_0 && \
         for c in 'count {count}' 'pkt_size {size}' 'dst_mac {TX_DST}' 'delay 0' 'clone_skb 1000' 'burst {burst}'; do \
           echo \"$c\" > $P/{netdev} || exit 1; done; \
         echo start > $P/pgctrl; grep -A1 'Result:' $P/{netdev}"
    );
    count_tx(nic, size, count, |_| {
        let r = g.run(&script, Duration::from_secs(600))?;
        ensure!(r.status == 0, "pktgen exited {}:\n{}", r.status, r.output());
        Ok(r.output()
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" "))
    })
}

/// One echo path's results: the ladder, latency and register accesses.
#[derive(Clone, Debug, Default)]
pub struct EchoResult {
    /// `poll`, `intx`, `msi`, `msix` (ours), `testpmd` (DPDK macswap) or
    /// `kernel` (kernel driver + AF_PACKET).
    pub mode: String,
    /// The ladder's rungs, in order.
    pub rungs: Vec<Rung>,
    /// Ping-pong round trips.
    pub ping: Option<Ping>,
    /// MMIO (reads, writes) per frame under flood, ping-pong.
    pub mmio_flood: Option<(f64, f64)>,
    /// MMIO (reads, writes) per frame in ping-pong.
    pub mmio_ping: Option<(f64, f64)>,
    /// Times the driver found its RX ring full during the ladder (ours only).
    pub ring_full: Option<u64>,
    /// Times an RX descriptor showed DD before its length and the driver
    /// waited for the rest of the write-back (ours only).
    pub early_dd: Option<u64>,
    /// Guest CPU per frame at each of [`COST_RATES`] (at
    /// [`REPEATED_COST_RATE`], the median run's).
    pub cost: Vec<Cost>,
    /// The guest's reaction in ping-pong, µs at p50 (see [`reaction`]).
    pub reaction: Option<f64>,
    /// Each run's ping-pong, reaction and cost at [`REPEATED_COST_RATE`], in
    /// the order measured; [`repeat_run`] adds runs and
    /// [`EchoResult::settle_runs`] takes their medians.
    pub runs: Vec<Run>,
    /// How the path was set up (the peers' settings).
    pub settings: String,
    /// What went wrong, if something did.
    pub error: Option<String>,
}

impl EchoResult {
    /// The highest lossless offered rate.
    pub fn lossless(&self) -> Option<u64> {
        ladder::highest_lossless(&self.rungs)
    }

    /// Keeps the first run's ping-pong, reaction and cost as run 1 of
    /// [`Self::runs`].
    fn first_run(&mut self) {
        let cost = self
            .cost
            .iter()
            .find(|c| c.rate == REPEATED_COST_RATE)
            .copied();
        self.runs.push(Run {
            ping: self.ping,
            reaction: self.reaction,
            cost,
        });
    }

    /// Ping-pong, reaction and the cost at [`REPEATED_COST_RATE`] become
    /// the medians of the runs: p50 and p99 each their own median, frames
    /// lost summed; the cost is the run with the median µs per frame.
    pub fn settle_runs(&mut self) {
        let mut p50: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|r| r.ping.map(|p| p.0))
            .collect();
        let mut p99: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|r| r.ping.map(|p| p.1))
            .collect();
        let lost: u64 = self.runs.iter().filter_map(|r| r.ping.map(|p| p.2)).sum();
        if let (Some(a), Some(b)) = (median(&mut p50), median(&mut p99)) {
            self.ping = Some((a, b, lost));
        }
        self.reaction = median(&mut self.run_reactions());
        let mut costs: Vec<Cost> = self.runs.iter().filter_map(|r| r.cost).collect();
        costs.sort_by(|a, b| a.guest_us.total_cmp(&b.guest_us));
        if let Some(&mid) = costs.get(costs.len().saturating_sub(1) / 2) {
            // A lossy run is not hidden by the median.
            let perfect = costs.iter().all(|c| c.perfect);
            self.cost.retain(|c| c.rate != REPEATED_COST_RATE);
            self.cost.push(Cost { perfect, ..mid });
        }
    }

    /// Each run's ping-pong p50, µs.
    pub fn run_p50s(&self) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| r.ping.map(|p| p.0))
            .collect()
    }

    /// Each run's reaction p50, µs.
    pub fn run_reactions(&self) -> Vec<f64> {
        self.runs.iter().filter_map(|r| r.reaction).collect()
    }

    /// Each run's guest CPU per frame at [`REPEATED_COST_RATE`], µs.
    pub fn run_costs(&self) -> Vec<f64> {
        self.runs
            .iter()
            .filter_map(|r| r.cost.map(|c| c.guest_us))
            .collect()
    }
}

/// The middle value (the lower of the two middle ones), if any.
fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied()
}

/// Climbs the rate ladder on `nic`'s link with whatever echoes in the guest;
/// `qemu` (QEMU's pid) adds where the host's CPU went on each rung.
pub fn ladder(
    socket: &UdpSocket,
    nic_mac: Mac,
    effort: Effort,
    qemu: Option<u32>,
) -> Result<Vec<Rung>> {
    let mut rungs = Vec::new();
    for &rate in ladder::RATES {
        if !ladder::keep_climbing(&rungs) {
            break;
        }
        let mut rung = ladder_rung(socket, nic_mac, effort, qemu, rate)?;
        if !ladder::peer_kept_up(&rung) {
            // The host peer could not send at this rate: on 2 shared cores
            // that is often someone else's load. Once more after a pause.
            println!("        the host peer fell behind; this rung once more");
            thread::sleep(Duration::from_secs(2));
            rung = ladder_rung(socket, nic_mac, effort, qemu, rate)?;
        }
        rungs.push(rung);
        // Let queues drain before the next rung.
        thread::sleep(Duration::from_millis(300));
    }
    Ok(rungs)
}

/// One rung of [`ladder`]: `rate` frames/s offered.
fn ladder_rung(
    socket: &UdpSocket,
    nic_mac: Mac,
    effort: Effort,
    qemu: Option<u32>,
    rate: u64,
) -> Result<Rung> {
    // A fresh peer per rung: its own sequence range, so late echoes of
    // an earlier rung never count.
    let peer = Peer::with_socket(socket.try_clone()?, nic_mac);
    let count = ((rate as f64 * effort.rung_secs()) as usize).max(effort.rung_min());
    let drops_before = LinkDrops::read(socket);
    let cpu = qemu.map(|pid| watch_cpu(pid, Duration::from_secs_f64(count as f64 / rate as f64)));
    let s = peer.flood(count, small_frames(), Some(rate), Duration::from_secs(1))?;
    let cpu = cpu.and_then(|h| h.join().ok().flatten());
    // Let the emulation work through any backlog before the next rung,
    // and count the echoes that come back too late to count.
    wait_drained(socket, Duration::from_secs(5));
    let late = count_late(socket);
    let drops = drops_before
        .zip(LinkDrops::read(socket))
        .map(|(a, b)| a.since(b));
    let echo_span = s.last_echo.unwrap_or(s.elapsed).as_secs_f64();
    let rung = Rung {
        offered: rate,
        sent_rate: s.sent as f64 / s.send_elapsed.as_secs_f64().max(1e-6),
        sent: s.sent,
        echoed: s.echoed,
        echoed_rate: s.echoed as f64 / echo_span.max(1e-6),
        perfect: s.is_perfect(),
        late,
        drops,
        cpu,
    };
    println!(
        "      {rate:>7} fps offered: sent at {:.0}, {}/{} echoed at {:.0} fps{}",
        rung.sent_rate,
        rung.echoed,
        rung.sent,
        rung.echoed_rate,
        ladder::flag(&rung)
    );
    if let Some(d) = drops.filter(|d| d.qemu + d.peer > 0) {
        println!(
            "        dropped by the host kernel: {} at QEMU's socket, {} at the peer's",
            d.qemu, d.peer
        );
    }
    if late > 0 {
        println!("        {late} echoes came back after the rung");
    }
    if let Some(c) = cpu {
        println!("        cpu: {c}");
    }
    Ok(rung)
}

/// Waits until something in the guest echoes on `nic`: one probe frame at a
/// time, each given 200 ms.
pub fn wait_echoing(nic: &Nic, limit: Duration) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
        let s = peer.ping_pong(1, small_frames(), Duration::from_millis(200))?;
        if s.echoed == 1 {
            return Ok(());
        }
    }
    Err(Error::msg(format!("nothing echoed within {limit:?}")))
}

/// Ping-pong: (p50 µs, p99 µs, lost).
pub fn ping(socket: &UdpSocket, nic_mac: Mac, count: usize) -> Result<(f64, f64, u64)> {
    let peer = Peer::with_socket(socket.try_clone()?, nic_mac);
    let s = peer.ping_pong(count, small_frames(), Duration::from_secs(1))?;
    let us = |q| {
        s.rtt_quantile(q)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
    };
    println!("      ping-pong: {s}");
    Ok((us(0.5), us(0.99), s.lost))
}

/// How to tell that an echo program in the guest is ready.
#[derive(Clone, Copy)]
enum Ready<'a> {
    /// It prints this line.
    Line(&'a str),
    /// Its output comes late (a block-buffered pipe): it is ready once a
    /// probe frame comes back.
    Echoes,
}

/// Starts `cmd` in the guest, waits until it is `ready`, runs `traffic`,
/// then sends SIGINT to `process` and returns the traffic's result and the
/// job's output.
fn with_echo_job<T>(
    g: &Guest,
    cmd: &str,
    ready: Ready,
    process: &str,
    traffic: impl FnOnce() -> Result<T>,
) -> Result<(T, String)> {
    let mut job = g.spawn(cmd)?;
    match ready {
        Ready::Line(line) => {
            job.wait_line(|l| l.contains(line), Duration::from_secs(60))?;
            // The 8254x models hold reception for 1 s after every RCTL write.
            thread::sleep(Duration::from_millis(1500));
        }
        Ready::Echoes => {
            if let Err(e) = wait_echoing(g.nic(0), Duration::from_secs(90)) {
                let _ = g.run(&format!("killall -INT {process}"), Duration::from_secs(20));
                let r = job.wait(Duration::from_secs(60))?;
                return Err(Error::msg(format!("{e}; `{cmd}` printed:\n{}", r.output())));
            }
        }
    }
    let result = traffic();
    g.run(&format!("killall -INT {process}"), Duration::from_secs(20))?;
    let r = job.wait(Duration::from_secs(60))?;
    Ok((result?, format!("{}\nexit status {}", r.output(), r.status)))
}

/// The rates at which every path's CPU cost is measured (frames/s): one
/// that every path carries on every model (the kernel's AF_PACKET echo
/// included), and the 20 kframes/s, which the kernel path may not.
pub const COST_RATES: [u64; 2] = [5_000, 20_000];

/// The rate whose cost every path measures again in [`repeat_run`].
pub const REPEATED_COST_RATE: u64 = 20_000;

/// Ping-pong round trips: p50, p99 (µs), frames lost.
pub type Ping = (f64, f64, u64);

/// One run of an echo path's latency and cost measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Run {
    /// Ping-pong round trips.
    pub ping: Option<Ping>,
    /// The guest's reaction, µs at p50.
    pub reaction: Option<f64>,
    /// The cost at [`REPEATED_COST_RATE`].
    pub cost: Option<Cost>,
}

/// What one echo path costs at a fixed rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Offered rate, frames/s.
    pub rate: u64,
    /// Every frame came back intact and in order.
    pub perfect: bool,
    /// Guest CPUs busy (the CPUs less the guest's exact idle time, from its
    /// `/proc/uptime`; 1.0 = one vCPU).
    pub guest_cpus: f64,
    /// Guest CPU per echoed frame, µs.
    pub guest_us: f64,
    /// Host CPU of QEMU's vCPU threads per echoed frame, µs (guest code as
    /// TCG runs it plus the NIC's transmit path).
    pub vcpu_us: Option<f64>,
    /// Interrupts per echoed frame: vfio-pci's handlers in the guest's
    /// `/proc/interrupts`, over the same window as the CPU.
    pub interrupts_per_frame: Option<f64>,
}

/// (uptime, idle) seconds from a `/proc/uptime` line; idle is summed over
/// all CPUs.
///
/// Why not `/proc/stat`'s busy fields: the kernel charges user, system and
/// interrupt time by sampling at each timer tick, and a guest woken by a
/// periodic interrupt can fall into step with its tick. One 8254x echo at
/// 20 kframes/s, waking every 1 ms, showed 0.03 busy vCPUs there while
/// QEMU's vCPU threads burnt 0.3 of a host core. Idle time is exact on a
/// tickless kernel (measured at each idle entry and exit, which is what
/// `/proc/uptime` sums), so busy = CPUs − idle / elapsed.
pub fn uptime_idle(line: &str) -> Option<(f64, f64)> {
    let mut w = line.split_whitespace().map(|w| w.parse::<f64>().ok());
    match (w.next()??, w.next()??, w.next()) {
        (up, idle, None) => Some((up, idle)),
        _ => None,
    }
}

/// vCPUs busy between two `/proc/uptime` samples of a guest with `cpus`
/// CPUs (1.0 = one vCPU all the time).
pub fn busy_cpus(cpus: f64, (up0, idle0): (f64, f64), (up1, idle1): (f64, f64)) -> f64 {
    let elapsed = (up1 - up0).max(1e-3);
    (cpus - (idle1 - idle0) / elapsed).clamp(0.0, cpus)
}

/// The interrupts of a `/proc/interrupts` line of one of vfio-pci's
/// handlers (`vfio-intx`, `vfio-msi[n]`, `vfio-msix[n]`), summed over the
/// CPUs; `None` for any other line.
pub fn vfio_interrupts(line: &str) -> Option<u64> {
    if !line.contains("vfio-") {
        return None;
    }
    let (_, counts) = line.split_once(':')?;
    Some(
        counts
            .split_whitespace()
            .map_while(|w| w.parse::<u64>().ok())
            .sum(),
    )
}

/// Offers `rate` frames/s to whatever echoes on NIC 0 for a few seconds
/// and reads the guest's idle time (see [`uptime_idle`]) and vfio-pci's
/// interrupt counts over the middle of it.
pub fn cost(g: &Guest, rate: u64) -> Result<Cost> {
    let nic = g.nic(0);
    let secs = 4.0;
    let count = (rate as f64 * secs) as usize;
    let cpus = g
        .run("grep -c '^cpu[0-9]' /proc/stat", Duration::from_secs(10))?
        .lines
        .first()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .unwrap_or(1.0);
    let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
    let vcpu = watch_cpu(g.pid(), Duration::from_secs_f64(secs));
    // The guest samples 1 s into the flood and 2 s later.
    let sample = "cat /proc/uptime; grep vfio- /proc/interrupts";
    let job = g.spawn(&format!("sleep 1; {sample}; sleep 2; {sample}"))?;
    let s = peer.flood(count, small_frames(), Some(rate), Duration::from_secs(1))?;
    let r = job.wait(Duration::from_secs(30))?;
    let vcpu = vcpu.join().ok().flatten();
    wait_drained(&nic.socket, Duration::from_secs(5));
    count_late(&nic.socket);
    // Each /proc/uptime line, with the interrupts listed after it.
    let mut samples: Vec<((f64, f64), u64)> = Vec::new();
    for l in &r.lines {
        if let Some(u) = uptime_idle(l) {
            samples.push((u, 0));
        } else if let (Some(n), Some(last)) = (vfio_interrupts(l), samples.last_mut()) {
            last.1 += n;
        }
    }
    let [(first, irq0), (last, irq1)] = samples[..] else {
        return Err(Error::msg(format!("no /proc/uptime lines: {}", r.output())));
    };
    let busy = busy_cpus(cpus, first, last);
    let echoed_rate = s.echoed as f64 / s.last_echo.unwrap_or(s.elapsed).as_secs_f64().max(1e-6);
    let irq_rate = irq1.saturating_sub(irq0) as f64 / (last.0 - first.0).max(1e-3);
    let c = Cost {
        rate,
        perfect: s.is_perfect(),
        guest_cpus: busy,
        guest_us: busy * 1e6 / echoed_rate.max(1.0),
        vcpu_us: vcpu.map(|v| v.vcpu * 1e6 / echoed_rate.max(1.0)),
        interrupts_per_frame: Some(irq_rate / echoed_rate.max(1.0)),
    };
    println!(
        "      at {rate} fps: {}/{} echoed, guest {:.2} CPUs busy, {:.1} µs guest CPU per frame, {:.0} interrupts/s{}",
        s.echoed,
        s.sent,
        c.guest_cpus,
        c.guest_us,
        irq_rate,
        c.vcpu_us
            .map(|v| format!(", {v:.1} µs of QEMU's vCPU threads"))
            .unwrap_or_default()
    );
    Ok(c)
}

/// Fixed interrupt intervals (µs) at which the pure-interrupt echo's cost
/// is measured at [`REPEATED_COST_RATE`]: from the shortest every model
/// honours (QEMU's 8254x and 82574L enforce 128 µs) to twice the longest
/// that `--adaptive-irq` picks, so that the cost splits into a part per
/// frame and a part per interrupt (see [`split_cost`]).
pub const SWEEP_INTERVALS_US: [u32; 5] = [128, 250, 500, 1_000, 2_000];

/// One point of the interval sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SweepPoint {
    /// `--irq-interval`, µs.
    pub interval_us: u32,
    /// The cost at [`REPEATED_COST_RATE`] with it.
    pub cost: Cost,
}

/// `e1000 echo --irq {mode} --busy-poll 0 --irq-interval I` at each of
/// [`SWEEP_INTERVALS_US`], one run each, costed at [`REPEATED_COST_RATE`].
pub fn cost_sweep(g: &Guest, mode: &str) -> Vec<SweepPoint> {
    let nic = g.nic(0);
    let mut points = Vec::new();
    for interval_us in SWEEP_INTERVALS_US {
        let cmd = format!(
            "e1000 echo {} --irq {mode} --busy-poll 0 --irq-interval {interval_us} --quiet",
            nic.pci
        );
        println!("    {cmd}");
        let run = with_echo_job(g, &cmd, Ready::Line("echo: ready"), "e1000", || {
            cost(g, REPEATED_COST_RATE)
        });
        match run {
            Ok((cost, _)) => points.push(SweepPoint { interval_us, cost }),
            Err(e) => println!("      ! {e}"),
        }
    }
    points
}

/// The straight line, by least squares, through points of (interrupts per
/// frame, guest µs per frame): its intercept is what a frame costs however
/// few interrupts carry it, its slope what one interrupt costs. `None`
/// without two distinct interrupt rates.
pub fn split_cost(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    if points.len() < 2 || sxx <= f64::EPSILON {
        return None;
    }
    let slope = sxy / sxx;
    Some((mean_y - slope * mean_x, slope))
}

/// Our `e1000 echo` in `mode`: its cost at [`COST_RATES`] and the ladder in
/// one run, ping-pong in another (so each gets its own MMIO count).
pub fn echo_ours(g: &Guest, mode: &str, effort: Effort) -> EchoResult {
    let mut out = EchoResult {
        mode: mode.to_string(),
        settings: format!("`e1000 echo --irq {mode}`"),
        ..EchoResult::default()
    };
    let nic = g.nic(0);
    let cmd = format!("e1000 echo {} --irq {mode} --quiet", nic.pci);
    let flood = with_echo_job(g, &cmd, Ready::Line("echo: ready"), "e1000", || {
        let c = costs(g);
        let rungs = ladder(&nic.socket, nic.mac, effort, Some(g.pid()))?;
        Ok((c, rungs))
    });
    match flood {
        Ok(((c, rungs), output)) => {
            out.cost = note_err(c, &mut out.error, "cost").unwrap_or_default();
            out.rungs = rungs;
            out.mmio_flood = mmio_per_frame(&output);
            out.ring_full = ring_full_count(&output);
            out.early_dd = nic_counter(&output, "rx-early-dd");
            if out.mmio_flood.is_none() {
                // The run did not end with its summary: say how it ended.
                let tail: Vec<&str> = output.lines().rev().take(12).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                println!("      ! no summary from `{cmd}`: {}", tail.join(" | "));
                out.error = Some(format!("no summary; it ended with: {}", tail.join(" | ")));
            }
        }
        Err(e) => out.error = Some(format!("ladder: {e}")),
    }
    let pings = with_echo_job(g, &cmd, Ready::Line("echo: ready"), "e1000", || {
        let p = ping(&nic.socket, nic.mac, effort.pings())?;
        Ok((p, reaction(g, effort.pings())?))
    });
    match pings {
        Ok(((p, r), output)) => {
            out.ping = Some(p);
            out.reaction = r;
            out.mmio_ping = mmio_per_frame(&output);
        }
        Err(e) => out.error = Some(format!("ping-pong: {e}")),
    }
    out.first_run();
    out
}

/// One more run of an echo path measured before (ours in a mode, or
/// testpmd): started afresh, ping-pong, then the cost at
/// [`REPEATED_COST_RATE`], added to its [`EchoResult::runs`]. The bench
/// interleaves these runs across paths, so that a slow minute of the shared
/// host weighs on every path alike.
pub fn repeat_run(g: &Guest, e: &mut EchoResult, effort: Effort) {
    let nic = g.nic(0);
    let (cmd, ready, process) = if e.mode == "testpmd" {
        (
            super::dpdk::testpmd_command(&[&nic.pci], "macswap", ""),
            Ready::Echoes,
            "dpdk-testpmd",
        )
    } else {
        (
            format!("e1000 echo {} --irq {} --quiet", nic.pci, e.mode),
            Ready::Line("echo: ready"),
            "e1000",
        )
    };
    println!("    again: {}", path_label(&e.mode));
    let run = with_echo_job(g, &cmd, ready, process, || {
        let ping = Some(ping(&nic.socket, nic.mac, effort.pings())?);
        let reaction = reaction(g, effort.pings())?;
        let cost = Some(cost(g, REPEATED_COST_RATE)?);
        Ok(Run {
            ping,
            reaction,
            cost,
        })
    });
    match run {
        Ok((r, _)) => e.runs.push(r),
        Err(err) => {
            println!("      ! {err}");
            e.runs.push(Run::default());
        }
    }
}

/// QEMU trace events that time the guest's side of a round trip: the NIC
/// model starts receiving a frame (its receive path, in QEMU's main loop),
/// and a register write (the TX tail among them, from the vCPU). The start,
/// not the model's "written to guest" event: a polling guest sees the
/// descriptor's DD bit, and may answer, before the main loop gets to log
/// that one. QEMU's 82574L and 82576 models have both events (the 82576
/// reuses the 82574L's); its 8254x model has neither.
const REACTION_EVENTS: [&str; 2] = ["e1000e_rx_receive_iov", "e1000e_core_write"];

/// Queue 0's TX tail register on `model`, where the reaction ends.
fn tx_tail(model: &str) -> Option<u32> {
    match model {
        "e1000e" => Some(0x3818),
        "igb" => Some(0xE018),
        _ => None,
    }
}

/// The guest's reaction in ping-pong, µs at p50: from QEMU's NIC model
/// starting to receive a frame to the guest's next write of the TX tail,
/// over `count` round trips traced for this alone (tracing costs QEMU a
/// little, so the timed ping-pong runs untraced). It is the echo path's own
/// latency (noticing the frame, building the reply, telling the NIC) plus
/// the model's receive path, the same for every driver, and without the
/// link. `None` where the model has no such events or the guest no trace
/// file.
pub fn reaction(g: &Guest, count: usize) -> Result<Option<f64>> {
    let nic = g.nic(0);
    let (Some(tail), Some(path)) = (tx_tail(&nic.model), g.trace_path()) else {
        return Ok(None);
    };
    let start = std::fs::metadata(path)?.len();
    g.trace_events(&REACTION_EVENTS, true)?;
    let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
    let pinged = peer.ping_pong(count, small_frames(), Duration::from_secs(1));
    g.trace_events(&REACTION_EVENTS, false)?;
    pinged?;
    let mut text = String::new();
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(start))?;
        f.read_to_string(&mut text)?;
    }
    let r = reaction_p50(&text, tail);
    if let Some(us) = r {
        println!("      reaction (NIC model receives → TX tail write): p50 {us:.1} µs");
    }
    Ok(r)
}

/// The p50 of the gaps (µs) from each "receive" line of `trace` to the
/// first write of register `tail` after it, when no other frame came in
/// between. Lines look like
/// `123@1796070364.029515:e1000e_core_write Write to register 0x3818, ...`.
pub fn reaction_p50(trace: &str, tail: u32) -> Option<f64> {
    let tail = format!("register {tail:#x},");
    let mut received: Option<f64> = None;
    let mut gaps = Vec::new();
    for line in trace.lines() {
        let Some((time, event)) = line
            .split_once('@')
            .and_then(|(_, rest)| rest.split_once(':'))
        else {
            continue;
        };
        let Ok(t) = time.parse::<f64>() else {
            continue;
        };
        if event.starts_with("e1000e_rx_receive_iov") {
            received = Some(t);
        } else if event.starts_with("e1000e_core_write") && event.contains(&tail) {
            if let Some(r) = received.take() {
                gaps.push((t - r) * 1e6);
            }
        }
    }
    median(&mut gaps)
}

/// `testpmd`, or `e1000 echo --irq MODE`.
fn path_label(mode: &str) -> String {
    if mode == "testpmd" {
        "dpdk-testpmd macswap".into()
    } else {
        format!("e1000 echo --irq {mode}")
    }
}

/// A profile of QEMU while `e1000 echo --irq {mode}` is saturated: the
/// host peer offers `rate` frames/s for a few seconds and `perf` records
/// QEMU's threads over the middle of it. The echoed rate under the
/// profiler (which itself takes CPU) turns shares into time per frame.
pub fn profile_echo(g: &Guest, mode: &str, rate: u64) -> Result<Profile> {
    let nic = g.nic(0);
    let cmd = format!("e1000 echo {} --irq {mode} --quiet", nic.pci);
    let (mut p, _) = with_echo_job(g, &cmd, Ready::Line("echo: ready"), "e1000", || {
        let pid = g.pid();
        let recording = thread::spawn(move || {
            thread::sleep(Duration::from_secs(1));
            profile::record(pid, Duration::from_secs(2), &std::env::temp_dir())
        });
        let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
        let s = peer.flood(
            rate as usize * 4,
            small_frames(),
            Some(rate),
            Duration::from_secs(1),
        )?;
        let mut p = recording
            .join()
            .map_err(|_| Error::msg("the perf thread panicked"))??;
        wait_drained(&nic.socket, Duration::from_secs(5));
        count_late(&nic.socket);
        let span = s.last_echo.unwrap_or(s.elapsed).as_secs_f64().max(1e-6);
        p.echoed_rate = s.echoed as f64 / span;
        Ok(p)
    })?;
    p.during = format!("`e1000 echo --irq {mode}`, {} frames/s offered", rate);
    println!(
        "      profiled at {rate} fps offered, {:.0} fps echoed: vCPU {} samples, main loop {}",
        p.echoed_rate,
        p.vcpu.samples(),
        p.main_loop.samples()
    );
    Ok(p)
}

/// The emulation's own receive ceiling: frames offered to `e1000 dump
/// --quiet` in poll mode, which only counts them (no transmit, so the NIC's
/// transmit path does not compete), one fresh run per rung so that each rung
/// is counted exactly. A rung is perfect when the driver counted every frame
/// sent; `echoed` is the driver's count.
pub fn rx_only(g: &Guest, effort: Effort) -> Result<Vec<Rung>> {
    let nic = g.nic(0);
    let cmd = format!("e1000 dump {} --irq poll --quiet", nic.pci);
    let mut rungs = Vec::new();
    for &rate in ladder::RATES {
        if !ladder::keep_climbing(&rungs) {
            break;
        }
        let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
        let count = ((rate as f64 * effort.rung_secs()) as usize).max(effort.rung_min());
        let ((s, backlog, drops, cpu), output) =
            with_echo_job(g, &cmd, Ready::Line("dump: ready"), "e1000", || {
                let drops_before = LinkDrops::read(&nic.socket);
                let cpu = watch_cpu(g.pid(), Duration::from_secs_f64(count as f64 / rate as f64));
                // Nothing comes back: stop right after the last send, then wait
                // for QEMU to work through its backlog, which the guest counts
                // late (the rate below includes that time).
                let s = peer.flood(count, small_frames(), Some(rate), Duration::ZERO)?;
                let backlog = wait_drained(&nic.socket, Duration::from_secs(5));
                let cpu = cpu.join().ok().flatten();
                let drops = drops_before
                    .zip(LinkDrops::read(&nic.socket))
                    .map(|(a, b)| a.since(b));
                Ok((s, backlog, drops, cpu))
            })?;
        let received = received_count(&output)
            .ok_or_else(|| Error::msg(format!("no summary from `{cmd}`:\n{output}")))?;
        if received != count as u64 {
            if let Some(line) = output.lines().find(|l| l.contains("nic counters")) {
                println!("        {}", line.trim());
            }
        }
        let send_secs = s.send_elapsed.as_secs_f64().max(1e-6);
        let rung = Rung {
            offered: rate,
            sent_rate: s.sent as f64 / send_secs,
            sent: s.sent,
            echoed: received,
            echoed_rate: received as f64 / (send_secs + backlog.as_secs_f64()),
            perfect: received == s.sent,
            late: 0,
            drops,
            cpu,
        };
        println!(
            "      {rate:>7} fps offered: sent at {:.0}, {}/{} received at {:.0} fps{}",
            rung.sent_rate,
            rung.echoed,
            rung.sent,
            rung.echoed_rate,
            ladder::flag(&rung)
        );
        if let Some(d) = drops.filter(|d| d.qemu > 0) {
            println!(
                "        dropped by the host kernel at QEMU's socket: {}",
                d.qemu
            );
        }
        if let Some(c) = cpu {
            println!("        cpu: {c}");
        }
        rungs.push(rung);
    }
    Ok(rungs)
}

/// Datagrams arriving on `socket` until it has been quiet for 200 ms (at
/// most 5 s): echoes too late for their rung.
fn count_late(socket: &UdpSocket) -> u64 {
    let Ok(rx) = socket.try_clone() else { return 0 };
    if rx
        .set_read_timeout(Some(Duration::from_millis(200)))
        .is_err()
    {
        return 0;
    }
    let started = Instant::now();
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while rx.recv(&mut buf).is_ok() && started.elapsed() < Duration::from_secs(5) {
        n += 1;
    }
    n
}

/// Frames received, from the CLI's `summary: rx N frames` line.
pub fn received_count(output: &str) -> Option<u64> {
    let line = output.lines().find(|l| l.contains("summary: rx "))?;
    line.split("summary: rx ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The kernel's driver on `netdev` plus `afpacket-echo` in the guest.
pub fn echo_kernel(g: &Guest, netdev: &str, effort: Effort) -> EchoResult {
    let mut out = EchoResult {
        mode: "kernel".to_string(),
        settings:
            "the guest kernel's driver, `afpacket-echo` (AF_PACKET socket, one frame per recv/send)"
                .to_string(),
        ..EchoResult::default()
    };
    let nic = g.nic(0);
    let cmd = format!("afpacket-echo {netdev}");
    let run = with_echo_job(
        g,
        &cmd,
        Ready::Line("afpacket-echo: ready"),
        "afpacket-echo",
        || {
            let p = ping(&nic.socket, nic.mac, effort.pings())?;
            let r = reaction(g, effort.pings())?;
            let c = costs(g);
            let rungs = ladder(&nic.socket, nic.mac, effort, Some(g.pid()))?;
            Ok((p, r, c, rungs))
        },
    );
    match run {
        Ok(((p, r, c, rungs), _)) => {
            out.ping = Some(p);
            out.reaction = r;
            out.cost = note_err(c, &mut out.error, "cost").unwrap_or_default();
            out.rungs = rungs;
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

/// [`cost`] at each of [`COST_RATES`].
fn costs(g: &Guest) -> Result<Vec<Cost>> {
    COST_RATES.iter().map(|&r| cost(g, r)).collect()
}

/// Keeps a sub-measurement's failure as the result's error.
fn note_err<T>(r: Result<T>, error: &mut Option<String>, what: &str) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            println!("      ! {what}: {e}");
            error.get_or_insert(format!("{what}: {e}"));
            None
        }
    }
}

/// DPDK's `dpdk-testpmd --forward-mode=txonly` sending `size`-byte frames
/// to [`TX_DST`] until the host has counted `count`.
pub fn tx_testpmd(g: &Guest, size: usize, count: u64) -> Result<TxCount> {
    let nic = g.nic(0);
    let cmd = super::dpdk::testpmd_command(
        &[&nic.pci],
        "txonly",
        &format!("--txpkts={size} --eth-peer=0,{TX_DST}"),
    );
    count_tx(nic, size, count, |seen| {
        // Its output is a block-buffered pipe: progress is what the host counts.
        let job = g.spawn(&cmd)?;
        let started = Instant::now();
        let mut last = (0, Instant::now());
        while seen.load(Ordering::Relaxed) < count {
            let n = seen.load(Ordering::Relaxed);
            if n != last.0 {
                last = (n, Instant::now());
            }
            // Nothing for 60 s from the start, or 10 s stalled once started.
            let stalled = if n == 0 {
                started.elapsed()
            } else {
                last.1.elapsed()
            };
            if stalled > Duration::from_secs(if n == 0 { 60 } else { 10 }) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        g.run("killall -INT dpdk-testpmd", Duration::from_secs(20))?;
        let r = job.wait(Duration::from_secs(60))?;
        ensure!(
            seen.load(Ordering::Relaxed) >= count,
            "testpmd stopped sending or never started; it printed:\n{}",
            r.output()
        );
        // testpmd's own count, from its final statistics.
        Ok(r.lines
            .iter()
            .rfind(|l| l.contains("TX-packets"))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default())
    })
}

/// DPDK's `dpdk-testpmd --forward-mode=macswap`: cost at [`COST_RATES`],
/// ping-pong, then the ladder, in one run.
pub fn echo_testpmd(g: &Guest, effort: Effort) -> EchoResult {
    let mut out = EchoResult {
        mode: "testpmd".to_string(),
        settings: super::dpdk::testpmd_settings("macswap"),
        ..EchoResult::default()
    };
    let nic = g.nic(0);
    let cmd = super::dpdk::testpmd_command(&[&nic.pci], "macswap", "");
    let run = with_echo_job(g, &cmd, Ready::Echoes, "dpdk-testpmd", || {
        let p = ping(&nic.socket, nic.mac, effort.pings())?;
        let r = reaction(g, effort.pings())?;
        let c = costs(g);
        let rungs = ladder(&nic.socket, nic.mac, effort, Some(g.pid()))?;
        Ok((p, r, c, rungs))
    });
    match run {
        Ok(((p, r, c, rungs), output)) => {
            out.ping = Some(p);
            out.reaction = r;
            out.cost = note_err(c, &mut out.error, "cost").unwrap_or_default();
            out.rungs = rungs;
            if !output.contains("Bye") {
                let tail: Vec<&str> = output.lines().rev().take(8).collect();
                println!("      ! testpmd did not end cleanly: {tail:?}");
            }
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out.first_run();
    out
}

/// The host peer's own limits, with no guest involved.
#[derive(Clone, Debug, Default)]
pub struct HostCeiling {
    /// Frames per second the peer sends into a plain UDP socket nobody reads.
    pub send_fps: f64,
    /// The ladder against a plain UDP echo thread on the host.
    pub echo: Vec<Rung>,
}

/// Measures the host peer against plain UDP sockets on the host.
pub fn host_ceiling(effort: Effort) -> Result<HostCeiling> {
    let mac = Mac::nic(0);
    // Send rate: into a socket nobody reads.
    let sink = UdpSocket::bind("127.0.0.1:0")?;
    let tx = UdpSocket::bind("127.0.0.1:0")?;
    tx.connect(sink.local_addr()?)?;
    let peer = Peer::with_socket(tx, mac);
    let n = effort.rung_min() * 20;
    let s = peer.flood(n, small_frames(), None, Duration::ZERO)?;
    let send_fps = s.sent as f64 / s.send_elapsed.as_secs_f64().max(1e-6);
    drop(sink);
    // Echo: a thread that echoes by the contract.
    let nic = UdpSocket::bind("127.0.0.1:0")?;
    let host = UdpSocket::bind("127.0.0.1:0")?;
    // Large buffers on both ends, as the bench gives the real peer socket:
    // this measures the peer, not the loopback's default buffer.
    crate::qemu::grow_receive_buffer(&nic);
    crate::qemu::grow_receive_buffer(&host);
    nic.connect(host.local_addr()?)?;
    host.connect(nic.local_addr()?)?;
    nic.set_read_timeout(Some(Duration::from_millis(200)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let echo = thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !flag.load(Ordering::Relaxed) {
            if let Ok(len) = nic.recv(&mut buf) {
                let _ = nic.send(&expected_echo(&buf[..len], mac));
            }
        }
    });
    let rungs = ladder(&host, mac, effort, None);
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    Ok(HostCeiling {
        send_fps,
        echo: rungs?,
    })
}

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
        busy_cpus, median_tx, reaction_p50, split_cost, uptime_idle, vfio_interrupts, Cost,
        EchoResult, Run, TxCount, REPEATED_COST_RATE,
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
        let p50 = reaction_p50(trace, 0x3818).unwrap();
        assert!((p50 - 20.0).abs() < 1e-6, "{p50}");
        assert_eq!(reaction_p50(trace, 0xE018), None);
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
