//! Interrupts: VFIO signals each vector on an eventfd; the driver sleeps in
//! `poll(2)` on them. Also the selection of the mode.

use crate::error::{Error, Result};
use crate::vfio::{Device, IrqIndex};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// How the driver learns that frames arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqMode {
    /// No interrupts: the caller polls the rings (lowest latency, one busy core).
    Poll,
    /// Legacy INTx line, unmasked through VFIO after each interrupt.
    Intx,
    /// One MSI vector.
    Msi,
    /// MSI-X, one vector per cause (RX queue, TX queue, link).
    Msix,
}

impl IrqMode {
    /// Parses `poll`, `intx`, `msi` or `msix`.
    pub fn parse(s: &str) -> Option<IrqMode> {
        match s {
            "poll" => Some(IrqMode::Poll),
            "intx" => Some(IrqMode::Intx),
            "msi" => Some(IrqMode::Msi),
            "msix" | "msi-x" => Some(IrqMode::Msix),
            _ => None,
        }
    }

    /// The VFIO interrupt index of this mode.
    pub(crate) fn index(self) -> Option<IrqIndex> {
        match self {
            IrqMode::Poll => None,
            IrqMode::Intx => Some(IrqIndex::Intx),
            IrqMode::Msi => Some(IrqIndex::Msi),
            IrqMode::Msix => Some(IrqIndex::Msix),
        }
    }
}

impl std::fmt::Display for IrqMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IrqMode::Poll => "poll",
            IrqMode::Intx => "intx",
            IrqMode::Msi => "msi",
            IrqMode::Msix => "msix",
        })
    }
}

/// The eventfds of the vectors in use.
#[derive(Debug)]
pub(crate) struct Eventfds {
    fds: Vec<OwnedFd>,
}

impl Eventfds {
    /// Creates `count` eventfds and hands them to VFIO for interrupt `index`.
    pub(crate) fn enable(device: &Device, index: IrqIndex, count: u32) -> Result<Eventfds> {
        let mut fds = Vec::new();
        for _ in 0..count {
            // SAFETY: eventfd creates a new descriptor or fails.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if fd < 0 {
                return Err(Error::last_os("eventfd"));
            }
            // SAFETY: `fd` is a new descriptor owned by nothing else.
            fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        device.enable_irqs(index, &raw)?;
        Ok(Eventfds { fds })
    }

    /// The raw descriptors, vector by vector (for async runtimes).
    pub(crate) fn raw(&self) -> Vec<RawFd> {
        self.fds.iter().map(|f| f.as_raw_fd()).collect()
    }
}

/// Sleeps until one of `fds` is signalled or `timeout_ms` passes (-1:
/// forever); returns a bit mask of those signalled (their counters are reset).
/// A signal (SIGINT…) ends the wait early with an empty mask.
pub(crate) fn wait_any(fds: &[RawFd], timeout_ms: i32) -> Result<u64> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of pollfd of the given length.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(Error::io("poll on interrupt eventfds", e));
    }
    let mut fired = 0;
    for (i, p) in pfds.iter().enumerate() {
        if p.revents & libc::POLLIN != 0 && take(p.fd) {
            fired |= 1 << i;
        }
    }
    Ok(fired)
}

/// Resets eventfd `fd`'s counter; true if it was signalled (never blocks).
pub(crate) fn take(fd: RawFd) -> bool {
    let mut counter = 0u64;
    // SAFETY: reads 8 bytes into `counter` from a non-blocking eventfd we own.
    unsafe { libc::read(fd, (&mut counter as *mut u64).cast(), 8) == 8 }
}
