//! A Linux TAP interface (`/dev/net/tun`): the kernel's side of `e1000 tap`.
//! One safe wrapper per ioctl. The interface lives as long as its file
//! descriptor: when the process ends, however it ends, the kernel removes it.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// A TAP interface: Ethernet frames in and out, no packet-information
/// header, through one or several queues.
#[derive(Debug)]
pub struct Tap {
    queues: Vec<TapQueue>,
    name: String,
    /// A socket for the interface ioctls (address, MTU, flags).
    control: OwnedFd,
}

/// One queue of a TAP interface (one file descriptor): the kernel spreads
/// the frames it sends over the queues by flow, and takes frames from any.
#[derive(Debug)]
pub struct TapQueue {
    file: File,
}

/// An `ifreq` naming interface `name` (at most 15 bytes), all else zero.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{name}': an interface name is 1 to 15 bytes"),
        ));
    }
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

impl Tap {
    /// Creates TAP interface `name` (non-persistent, non-blocking) with
    /// `queues` queues (`IFF_MULTI_QUEUE` if more than one), every frame
    /// behind a virtio-net header ([`crate::vnet`]) if `vnet_header`.
    pub fn create(name: &str, vnet_header: bool, queues: usize) -> io::Result<Tap> {
        let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if vnet_header {
            flags |= libc::IFF_VNET_HDR;
        }
        if queues > 1 {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        let mut name = name.to_string();
        let mut opened = Vec::with_capacity(queues);
        for _ in 0..queues.max(1) {
            let (queue, actual) = TapQueue::attach(&name, flags)?;
            // The kernel may have changed the name (a `%d` pattern): the
            // next queues attach to the interface the first one created.
            name = actual;
            opened.push(queue);
        }
        // SAFETY: socket() creates a descriptor or fails; no memory is involved.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor owned by nothing else.
        let control = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Tap {
            queues: opened,
            name,
            control,
        })
    }

    /// The interface's queues, in the order they were attached.
    pub fn queues(&self) -> &[TapQueue] {
        &self.queues
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs interface ioctl `request` on an ifreq for this interface that
    /// `fill` prepares; returns the ifreq as the kernel left it.
    fn if_ioctl(
        &self,
        request: libc::Ioctl,
        fill: impl FnOnce(&mut libc::ifreq),
    ) -> io::Result<libc::ifreq> {
        let mut req = ifreq(&self.name)?;
        fill(&mut req);
        // SAFETY: an interface ioctl on our socket with an ifreq that lives
        // across the call; the kernel reads and writes only the ifreq.
        if unsafe { libc::ioctl(self.control.as_raw_fd(), request, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(req)
    }

    /// Sets the interface's MAC address.
    pub fn set_mac(&self, mac: [u8; 6]) -> io::Result<()> {
        self.if_ioctl(libc::SIOCSIFHWADDR, |req| {
            // SAFETY: writing the sockaddr member of the request's union.
            let addr = unsafe { &mut req.ifr_ifru.ifru_hwaddr };
            addr.sa_family = libc::ARPHRD_ETHER;
            for (dst, src) in addr.sa_data.iter_mut().zip(mac) {
                *dst = src as libc::c_char;
            }
        })
        .map(drop)
    }

    /// Sets the interface's MTU.
    pub fn set_mtu(&self, mtu: u16) -> io::Result<()> {
        self.if_ioctl(libc::SIOCSIFMTU, |req| req.ifr_ifru.ifru_mtu = mtu.into())
            .map(drop)
    }

    /// Brings the interface up (IFF_UP), as `ip link set NAME up` does.
    pub fn set_up(&self) -> io::Result<()> {
        let req = self.if_ioctl(libc::SIOCGIFFLAGS, |_| {})?;
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        let flags = unsafe { req.ifr_ifru.ifru_flags } | libc::IFF_UP as libc::c_short;
        self.if_ioctl(libc::SIOCSIFFLAGS, |req| req.ifr_ifru.ifru_flags = flags)
            .map(drop)
    }

    /// Sets the interface's carrier: what `ip link` shows as LOWER_UP or
    /// NO-CARRIER, and what the kernel's stack sends on.
    pub fn set_carrier(&self, up: bool) -> io::Result<()> {
        let on: libc::c_int = up.into();
        // SAFETY: TUNSETCARRIER reads one int through the pointer, which lives across the call.
        if unsafe { libc::ioctl(self.queues[0].file.as_raw_fd(), libc::TUNSETCARRIER, &on) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Tells the kernel which offloads it may leave to us (`TUN_F_CSUM`,
    /// `TUN_F_TSO4`, `TUN_F_TSO6`): frames with a checksum still to fill in
    /// or too long for the MTU, described by their virtio-net header.
    pub fn set_offload(&self, flags: libc::c_uint) -> io::Result<()> {
        // SAFETY: TUNSETOFFLOAD takes its argument by value; no memory is involved.
        if unsafe {
            libc::ioctl(
                self.queues[0].file.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                flags as libc::c_ulong,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl TapQueue {
    /// Opens `/dev/net/tun` and attaches it to interface `name` with
    /// `flags` (TUNSETIFF), creating the interface if it is the first
    /// queue; returns the queue and the interface's name.
    fn attach(name: &str, flags: libc::c_int) -> io::Result<(TapQueue, String)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_flags = flags as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes the ifreq we pass, which lives
        // across the call.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel wrote a NUL-terminated name into ifr_name.
        let name = unsafe { CStr::from_ptr(req.ifr_name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok((TapQueue { file }, name))
    }

    /// Reads one frame the kernel sends, spread over `bufs` in order (a
    /// virtio-net header first, if the TAP has them); the bytes read, or
    /// `None` if there is no frame now.
    pub fn read_vectored(&self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<Option<usize>> {
        match (&self.file).read_vectored(bufs) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hands one received frame, in parts (a virtio-net header first, if
    /// the TAP has them), to the kernel in one write; false if its queue
    /// is full (the frame is dropped, as a NIC with a full ring would).
    pub fn write_vectored(&self, parts: &[io::IoSlice<'_>]) -> io::Result<bool> {
        match (&self.file).write_vectored(parts) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for TapQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
