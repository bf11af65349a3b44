//! What a guest is made of: its NICs, where they sit on the PCI topology,
//! what carries their frames, and the other knobs of a boot.

use crate::mac::Mac;
use std::net::UdpSocket;
use std::time::Duration;

/// Virtual CPUs of the bench's guests: testpmd needs a main lcore and a
/// forwarding lcore; every peer runs in the same 2-vCPU guest.
pub const GUEST_CPUS: usize = 2;

/// One emulated NIC to add to the guest.
#[derive(Clone, Debug)]
pub struct NicConfig {
    /// QEMU device model: `e1000`, `e1000-82544gc`, `e1000-82545em`, `e1000e` or `igb`.
    pub model: String,
    /// The NIC's MAC address.
    pub mac: Mac,
}

/// What carries a NIC's frames between QEMU and the host (`-netdev dgram`
/// on an inherited socket either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Link {
    /// A pair of connected UDP sockets on 127.0.0.1.
    #[default]
    Udp,
    /// An `AF_UNIX` datagram socket pair.
    Unix,
}

impl Link {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Link::Udp => "UDP on loopback (a connected pair of UDP sockets on 127.0.0.1)",
            Link::Unix => "a Unix-domain datagram socket pair",
        }
    }
}

/// How to boot a guest.
#[derive(Clone, Debug)]
pub struct GuestConfig {
    /// NICs, placed at guest PCI slots 3, 4, 5, ... in order.
    pub nics: Vec<NicConfig>,
    /// PCI addresses to bind to vfio-pci at boot; `None` binds every NIC.
    pub bind: Option<Vec<String>>,
    /// How long the boot may take until the agent is ready.
    pub boot_timeout: Duration,
    /// QEMU trace pattern (`-trace`), e.g. `e1000e_*`; output goes to a file.
    pub trace: Option<String>,
    /// Send QEMU's trace output to a file even with no event enabled at
    /// boot, so that events enabled later (`Guest::trace_events`) land there.
    pub trace_log: bool,
    /// Whether the machine has the emulated Intel IOMMU (and the kernel uses it).
    pub iommu: bool,
    /// Where the NICs sit on the PCI topology.
    pub placement: Placement,
    /// Virtual CPUs (`-smp`).
    pub cpus: usize,
    /// Whether the initramfs carries DPDK's `dpdk-testpmd` and iproute2's
    /// `ip` as `ip-iproute2` (the bench's and the SR-IOV suite's; every
    /// other guest boots without them).
    pub dpdk: bool,
    /// The NICs' links.
    pub link: Link,
}

impl GuestConfig {
    /// A guest with one NIC of each given model (MACs `52:54:00:12:34:56`, `...:57`, ...),
    /// all bound to vfio-pci.
    pub fn with_nics(models: &[&str]) -> GuestConfig {
        GuestConfig {
            nics: models
                .iter()
                .enumerate()
                .map(|(i, m)| NicConfig {
                    model: m.to_string(),
                    mac: Mac::nic(i),
                })
                .collect(),
            bind: None,
            iommu: true,
            placement: Placement::Slots,
            boot_timeout: Duration::from_secs(90),
            trace: None,
            trace_log: false,
            cpus: 1,
            dpdk: false,
            link: Link::Udp,
        }
    }

    /// The same guest with no NIC bound to vfio-pci (for kernel-driver tests).
    pub fn unbound(mut self) -> GuestConfig {
        self.bind = Some(Vec::new());
        self
    }
}

/// Guest PCI address of NIC `index`.
pub fn nic_pci(index: usize) -> String {
    Placement::Slots.pci(index)
}

/// Where the NICs sit on the guest's PCI topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// NIC `i` in its own slot `3 + i` of the root bus (each its own IOMMU group).
    #[default]
    Slots,
    /// NIC `i` is function `i` of one multifunction device in slot 3: they
    /// share an IOMMU group.
    Functions,
    /// NIC `i` behind its own `pcie-root-port` (bus `i + 1`): hot-pluggable,
    /// so `device_del` removes it.
    RootPorts,
    /// Every NIC in slot `1 + i` behind one PCIe-to-PCI bridge (bus 1): the
    /// bridge aliases their requester IDs, so they share one IOMMU group.
    BehindPciBridge,
}

impl Placement {
    /// The guest PCI address of NIC `index`.
    pub fn pci(self, index: usize) -> String {
        match self {
            Placement::Slots => format!("0000:00:{:02x}.0", 3 + index),
            Placement::Functions => format!("0000:00:03.{index}"),
            Placement::RootPorts => format!("0000:{:02x}:00.0", 1 + index),
            Placement::BehindPciBridge => format!("0000:01:{:02x}.0", 1 + index),
        }
    }

    /// The `-device` arguments that put NIC `index` there (after `model,netdev=..,mac=..`),
    /// preceded by any bridge it needs.
    pub fn device_args(self, index: usize) -> (Option<String>, String) {
        match self {
            Placement::Slots => (None, format!("addr={:#x}", 3 + index)),
            Placement::Functions => {
                let multi = if index == 0 { ",multifunction=on" } else { "" };
                (None, format!("addr=0x3.{index}{multi}"))
            }
            Placement::RootPorts => (
                Some(format!(
                    "pcie-root-port,id=rp{index},chassis={},slot={},addr={:#x}",
                    1 + index,
                    1 + index,
                    3 + index
                )),
                format!("bus=rp{index}"),
            ),
            Placement::BehindPciBridge => (
                (index == 0).then(|| "pcie-pci-bridge,id=br0,addr=0x3".to_string()),
                format!("bus=br0,addr={:#x}", 1 + index),
            ),
        }
    }
}

/// A NIC of a running guest and the host end of its link.
#[derive(Debug)]
pub struct Nic {
    /// QEMU device model.
    pub model: String,
    /// Guest PCI address, e.g. `0000:00:03.0`.
    pub pci: String,
    /// The NIC's MAC address.
    pub mac: Mac,
    /// QEMU device id (`nicN`), for QMP `device_del`.
    pub device_id: String,
    /// QEMU netdev id (`nN`), for QMP `set_link`.
    pub netdev_id: String,
    /// Host socket: every datagram sent on it is one frame into the NIC; every
    /// frame the NIC transmits arrives as one datagram.
    pub socket: UdpSocket,
}

impl Nic {
    /// A virtual function of this NIC as the measurements see it: its own
    /// PCI address and MAC address on this NIC's link (the PF sorts
    /// received frames to its VFs by destination address).
    pub fn virtual_function(&self, pci: &str, mac: Mac) -> std::io::Result<Nic> {
        Ok(Nic {
            model: self.model.clone(),
            pci: pci.to_string(),
            mac,
            device_id: self.device_id.clone(),
            netdev_id: self.netdev_id.clone(),
            socket: self.socket.try_clone()?,
        })
    }
}
