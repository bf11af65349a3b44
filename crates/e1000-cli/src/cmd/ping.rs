//! `e1000 ping`: ICMP echo through smoltcp running on the NIC, the example
//! of building a network stack on the driver.

use super::CliError;
use crate::frame::mac_str;
use crate::signal;
use e1000_cli::cli::PingArgs;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, Ipv4Address};
use std::collections::HashMap;
use std::time::Duration;
use vfio_e1000::smoltcp_phy::SmolDevice;
use vfio_e1000::Nic;

/// Identifier of our echo requests.
const IDENT: u16 = 0xe100;

/// Pings `TARGET` from `--ip ADDR/PREFIX` on the NIC; exits 0 if every
/// request got its reply.
pub fn run(args: &PingArgs) -> Result<(), CliError> {
    let usage = CliError::Usage;
    let pci = &args.pci;
    let target: Ipv4Address = args.target;
    let cidr: IpCidr = args
        .ip
        .parse()
        .map_err(|_| usage("--ip must be ADDR/PREFIX, e.g. 10.11.12.2/24".into()))?;
    let count = args.count;
    let interval = Duration::from_millis(args.interval);
    let timeout = Duration::from_secs_f64(args.timeout);
    let irq = super::irq_mode(args.irq);

    let mut config = super::default_config();
    config.irq = irq;
    let mut nic = Nic::open(pci, &config)?;
    super::wait_link(&nic, Duration::from_millis(args.link_timeout))?;
    let mac = nic.mac();
    println!(
        "ping: {} ({}) mac {} as {cidr}, pinging {target}",
        nic.pci(),
        crate::internals::model_name(&nic),
        mac_str(&mac)
    );

    let mut device = SmolDevice::new(&mut nic, 0)?;
    let mut config = IfaceConfig::new(EthernetAddress(mac).into());
    config.random_seed = u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 1]);
    let mut iface = Interface::new(config, &mut device, Instant::now());
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(cidr);
    });
    // Room for a burst of replies (a link that held frames back delivers
    // them together): smoltcp drops what does not fit.
    let buffer =
        || icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 256], vec![0; 64 * 1024]);
    let socket = icmp::Socket::new(buffer(), buffer());
    let mut sockets = SocketSet::new(vec![]);
    let handle = sockets.add(socket);
    let checksums = ChecksumCapabilities::default();

    let start = std::time::Instant::now();
    let (mut sent, mut received) = (0u16, 0u16);
    let mut in_flight: HashMap<u16, std::time::Instant> = HashMap::new();
    let mut next_send = start;
    let payload = [0x5au8; 32];
    loop {
        iface.poll(Instant::now(), &mut device, &mut sockets);
        let socket = sockets.get_mut::<icmp::Socket>(handle);
        if !socket.is_open() {
            socket
                .bind(icmp::Endpoint::Ident(IDENT))
                .map_err(|e| CliError::Failed(format!("icmp bind: {e}")))?;
        }
        let now = std::time::Instant::now();
        if sent < count && now >= next_send && socket.can_send() {
            let repr = Icmpv4Repr::EchoRequest {
                ident: IDENT,
                seq_no: sent,
                data: &payload,
            };
            if let Ok(buf) = socket.send(repr.buffer_len(), IpAddress::Ipv4(target)) {
                repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &checksums);
                in_flight.insert(sent, now);
                sent += 1;
                next_send = now + interval;
            }
        }
        while socket.can_recv() {
            let Ok((data, from)) = socket.recv() else {
                break;
            };
            let Ok(packet) = Icmpv4Packet::new_checked(data) else {
                continue;
            };
            if let Ok(Icmpv4Repr::EchoReply { seq_no, .. }) = Icmpv4Repr::parse(&packet, &checksums)
            {
                if let Some(t) = in_flight.remove(&seq_no) {
                    received += 1;
                    println!(
                        "ping: reply from {from}: icmp_seq={seq_no} time={:.3} ms",
                        t.elapsed().as_secs_f64() * 1e3
                    );
                }
            }
        }
        let all_answered = sent == count && in_flight.is_empty();
        let timed_out = in_flight.values().any(|t| t.elapsed() > timeout);
        if all_answered || timed_out || signal::stopped() {
            break;
        }
        let delay = iface
            .poll_delay(Instant::now(), &sockets)
            .map_or(Duration::from_millis(10), |d| {
                Duration::from_micros(d.total_micros())
            });
        device.nic().wait(delay.min(Duration::from_millis(10)))?;
    }
    println!("ping: {sent} sent, {received} received");
    if received == count {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "{} of {count} echo requests unanswered",
            count - received
        )))
    }
}
