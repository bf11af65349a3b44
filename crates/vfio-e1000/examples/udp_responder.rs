//! A UDP echo server on smoltcp, running on the NIC through
//! `vfio_e1000::smoltcp_phy::SmolDevice`: answers every datagram to
//! port 7 with the same payload, and answers ARP and ICMP echo. Ctrl-C
//! (or SIGTERM) stops it cleanly.
//!
//! ```sh
//! cargo run --release --features smoltcp --example udp_responder -- 0000:03:00.0 10.0.0.2/24
//! ```

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::socket::udp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr};
use std::time::Duration;
use vfio_e1000::smoltcp_phy::SmolDevice;
use vfio_e1000::{stop_on_signals, Config, Nic};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (pci, cidr) = match (args.next(), args.next()) {
        (Some(p), Some(c)) => (p, c),
        _ => return Err("usage: udp_responder PCI-ADDRESS IP/PREFIX".into()),
    };
    let cidr: IpCidr = cidr.parse().map_err(|_| "IP/PREFIX, e.g. 10.0.0.2/24")?;
    let stop = stop_on_signals()?;
    let mut nic = Nic::open(&pci, &Config::default())?;
    nic.wait_link(Duration::from_secs(5))?;
    let mac = nic.mac();
    let mut device = SmolDevice::new(&mut nic, 0)?;
    let now = || {
        Instant::from_millis(
            std::time::UNIX_EPOCH
                .elapsed()
                .map_or(0, |d| d.as_millis() as i64),
        )
    };
    let mut iface = Interface::new(
        IfaceConfig::new(EthernetAddress(mac).into()),
        &mut device,
        now(),
    );
    iface.update_ip_addrs(|addrs| addrs.push(cidr).expect("one address"));
    let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 64], vec![0; 65536]);
    let mut sockets = SocketSet::new(vec![]);
    let handle = sockets.add(udp::Socket::new(buffer(), buffer()));
    sockets.get_mut::<udp::Socket>(handle).bind(7)?;
    println!("udp echo on {cidr} port 7");
    while !stop.requested() {
        device.nic().wait(Duration::from_millis(10))?;
        iface.poll(now(), &mut device, &mut sockets);
        let socket = sockets.get_mut::<udp::Socket>(handle);
        while let Ok((data, meta)) = socket.recv() {
            let reply = data.to_vec();
            socket.send_slice(&reply, meta.endpoint)?;
        }
        iface.poll(now(), &mut device, &mut sockets);
    }
    Ok(())
}
