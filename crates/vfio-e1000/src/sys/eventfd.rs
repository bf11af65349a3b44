//! Eventfds: how VFIO signals interrupts (and its release request) to user
//! space. The driver sleeps in `poll(2)` on them.

use crate::error::{Error, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A set of eventfds, one per interrupt vector.
#[derive(Debug)]
pub(crate) struct Eventfds {
    fds: Vec<OwnedFd>,
}

impl Eventfds {
    /// Creates `count` non-blocking eventfds.
    pub(crate) fn new(count: u32) -> Result<Eventfds> {
        let mut fds = Vec::new();
        for _ in 0..count {
            // SAFETY: eventfd creates a new descriptor or fails; no memory is involved.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if fd < 0 {
                return Err(Error::last_os("eventfd"));
            }
            // SAFETY: `fd` is a new descriptor owned by nothing else.
            fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        Ok(Eventfds { fds })
    }

    /// The raw descriptors, vector by vector. They stay valid while `self` lives.
    pub(crate) fn raw(&self) -> Vec<RawFd> {
        self.fds.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// Descriptor `fd` of this set, borrowed from it; `None` if not one of its.
    pub(crate) fn borrow(&self, fd: RawFd) -> Option<BorrowedFd<'_>> {
        self.fds
            .iter()
            .find(|f| f.as_raw_fd() == fd)
            .map(|f| f.as_fd())
    }

    /// The descriptors, borrowed from `self`.
    pub(crate) fn borrowed(&self) -> Vec<BorrowedFd<'_>> {
        self.fds.iter().map(|f| f.as_fd()).collect()
    }
}

/// Sleeps until one of `fds` is signalled or `timeout_ms` passes (-1:
/// forever); returns a bit mask of those signalled, their counters left as
/// they are ([`take`] resets one). A signal (SIGINT…) ends the wait early
/// with an empty mask.
pub(crate) fn ready_any(fds: &[RawFd], timeout_ms: i32) -> Result<u64> {
    debug_assert!(fds.len() <= 64);
    // A queue sleeps on a few eventfds (its vector, the link's, the release
    // request): on the stack, so that a sleep allocates nothing.
    const ON_STACK: usize = 8;
    let unused = libc::pollfd {
        fd: -1,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut stack = [unused; ON_STACK];
    let mut heap = Vec::new();
    let pfds: &mut [libc::pollfd] = if fds.len() <= ON_STACK {
        &mut stack[..fds.len()]
    } else {
        heap.resize(fds.len(), unused);
        &mut heap
    };
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
    }
    // SAFETY: `pfds` is a valid, exclusively borrowed array of pollfd of the given length.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(Error::io("poll on interrupt eventfds", e));
    }
    Ok(pfds
        .iter()
        .enumerate()
        .filter(|(_, p)| p.revents & libc::POLLIN != 0)
        .fold(0, |acc, (i, _)| acc | 1 << i))
}

/// Resets eventfd `fd`'s counter; true if it was signalled (never blocks on
/// a non-blocking eventfd).
pub(crate) fn take(fd: RawFd) -> bool {
    let mut counter = 0u64;
    // SAFETY: reads at most 8 bytes into `counter`, which is 8 bytes long.
    unsafe { libc::read(fd, (&mut counter as *mut u64).cast(), 8) == 8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signalled_eventfd_stays_ready_until_taken() {
        let fds = Eventfds::new(2).unwrap();
        let raw = fds.raw();
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one` to an eventfd we own.
        let written = unsafe { libc::write(raw[1], (&one as *const u64).cast(), 8) };
        assert_eq!(written, 8);
        assert_eq!(ready_any(&raw, 0).unwrap(), 0b10, "ready");
        assert_eq!(ready_any(&raw, 0).unwrap(), 0b10, "still ready: not taken");
        assert!(take(raw[1]));
        assert!(!take(raw[1]), "taken once");
        assert_eq!(ready_any(&raw, 0).unwrap(), 0);
    }
}
