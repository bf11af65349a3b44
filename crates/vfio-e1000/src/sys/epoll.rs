//! An epoll set: sleeping on many eventfds at once (the interrupt vectors of
//! several queues, of one NIC or several), one safe wrapper per call.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// An epoll instance.
#[derive(Debug)]
pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// Creates an empty set.
    pub(crate) fn new() -> Result<Epoll> {
        // SAFETY: epoll_create1 creates a descriptor or fails; no memory is involved.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last_os("epoll_create1"));
        }
        // SAFETY: `fd` is a new descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd })
    }

    /// Watches `fd` for input, reporting `token` when it is readable.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, token: u64) -> Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open; `event` is a live epoll_event
        // that the kernel only reads.
        let rc = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut event,
            )
        };
        if rc != 0 {
            return Err(Error::last_os("epoll_ctl"));
        }
        Ok(())
    }

    /// Sleeps until a watched descriptor is readable or `timeout_ms` passes
    /// (-1: forever); returns the OR of the tokens of the ready ones (0 on
    /// a timeout or a signal).
    pub(crate) fn wait(&self, timeout_ms: i32) -> Result<u64> {
        const EVENTS: usize = 16;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        // SAFETY: `events` is a live array of EVENTS epoll_events the kernel writes into.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                EVENTS as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(0);
            }
            return Err(Error::io("epoll_wait", e));
        }
        Ok(events[..n as usize].iter().fold(0, |acc, e| acc | e.u64))
    }
}
