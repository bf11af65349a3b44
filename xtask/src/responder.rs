//! A tiny IPv4 host on a NIC's link, for tests that use the guest kernel's
//! own network stack: answers ARP requests for its address and ICMP echo
//! requests sent to it, and counts what it saw.

use crate::frame::{checksum, Mac, ETHERTYPE_ARP, ETHERTYPE_IPV4, MIN_FRAME};
use crate::guest::Nic;
use crate::peer::{recv, send};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// What the responder saw on the link.
#[derive(Debug, Default, Clone)]
pub struct ResponderStats {
    /// Frames received.
    pub frames: u64,
    /// ARP requests for the responder's address.
    pub arp_requests: u64,
    /// Source MACs of those ARP requests.
    pub arp_senders: Vec<Mac>,
    /// ICMP echo requests answered.
    pub echo_requests: u64,
}

/// A running responder; [`Responder::stop`] ends it and returns its stats.
pub struct Responder {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<ResponderStats>,
}

impl Responder {
    /// Starts answering on `nic`'s link as `ip` with MAC [`Mac::HOST`].
    pub fn start(nic: &Nic, ip: [u8; 4]) -> crate::error::Result<Responder> {
        let socket = nic.socket.try_clone()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::spawn(move || serve(&socket, ip, Mac::HOST, &flag));
        Ok(Responder { stop, handle })
    }

    /// Stops the responder and returns what it saw.
    pub fn stop(self) -> ResponderStats {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap_or_default()
    }
}

fn serve(socket: &UdpSocket, ip: [u8; 4], mac: Mac, stop: &AtomicBool) -> ResponderStats {
    let mut stats = ResponderStats::default();
    while !stop.load(Ordering::Acquire) {
        let Ok(Some(frame)) = recv(socket, Duration::from_millis(50)) else {
            continue;
        };
        stats.frames += 1;
        if let Some(reply) = answer(&frame, ip, mac, &mut stats) {
            let _ = send(socket, &reply);
        }
    }
    stats
}

/// The reply to `frame`, if it is an ARP request or ICMP echo request for `ip`.
fn answer(f: &[u8], ip: [u8; 4], mac: Mac, stats: &mut ResponderStats) -> Option<Vec<u8>> {
    let ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let mut r;
    if ethertype == ETHERTYPE_ARP {
        let arp = f.get(14..42)?;
        if arp[6..8] != [0, 1] || arp[24..28] != ip {
            return None;
        }
        stats.arp_requests += 1;
        stats.arp_senders.push(Mac(arp[8..14].try_into().ok()?));
        r = vec![0u8; MIN_FRAME];
        r[0..6].copy_from_slice(&arp[8..14]);
        r[6..12].copy_from_slice(&mac.0);
        r[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        r[14..20].copy_from_slice(&arp[0..6]); // htype, ptype, hlen, plen
        r[20..22].copy_from_slice(&[0, 2]);
        r[22..28].copy_from_slice(&mac.0);
        r[28..32].copy_from_slice(&ip);
        r[32..42].copy_from_slice(&arp[8..18]); // requester's MAC and IP
    } else if ethertype == ETHERTYPE_IPV4 {
        let ihl = usize::from(f.get(14)? & 0xf) * 4;
        let total = usize::from(u16::from_be_bytes([*f.get(16)?, *f.get(17)?]));
        if f[23] != 1 || f.get(30..34)? != ip || f.len() < 14 + total || *f.get(14 + ihl)? != 8 {
            return None;
        }
        stats.echo_requests += 1;
        r = f[..14 + total].to_vec();
        r[0..6].copy_from_slice(&f[6..12]);
        r[6..12].copy_from_slice(&mac.0);
        r[26..30].copy_from_slice(&f[30..34]);
        r[30..34].copy_from_slice(&f[26..30]);
        r[22] = 64;
        r[24..26].fill(0);
        let c = checksum(&r[14..14 + ihl]);
        r[24..26].copy_from_slice(&c.to_be_bytes());
        let icmp = &mut r[14 + ihl..];
        icmp[0] = 0;
        icmp[2..4].fill(0);
        let c = checksum(icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        r.resize(r.len().max(MIN_FRAME), 0);
    } else {
        return None;
    }
    Some(r)
}
