//! `cargo xtask bench --vf`: the 82576's virtual function, our driver
//! against DPDK's `igb_vf`. One boot with one `igb`: the guest kernel's
//! `igb` drives the physical function, its first VF is on vfio-pci with an
//! address the PF gave it (`ip link set PF vf 0 mac`, so that every driver
//! of the VF gets the same one). Our driver and `dpdk-testpmd` drive the VF
//! in turn: TX ([`super::tx_rounds`]) and echo ([`super::echo_paths`]: the
//! VF's poll and MSI-X modes against `macswap`). The host sends into the
//! PF's link, addressed to the VF, and the PF's switch sorts the frames
//! into the VF's pool; the VF's frames leave on the same link.

use super::report::{comparison, problems};
use super::{echo_paths, load_average, tx_rounds, Effort, ModelResult};
use crate::error::Result;
use crate::vm::dpdk::DPDK_VERSION;
use crate::vm::guest::{Guest, GuestConfig};
use crate::vm::sriov::{enable_vfs, set_vf_mac, VFS, VF_MACS};
use crate::vm::GUEST_CPUS;
use std::fmt::Write as _;
use std::time::Instant;

/// The interrupt modes a VF offers: polling, and MSI-X (a VF has no INTx
/// and no MSI).
const VF_IRQ_MODES: [&str; 2] = ["poll", "msix"];

/// The VF's row name in the report.
const VF_MODEL: &str = "igb VF (82576 virtual function)";

/// One boot: the PF on the guest kernel's `igb`, VF 0 measured with ours
/// and with testpmd.
pub fn run(effort: Effort) -> Result<ModelResult> {
    let started = Instant::now();
    let mut config = GuestConfig::with_nics(&["igb"]).unbound();
    config.cpus = GUEST_CPUS;
    config.dpdk = true; // testpmd, and iproute2's `ip` for the VF's MAC
    config.trace_log = true;
    let g = Guest::boot(config)?;
    let mut r = ModelResult {
        model: VF_MODEL.to_string(),
        load: (load_average(), 0.0),
        ..ModelResult::default()
    };
    enable_vfs(&g, 1)?;
    set_vf_mac(&g, 0, VF_MACS[0])?;
    let vf = g.nic(0).virtual_function(VFS[0], VF_MACS[0])?;
    (r.tx_ours, r.tx_dpdk) = tx_rounds(&g, &vf, effort, &mut r.notes);
    r.echo = echo_paths(&g, &vf, &VF_IRQ_MODES, effort);
    r.note_echo_errors();
    r.seconds = started.elapsed().as_secs_f64();
    r.load.1 = load_average();
    Ok(r)
}

/// The report, `vf.md`.
pub fn markdown(r: &ModelResult, command: &str, date: &str, qemu: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Benchmark: a virtual function of the 82576, `e1000` vs DPDK's `igb_vf`\n\n\
         Produced by `{command}` on {date} with {qemu} (TCG, q35, vIOMMU on, {GUEST_CPUS} vCPUs); \
         one boot, {:.0} s, host load average {:.1} at the start and {:.1} at the end.\n\n\
         QEMU's `igb` with the guest kernel's `igb` driver on the physical function (its interface up, \
         one VF enabled through `sriov_numvfs`, the VF's MAC {} set from the PF with iproute2's \
         `ip link set PF vf 0 mac`). The VF on vfio-pci is driven in turn by `e1000` and by \
         `dpdk-testpmd` {DPDK_VERSION} with DPDK's `igb_vf` driver. The host sends into the PF's \
         link (QEMU's `-netdev dgram` on UDP on loopback) addressed to the VF, the PF's switch \
         sorts the frames into the VF's pool, and the VF's frames leave on the same link, where \
         they are counted. The tables, columns and ladders mean what they mean in the main \
         report ([README.md](README.md)); the kernel's columns are empty (no kernel path is \
         measured on the VF).\n",
        r.seconds, r.load.0, r.load.1, VF_MACS[0]
    );
    comparison(&mut s, r);
    problems(&mut s, r);
    s
}
