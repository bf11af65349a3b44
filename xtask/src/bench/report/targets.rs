//! The report's evidence sections: where each path's frames were lost and
//! where the host's CPU went, and the issues' targets with whether each is
//! met.

use super::*;

/// Frames of `rungs` lost neither at QEMU's socket nor at the peer's, nor
/// echoed late: lost inside the guest (NIC or driver). `None` without drop
/// counters.
fn lost_in_guest(rungs: &[Rung]) -> Option<u64> {
    rungs.iter().try_fold(0, |acc, r| {
        let d = r.drops?;
        Some(acc + r.sent.saturating_sub(r.echoed + r.late + d.qemu + d.peer))
    })
}

/// The echo rate if receive and transmit emulation cannot overlap: from the
/// receive-alone saturation and the best 64-byte TX rate of any sender.
fn serial_bound(m: &ModelResult) -> Option<f64> {
    let rx = ladder::saturation(&m.rx_only);
    let tx = tx_ceiling(m, 60)?;
    (rx > 0.0 && tx > 0.0).then(|| rx * tx / (rx + tx))
}

fn cpu_text(r: &Rung) -> String {
    r.cpu.map_or("–".into(), |c| {
        format!(
            "{:.0}% (+{:.0}%) / {:.0}% (+{:.0}%) / {:.0}% / {:.0}% ({:.0}%)",
            c.vcpu * 100.0,
            c.vcpu_wait * 100.0,
            c.main_loop * 100.0,
            c.main_wait * 100.0,
            c.peer * 100.0,
            c.host_busy * 100.0,
            c.host_steal * 100.0
        )
    })
}

/// Where each path's frames were lost (at its first lossy rung and over the
/// whole ladder) and where the host's CPU went: the evidence for what caps
/// the echo rate.
pub(super) fn losses(s: &mut String, m: &ModelResult) {
    let cores = m
        .echo
        .iter()
        .flat_map(|e| &e.rungs)
        .chain(&m.rx_only)
        .find_map(|r| r.cpu.map(|c| c.cores))
        .unwrap_or(0);
    let _ = writeln!(
        s,
        "\n### Where the frames were lost, and where the time went\n\n\
         A frame offered to the guest can be lost in three places. (1) Before QEMU reads it: \
         QEMU's link socket overflows because QEMU's main loop, which reads that socket and runs \
         the NIC's receive path, did not keep up; Linux counts these drops per socket. \
         (2) Inside the guest: the NIC had no free descriptor because the driver fell behind; \
         our driver counts every time it finds its RX ring full. (It also counts the times a \
         descriptor showed its DD bit before its length, which QEMU's 82576 model does now and \
         then; the driver waits for the rest of the write-back instead of losing the frame.) (3) Before the host peer reads \
         the echo (its socket overflows; also counted). CPU is the share of one core over the \
         middle of the rung: QEMU's vCPU thread (guest code, plus the NIC's transmit path, which \
         runs when the guest writes the tail), QEMU's main loop, the host peer, and the whole \
         host's busy share of its {cores} cores, with the part a hypervisor stole for other \
         tenants in brackets. The (+n %) beside a QEMU thread is time it was ready to run but \
         waited for a core: what the host's scheduler, not QEMU, cost it."
    );
    if let Some(bound) = serial_bound(m) {
        let best = m
            .ours_echo()
            .map(|e| ladder::saturation(&e.rungs))
            .fold(0.0, f64::max);
        let _ = writeln!(
            s,
            "\n**What caps an echo.** QEMU runs the NIC's receive half in its main loop and the \
             transmit half in the vCPU thread (inside the guest's tail write), both under QEMU's \
             big lock, so they barely overlap: an echo costs the emulation about the sum of both, \
             1 / (1/receive + 1/transmit) = 1 / (1/{} + 1/{}) = **{}** frames/s from our \
             receive-alone rate and the best 64-byte TX rate of any sender above. Our best echo saturated at {} frames/s \
             ({:.0} % of that estimate).",
            short(ladder::saturation(&m.rx_only)),
            short(tx_ceiling(m, 60).unwrap_or(0.0)),
            short(bound),
            short(best),
            100.0 * best / bound
        );
    }
    if !m.rx_only.is_empty() {
        let _ = writeln!(
            s,
            "\n**Receive alone** (`e1000 dump --quiet`, poll mode: the guest only counts frames, \
             nothing is transmitted): lossless to {} frames/s, at most {} frames/s received. \
             This is the receive half of the emulation's work in an echo; the transmit half is \
             the best sender in the TX table. Ladder: {}.",
            ladder::highest_lossless(&m.rx_only).map_or("–".into(), |v| short(v as f64)),
            short(ladder::saturation(&m.rx_only)),
            rungs_text(&m.rx_only)
        );
    }
    let _ = writeln!(
        s,
        "\n| path | first lossy rung | not back in time there | dropped at QEMU's socket | at the peer's socket | came back after the rung | lost in the guest | lost in the guest, whole ladder | RX ring found full / DD seen before the length, whole ladder | CPU there: vCPU (+waiting) / main loop (+waiting) / peer / host busy (stolen) |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let rx_only = EchoResult {
        mode: "receive alone".into(),
        rungs: m.rx_only.clone(),
        ..EchoResult::default()
    };
    let paths = std::iter::once(&rx_only)
        .filter(|e| !e.rungs.is_empty())
        .chain(&m.echo);
    for e in paths {
        let name = path_name(&e.mode);
        let ring_full = match (e.ring_full, e.early_dd) {
            (Some(f), Some(d)) => format!("{f} / {d}"),
            (Some(f), None) => format!("{f} / –"),
            _ => "–".into(),
        };
        let whole = lost_in_guest(&e.rungs).map_or("–".into(), |n| n.to_string());
        match e.rungs.iter().find(|r| !r.perfect) {
            None => {
                let _ = writeln!(
                    s,
                    "| {name} | none | – | – | – | – | – | {whole} | {ring_full} | – |"
                );
            }
            Some(r) => {
                let lost = r.sent.saturating_sub(r.echoed);
                let (q, p) = r.drops.map_or(("–".into(), "–".into()), |d| {
                    (d.qemu.to_string(), d.peer.to_string())
                });
                let guest =
                    lost_in_guest(std::slice::from_ref(r)).map_or("–".into(), |n| n.to_string());
                let _ = writeln!(
                    s,
                    "| {name} | {} | {lost} of {} | {q} | {p} | {} | {guest} | {whole} | {ring_full} | {} |",
                    short(r.offered as f64),
                    r.sent,
                    r.late,
                    cpu_text(r)
                );
            }
        }
    }
}

pub(super) fn targets(s: &mut String, m: &ModelResult) {
    let _ = writeln!(
        s,
        "\n### Targets\n\n| target | measured | status |\n|---|---|---|"
    );
    // Against DPDK's testpmd, the peer a user would pick.
    for size in TX_SIZES {
        let r = tx_of(&m.tx_ours, size)
            .zip(tx_of(&m.tx_dpdk, size))
            .map(|(o, d)| o.fps / d.fps.max(1.0));
        let _ = writeln!(
            s,
            "| TX ≥ testpmd `txonly` ({} B) | {} | {} |",
            size + 4,
            r.map_or("–".into(), |r| format!("{r:.2}× testpmd")),
            met(r.map(|r| r >= 1.0))
        );
    }
    let best_ours = m
        .ours_echo()
        .filter_map(|e| e.lossless())
        .max()
        .map(|v| v as f64);
    let dpdk = m.dpdk_echo();
    let d_lossless = dpdk.and_then(|d| d.lossless()).map(|v| v as f64);
    let _ = writeln!(
        s,
        "| lossless echo ≥ testpmd `macswap` (our best mode) | ours {} vs testpmd {} | {} |",
        best_ours.map_or("–".into(), short),
        d_lossless.map_or("–".into(), short),
        met(best_ours.zip(d_lossless).map(|(o, d)| o >= d))
    );
    let poll_ping = m
        .echo
        .iter()
        .find(|e| e.mode == "poll")
        .and_then(|e| e.ping);
    let d_ping = dpdk.and_then(|d| d.ping);
    let _ = writeln!(
        s,
        "| poll-mode ping-pong p50 ≤ testpmd's | ours {} µs vs testpmd {} µs | {} |",
        poll_ping.map_or("–".into(), |p| format!("{:.0}", p.0)),
        d_ping.map_or("–".into(), |p| format!("{:.0}", p.0)),
        met(poll_ping.zip(d_ping).map(|(o, d)| o.0 <= d.0))
    );
    let rate = super::measure::COST_RATES[1];
    let d_cost = dpdk.and_then(|d| d.cost.iter().find(|c| c.rate == rate));
    for e in m.ours_echo().filter(|e| e.mode != "poll") {
        let c = e.cost.iter().find(|c| c.rate == rate);
        let ok = c
            .zip(d_cost)
            .map(|(c, d)| c.perfect && c.guest_us <= d.guest_us / 3.0);
        let _ = writeln!(
            s,
            "| `--irq {}` at {}: ≤ ⅓ of testpmd's guest CPU per frame, no loss | {} vs testpmd {} µs per frame | {} |",
            e.mode,
            short(rate as f64),
            c.map_or("–".into(), |c| format!(
                "{:.1} µs ({:.2} vCPUs{})",
                c.guest_us,
                c.guest_cpus,
                if c.perfect { "" } else { ", lossy" }
            )),
            d_cost.map_or("–".into(), |d| format!("{:.1}", d.guest_us)),
            met(ok)
        );
    }
    let ceiling = tx_ceiling(m, 60);
    let ours_tx = tx_of(&m.tx_ours, 60).map(|t| t.fps);
    let _ = writeln!(
        s,
        "| `e1000 send` within 10 % of the emulation's TX ceiling (64 B; ceiling = the best sender measured; `e1000 send` is the cheapest sender: frames built once, buffers re-posted, one tail write per batch) | {} of {} | {} |",
        ours_tx.map_or("–".into(), short),
        ceiling.map_or("–".into(), short),
        met(ours_tx.zip(ceiling).map(|(o, c)| o >= 0.9 * c))
    );
    let best_sat = m
        .ours_echo()
        .map(|e| ladder::saturation(&e.rungs))
        .fold(0.0, f64::max);
    let bound = serial_bound(m);
    let _ = writeln!(
        s,
        "| echo saturation within 5 % of the emulation's estimate | {} of {} | {} |",
        short(best_sat),
        bound.map_or("–".into(), short),
        met(bound.map(|b| best_sat >= 0.95 * b))
    );
    let poll = m.echo.iter().find(|e| e.mode == "poll");
    let poll_lossless = poll.and_then(|p| p.lossless());
    let rx_alone = ladder::highest_lossless(&m.rx_only);
    let _ = writeln!(
        s,
        "| poll-mode echo lossless ≥ 2.5 × 46 kpps = 115 kpps | {}{} | {} |",
        poll_lossless.map_or("–".into(), |v| short(v as f64)),
        rx_alone.map_or(String::new(), |v| format!(
            " (receive alone carries {}; with transmit, the emulation's estimate is {})",
            short(v as f64),
            serial_bound(m).map_or("–".into(), short)
        )),
        met(poll.map(|_| poll_lossless.unwrap_or(0) as f64 >= 2.5 * C_DRIVER_POLL_KPPS))
    );
    for e in m.ours_echo() {
        let guest = lost_in_guest(&e.rungs);
        let ok = guest.map(|g| g == 0);
        let _ = writeln!(
            s,
            "| `--irq {}`: no frame lost inside the guest on any rung, overload included (every loss is where the emulation drops) | {} frames lost in the guest; RX ring found full {} times (on overloaded rungs the driver falls behind; QEMU's 82574L and 82576 then hold frames, its 8254x drops them) | {} |",
            e.mode,
            guest.map_or("–".into(), |n| n.to_string()),
            e.ring_full.map_or("–".into(), |n| n.to_string()),
            met(ok)
        );
    }
    for e in m.ours_echo().filter(|e| e.mode != "poll") {
        let ok = e
            .lossless()
            .zip(poll_lossless)
            .map(|(v, p)| v >= p)
            .or(Some(false).filter(|_| !e.rungs.is_empty()));
        let _ = writeln!(
            s,
            "| `--irq {}`: no loss up to the rate poll mode carries ({}) | lossless to {} | {} |",
            e.mode,
            poll_lossless.map_or("–".into(), |v| short(v as f64)),
            lossless_text(e),
            met(ok)
        );
    }
    let poll_p50 = poll.and_then(|p| p.ping).map(|p| p.0);
    for e in m.ours_echo().filter(|e| e.mode != "poll") {
        let r = e.ping.map(|p| p.0).zip(poll_p50).map(|(a, b)| a / b);
        let _ = writeln!(
            s,
            "| `--irq {}` ping-pong p50 ≤ 2× poll | {} | {} |",
            e.mode,
            r.map_or("–".into(), |r| format!("{r:.2}×")),
            met(r.map(|r| r <= 2.0))
        );
    }
    for e in m.ours_echo() {
        let worst = [e.mmio_flood, e.mmio_ping].into_iter().flatten().fold(
            None,
            |acc: Option<(f64, f64)>, (r, w)| {
                Some(acc.map_or((r, w), |(ar, aw)| (ar.max(r), aw.max(w))))
            },
        );
        let _ = writeln!(
            s,
            "| `--irq {}`: no MMIO read per frame, ≤ 1 tail write per batch (≤ 1 write per frame) | {} | {} |",
            e.mode,
            worst.map_or("–".into(), |(r, w)| format!("{r:.3} reads, {w:.3} writes per frame (worst run)")),
            met(worst.map(|(r, w)| r == 0.0 && w <= 1.0))
        );
    }
}
