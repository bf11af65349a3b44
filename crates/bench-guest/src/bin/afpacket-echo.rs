//! `afpacket-echo IFACE [--timeout SECS]`: the baseline the bench compares
//! `e1000 echo` with. The guest kernel's driver owns the NIC; this program
//! opens an `AF_PACKET` socket on the interface and sends every received
//! frame back with `dst := src, src := the interface's MAC` (the same
//! contract as `e1000 echo`). Frames are taken and returned in batches with
//! `recvmmsg`/`sendmmsg`.
//!
//! Prints `afpacket-echo: ready` once the socket is bound, then runs until
//! SIGINT/SIGTERM or the timeout, and prints `afpacket-echo: summary: rx N
//! frames, tx M frames`.

use std::ffi::CString;
use std::io::{Error, Result};
use std::mem::{size_of, zeroed};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Frames taken from (and returned to) the socket per system call.
const BATCH: usize = 64;
/// Room for the largest frame the NICs carry without jumbo frames.
const FRAME_ROOM: usize = 2048;

/// Set by the signal handler.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn main() {
    if let Err(e) = run() {
        eprintln!("afpacket-echo: {e}");
        std::process::exit(1);
    }
}

/// Parses `IFACE [--timeout SECS]`.
fn parse_args() -> std::result::Result<(String, Option<Duration>), String> {
    let mut iface = None;
    let mut timeout = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--timeout" => {
                let v = it.next().ok_or("--timeout needs a value")?;
                let secs: f64 = v.parse().map_err(|_| format!("bad --timeout {v}"))?;
                timeout = Some(Duration::from_secs_f64(secs));
            }
            _ if iface.is_none() && !a.starts_with('-') => iface = Some(a),
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    let iface = iface.ok_or("usage: afpacket-echo IFACE [--timeout SECS]")?;
    Ok((iface, timeout))
}

/// Returns `Err(last OS error)` if `ret` is negative.
fn check(ret: libc::c_int) -> Result<libc::c_int> {
    if ret < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Installs `on_signal` for SIGINT and SIGTERM without SA_RESTART, so a
/// blocked `recvmmsg` returns EINTR.
fn install_signal_handlers() -> Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler only stores an atomic.
    unsafe {
        let mut sa: libc::sigaction = zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            check(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
        }
    }
    Ok(())
}

/// An AF_PACKET socket bound to one interface, with its MAC.
struct PacketSocket {
    fd: libc::c_int,
    mac: [u8; 6],
}

impl PacketSocket {
    fn open(iface: &str) -> Result<PacketSocket> {
        let name = CString::new(iface).map_err(|_| Error::other("bad interface name"))?;
        // SAFETY: plain libc calls on values we own; sizes passed match the types.
        unsafe {
            let index = libc::if_nametoindex(name.as_ptr());
            if index == 0 {
                return Err(Error::other(format!("no interface {iface}")));
            }
            let proto = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
            let fd = check(libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto))?;
            let mut sock = PacketSocket { fd, mac: [0; 6] };
            let mut addr: libc::sockaddr_ll = zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = proto as u16;
            addr.sll_ifindex = index as libc::c_int;
            check(libc::bind(
                fd,
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            ))?;
            let big: libc::c_int = 4 << 20;
            for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
                // Best effort: the default buffers also work, only smaller.
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    &big as *const libc::c_int as *const libc::c_void,
                    size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            let mut req: libc::ifreq = zeroed();
            for (d, s) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
                *d = *s as libc::c_char;
            }
            check(libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut req))?;
            let hw = req.ifr_ifru.ifru_hwaddr.sa_data;
            for (d, s) in sock.mac.iter_mut().zip(hw.iter()) {
                *d = *s as u8;
            }
            Ok(sock)
        }
    }
}

impl Drop for PacketSocket {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.fd) };
    }
}

fn run() -> Result<()> {
    let (iface, timeout) = parse_args().map_err(Error::other)?;
    install_signal_handlers()?;
    let sock = PacketSocket::open(&iface)?;
    let mut bufs = vec![[0u8; FRAME_ROOM]; BATCH];
    // SAFETY: zeroed iovec/mmsghdr/sockaddr_ll are valid; pointers set below
    // stay valid because `bufs`, `iovs` and `addrs` outlive every use.
    let mut iovs: Vec<libc::iovec> = unsafe { vec![zeroed(); BATCH] };
    let mut addrs: Vec<libc::sockaddr_ll> = unsafe { vec![zeroed(); BATCH] };
    let mut msgs: Vec<libc::mmsghdr> = unsafe { vec![zeroed(); BATCH] };
    let mut out: Vec<libc::mmsghdr> = unsafe { vec![zeroed(); BATCH] };
    let mut out_iovs: Vec<libc::iovec> = unsafe { vec![zeroed(); BATCH] };
    let (mut rx, mut tx) = (0u64, 0u64);
    // Wake up now and then to honour the timeout.
    let tick = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: the option value is a timeval of the right size.
    check(unsafe {
        libc::setsockopt(
            sock.fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tick as *const libc::timeval as *const libc::c_void,
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    println!("afpacket-echo: ready on {iface}");
    let started = Instant::now();
    while !STOP.load(Ordering::Relaxed) && timeout.is_none_or(|t| started.elapsed() < t) {
        for i in 0..BATCH {
            iovs[i] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: FRAME_ROOM,
            };
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &mut addrs[i] as *mut libc::sockaddr_ll as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                sock.fd,
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR | libc::EAGAIN) => continue,
                _ => return Err(e),
            }
        }
        let mut k = 0;
        for i in 0..n as usize {
            if addrs[i].sll_pkttype == libc::PACKET_OUTGOING {
                continue; // our own transmissions, looped back to the tap
            }
            let len = msgs[i].msg_len as usize;
            rx += 1;
            if !e1000_wire::echo_in_place(&mut bufs[i][..len], sock.mac) {
                continue;
            }
            out_iovs[k] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr() as *mut libc::c_void,
                iov_len: len,
            };
            out[k].msg_hdr.msg_iov = &mut out_iovs[k];
            out[k].msg_hdr.msg_iovlen = 1;
            k += 1;
        }
        let mut done = 0;
        while done < k {
            // SAFETY: headers 0..k point at the echo buffers; the socket is
            // bound, so no destination address is needed.
            let m = unsafe {
                libc::sendmmsg(
                    sock.fd,
                    out[done..].as_mut_ptr(),
                    (k - done) as libc::c_uint,
                    0,
                )
            };
            if m < 0 {
                let e = Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // The driver's queue is full: drop the rest, as a NIC would.
                    Some(libc::ENOBUFS | libc::EAGAIN) => break,
                    _ => return Err(e),
                }
            }
            done += m as usize;
            tx += m as u64;
        }
    }
    println!("afpacket-echo: summary: rx {rx} frames, tx {tx} frames");
    Ok(())
}
