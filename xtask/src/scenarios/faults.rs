//! Faults and mistakes provoked for real, on every model: link flaps,
//! hot-unplug, user errors (no IOMMU, a group not viable, memlock), signals
//! mid-flood, a start-up failing half-way, a full ring and overload.

use super::common::{echo_works, json_summary, nic_counter, no_dmar_faults, start_cli};
use super::suite::Suite;
use crate::ensure;
use crate::error::Result;
use crate::link::frame::Mac;
use crate::link::peer::{Peer, TrafficSpec};
use crate::vm::guest::{Guest, GuestConfig, Placement};
use crate::vm::models::irq_modes;
use std::time::Duration;

/// Adds the faults every model meets: link flaps in each interrupt mode, a
/// full RX ring, overload, user errors, signals mid-flood, SIGKILL then
/// reopen, and (on the 82576) an open that fails half way.
pub fn add(mut s: Suite, model: &'static str) -> Suite {
    let name = |what: &str| format!("{model}::{what}");
    for mode in irq_modes(model) {
        let mode = *mode;
        s = s.test(name(&format!("link_flap_mid_flood_{mode}")), move |g| {
            link_flap(g, mode)
        });
    }
    if model == "igb" {
        s = s.test(
            name("open_failing_half_way_leaves_nothing_running"),
            open_fails_half_way,
        );
    }
    s.test(name("rx_ring_full_is_counted_then_recovers"), rx_ring_full)
        .test(name("overload_bursts_then_echo_still_works"), overload)
        .test(name("errors_are_clear"), errors)
        .test(name("sigint_mid_flood_no_dmar_fault"), |g| {
            stop_mid_flood(g, "INT")
        })
        .test(name("sigterm_mid_flood_no_dmar_fault"), |g| {
            stop_mid_flood(g, "TERM")
        })
        .test(name("sigkill_then_next_run_works"), sigkill_then_reopen)
}

/// QEMU takes the link down for a second mid-run; `e1000 echo` keeps running
/// and echoes everything once the link is back.
/// QEMU takes the link down for a second in the middle of a flood; `e1000
/// echo` reports it, keeps running without spinning and echoes perfectly
/// once the link is back; in interrupt modes the summary says the link went
/// down once, for about that second (poll mode has no link interrupt).
pub(super) fn link_flap(g: &mut Guest, mode: &str) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!(
        "e1000 echo {} --irq {mode} --timeout 60 --quiet",
        nic.pci
    ))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    let before = peer.ping_pong(30, TrafficSpec::default(), Duration::from_secs(2))?;
    let socket = nic.socket.try_clone()?;
    let flooder = std::thread::spawn(move || {
        let peer = Peer::with_socket(socket, Mac::nic(0));
        peer.flood(
            10_000,
            TrafficSpec::default(),
            Some(5_000),
            Duration::from_millis(500),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    g.set_link(0, false)?;
    std::thread::sleep(Duration::from_secs(1));
    g.set_link(0, true)?;
    let flood = flooder
        .join()
        .map_err(|_| crate::error::Error::msg("the flood thread panicked"))??;
    std::thread::sleep(Duration::from_secs(3));
    peer.drain()?;
    let after = peer.ping_pong(30, TrafficSpec::default(), Duration::from_secs(2))?;
    g.run_ok("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    ensure!(
        before.is_perfect() && after.is_perfect() && r.status == 0,
        "{mode}: before the flap: {before}\nafter: {after}\n{out}"
    );
    // One line per change of state, and no interrupt storm while the link
    // is down: the 82574L's "other" vector once fired ~20,000 times a
    // second there, each with a STATUS read (26,075 reads in a 1-minute
    // soak, 56 after the fix).
    let link_lines = out
        .lines()
        .filter(|l| l.starts_with("echo: link ") && !l.contains("went down"))
        .count();
    let reads: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("echo: mmio in the data path: "))
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| crate::error::Error::msg(format!("{mode}: no mmio line:\n{out}")))?;
    ensure!(
        link_lines <= 2 && reads <= 1_000,
        "{mode}: {link_lines} link lines (at most 2: down, up) and {reads} register reads (at most 1,000):\n{out}"
    );
    if mode != "poll" {
        let line = out
            .lines()
            .find(|l| l.contains("link went down"))
            .ok_or_else(|| {
                crate::error::Error::msg(format!("{mode}: no link-down line:\n{out}"))
            })?;
        let ms: u64 = line
            .split("down for ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        ensure!(
            line.contains("went down 1 time") && (700..5000).contains(&ms),
            "{mode}: expected one link-down of about 1 s: {line}"
        );
    }
    println!("    {mode}: flood during the flap {flood}; after: {after}");
    Ok(())
}

/// Two NICs behind one PCIe-to-PCI bridge share an IOMMU group; with the
/// second bound to the kernel's driver, opening the first must name it.
pub fn group_not_viable_suite() -> Suite {
    let mut config = GuestConfig::with_nics(&["e1000", "e1000"]);
    config.placement = Placement::BehindPciBridge;
    config.bind = Some(vec![config.placement.pci(0)]);
    Suite::new(config).test("e1000::error_group_not_viable", |g| {
        let (pci, other) = (g.nic(0).pci.clone(), g.nic(1).pci.clone());
        g.run_ok(
            &format!(
                "load-kernel-driver e1000; sleep 1; readlink /sys/bus/pci/devices/{other}/driver"
            ),
            Duration::from_secs(30),
        )?;
        let r = g.run(&format!("e1000 echo {pci}"), Duration::from_secs(30))?;
        let out = r.output();
        ensure!(
            r.status != 0
                && out.contains("is not viable")
                && out.contains(&format!("{other} (e1000)")),
            "expected 'not viable' naming {other}:\n{out}"
        );
        Ok(())
    })
}

/// Hot-unplug (QMP `device_del`) while `e1000 echo` runs: the driver gets the
/// kernel's release request, stops the NIC and exits with a clear message; the
/// kernel completes the removal; no DMAR fault.
pub fn hot_unplug_suite(mode: &'static str) -> Suite {
    let mut config = GuestConfig::with_nics(&["e1000e"]);
    config.placement = Placement::RootPorts;
    Suite::new(config).test(
        format!("e1000e::hot_unplug_{mode}_releases_the_device"),
        move |g| hot_unplug(g, mode),
    )
}

/// `e1000 forward` never sleeps in `wait`: a `device_del` of one of its two
/// NICs must still make it release both and exit, in poll and MSI-X mode.
/// In poll mode the second NIC goes, in MSI-X mode the first.
pub fn hot_unplug_forward_suite(mode: &'static str) -> Suite {
    let mut config = GuestConfig::with_nics(&["e1000e", "e1000e"]);
    config.placement = Placement::RootPorts;
    Suite::new(config).test(
        format!("e1000e::hot_unplug_during_forward_{mode}"),
        move |g| hot_unplug_forward(g, mode),
    )
}

pub(super) fn hot_unplug_forward(g: &mut Guest, mode: &str) -> Result<()> {
    let (a, b) = (g.nic(0), g.nic(1));
    let which = if mode == "poll" { b } else { a };
    let mut job = g.spawn(&format!(
        "e1000 forward {} {} --irq {mode} --quiet",
        a.pci, b.pci
    ))?;
    job.wait_line(
        |l| l.contains(&format!("forward: ready on {}", b.pci)),
        Duration::from_secs(30),
    )?;
    std::thread::sleep(Duration::from_millis(300));
    unplug_and_expect_release(g, job, &which.device_id, &which.pci)
}

pub(super) fn hot_unplug(g: &mut Guest, mode: &str) -> Result<()> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!("e1000 echo {} --irq {mode} --quiet", nic.pci))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    let ping = peer.ping_pong(20, TrafficSpec::default(), Duration::from_secs(2))?;
    ensure!(ping.is_perfect(), "before the unplug: {ping}");
    unplug_and_expect_release(g, job, &nic.device_id, &nic.pci)
}

/// QMP `device_del` of the NIC at `pci` while `job` drives it: the job must
/// exit 1 saying the kernel asked for the device, the kernel must then
/// remove it, and no DMAR fault may be logged.
pub(super) fn unplug_and_expect_release(
    g: &Guest,
    job: crate::vm::job::Job<'_>,
    device_id: &str,
    pci: &str,
) -> Result<()> {
    g.qmp(&format!(
        r#"{{"execute":"device_del","arguments":{{"id":"{device_id}"}}}}"#
    ))?;
    let r = job.wait(Duration::from_secs(60))?;
    ensure!(
        r.status == 1 && r.output().contains("asked to release"),
        "the job driving {pci} exited {} after its device_del:\n{}",
        r.status,
        r.output()
    );
    let gone = g.run(
        &format!("for i in $(seq 100); do [ -e /sys/bus/pci/devices/{pci} ] || exit 0; sleep 0.1; done; exit 1"),
        Duration::from_secs(30),
    )?;
    ensure!(gone.status == 0, "{pci} still present after the unplug");
    no_dmar_faults(g)
}

/// A guest without an IOMMU: the driver must say so, with the fix.
pub fn no_iommu_suite() -> Suite {
    let mut config = GuestConfig::with_nics(&["e1000e"]);
    config.iommu = false;
    Suite::new(config).test("e1000e::error_no_iommu", |g| {
        let pci = g.nic(0).pci.clone();
        expect_error(
            g,
            &format!("e1000 echo {pci}"),
            "has no IOMMU group: enable the IOMMU",
        )
    })
}

/// A driver that falls behind must say so, and recover: `e1000 echo` on
/// 32-descriptor rings with pure interrupts spaced 10 ms apart cannot keep
/// up with a burst of 150 frames, so its RX ring fills. What the NIC then
/// does with the excess is the device's business (QEMU's 8254x drops and
/// counts the frames as missed; its 82574L and 82576 mostly hold them in the
/// link socket): every echo that comes back must be intact and in order,
/// every frame the NIC accepted must have been echoed, the summary must count
/// the full ring, and a ping-pong afterwards must be perfect.
pub(super) fn rx_ring_full(g: &mut Guest) -> Result<()> {
    const BURST: usize = 150;
    const PINGS: usize = 50;
    let mode = irq_modes(&g.nic(0).model).last().copied().unwrap_or("intx");
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let job = start_cli(
        g,
        "echo",
        &format!("--irq {mode} --busy-poll 0 --irq-interval 10000 --ring 32"),
    )?;
    let burst = peer.flood(BURST, TrafficSpec::default(), None, Duration::from_secs(2));
    let ping = Peer::new(nic)?.ping_pong(PINGS, TrafficSpec::default(), Duration::from_secs(2));
    g.run("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    let (burst, ping) = (burst?, ping?);
    ensure!(r.status == 0, "echo exited {}:\n{out}", r.status);
    ensure!(
        burst.out_of_order + burst.mismatched + burst.duplicates == 0 && burst.echoed > 0,
        "burst into a full ring: {burst}\n{out}"
    );
    ensure!(
        ping.is_perfect(),
        "ping-pong after the full ring: {ping}\n{out}"
    );
    let echoed = burst.echoed + ping.echoed;
    let summary = json_summary(&r)?;
    ensure!(
        summary["rx_frames"] == echoed && nic_counter(&summary, "rx_packets")? == echoed,
        "the NIC and the driver should both count {echoed} frames received:\n{out}"
    );
    let full = nic_counter(&summary, "rx_ring_full")?;
    ensure!(
        full > 0,
        "a 32-descriptor ring took a {BURST}-frame burst yet was never found full:\n{out}"
    );
    println!("    ring found full {full} times; burst {burst}; then ping-pong {ping}");
    no_dmar_faults(g)
}

/// Overload: bursts of frames far beyond what the emulation carries, sent
/// as fast as the host can (QEMU's socket buffers a backlog, so the RX ring
/// fills again and again). Losses are expected; the echo process must keep
/// going, echo a ping-pong perfectly afterwards, and end with its summary.
pub(super) fn overload(g: &mut Guest) -> Result<()> {
    const BURST: usize = 20_000;
    let nic = g.nic(0);
    let job = start_cli(g, "echo", "--irq poll")?;
    let mut bursts = Vec::new();
    for _ in 0..3 {
        bursts.push(Peer::new(nic)?.flood(
            BURST,
            TrafficSpec::default(),
            None,
            Duration::from_secs(2),
        ));
    }
    let ping = Peer::new(nic)?.ping_pong(50, TrafficSpec::default(), Duration::from_secs(2));
    g.run("killall -INT e1000", Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let out = r.output();
    for b in bursts {
        let b = b?;
        println!("    burst: {b}");
        ensure!(
            b.mismatched + b.duplicates == 0,
            "overload burst: {b}\n{out}"
        );
    }
    let ping = ping?;
    ensure!(
        r.status == 0,
        "echo exited {} after overload:\n{out}",
        r.status
    );
    ensure!(ping.is_perfect(), "ping-pong after overload: {ping}\n{out}");
    ensure!(
        out.contains("summary: rx") && json_summary(&r).is_ok(),
        "no summary after overload:\n{out}"
    );
    no_dmar_faults(g)
}

/// Runs `breaking`, then [`expect_error`] on `cmd`, then `restoring` whatever
/// the outcome.
pub(super) fn expect_error_while(
    g: &Guest,
    breaking: &str,
    restoring: &str,
    cmd: &str,
    needle: &str,
) -> Result<()> {
    let ten = Duration::from_secs(10);
    g.run_ok(breaking, ten)?;
    let result = expect_error(g, cmd, needle);
    g.run_ok(restoring, ten)?;
    result
}

/// Runs `cmd`, expects a non-zero exit and `needle` in its output.
pub(super) fn expect_error(g: &Guest, cmd: &str, needle: &str) -> Result<()> {
    let r = g.run(cmd, Duration::from_secs(30))?;
    ensure!(
        r.status != 0,
        "`{cmd}` succeeded, expected an error containing '{needle}':\n{}",
        r.output()
    );
    ensure!(
        r.output().contains(needle),
        "`{cmd}` failed without '{needle}':\n{}",
        r.output()
    );
    Ok(())
}

/// `Nic::open` failing after the first queues are armed and bus mastering is
/// on (a memlock limit that pins one queue's memory, not four): a clear
/// error, no DMAR fault, and the next run works.
pub(super) fn open_fails_half_way(g: &mut Guest) -> Result<()> {
    let pci = g.nic(0).pci.clone();
    let group = g.iommu_group(&pci)?;
    // Four queues pin 4 × (a 4 MiB pool and two 8 KiB rings), one mapping
    // rounded up to 18 MiB of hugepages: refused after the reset and bus
    // mastering, before any queue is armed.
    expect_error_while(
        g,
        &format!("chown 1000 /dev/vfio/{group}"),
        &format!("chown 0 /dev/vfio/{group}"),
        &format!("ulimit -l 12288; as-user e1000 echo {pci} --queues 4 --irq msix"),
        "locked-memory limit is 12288 KiB",
    )?;
    std::thread::sleep(Duration::from_millis(500));
    no_dmar_faults(g)?;
    echo_works(g)
}

pub(super) fn errors(g: &mut Guest) -> Result<()> {
    let nic = g.nic(0);
    let pci = nic.pci.clone();
    let sys = format!("/sys/bus/pci/devices/{pci}");
    expect_error(g, "e1000 echo 00:3", "is not a PCI address")?;
    expect_error(g, "e1000 echo 0000:00:1f.7", "no PCI device 0000:00:1f.7")?;
    expect_error(
        g,
        "e1000 echo 0000:00:00.0",
        "is not a supported Intel 1GbE NIC",
    )?;
    expect_error(
        g,
        &format!("e1000 echo {pci} --irq bogus"),
        "[possible values: poll, intx, msi, msix]",
    )?;
    if !irq_modes(&nic.model).contains(&"msix") {
        expect_error(
            g,
            &format!("e1000 echo {pci} --irq msix"),
            "does not offer msix interrupts",
        )?;
    }
    // More queues than the family has: the error says how many it has.
    let (queues, supported) = match nic.model.as_str() {
        "e1000e" => (3, "the 82574L family supports 1 to 2 queues (RSS)"),
        "igb" => (9, "the 82576 family supports 1 to 8 queues (RSS)"),
        _ => (2, "the 8254x family supports one queue (no RSS)"),
    };
    expect_error(g, &format!("e1000 echo {pci} --queues {queues}"), supported)?;
    // Not bound to vfio-pci: unbind, check, rebind.
    expect_error_while(
        g,
        &format!("echo {pci} > {sys}/driver/unbind"),
        &format!("echo {pci} > /sys/bus/pci/drivers_probe"),
        &format!("e1000 echo {pci}"),
        "is bound to no driver, not vfio-pci",
    )?;
    // /dev/vfio/vfio missing.
    expect_error_while(
        g,
        "mv /dev/vfio/vfio /dev/vfio/vfio.hidden",
        "mv /dev/vfio/vfio.hidden /dev/vfio/vfio",
        &format!("e1000 echo {pci}"),
        "modprobe vfio-pci",
    )?;
    // Non-root without permission on the group.
    let group = g.iommu_group(&pci)?;
    expect_error(
        g,
        &format!("as-user e1000 echo {pci}"),
        &format!("permission denied on /dev/vfio/{group}"),
    )?;
    // Permission granted, but the memlock limit too low (non-root has no CAP_IPC_LOCK).
    expect_error_while(
        g,
        &format!("chown 1000 /dev/vfio/{group}"),
        &format!("chown 0 /dev/vfio/{group}"),
        &format!("ulimit -l 64; as-user e1000 echo {pci}"),
        "locked-memory limit is 64 KiB",
    )?;
    // Link down: QEMU's link off, a short timeout.
    g.set_link(0, false)?;
    let down = expect_error(
        g,
        &format!("e1000 echo {pci} --link-timeout 1500"),
        "did not come up within 1500 ms",
    );
    g.set_link(0, true)?;
    down?;
    // And the NIC still works after all that.
    let ok = g.run(
        &format!("e1000 echo {pci} --count 0 --timeout 0.5"),
        Duration::from_secs(30),
    )?;
    ensure!(
        ok.status == 0,
        "echo after the error cases failed:\n{}",
        ok.output()
    );
    Ok(())
}

/// Starts a flood, interrupts `e1000 echo` with `signal` mid-way; returns its output.
pub(super) fn interrupt_mid_flood(g: &Guest, signal: &str) -> Result<crate::vm::guest::JobResult> {
    let nic = g.nic(0);
    let peer = Peer::new(nic)?;
    let mut job = g.spawn(&format!("e1000 echo {} --quiet", nic.pci))?;
    job.wait_line(|l| l.contains("echo: ready"), Duration::from_secs(30))?;
    let socket = nic.socket.try_clone()?;
    let flooder = std::thread::spawn(move || {
        let peer = Peer::with_socket(socket, Mac::nic(0));
        let _ = peer.flood(
            20_000,
            TrafficSpec::default(),
            Some(20_000),
            Duration::from_millis(100),
        );
    });
    std::thread::sleep(Duration::from_millis(300));
    g.run_ok(&format!("killall -{signal} e1000"), Duration::from_secs(10))?;
    let r = job.wait(Duration::from_secs(30))?;
    let _ = flooder.join();
    drop(peer);
    Ok(r)
}

/// SIGINT or SIGTERM mid-flood: a clean exit with a summary, no DMAR fault,
/// and the next run works.
pub(super) fn stop_mid_flood(g: &mut Guest, signal: &str) -> Result<()> {
    let r = interrupt_mid_flood(g, signal)?;
    ensure!(
        r.status == 0,
        "echo exited {} on SIG{signal}:\n{}",
        r.status,
        r.output()
    );
    ensure!(
        r.output().contains("echo: summary: rx"),
        "no summary after SIG{signal}:\n{}",
        r.output()
    );
    std::thread::sleep(Duration::from_millis(500));
    no_dmar_faults(g)?;
    echo_works(g)
}

pub(super) fn sigkill_then_reopen(g: &mut Guest) -> Result<()> {
    let r = interrupt_mid_flood(g, "KILL")?;
    ensure!(r.status != 0, "echo survived SIGKILL?\n{}", r.output());
    std::thread::sleep(Duration::from_millis(500));
    no_dmar_faults(g)?;
    echo_works(g)
}
