//! The library's error type: one variant per thing a user can get wrong or a
//! device can do, each with a message that says how to fix it.

use std::fmt;
use std::io;

/// Everything [`crate::Nic::open`] and the data path can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The PCI address is not of the form `[DDDD:]BB:DD.F`.
    BadPciAddress(String),
    /// No such device in `/sys/bus/pci/devices`.
    NoSuchDevice(String),
    /// The device exists but is not an Intel NIC this driver knows.
    Unsupported {
        /// The PCI address.
        pci: String,
        /// PCI vendor ID.
        vendor: u16,
        /// PCI device ID.
        device: u16,
    },
    /// The device is bound to another driver (or none), not `vfio-pci`.
    NotBoundToVfio {
        /// The PCI address.
        pci: String,
        /// The bound driver, if any.
        driver: Option<String>,
        /// PCI vendor ID.
        vendor: u16,
        /// PCI device ID.
        device: u16,
    },
    /// The device has no IOMMU group: no IOMMU, and no-IOMMU mode is off.
    NoIommu {
        /// The PCI address.
        pci: String,
    },
    /// The device is in an unsafe no-IOMMU group, which this driver refuses
    /// (it would let the device write anywhere in memory).
    NoIommuModeUnsupported {
        /// The PCI address.
        pci: String,
    },
    /// The kernel's VFIO reports an API version this driver does not know.
    UnsupportedVfioApi {
        /// The version the kernel reported.
        version: i32,
    },
    /// `/dev/vfio/vfio` does not exist: the vfio modules are not loaded.
    VfioMissing,
    /// The IOMMU group has devices not bound to `vfio-pci`.
    GroupNotViable {
        /// The IOMMU group number.
        group: u32,
        /// The other devices of the group, with their drivers.
        others: Vec<(String, Option<String>)>,
    },
    /// Opening `/dev/vfio/N` was refused.
    PermissionDenied {
        /// The device file.
        path: String,
    },
    /// Opening `/dev/vfio/N` says the group is already open (another process owns the NIC).
    Busy {
        /// The device file.
        path: String,
    },
    /// Pinning DMA memory needs more than `RLIMIT_MEMLOCK` allows.
    MemlockTooLow {
        /// Bytes the driver needs pinned, in all.
        needed: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The IOMMU refused a mapping at this IOVA (outside its address width).
    IovaRefused {
        /// The device address refused.
        iova: u64,
        /// Bytes of the mapping.
        size: usize,
    },
    /// BAR `index` of the device is absent or cannot be mmap-ed.
    BarNotMappable {
        /// The PCI address.
        pci: String,
        /// The BAR number.
        index: u32,
    },
    /// The interrupt mode asked for is not offered by the device or the family.
    IrqModeUnavailable {
        /// The PCI address.
        pci: String,
        /// The mode asked for.
        mode: String,
        /// The modes that are offered.
        available: Vec<String>,
    },
    /// Writing `driver_override` and reprobing did not bind `vfio-pci`.
    BindFailed {
        /// The PCI address.
        pci: String,
        /// The bound driver, if any.
        driver: Option<String>,
    },
    /// The link did not come up within the timeout.
    LinkDown {
        /// The PCI address.
        pci: String,
        /// How long the driver waited.
        waited_ms: u64,
    },
    /// The device did not finish a reset or an EEPROM/PHY access in time.
    DeviceTimeout(&'static str),
    /// A [`crate::Config`] value the device cannot take.
    InvalidConfig(String),
    /// A virtual function's request that the physical function's driver
    /// refused (the text names the request).
    PfRefused(String),
    /// The device has gone (surprise removal): reads return all ones.
    DeviceGone,
    /// A queue index at or past [`crate::Nic::queues`].
    NoSuchQueue {
        /// The index asked for.
        index: u16,
        /// The queues the NIC was opened with.
        queues: u16,
    },
    /// The kernel asked for the device back (hot-unplug or unbind); the
    /// caller should drop the [`crate::Nic`], which stops and releases it.
    RemovalRequested {
        /// The PCI address.
        pci: String,
    },
    /// A system call failed.
    Io {
        /// What the driver was doing.
        what: String,
        /// The system error.
        source: io::Error,
    },
}

/// Short for `std::result::Result<T, vfio_e1000::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with what the driver was doing.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Wraps the current `errno` with what the driver was doing.
    pub(crate) fn last_os(what: impl Into<String>) -> Self {
        Error::io(what, io::Error::last_os_error())
    }
}

fn bind_hint(pci: &str, vendor: u16, device: u16) -> String {
    format!(
        "bind it with `e1000 bind {pci}` (or by hand: echo {pci} > /sys/bus/pci/devices/{pci}/driver/unbind; \
         echo vfio-pci > /sys/bus/pci/devices/{pci}/driver_override; \
         echo {pci} > /sys/bus/pci/drivers_probe; vendor:device {vendor:04x}:{device:04x})"
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadPciAddress(s) => write!(
                f,
                "'{s}' is not a PCI address: expected DDDD:BB:DD.F or BB:DD.F, e.g. 0000:00:03.0 (see `e1000 list`)"
            ),
            Error::NoSuchDevice(pci) => write!(
                f,
                "no PCI device {pci}: /sys/bus/pci/devices/{pci} does not exist (see `e1000 list` or `lspci -nn`)"
            ),
            Error::Unsupported { pci, vendor, device } => write!(
                f,
                "{pci} ({vendor:04x}:{device:04x}) is not a supported Intel 1GbE NIC (8254x, 82574L, 82576 families); see `e1000 list`"
            ),
            Error::NotBoundToVfio { pci, driver, vendor, device } => {
                let now = driver.as_deref().map_or("no driver".to_string(), |d| format!("driver '{d}'"));
                write!(f, "{pci} is bound to {now}, not vfio-pci; {}", bind_hint(pci, *vendor, *device))
            }
            Error::NoIommu { pci } => write!(
                f,
                "{pci} has no IOMMU group: enable the IOMMU (kernel command line intel_iommu=on or amd_iommu=on, VT-d in firmware); \
                 this driver does not use VFIO's unsafe no-IOMMU mode"
            ),
            Error::VfioMissing => write!(
                f,
                "/dev/vfio/vfio does not exist: load the VFIO driver with `modprobe vfio-pci`"
            ),
            Error::GroupNotViable { group, others } => {
                write!(f, "IOMMU group {group} is not viable: every device in it must be bound to vfio-pci (or no driver); others in the group:")?;
                for (dev, drv) in others {
                    write!(f, " {dev} ({})", drv.as_deref().unwrap_or("no driver"))?;
                }
                write!(f, "; bind them to vfio-pci too")
            }
            Error::PermissionDenied { path } => write!(
                f,
                "permission denied on {path}: run as root, or give a group access with a udev rule \
                 (SUBSYSTEM==\"vfio\", GROUP=\"vfio\", MODE=\"0660\") and a memlock limit for it: see docs/hardware.md"
            ),
            Error::Busy { path } => write!(
                f,
                "{path} is busy: another process has this NIC open (see `fuser {path}`)"
            ),
            Error::MemlockTooLow { needed, limit } => write!(
                f,
                "the locked-memory limit is {} KiB but DMA memory needs {} KiB: raise it, e.g. `ulimit -l {}` or `prlimit --pid $$ --memlock={}`, \
                 or run with CAP_IPC_LOCK",
                limit / 1024,
                needed.div_ceil(1024),
                needed.div_ceil(1024),
                needed
            ),
            Error::NoIommuModeUnsupported { pci } => write!(
                f,
                "{pci} is in an unsafe no-IOMMU VFIO group: this driver needs a real IOMMU \
                 (kernel command line intel_iommu=on or amd_iommu=on, VT-d in firmware)"
            ),
            Error::UnsupportedVfioApi { version } => write!(
                f,
                "the kernel's VFIO API version is {version}; this driver knows version 0"
            ),
            Error::IovaRefused { iova, size } => write!(
                f,
                "the IOMMU refused IOVA {iova:#x} ({size} bytes): it is outside the IOMMU's usable range \
                 (identity IOVAs = virtual addresses need a 48-bit IOMMU); use the allocated IOVA policy"
            ),
            Error::BarNotMappable { pci, index } => write!(
                f,
                "BAR{index} of {pci} is absent or cannot be mmap-ed through VFIO"
            ),
            Error::IrqModeUnavailable { pci, mode, available } => write!(
                f,
                "{pci} does not offer {mode} interrupts here; available: {}",
                available.join(", ")
            ),
            Error::BindFailed { pci, driver } => write!(
                f,
                "{pci} did not bind to vfio-pci (driver now: {}): is the module loaded (`modprobe vfio-pci`)?",
                driver.as_deref().unwrap_or("none")
            ),
            Error::LinkDown { pci, waited_ms } => write!(
                f,
                "link on {pci} did not come up within {waited_ms} ms: check the cable and the link partner, or wait longer"
            ),
            Error::DeviceTimeout(what) => write!(f, "the device did not complete {what} in time"),
            Error::InvalidConfig(s) => write!(f, "invalid configuration: {s}"),
            Error::PfRefused(what) => write!(
                f,
                "the physical function's driver refused {what} (an address the PF's administrator set with `ip link set PF vf N mac ...` cannot be changed from the VF: use that address, or change it on the PF)"
            ),
            Error::NoSuchQueue { index, queues } => write!(
                f,
                "no queue {index}: the NIC was opened with {queues} (Config::queues), numbered from 0"
            ),
            Error::DeviceGone => write!(f, "the device is gone (reads return all ones): it was removed or reset"),
            Error::RemovalRequested { pci } => write!(
                f,
                "the kernel asked to release {pci} (hot-unplug or unbind): stopping the NIC and releasing it"
            ),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
