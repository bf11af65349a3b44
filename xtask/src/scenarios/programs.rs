//! Ordinary programs on a NIC the driver holds: the guest kernel's own
//! stack through `e1000 tap`, against the host's, and a multi-queue echo as
//! a user under an 8 MiB memlock limit.

use super::common::{cpu_ticks, no_dmar_faults, vfio_interrupts};
use super::suite::Suite;
use crate::ensure;
use crate::error::Result;
use crate::link::host_stack::{connect_when_listening, counter, counters, retransmits, HostStack};
use crate::link::peer::{Peer, TrafficSpec};
use crate::link::responder::Responder;
use crate::vm::guest::Guest;
use crate::vm::models::irq_modes;
use crate::vm::models::start_tap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

/// Adds this module's scenarios for `model` to `s`.
pub fn add(s: Suite, model: &'static str) -> Suite {
    let name = |what: &str| format!("{model}::{what}");
    let s = s
        .test(name("tap_carries_the_kernels_ping"), tap)
        .test(name("tap_carries_tcp_both_ways"), tap_tcp)
        .test(name("tap_busy_polls_the_ring_and_the_tap"), tap_busy_poll);
    // Multi-queue NICs: the 82574L's two queues, four of the 82576's.
    let (queues, count) = match model {
        "e1000e" => (2, "two"),
        "igb" => (4, "four"),
        _ => return s,
    };
    s.test(
        name(&format!(
            "echo_{count}_queues_as_a_user_within_8_mib_of_memlock"
        )),
        move |g| echo_within_8_mib_as_user(g, queues),
    )
    .test(name("tap_spreads_tcp_flows_over_its_queues"), move |g| {
        tap_queues(g, queues.into())
    })
}

/// The host's IPv4 responder at 10.11.12.1 on NIC 0's link, and `e1000 tap
/// PCI{options}` with the interface at 10.11.12.2/24, or why it did not come
/// up (the job still runs, for its output).
fn tap_beside_responder<'g>(
    g: &'g Guest,
    options: &str,
) -> Result<(Responder, crate::vm::job::Job<'g>, Result<()>)> {
    let nic = g.nic(0);
    let ten = Duration::from_secs(10);
    g.run_ok("load-kernel-driver tun", ten)?;
    let responder = Responder::start(nic, [10, 11, 12, 1])?;
    let mut job = g.spawn(&format!("e1000 tap {}{options}", nic.pci))?;
    let ready = job.wait_line(
        |l| l.contains("tap: interface e1000tap0 is up"),
        Duration::from_secs(30),
    );
    if !irq_modes(&nic.model).contains(&"msi") {
        // The 8254x model holds reception for a second after RCTL is written.
        std::thread::sleep(Duration::from_millis(1500));
    }
    let up = ready.and_then(|_| {
        g.run_ok("ip addr add 10.11.12.2/24 dev e1000tap0", ten)?;
        Ok(())
    });
    Ok((responder, job, up))
}

/// `e1000 tap`: the guest kernel's own stack pings the host peer through a
/// TAP interface that `e1000 tap` carries to and from the NIC. The
/// interface has the NIC's MAC address, every echo request is answered,
/// and the interface is gone once the command is killed with SIGKILL.
fn tap(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let ten = Duration::from_secs(10);
    let (responder, job, ready) = tap_beside_responder(g, "")?;
    let result = ready.and_then(|_| {
        let link = g.run_ok("ip link show e1000tap0", ten)?.output();
        let mac = nic
            .mac
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        ensure!(
            link.contains(&mac) && link.contains("UP"),
            "e1000tap0 is not up with the NIC's MAC {mac}:\n{link}"
        );
        let ping = g.run("ping -c 10 -W 2 10.11.12.1", Duration::from_secs(60))?;
        ensure!(
            ping.status == 0 && ping.output().contains("10 packets received"),
            "the kernel's ping through e1000 tap:\n{}",
            ping.output()
        );
        Ok(())
    });
    let stats = responder.stop();
    let said = job.lines();
    let _ = g.run("killall -KILL e1000", ten);
    let _ = job.wait(Duration::from_secs(30));
    result.map_err(|e| crate::error::Error::msg(format!("{e:#}\nthe host saw {stats:?}")))?;
    // Its queue's thread runs where the queue's interrupt lands, as echo's.
    ensure!(
        said.iter()
            .any(|l| l.starts_with("tap: queue 0 runs on CPU ")
                && l.ends_with("which takes its interrupt")),
        "e1000 tap did not say where its thread runs:\n{}",
        said.join("\n")
    );
    ensure!(
        stats.arp_senders.contains(&nic.mac) && stats.echo_requests >= 10,
        "the host saw {stats:?}"
    );
    let gone = g.run("ip link show e1000tap0", ten)?;
    ensure!(
        gone.status != 0,
        "e1000tap0 outlived its SIGKILLed process:\n{}",
        gone.output()
    );
    no_dmar_faults(g)
}

/// `e1000 tap --busy-poll 30ms`: after it hands the kernel's echo request
/// to the NIC, its thread spins on the RX ring and the TAP for 30 ms
/// instead of sleeping (at least 30 ms of CPU per ping), so each reply,
/// back well within that, raises no interrupt where unmasking clears what
/// came in while masked (MSI-X: at most one per two replies, for the odd
/// race at the spin's end; the 8254x's one vector raises the stale cause
/// when the spin ends); the next request, a second later, wakes it through
/// the TAP, and between pings it sleeps. Before the spin looked at the TAP,
/// `tap` never spun at all: no CPU, one or two interrupts per reply; and
/// every wait that timed out spun again first (2.3 s of CPU for 10 pings).
fn tap_busy_poll(g: &mut Guest) -> Result<()> {
    const PINGS: u64 = 10;
    let nic = g.nic(0);
    let pci = nic.pci.clone();
    let ten = Duration::from_secs(10);
    let (responder, job, ready) = tap_beside_responder(g, " --busy-poll 30ms")?;
    let result = ready.and_then(|()| {
        // The first request also resolves the host's address.
        g.run_ok("ping -c 1 -W 2 10.11.12.1", ten)?;
        let before = (vfio_interrupts(g, &pci)?, cpu_ticks(g)?);
        let ping = g.run(
            &format!("ping -c {PINGS} -W 2 10.11.12.1"),
            Duration::from_secs(60),
        )?;
        let irqs = vfio_interrupts(g, &pci)? - before.0;
        let ticks = cpu_ticks(g)? - before.1;
        ensure!(
            ping.status == 0 && ping.output().contains(&format!("{PINGS} packets received")),
            "the kernel's ping through e1000 tap --busy-poll:\n{}",
            ping.output()
        );
        Ok((irqs, ticks))
    });
    let stats = responder.stop();
    let _ = g.run("killall -INT e1000", ten);
    let _ = job.wait(Duration::from_secs(30));
    let (irqs, ticks) =
        result.map_err(|e| crate::error::Error::msg(format!("{e:#}\nthe host saw {stats:?}")))?;
    println!(
        "    {PINGS} replies with {irqs} interrupts, {} ms of CPU",
        ticks * 10
    );
    // Half the 30 ms spins at least, in 10 ms clock ticks (the vCPU is
    // shared), and not three times them: between pings it sleeps.
    ensure!(
        ticks * 10 >= PINGS * 15,
        "tap --busy-poll 30ms took {} ms of CPU over {PINGS} pings: it did not spin",
        ticks * 10
    );
    ensure!(
        ticks * 10 <= PINGS * 90,
        "tap --busy-poll 30ms took {} ms of CPU over {PINGS} pings a second apart: it spun while idle",
        ticks * 10
    );
    ensure!(
        !irq_modes(&nic.model).contains(&"msix") || irqs * 2 <= PINGS,
        "{irqs} interrupts for {PINGS} echo replies that came back while tap busy-polled"
    );
    Ok(())
}

/// A multi-queue echo as a user (uid 1000) under the common default
/// locked-memory limit of 8 MiB: every ring and pool of the NIC is one
/// mapping, so `queues` × (768 buffers of 2 KiB and two rings of 256
/// descriptors) fit, hugepage rounding included; a ping-pong is echoed.
fn echo_within_8_mib_as_user(g: &mut Guest, queues: u16) -> Result<()> {
    let nic = g.nic(0);
    let pci = nic.pci.clone();
    let ten = Duration::from_secs(10);
    let group = g.iommu_group(&pci)?;
    g.run_ok(&format!("chown 1000 /dev/vfio/{group}"), ten)?;
    let peer = Peer::new(nic)?;
    let job = g.spawn(&format!(
        "ulimit -l 8192; as-user e1000 echo {pci} --queues {queues} --ring 256 --pool 768 --irq msix --timeout 60 --quiet"
    ));
    let result = job.and_then(|mut job| {
        job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
        let s = peer.ping_pong(50, TrafficSpec::default(), Duration::from_secs(2))?;
        g.run_ok("killall -INT e1000", ten)?;
        let r = job.wait(Duration::from_secs(30))?;
        ensure!(
            s.is_perfect() && r.status == 0,
            "{queues} queues within 8 MiB: {s}\n{}",
            r.output()
        );
        Ok(())
    });
    g.run_ok(&format!("chown 0 /dev/vfio/{group}"), ten)?;
    result
}

/// Bytes each way in [`tap_tcp`].
const TCP_BYTES: usize = 8 << 20;

/// TCP through `e1000 tap` against the host kernel's stack (a namespace
/// on the link): 8 MiB from the guest to the host, which the guest kernel
/// hands over as 64 KiB frames for the NIC to segment, and 8 MiB back,
/// whose checksums the NIC verifies for the guest kernel. Every byte must
/// arrive, neither side may retransmit or see a bad checksum, the TAP
/// must report segmented frames, and it must be gone after SIGINT.
fn tap_tcp(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let ten = Duration::from_secs(10);
    g.run_ok("load-kernel-driver tun", ten)?;
    let host = HostStack::start(nic, [10, 11, 12, 1])?;
    let host_before = host.run(counters)?;
    let mut job = g.spawn(&format!("e1000 tap {} --json", nic.pci))?;
    job.wait_line(
        |l| l.contains("tap: interface e1000tap0 is up"),
        Duration::from_secs(30),
    )?;
    if !irq_modes(&nic.model).contains(&"msi") {
        std::thread::sleep(Duration::from_millis(1500));
    }
    g.run_ok("ip addr add 10.11.12.2/24 dev e1000tap0", ten)?;
    let guest_counters = "cat /proc/net/snmp /proc/net/netstat";
    let guest_before = g.run_ok(guest_counters, ten)?.output();
    // Guest to host: the host reads every byte, then closes.
    let received = host.spawn(|| -> std::io::Result<(usize, Duration)> {
        let listener = TcpListener::bind("10.11.12.1:5001")?;
        let (mut s, _) = listener.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let (start, mut got, mut buf) = (Instant::now(), 0, vec![0u8; 65536]);
        while got < TCP_BYTES {
            match s.read(&mut buf)? {
                0 => break,
                n => got += n,
            }
        }
        Ok((got, start.elapsed()))
    })?;
    std::thread::sleep(Duration::from_millis(200));
    let blocks = TCP_BYTES / 65536;
    let up = g.run(
        &format!("dd if=/dev/zero bs=65536 count={blocks} 2>/dev/null | nc 10.11.12.1 5001"),
        Duration::from_secs(120),
    )?;
    let (got_up, up_time) = received
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| crate::error::Error::msg("the host's receiver never finished"))??;
    // Host to guest: the guest counts what arrives.
    let listener = g.spawn("nc -l -p 5002 | wc -c")?;
    std::thread::sleep(Duration::from_millis(500));
    let sent = host.run(|| -> std::io::Result<(u32, Duration)> {
        let mut s = connect_when_listening("10.11.12.2:5002".parse().unwrap())?;
        let (start, block) = (Instant::now(), vec![0x5Au8; 65536]);
        for _ in 0..TCP_BYTES / block.len() {
            s.write_all(&block)?;
        }
        s.shutdown(Shutdown::Write)?;
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest); // until the guest closes
        Ok((retransmits(&s), start.elapsed()))
    })??;
    let down = listener.wait(Duration::from_secs(120))?;
    let guest_after = g.run_ok(guest_counters, ten)?.output();
    let host_after = host.run(counters)?;
    g.run_ok("killall -INT e1000", ten)?;
    let tap = job.wait(Duration::from_secs(30))?;
    let gone = g.run("ip link show e1000tap0", ten)?;
    drop(host);
    let delta = |before: &str, after: &str, prefix: &str, name: &str| {
        let at = |t: &str| counter(t, prefix, name);
        at(after).saturating_sub(at(before))
    };
    // A tail loss probe resends the last segment when its ACK is late (a
    // TCG guest's timers make that common); it counts as a retransmit but
    // is no loss, and is reported apart.
    let guest_probes = delta(&guest_before, &guest_after, "TcpExt:", "TCPLossProbes");
    let guest_retrans =
        delta(&guest_before, &guest_after, "Tcp:", "RetransSegs").saturating_sub(guest_probes);
    let guest_csum = delta(&guest_before, &guest_after, "Tcp:", "InCsumErrors");
    let host_csum = delta(&host_before, &host_after, "Tcp:", "InCsumErrors");
    // The host's socket counts its tail loss probes among its retransmits
    // too: taken out the same way.
    let host_probes = delta(&host_before, &host_after, "TcpExt:", "TCPLossProbes");
    let host_retrans = u64::from(sent.0).saturating_sub(host_probes);
    let got_down: usize = down
        .output()
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .parse()
        .unwrap_or(0);
    let summary = tap.output();
    let json = summary
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or_default();
    let segmented = json["tx_segmented"].as_u64().unwrap_or(0);
    let (nic_missed, driver_dropped) = (
        json["nic"]["rx_missed"].as_u64().unwrap_or(0),
        json["dropped"].as_u64().unwrap_or(0)
            + json["nic"]["rx_driver_dropped"].as_u64().unwrap_or(0),
    );
    // QEMU's 8254x model now and then drops host frames into a ring it
    // knows is empty (`e1000_receiver_overrun` with RDH == RDT: its net
    // queue flush delivers without asking `can_receive`, see
    // docs/qemu-models.md), which a real NIC would not do while the driver
    // keeps up: one host retransmit is tolerated when the NIC counted such
    // a drop and the driver dropped nothing. Reported either way.
    let host_excused = u64::from(nic_missed > 0 && driver_dropped == 0).min(host_retrans);
    ensure!(
        up.status == 0 && got_up == TCP_BYTES && got_down == TCP_BYTES,
        "TCP through e1000 tap: guest to host {got_up} of {TCP_BYTES} bytes, host to guest {got_down}:\n{}\n{}",
        up.output(),
        down.output()
    );
    ensure!(
        // One retransmit by the guest was seen once in a dozen runs under
        // TCG (a timer that fired while the vCPU was descheduled): tolerated,
        // reported; a loss in the path shows as many.
        guest_retrans <= 1 && host_retrans <= host_excused && guest_csum == 0 && host_csum == 0,
        "retransmits: guest {guest_retrans} (and {guest_probes} tail loss probes), host {host_retrans} (and {host_probes} tail loss probes; NIC missed {nic_missed}, driver dropped {driver_dropped}); checksum errors: guest {guest_csum}, host {host_csum}"
    );
    ensure!(
        tap.status == 0 && segmented > 0,
        "e1000 tap after SIGINT (exit {}), {segmented} frames segmented by the NIC:\n{summary}",
        tap.status
    );
    ensure!(
        gone.status != 0,
        "e1000tap0 outlived its process after SIGINT"
    );
    let rate = |t: Duration| TCP_BYTES as f64 * 8.0 / t.as_secs_f64() / 1e6;
    println!(
        "    TCP 8 MiB each way, {guest_retrans} + {host_retrans} retransmits ({guest_probes} + {host_probes} tail loss probes; NIC missed {nic_missed}), 0 checksum errors: guest to host {:.0} Mbit/s ({segmented} frames cut by the NIC), host to guest {:.0} Mbit/s",
        rate(up_time),
        rate(sent.1)
    );
    no_dmar_faults(g)
}

/// TCP flows from the host in `tap_queues`.
const TAP_FLOWS: u16 = 16;
/// Bytes each flow carries.
const TAP_FLOW_BYTES: usize = 128 * 1024;

/// `e1000 tap --queues N`: the interface has N queues, and 16 TCP flows
/// from the host's stack to the guest's each deliver every byte, spread by
/// RSS over more than one of the NIC's queues (and so of the TAP's), and
/// the guest's answers leave by more than one (the kernel sends a flow
/// back on the TAP queue it came in on). What each queue carried each way
/// is reported.
fn tap_queues(g: &mut Guest, queues: usize) -> Result<()> {
    let nic = g.nic(0);
    let ten = Duration::from_secs(10);
    let host = HostStack::start(nic, [10, 11, 12, 1])?;
    let job = start_tap(
        g,
        &format!("{} --queues {queues}", nic.pci),
        "10.11.12.2/24",
    )?;
    let sysfs = g
        .run_ok("ls /sys/class/net/e1000tap0/queues", ten)?
        .output();
    let tap_rx_queues = sysfs
        .split_whitespace()
        .filter(|q| q.starts_with("rx-"))
        .count();
    let first = 5101;
    let last = first + TAP_FLOWS - 1;
    let listeners = g.spawn(&format!(
        "for p in $(seq {first} {last}); do (nc -l -p $p | wc -c > /tmp/flow.$p) & done; wait"
    ))?;
    std::thread::sleep(Duration::from_millis(500));
    let sent = host.run(move || -> std::io::Result<usize> {
        let block = vec![0xA5u8; TAP_FLOW_BYTES];
        for port in first..=last {
            let mut s = connect_when_listening(format!("10.11.12.2:{port}").parse().unwrap())?;
            s.write_all(&block)?;
            s.shutdown(Shutdown::Write)?;
            let _ = s.read_to_end(&mut Vec::new()); // until the guest closes
        }
        Ok(usize::from(TAP_FLOWS) * TAP_FLOW_BYTES)
    })??;
    listeners.wait(Duration::from_secs(120))?;
    let counts = g
        .run_ok("cat /tmp/flow.*; rm -f /tmp/flow.*", ten)?
        .output();
    let got: usize = counts
        .split_whitespace()
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    g.run_ok("killall -INT e1000", ten)?;
    let tap = job.wait(Duration::from_secs(30))?;
    drop(host);
    let summary = tap.output();
    // "tap: queue Q: rx N frames B bytes, tx M frames"
    let per_queue: Vec<(u64, u64)> = summary
        .lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("tap: queue ")?;
            let words: Vec<&str> = rest.split_whitespace().collect();
            Some((words.get(2)?.parse().ok()?, words.get(7)?.parse().ok()?))
        })
        .collect();
    let busy = per_queue.iter().filter(|(rx, _)| *rx > 0).count();
    let busy_tx = per_queue.iter().filter(|(_, tx)| *tx > 0).count();
    ensure!(
        tap.status == 0 && tap_rx_queues == queues && per_queue.len() == queues,
        "e1000 tap --queues {queues}: exit {}, {tap_rx_queues} TAP queues in sysfs ({sysfs}), {} queue lines:\n{summary}",
        tap.status,
        per_queue.len()
    );
    ensure!(
        got == sent && busy >= 2 && busy_tx >= 2,
        "{TAP_FLOWS} TCP flows through e1000 tap --queues {queues}: {got} of {sent} bytes, frames received on {busy} queues, sent on {busy_tx}:\n{summary}"
    );
    println!("    {TAP_FLOWS} TCP flows, {got} bytes; per queue (rx, tx frames): {per_queue:?}");
    no_dmar_faults(g)
}
