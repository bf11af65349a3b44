//! `cargo xtask bench --stacks`: real network stacks through a forwarder
//! in the guest. Two host kernel stacks, each in a namespace of its own on
//! one NIC's link ([`HostStack`]), talk through whatever the guest runs
//! between its two NICs: `e1000 forward` (interrupts, then polling),
//! `dpdk-testpmd --forward-mode=io` on the same vfio-pci devices, and the
//! guest kernel's bridge over its own driver. Each path carries ping, one
//! TCP stream each way and a paced UDP flow, in rounds interleaved across
//! the paths; each figure is the median of its path's rounds.
//!
//! Then ordinary programs in the guest itself (ping answered by the
//! guest's kernel, iperf3 in the guest against the host stack on the first
//! NIC's link), with the guest's stack on `e1000 tap` (its defaults, then
//! `--busy-poll 30ms`) and on the kernel's own driver for the same NIC
//! ([`Endpoint`]).

use super::measure::{median, traced, Reaction};
use super::Effort;
use crate::error::{Error, Result};
use crate::link::host_stack::traffic::{self, guest_iperf3, iperf3_mbit_per_s, GuestIperf3, Ping};
use crate::link::host_stack::HostStack;
use crate::link::host_stack::{counter, counters};
use crate::vm::dpdk;
use crate::vm::guest::{Guest, GuestConfig, Placement};
use crate::vm::models::kernel_driver;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Addresses of the two host stacks (left on NIC 0's link, right on 1's).
const LEFT: [u8; 4] = [10, 11, 20, 1];
const RIGHT: [u8; 4] = [10, 11, 20, 2];
/// The UDP flow's payload rate (iperf3 `-u -b 50M`).
const UDP_MBIT_PER_S: f64 = 50.0;
/// Receive descriptors per port of every user-space forwarder (forward's
/// default; testpmd is given the same).
const RX_RING: usize = 4096;

/// A forwarder between the guest's two NICs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// `e1000 forward`, interrupts (the default).
    Forward,
    /// `e1000 forward --busy-poll 30ms`: interrupts, but polling for
    /// 30 ms after every frame, longer than the ping's 20 ms interval.
    ForwardBusyPoll,
    /// `e1000 forward --irq poll`: polling only, as testpmd does.
    ForwardPoll,
    /// `dpdk-testpmd --forward-mode=io`.
    Testpmd,
    /// The guest kernel's bridge over its own driver.
    Bridge,
}

impl Path {
    const ALL: [Path; 5] = [
        Path::Forward,
        Path::ForwardBusyPoll,
        Path::ForwardPoll,
        Path::Testpmd,
        Path::Bridge,
    ];

    fn name(self) -> &'static str {
        match self {
            Path::Forward => "e1000 forward",
            Path::ForwardBusyPoll => "e1000 forward --busy-poll 30ms",
            Path::ForwardPoll => "e1000 forward --irq poll",
            Path::Testpmd => "testpmd io",
            Path::Bridge => "kernel bridge",
        }
    }

    fn settings(self) -> String {
        match self {
            Path::Forward => format!("interrupts, {RX_RING} RX / 512 TX descriptors per NIC, batches of 64"),
            Path::ForwardBusyPoll => "as above, polling the rings for 30 ms after the last frame before sleeping on the interrupts (the default is 500 µs): longer than the ping's 20 ms between requests, so a ping finds it polling".into(),
            Path::ForwardPoll => "as above, polling the rings without a pause, no interrupt (as testpmd)".into(),
            Path::Testpmd => format!(
                "`dpdk-testpmd` {}, `--forward-mode=io`, 1 forwarding lcore (+ main lcore), `--rxd={RX_RING} --txd=512 --burst={} --total-num-mbufs=16384`, `--in-memory` on 2 MiB hugepages, promiscuous",
                dpdk::DPDK_VERSION,
                dpdk::BURST
            ),
            Path::Bridge => "Linux 6.1 `bridge` (STP off, forward delay 0) over the kernel's own driver, default rings".into(),
        }
    }

    /// The guest command that forwards, run until SIGINT to `process`.
    fn command(self, a: &str, b: &str) -> (String, &'static str) {
        match self {
            Path::Forward => (format!("e1000 forward {a} {b} --quiet"), "e1000"),
            Path::ForwardBusyPoll => (
                format!("e1000 forward {a} {b} --quiet --busy-poll 30ms"),
                "e1000",
            ),
            Path::ForwardPoll => (format!("e1000 forward {a} {b} --quiet --irq poll"), "e1000"),
            Path::Testpmd => (
                dpdk::testpmd_command(
                    &[a, b],
                    "io",
                    &format!("--rxd={RX_RING} --txd=512 --total-num-mbufs=16384"),
                ),
                "dpdk-testpmd",
            ),
            Path::Bridge => ("sleep 100000".into(), "sleep"),
        }
    }
}

/// Where the guest's own stack meets the first NIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    /// `e1000 tap`: the driver moves frames between the NIC and a TAP
    /// interface of the guest kernel's.
    Tap,
    /// `e1000 tap --busy-poll 30ms`: as [`Endpoint::Tap`], polling for
    /// 30 ms after every frame, longer than the ping's 20 ms interval.
    TapBusyPoll,
    /// The guest kernel's own driver for the NIC.
    Kernel,
}

impl Endpoint {
    const ALL: [Endpoint; 3] = [Endpoint::Tap, Endpoint::TapBusyPoll, Endpoint::Kernel];

    fn name(self) -> &'static str {
        match self {
            Endpoint::Tap => "e1000 tap",
            Endpoint::TapBusyPoll => "e1000 tap --busy-poll 30ms",
            Endpoint::Kernel => "kernel driver",
        }
    }

    /// `e1000 tap`'s options beyond the PCI address.
    fn tap_options(self) -> Option<&'static str> {
        match self {
            Endpoint::Tap => Some(""),
            Endpoint::TapBusyPoll => Some(" --busy-poll 30ms"),
            Endpoint::Kernel => None,
        }
    }

    fn settings(self, model: &str) -> String {
        match self {
            Endpoint::Tap => format!("`e1000 tap` with its defaults (interrupts, {RX_RING} RX / 512 TX descriptors, checksum offload and TSO across the TAP), the guest kernel's stack on `e1000tap0`"),
            Endpoint::TapBusyPoll => "as above, polling the NIC's ring and the TAP queue for 30 ms after the last frame before sleeping on the interrupt and the TAP (the default is 500 µs): longer than the ping's 20 ms between requests, so a ping finds it polling".into(),
            Endpoint::Kernel => format!("Linux 6.1 `{}` driver, its default rings and interrupt moderation", kernel_driver(model)),
        }
    }
}

/// A frame received after this long without one is a request (the pings
/// are 20 ms apart), sooner a reply.
const QUIET: Duration = Duration::from_millis(5);

/// The p50 of the reactions to requests and to replies (see [`QUIET`]).
fn reaction_p50s(found: &[Reaction]) -> [Option<f64>; 2] {
    let quiet_us = QUIET.as_secs_f64() * 1e6;
    let mut split: [Vec<f64>; 2] = Default::default();
    for r in found {
        split[usize::from(r.quiet_us < quiet_us)].push(r.us);
    }
    split.map(|mut v| median(&mut v))
}

/// The guest's address on the first NIC's link, on either [`Endpoint`].
const GUEST: &str = "10.11.20.3";

/// One round of the workloads through one path.
#[derive(Clone, Copy, Debug, Default)]
pub struct Round {
    /// Ping round trip p50, ms.
    pub ping_ms: f64,
    /// The guest's reaction p50 to an echo request, which comes after
    /// [`QUIET`] or more without a frame, and to its reply, µs: from QEMU's
    /// NIC model receiving the frame to the guest's next TX tail write
    /// (`None` on a model without those trace events).
    pub reaction_us: [Option<f64>; 2],
    /// Echo requests unanswered.
    pub ping_lost: u32,
    /// TCP left to right and right to left, Mbit/s.
    pub tcp: [f64; 2],
    /// Segments retransmitted by both senders, tail loss probes excepted.
    pub retransmits: u64,
    /// TCP and UDP segments either stack received with a bad checksum.
    pub checksum_errors: u64,
    /// UDP datagrams sent and lost.
    pub udp: (u64, u64),
}

/// A path's rounds.
#[derive(Clone, Debug, Default)]
pub struct PathResult {
    /// What forwarded.
    pub name: String,
    /// Its settings, as the report names them.
    pub settings: String,
    /// Each round.
    pub rounds: Vec<Round>,
    /// Why it could not be measured (or a round failed).
    pub error: Option<String>,
}

impl PathResult {
    /// The median of a figure over the rounds.
    pub fn median(&self, f: impl Fn(&Round) -> f64) -> Option<f64> {
        let mut v: Vec<f64> = self.rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }

    /// The sum of a count over the rounds.
    pub fn total(&self, f: impl Fn(&Round) -> u64) -> u64 {
        self.rounds.iter().map(f).sum()
    }
}

/// Everything measured for one model.
#[derive(Clone, Debug, Default)]
pub struct StacksResult {
    /// QEMU device model (two NICs of it).
    pub model: String,
    /// Per path, in [`Path::ALL`]'s order.
    pub paths: Vec<PathResult>,
    /// The guest's own stack on `e1000 tap`, then on the kernel's driver.
    pub endpoints: Vec<PathResult>,
}

/// One boot of two `model` NICs with 2 vCPUs and testpmd: every path in
/// turn, `effort.runs()` rounds, the kernel's bridge last (it takes the
/// NICs from vfio-pci).
pub fn run(model: &str, effort: Effort) -> Result<StacksResult> {
    let mut config = GuestConfig::with_nics(&[model, model]);
    config.cpus = crate::vm::GUEST_CPUS;
    config.dpdk = true;
    // QEMU's trace times the guest's reaction during the pings.
    config.trace_log = true;
    if model == "igb" {
        // Two 82576s side by side collide on their VFs' routing IDs.
        config.placement = Placement::RootPorts;
    }
    let g = Guest::boot(config)?;
    let left = HostStack::start(g.nic(0), LEFT)?;
    let right = HostStack::start(g.nic(1), RIGHT)?;
    let mut paths: Vec<PathResult> = Path::ALL
        .iter()
        .map(|p| PathResult {
            name: p.name().into(),
            settings: p.settings(),
            ..PathResult::default()
        })
        .collect();
    // The bridge comes last: it takes both NICs from vfio-pci.
    let bridge = Path::ALL.len() - 1;
    let user_space = &Path::ALL[..bridge];
    for round in 1..=effort.runs() {
        for (i, path) in user_space.iter().enumerate() {
            println!("    {} (round {round})", path.name());
            record(&mut paths[i], through(&g, *path, &left, &right, effort));
        }
    }
    let mut endpoints: Vec<PathResult> = Endpoint::ALL
        .iter()
        .map(|e| PathResult {
            name: e.name().into(),
            settings: e.settings(model),
            ..PathResult::default()
        })
        .collect();
    println!("    e1000 tap: the guest's own stack on the first NIC");
    for round in 1..=effort.runs() {
        for (i, endpoint) in Endpoint::ALL.iter().enumerate() {
            let Some(options) = endpoint.tap_options() else {
                continue;
            };
            println!("    {} (round {round})", endpoint.name());
            let pci_and_options = format!("{}{options}", g.nic(0).pci);
            match crate::vm::models::start_tap(&g, &pci_and_options, &format!("{GUEST}/24")) {
                Ok(job) => {
                    record(&mut endpoints[i], in_guest(&g, &left, effort));
                    g.run("killall -INT e1000", Duration::from_secs(20))?;
                    job.wait(Duration::from_secs(60))?;
                }
                Err(e) => record(&mut endpoints[i], Err(e)),
            }
        }
    }
    println!("    kernel bridge: handing both NICs to the kernel's driver");
    match bridge_up(&g) {
        Ok(()) => {
            wait_through(&left, &right)?;
            for round in 1..=effort.runs() {
                println!("    kernel bridge (round {round})");
                record(&mut paths[bridge], workloads(&g, &left, &right, effort));
            }
            println!("    kernel driver: the guest's own stack on the first NIC");
            let kernel = Endpoint::ALL
                .iter()
                .position(|e| *e == Endpoint::Kernel)
                .expect("Endpoint::ALL holds Kernel");
            match bridge_down(&g) {
                Ok(()) => {
                    for round in 1..=effort.runs() {
                        println!("    kernel driver (round {round})");
                        record(&mut endpoints[kernel], in_guest(&g, &left, effort));
                    }
                }
                Err(e) => record(&mut endpoints[kernel], Err(e)),
            }
        }
        Err(e) => {
            println!("      ! {e:#}");
            paths[bridge].error = Some(format!("{e:#}"));
        }
    }
    Ok(StacksResult {
        model: model.into(),
        paths,
        endpoints,
    })
}

fn record(path: &mut PathResult, round: Result<Round>) {
    match round {
        Ok(r) => {
            let us = |v: Option<f64>| v.map_or("—".to_string(), |us| format!("{us:.0}"));
            println!(
                "      ping {:.2} ms (guest reaction {} / {} µs), TCP {:.0} / {:.0} Mbit/s, {} retransmits, UDP {} of {} lost",
                r.ping_ms,
                us(r.reaction_us[0]),
                us(r.reaction_us[1]),
                r.tcp[0],
                r.tcp[1],
                r.retransmits,
                r.udp.1,
                r.udp.0
            );
            path.rounds.push(r);
        }
        Err(e) => {
            println!("      ! {e:#}");
            path.error.get_or_insert(format!("{e:#}"));
        }
    }
}

/// Starts `path` in the guest, waits until a ping gets through, runs the
/// workloads, stops it.
fn through(
    g: &Guest,
    path: Path,
    left: &HostStack,
    right: &HostStack,
    effort: Effort,
) -> Result<Round> {
    let (a, b) = (&g.nic(0).pci, &g.nic(1).pci);
    let (cmd, process) = path.command(a, b);
    let job = g.spawn(&cmd)?;
    let result = wait_through(left, right).and_then(|()| workloads(g, left, right, effort));
    g.run(&format!("killall -INT {process}"), Duration::from_secs(20))?;
    let end = job.wait(Duration::from_secs(60))?;
    result.map_err(|e| e.context(format!("`{cmd}` printed:\n{}", end.output())))
}

/// Waits (up to 90 s: testpmd's start under TCG is slow) until an echo
/// request from `left` is answered by `right`.
fn wait_through(left: &HostStack, right: &HostStack) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if traffic::ping(left, right.ip(), 1, Duration::ZERO)?.lost() == 0 {
            return Ok(());
        }
    }
    Err(Error::msg("nothing got through the forwarder in 90 s"))
}

/// ping (traced: the guest's reactions), then TCP each way, then UDP,
/// between the two stacks.
fn workloads(g: &Guest, left: &HostStack, right: &HostStack, effort: Effort) -> Result<Round> {
    let pings = if effort.quick { 20 } else { 100 };
    let (ping, found): (Ping, _) = traced(g, &g.nic(0).model, || {
        traffic::ping(left, right.ip(), pings, Duration::from_millis(20))
    })?;
    let bytes = if effort.quick { 8 << 20 } else { 32 << 20 };
    let there = traffic::tcp_stream(left, right, 5201, bytes)?;
    let back = traffic::tcp_stream(right, left, 5202, bytes)?;
    let seconds = if effort.quick { 1 } else { 3 };
    let udp = traffic::udp_flow(
        left,
        right,
        5203,
        UDP_MBIT_PER_S,
        Duration::from_secs(seconds),
    )?;
    for (way, t) in [("left to right", &there), ("right to left", &back)] {
        if t.bytes != bytes {
            return Err(Error::msg(format!(
                "TCP {way}: {} of {bytes} bytes arrived",
                t.bytes
            )));
        }
    }
    let lost =
        |t: &traffic::TcpStreamResult| u64::from(t.retransmits).saturating_sub(t.loss_probes);
    Ok(Round {
        ping_ms: ping.median().as_secs_f64() * 1e3,
        reaction_us: reaction_p50s(&found),
        ping_lost: ping.lost(),
        tcp: [there.mbit_per_s(), back.mbit_per_s()],
        retransmits: lost(&there) + lost(&back),
        checksum_errors: there.checksum_errors + back.checksum_errors + udp.checksum_errors,
        udp: (udp.sent, udp.sent.saturating_sub(udp.received)),
    })
}

/// Ordinary programs against the guest's own stack at [`GUEST`]: `host`
/// pings it, then iperf3 in the guest sends TCP to `host`, receives TCP
/// from it (`-R`) and sends a paced UDP flow.
fn in_guest(g: &Guest, host: &HostStack, effort: Effort) -> Result<Round> {
    let guest: [u8; 4] = GUEST
        .parse::<std::net::Ipv4Addr>()
        .map_err(Error::msg)?
        .octets();
    // A fresh `e1000 tap` (each round starts one), and the 8254x models'
    // second of deafness after RCTL is written, before the timed pings.
    let deadline = Instant::now() + Duration::from_secs(30);
    while traffic::ping(host, guest, 1, Duration::ZERO)?.lost() > 0 {
        if Instant::now() > deadline {
            return Err(Error::msg(
                "the guest's stack did not answer a ping in 30 s",
            ));
        }
    }
    let pings = if effort.quick { 20 } else { 100 };
    let (ping, found): (Ping, _) = traced(g, &g.nic(0).model, || {
        traffic::ping(host, guest, pings, Duration::from_millis(20))
    })?;
    let secs = if effort.quick { 1 } else { 3 };
    let before = host.run(counters)?;
    let up = guest_iperf3(g, host, &format!("-t {secs}"))?;
    let down = guest_iperf3(g, host, &format!("-t {secs} -R"))?;
    let udp = guest_iperf3(g, host, &format!("-t {secs} -u -b {UDP_MBIT_PER_S}M"))?;
    let after = host.run(counters)?;
    let bad = |proto: &str| {
        counter(&after, proto, "InCsumErrors").saturating_sub(counter(
            &before,
            proto,
            "InCsumErrors",
        ))
    };
    let retransmits = |run: &GuestIperf3| run.tcp_sent()["retransmits"].as_u64().unwrap_or(0);
    Ok(Round {
        ping_ms: ping.median().as_secs_f64() * 1e3,
        reaction_us: reaction_p50s(&found),
        ping_lost: ping.lost(),
        tcp: [
            iperf3_mbit_per_s(up.tcp_sent()),
            iperf3_mbit_per_s(down.tcp_sent()),
        ],
        retransmits: retransmits(&up) + retransmits(&down),
        checksum_errors: bad("Tcp:") + bad("Udp:"),
        // What the host's own iperf3 socket had no room for is not the path's loss.
        udp: (
            udp.udp()["packets"].as_u64().unwrap_or(0),
            udp.udp_lost_on_the_way(),
        ),
    })
}

/// Takes the bridge down and gives the first NIC's interface (on the
/// kernel's driver) the guest's address [`GUEST`].
fn bridge_down(g: &Guest) -> Result<()> {
    let a = &g.nic(0).pci;
    g.run_ok(
        &format!(
            "na=$(pci-netdev {a}); ip link set br0 down && brctl delbr br0 && \
             ip addr add {GUEST}/24 dev $na && ip link set $na up"
        ),
        Duration::from_secs(30),
    )?;
    Ok(())
}

/// Hands both NICs to the kernel's driver and bridges them.
fn bridge_up(g: &Guest) -> Result<()> {
    let (a, b) = (&g.nic(0).pci, &g.nic(1).pci);
    let driver = kernel_driver(&g.nic(0).model);
    let script = format!(
        "unbind-vfio {a} {b}; load-kernel-driver {driver} && load-kernel-driver bridge || exit 1; \
         for i in $(seq 50); do na=$(pci-netdev {a}); nb=$(pci-netdev {b}); [ -n \"$na\" ] && [ -n \"$nb\" ] && break; sleep 0.2; done; \
         [ -n \"$na\" ] && [ -n \"$nb\" ] || {{ echo 'no netdevs'; exit 1; }}; \
         brctl addbr br0 || exit 1; echo 0 > /sys/class/net/br0/bridge/stp_state; echo 0 > /sys/class/net/br0/bridge/forward_delay; \
         for n in $na $nb br0; do echo 1 > /proc/sys/net/ipv6/conf/$n/disable_ipv6; done; \
         brctl addif br0 $na && brctl addif br0 $nb && ip link set $na up && ip link set $nb up && ip link set br0 up"
    );
    g.run_ok(&script, Duration::from_secs(60))?;
    Ok(())
}

/// The Markdown report of a `--stacks` run.
pub fn markdown(results: &[StacksResult], command: &str, date: &str, qemu: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Real stacks through a forwarder in the guest\n");
    let _ = writeln!(
        md,
        "`{command}`, {date}, {qemu}, TCG, 2 vCPUs. Two host kernel stacks, each in its own network namespace on one NIC's link; the guest forwards between its two NICs. Per round: 100 echo requests (20 with --quick) 20 ms apart (p50), one TCP stream each way, a UDP flow at {UDP_MBIT_PER_S} Mbit/s of payload; each figure is the median of the path's rounds, retransmits (tail loss probes excepted) and losses are totals. Ratios are against testpmd io in the same boot. The guest's reaction is timed from QEMU's trace during the pings (models with the trace events only): from the NIC model receiving a frame to the guest's next TX tail write, for the echo requests (after 20 ms without a frame) and for their replies; it leaves out the host stacks and the links, which make up most of the round trip and most of its noise.\n\n\
         Then the guest's own stack on the first NIC, through `e1000 tap` (with its defaults and with `--busy-poll 30ms`, started anew each round) and through the kernel's driver: the host stack pings the guest, iperf3 in the guest runs a TCP stream each way (3 s, 1 s with --quick) and a UDP flow at {UDP_MBIT_PER_S} Mbit/s against an iperf3 server in the host stack; retransmits are iperf3's, and a datagram the host's own server socket had no room for is not counted lost. Ratios are against the kernel's driver in the same boot.\n"
    );
    for r in results {
        let _ = writeln!(md, "## {} (two NICs)\n", r.model);
        table(
            &mut md,
            "path",
            ["TCP →", "TCP ←"],
            &r.paths,
            Path::Testpmd.name(),
        );
        let _ = writeln!(
            md,
            "### Ordinary programs in the guest: `e1000 tap` vs the kernel's driver\n"
        );
        table(
            &mut md,
            "guest end",
            ["TCP guest → host", "TCP host → guest"],
            &r.endpoints,
            Endpoint::Kernel.name(),
        );
    }
    md
}

/// One table of `paths`, TCP ratios against the path named `baseline`,
/// then each path's settings.
fn table(md: &mut String, what: &str, tcp: [&str; 2], paths: &[PathResult], baseline: &str) {
    let _ = writeln!(
        md,
        "| {what} | ping p50 | guest reaction p50, request / reply | {} | {} | TCP vs {baseline} | retransmits | UDP lost | bad checksums |",
        tcp[0], tcp[1]
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    let base_tcp = paths
        .iter()
        .find(|p| p.name == baseline)
        .and_then(|p| p.median(|x| x.tcp[0] + x.tcp[1]));
    for p in paths {
        let (Some(ping), Some(there), Some(back)) = (
            p.median(|x| x.ping_ms),
            p.median(|x| x.tcp[0]),
            p.median(|x| x.tcp[1]),
        ) else {
            let _ = writeln!(md, "| {} | — | — | — | — | — | — | — | — |", p.name);
            continue;
        };
        let ratio = match (p.median(|x| x.tcp[0] + x.tcp[1]), base_tcp) {
            (Some(ours), Some(theirs)) if theirs > 0.0 => format!("{:.2}x", ours / theirs),
            _ => "—".into(),
        };
        // The median over the rounds, if every round has the figure.
        let reaction = |i: usize| {
            let rounds: Option<Vec<f64>> = p.rounds.iter().map(|r| r.reaction_us[i]).collect();
            rounds
                .and_then(|mut v| median(&mut v))
                .map_or("—".to_string(), |us| format!("{us:.0}"))
        };
        let _ = writeln!(
            md,
            "| {} | {ping:.2} ms | {} / {} µs | {there:.0} Mbit/s | {back:.0} Mbit/s | {ratio} | {} | {} of {} | {} |",
            p.name,
            reaction(0),
            reaction(1),
            p.total(|x| x.retransmits),
            p.total(|x| x.udp.1),
            p.total(|x| x.udp.0),
            p.total(|x| x.checksum_errors)
        );
    }
    let _ = writeln!(md);
    for p in paths {
        let _ = writeln!(md, "- **{}**: {}", p.name, p.settings);
        if let Some(e) = &p.error {
            let first = e.lines().next().unwrap_or_default();
            let _ = writeln!(md, "  - failed: {first}");
        }
    }
    let _ = writeln!(md);
}
