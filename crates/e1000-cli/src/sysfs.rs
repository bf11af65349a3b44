//! What `list`, `bind` and `unbind` read and write in sysfs: a device's
//! driver, IOMMU group and network interfaces, whether an interface is in
//! use, and giving a device back to its kernel driver.

use crate::cmd::CliError;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// sysfs directory of PCI device `pci`.
fn dev(pci: &str) -> PathBuf {
    PathBuf::from("/sys/bus/pci/devices").join(pci)
}

fn link_name(path: PathBuf) -> Option<String> {
    let target = std::fs::read_link(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

fn write(path: PathBuf, value: &str) -> Result<(), CliError> {
    std::fs::write(&path, value).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
            " (run as root)"
        } else {
            ""
        };
        CliError::Failed(format!(
            "writing {:?} to {}: {e}{hint}",
            value.trim_end(),
            path.display()
        ))
    })
}

/// The kernel driver bound to `pci`, if any.
pub fn driver(pci: &str) -> Option<String> {
    link_name(dev(pci).join("driver"))
}

/// The physical function of `pci`, if it is an SR-IOV virtual function.
pub fn physical_function(pci: &str) -> Option<String> {
    link_name(dev(pci).join("physfn"))
}

/// The IOMMU group of `pci`, if it has one.
pub fn iommu_group(pci: &str) -> Option<u32> {
    link_name(dev(pci).join("iommu_group"))?.parse().ok()
}

/// Network interfaces the kernel created for `pci` (none while it is on vfio-pci).
pub fn interfaces(pci: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dev(pci).join("net"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Whether interface `name` is administratively up (IFF_UP).
pub fn is_up(name: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{name}/flags"))
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .is_some_and(|flags| flags & libc::IFF_UP as u32 != 0)
}

/// The IPv4 and IPv6 addresses of interface `name`, without IPv6 link-local
/// ones (the kernel gives every up interface one; they carry no configured
/// traffic).
pub fn addresses(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we only read and then free
    // with freeifaddrs; every pointer is checked for null before use, and
    // sockaddrs are read as the type their family says.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            if std::ffi::CStr::from_ptr(ifa.ifa_name).to_bytes() != name.as_bytes() {
                continue;
            }
            match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                    out.push(ip.to_string());
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    if ip.segments()[0] & 0xffc0 != 0xfe80 {
                        out.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
        libc::freeifaddrs(head);
    }
    out
}

/// An interface of `pci` that is up with an address (dpdk-devbind's
/// "*Active*"), and those addresses.
pub fn active_interface(pci: &str) -> Option<(String, Vec<String>)> {
    interfaces(pci).into_iter().find_map(|name| {
        let addrs = addresses(&name);
        (is_up(&name) && !addrs.is_empty()).then_some((name, addrs))
    })
}

/// Gives `pci` back to a kernel driver: unbinds it from its current driver,
/// sets `driver_override` to `driver` (or clears it), asks the kernel to
/// probe it, then clears `driver_override`. Returns the driver that bound.
/// `hint` names the usual kernel driver, for the error message.
pub fn unbind(pci: &str, driver_name: Option<&str>, hint: &str) -> Result<String, CliError> {
    if let Some(name) = driver_name {
        ensure_driver_loaded(name)?;
    }
    if let Some(current) = driver(pci) {
        if current != "vfio-pci" && driver_name.is_none_or(|d| d == current) {
            return Ok(current);
        }
        write(dev(pci).join("driver/unbind"), pci)?;
    }
    write(
        dev(pci).join("driver_override"),
        &format!("{}\n", driver_name.unwrap_or("")),
    )?;
    // A driver that does not claim the device makes this write fail
    // (ENODEV etc.); what counts is the driver bound afterwards.
    let probe = write(PathBuf::from("/sys/bus/pci/drivers_probe"), pci);
    if driver_name.is_some() {
        write(dev(pci).join("driver_override"), "\n")?;
    }
    match driver(pci) {
        Some(d) => Ok(d),
        None => Err(CliError::Failed(format!(
            "{pci} is bound to no driver now{}: load its kernel driver (e.g. `modprobe {}`) and run `e1000 unbind {pci}` again",
            probe.err().map(|e| format!(" ({e:?})")).unwrap_or_default(),
            driver_name.unwrap_or(hint)
        ))),
    }
}

/// Loads kernel driver `name` with modprobe if it is not registered yet.
fn ensure_driver_loaded(name: &str) -> Result<(), CliError> {
    let registered = || PathBuf::from("/sys/bus/pci/drivers").join(name).is_dir();
    if registered() {
        return Ok(());
    }
    let status = std::process::Command::new("modprobe").arg(name).status();
    if registered() {
        return Ok(());
    }
    Err(CliError::Failed(format!(
        "kernel driver {name} is not loaded and `modprobe {name}` {}",
        match status {
            Ok(s) => format!("exited {s}"),
            Err(e) => format!("could not run: {e}"),
        }
    )))
}

/// Waits up to `timeout` for `pci` to get a network interface; returns its name.
pub fn wait_interface(pci: &str, timeout: Duration) -> Option<String> {
    let start = Instant::now();
    loop {
        if let Some(name) = interfaces(pci).into_iter().next() {
            return Some(name);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
