//! A real network stack at the host end of a NIC's link: the host kernel's
//! own, in a network namespace of its own, behind a TAP interface whose
//! frames are relayed to and from the link. Tests that need TCP as Linux
//! does it on the far side (retransmits, checksums checked by a real stack)
//! run their host half with [`HostStack::run`]; [`traffic`] has the
//! ordinary workloads (ping, a TCP stream, a paced UDP flow) between two
//! such stacks. Needs root (`CLONE_NEWNET`, `/dev/net/tun`).

pub mod traffic;

use crate::error::{Error, Result};
use crate::vm::guest::Nic;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Work to run in the namespace.
type Job = Box<dyn FnOnce() + Send>;

/// The host kernel's stack on a NIC's link, at `ip`/24; stops when dropped.
/// Its MAC address is `02:00:00:00:00:XX`, XX the last byte of `ip`, so
/// that several stacks can share one L2 segment.
pub struct HostStack {
    ip: [u8; 4],
    jobs: Option<mpsc::Sender<Job>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl HostStack {
    /// Makes a network namespace with a TAP interface at `ip`/24 (MTU
    /// 1500) and relays its frames to and from
    /// `nic`'s link.
    pub fn start(nic: &Nic, ip: [u8; 4]) -> Result<HostStack> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(Error::msg(
                "a host network stack on the link needs root (a network namespace and a TAP)",
            ));
        }
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::channel::<std::io::Result<File>>();
        // The namespace belongs to this thread alone: it makes it, the TAP
        // in it, and then runs the jobs it is given there.
        let worker = thread::spawn(move || {
            let tap = enter_namespace_with_tap(ip);
            let ok = tap.is_ok();
            let _ = ready.send(tap);
            if ok {
                for job in inbox {
                    job();
                }
            }
        });
        let tap = started
            .recv()
            .map_err(|_| Error::msg("the namespace thread died"))??;
        let stop = Arc::new(AtomicBool::new(false));
        let link = nic.socket.try_clone()?;
        link.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut threads = vec![worker];
        // Link to TAP.
        let (from, mut to, flag) = (link.try_clone()?, tap.try_clone()?, Arc::clone(&stop));
        threads.push(thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !flag.load(Ordering::Relaxed) {
                if let Ok(n) = from.recv(&mut buf) {
                    let _ = to.write(&buf[..n]);
                }
            }
        }));
        // TAP to link.
        let (mut from, to, flag) = (tap, link, Arc::clone(&stop));
        threads.push(thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !flag.load(Ordering::Relaxed) {
                if readable(&from, 100) {
                    if let Ok(n) = from.read(&mut buf) {
                        let _ = to.send(&buf[..n]);
                    }
                }
            }
        }));
        Ok(HostStack {
            ip,
            jobs: Some(jobs),
            stop,
            threads,
        })
    }

    /// Its IPv4 address.
    pub fn ip(&self) -> [u8; 4] {
        self.ip
    }

    /// Runs `f` in the namespace (its sockets are on the link) and returns
    /// what it returns.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        self.spawn(f)?
            .recv()
            .map_err(|_| Error::msg("a job in the namespace panicked"))
    }

    /// Starts `f` in the namespace and returns at once; the receiver gets
    /// its result.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<mpsc::Receiver<T>> {
        let (done, result) = mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.jobs
            .as_ref()
            .expect("running")
            .send(job)
            .map_err(|_| Error::msg("the namespace thread is gone"))?;
        Ok(result)
    }
}

impl Drop for HostStack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs = None; // ends the namespace thread's loop
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Whether `file` has something to read within `ms` milliseconds.
fn readable(file: &File, ms: i32) -> bool {
    readable_fd(file.as_raw_fd(), ms)
}

/// Whether descriptor `fd` has something to read within `ms` milliseconds.
fn readable_fd(fd: std::os::fd::RawFd, ms: i32) -> bool {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd that lives across the call.
    unsafe { libc::poll(&mut poll, 1, ms) > 0 }
}

/// Gives `socket` a 16 MiB receive buffer (as the bench gives QEMU's end
/// of every link), so that a burst the reader has not yet been scheduled
/// for is kept, not dropped; best effort.
fn grow_receive_buffer(socket: &impl AsRawFd) {
    let size: libc::c_int = 16 << 20;
    // SAFETY: setsockopt reads one c_int that lives across the call.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Moves this thread into a new network namespace and makes the TAP there.
fn enter_namespace_with_tap(ip: [u8; 4]) -> std::io::Result<File> {
    // SAFETY: unshare affects only this thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let tap = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    let mut req = ifreq("e1000peer");
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes the ifreq, which lives across the call.
    if unsafe { libc::ioctl(tap.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: socket() creates a descriptor or fails.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    let control = unsafe { OwnedFd::from_raw_fd(fd) };
    let set = |name: &str, request: libc::Ioctl, fill: &dyn Fn(&mut libc::ifreq)| {
        let mut req = ifreq(name);
        fill(&mut req);
        // SAFETY: an interface ioctl with an ifreq that lives across the call.
        if unsafe { libc::ioctl(control.as_raw_fd(), request, &mut req) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(req)
    };
    let inet = |a: [u8; 4]| {
        // SAFETY: sockaddr_in is plain old data.
        let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from_ne_bytes(a);
        // SAFETY: a sockaddr_in fits in (and is read as) a sockaddr.
        unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
    };
    set("e1000peer", libc::SIOCSIFHWADDR, &|r| {
        // SAFETY: writing the sockaddr member of the union.
        let a = unsafe { &mut r.ifr_ifru.ifru_hwaddr };
        a.sa_family = libc::ARPHRD_ETHER;
        for (d, s) in a.sa_data.iter_mut().zip([2u8, 0, 0, 0, 0, ip[3]]) {
            *d = s as libc::c_char;
        }
    })?;
    set("e1000peer", libc::SIOCSIFADDR, &|r| {
        r.ifr_ifru.ifru_addr = inet(ip)
    })?;
    set("e1000peer", libc::SIOCSIFNETMASK, &|r| {
        r.ifr_ifru.ifru_netmask = inet([255, 255, 255, 0])
    })?;
    for name in ["lo", "e1000peer"] {
        let flags = set(name, libc::SIOCGIFFLAGS, &|_| {})?;
        // SAFETY: SIOCGIFFLAGS filled the flags member.
        let up = unsafe { flags.ifr_ifru.ifru_flags } | libc::IFF_UP as libc::c_short;
        set(name, libc::SIOCSIFFLAGS, &|r| r.ifr_ifru.ifru_flags = up)?;
    }
    Ok(tap)
}

/// An `ifreq` for interface `name`, all else zero.
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all zeroes is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    req
}

/// The counters of the calling thread's network namespace: the lines of
/// `/proc/net/snmp` and `/proc/net/netstat` (read with [`counter`]).
pub fn counters() -> String {
    ["snmp", "netstat"]
        .map(|f| std::fs::read_to_string(format!("/proc/thread-self/net/{f}")).unwrap_or_default())
        .join("\n")
}

/// Counter `name` of the `PREFIX:` lines (`Tcp:`, `Udp:` from
/// `/proc/net/snmp`, `TcpExt:` from `/proc/net/netstat`) of `text`; 0 when
/// absent.
pub fn counter(text: &str, prefix: &str, name: &str) -> u64 {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    let at = names.split_whitespace().position(|n| n == name);
    at.and_then(|i| values.split_whitespace().nth(i))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Connects to `to`, trying again every 200 ms for up to 20 s while the
/// far end is not listening yet (a listener started in the guest a moment
/// ago).
pub fn connect_when_listening(to: std::net::SocketAddr) -> std::io::Result<std::net::TcpStream> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match std::net::TcpStream::connect_timeout(&to, Duration::from_secs(5)) {
            Ok(s) => return Ok(s),
            Err(e) if std::time::Instant::now() > deadline => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Total retransmitted segments of a TCP socket (`TCP_INFO`).
pub fn retransmits(socket: &impl AsRawFd) -> u32 {
    // SAFETY: tcp_info is plain old data.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`.
    let r = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if r == 0 {
        info.tcpi_total_retrans
    } else {
        u32::MAX
    }
}
