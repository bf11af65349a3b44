//! Ordinary workloads between two [`HostStack`]s whose links meet through
//! the guest (a forwarding program, a bridge): ping, one TCP stream, a
//! paced UDP flow. Each reports what the stacks themselves saw (round-trip
//! times, bytes, retransmits, checksum errors, datagrams lost), the figures
//! iperf3 and ping would give, measured by the kernel's own stack. And
//! iperf3 between a host stack and the guest's own stack
//! ([`guest_iperf3`]).

use super::{connect_when_listening, counter, counters, retransmits, HostStack};
use crate::error::{Error, Result};
use crate::vm::guest::Guest;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// What a run of echo requests saw.
#[derive(Debug, Clone)]
pub struct Ping {
    /// Requests sent.
    pub sent: u32,
    /// Round-trip time of each answered request, in order.
    pub rtts: Vec<Duration>,
}

impl Ping {
    /// Requests that got no answer within a second.
    pub fn lost(&self) -> u32 {
        self.sent - self.rtts.len() as u32
    }

    /// Median round-trip time (zero when nothing came back).
    pub fn median(&self) -> Duration {
        let mut sorted = self.rtts.clone();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

/// ICMP echo request and reply types (RFC 792).
const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;

/// `count` ICMP echo requests from `from` to `to`, one every `interval`
/// (as `ping -c COUNT -i INTERVAL`), through a raw socket in `from`'s
/// namespace.
pub fn ping(from: &HostStack, to: [u8; 4], count: u16, interval: Duration) -> Result<Ping> {
    from.run(move || ping_here(to, count, interval))?
        .map_err(|e| Error::new(e).context("ping from a host stack"))
}

fn ping_here(to: [u8; 4], count: u16, interval: Duration) -> std::io::Result<Ping> {
    // SAFETY: socket() creates a descriptor or fails.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_in is plain old data.
    let mut dst: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    dst.sin_family = libc::AF_INET as libc::sa_family_t;
    dst.sin_addr.s_addr = u32::from_ne_bytes(to);
    let ident = (std::process::id() as u16).to_be_bytes();
    let mut ping = Ping {
        sent: 0,
        rtts: Vec::new(),
    };
    for seq in 0..count {
        let mut request = [0u8; 64];
        request[0] = ICMP_ECHO_REQUEST;
        request[4..6].copy_from_slice(&ident);
        request[6..8].copy_from_slice(&seq.to_be_bytes());
        let sum = e1000_wire::checksum(&request);
        request[2..4].copy_from_slice(&sum.to_be_bytes());
        let start = Instant::now();
        // SAFETY: the buffer and the address live across the call.
        let sent = unsafe {
            libc::sendto(
                socket.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                0,
                (&dst as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        ping.sent += 1;
        let deadline = start + Duration::from_secs(1);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if !super::readable_fd(socket.as_raw_fd(), left.as_millis().max(1) as i32) {
                break;
            }
            let mut reply = [0u8; 1500];
            // SAFETY: recv writes at most reply.len() bytes into reply.
            let n = unsafe {
                libc::recv(
                    socket.as_raw_fd(),
                    reply.as_mut_ptr().cast(),
                    reply.len(),
                    0,
                )
            };
            // A raw socket hands over the IPv4 header too.
            let header = (reply[0] & 0x0f) as usize * 4;
            if n < 0 || (n as usize) < header + 8 {
                continue;
            }
            let icmp = &reply[header..n as usize];
            if icmp[0] == ICMP_ECHO_REPLY && icmp[4..6] == ident && icmp[6..8] == seq.to_be_bytes()
            {
                ping.rtts.push(start.elapsed());
                break;
            }
        }
        std::thread::sleep((start + interval).saturating_duration_since(Instant::now()));
    }
    Ok(ping)
}

/// What one TCP stream carried.
#[derive(Debug, Clone)]
pub struct TcpStreamResult {
    /// Bytes the receiver read (all of them, or the stream failed).
    pub bytes: usize,
    /// From the sender's first write to the receiver's end of stream.
    pub elapsed: Duration,
    /// Segments the sender retransmitted (`TCP_INFO`).
    pub retransmits: u32,
    /// Of those, tail loss probes: a resend of the last segment when its
    /// ACK is late, which counts as a retransmit but is no loss.
    pub loss_probes: u64,
    /// TCP segments with a bad checksum that either stack received.
    pub checksum_errors: u64,
}

impl TcpStreamResult {
    /// Payload throughput in Mbit/s.
    pub fn mbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }
}

/// One TCP stream of `bytes` from `from` to `to` on `port` (as an iperf3
/// TCP test of that many bytes).
pub fn tcp_stream(
    from: &HostStack,
    to: &HostStack,
    port: u16,
    bytes: usize,
) -> Result<TcpStreamResult> {
    let before = (from.run(counters)?, to.run(counters)?);
    let addr = SocketAddr::from((Ipv4Addr::from(to.ip()), port));
    let received = to.spawn(move || -> std::io::Result<(usize, Instant)> {
        let listener = TcpListener::bind(addr)?;
        let (mut s, _) = listener.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        let (mut got, mut buf) = (0, vec![0u8; 65536]);
        loop {
            match s.read(&mut buf)? {
                0 => break,
                n => got += n,
            }
        }
        Ok((got, Instant::now()))
    })?;
    let sent = from.run(move || -> std::io::Result<(u32, Instant)> {
        let mut s = connect_when_listening(addr)?;
        let (start, block) = (Instant::now(), vec![0x5Au8; 65536]);
        let mut left = bytes;
        while left > 0 {
            let n = left.min(block.len());
            s.write_all(&block[..n])?;
            left -= n;
        }
        s.shutdown(Shutdown::Write)?;
        let _ = s.read_to_end(&mut Vec::new()); // until the receiver closes
        Ok((retransmits(&s), start))
    })?;
    let (retransmits, start) = sent.map_err(|e| Error::new(e).context("the TCP sender"))?;
    let (got, end) = received
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| Error::msg("the TCP receiver never finished"))?
        .map_err(|e| Error::new(e).context("the TCP receiver"))?;
    let after = (from.run(counters)?, to.run(counters)?);
    let delta = |b: &str, a: &str, prefix: &str, name: &str| {
        counter(a, prefix, name).saturating_sub(counter(b, prefix, name))
    };
    Ok(TcpStreamResult {
        bytes: got,
        elapsed: end.saturating_duration_since(start),
        retransmits,
        loss_probes: delta(&before.0, &after.0, "TcpExt:", "TCPLossProbes"),
        checksum_errors: delta(&before.0, &after.0, "Tcp:", "InCsumErrors")
            + delta(&before.1, &after.1, "Tcp:", "InCsumErrors"),
    })
}

/// What a paced UDP flow delivered.
#[derive(Debug, Clone, Copy)]
pub struct UdpFlow {
    /// Datagrams sent.
    pub sent: u64,
    /// Distinct datagrams received.
    pub received: u64,
    /// UDP datagrams with a bad checksum that the receiver's stack saw.
    pub checksum_errors: u64,
}

/// Bytes of UDP payload per datagram: a full 1,500-byte IPv4 packet, as
/// iperf3 sends by default on such a link.
const UDP_PAYLOAD: usize = 1472;

/// A UDP flow from `from` to `to` on `port` at `mbit_per_s` of payload for
/// `duration` (as `iperf3 -u -b RATE -t DURATION`); each datagram carries
/// its sequence number, so duplicates are not counted as delivered.
pub fn udp_flow(
    from: &HostStack,
    to: &HostStack,
    port: u16,
    mbit_per_s: f64,
    duration: Duration,
) -> Result<UdpFlow> {
    let before = to.run(counters)?;
    let addr = SocketAddr::from((Ipv4Addr::from(to.ip()), port));
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let received = to.spawn(move || -> std::io::Result<u64> {
        let socket = UdpSocket::bind(addr)?;
        super::grow_receive_buffer(&socket);
        let _ = ready_tx.send(());
        let mut seen = std::collections::HashSet::new();
        let mut buf = [0u8; 2048];
        // Waits long for the first datagram, then stops a second after the
        // last one.
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        while let Ok(n) = socket.recv(&mut buf) {
            if n >= 8 {
                seen.insert(u64::from_be_bytes(buf[..8].try_into().unwrap()));
            }
            socket.set_read_timeout(Some(Duration::from_secs(1)))?;
        }
        Ok(seen.len() as u64)
    })?;
    ready
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| Error::msg("the UDP receiver did not start"))?;
    let sent = from
        .run(move || -> std::io::Result<u64> {
            let socket = UdpSocket::bind("0.0.0.0:0")?;
            let per_second = mbit_per_s * 1e6 / (UDP_PAYLOAD as f64 * 8.0);
            let (start, mut sent, mut payload) = (Instant::now(), 0u64, [0u8; UDP_PAYLOAD]);
            while start.elapsed() < duration {
                let due = (start.elapsed().as_secs_f64() * per_second) as u64;
                while sent < due {
                    payload[..8].copy_from_slice(&sent.to_be_bytes());
                    socket.send_to(&payload, addr)?;
                    sent += 1;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            Ok(sent)
        })?
        .map_err(|e| Error::new(e).context("the UDP sender"))?;
    let received = received
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| Error::msg("the UDP receiver never finished"))?
        .map_err(|e| Error::new(e).context("the UDP receiver"))?;
    let after = to.run(counters)?;
    Ok(UdpFlow {
        sent,
        received,
        checksum_errors: counter(&after, "Udp:", "InCsumErrors").saturating_sub(counter(
            &before,
            "Udp:",
            "InCsumErrors",
        )),
    })
}

/// What a run of iperf3 in the guest against a host stack reported.
#[derive(Debug)]
pub struct GuestIperf3 {
    /// The client's JSON report.
    pub report: serde_json::Value,
    /// Datagrams the host's own server socket had no room for during the
    /// run (its stack's `Udp: RcvbufErrors`): lost at the host, not on the
    /// way there.
    pub host_socket_full: u64,
}

impl GuestIperf3 {
    /// The sender's totals of a TCP run (`end.sum_sent`).
    pub fn tcp_sent(&self) -> &serde_json::Value {
        &self.report["end"]["sum_sent"]
    }

    /// The totals of a UDP run (`end.sum`).
    pub fn udp(&self) -> &serde_json::Value {
        &self.report["end"]["sum"]
    }

    /// UDP datagrams lost on the way, less what the host's own socket
    /// dropped; all of them when iperf3 reported no count.
    pub fn udp_lost_on_the_way(&self) -> u64 {
        self.udp()["lost_packets"]
            .as_u64()
            .unwrap_or(u64::MAX)
            .saturating_sub(self.host_socket_full)
    }
}

/// Mbit/s of an iperf3 totals object.
pub fn iperf3_mbit_per_s(totals: &serde_json::Value) -> f64 {
    totals["bits_per_second"].as_f64().unwrap_or(0.0) / 1e6
}

/// Runs `iperf3 -c HOST -J ARGS` in the guest (its initramfs must carry
/// iperf3: [`crate::vm::config::GuestConfig::dpdk`]) against a one-off
/// `iperf3 -s` in `host`'s stack.
pub fn guest_iperf3(g: &Guest, host: &HostStack, args: &str) -> Result<GuestIperf3> {
    let before = host.run(counters)?;
    let ip = Ipv4Addr::from(host.ip()).to_string();
    let bind = ip.clone();
    let server = host.spawn(move || {
        std::process::Command::new("iperf3")
            .args(["-s", "-1", "-J", "-B", &bind])
            .output()
    })?;
    std::thread::sleep(Duration::from_millis(500));
    let r = g.run(
        &format!("iperf3 -c {ip} -J {args}"),
        Duration::from_secs(120),
    )?;
    let server = server
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| Error::msg("the host's iperf3 server did not end"))?
        .map_err(|e| Error::msg(format!("running iperf3 on the host: {e}")))?;
    let report: serde_json::Value = serde_json::from_str(&r.output()).map_err(|e| {
        Error::msg(format!(
            "iperf3 {args} in the guest exited {} without a JSON report ({e}):\n{}\nserver: {}",
            r.status,
            r.output(),
            String::from_utf8_lossy(&server.stdout)
        ))
    })?;
    if r.status != 0 || report.get("error").is_some() {
        return Err(Error::msg(format!("iperf3 {args} failed:\n{report:#}")));
    }
    let after = host.run(counters)?;
    let full = |text: &str| counter(text, "Udp:", "RcvbufErrors");
    Ok(GuestIperf3 {
        report,
        host_socket_full: full(&after).saturating_sub(full(&before)),
    })
}
