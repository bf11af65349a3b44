//! SR-IOV in the guest: the first `igb` left to the guest kernel's driver
//! as the physical function, its virtual functions enabled through sysfs
//! and bound to vfio-pci. The SR-IOV scenarios and the VF bench share it.

use crate::error::Result;
use crate::mac::Mac;
use crate::vm::guest::Guest;
use std::time::Duration;

/// The PF: the guest's first NIC.
pub const PF: &str = "0000:00:03.0";

/// Its first two VFs (routing-ID offset 0x80, stride 2).
pub const VFS: [&str; 2] = ["0000:00:13.0", "0000:00:13.2"];

/// The addresses the tests and the bench give the VFs (locally administered).
pub const VF_MACS: [Mac; 2] = [
    Mac([0x02, 0x00, 0x00, 0x00, 0x0a, 0x00]),
    Mac([0x02, 0x00, 0x00, 0x00, 0x0a, 0x01]),
];

/// Loads `igb` on the PF, brings its interface up (quiet: no IPv6), enables
/// `count` VFs (at most [`VFS`]`.len()`) without a kernel driver and binds
/// them to vfio-pci; does nothing if that was done earlier in the boot.
pub fn enable_vfs(g: &Guest, count: usize) -> Result<()> {
    let vfs = &VFS[..count.min(VFS.len())];
    let last = vfs.last().copied().unwrap_or(PF);
    let script = format!(
        "[ -e /sys/bus/pci/devices/{last}/driver ] && exit 0; \
         load-kernel-driver igb || exit 1; \
         for i in $(seq 50); do n=$(pci-netdev {PF}); [ -n \"$n\" ] && break; sleep 0.2; done; \
         echo 1 > /proc/sys/net/ipv6/conf/$n/disable_ipv6; ip link set $n up || exit 1; \
         echo 0 > /sys/bus/pci/devices/{PF}/sriov_drivers_autoprobe; \
         echo {count} > /sys/bus/pci/devices/{PF}/sriov_numvfs || exit 1; \
         for i in $(seq 100); do [ \"$(cat /sys/class/net/$n/carrier)\" = 1 ] && break; sleep 0.1; done; \
         bind-vfio {}",
        vfs.join(" "),
        count = vfs.len(),
    );
    g.run_ok(&script, Duration::from_secs(60))?;
    Ok(())
}

/// Gives VF `index` the address `mac` from the PF's side (`ip link set PF
/// vf N mac`, iproute2's `ip`: the guest needs [`crate::vm::config::GuestConfig::dpdk`]).
/// A driver that opens the VF afterwards gets it in the PF's answer to its
/// reset.
pub fn set_vf_mac(g: &Guest, index: usize, mac: Mac) -> Result<()> {
    g.run_ok(
        &format!("ip-iproute2 link set $(pci-netdev {PF}) vf {index} mac {mac}"),
        Duration::from_secs(10),
    )?;
    Ok(())
}
