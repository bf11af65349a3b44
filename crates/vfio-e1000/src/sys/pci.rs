//! PCI devices as Linux shows them in sysfs: addresses, IDs, bound driver,
//! IOMMU group; plus the few configuration-space registers the driver touches.

use crate::error::{Error, Result};
use std::fmt;
use std::fs;
use std::path::PathBuf;

/// Configuration space: Command register (PCI 3.0 §6.2.2).
pub(crate) const CFG_COMMAND: u64 = 0x04;
/// Command register: Memory Space Enable.
pub(crate) const CMD_MEMORY: u16 = 1 << 1;
/// Command register: Bus Master Enable (without it the NIC does no DMA).
pub(crate) const CMD_BUS_MASTER: u16 = 1 << 2;
/// Command register: INTx Disable.
pub(crate) const CMD_INTX_DISABLE: u16 = 1 << 10;

/// A PCI address `domain:bus:device.function`, e.g. `0000:00:03.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PciAddress {
    /// PCI domain (segment).
    pub domain: u16,
    /// Bus number.
    pub bus: u8,
    /// Device (slot) number, 0..=31.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
}

impl PciAddress {
    /// Parses `DDDD:BB:DD.F` or `BB:DD.F` (hexadecimal, as `lspci` prints).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::BadPciAddress(s.to_string());
        let parts: Vec<&str> = s.split(':').collect();
        let (domain, bus, devfn) = match parts.as_slice() {
            [d, b, df] => (*d, *b, *df),
            [b, df] => ("0", *b, *df),
            _ => return Err(bad()),
        };
        let (dev, func) = devfn.split_once('.').ok_or_else(bad)?;
        let hex = |t: &str, max_len: usize| {
            if t.is_empty() || t.len() > max_len {
                return Err(bad());
            }
            u32::from_str_radix(t, 16).map_err(|_| bad())
        };
        let (domain, bus, device, function) =
            (hex(domain, 4)?, hex(bus, 2)?, hex(dev, 2)?, hex(func, 1)?);
        if device > 31 || function > 7 {
            return Err(bad());
        }
        Ok(PciAddress {
            domain: domain as u16,
            bus: bus as u8,
            device: device as u8,
            function: function as u8,
        })
    }

    /// This device's directory in sysfs.
    pub fn sysfs(&self) -> PathBuf {
        PathBuf::from(format!("/sys/bus/pci/devices/{self}"))
    }

    /// Reads a hexadecimal sysfs attribute such as `vendor` (`0x8086`).
    fn read_hex(&self, attr: &str) -> Result<u32> {
        let path = self.sysfs().join(attr);
        let text = fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).map_err(|_| {
            Error::io(
                format!("parsing {}", path.display()),
                std::io::ErrorKind::InvalidData.into(),
            )
        })
    }

    /// Vendor and device ID, or [`Error::NoSuchDevice`].
    pub fn ids(&self) -> Result<(u16, u16)> {
        if !self.sysfs().exists() {
            return Err(Error::NoSuchDevice(self.to_string()));
        }
        Ok((
            self.read_hex("vendor")? as u16,
            self.read_hex("device")? as u16,
        ))
    }

    /// Subsystem vendor and device ID.
    pub fn subsystem_ids(&self) -> Result<(u16, u16)> {
        Ok((
            self.read_hex("subsystem_vendor")? as u16,
            self.read_hex("subsystem_device")? as u16,
        ))
    }

    /// The name of the bound kernel driver, if any.
    pub fn driver(&self) -> Option<String> {
        link_name(self.sysfs().join("driver"))
    }

    /// The IOMMU group number, if the device has one.
    pub fn iommu_group(&self) -> Option<u32> {
        link_name(self.sysfs().join("iommu_group"))?.parse().ok()
    }
}

/// The last path component of a symbolic link's target.
fn link_name(path: PathBuf) -> Option<String> {
    let target = fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

impl std::str::FromStr for PciAddress {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PciAddress::parse(s)
    }
}

/// Every PCI device in sysfs, sorted by address.
pub(crate) fn all_devices() -> Vec<PciAddress> {
    let mut out: Vec<PciAddress> = fs::read_dir("/sys/bus/pci/devices")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| PciAddress::parse(&e.file_name().to_string_lossy()).ok())
        .collect();
    out.sort_by_key(|a| (a.domain, a.bus, a.device, a.function));
    out
}

/// The devices of IOMMU group `group` other than `me`, with their drivers.
pub(crate) fn group_peers(group: u32, me: &PciAddress) -> Vec<(String, Option<String>)> {
    let dir = format!("/sys/kernel/iommu_groups/{group}/devices");
    let mut peers: Vec<(String, Option<String>)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| PciAddress::parse(&e.file_name().to_string_lossy()).ok())
        .filter(|a| a != me)
        .map(|a| (a.to_string(), a.driver()))
        .collect();
    peers.sort();
    peers
}

/// Binds `addr` to `vfio-pci` through `driver_override` (needs root).
pub(crate) fn bind_to_vfio(addr: &PciAddress) -> Result<()> {
    let dev = addr.sysfs();
    addr.ids()?;
    let write = |path: PathBuf, value: &str| {
        fs::write(&path, value)
            .map_err(|e| Error::io(format!("writing '{value}' to {}", path.display()), e))
    };
    if addr.driver().as_deref() == Some("vfio-pci") {
        return Ok(());
    }
    if addr.driver().is_some() {
        write(dev.join("driver/unbind"), &addr.to_string())?;
    }
    write(dev.join("driver_override"), "vfio-pci")?;
    write(
        PathBuf::from("/sys/bus/pci/drivers_probe"),
        &addr.to_string(),
    )?;
    match addr.driver().as_deref() {
        Some("vfio-pci") => Ok(()),
        driver => Err(Error::BindFailed {
            pci: addr.to_string(),
            driver: driver.map(str::to_string),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_short_addresses() {
        let a = PciAddress::parse("0000:00:03.0").unwrap();
        assert_eq!((a.domain, a.bus, a.device, a.function), (0, 0, 3, 0));
        assert_eq!(a.to_string(), "0000:00:03.0");
        let b = PciAddress::parse("3a:1f.7").unwrap();
        assert_eq!(b.to_string(), "0000:3a:1f.7");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for s in [
            "",
            "00:03",
            "0000:00:03",
            "0000:00:20.0",
            "0000:00:03.8",
            "zz:00.0",
            "00000:00:03.0",
            "0000:00:03.0.1",
        ] {
            assert!(
                matches!(PciAddress::parse(s), Err(Error::BadPciAddress(_))),
                "{s}"
            );
        }
    }
}
