//! The host side of a NIC's link: sends test frames into a guest NIC over
//! its UDP socket and checks what comes back against the echo contract
//! (see [`crate::link::frame::check_echo`]).
//!
//! Two modes: [`Peer::ping_pong`] (one frame in flight, RTT percentiles) and
//! [`Peer::flood`] (many frames, optionally paced, collected by a receive
//! thread; counts loss, reordering and mismatches).

use crate::error::{Error, Result};
use crate::link::frame::{check_echo, test_frame, test_seq, FrameKind, Mac};
use crate::link::mmsg::{send_batch, RecvBatch};
use crate::vm::guest::Nic;
use std::collections::HashSet;
use std::fmt;
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Frames per `sendmmsg` call in a flood.
const SEND_BATCH: usize = 32;

/// What one echo run observed.
#[derive(Debug, Default, Clone)]
pub struct EchoSummary {
    /// Frames sent.
    pub sent: u64,
    /// Echoes received that matched byte by byte.
    pub echoed: u64,
    /// Frames whose echo never came.
    pub lost: u64,
    /// Echoes that arrived after an echo of a later frame.
    pub out_of_order: u64,
    /// Echoes whose bytes differ from the contract.
    pub mismatched: u64,
    /// Echoes received more than once.
    pub duplicates: u64,
    /// Frames received that are not test frames of this run (ARP, IPv6, stale...).
    pub foreign: u64,
    /// The first mismatch, described.
    pub first_error: Option<String>,
    /// Round-trip times, sorted (ping-pong only).
    pub rtts: Vec<Duration>,
    /// Time from the first send to the end of collection.
    pub elapsed: Duration,
    /// Time from the first send to the last send (flood only).
    pub send_elapsed: Duration,
    /// Time from the first send to the last echo received (flood only).
    pub last_echo: Option<Duration>,
}

impl EchoSummary {
    /// Whether every frame came back intact, once, in order.
    pub fn is_perfect(&self) -> bool {
        self.sent == self.echoed
            && self.lost + self.out_of_order + self.mismatched + self.duplicates == 0
    }

    /// The `q` quantile (0.0..=1.0) of the round-trip times.
    pub fn rtt_quantile(&self, q: f64) -> Option<Duration> {
        let i = ((self.rtts.len() as f64 - 1.0) * q).round() as usize;
        self.rtts.get(i).copied()
    }
}

impl fmt::Display for EchoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} echoed, {} lost, {} out of order, {} mismatched, {} duplicates, {} foreign in {:.2?}",
            self.echoed, self.sent, self.lost, self.out_of_order, self.mismatched, self.duplicates, self.foreign, self.elapsed
        )?;
        if let (Some(p50), Some(p99)) = (self.rtt_quantile(0.5), self.rtt_quantile(0.99)) {
            write!(f, ", rtt p50 {p50:.2?} p99 {p99:.2?}")?;
        }
        if self.elapsed > Duration::ZERO && self.echoed > 0 {
            write!(
                f,
                " ({:.0} frames/s)",
                self.echoed as f64 / self.elapsed.as_secs_f64()
            )?;
        }
        if let Some(e) = &self.first_error {
            write!(f, "; first mismatch: {e}")?;
        }
        Ok(())
    }
}

/// Which frames a run sends.
#[derive(Clone, Copy, Debug)]
pub struct TrafficSpec {
    /// Raw or IPv4/UDP frames.
    pub kind: FrameKind,
    /// Frame size for frame `i` (clamped to 60..=1514).
    pub size: fn(usize) -> usize,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            kind: FrameKind::Raw,
            size: crate::link::frame::mixed_size,
        }
    }
}

/// The host end of one NIC's link.
pub struct Peer {
    socket: UdpSocket,
    nic_mac: Mac,
    /// Source MAC of the frames the peer sends.
    pub host_mac: Mac,
    base_seq: u32,
}

impl Peer {
    /// A peer on `nic`'s link.
    pub fn new(nic: &Nic) -> Result<Peer> {
        Ok(Peer::with_socket(nic.socket.try_clone()?, nic.mac))
    }

    /// A peer on a connected socket whose other end is a NIC with `nic_mac`.
    pub fn with_socket(socket: UdpSocket, nic_mac: Mac) -> Peer {
        // Different runs use different sequence ranges, so stale echoes never match.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        Peer {
            socket,
            nic_mac,
            host_mac: Mac::HOST,
            base_seq: nanos & 0x7fff_0000,
        }
    }

    /// Sends one frame into the NIC.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        send(&self.socket, frame)
    }

    /// Receives one frame from the NIC, or `None` after `timeout`.
    pub fn recv(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        recv(&self.socket, timeout)
    }

    /// Discards frames already queued on the socket.
    pub fn drain(&self) -> Result<u64> {
        let mut n = 0;
        while self.recv(Duration::from_millis(1))?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// Test frame number `i` of this run (its sequence number is unique to the run).
    pub fn frame(&self, spec: &TrafficSpec, i: usize) -> Vec<u8> {
        test_frame(
            spec.kind,
            self.nic_mac,
            self.host_mac,
            self.base_seq.wrapping_add(i as u32),
            (spec.size)(i),
        )
    }

    /// Sends `count` frames one at a time, each after the previous echo (or
    /// after `timeout` without it), checking every echo.
    pub fn ping_pong(
        &self,
        count: usize,
        spec: TrafficSpec,
        timeout: Duration,
    ) -> Result<EchoSummary> {
        self.drain()?;
        let mut s = EchoSummary::default();
        let started = Instant::now();
        for i in 0..count {
            let frame = self.frame(&spec, i);
            let seq = test_seq(&frame);
            let sent_at = Instant::now();
            self.send(&frame)?;
            s.sent += 1;
            let deadline = sent_at + timeout;
            loop {
                let Some(got) = self.recv(deadline.saturating_duration_since(Instant::now()))?
                else {
                    s.lost += 1;
                    break;
                };
                match test_seq(&got) {
                    g if g == seq => {
                        s.rtts.push(sent_at.elapsed());
                        record_check(&mut s, check_echo(&frame, &got, self.nic_mac));
                        break;
                    }
                    Some(_) => s.duplicates += 1,
                    None => s.foreign += 1,
                }
            }
        }
        s.elapsed = started.elapsed();
        s.rtts.sort();
        Ok(s)
    }

    /// Sends `count` frames, paced at `rate` frames per second (`None`: as
    /// fast as possible), while a thread collects echoes until all arrived or
    /// `linger` passed after the last send.
    pub fn flood(
        &self,
        count: usize,
        spec: TrafficSpec,
        rate: Option<u64>,
        linger: Duration,
    ) -> Result<EchoSummary> {
        self.drain()?;
        let done_sending = Arc::new(AtomicBool::new(false));
        let rx = self.socket.try_clone()?;
        let (base, nic_mac, host_mac) = (self.base_seq, self.nic_mac, self.host_mac);
        let flag = Arc::clone(&done_sending);
        let started = Instant::now();
        let receiver = thread::spawn(move || -> Result<EchoSummary> {
            let mut s = EchoSummary::default();
            let mut seen = HashSet::new();
            let mut highest: Option<usize> = None;
            let mut last_send_seen: Option<Instant> = None;
            let mut batch = RecvBatch::new(64, 2048);
            rx.set_read_timeout(Some(Duration::from_millis(20)))?;
            while seen.len() < count {
                if flag.load(Ordering::Acquire) {
                    let t = *last_send_seen.get_or_insert_with(Instant::now);
                    if t.elapsed() > linger {
                        break;
                    }
                }
                let n = batch.recv(&rx);
                for got in batch.frames(n) {
                    let Some(i) = test_seq(got)
                        .map(|q| q.wrapping_sub(base) as usize)
                        .filter(|&i| i < count)
                    else {
                        s.foreign += 1;
                        continue;
                    };
                    if !seen.insert(i) {
                        s.duplicates += 1;
                        continue;
                    }
                    if highest.is_some_and(|h| i < h) {
                        s.out_of_order += 1;
                    }
                    highest = highest.max(Some(i));
                    let sent = test_frame(
                        spec.kind,
                        nic_mac,
                        host_mac,
                        base.wrapping_add(i as u32),
                        (spec.size)(i),
                    );
                    record_check(&mut s, check_echo(&sent, got, nic_mac));
                    s.last_echo = Some(started.elapsed());
                }
            }
            s.lost = (count - seen.len()) as u64;
            Ok(s)
        });
        // Paced in small batches: every frame that is due goes out in one
        // sendmmsg call.
        let mut sent = 0;
        let mut send_result: Result<()> = Ok(());
        let mut batch = Vec::with_capacity(SEND_BATCH);
        while sent < count {
            let due = match rate.filter(|&r| r > 0) {
                Some(r) => ((started.elapsed().as_secs_f64() * r as f64) as usize + 1).min(count),
                None => count,
            };
            if due <= sent {
                thread::sleep(Duration::from_micros(20));
                continue;
            }
            batch.clear();
            batch.extend((sent..due.min(sent + SEND_BATCH)).map(|i| self.frame(&spec, i)));
            match send_batch(&self.socket, &batch) {
                Ok(n) => sent += n,
                Err(e) => {
                    send_result = Err(e.into());
                    break;
                }
            }
        }
        let send_elapsed = started.elapsed();
        done_sending.store(true, Ordering::Release);
        let mut s = receiver
            .join()
            .map_err(|_| anyhow::anyhow!("flood receiver panicked"))??;
        send_result?;
        s.sent = sent as u64;
        s.send_elapsed = send_elapsed;
        s.elapsed = started.elapsed();
        Ok(s)
    }
}

fn record_check(s: &mut EchoSummary, check: Result<(), String>) {
    match check {
        Ok(()) => s.echoed += 1,
        Err(e) => {
            s.mismatched += 1;
            s.first_error.get_or_insert(e);
        }
    }
}

/// Sends one frame on a NIC socket.
pub fn send(socket: &UdpSocket, frame: &[u8]) -> Result<()> {
    loop {
        match socket.send(frame) {
            Ok(_) => return Ok(()),
            // A refusal reported for an earlier datagram (QEMU not listening yet).
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one frame from a NIC socket, or `None` after `timeout`.
pub fn recv(socket: &UdpSocket, timeout: Duration) -> Result<Option<Vec<u8>>> {
    thread_local! {
        // One buffer per thread: a fresh zeroed 64 KiB per frame would cap
        // the peer's own receive rate.
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 65536]);
    }
    BUF.with_borrow_mut(|buf| recv_into(socket, timeout, buf))
}

/// [`recv`] with the caller's buffer.
fn recv_into(socket: &UdpSocket, timeout: Duration, buf: &mut [u8]) -> Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(buf) {
            Ok(n) => return Ok(Some(buf[..n].to_vec())),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(None)
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Echo traffic: raw test frames of 60 bytes (64 on the wire with the FCS),
/// the packets-per-second worst case.
pub fn small_frames() -> TrafficSpec {
    TrafficSpec {
        kind: FrameKind::Raw,
        size: |_| 60,
    }
}

/// Waits until something in the guest echoes on `nic`: one probe frame at a
/// time, each given 200 ms.
pub fn wait_echoing(nic: &Nic, limit: Duration) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let peer = Peer::with_socket(nic.socket.try_clone()?, nic.mac);
        let s = peer.ping_pong(1, small_frames(), Duration::from_millis(200))?;
        if s.echoed == 1 {
            return Ok(());
        }
    }
    Err(Error::msg(format!("nothing echoed within {limit:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake NIC on the host that echoes by the contract, corrupting frame
    /// `corrupt` and dropping frame `drop` (counted in arrival order).
    fn fake_nic(mac: Mac, corrupt: usize, drop: usize) -> UdpSocket {
        let nic = UdpSocket::bind("127.0.0.1:0").unwrap();
        let host = UdpSocket::bind("127.0.0.1:0").unwrap();
        nic.connect(host.local_addr().unwrap()).unwrap();
        host.connect(nic.local_addr().unwrap()).unwrap();
        thread::spawn(move || {
            let mut n = 0;
            while let Ok(Some(f)) = recv(&nic, Duration::from_secs(2)) {
                let mut e = crate::link::frame::expected_echo(&f, mac);
                if n == corrupt {
                    *e.last_mut().unwrap() ^= 1;
                }
                if n != drop {
                    send(&nic, &e).unwrap();
                }
                n += 1;
            }
        });
        host
    }

    #[test]
    fn ping_pong_counts_and_checks() {
        let mac = Mac::nic(0);
        let peer = Peer::with_socket(fake_nic(mac, 3, 5), mac);
        let s = peer
            .ping_pong(20, TrafficSpec::default(), Duration::from_millis(300))
            .unwrap();
        assert_eq!(
            (s.sent, s.echoed, s.mismatched, s.lost),
            (20, 18, 1, 1),
            "{s}"
        );
        assert!(s.first_error.unwrap().contains("differs at byte"));
        assert_eq!(s.rtts.len(), 19);
    }

    #[test]
    fn flood_counts_loss() {
        let mac = Mac::nic(1);
        let peer = Peer::with_socket(fake_nic(mac, usize::MAX, 7), mac);
        let spec = TrafficSpec {
            kind: FrameKind::Udp,
            size: crate::link::frame::mixed_size,
        };
        let s = peer
            .flood(200, spec, Some(20_000), Duration::from_millis(300))
            .unwrap();
        assert_eq!(
            (s.sent, s.echoed, s.lost, s.mismatched, s.out_of_order),
            (200, 199, 1, 0, 0),
            "{s}"
        );
        assert!(!s.is_perfect());
    }
}
