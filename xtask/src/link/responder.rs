//! A tiny IPv4 host on a NIC's link, for tests that use the guest kernel's
//! own network stack: answers ARP requests for its address and ICMP echo
//! requests sent to it, and counts what it saw.

use crate::link::frame::Mac;
use crate::link::peer::{recv, send};
use crate::vm::guest::Nic;
use e1000_wire::{reply_to, Reply};
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

/// The reply to `frame`, if it is an ARP request or ICMP echo request for
/// `ip` (the shared [`e1000_wire::reply_to`]), counted in `stats`.
fn answer(f: &[u8], ip: [u8; 4], mac: Mac, stats: &mut ResponderStats) -> Option<Vec<u8>> {
    match reply_to(f, ip, mac.0)? {
        Reply::Arp { frame, requester } => {
            stats.arp_requests += 1;
            stats.arp_senders.push(Mac(requester));
            Some(frame)
        }
        Reply::IcmpEcho { frame } => {
            stats.echo_requests += 1;
            Some(frame)
        }
    }
}
