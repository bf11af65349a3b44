//! What the test bench knows about QEMU's NIC models in the guest: the
//! interrupt modes each offers, and the two ways to put a NIC into the
//! guest kernel's stack: the kernel's own driver, or `e1000 tap`.

use crate::ensure;
use crate::error::Result;
use crate::vm::guest::Guest;
use crate::vm::job::Job;
use std::time::Duration;

/// Interrupt modes QEMU's model of `model` offers.
pub fn irq_modes(model: &str) -> &'static [&'static str] {
    match model {
        "e1000e" | "igb" => &["poll", "intx", "msi", "msix"],
        _ => &["poll", "intx"],
    }
}

/// The guest kernel module set that drives a QEMU model.
pub fn kernel_driver(model: &str) -> &'static str {
    match model {
        "e1000e" => "e1000e",
        "igb" => "igb",
        _ => "e1000",
    }
}

/// Loads the kernel driver of NIC `index`, configures `10.11.(12+index).2/24`
/// on it, waits for carrier and returns the interface name.
pub fn kernel_netdev_up(g: &Guest, index: usize) -> Result<String> {
    let nic = g.nic(index);
    let driver = kernel_driver(&nic.model);
    let script = format!(
        "load-kernel-driver {driver} || exit 1; \
         for i in $(seq 50); do n=$(pci-netdev {pci}); [ -n \"$n\" ] && break; sleep 0.2; done; \
         [ -n \"$n\" ] || {{ echo 'no netdev for {pci}'; exit 1; }}; \
         ip link set $n up && ip addr replace 10.11.{net}.2/24 dev $n || exit 1; \
         for i in $(seq 100); do [ \"$(cat /sys/class/net/$n/carrier 2>/dev/null)\" = 1 ] && break; sleep 0.1; done; \
         echo netdev=$n carrier=$(cat /sys/class/net/$n/carrier)",
        pci = nic.pci,
        net = 12 + index,
    );
    let r = g.run_ok(&script, Duration::from_secs(60))?;
    let last = r.lines.last().cloned().unwrap_or_default();
    ensure!(
        last.ends_with("carrier=1"),
        "{} ({}) has no carrier: {}",
        nic.pci,
        nic.model,
        r.output()
    );
    Ok(last
        .trim_start_matches("netdev=")
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_string())
}

/// Starts `e1000 tap ARGS` (the PCI address and options), waits until its
/// interface is up and gives it `address` (`IP/PREFIX`).
pub fn start_tap<'g>(g: &'g Guest, args: &str, address: &str) -> Result<Job<'g>> {
    let ten = Duration::from_secs(10);
    g.run_ok("load-kernel-driver tun", ten)?;
    let mut job = g.spawn(&format!("e1000 tap {args}"))?;
    job.wait_line(
        |l| l.contains("tap: interface e1000tap0 is up"),
        Duration::from_secs(30),
    )?;
    g.run_ok(&format!("ip addr add {address} dev e1000tap0"), ten)?;
    Ok(job)
}
