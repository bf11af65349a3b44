//! A Linux TAP interface (`/dev/net/tun`): the kernel's side of `e1000 tap`.
//! One safe wrapper per ioctl. The interface lives as long as its file
//! descriptor: when the process ends, however it ends, the kernel removes it.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// A TAP interface: Ethernet frames in and out, no packet-information header.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
    /// A socket for the interface ioctls (address, MTU, flags).
    control: OwnedFd,
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
    /// Creates TAP interface `name` (non-persistent, non-blocking), every
    /// frame behind a virtio-net header ([`crate::vnet`]) if `vnet_header`.
    pub fn create(name: &str, vnet_header: bool) -> io::Result<Tap> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let mut req = ifreq(name)?;
        let vnet = if vnet_header { libc::IFF_VNET_HDR } else { 0 };
        req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI | vnet) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes the ifreq we pass, which lives
        // across the call.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // The kernel may have changed the name (a `%d` pattern): read it back.
        // SAFETY: the kernel wrote a NUL-terminated name into ifr_name.
        let name = unsafe { CStr::from_ptr(req.ifr_name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: socket() creates a descriptor or fails; no memory is involved.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor owned by nothing else.
        let control = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Tap {
            file,
            name,
            control,
        })
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
        if unsafe { libc::ioctl(self.file.as_raw_fd(), libc::TUNSETCARRIER, &on) } < 0 {
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
                self.file.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                flags as libc::c_ulong,
            )
        } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads one frame the kernel sends, spread over `bufs` in order (a
    /// virtio-net header first, if the TAP has them); the bytes read, or
    /// `None` if there is no frame now.
    pub fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<Option<usize>> {
        match self.file.read_vectored(bufs) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hands one received frame, in parts (a virtio-net header first, if
    /// the TAP has them), to the kernel in one write; false if its queue
    /// is full (the frame is dropped, as a NIC with a full ring would).
    pub fn write_vectored(&mut self, parts: &[io::IoSlice<'_>]) -> io::Result<bool> {
        match self.file.write_vectored(parts) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
