//! The driver's end-to-end scenarios, the same for every NIC model: echo in
//! each interrupt mode (ping-pong and flood, byte-exact), dump, send, info,
//! every user error provoked for real, SIGINT/SIGKILL mid-flood without DMAR
//! faults, and the kernel's own driver working before and after ours.

use super::common::{
    echo_works, json_objects, json_one, json_summary, nic_counter, no_dmar_faults, receive_sent,
    start_cli,
};
use super::suite::Suite;
use crate::error::Result;
use crate::link::frame::{FrameKind, Mac};
use crate::link::peer::{Peer, TrafficSpec};
use crate::link::responder::Responder;
use crate::vm::guest::{Guest, GuestConfig};
use crate::vm::models::irq_modes;
use crate::{bail, ensure};
use std::time::Duration;

/// Adds the driver's own scenarios for `model`.
pub fn add(mut s: Suite, model: &'static str) -> Suite {
    let name = |what: &str| format!("{model}::{what}");
    s = s.test(name("info_shows_qemu_mac"), info);
    for mode in irq_modes(model) {
        let mode = *mode;
        s = s.test(name(&format!("echo_{mode}_pingpong_and_flood")), move |g| {
            echo(g, mode)
        });
    }
    if model == "e1000e" {
        s = s
            .test(name("echo_rss_two_queues_two_threads_msix"), |g| {
                rss(g, 2, "msix")
            })
            .test(name("echo_rss_two_queues_two_threads_poll"), |g| {
                rss(g, 2, "poll")
            });
    }
    if model == "igb" {
        s = s.test(name("echo_rss_four_queues_four_threads"), |g| {
            rss(g, 4, "msix")
        });
    }
    s.test(
        name("echo_4k_pages_identity_iova"),
        echo_4k_pages_identity_iova,
    )
    .test(
        name("receive_at_speed_loses_nothing_inside_the_guest"),
        receive_at_speed,
    )
    .test(name("dump_lines_match_sent_frames"), dump)
    .test(name("tokio_example_echoes_on_interrupts"), tokio_echo)
    .test(name("smoltcp_ping_through_the_driver"), smoltcp_ping)
    .test(name("send_checksums_and_sequence"), send)
    .test(
        name("kernel_driver_before_and_after"),
        kernel_driver_round_trip,
    )
}

/// `e1000 forward` between two NICs: frames sent into one come out of the
/// other unchanged, both ways, one at a time; then a burst of 2,000 at
/// 4,000 frames/s all comes out (a full TX ring holds frames back rather
/// than dropping them) and forward counts no drop of its own.
pub fn forward_suite() -> Suite {
    Suite::new(GuestConfig::with_nics(&["e1000e", "igb"])).test(
        "e1000e+igb::forward_both_ways",
        |g| {
            const N: usize = 500;
            const BURST: usize = 2000;
            let (a, b) = (g.nic(0), g.nic(1));
            let mut job = g.spawn(&format!(
                "e1000 forward {} {} --count {} --timeout 60",
                a.pci,
                b.pci,
                2 * N + BURST
            ))?;
            job.wait_line(
                |l| l.contains(&format!("forward: ready on {}", b.pci)),
                Duration::from_secs(30),
            )?;
            std::thread::sleep(Duration::from_millis(300));
            for (from, to) in [(a, b), (b, a)] {
                let (tx, rx) = (Peer::new(from)?, Peer::new(to)?);
                rx.drain()?;
                for i in 0..N {
                    let frame = tx.frame(&TrafficSpec::default(), i);
                    tx.send(&frame)?;
                    let got = rx.recv(Duration::from_secs(2))?;
                    ensure!(
                        got.as_deref() == Some(&frame[..]),
                        "frame {i} from {} did not come out of {} unchanged",
                        from.model,
                        to.model
                    );
                }
            }
            let (tx, rx) = (Peer::new(a)?, Peer::new(b)?);
            rx.drain()?;
            let frames: Vec<Vec<u8>> = (0..BURST)
                .map(|i| tx.frame(&TrafficSpec::default(), N + i))
                .collect();
            let sender = {
                let frames = frames.clone();
                std::thread::spawn(move || -> Result<()> {
                    let start = std::time::Instant::now();
                    for (i, f) in frames.iter().enumerate() {
                        let due = start + Duration::from_micros(250 * i as u64);
                        std::thread::sleep(
                            due.saturating_duration_since(std::time::Instant::now()),
                        );
                        tx.send(f)?;
                    }
                    Ok(())
                })
            };
            let mut arrived = 0;
            while let Some(f) = rx.recv(Duration::from_secs(2))? {
                arrived += frames.contains(&f) as usize;
            }
            sender
                .join()
                .map_err(|_| crate::error::Error::msg("the sending thread panicked"))??;
            let r = job.wait(Duration::from_secs(30))?;
            let out = r.output();
            ensure!(
                r.status == 0 && arrived == BURST,
                "forward exited {}; {arrived} of {BURST} burst frames came out:\n{out}",
                r.status
            );
            ensure!(
                out.contains("dropped (tx ring full or runt frame) 0"),
                "forward dropped frames itself:\n{out}"
            );
            Ok(())
        },
    )
}

pub(super) fn info(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let r = g.run_ok(&format!("e1000 info {}", nic.pci), Duration::from_secs(30))?;
    let out = r.output();
    ensure!(
        out.contains(&format!("mac:        {}", nic.mac)),
        "info does not show the MAC QEMU was given ({}):\n{out}",
        nic.mac
    );
    ensure!(
        out.contains("link:       up"),
        "info does not show the link up:\n{out}"
    );
    ensure!(
        out.contains("tested on QEMU model"),
        "info lacks the test status:\n{out}"
    );
    ensure!(
        out.contains("config space:") && out.contains("  00: 86 80"),
        "info lacks the config space dump:\n{out}"
    );
    ptp_clock_runs(&nic.model, &out)?;
    // --json: the same facts as one object.
    let r = g.run_ok(
        &format!("e1000 info {} --json", nic.pci),
        Duration::from_secs(30),
    )?;
    let v: serde_json::Value = serde_json::from_str(r.output().trim()).map_err(|e| {
        crate::error::Error::msg(format!(
            "info --json is not one JSON object ({e}):\n{}",
            r.output()
        ))
    })?;
    ensure!(
        v["mac"] == nic.mac.to_string()
            && v["link_up"] == true
            && v["pci"] == nic.pci.as_str()
            && v["config_space"]
                .as_str()
                .is_some_and(|c| c.starts_with("8680"))
            && v["offloads"]["hardware-clock"] == matches!(nic.model.as_str(), "e1000e" | "igb"),
        "info --json lacks or gets wrong a field:\n{v:#}"
    );
    Ok(())
}

/// `e1000 info`'s IEEE 1588 clock line: present on the families with a
/// clock (e1000e, igb), and the clock ran at the host's pace (a TCG
/// guest's virtual clock follows the host's: within a factor of two).
fn ptp_clock_runs(model: &str, out: &str) -> Result<()> {
    let line = out.lines().find(|l| l.starts_with("ptp clock:"));
    let has_clock = matches!(model, "e1000e" | "igb");
    ensure!(
        line.is_some() == has_clock,
        "{model}: a PTP clock line expected: {has_clock}:\n{out}"
    );
    ensure!(
        out.contains(&format!(
            "hardware-clock: {}",
            if has_clock { "on" } else { "off" }
        )),
        "{model}: the hardware-clock capability is wrong:\n{out}"
    );
    let Some(line) = line else { return Ok(()) };
    // "... ran N ns in M ns of the host's"
    let after_ran = line.split(" ran ").nth(1).unwrap_or("");
    let numbers: Vec<f64> = after_ran
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (ran, host) = match numbers[..] {
        [ran, host, ..] => (ran, host),
        _ => (0.0, 0.0),
    };
    ensure!(
        host > 0.0 && ran > host / 2.0 && ran < host * 2.0,
        "{model}: the PTP clock ran {ran} ns in {host} ns:\n{line}"
    );
    Ok(())
}

/// Ping-pong then a flood through `e1000 echo --irq MODE`, every echo checked byte by byte.
pub(crate) fn echo(g: &mut Guest, mode: &str) -> Result<()> {
    echo_with(g, "", &format!("--irq {mode}"), mode)
}

/// The library's `tokio_echo` example (an `AsyncFd` on the interrupt
/// eventfd, non-blocking acknowledgement): a ping-pong and a flood, every
/// echo checked, then it stops at its count and says so.
pub(super) fn tokio_echo(g: &mut Guest) -> Result<()> {
    const PINGS: usize = 200;
    const FLOOD: usize = 1000;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!("tokio_echo {} {}", nic.pci, PINGS + FLOOD))?;
    job.wait_line(|l| l.contains("tokio_echo: ready"), Duration::from_secs(30))?;
    let ping = peer.ping_pong(PINGS, TrafficSpec::default(), Duration::from_secs(2))?;
    let flood = peer.flood(
        FLOOD,
        TrafficSpec::default(),
        Some(5_000),
        Duration::from_secs(3),
    )?;
    if !(ping.is_perfect() && flood.is_perfect()) {
        g.run("killall -INT tokio_echo", Duration::from_secs(10))?;
    }
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(
        ping.is_perfect() && flood.is_perfect() && r.status == 0,
        "tokio_echo: ping-pong {ping}, flood {flood}:\n{}",
        r.output()
    );
    let want = format!("echoed {} frames", PINGS + FLOOD);
    ensure!(r.output().contains(&want), "no '{want}':\n{}", r.output());
    println!("    tokio: ping-pong {ping}\n    tokio: flood {flood}");
    Ok(())
}

/// Echo on 4 KiB pages (no hugepages) with identity IOVAs.
pub(super) fn echo_4k_pages_identity_iova(g: &mut Guest) -> Result<()> {
    let pci = g.nic(0).pci.clone();
    let info = g.run_ok(
        &format!("E1000_NO_HUGEPAGES=1 e1000 info {pci}"),
        Duration::from_secs(30),
    )?;
    ensure!(
        info.output().contains("dma:        4 KiB pages"),
        "not on 4 KiB pages:\n{}",
        info.output()
    );
    echo_with(
        g,
        "E1000_NO_HUGEPAGES=1 ",
        "--iova identity",
        "4k-pages-identity-iova",
    )
}

/// Ping-pong then a flood through `e1000 echo OPTIONS` (run with the
/// environment prefix `env`), every echo checked byte by byte; `mode` names
/// the run in messages ("poll" also asserts the register-free fast path).
pub(super) fn echo_with(g: &mut Guest, env: &str, options: &str, mode: &str) -> Result<()> {
    const PINGS: usize = 300;
    const FLOOD: usize = 3000;
    /// Offered flood rate: well inside what the emulated NIC carries (see the bench).
    const RATE: u64 = 10_000;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!(
        "{env}e1000 echo {} {options} --count {} --timeout 120 --quiet --json",
        nic.pci,
        PINGS + FLOOD
    ))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    let ping = peer.ping_pong(PINGS, TrafficSpec::default(), Duration::from_secs(2))?;
    ensure!(ping.is_perfect(), "ping-pong in {mode}: {ping}");
    let flood = peer.flood(
        FLOOD,
        TrafficSpec::default(),
        Some(RATE),
        Duration::from_secs(3),
    )?;
    if !flood.is_perfect() {
        g.run("killall -INT e1000", Duration::from_secs(10))?;
        let r = job.wait(Duration::from_secs(30))?;
        bail!("flood in {mode}: {flood}\n{}", r.output());
    }
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(r.status == 0, "echo exited {}:\n{}", r.status, r.output());
    let objects = json_objects(&r.lines)?;
    let summary = json_one(&objects, "summary")?;
    ensure!(
        summary["rx_frames"] == PINGS + FLOOD,
        "summary does not count {} frames received: {summary}\n{}",
        PINGS + FLOOD,
        r.output()
    );
    println!("    {mode}: ping-pong {ping}\n    {mode}: flood {flood}");
    // 10 k frames/s is far below what the driver carries: the RX ring must
    // never have filled (the counter the bench relies on to clear the driver).
    ensure!(
        summary["nic"]["rx_ring_full"] == 0,
        "the RX ring filled at {RATE} frames/s in {mode}:\n{}",
        r.output()
    );
    let per_frame = |k: &str| {
        summary[k]
            .as_f64()
            .ok_or_else(|| crate::error::Error::msg(format!("no {k} in {summary}")))
    };
    let mmio = (
        per_frame("mmio_reads_per_frame")?,
        per_frame("mmio_writes_per_frame")?,
    );
    println!(
        "    {mode}: {:.3} register reads and {:.3} writes per frame",
        mmio.0, mmio.1
    );
    if mode == "poll" {
        // The fast path reads no register and writes one tail per batch (each
        // frame is one RX and one TX, so at most one write per frame even for
        // ping-pong batches of one). The only reads are the look for a
        // removed device, at most one every 100 ms: a few in this ~2 s run
        // of 6,600 frames.
        ensure!(
            mmio.0 <= 0.01 && mmio.1 <= 1.0,
            "poll-mode fast path touched registers: {mmio:?}"
        );
    }
    no_dmar_faults(g)
}

/// Receiving alone at 100 kframes/s (about what the emulation carries; the
/// ring fills now and then): every frame the host sent and QEMU read
/// must reach `e1000 dump`, and the driver must drop none. This is where
/// QEMU's 82576 model shows a descriptor's DD bit before the rest of its
/// write-back (and rewrites DD on a descriptor already re-armed): a driver
/// that trusts DD alone loses frames and can deadlock its ring.
pub(super) fn receive_at_speed(g: &mut Guest) -> Result<()> {
    use crate::link::drops::{wait_drained, LinkDrops};
    const BURST: usize = 30_000;
    const RATE: u64 = 100_000;
    let nic = g.nic(0);
    let job = start_cli(g, "dump", "--irq poll")?;
    let before = LinkDrops::read(&nic.socket);
    let mut sent = 0;
    let mut bursts = Vec::new();
    for _ in 0..4 {
        let s = Peer::new(nic)?.flood(BURST, TrafficSpec::default(), Some(RATE), Duration::ZERO);
        bursts.push(s.map(|s| s.sent));
        wait_drained(&nic.socket, Duration::from_secs(5));
    }
    let dropped_by_host = before
        .zip(LinkDrops::read(&nic.socket))
        .map_or(0, |(a, b)| a.since(b).qemu);
    g.run("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    for b in bursts {
        sent += b?;
    }
    ensure!(r.status == 0, "dump exited {}:\n{out}", r.status);
    let summary = json_summary(&r)?;
    let received = summary["rx_frames"]
        .as_u64()
        .ok_or_else(|| crate::error::Error::msg(format!("no rx_frames in:\n{out}")))?;
    let dropped = nic_counter(&summary, "rx_driver_dropped")?;
    let early = nic_counter(&summary, "rx_early_dd")?;
    ensure!(
        dropped == 0 && received + dropped_by_host == sent,
        "sent {sent}, received {received}, {dropped_by_host} dropped at QEMU's socket, \
         {dropped} dropped by the driver: frames lost inside the guest\n{out}"
    );
    println!(
        "    {received}/{sent} received ({dropped_by_host} dropped by the host before QEMU); \
         DD seen before the length {early} times"
    );
    no_dmar_faults(g)
}

pub(super) fn dump(g: &mut Guest) -> Result<()> {
    const N: usize = 40;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!("e1000 dump {} --count {N} --timeout 60", nic.pci))?;
    job.wait_line(|l| l.contains("dump: ready"), Duration::from_secs(30))?;
    let spec = TrafficSpec {
        kind: FrameKind::Udp,
        ..TrafficSpec::default()
    };
    let mut sent = Vec::new();
    for i in 0..N {
        let f = peer.frame(&spec, i);
        peer.send(&f)?;
        sent.push(f);
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(r.status == 0, "dump exited {}:\n{}", r.status, r.output());
    // `HH:MM:SS.uuuuuu #N summary`, tcpdump style.
    let lines: Vec<&String> = r
        .lines
        .iter()
        .filter(|l| l.get(15..17) == Some(" #") && l.as_bytes()[2] == b':')
        .collect();
    ensure!(
        lines.len() == N,
        "{} dump lines for {N} frames:\n{}",
        lines.len(),
        r.output()
    );
    for (line, f) in lines.iter().zip(&sent) {
        let want = format!(
            "{} > {}, IPv4 (0x0800), length {}: ",
            Mac(f[6..12].try_into().unwrap()),
            Mac(f[0..6].try_into().unwrap()),
            f.len()
        );
        ensure!(
            line.contains(&want) && line.contains(": UDP, length"),
            "dump line '{line}' does not match the frame sent ({want})"
        );
    }
    Ok(())
}

pub(super) fn send(g: &mut Guest) -> Result<()> {
    const N: u64 = 2000;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    peer.drain()?;
    let job = g.spawn(&format!(
        "e1000 send {} --count {N} --size 128 --rate 10000 --dst-mac 02:00:00:00:00:01",
        nic.pci
    ))?;
    let next = receive_sent(&peer, N, |_, f| {
        ensure!(f.len() == 128, "frame of {} bytes, expected 128", f.len());
        ensure!(
            f[0..6] == [2, 0, 0, 0, 0, 1] && f[6..12] == nic.mac.0,
            "addresses wrong in {:02x?}",
            &f[..14]
        );
        Ok(())
    })?;
    let r = job.wait(Duration::from_secs(30))?;
    ensure!(next == N, "received {next}/{N} frames:\n{}", r.output());
    ensure!(r.status == 0, "send exited {}:\n{}", r.status, r.output());
    Ok(())
}

/// `e1000 ping` runs smoltcp on the NIC and pings the host peer, which answers
/// ARP and ICMP echo.
pub(super) fn smoltcp_ping(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let responder = Responder::start(nic, [10, 11, 12, 1])?;
    let r = g.run(
        &format!(
            "e1000 ping {} 10.11.12.1 --ip 10.11.12.2/24 --count 5",
            nic.pci
        ),
        Duration::from_secs(60),
    );
    let stats = responder.stop();
    let r = r?;
    ensure!(
        r.status == 0 && r.output().contains("ping: 5 sent, 5 received"),
        "ping failed ({stats:?}):\n{}",
        r.output()
    );
    ensure!(
        stats.arp_senders.contains(&nic.mac) && stats.echo_requests == 5,
        "the host saw {stats:?}"
    );
    Ok(())
}

/// RSS over `queues` queues, one thread each, in IRQ mode `mode`: every
/// frame of 64 UDP flows echoed intact (order is kept per flow, not across
/// queues), and every queue gets a fair share of them (at least half of an
/// even split; the bench's fixed key splits the 64 flows 32/32 on the
/// 82574L, 12/16/16/20 on the 82576).
pub(super) fn rss(g: &mut Guest, queues: usize, mode: &str) -> Result<()> {
    const N: usize = 4000;
    // Each ring holds more than a queue's whole share of the flood (the
    // fixed frames split 752/1000/992/1256 over four queues, 2000/2000 over
    // two), so a guest that the host stalls mid-flood loses nothing: the
    // test is about where frames go, not how fast one vCPU runs four threads.
    const RING: usize = 2048;
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!(
        "e1000 echo {} --queues {queues} --irq {mode} --ring {RING} --count {N} --timeout 120 --quiet --json",
        nic.pci
    ))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    let spec = TrafficSpec {
        kind: FrameKind::Udp,
        ..TrafficSpec::default()
    };
    let flood = peer.flood(N, spec, Some(10_000), Duration::from_secs(3))?;
    if flood.echoed != N as u64 {
        g.run("killall -INT e1000", Duration::from_secs(10))?;
    }
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    ensure!(
        flood.sent == flood.echoed && flood.mismatched + flood.duplicates == 0 && r.status == 0,
        "RSS echo ({queues} queues, {mode}): {flood}\n{out}"
    );
    let summary = json_summary(&r)?;
    let busy: Vec<u64> = summary["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["rx_frames"].as_u64())
        .collect();
    ensure!(
        busy.len() == queues && busy.iter().sum::<u64>() == N as u64,
        "per-queue counts {busy:?}:\n{out}"
    );
    let fair = (N / queues / 2) as u64;
    ensure!(
        busy.iter().all(|&n| n >= fair),
        "RSS spread unevenly over {queues} queues: {busy:?} (each should get {fair} or more)"
    );
    println!("    rss ({queues} queues, {mode}): {flood}; per queue {busy:?}");
    Ok(())
}

/// The guest kernel's driver takes the NIC after us and passes traffic; then
/// ours takes it back from the kernel driver's state and echoes.
pub(super) fn kernel_driver_round_trip(g: &mut Guest) -> Result<()> {
    let pci = g.nic(0).pci.clone();
    let sys = format!("/sys/bus/pci/devices/{pci}");
    g.run_ok(
        &format!("echo {pci} > {sys}/driver/unbind; echo > {sys}/driver_override"),
        Duration::from_secs(10),
    )?;
    let kernel = super::harness::kernel_ping(g, 0);
    let back = g.run(
        &format!("echo {pci} > {sys}/driver/unbind; echo vfio-pci > {sys}/driver_override; echo {pci} > /sys/bus/pci/drivers_probe; readlink {sys}/driver"),
        Duration::from_secs(20),
    )?;
    kernel?;
    if !back.output().contains("vfio-pci") {
        bail!("could not rebind {pci} to vfio-pci:\n{}", back.output());
    }
    no_dmar_faults(g)?;
    echo_works(g)
}
