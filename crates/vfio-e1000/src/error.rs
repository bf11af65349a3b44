//! The library's error type: one variant per thing a user can get wrong or a
//! device can do, each with a message that says how to fix it.

use std::fmt;
use std::io;

/// Everything [`crate::Nic::open`] and the data path can fail with.
#[derive(Debug)]
pub enum Error {
    /// The PCI address is not of the form `[DDDD:]BB:DD.F`.
    BadPciAddress(String),
    /// No such device in `/sys/bus/pci/devices`.
    NoSuchDevice(String),
    /// The device exists but is not an Intel NIC this driver knows.
    Unsupported {
        pci: String,
        vendor: u16,
        device: u16,
    },
    /// The device is bound to another driver (or none), not `vfio-pci`.
    NotBoundToVfio {
        pci: String,
        driver: Option<String>,
        vendor: u16,
        device: u16,
    },
    /// The device has no IOMMU group: no IOMMU, and no-IOMMU mode is off.
    NoIommu { pci: String },
    /// `/dev/vfio/vfio` does not exist: the vfio modules are not loaded.
    VfioMissing,
    /// The IOMMU group has devices not bound to `vfio-pci`.
    GroupNotViable {
        group: u32,
        others: Vec<(String, Option<String>)>,
    },
    /// Opening `/dev/vfio/N` was refused.
    PermissionDenied { path: String },
    /// Opening `/dev/vfio/N` says the group is already open (another process owns the NIC).
    Busy { path: String },
    /// Pinning DMA memory needs more than `RLIMIT_MEMLOCK` allows.
    MemlockTooLow { needed: u64, limit: u64 },
    /// The link did not come up within the timeout.
    LinkDown { pci: String, waited_ms: u64 },
    /// The device did not finish a reset or an EEPROM/PHY access in time.
    DeviceTimeout(&'static str),
    /// A configuration value the device cannot take.
    InvalidConfig(String),
    /// The device has gone (surprise removal): reads return all ones.
    DeviceGone,
    /// The kernel asked for the device back (hot-unplug or unbind); the
    /// caller should drop the [`crate::Nic`], which stops and releases it.
    RemovalRequested { pci: String },
    /// A system call failed.
    Io { what: String, source: io::Error },
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
        "bind it with: echo {pci} > /sys/bus/pci/devices/{pci}/driver/unbind; \
         echo vfio-pci > /sys/bus/pci/devices/{pci}/driver_override; \
         echo {pci} > /sys/bus/pci/drivers_probe   (or: e1000 bind {pci}; vendor:device {vendor:04x}:{device:04x})"
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
                "{pci} has no IOMMU group: enable the IOMMU (kernel command line intel_iommu=on or amd_iommu=on, VT-d in firmware), \
                 or accept unsafe no-IOMMU mode: echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode, then rebind"
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
                "permission denied on {path}: run as root, or give your user the group: chown $USER {path}"
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
            Error::LinkDown { pci, waited_ms } => write!(
                f,
                "link on {pci} did not come up within {waited_ms} ms: check the cable/peer, or pass a longer --link-timeout"
            ),
            Error::DeviceTimeout(what) => write!(f, "the device did not complete {what} in time"),
            Error::InvalidConfig(s) => write!(f, "invalid configuration: {s}"),
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
