//! Real network stacks at both ends of the guest: two host kernel stacks,
//! each in its own namespace on one NIC's link, with `e1000 forward`
//! between the two NICs. ping, a TCP stream each way and a paced UDP flow
//! must get through as they would through a wire: nothing lost, nothing
//! retransmitted, no bad checksum, and forward drops nothing itself.

use super::harness::busiest_vector_cpus;
use super::suite::Suite;
use crate::ensure;
use crate::error::Result;
use crate::link::host_stack::traffic::{self, guest_iperf3, iperf3_mbit_per_s, TcpStreamResult};
use crate::link::host_stack::{counter, counters, HostStack};
use crate::vm::guest::{Guest, GuestConfig, Placement};
use std::time::Duration;

/// Bytes of each TCP stream.
const TCP_BYTES: usize = 16 << 20;
/// The UDP flow's payload rate, as the exception-path issue asks (iperf3
/// `-u -b 50M`).
const UDP_MBIT_PER_S: f64 = 50.0;

/// A guest with two NICs of `model` and forwarding between real stacks.
pub fn forward_suite(model: &'static str) -> Suite {
    let mut config = GuestConfig::with_nics(&[model, model]);
    if model == "igb" {
        // Each 82576 reserves routing IDs for its virtual functions right
        // after its own: two in neighbouring slots collide, two behind
        // their own root ports do not.
        config.placement = Placement::RootPorts;
    }
    Suite::new(config).test(
        format!("{model}::forward_carries_ping_tcp_and_udp_between_host_stacks"),
        forward_between_stacks,
    )
}

fn forward_between_stacks(g: &mut Guest) -> Result<()> {
    let (a, b) = (g.nic(0), g.nic(1));
    let left = HostStack::start(a, [10, 11, 13, 1])?;
    let right = HostStack::start(b, [10, 11, 13, 2])?;
    let mut job = g.spawn(&format!("e1000 forward {} {}", a.pci, b.pci))?;
    job.wait_line(
        |l| l.contains(&format!("forward: ready on {}", b.pci)),
        Duration::from_secs(30),
    )?;
    std::thread::sleep(Duration::from_secs(1));
    let ping = traffic::ping(&left, right.ip(), 20, Duration::from_millis(50))?;
    let there = traffic::tcp_stream(&left, &right, 5201, TCP_BYTES)?;
    let back = traffic::tcp_stream(&right, &left, 5202, TCP_BYTES)?;
    let udp = traffic::udp_flow(&left, &right, 5203, UDP_MBIT_PER_S, Duration::from_secs(2))?;
    let irqs = [&a.pci, &b.pci].map(|pci| {
        g.run_ok(
            &format!("grep 'vfio-.*{pci}' /proc/interrupts"),
            Duration::from_secs(10),
        )
    });
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let forward = job.wait(Duration::from_secs(30))?;
    let out = forward.output();
    let [irqs_a, irqs_b] = irqs;
    let (irqs_a, irqs_b) = (irqs_a?, irqs_b?);
    // Its one thread runs where its RX interrupts land (the first NIC's
    // CPU when they land apart).
    let cpus = [&irqs_a, &irqs_b].map(|r| busiest_vector_cpus(&r.lines));
    ensure!(
        cpus.iter().all(|c| c.len() == 1),
        "an RX vector's interrupts landed on several CPUs:\n{}\n{}",
        irqs_a.output(),
        irqs_b.output()
    );
    let says = if cpus[0] == cpus[1] {
        format!(
            "forward: its 2 queues run on CPU {}, which takes their interrupts",
            cpus[0][0]
        )
    } else {
        format!(
            "forward: its 2 queues run on CPU {}, which takes 1 of their 2 interrupts",
            cpus[0][0]
        )
    };
    ensure!(
        out.contains(&says),
        "wanted `{says}`; /proc/interrupts:\n{}\n{}\nforward printed:\n{out}",
        irqs_a.output(),
        irqs_b.output()
    );
    ensure!(
        ping.lost() == 0,
        "ping through forward: {} of {} requests unanswered",
        ping.lost(),
        ping.sent
    );
    for (way, tcp) in [("left to right", &there), ("right to left", &back)] {
        check_tcp(way, tcp)?;
    }
    ensure!(
        udp.received == udp.sent && udp.checksum_errors == 0,
        "UDP at {UDP_MBIT_PER_S} Mbit/s through forward: {} of {} datagrams arrived, {} with a bad checksum",
        udp.received,
        udp.sent,
        udp.checksum_errors
    );
    ensure!(
        forward.status == 0 && out.contains("dropped (tx ring full or runt frame) 0"),
        "forward exited {} or dropped frames itself:\n{out}",
        forward.status
    );
    println!(
        "    ping p50 {:.2} ms (20 of 20), TCP 16 MiB {:.0} and {:.0} Mbit/s with 0 retransmits, UDP {} datagrams at {UDP_MBIT_PER_S} Mbit/s, 0 lost",
        ping.median().as_secs_f64() * 1e3,
        there.mbit_per_s(),
        back.mbit_per_s(),
        udp.sent
    );
    polling(g, &left, &right)
}

/// `e1000 forward --irq poll` between the same stacks: it must answer as
/// promptly as it polls. A forward that slept on the device's release
/// eventfd in poll mode held every frame for its 100 ms timeout (ping p50
/// 101 ms, TCP 11 Mbit/s), where a polling forwarder answers in about a
/// millisecond under TCG: 10 ms is far from both.
fn polling(g: &mut Guest, left: &HostStack, right: &HostStack) -> Result<()> {
    let (a, b) = (g.nic(0), g.nic(1));
    let mut job = g.spawn(&format!("e1000 forward {} {} --irq poll", a.pci, b.pci))?;
    job.wait_line(
        |l| l.contains(&format!("forward: ready on {}", b.pci)),
        Duration::from_secs(30),
    )?;
    std::thread::sleep(Duration::from_secs(1));
    let ping = traffic::ping(left, right.ip(), 20, Duration::from_millis(20))?;
    let tcp = traffic::tcp_stream(left, right, 5204, 4 << 20)?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let forward = job.wait(Duration::from_secs(30))?;
    let p50 = ping.median();
    ensure!(
        ping.lost() == 0 && p50 < Duration::from_millis(10) && tcp.bytes == 4 << 20,
        "forward --irq poll: ping {} of 20 lost, p50 {:.2} ms; TCP {} of {} bytes:\n{}",
        ping.lost(),
        p50.as_secs_f64() * 1e3,
        tcp.bytes,
        4 << 20,
        forward.output()
    );
    println!(
        "    --irq poll: ping p50 {:.2} ms, TCP 4 MiB at {:.0} Mbit/s",
        p50.as_secs_f64() * 1e3,
        tcp.mbit_per_s()
    );
    Ok(())
}

/// Every byte of the stream arrived, and no segment was lost on the way
/// (a tail loss probe, which resends without a loss, is not counted).
fn check_tcp(way: &str, tcp: &TcpStreamResult) -> Result<()> {
    ensure!(
        tcp.bytes == TCP_BYTES,
        "TCP {way}: {} of {TCP_BYTES} bytes arrived",
        tcp.bytes
    );
    let lost = u64::from(tcp.retransmits).saturating_sub(tcp.loss_probes);
    ensure!(
        lost == 0 && tcp.checksum_errors == 0,
        "TCP {way}: {} retransmits ({} of them tail loss probes), {} bad checksums",
        tcp.retransmits,
        tcp.loss_probes,
        tcp.checksum_errors
    );
    Ok(())
}

/// A guest with one NIC of `model`, iperf3 in its initramfs and 2 vCPUs,
/// for ordinary programs through `e1000 tap`.
pub fn tap_iperf3_suite(model: &'static str) -> Suite {
    let mut config = GuestConfig::with_nics(&[model]);
    config.dpdk = true; // the extra archive that carries iperf3
    config.cpus = crate::vm::GUEST_CPUS;
    Suite::new(config).test(
        format!("{model}::tap_carries_ping_and_iperf3_tcp_and_udp"),
        tap_iperf3,
    )
}

/// What the issue asks of ordinary programs on a NIC the driver holds:
/// through `e1000 tap`, ping loses nothing, iperf3's TCP stream each way
/// (3 s) is never retransmitted, its UDP flow at 50 Mbit/s loses nothing
/// on the way (what the host's own server socket had no room for, counted
/// by the host's stack as a receive buffer error, is the host's loss),
/// and the host's stack sees no bad TCP checksum.
fn tap_iperf3(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let ten = Duration::from_secs(10);
    let host = HostStack::start(nic, [10, 11, 12, 1])?;
    let job = crate::vm::models::start_tap(g, &nic.pci, "10.11.12.2/24")?;
    let ping = g.run(
        "ping -c 20 -i 0.05 -W 2 10.11.12.1",
        Duration::from_secs(60),
    )?;
    ensure!(
        ping.status == 0 && ping.output().contains("20 packets received"),
        "ping through e1000 tap:\n{}",
        ping.output()
    );
    let up = guest_iperf3(g, &host, "-t 3")?;
    let down = guest_iperf3(g, &host, "-t 3 -R")?;
    // Datagrams the host's own iperf3 socket had no room for (its default
    // receive buffer, when a loaded host is late to run the server) were
    // carried by the path: they do not count against it.
    let udp = guest_iperf3(g, &host, &format!("-t 3 -u -b {UDP_MBIT_PER_S}M"))?;
    let csum = host.run(counters)?;
    g.run_ok("killall -INT e1000", ten)?;
    let tap = job.wait(Duration::from_secs(30))?;
    let gone = g.run("ip link show e1000tap0", ten)?;
    let (up_sent, down_sent, udp_sum) = (up.tcp_sent(), down.tcp_sent(), udp.udp());
    let host_full = udp.host_socket_full;
    println!(
        "    iperf3 through e1000 tap: TCP up {:.1} Mbit/s ({} retransmits), down {:.1} Mbit/s ({}), UDP {:.1} Mbit/s, {} of {} lost ({host_full} at the host's full socket)",
        iperf3_mbit_per_s(up_sent),
        up_sent["retransmits"],
        iperf3_mbit_per_s(down_sent),
        down_sent["retransmits"],
        iperf3_mbit_per_s(udp_sum),
        udp_sum["lost_packets"],
        udp_sum["packets"]
    );
    ensure!(
        up_sent["retransmits"] == 0 && down_sent["retransmits"] == 0,
        "TCP retransmits through e1000 tap: up {}, down {}",
        up_sent["retransmits"],
        down_sent["retransmits"]
    );
    let lost = udp.udp_lost_on_the_way();
    ensure!(
        udp_sum["packets"].as_u64().unwrap_or(0) > 0 && lost == 0,
        "UDP at {UDP_MBIT_PER_S} Mbit/s through e1000 tap: {lost} lost on the way, \
         {host_full} dropped by the host's own full socket: {udp_sum:#}"
    );
    let bad = counter(&csum, "Tcp:", "InCsumErrors");
    ensure!(
        bad == 0,
        "the host saw {bad} TCP segments with a bad checksum"
    );
    ensure!(
        tap.status == 0 && gone.status != 0,
        "e1000 tap exited {} and the interface is {}:\n{}",
        tap.status,
        if gone.status == 0 {
            "still there"
        } else {
            "gone"
        },
        tap.output()
    );
    Ok(())
}
