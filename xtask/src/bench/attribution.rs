//! Where a ladder rung's frames were lost and where the host's CPU went
//! while it ran: the evidence for "the emulation is the ceiling".
//!
//! A frame offered to the guest can be lost in three places: in the host
//! kernel before QEMU reads it (the receive queue of QEMU's link socket
//! overflows: the emulation did not keep up), inside the guest (the NIC or
//! the driver dropped it), or in the host kernel before the peer reads the
//! echo (the peer's socket overflows: the bench did not keep up). Linux counts
//! the first and the last per socket (`/proc/net/udp`, column `drops`); the
//! rest is the guest's. CPU time comes from `/proc`: per QEMU thread
//! (`schedstat`, nanoseconds; QEMU runs with `debug-threads=on` so threads
//! are named), for this process (`getrusage`) and for the whole host
//! (`/proc/stat`).

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

/// Cumulative CPU time at one instant.
#[derive(Clone, Debug)]
pub struct CpuSample {
    at: Instant,
    /// QEMU's vCPU thread(s) (`CPU n/TCG`), ns on a core.
    vcpu_ns: u64,
    /// ns the vCPU thread(s) were runnable but waited for a core.
    vcpu_wait_ns: u64,
    /// QEMU's main thread: the main loop, which reads the link socket and
    /// runs the NIC's receive path; ns on a core.
    main_ns: u64,
    /// ns the main loop was runnable but waited for a core.
    main_wait_ns: u64,
    /// QEMU's other threads (RCU, monitor, workers), ns.
    other_ns: u64,
    /// This process (the host peer), ns.
    peer_ns: u64,
    /// The whole host, in clock ticks: (busy, total, stolen).
    host_ticks: (u64, u64, u64),
}

impl CpuSample {
    /// Samples QEMU's threads (`qemu` is its pid), this process and the host.
    pub fn take(qemu: u32) -> Option<CpuSample> {
        let (mut vcpu_ns, mut main_ns, mut other_ns) = (0, 0, 0);
        let (mut vcpu_wait_ns, mut main_wait_ns) = (0, 0);
        for task in std::fs::read_dir(format!("/proc/{qemu}/task")).ok()? {
            let path = task.ok()?.path();
            let Ok(stat) = std::fs::read_to_string(path.join("schedstat")) else {
                continue; // the thread just exited
            };
            // "time on a core, time waiting on a run queue, time slices" (ns).
            let mut fields = stat.split_whitespace().map(|w| w.parse::<u64>());
            let ns = fields.next()?.ok()?;
            let wait_ns = fields.next()?.ok()?;
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            let tid = path.file_name()?.to_str()?.parse::<u32>().ok()?;
            if name.contains("/TCG") || name.contains("/KVM") {
                vcpu_ns += ns;
                vcpu_wait_ns += wait_ns;
            } else if tid == qemu {
                main_ns += ns;
                main_wait_ns += wait_ns;
            } else {
                other_ns += ns;
            }
        }
        Some(CpuSample {
            at: Instant::now(),
            vcpu_ns,
            vcpu_wait_ns,
            main_ns,
            main_wait_ns,
            other_ns,
            peer_ns: self_cpu_ns(),
            host_ticks: host_ticks()?,
        })
    }
}

/// CPU time of this process, all threads including finished ones, in ns.
fn self_cpu_ns() -> u64 {
    // SAFETY: getrusage fills the zero-initialised struct we pass.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

/// (busy, total, stolen) clock ticks of all CPUs, from `/proc/stat`; stolen
/// ticks are those a hypervisor gave to someone else while this host wanted
/// to run (counted as busy).
fn host_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    Some((total - idle, total, ticks.get(7).copied().unwrap_or(0)))
}

/// Where CPU time went between two samples, as fractions of one core (1.0 =
/// one core busy the whole time), and the whole host's busy fraction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuShare {
    /// QEMU's vCPU thread: guest code, plus the NIC's transmit path, which
    /// runs in the vCPU thread when the guest writes the tail register.
    pub vcpu: f64,
    /// Time the vCPU thread was ready to run but waited for a core (the
    /// host's scheduler, not QEMU, held it back). A poll-mode guest never
    /// sleeps, so 1 − `vcpu` − `vcpu_wait` is time its thread was blocked:
    /// waiting for QEMU's big lock.
    pub vcpu_wait: f64,
    /// QEMU's main loop: reading the link socket and the NIC's receive path.
    pub main_loop: f64,
    /// Time the main loop was ready to run but waited for a core.
    pub main_wait: f64,
    /// QEMU's other threads.
    pub qemu_other: f64,
    /// The host peer (this process): sending, receiving and checking frames.
    pub peer: f64,
    /// The whole host: busy fraction of all cores (1.0 = every core busy).
    pub host_busy: f64,
    /// The part of `host_busy` stolen by the hypervisor (a shared machine's
    /// other tenants).
    pub host_steal: f64,
    /// Cores on the host.
    pub cores: usize,
}

impl CpuShare {
    /// The share between `a` and a later `b`.
    pub fn between(a: &CpuSample, b: &CpuSample) -> CpuShare {
        let wall = (b.at - a.at).as_nanos().max(1) as f64;
        let share = |x: u64, y: u64| y.saturating_sub(x) as f64 / wall;
        let (busy, total, steal) = (
            b.host_ticks.0.saturating_sub(a.host_ticks.0),
            b.host_ticks.1.saturating_sub(a.host_ticks.1),
            b.host_ticks.2.saturating_sub(a.host_ticks.2),
        );
        CpuShare {
            vcpu: share(a.vcpu_ns, b.vcpu_ns),
            vcpu_wait: share(a.vcpu_wait_ns, b.vcpu_wait_ns),
            main_loop: share(a.main_ns, b.main_ns),
            main_wait: share(a.main_wait_ns, b.main_wait_ns),
            qemu_other: share(a.other_ns, b.other_ns),
            peer: share(a.peer_ns, b.peer_ns),
            host_busy: busy as f64 / total.max(1) as f64,
            host_steal: steal as f64 / total.max(1) as f64,
            cores: thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl std::fmt::Display for CpuShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pc = |x: f64| (x * 100.0).round();
        write!(
            f,
            "vCPU {}% (+{}% waiting for a core), QEMU main loop {}% (+{}%), QEMU other {}%, peer {}%; host {}% of {} cores busy ({}% stolen)",
            pc(self.vcpu),
            pc(self.vcpu_wait),
            pc(self.main_loop),
            pc(self.main_wait),
            pc(self.qemu_other),
            pc(self.peer),
            pc(self.host_busy),
            self.cores,
            pc(self.host_steal)
        )
    }
}

/// Measures the CPU share over the middle of a traffic run that is expected
/// to last `expected`: samples at 20 % and 80 % of it, away from the ramp-up
/// and the drain. Join the handle once the traffic is done.
pub fn watch_cpu(qemu: u32, expected: Duration) -> thread::JoinHandle<Option<CpuShare>> {
    let started = Instant::now();
    thread::spawn(move || {
        thread::sleep(expected.mul_f64(0.2));
        let a = CpuSample::take(qemu)?;
        thread::sleep((started + expected.mul_f64(0.8)).saturating_duration_since(Instant::now()));
        let b = CpuSample::take(qemu)?;
        Some(CpuShare::between(&a, &b))
    })
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

    #[test]
    fn cpu_share_sees_a_busy_thread() {
        let me = std::process::id();
        let a = CpuSample::take(me).unwrap();
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(200) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let b = CpuSample::take(me).unwrap();
        let s = CpuShare::between(&a, &b);
        // This process spun for the whole window; it is "main" of itself.
        assert!(s.peer > 0.8, "{s}");
        assert!(s.host_busy > 0.0, "{s}");
    }
}
