//! Real network stacks at both ends of the guest: two host kernel stacks,
//! each in its own namespace on one NIC's link, with `e1000 forward`
//! between the two NICs. ping, a TCP stream each way and a paced UDP flow
//! must get through as they would through a wire: nothing lost, nothing
//! retransmitted, no bad checksum, and forward drops nothing itself.

use super::suite::Suite;
use crate::ensure;
use crate::error::Result;
use crate::link::host_stack::traffic::{self, TcpStreamResult};
use crate::link::host_stack::HostStack;
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
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let forward = job.wait(Duration::from_secs(30))?;
    let out = forward.output();
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
