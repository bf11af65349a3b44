//! The report's guest-CPU sections: where the pure-interrupt echo's CPU
//! goes (the interval sweep and its split), and the host profile of QEMU.

use super::*;

/// Where the guest CPU of the pure-interrupt echo goes at the cost rate:
/// the interval sweep, and its split into a part per frame and a part per
/// interrupt, against a third of testpmd's cost.
pub(super) fn cpu_section(s: &mut String, m: &ModelResult) {
    let (mode, points) = &m.cost_sweep;
    if points.is_empty() {
        return;
    }
    let rate = measure::REPEATED_COST_RATE;
    let dpdk_cost = m
        .dpdk_echo()
        .and_then(|d| d.cost.iter().find(|c| c.rate == rate));
    let dpdk = dpdk_cost.map(|c| c.guest_us);
    let dpdk_host = dpdk_cost.and_then(|c| c.vcpu_us);
    let _ = writeln!(
        s,
        "\n### Where the guest CPU goes at {}\n\n\
         `e1000 echo --irq {mode} --busy-poll 0 --irq-interval I`, one run per interval, {} offered. \
         *Interrupts* are vfio-pci's in the guest's `/proc/interrupts`, over the same 2 s as the CPU. \
         *Host CPU* is what QEMU's vCPU threads used on the host per frame over the whole 4 s flood: it leaves out \
         the time a vCPU waited for a host core or for QEMU's big lock, which the guest counts as busy.\n\n\
         | `--irq-interval` | interrupts/s | frames per interrupt | guest CPU µs/frame (vCPUs) | ÷ testpmd | host CPU µs/frame, ours vs testpmd | every frame back |\n|---|---|---|---|---|---|---|",
        short(rate as f64),
        short(rate as f64),
    );
    for p in points {
        let c = &p.cost;
        let per_frame = c.interrupts_per_frame.unwrap_or(0.0);
        let echoed = c.guest_cpus * 1e6 / c.guest_us.max(1e-9);
        let _ = writeln!(
            s,
            "| {} µs | {:.0} | {} | {:.1} ({:.2}) | {} | {} vs {} | {} |",
            p.interval_us,
            per_frame * echoed,
            if per_frame > 0.0 {
                format!("{:.1}", 1.0 / per_frame)
            } else {
                "–".into()
            },
            c.guest_us,
            c.guest_cpus,
            ratio(Some(c.guest_us), dpdk),
            c.vcpu_us.map_or("–".into(), |v| format!("{v:.1}")),
            dpdk_host.map_or("–".into(), |v| format!("{v:.1}")),
            if c.perfect { "yes" } else { "no" }
        );
    }
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((p.cost.interrupts_per_frame?, p.cost.guest_us)))
        .collect();
    let Some((per_frame, per_irq)) = measure::split_cost(&xy) else {
        return;
    };
    let _ = write!(
        s,
        "\nA straight line through these points (least squares) splits the cost: **{per_frame:.1} µs per frame** \
         however few interrupts carry it (QEMU's transmit path and its `sendto`, which run inside the guest's \
         tail write, the driver's own work, and the vCPU's waits for QEMU's big lock, which the main loop holds \
         while it receives), and **{per_irq:.0} µs per interrupt** (waking the halted vCPU, \
         the guest kernel's handler, the eventfd, the scheduler and `poll`, all as emulated code)."
    );
    if let Some(d) = dpdk {
        let third = d / 3.0;
        let _ = write!(
            s,
            " testpmd costs {d:.1} µs per frame at this rate, polling; a third of it is {third:.1} µs."
        );
        if per_frame >= third {
            let _ = write!(
                s,
                " The part per frame alone is above that, so no interval reaches a third on this host. \
                 (testpmd's cost at a fixed rate is one polling vCPU whatever the host, ours is the emulation's \
                 work per frame: on a host that runs the emulation faster the part per frame shrinks, and \
                 testpmd's does not.)"
            );
        } else {
            let frames = per_irq / (third - per_frame);
            let _ = write!(
                s,
                " That takes at least {frames:.0} frames per interrupt: one interrupt every {:.0} µs at {}.",
                frames * 1e6 / rate as f64,
                short(rate as f64)
            );
        }
    }
    let adaptive = m
        .ours_echo()
        .find(|e| e.mode.ends_with("--adaptive-irq"))
        .and_then(|e| e.cost.iter().find(|c| c.rate == rate))
        .and_then(|c| c.interrupts_per_frame.filter(|&v| v > 0.0));
    if let Some(v) = adaptive {
        let _ = write!(
            s,
            " `--adaptive-irq` carried {:.1} frames per interrupt at this rate (its median run above).",
            1.0 / v
        );
    }
    let _ = writeln!(s);
}

/// Where QEMU's threads spent their time while the echo was saturated.
pub(super) fn profile_section(s: &mut String, p: &Profile) {
    let _ = writeln!(
        s,
        "\n### Where QEMU's time goes at saturation\n\n\
         `perf record` with call graphs ({} Hz) of QEMU's vCPU thread and main loop over {:.0} s \
         of {}; {} frames/s came back meanwhile (the profiler takes CPU too, so fewer than \
         without it). Each sample is sorted by the functions on its call chain: QEMU's binary is \
         stripped but exports its register-write entry (`memory_region_dispatch_write`), frame \
         transmit (`net_tx_pkt_send`), frame receive (`qemu_net_queue_send`), main loop and \
         big lock, and the host kernel names its socket calls.\n\n\
         | where | vCPU thread, % of a core | main loop, % of a core | CPU µs per echoed frame |\n\
         |---|---|---|---|",
        p.frequency,
        p.seconds,
        p.during,
        short(p.echoed_rate)
    );
    for b in Bucket::ALL {
        let (v, m) = (p.vcpu.of(b), p.main_loop.of(b));
        if v + m == 0 {
            continue;
        }
        let _ = writeln!(
            s,
            "| {} | {:.0} % | {:.0} % | {:.1} |",
            b.label(),
            100.0 * p.share(v),
            100.0 * p.share(m),
            p.us_per_frame(v + m)
        );
    }
    let (v, m) = (p.vcpu.samples(), p.main_loop.samples());
    let _ = writeln!(
        s,
        "| **total** | {:.0} % | {:.0} % | {:.1} |",
        100.0 * p.share(v),
        100.0 * p.share(m),
        p.us_per_frame(v + m)
    );
    let guest = p.vcpu.of(Bucket::GuestCode);
    let emulation: u64 = Bucket::ALL
        .iter()
        .filter(|b| b.is_device_work())
        .map(|&b| p.vcpu.of(b) + p.main_loop.of(b))
        .sum();
    let us = p.us_per_frame(emulation);
    let _ = writeln!(
        s,
        "\nGuest code (our driver and the guest kernel, as TCG runs it) is {:.0} % of the vCPU \
         thread, {:.1} µs per frame. The NIC model and its socket calls (both transmit rows, \
         both receive rows, the register accesses) run under QEMU's big lock, one thread at a \
         time: {:.1} µs per frame, so at most {} frames/s however little the driver does.",
        100.0 * p.share(guest),
        p.us_per_frame(guest),
        us,
        short(1e6 / us.max(1e-9))
    );
}
