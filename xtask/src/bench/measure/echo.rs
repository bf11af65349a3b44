//! The echo measurements: the offered-rate ladder, ping-pong and receive
//! only, for our driver, the guest kernel's and testpmd.

use super::*;

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
    pub(super) fn first_run(&mut self) {
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
pub fn median(v: &mut [f64]) -> Option<f64> {
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
    spec: TrafficSpec,
) -> Result<Vec<Rung>> {
    let mut rungs = Vec::new();
    for &rate in ladder::RATES {
        if !ladder::keep_climbing(&rungs) {
            break;
        }
        let mut rung = ladder_rung(socket, nic_mac, effort, qemu, rate, spec)?;
        if !ladder::peer_kept_up(&rung) {
            // The host peer could not send at this rate: on 2 shared cores
            // that is often someone else's load. Once more after a pause.
            println!("        the host peer fell behind; this rung once more");
            thread::sleep(Duration::from_secs(2));
            rung = ladder_rung(socket, nic_mac, effort, qemu, rate, spec)?;
        }
        rungs.push(rung);
        // Let queues drain before the next rung.
        thread::sleep(Duration::from_millis(300));
    }
    Ok(rungs)
}

/// One rung of [`ladder`]: `rate` frames/s offered.
pub(super) fn ladder_rung(
    socket: &UdpSocket,
    nic_mac: Mac,
    effort: Effort,
    qemu: Option<u32>,
    rate: u64,
    spec: TrafficSpec,
) -> Result<Rung> {
    // A fresh peer per rung: its own sequence range, so late echoes of
    // an earlier rung never count.
    let peer = Peer::with_socket(socket.try_clone()?, nic_mac);
    let count = ((rate as f64 * effort.rung_secs()) as usize).max(effort.rung_min());
    let drops_before = LinkDrops::read(socket);
    let cpu = qemu.map(|pid| watch_cpu(pid, Duration::from_secs_f64(count as f64 / rate as f64)));
    let s = peer.flood(count, spec, Some(rate), Duration::from_secs(1))?;
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

/// Ping-pong with `spec`'s frames: (p50 µs, p99 µs, lost).
pub fn ping(
    socket: &UdpSocket,
    nic_mac: Mac,
    count: usize,
    spec: TrafficSpec,
) -> Result<(f64, f64, u64)> {
    let peer = Peer::with_socket(socket.try_clone()?, nic_mac);
    let s = peer.ping_pong(count, spec, Duration::from_secs(1))?;
    let us = |q| {
        s.rtt_quantile(q)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6)
    };
    println!("      ping-pong: {s}");
    Ok((us(0.5), us(0.99), s.lost))
}

/// How to tell that an echo program in the guest is ready.
#[derive(Clone, Copy)]
pub(super) enum Ready<'a> {
    /// It prints this line.
    Line(&'a str),
    /// Its output comes late (a block-buffered pipe): it is ready once a
    /// probe frame sent to this NIC comes back.
    Echoes(&'a Nic),
}

/// Starts `cmd` in the guest, waits until it is `ready`, runs `traffic`,
/// then sends SIGINT to `process` and returns the traffic's result and the
/// job's output.
pub(super) fn with_echo_job<T>(
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
        Ready::Echoes(nic) => {
            if let Err(e) = wait_echoing(nic, Duration::from_secs(90)) {
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

/// Our `e1000 echo` in `mode`: its cost at [`COST_RATES`] and the ladder in
/// one run, ping-pong in another (so each gets its own MMIO count).
pub fn echo_ours(g: &Guest, nic: &Nic, mode: &str, effort: Effort) -> EchoResult {
    let mut out = EchoResult {
        mode: mode.to_string(),
        settings: format!("`e1000 echo --irq {mode}`"),
        ..EchoResult::default()
    };
    let cmd = format!("e1000 echo {} --irq {mode} --quiet", nic.pci);
    let flood = with_echo_job(g, &cmd, Ready::Line("echo: ready"), "e1000", || {
        let c = costs(g, nic);
        let rungs = ladder(&nic.socket, nic.mac, effort, Some(g.pid()), small_frames())?;
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
        let p = ping(&nic.socket, nic.mac, effort.pings(), small_frames())?;
        Ok((p, reaction(g, nic, effort.pings())?))
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
pub fn repeat_run(g: &Guest, nic: &Nic, e: &mut EchoResult, effort: Effort) {
    let (cmd, ready, process) = if e.mode == "testpmd" {
        (
            crate::vm::dpdk::testpmd_command(&[&nic.pci], "macswap", ""),
            Ready::Echoes(nic),
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
        let ping = Some(ping(&nic.socket, nic.mac, effort.pings(), small_frames())?);
        let reaction = reaction(g, nic, effort.pings())?;
        let cost = Some(cost(g, nic, REPEATED_COST_RATE)?);
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

/// The emulation's own receive ceiling: frames offered to `e1000 dump
/// --quiet` in poll mode, which only counts them (no transmit, so the NIC's
/// transmit path does not compete), one fresh run per rung so that each rung
/// is counted exactly. A rung is perfect when the driver counted every frame
/// sent; `echoed` is the driver's count.
pub fn rx_only(g: &Guest, nic: &Nic, effort: Effort) -> Result<Vec<Rung>> {
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
pub(super) fn count_late(socket: &UdpSocket) -> u64 {
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
pub fn echo_kernel(g: &Guest, nic: &Nic, netdev: &str, effort: Effort) -> EchoResult {
    let peer = PeerEcho {
        mode: "kernel",
        settings:
            "the guest kernel's driver, `afpacket-echo` (AF_PACKET socket, one frame per recv/send)"
                .to_string(),
        cmd: format!("afpacket-echo {netdev}"),
        ready: Ready::Line("afpacket-echo: ready"),
        process: "afpacket-echo",
        goodbye: None,
    };
    echo_peer(g, nic, peer, effort)
}

/// DPDK's `dpdk-testpmd --forward-mode=macswap`, the first of its runs.
pub fn echo_testpmd(g: &Guest, nic: &Nic, effort: Effort) -> EchoResult {
    let peer = PeerEcho {
        mode: "testpmd",
        settings: crate::vm::dpdk::testpmd_settings("macswap"),
        cmd: crate::vm::dpdk::testpmd_command(&[&nic.pci], "macswap", ""),
        ready: Ready::Echoes(nic),
        process: "dpdk-testpmd",
        goodbye: Some("Bye"),
    };
    let mut out = echo_peer(g, nic, peer, effort);
    out.first_run();
    out
}

/// A peer that echoes in the guest instead of our driver.
struct PeerEcho<'a> {
    /// The row's name in the report.
    mode: &'a str,
    /// How the peer is set up, as the report shows it.
    settings: String,
    /// The guest command that runs it.
    cmd: String,
    /// How to know it echoes.
    ready: Ready<'a>,
    /// Its process name, for the signal that ends it.
    process: &'a str,
    /// What it prints when it ends cleanly, if anything.
    goodbye: Option<&'a str>,
}

/// Ping-pong, reaction, cost at [`COST_RATES`], then the ladder, in one
/// run of `peer`.
fn echo_peer(g: &Guest, nic: &Nic, peer: PeerEcho, effort: Effort) -> EchoResult {
    let mut out = EchoResult {
        mode: peer.mode.to_string(),
        settings: peer.settings,
        ..EchoResult::default()
    };
    // The same ladder in the run and, if the peer stalls, in a fresh one.
    let the_ladder = || ladder(&nic.socket, nic.mac, effort, Some(g.pid()), small_frames());
    let run = with_echo_job(g, &peer.cmd, peer.ready, peer.process, || {
        let p = ping(&nic.socket, nic.mac, effort.pings(), small_frames())?;
        let r = reaction(g, nic, effort.pings())?;
        let c = costs(g, nic);
        let rungs = the_ladder()?;
        Ok((p, r, c, rungs))
    });
    match run {
        Ok(((p, r, c, rungs), output)) => {
            out.ping = Some(p);
            out.reaction = r;
            out.cost = note_err(c, &mut out.error, "cost").unwrap_or_default();
            out.rungs = rungs;
            if peer.goodbye.is_some_and(|bye| !output.contains(bye)) {
                let tail: Vec<&str> = output.lines().rev().take(8).collect();
                println!("      ! {} did not end cleanly: {tail:?}", peer.process);
            }
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    // A process that echoed nothing on the ladder's first, slowest rung
    // stopped echoing during the runs before it (testpmd on QEMU's 82576
    // now and then, after its cost run). Its ladder is then measured again
    // in a fresh process, and the report says so: a stall of the peer is
    // worth a line, not a lossless rate of zero.
    if out.rungs.first().is_some_and(|r| r.echoed == 0) {
        println!("      ! echoed nothing at the first rung: the ladder again, in a fresh process");
        let again = with_echo_job(g, &peer.cmd, peer.ready, peer.process, the_ladder);
        match again {
            Ok((rungs, _)) => {
                out.rungs = rungs;
                out.settings.push_str(
                    "; its first process stopped echoing before its ladder, \
                     so the ladder is a second process's",
                );
            }
            Err(e) => out.error = Some(format!("ladder in a fresh process: {e}")),
        }
    }
    out
}
