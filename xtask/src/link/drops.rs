//! Where a frame on a NIC's link was lost on the host's side of it.
//!
//! A frame offered to the guest can be lost in three places: in the host
//! kernel before QEMU reads it (the receive queue of QEMU's link socket
//! overflows: the emulation did not keep up), inside the guest (the NIC or
//! the driver dropped it), or in the host kernel before the peer reads the
//! echo (the peer's socket overflows: the bench did not keep up). Linux counts
//! the first and the last per socket (`/proc/net/udp`, column `drops`); the
//! rest is the guest's.

use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

/// The `/proc/net/udp` columns of the UDP socket bound to 127.0.0.1:`port`.
fn udp_row(port: u16) -> Option<Vec<String>> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    // `local_address` is `0100007F:PPPP` (address in host byte order, hex).
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        (cols.get(1) == Some(&local)).then_some(cols)
    })
}

/// Datagrams the host kernel dropped for the UDP socket bound to
/// 127.0.0.1:`port` (its receive queue was full), or `None` if no such socket.
pub fn udp_drops(port: u16) -> Option<u64> {
    // `drops` is the last column.
    udp_row(port)?.last()?.parse().ok()
}

/// Bytes waiting in the receive queue of the UDP socket bound to
/// 127.0.0.1:`port` (column `tx_queue:rx_queue`, hex).
pub fn udp_queued(port: u16) -> Option<u64> {
    let row = udp_row(port)?;
    u64::from_str_radix(row.get(4)?.split(':').nth(1)?, 16).ok()
}

/// Waits until QEMU's end of the link behind `socket` (the host end,
/// connected to it) has no datagram waiting, or `limit` passes; returns how
/// long that took: the backlog the emulation still had to work through.
pub fn wait_drained(socket: &UdpSocket, limit: Duration) -> Duration {
    let started = Instant::now();
    // A UDP link: QEMU's socket's receive queue, from /proc/net/udp. A Unix
    // link (no port): what this end sent that QEMU has not read yet.
    let port = socket.peer_addr().ok().map(|a| a.port());
    let queued = || match port {
        Some(port) => udp_queued(port).unwrap_or(0),
        None => unread_sent(socket).unwrap_or(0),
    };
    while queued() > 0 && started.elapsed() < limit {
        thread::sleep(Duration::from_millis(2));
    }
    started.elapsed()
}

/// Bytes sent on a Unix datagram socket and not yet read by its peer
/// (`SIOCOUTQ`).
fn unread_sent(socket: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ writes one int to the valid pointer given.
    let r = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    (r == 0).then_some(n as u64)
}

/// Drop counters of both ends of a NIC's link.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkDrops {
    /// At QEMU's socket: frames the host sent that QEMU never read.
    pub qemu: u64,
    /// At the host peer's socket: frames the guest sent that the peer never read.
    pub peer: u64,
}

impl LinkDrops {
    /// Reads the counters of the link whose host end is `socket` (connected
    /// to QEMU's end).
    pub fn read(socket: &UdpSocket) -> Option<LinkDrops> {
        let peer = socket.local_addr().ok()?.port();
        let qemu = socket.peer_addr().ok()?.port();
        Some(LinkDrops {
            qemu: udp_drops(qemu)?,
            peer: udp_drops(peer)?,
        })
    }

    /// Drops counted between `self` (earlier) and `later`.
    pub fn since(self, later: LinkDrops) -> LinkDrops {
        LinkDrops {
            qemu: later.qemu.saturating_sub(self.qemu),
            peer: later.peer.saturating_sub(self.peer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_drops_of_a_real_socket() {
        let full = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(full.local_addr().unwrap()).unwrap();
        let port = full.local_addr().unwrap().port();
        assert_eq!(udp_drops(port), Some(0));
        assert_eq!(udp_queued(port), Some(0));
        // Nobody reads `full`: its default receive buffer overflows.
        for _ in 0..20_000 {
            let _ = tx.send(&[0u8; 1000]);
        }
        assert!(udp_drops(port).unwrap() > 0);
        assert!(udp_queued(port).unwrap() > 0);
        assert_eq!(udp_drops(1), None);
    }
}
