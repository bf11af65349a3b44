//! Many UDP datagrams per system call (`recvmmsg(2)`, `sendmmsg(2)`), so
//! that the host peer spends little CPU per frame: on a 2-core machine it
//! competes with QEMU's threads, and a per-frame system call would make the
//! peer the ceiling of the measurements.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// Buffers for `recvmmsg(2)`: up to `count` datagrams of `size` bytes per call.
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    /// Pointed at by `headers`; kept alive with them.
    _iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` point into `bufs` and
// `iovecs`, which move with the struct (heap allocations do not move).
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// Buffers for `count` datagrams of up to `size` bytes each.
    pub fn new(count: usize, size: usize) -> RecvBatch {
        let mut bufs = vec![vec![0u8; size]; count];
        let mut iovecs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let headers = headers_for(&mut iovecs);
        RecvBatch {
            bufs,
            _iovecs: iovecs,
            headers,
        }
    }

    /// Receives what is there (waiting up to the socket's read timeout for
    /// the first datagram); returns how many datagrams arrived.
    pub fn recv(&mut self, socket: &UdpSocket) -> usize {
        // SAFETY: `headers` describe `headers.len()` valid buffers owned by self.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                self.headers.len() as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        n.max(0) as usize
    }

    /// The first `n` datagrams of the last `recv`.
    pub fn frames(&self, n: usize) -> impl Iterator<Item = &[u8]> {
        self.bufs
            .iter()
            .zip(&self.headers)
            .take(n)
            .map(|(b, h)| &b[..h.msg_len as usize])
    }
}

/// Sends `frames` on the connected `socket` with as few `sendmmsg(2)` calls
/// as it takes; returns how many were sent (fewer only on an error).
pub fn send_batch(socket: &UdpSocket, frames: &[Vec<u8>]) -> std::io::Result<usize> {
    let mut iovecs: Vec<libc::iovec> = frames
        .iter()
        .map(|f| libc::iovec {
            iov_base: f.as_ptr() as *mut _,
            iov_len: f.len(),
        })
        .collect();
    let mut headers = headers_for(&mut iovecs);
    let mut sent = 0;
    while sent < headers.len() {
        // SAFETY: the headers describe live buffers (`frames`, read only by the kernel).
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers[sent..].as_mut_ptr(),
                (headers.len() - sent) as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            // A refusal reported for an earlier datagram (QEMU not listening yet).
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                continue;
            }
            if sent > 0 {
                return Ok(sent);
            }
            return Err(e);
        }
        sent += n as usize;
    }
    Ok(sent)
}

/// One message header per iovec (one buffer each), pointing at `iovecs`,
/// which must outlive the headers' use.
fn headers_for(iovecs: &mut [libc::iovec]) -> Vec<libc::mmsghdr> {
    iovecs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect()
}
