//! The QEMU command line of a guest: a q35 machine under TCG with an
//! emulated IOMMU, the bench kernel and initramfs, a QMP socket, and one
//! `dgram` netdev per NIC: a pair of connected UDP sockets on 127.0.0.1, one
//! end inherited by QEMU, the other kept by the host side of the tests.

use super::config::{GuestConfig, Link, Nic};
use crate::error::Result;
use crate::vm::assets;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// Machine options that never change.
const MACHINE: &str = "-accel tcg -machine q35 -cpu max -m 1G -nodefaults -display none \
                       -no-reboot -serial stdio -monitor none -name e1000-guest,debug-threads=on \
                       -global q35-pcihost.pci-hole64-size=0";
/// The emulated Intel IOMMU (VT-d) that vfio-pci needs.
const IOMMU: &str = "-device intel-iommu,intremap=on,caching-mode=on";
/// Keeps the guest's clock on the TSC, as on real machines. TCG's `max`
/// CPU is not an Intel one and has no invariant TSC, so Linux calls the TSCs
/// of a guest with more than one vCPU unsynchronized (`unsynchronized_tsc`)
/// and falls back to the HPET: then every clock read, in a program
/// (`Instant::now`, no longer in the vDSO) and in the kernel's own idle exit
/// and timers, is an emulated register read under QEMU's big lock. TCG
/// derives every vCPU's TSC from the host's one clock, which is what
/// `tsc=reliable` asserts (the kernel's documentation names it for virtual
/// machines). In one A/B it cut `forward`'s wake from an interrupt from
/// 311 to 104 µs (docs/real-stacks.md, "The guest's clock").
const CLOCK: &str = "tsc=reliable";

/// Arguments for QEMU plus the host ends of the NIC links.
pub(crate) struct QemuArgs {
    /// Arguments, without the program name.
    pub args: Vec<String>,
    /// The NICs, with host sockets bound and connected to QEMU's ports.
    pub nics: Vec<Nic>,
    /// Where trace output goes, when tracing.
    pub trace_path: Option<PathBuf>,
    /// QEMU's ends of the NIC links, for QEMU to inherit (the arguments
    /// name them by file descriptor number).
    pub link_ends: Vec<OwnedFd>,
}

/// Builds the command line for `config`; `tag` makes file names unique.
pub(crate) fn qemu_args(
    config: &GuestConfig,
    vmlinuz: &Path,
    initramfs: &Path,
    qmp_path: &Path,
    tag: &str,
) -> Result<QemuArgs> {
    let bind = match &config.bind {
        None => (0..config.nics.len())
            .map(|i| config.placement.pci(i))
            .collect::<Vec<_>>(),
        Some(list) => list.clone(),
    };
    let bind = if bind.is_empty() {
        "none".to_string()
    } else {
        bind.join(",")
    };
    let mut args: Vec<String> = MACHINE.split_whitespace().map(str::to_string).collect();
    args.extend(["-smp".into(), config.cpus.max(1).to_string()]);
    if config.iommu {
        args.extend(IOMMU.split_whitespace().map(str::to_string));
    }
    let iommu = if config.iommu {
        "intel_iommu=on"
    } else {
        "intel_iommu=off"
    };
    args.extend([
        "-kernel".into(),
        vmlinuz.display().to_string(),
        "-initrd".into(),
        initramfs.display().to_string(),
        "-append".into(),
        format!("console=ttyS0 {iommu} {CLOCK} hugepages=64 panic=-1 loglevel=4 bind={bind}"),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", qmp_path.display()),
    ]);
    let mut nics = Vec::new();
    let mut link_ends = Vec::new();
    for (i, nic) in config.nics.iter().enumerate() {
        // Both ends of the link are made here, connected to each other, and
        // QEMU inherits its end. Both get the same large receive buffer: on a
        // shared 2-core host QEMU's main loop can be kept off the CPU for a
        // few milliseconds, and the default buffer (a few hundred small
        // frames) would turn that scheduling hiccup into lost frames that no
        // NIC or driver could have saved. Sustained overload still shows: the
        // ladder demands that echoes keep pace with the offered rate.
        let (socket, qemu_end) = link_pair(config.link)?;
        let qemu_fd = qemu_end.as_raw_fd();
        link_ends.push(qemu_end);
        let (bridge, place) = config.placement.device_args(i);
        if let Some(bridge) = bridge {
            args.extend(["-device".into(), bridge]);
        }
        args.extend([
            "-netdev".into(),
            format!("dgram,id=n{i},local.type=fd,local.str={qemu_fd}"),
            "-device".into(),
            format!(
                "{},netdev=n{i},mac={},{place},id=nic{i}",
                nic.model, nic.mac
            ),
        ]);
        nics.push(Nic {
            model: nic.model.clone(),
            pci: config.placement.pci(i),
            mac: nic.mac,
            device_id: format!("nic{i}"),
            netdev_id: format!("n{i}"),
            socket,
        });
    }
    let mut trace_path = None;
    if let Some(pattern) = &config.trace {
        args.extend(["-trace".into(), pattern.clone()]);
    }
    if config.trace.is_some() || config.trace_log {
        // Each trace line starts with the host time in µs ("pid@s.us:").
        args.extend(["-msg".into(), "timestamp=on".into()]);
        trace_path = Some(assets::guest_dir().join(format!("trace-{tag}.log")));
    }
    Ok(QemuArgs {
        args,
        nics,
        trace_path,
        link_ends,
    })
}

/// The two ends of one NIC's link: the host's and QEMU's.
///
/// With [`Link::Unix`] the pair is an `AF_UNIX` datagram socket pair; the
/// host end is still handed out as a `UdpSocket`, whose send and receive
/// calls work on any connected datagram socket, but whose address calls
/// fail (so the per-socket drop counters of `/proc/net/udp` are not
/// available: a full Unix socket makes the sender wait instead of dropping).
fn link_pair(link: Link) -> Result<(UdpSocket, OwnedFd)> {
    match link {
        Link::Udp => {
            let socket = UdpSocket::bind("127.0.0.1:0")?;
            let qemu_end = UdpSocket::bind("127.0.0.1:0")?;
            grow_receive_buffer(&socket);
            grow_receive_buffer(&qemu_end);
            socket.connect(qemu_end.local_addr()?)?;
            qemu_end.connect(socket.local_addr()?)?;
            Ok((socket, qemu_end.into()))
        }
        Link::Unix => {
            let (host, qemu_end) = UnixDatagram::pair()?;
            // A Unix datagram waits in the receiver's queue charged to the
            // sender's send buffer: both ends get a large one.
            for end in [&host, &qemu_end] {
                grow_buffer(end, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF);
                grow_receive_buffer(end);
            }
            Ok((UdpSocket::from(OwnedFd::from(host)), qemu_end.into()))
        }
    }
}

/// Quotes `s` for a shell, for printing command lines.
pub(crate) fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./,:=@+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Gives the host peer's socket a large receive buffer, so that a burst of
/// frames the guest sends back in one batch is not dropped by the host kernel
/// before the peer reads it (that loss would be the bench's, not the driver's).
pub(crate) fn grow_receive_buffer(socket: &impl AsRawFd) {
    grow_buffer(socket, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF);
}

/// Sets a socket buffer to 16 MiB: with `forced` (root), else `plain`
/// (capped by the system's maximum).
fn grow_buffer(socket: &impl AsRawFd, forced: libc::c_int, plain: libc::c_int) {
    let bytes: libc::c_int = 16 << 20;
    for option in [forced, plain] {
        // SAFETY: setsockopt reads a c_int from a valid pointer on a socket we own.
        let ok = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        } == 0;
        if ok {
            return;
        }
    }
}
